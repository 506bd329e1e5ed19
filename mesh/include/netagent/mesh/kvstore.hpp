#pragma once
// Cilium's kvstore layout for ClusterMesh (Documentation/kvstore.rst) and the JSON values this
// project writes under it (docs/clustermesh.md shows each one):
//
//   cilium/cluster-config/<cluster>                     ClusterConfigRecord
//   cilium/state/nodes/v1/<cluster>/<node>              NodeRecord        (Cilium node.Node)
//   cilium/state/services/v1/<cluster>/<ns>/<name>      ServiceRecord     (ClusterService)
//   cilium/state/identities/v1/id/<id>                  IdentityRecord    (label list)
//   cilium/state/ip/v1/<cluster>/<ip>                   EndpointRecord    (IPIdentityPair)
//   cilium/synced/<cluster>/cilium/state/<kind>/v1      sync canary: RFC 3339 time of the
//                                                       publisher's first complete write
//
// Decoders accept what the encoders write and Cilium's own spellings where they differ, and say
// which key and field is wrong.
#include <cstdint>
#include <string>
#include <string_view>

#include "netagent/common/result.hpp"
#include "netagent/mesh/records.hpp"

namespace netagent::mesh::kvstore {

inline constexpr std::string_view kRoot = "cilium/";
inline constexpr std::string_view kClusterConfigPrefix = "cilium/cluster-config/";
inline constexpr std::string_view kNodesPrefix = "cilium/state/nodes/v1/";
inline constexpr std::string_view kServicesPrefix = "cilium/state/services/v1/";
inline constexpr std::string_view kIdentitiesPrefix = "cilium/state/identities/v1/id/";
inline constexpr std::string_view kIpPrefix = "cilium/state/ip/v1/";
inline constexpr std::string_view kSyncedPrefix = "cilium/synced/";
// The cluster's publisher lock (value: the holder's node name, under the holder's lease): only
// the agent holding it publishes the cluster's state. Not a state key: watchers ignore it.
inline constexpr std::string_view kPublisherLockPrefix = "cilium/.publisher/";

std::string cluster_config_key(std::string_view cluster);
std::string publisher_lock_key(std::string_view cluster);
std::string node_key(std::string_view cluster, std::string_view node);
std::string service_key(std::string_view cluster, std::string_view ns, std::string_view name);
std::string identity_key(uint32_t id);
std::string ip_key(std::string_view cluster, std::string_view ip);
// The canaries a publisher writes once its first complete publish is done, one per kind.
std::string synced_key(std::string_view cluster, std::string_view kind);
inline constexpr std::string_view kSyncedKinds[] = {"nodes", "services", "identities", "ip"};

// Which record a key holds.
struct ParsedKey {
  enum class Kind { ClusterConfig, Node, Service, Identity, Ip, Synced, Other };
  Kind kind = Kind::Other;
  std::string cluster;  // empty for identities (the cluster is in the id's bits)
  std::string name;     // node name, "ns/name", IP, or kind for Synced
  uint32_t id = 0;      // identities
};
ParsedKey parse_key(std::string_view key);

std::string encode(const ClusterConfigRecord& r);
std::string encode(const NodeRecord& r);
std::string encode(const ServiceRecord& r);
std::string encode(const IdentityRecord& r);
std::string encode(const EndpointRecord& r);

Result<ClusterConfigRecord> decode_cluster_config(std::string_view value);
Result<NodeRecord> decode_node(std::string_view value);
Result<ServiceRecord> decode_service(std::string_view value);
// The id comes from the key; the value is a JSON list of labels (or Cilium's "a;b;" form).
Result<IdentityRecord> decode_identity(uint32_t id, std::string_view value);
Result<EndpointRecord> decode_endpoint(std::string_view value);

}  // namespace netagent::mesh::kvstore
