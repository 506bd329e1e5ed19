#pragma once
// The pure half of publishing: which keys and values this cluster's state comes to, which of
// them a cluster's publisher owns, and the transactions that turn what etcd holds into what is
// wanted: only keys whose value (or lease) differs are written, keys no longer wanted are
// deleted, in batches of at most etcd's --max-txn-ops. The cluster-config goes first (a peer
// checks it before it uses anything else) and the sync canaries last (they say "complete").
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "netagent/common/ip.hpp"
#include "netagent/mesh/cluster.hpp"
#include "netagent/mesh/etcd_client.hpp"
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

// The prefixes a cluster's publisher reads back when it (re)starts, and whether it owns a key
// found there (identities are shared by all clusters' ids: it owns those carrying its id).
std::vector<std::string> owned_prefixes(const std::string& cluster);
bool owns_key(const std::string& key, const ClusterInfo& cluster);

struct PublishPlan {
  std::vector<TxnOp> first;                 // cluster-config
  std::vector<std::vector<TxnOp>> batches;  // everything else, disjoint keys, any order
  std::vector<TxnOp> last;                  // sync canaries
  size_t puts = 0;
  size_t deletes = 0;
  bool empty() const { return puts + deletes == 0; }
};

PublishPlan plan_publish(const DesiredKeys& desired, const WrittenKeys& written, int64_t lease,
                         size_t max_txn_ops);

}  // namespace netagent::mesh
