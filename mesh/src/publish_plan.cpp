#include "netagent/mesh/publish_plan.hpp"

#include <algorithm>

#include "netagent/mesh/kvstore.hpp"

namespace netagent::mesh {

namespace {

// Records as this cluster publishes them: cluster name and id filled in, workload identities
// scoped to the cluster id and labelled with the cluster.
NodeRecord normalized(NodeRecord n, const ClusterInfo& c) {
  n.cluster = c.name;
  n.cluster_id = c.id;
  return n;
}
EndpointRecord normalized(EndpointRecord e, const ClusterInfo& c) {
  e.identity = scope_identity(e.identity, c.id);
  return e;
}
IdentityRecord normalized(IdentityRecord id, const ClusterInfo& c) {
  id.id = scope_identity(id.id, c.id);
  bool has = false;
  for (const auto& l : id.labels) {
    has |= l.find(std::string(kPolicyClusterLabel) + "=") != std::string::npos;
  }
  if (!has) id.labels.push_back("k8s:" + std::string(kPolicyClusterLabel) + "=" + c.name);
  std::sort(id.labels.begin(), id.labels.end());
  return id;
}
ServiceRecord normalized(ServiceRecord s, const ClusterInfo& c) {
  s.cluster = c.name;
  s.cluster_id = c.id;
  return s;
}
bool published(const IdentityRecord& id) {
  return !is_reserved_identity(id.id) && !is_node_local_identity(id.id);
}

std::string key_of(const NodeRecord& n, const ClusterInfo& c) {
  return kvstore::node_key(c.name, n.name);
}
std::string key_of(const EndpointRecord& e, const ClusterInfo& c) {
  return kvstore::ip_key(c.name, e.ip);
}
std::string key_of(const IdentityRecord& id, const ClusterInfo&) {
  return kvstore::identity_key(id.id);
}
std::string key_of(const ServiceRecord& s, const ClusterInfo& c) {
  return kvstore::service_key(c.name, s.ns, s.name);
}

std::string cluster_config_value(const ClusterInfo& cluster,
                                 const std::vector<Ipv4Prefix>& pod_cidrs) {
  ClusterConfigRecord cfg;
  cfg.id = cluster.id;
  for (const auto& p : pod_cidrs)
    cfg.pod_cidrs.push_back(p.str());
  return kvstore::encode(cfg);
}

}  // namespace

DesiredKeys encode_local_state(const LocalState& state, const ClusterInfo& cluster,
                               const std::vector<Ipv4Prefix>& pod_cidrs,
                               const std::string& canary) {
  DesiredKeys out;
  out[kvstore::cluster_config_key(cluster.name)] = cluster_config_value(cluster, pod_cidrs);
  for (const auto& n : state.nodes) {
    auto r = normalized(n, cluster);
    out[key_of(r, cluster)] = kvstore::encode(r);
  }
  for (const auto& e : state.endpoints) {
    auto r = normalized(e, cluster);
    out[key_of(r, cluster)] = kvstore::encode(r);
  }
  for (const auto& id : state.identities) {
    if (!published(id)) continue;
    auto r = normalized(id, cluster);
    out[key_of(r, cluster)] = kvstore::encode(r);
  }
  for (const auto& s : state.services) {
    auto r = normalized(s, cluster);
    out[key_of(r, cluster)] = kvstore::encode(r);
  }
  if (!canary.empty()) {
    for (auto kind : kvstore::kSyncedKinds)
      out[kvstore::synced_key(cluster.name, kind)] = canary;
  }
  return out;
}

LocalStateEncoder::LocalStateEncoder(ClusterInfo cluster, std::vector<Ipv4Prefix> pod_cidrs,
                                     std::string canary)
    : cluster_(std::move(cluster)) {
  desired_[kvstore::cluster_config_key(cluster_.name)] = cluster_config_value(cluster_, pod_cidrs);
  for (auto kind : kvstore::kSyncedKinds)
    desired_[kvstore::synced_key(cluster_.name, kind)] = canary;
}

void LocalStateEncoder::set_canary(const std::string& value) {
  for (auto kind : kvstore::kSyncedKinds)
    desired_[kvstore::synced_key(cluster_.name, kind)] = value;
}

template <typename K, typename R>
void LocalStateEncoder::upsert(const K& natural, const R& rec,
                               std::unordered_map<K, Entry<R>>& cache,
                               std::set<std::string>& changed) {
  auto [it, inserted] = cache.try_emplace(natural);
  Entry<R>& e = it->second;
  e.generation = generation_;
  if (!inserted && e.record == rec) return;
  R r = normalized(rec, cluster_);
  std::string key = key_of(r, cluster_);
  if (!inserted && key != e.key) {  // cannot happen with natural keys; stay correct anyway
    desired_.erase(e.key);
    changed.insert(e.key);
  }
  desired_[key] = kvstore::encode(r);
  changed.insert(key);
  e.record = rec;
  e.key = std::move(key);
}

template <typename K, typename R>
void LocalStateEncoder::sweep(std::unordered_map<K, Entry<R>>& cache,
                              std::set<std::string>& changed) {
  for (auto it = cache.begin(); it != cache.end();) {
    if (it->second.generation == generation_) {
      ++it;
      continue;
    }
    desired_.erase(it->second.key);
    changed.insert(it->second.key);
    it = cache.erase(it);
  }
}

void LocalStateEncoder::update(const LocalState& state, std::set<std::string>& changed) {
  ++generation_;
  for (const auto& n : state.nodes)
    upsert(n.name, n, nodes_, changed);
  for (const auto& e : state.endpoints)
    upsert(e.ip, e, endpoints_, changed);
  for (const auto& id : state.identities) {
    if (published(id)) upsert(scope_identity(id.id, cluster_.id), id, identities_, changed);
  }
  for (const auto& s : state.services)
    upsert(s.ns + "/" + s.name, s, services_, changed);
  sweep(nodes_, changed);
  sweep(endpoints_, changed);
  sweep(identities_, changed);
  sweep(services_, changed);
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
  std::vector<etcd::TxnOp> middle;
  auto place = [&](etcd::TxnOp op) {
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
      place(etcd::TxnOp::put(d->first, d->second, lease));
      ++plan.puts;
      ++d;
    } else if (d == desired.end() || w->first < d->first) {
      place(etcd::TxnOp::del(w->first));
      ++plan.deletes;
      ++w;
    } else {
      if (d->second != w->second.value || w->second.lease != lease) {
        place(etcd::TxnOp::put(d->first, d->second, lease));
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

PublishPlan plan_publish_keys(const DesiredKeys& desired, const WrittenKeys& written, int64_t lease,
                              size_t max_txn_ops, const std::set<std::string>& keys) {
  DesiredKeys d;
  WrittenKeys w;
  for (const auto& k : keys) {
    if (auto it = desired.find(k); it != desired.end()) d.emplace(k, it->second);
    if (auto it = written.find(k); it != written.end()) w.emplace(k, it->second);
  }
  return plan_publish(d, w, lease, max_txn_ops);
}

}  // namespace netagent::mesh
