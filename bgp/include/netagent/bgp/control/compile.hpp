#pragma once
// The BGP control-plane compiler: manifests (a k8s::Snapshot), this node, the LB IPAM allocation
// and which services have ready endpoints on this node in; the node's desired BGP configuration
// out. Pure: no sockets, no clock; the same inputs give the same output.
//
// Selection follows Cilium: at most one CiliumBGPPeeringPolicy may select a node (when several
// do, none applies and a condition says so); a PeeringPolicy wins over a CiliumBGPClusterConfig
// selecting the same node; with the newer API nothing is advertised without a matching
// CiliumBGPAdvertisement. docs/bgp-control-plane.md has the details.
#include <set>
#include <string>
#include <string_view>

#include "netagent/bgp/control/desired.hpp"
#include "netagent/ipam/allocation.hpp"
#include "netagent/k8s/snapshot.hpp"

namespace netagent::bgp::control {

// What the compiler needs to know about the node it runs on.
struct LocalNode {
  std::string name;
  k8s::Labels labels;                              // matched by nodeSelector
  std::map<std::string, std::string> annotations;  // cilium.io/bgp-virtual-router.<asn>
  std::optional<Ipv4Addr> ipv4;                    // the default router ID
  std::vector<IpPrefix> pod_cidrs;  // announced with exportPodCIDR / PodCIDR advertisements
};

// The node from the snapshot's Node object (labels, annotations, first InternalIP, podCIDRs).
// Without one, only the name is known. kubernetes.io/hostname is always set, as the kubelet does.
LocalNode local_node(const k8s::Snapshot& snap, std::string_view node_name);

// Keys ("namespace/name") of the services with at least one ready endpoint on node_name, from
// the snapshot's EndpointSlices (nodeName and conditions.ready, nil meaning ready).
std::set<std::string> ready_local_services(const k8s::Snapshot& snap, std::string_view node_name);

struct CompileOptions {
  // Where authSecretRef Secrets live (Cilium: bgpControlPlane.secretNamespace.name).
  std::string secret_namespace = "kube-system";
};

DesiredBgp compile(const k8s::Snapshot& snap, const LocalNode& node, const ipam::Allocation& lb_ips,
                   const std::set<std::string>& ready_local, const CompileOptions& options = {});

// The same, with the node looked up in the snapshot by name (local_node()).
DesiredBgp compile(const k8s::Snapshot& snap, std::string_view node_name,
                   const ipam::Allocation& lb_ips, const std::set<std::string>& ready_local,
                   const CompileOptions& options = {});

}  // namespace netagent::bgp::control
