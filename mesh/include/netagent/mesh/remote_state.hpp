#pragma once
// The in-memory state of one remote cluster, fed by its kvstore watch (pure: no network, so it
// is tested with tables). It decodes every key of that cluster, decides whether the cluster may
// join the mesh at all (its cluster-config must be present, its id must differ from ours and
// from every other remote's, its pod CIDRs must not overlap ours), and reports the changes to
// what the agent may use (the "visible" state) as StateChanges:
//   - events change only the records they touch;
//   - a resync (after a reconnect or a compaction) is diffed against what was visible, so an
//     unchanged cluster yields no change at all;
//   - a refusal withdraws everything that was visible, and lifting it brings it all back.
// A key that does not decode is reported and ignored; the record it replaced stays.
#include <deque>
#include <set>
#include <string>
#include <vector>

#include "netagent/common/ip.hpp"
#include "netagent/etcd/watch.hpp"
#include "netagent/mesh/cluster.hpp"
#include "netagent/mesh/cluster_state.hpp"

namespace netagent::mesh {

struct LocalMeshInfo {
  ClusterInfo cluster;
  std::vector<Ipv4Prefix> pod_cidrs;
};

class RemoteStateTracker {
 public:
  RemoteStateTracker(std::string remote_name, LocalMeshInfo local);

  // Replaces everything known with `kvs` (the whole remote prefix at one revision).
  StateChanges resync(const std::vector<etcd::KeyValue>& kvs);
  StateChanges apply(const std::vector<etcd::WatchEvent>& events);
  // A refusal decided outside (another remote already uses this cluster id); "" lifts it.
  StateChanges set_external_refusal(std::string reason);

  const std::string& name() const { return name_; }
  bool accepted() const { return accepted_; }
  // Why the cluster is refused, or why it is not accepted yet; empty when accepted.
  const std::string& refusal() const { return refusal_; }
  bool refused() const { return !accepted_ && has_config(); }
  bool has_config() const { return all_.config.has_value() || last_accepted_.has_value(); }
  // The configuration the remote announces (the last accepted one if it has since vanished).
  std::optional<ClusterConfigRecord> config() const;
  uint32_t cluster_id() const;

  const ClusterState& visible() const { return visible_; }
  const ClusterState& all() const { return all_; }
  // The remote's publisher finished its first complete write (all sync canaries present).
  bool remote_synced() const;

  uint64_t decode_errors() const { return decode_errors_; }
  const std::deque<std::string>& recent_errors() const { return recent_errors_; }

 private:
  void apply_one(const std::string& key, const std::string* value, ClusterState& into,
                 std::set<std::string>& synced, bool report_errors);
  void refresh_visible(const std::string& key, StateChanges& out);
  ClusterState compute_visible() const;
  bool endpoint_visible(const EndpointRecord& e, uint32_t cid) const;
  bool identity_visible(const IdentityRecord& r, uint32_t cid) const;
  // Re-decides acceptance; when it flips (or the accepted id changes) rebuilds the visible state,
  // sets recomputed_ and returns the difference.
  StateChanges reevaluate();
  StateChanges make_changes() const;
  void error(const std::string& key, const std::string& what);

  std::string name_;
  LocalMeshInfo local_;
  ClusterState all_;
  ClusterState visible_;
  std::set<std::string> synced_kinds_;
  std::optional<ClusterConfigRecord> last_accepted_;
  std::string external_refusal_;
  bool accepted_ = false;
  bool recomputed_ = false;  // the last reevaluate() rebuilt the visible state
  uint32_t accepted_id_ = 0;
  std::string refusal_;
  uint64_t decode_errors_ = 0;
  std::deque<std::string> recent_errors_;
};

}  // namespace netagent::mesh
