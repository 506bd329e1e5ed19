#include "netagent/policy/identity.hpp"

#include <algorithm>
#include <unordered_set>
#include <vector>

namespace netagent::policy {

const char* reserved_identity_name(Identity id) {
  switch (id) {
    case identity::kHost:
      return "host";
    case identity::kWorld:
      return "world";
    case identity::kUnmanaged:
      return "unmanaged";
    case identity::kHealth:
      return "health";
    case identity::kInit:
      return "init";
    case identity::kRemoteNode:
      return "remote-node";
    case identity::kKubeApiserver:
      return "kube-apiserver";
    case identity::kIngress:
      return "ingress";
    default:
      return nullptr;
  }
}

std::optional<Identity> reserved_identity_of(const LabelSet& labels) {
  if (labels.size() != 1 || labels.labels()[0].source != label_source::kReserved) {
    return std::nullopt;
  }
  for (Identity id = identity::kHost; id <= identity::kIngress; ++id) {
    if (labels.labels()[0].key == reserved_identity_name(id)) return id;
  }
  return std::nullopt;
}

uint64_t stable_hash(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  // splitmix64 finalizer: FNV's low bits are weak for short, similar strings.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

namespace {

// Linear probing over `slots` slots in the order of `keys` (already sorted); returns the slot of
// each key, or nullopt when full.
std::optional<std::vector<uint32_t>> probe(const std::vector<std::string_view>& keys,
                                           uint32_t slots) {
  if (keys.size() > slots) return std::nullopt;
  std::unordered_set<uint32_t> used;
  used.reserve(keys.size() * 2);
  std::vector<uint32_t> out;
  out.reserve(keys.size());
  for (auto k : keys) {
    uint32_t s = uint32_t(stable_hash(k) % slots);
    while (!used.insert(s).second)
      s = s + 1 == slots ? 0 : s + 1;
    out.push_back(s);
  }
  return out;
}

}  // namespace

std::optional<std::map<std::string, Identity>> allocate_local_identities(
    const std::vector<const LabelSet*>& sets, uint8_t cluster_id) {
  std::vector<std::string_view> keys;
  keys.reserve(sets.size());
  for (const auto* s : sets)
    keys.push_back(s->canonical());
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  auto slots = probe(keys, identity::kLocalSlots);
  if (!slots) return std::nullopt;
  std::map<std::string, Identity> out;
  for (size_t i = 0; i < keys.size(); ++i) {
    out.emplace(std::string(keys[i]),
                identity::cluster_local(cluster_id, identity::kLocalMin + (*slots)[i]));
  }
  return out;
}

std::map<Ipv4Prefix, uint32_t> allocate_cidr_slots(const std::vector<Ipv4Prefix>& prefixes) {
  std::vector<Ipv4Prefix> sorted = prefixes;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::vector<std::string> names;
  names.reserve(sorted.size());
  for (const auto& p : sorted)
    names.push_back(p.str());
  std::vector<std::string_view> keys(names.begin(), names.end());
  // 2^24-1 slots: a policy set can never name that many prefixes, so this cannot fail.
  auto slots = probe(keys, identity::kCidrSlots);
  std::map<Ipv4Prefix, uint32_t> out;
  for (size_t i = 0; i < sorted.size(); ++i)
    out.emplace(sorted[i], 1 + (*slots)[i]);
  return out;
}

}  // namespace netagent::policy
