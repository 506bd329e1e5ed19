#include "netagent/mesh/publish_plan.hpp"

#include <algorithm>

#include "netagent/mesh/kvstore.hpp"

namespace netagent::mesh {

DesiredKeys encode_local_state(const LocalState& state, const ClusterInfo& cluster,
                               const std::vector<Ipv4Prefix>& pod_cidrs,
                               const std::string& canary) {
  DesiredKeys out;
  ClusterConfigRecord cfg;
  cfg.id = cluster.id;
  for (const auto& p : pod_cidrs)
    cfg.pod_cidrs.push_back(p.str());
  out[kvstore::cluster_config_key(cluster.name)] = kvstore::encode(cfg);
  for (auto n : state.nodes) {
    n.cluster = cluster.name;
    n.cluster_id = cluster.id;
    out[kvstore::node_key(cluster.name, n.name)] = kvstore::encode(n);
  }
  for (auto e : state.endpoints) {
    e.identity = scope_identity(e.identity, cluster.id);
    out[kvstore::ip_key(cluster.name, e.ip)] = kvstore::encode(e);
  }
  const std::string cluster_label = "k8s:" + std::string(kPolicyClusterLabel) + "=" + cluster.name;
  for (auto id : state.identities) {
    if (is_reserved_identity(id.id) || is_node_local_identity(id.id)) continue;
    id.id = scope_identity(id.id, cluster.id);
    bool has = false;
    for (const auto& l : id.labels) {
      has |= l.find(std::string(kPolicyClusterLabel) + "=") != std::string::npos;
    }
    if (!has) id.labels.push_back(cluster_label);
    std::sort(id.labels.begin(), id.labels.end());
    out[kvstore::identity_key(id.id)] = kvstore::encode(id);
  }
  for (auto s : state.services) {
    s.cluster = cluster.name;
    s.cluster_id = cluster.id;
    out[kvstore::service_key(cluster.name, s.ns, s.name)] = kvstore::encode(s);
  }
  if (!canary.empty()) {
    for (auto kind : kvstore::kSyncedKinds)
      out[kvstore::synced_key(cluster.name, kind)] = canary;
  }
  return out;
}

std::vector<std::string> owned_prefixes(const std::string& cluster) {
  return {kvstore::cluster_config_key(cluster),
          std::string(kvstore::kNodesPrefix) + cluster + "/",
          std::string(kvstore::kServicesPrefix) + cluster + "/",
          std::string(kvstore::kIpPrefix) + cluster + "/",
          std::string(kvstore::kIdentitiesPrefix),
          std::string(kvstore::kSyncedPrefix) + cluster + "/"};
}

bool owns_key(const std::string& key, const ClusterInfo& cluster) {
  auto k = kvstore::parse_key(key);
  switch (k.kind) {
    case kvstore::ParsedKey::Kind::Identity:
      return !is_reserved_identity(k.id) && identity_cluster(k.id) == cluster.id;
    case kvstore::ParsedKey::Kind::Other:
      return false;
    default:
      return k.cluster == cluster.name;
  }
}

PublishPlan plan_publish(const DesiredKeys& desired, const WrittenKeys& written, int64_t lease,
                         size_t max_txn_ops) {
  PublishPlan plan;
  if (max_txn_ops == 0) max_txn_ops = 1;
  std::vector<TxnOp> middle;
  auto place = [&](TxnOp op) {
    auto kind = kvstore::parse_key(op.key).kind;
    if (kind == kvstore::ParsedKey::Kind::ClusterConfig) {
      plan.first.push_back(std::move(op));
    } else if (kind == kvstore::ParsedKey::Kind::Synced) {
      plan.last.push_back(std::move(op));
    } else {
      middle.push_back(std::move(op));
    }
  };
  // One merge pass over both sorted maps.
  auto d = desired.begin();
  auto w = written.begin();
  while (d != desired.end() || w != written.end()) {
    if (w == written.end() || (d != desired.end() && d->first < w->first)) {
      place(TxnOp::put(d->first, d->second, lease));
      ++plan.puts;
      ++d;
    } else if (d == desired.end() || w->first < d->first) {
      place(TxnOp::del(w->first));
      ++plan.deletes;
      ++w;
    } else {
      if (d->second != w->second.value || w->second.lease != lease) {
        place(TxnOp::put(d->first, d->second, lease));
        ++plan.puts;
      }
      ++d;
      ++w;
    }
  }
  for (size_t i = 0; i < middle.size(); i += max_txn_ops) {
    auto end = std::min(middle.size(), i + max_txn_ops);
    plan.batches.emplace_back(std::make_move_iterator(middle.begin() + i),
                              std::make_move_iterator(middle.begin() + end));
  }
  return plan;
}

}  // namespace netagent::mesh
