#pragma once
// Helpers shared by the LB IPAM tests: manifests in, snapshots and typed objects out.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <string>
#include <vector>

#include "netagent/ipam/allocation.hpp"
#include "netagent/ipam/pool.hpp"
#include "netagent/k8s/decode.hpp"
#include "netagent/k8s/snapshot.hpp"
#include "netagent/testing/manifests.hpp"

namespace netagent::ipam::testing {

// A whole manifest stream (documents separated by ---), loaded through a registry that knows
// CiliumLoadBalancerIPPool, as the manifest source does after ${VAR} substitution.
inline k8s::Snapshot load(const std::string& yaml) {
  k8s::KindRegistry reg;
  register_kinds(reg);
  return netagent::testing::snapshot_from_yaml(yaml, {.registry = &reg});
}

inline Pool pool_from(const std::string& yaml) {
  auto obj = k8s::read_object(YAML::Load(yaml), {"pool.yaml", 0});
  return decode_pool(obj);
}

// "name: 10.0.0.0/24" style pool with optional selector YAML.
inline Pool range_pool(const std::string& name, const std::string& start, const std::string& stop) {
  return pool_from(
      "apiVersion: cilium.io/v2\nkind: CiliumLoadBalancerIPPool\nmetadata: {name: " + name +
      "}\nspec:\n  blocks:\n  - {start: \"" + start + "\", stop: \"" + stop + "\"}\n");
}

inline k8s::Service lb(const std::string& ns, const std::string& name,
                       std::map<std::string, std::string> annotations = {},
                       std::vector<std::pair<uint16_t, k8s::Protocol>> ports = {
                           {80, k8s::Protocol::TCP}}) {
  k8s::Service s;
  s.meta.ns = ns;
  s.meta.name = name;
  s.meta.annotations = std::move(annotations);
  s.type = "LoadBalancer";
  for (size_t i = 0; i < ports.size(); ++i) {
    k8s::ServicePort p;
    p.name = "p" + std::to_string(i);
    p.port = ports[i].first;
    p.protocol = ports[i].second;
    p.target_port.number = p.port;
    s.ports.push_back(p);
  }
  return s;
}

inline std::vector<std::string> ip_strings(const Allocation& a, const std::string& key) {
  std::vector<std::string> out;
  auto it = a.services.find(key);
  if (it == a.services.end()) return out;
  for (const auto& ip : it->second.ips)
    out.push_back(ip.ip.str());
  return out;
}

inline const ServiceAllocation& svc(const Allocation& a, const std::string& key) {
  auto it = a.services.find(key);
  if (it == a.services.end()) {
    ADD_FAILURE() << "no allocation entry for " << key;
    static ServiceAllocation empty;
    return empty;
  }
  return it->second;
}

}  // namespace netagent::ipam::testing
