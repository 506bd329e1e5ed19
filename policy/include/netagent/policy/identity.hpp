#pragma once
// Security identities: numbers that stand for label sets, so that the datapath matches a peer by
// one integer. The numbering follows Cilium: reserved identities 1..255, cluster-local
// identities 256..65535 with the ClusterMesh cluster id in bits 16..23 (so remote clusters'
// identities never collide with ours), and node-local CIDR identities in their own scope.
//
// Allocation without a shared allocator (manifest mode: every node computes identities alone)
// must give every node the same numbers for the same snapshot. An identity number is derived
// from a hash of the label set's canonical form; collisions are resolved by linear probing, the
// label sets taking their slots in the order of their canonical form. The result depends only on
// the set of label sets, never on history, so two nodes always agree. See docs/policy.md for the
// trade-off against keeping previously assigned numbers.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

extern "C" {
#include "netagent/ipcache.h"
}
#include "netagent/common/ip.hpp"
#include "netagent/policy/labels.hpp"

namespace netagent::policy {

using Identity = uint32_t;

namespace identity {
inline constexpr Identity kUnknown = IDENTITY_UNKNOWN;
inline constexpr Identity kHost = IDENTITY_HOST;
inline constexpr Identity kWorld = IDENTITY_WORLD;
inline constexpr Identity kUnmanaged = IDENTITY_UNMANAGED;
inline constexpr Identity kHealth = IDENTITY_HEALTH;
inline constexpr Identity kInit = IDENTITY_INIT;
inline constexpr Identity kRemoteNode = IDENTITY_REMOTE_NODE;
inline constexpr Identity kKubeApiserver = IDENTITY_KUBE_APISERVER;
inline constexpr Identity kIngress = IDENTITY_INGRESS;

inline constexpr uint32_t kLocalMin = IDENTITY_LOCAL_MIN;
inline constexpr uint32_t kLocalMax = IDENTITY_LOCAL_MAX;
inline constexpr uint32_t kLocalSlots = kLocalMax - kLocalMin + 1;
inline constexpr uint32_t kCidrSlots = (1u << 24) - 1;  // 1..2^24-1 within a scope

constexpr Identity cluster_local(uint8_t cluster_id, uint32_t n) {
  return (uint32_t(cluster_id) << IDENTITY_CLUSTER_SHIFT) | n;
}
constexpr uint8_t cluster_of(Identity id) {
  return uint8_t((id & IDENTITY_CLUSTER_MASK) >> IDENTITY_CLUSTER_SHIFT);
}
constexpr uint32_t scope_of(Identity id) {
  return id & IDENTITY_SCOPE_MASK;
}
constexpr bool is_reserved(Identity id) {
  return id != 0 && id < kLocalMin;
}
constexpr bool is_cidr(Identity id) {
  return scope_of(id) == IDENTITY_SCOPE_CIDR;
}
constexpr bool is_cluster_cidr(Identity id) {
  return scope_of(id) == IDENTITY_SCOPE_CLUSTER_CIDR;
}
}  // namespace identity

// The name of a reserved identity ("host", "world", ...) or nullptr.
const char* reserved_identity_name(Identity id);
// The reserved identity a label set of exactly one reserved label stands for.
std::optional<Identity> reserved_identity_of(const LabelSet& labels);

// 64-bit FNV-1a with a final avalanche: stable across platforms and runs (std::hash is not).
uint64_t stable_hash(std::string_view s);

// Assigns cluster-local identities to label sets. Every distinct label set gets one number in
// cluster_local(cluster_id, 256..65535). Fails when there are more label sets than numbers.
std::optional<std::map<std::string, Identity>> allocate_local_identities(
    const std::vector<const LabelSet*>& sets, uint8_t cluster_id);

// Assigns node-local CIDR identity slots (1..2^24-1) to prefixes the same way (hash of the
// prefix, linear probing in prefix order). The CIDR identity of a prefix is
// IDENTITY_SCOPE_CIDR | slot and its cluster-address twin IDENTITY_SCOPE_CLUSTER_CIDR | slot.
std::map<Ipv4Prefix, uint32_t> allocate_cidr_slots(const std::vector<Ipv4Prefix>& prefixes);

}  // namespace netagent::policy
