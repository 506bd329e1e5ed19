#pragma once
// One cluster's state as seen through its kvstore, and the difference between two such states:
// what the agent is told when a remote cluster changes. A resync after a reconnect yields a new
// state; only the difference is reported, so an unchanged cluster produces no change at all
// (no gap, no flap).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "netagent/mesh/records.hpp"

namespace netagent::mesh {

struct ClusterState {
  std::optional<ClusterConfigRecord> config;
  std::map<std::string, NodeRecord> nodes;          // by node name
  std::map<std::string, EndpointRecord> endpoints;  // by IP
  std::map<uint32_t, IdentityRecord> identities;    // by id
  std::map<std::string, ServiceRecord> services;    // by "ns/name"
  bool operator==(const ClusterState&) const = default;
};

// Changes to one cluster's records. Upserts carry the new record; removals the key.
struct StateChanges {
  std::string cluster;
  uint32_t cluster_id = 0;
  std::vector<NodeRecord> nodes_upserted;
  std::vector<std::string> nodes_removed;
  std::vector<EndpointRecord> endpoints_upserted;
  std::vector<std::string> endpoints_removed;  // IPs
  std::vector<IdentityRecord> identities_upserted;
  std::vector<uint32_t> identities_removed;
  std::vector<ServiceRecord> services_upserted;
  std::vector<std::string> services_removed;  // "ns/name"

  bool empty() const { return size() == 0; }
  size_t size() const {
    return nodes_upserted.size() + nodes_removed.size() + endpoints_upserted.size() +
           endpoints_removed.size() + identities_upserted.size() + identities_removed.size() +
           services_upserted.size() + services_removed.size();
  }
  void append(StateChanges&& other);
};

// What changed from `before` to `after` (records compared by value; config not included).
StateChanges diff_state(const ClusterState& before, const ClusterState& after);

}  // namespace netagent::mesh
