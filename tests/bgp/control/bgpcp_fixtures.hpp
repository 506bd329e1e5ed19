#pragma once
// Helpers shared by the BGP control-plane tests.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <string>

#include "netagent/bgp/control/compile.hpp"
#include "netagent/bgp/control/crds.hpp"
#include "netagent/ipam/allocation.hpp"
#include "netagent/ipam/pool.hpp"
#include "netagent/k8s/snapshot.hpp"
#include "netagent/testing/manifests.hpp"

namespace netagent::bgp::control::testing {

inline k8s::KindRegistry registry() {
  k8s::KindRegistry reg;
  ipam::register_kinds(reg);
  register_kinds(reg);
  return reg;
}

// A manifest stream loaded as the manifest source would (after ${VAR} substitution).
inline k8s::Snapshot load(const std::string& yaml) {
  auto reg = registry();
  return netagent::testing::snapshot_from_yaml(yaml, {.registry = &reg});
}

// Loads one object through the registry and returns its decode error (nullopt when it loads).
inline std::optional<k8s::DecodeError> load_error(const std::string& yaml) {
  auto reg = registry();
  k8s::SnapshotBuilder b(&reg);
  return b.add(k8s::read_object(YAML::Load(yaml), {"bgp/bad.yaml", 1}));
}

// Everything the agent would do for one node: allocate LB IPs, find ready local endpoints,
// compile.
inline DesiredBgp compile_for(const k8s::Snapshot& snap, const std::string& node,
                              const CompileOptions& opts = {}) {
  auto lb = ipam::allocate(snap, {});
  return compile(snap, node, lb, ready_local_services(snap, node), opts);
}

inline std::vector<std::string> prefixes(const DesiredPeer& p) {
  std::vector<std::string> out;
  for (const auto& r : p.routes)
    out.push_back(r.prefix.str());
  return out;
}

inline const DesiredRoute* route(const DesiredPeer& p, const std::string& prefix) {
  for (const auto& r : p.routes) {
    if (r.prefix.str() == prefix) return &r;
  }
  return nullptr;
}

// Addresses or prefixes as their text, to compare with the expected text.
template <typename T>
std::vector<std::string> texts(const std::vector<T>& v) {
  std::vector<std::string> out;
  for (const auto& x : v)
    out.push_back(x.str());
  return out;
}

inline bool has_condition(const DesiredBgp& d, const std::string& type,
                          const std::string& object_part = "") {
  for (const auto& c : d.conditions) {
    if (c.type == type && c.object.find(object_part) != std::string::npos) return true;
  }
  return false;
}

inline std::string conditions_str(const DesiredBgp& d) {
  std::string out;
  for (const auto& c : d.conditions)
    out += c.type + " [" + c.object + "] " + c.message + "\n";
  return out;
}

}  // namespace netagent::bgp::control::testing
