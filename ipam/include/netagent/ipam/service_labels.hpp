#pragma once
// The labels a Cilium service selector sees: the Service's own labels plus two synthetic keys,
// io.kubernetes.service.namespace and io.kubernetes.service.name (lb-ipam.rst, "Service
// Selectors"; the BGP control plane's service selectors use the same keys).
#include "netagent/k8s/objects.hpp"

namespace netagent::ipam {

inline constexpr const char* kServiceNamespaceLabel = "io.kubernetes.service.namespace";
inline constexpr const char* kServiceNameLabel = "io.kubernetes.service.name";

inline k8s::Labels service_selector_labels(const k8s::Service& svc) {
  k8s::Labels out = svc.meta.labels;
  out[kServiceNamespaceLabel] = svc.meta.ns;
  out[kServiceNameLabel] = svc.meta.name;
  return out;
}

// LB IPAM and the BGP control plane handle a LoadBalancer service only when its class is unset
// or io.cilium/bgp-control-plane; any other class belongs to another controller.
inline constexpr const char* kBgpLoadBalancerClass = "io.cilium/bgp-control-plane";
inline bool handles_load_balancer_class(const k8s::Service& svc) {
  return !svc.load_balancer_class || *svc.load_balancer_class == kBgpLoadBalancerClass;
}

}  // namespace netagent::ipam
