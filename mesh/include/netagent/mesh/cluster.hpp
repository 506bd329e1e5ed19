#pragma once
// A cluster's identity in the mesh (name and numeric id, from cluster-settings CLUSTER and
// CLUSTER_ID) and the rules Cilium applies to them, plus how security identities carry the
// cluster id so that identities of different clusters never collide.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "netagent/common/result.hpp"

namespace netagent::mesh {

struct ClusterInfo {
  std::string name;
  uint32_t id = 0;
  bool operator==(const ClusterInfo&) const = default;
};

// Cilium's rules: at most 32 characters, lowercase alphanumerics and '-', starting and ending
// with an alphanumeric. Errors say what is wrong with which name.
Status validate_cluster_name(std::string_view name);
// 1..255 (Cilium's default clustermesh.maxConnectedClusters = 255).
Status validate_cluster_id(int64_t id);

// Reads CLUSTER and CLUSTER_ID from the cluster-settings values (Snapshot::settings).
Result<ClusterInfo> cluster_from_settings(const std::map<std::string, std::string>& settings);

// Security identities as Cilium numbers them (pkg/identity): 1..255 are reserved and the same in
// every cluster (host=1, world=2, remote-node=6, ...); identities allocated for workloads carry
// the cluster id in bits 16-23 and a per-cluster number (256..65535) in bits 0-15; identities
// with bit 24 set are node-local (CIDR selectors) and never leave the node.
inline constexpr uint32_t kClusterIdShift = 16;
inline constexpr uint32_t kMinClusterIdentity = 256;
inline constexpr uint32_t kLocalScopeBit = 1u << 24;
inline constexpr uint32_t kIdentityRemoteNode = 6;  // reserved:remote-node

constexpr bool is_reserved_identity(uint32_t id) {
  return id < kMinClusterIdentity;
}
constexpr bool is_node_local_identity(uint32_t id) {
  return (id & kLocalScopeBit) != 0;
}
// The cluster id an identity belongs to (0 for reserved identities and cluster id 0).
constexpr uint32_t identity_cluster(uint32_t id) {
  return is_reserved_identity(id) ? 0 : (id >> kClusterIdShift) & 0xff;
}
// Puts `cluster_id` into bits 16-23 of a workload identity (reserved ones are left alone), so
// that a local allocator numbering from 256 yields identities unique across the mesh.
constexpr uint32_t scope_identity(uint32_t id, uint32_t cluster_id) {
  if (is_reserved_identity(id) || is_node_local_identity(id)) return id;
  return (id & 0xffffu) | ((cluster_id & 0xffu) << kClusterIdShift);
}

// The label every identity carries with its cluster's name; policies select remote workloads
// with it (io.cilium.k8s.policy.cluster).
inline constexpr std::string_view kPolicyClusterLabel = "io.cilium.k8s.policy.cluster";

}  // namespace netagent::mesh
