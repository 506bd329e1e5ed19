#pragma once
// The compiled policy as the kernel maps hold it (bpf/include/netagent/policy.h, ipcache.h), for
// the local endpoints of one node, and the ordered diff between two such states. Pure: the
// agent applies a diff through its typed maps (netagent_policy_datapath does it for tests and
// netctl); reading the pinned maps back gives the "from" state after a restart.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

extern "C" {
#include "netagent/ipcache.h"
#include "netagent/policy.h"
}
#include "netagent/policy/compiler.hpp"

namespace netagent::policy {

// ABI sizes and layouts: datapath/src/abi.cpp (the registry, checked against BTF).

// An endpoint on this node: a pod known to the compiler (by namespace/name), its id in the
// policy map and its host-side veth.
struct LocalEndpoint {
  std::string ns, name;
  uint32_t endpoint_id = 0;   // 1..; the agent's endpoint id
  uint32_t ifindex = 0;       // host-side veth; 0 = not bound (offline evaluation)
  std::optional<bool> audit;  // per-endpoint audit mode; default: CompileOptions::audit
  std::vector<Ipv4Addr> ips;  // overrides the pod's addresses (the CNI knows them first)
};

template <typename K, typename V>
struct MapContents {
  std::vector<std::pair<K, V>> entries;  // sorted by key bytes
};

struct DatapathState {
  MapContents<ipcache4_key, ipcache4_value> ipcache;
  MapContents<uint32_t, policy_endpoint> endpoints;         // key: IPv4 address, network order
  MapContents<uint32_t, policy_endpoint> endpoints_by_dev;  // key: ifindex (< POLICY_EP_DEV_MAX)
  MapContents<policy_key, policy_value> policy;
};

// Local endpoints not known to the compiled policy are returned in `unknown` and get no entries.
DatapathState datapath_state(const CompiledPolicy& cp, const std::vector<LocalEndpoint>& locals,
                             std::vector<std::string>* unknown = nullptr);

// Every endpoint of the compiled policy (with addresses) as a local endpoint with ids 1..n in
// endpoint order and no interface: what offline evaluation loads.
std::vector<LocalEndpoint> all_endpoints(const CompiledPolicy& cp);

template <typename K, typename V>
struct MapDiff {
  std::vector<std::pair<K, V>> upserts;
  std::vector<K> deletes;
  bool empty() const { return upserts.empty() && deletes.empty(); }
};

// Apply in this order so traffic never sees a half-written policy (make before break): policy
// upserts, ipcache upserts, endpoint upserts, then endpoint deletes, ipcache deletes and policy
// deletes. A flow sees the old rules, the new ones, or both (deny still winning); never an
// endpoint flagged as enforcing before its allow entries exist.
// endpoints_by_dev is an array: a delete there is a write of an empty (all-zero) slot.
struct DatapathDiff {
  MapDiff<policy_key, policy_value> policy;
  MapDiff<ipcache4_key, ipcache4_value> ipcache;
  MapDiff<uint32_t, policy_endpoint> endpoints;
  MapDiff<uint32_t, policy_endpoint> endpoints_by_dev;
  bool empty() const {
    return policy.empty() && ipcache.empty() && endpoints.empty() && endpoints_by_dev.empty();
  }
  size_t size() const;
};

DatapathDiff diff(const DatapathState& from, const DatapathState& to);

// Key/value helpers (network byte order where the ABI says so).
policy_key to_policy_key(uint32_t endpoint_id, const MapEntry& e);
policy_value to_policy_value(const MapEntry& e);
ipcache4_key to_ipcache_key(const Ipv4Prefix& p);

}  // namespace netagent::policy
