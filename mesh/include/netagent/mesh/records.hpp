#pragma once
// What one cluster publishes into the mesh, one record per kvstore key (layout and JSON in
// kvstore.hpp and docs/clustermesh.md): its nodes, its endpoints (pod IP -> identity, node), its
// identities (id -> labels), its global services (frontends and backends with ports) and its
// cluster configuration. Plain values with equality so that states can be diffed.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace netagent::mesh {

struct NodeAddress {
  std::string type;  // InternalIP | ExternalIP
  std::string ip;
  bool operator==(const NodeAddress&) const = default;
};

// cilium/state/nodes/v1/<cluster>/<node>
struct NodeRecord {
  std::string name;
  std::string cluster;
  uint32_t cluster_id = 0;
  std::vector<NodeAddress> addresses;
  std::vector<std::string> pod_cidrs;  // IPv4 pod CIDRs, first = IPv4AllocCIDR
  std::map<std::string, std::string> labels;
  bool operator==(const NodeRecord&) const = default;

  // The first InternalIP, else the first address; empty when none.
  std::string primary_ip() const {
    for (const auto& a : addresses) {
      if (a.type == "InternalIP") return a.ip;
    }
    return addresses.empty() ? std::string() : addresses.front().ip;
  }
};

// cilium/state/ip/v1/<cluster>/<ip>: one workload IP and the identity traffic from it carries.
struct EndpointRecord {
  std::string ip;
  uint32_t identity = 0;
  std::string host_ip;  // the node's IP (tunnel endpoint / next hop)
  std::string node;     // the node's name
  std::string ns;       // pod namespace and name, for display
  std::string pod;
  bool operator==(const EndpointRecord&) const = default;
};

// cilium/state/identities/v1/id/<id>: labels as "source:key=value", sorted.
struct IdentityRecord {
  uint32_t id = 0;
  std::vector<std::string> labels;
  bool operator==(const IdentityRecord&) const = default;
};

struct L4Port {
  std::string protocol = "TCP";  // TCP | UDP | SCTP
  uint16_t port = 0;
  bool operator==(const L4Port&) const = default;
};
// Service ports by name ("" for the single unnamed port).
using PortMap = std::map<std::string, L4Port>;

// cilium/state/services/v1/<cluster>/<namespace>/<name> (Cilium's ClusterService).
struct ServiceRecord {
  std::string cluster;
  uint32_t cluster_id = 0;
  std::string ns;
  std::string name;
  std::map<std::string, PortMap> frontends;  // frontend IP -> ports
  std::map<std::string, PortMap> backends;   // ready backend IP -> ports
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> selector;
  bool include_external = true;
  bool shared = true;
  bool operator==(const ServiceRecord&) const = default;

  std::string key() const { return ns + "/" + name; }
};

// cilium/cluster-config/<cluster> (Cilium's CiliumClusterConfig, plus the cluster's pod CIDRs so
// that a peer can refuse an overlap before it sees any node).
struct ClusterConfigRecord {
  uint32_t id = 0;
  bool synced_canaries = true;
  uint32_t max_connected_clusters = 255;
  std::vector<std::string> pod_cidrs;
  bool operator==(const ClusterConfigRecord&) const = default;
};

}  // namespace netagent::mesh
