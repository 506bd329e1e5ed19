#pragma once
// The pure half of publishing: which keys and values this cluster's state comes to, which of
// them a cluster's publisher owns, and the transactions that turn what etcd holds into what is
// wanted: only keys whose value (or lease) differs are written, keys no longer wanted are
// deleted, in batches of at most etcd's --max-txn-ops. The cluster-config goes first (a peer
// checks it before it uses anything else) and the sync canaries last (they say "complete").
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "netagent/common/ip.hpp"
#include "netagent/etcd/client.hpp"
#include "netagent/mesh/cluster.hpp"
#include "netagent/mesh/local_state.hpp"

namespace netagent::mesh {

using DesiredKeys = std::map<std::string, std::string>;

struct WrittenValue {
  std::string value;
  int64_t lease = 0;
  bool operator==(const WrittenValue&) const = default;
};
using WrittenKeys = std::map<std::string, WrittenValue>;

// Every key of `state` for cluster `cluster`, plus its cluster-config (with `pod_cidrs`) and,
// when `canary` is not empty, the sync canaries with that value. Workload identities are scoped
// to the cluster (bits 16-23) and carry the io.cilium.k8s.policy.cluster label; reserved and
// node-local identities are not published.
DesiredKeys encode_local_state(const LocalState& state, const ClusterInfo& cluster,
                               const std::vector<Ipv4Prefix>& pod_cidrs,
                               const std::string& canary = "");

// encode_local_state for a state that changes a little at a time: keeps the previous records and
// their encodings, re-encodes only records that differ, and says which keys changed, so that
// publishing a 10,000-endpoint state after one endpoint moved costs one encoding.
class LocalStateEncoder {
 public:
  LocalStateEncoder(ClusterInfo cluster, std::vector<Ipv4Prefix> pod_cidrs, std::string canary);
  // Brings desired() up to `state`; the keys put or removed are added to `changed`.
  void update(const LocalState& state, std::set<std::string>& changed);
  const DesiredKeys& desired() const { return desired_; }
  // The sync canaries' value (a restarting publisher keeps the one already in etcd).
  void set_canary(const std::string& value);

 private:
  // Records are remembered as given (keyed by their natural key: node name, IP, id, ns/name),
  // so an unchanged record costs one lookup and one comparison.
  template <typename R>
  struct Entry {
    R record;
    std::string key;  // the kvstore key
    uint64_t generation = 0;
  };
  template <typename K, typename R>
  void upsert(const K& natural, const R& rec, std::unordered_map<K, Entry<R>>& cache,
              std::set<std::string>& changed);
  template <typename K, typename R>
  void sweep(std::unordered_map<K, Entry<R>>& cache, std::set<std::string>& changed);

  ClusterInfo cluster_;
  DesiredKeys desired_;
  uint64_t generation_ = 0;
  std::unordered_map<std::string, Entry<NodeRecord>> nodes_;
  std::unordered_map<std::string, Entry<EndpointRecord>> endpoints_;
  std::unordered_map<uint32_t, Entry<IdentityRecord>> identities_;
  std::unordered_map<std::string, Entry<ServiceRecord>> services_;
};

// The prefixes a cluster's publisher reads back when it (re)starts, and whether it owns a key
// found there (identities are shared by all clusters' ids: it owns those carrying its id).
std::vector<std::string> owned_prefixes(const std::string& cluster);
bool owns_key(const std::string& key, const ClusterInfo& cluster);

struct PublishPlan {
  std::vector<etcd::TxnOp> first;                 // cluster-config
  std::vector<std::vector<etcd::TxnOp>> batches;  // everything else, disjoint keys, any order
  std::vector<etcd::TxnOp> last;                  // sync canaries
  size_t puts = 0;
  size_t deletes = 0;
  bool empty() const { return puts + deletes == 0; }
};

PublishPlan plan_publish(const DesiredKeys& desired, const WrittenKeys& written, int64_t lease,
                         size_t max_txn_ops);
// The same, looking only at `keys` (when everything else is known to be written already).
PublishPlan plan_publish_keys(const DesiredKeys& desired, const WrittenKeys& written, int64_t lease,
                              size_t max_txn_ops, const std::set<std::string>& keys);

}  // namespace netagent::mesh
