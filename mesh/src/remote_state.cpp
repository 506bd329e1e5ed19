#include "netagent/mesh/remote_state.hpp"

#include <algorithm>

#include "netagent/mesh/kvstore.hpp"

namespace netagent::mesh {

using kvstore::ParsedKey;

namespace {

constexpr size_t kRecentErrors = 10;

template <typename M, typename K>
void copy_entry(const M& from, M& to, const K& key) {
  if (auto it = from.find(key); it != from.end()) to[key] = it->second;
}

// Keeps `visible[key]` equal to `want` (nullptr: absent) and records the change.
template <typename M, typename K, typename V, typename KeyOut>
void sync_entry(M& visible, const K& key, const V* want, std::vector<V>& upserted,
                std::vector<KeyOut>& removed) {
  auto it = visible.find(key);
  if (want) {
    if (it == visible.end()) {
      visible.emplace(key, *want);
      upserted.push_back(*want);
    } else if (!(it->second == *want)) {
      it->second = *want;
      upserted.push_back(*want);
    }
  } else if (it != visible.end()) {
    visible.erase(it);
    removed.push_back(key);
  }
}

}  // namespace

RemoteStateTracker::RemoteStateTracker(std::string remote_name, LocalMeshInfo local)
    : name_(std::move(remote_name)), local_(std::move(local)) {
  refusal_ = "waiting for " + kvstore::cluster_config_key(name_) + " in the remote kvstore";
}

std::optional<ClusterConfigRecord> RemoteStateTracker::config() const {
  return all_.config ? all_.config : last_accepted_;
}

uint32_t RemoteStateTracker::cluster_id() const {
  auto c = config();
  return c ? c->id : 0;
}

bool RemoteStateTracker::remote_synced() const {
  for (auto kind : kvstore::kSyncedKinds) {
    if (!synced_kinds_.contains(std::string(kind))) return false;
  }
  return true;
}

void RemoteStateTracker::error(const std::string& key, const std::string& what) {
  ++decode_errors_;
  recent_errors_.push_back(key + ": " + what);
  while (recent_errors_.size() > kRecentErrors)
    recent_errors_.pop_front();
}

void RemoteStateTracker::apply_one(const std::string& key, const std::string* value,
                                   ClusterState& into, std::set<std::string>& synced,
                                   bool report_errors) {
  const ParsedKey k = kvstore::parse_key(key);
  auto fail = [&](const std::string& what) {
    if (report_errors) error(key, what);
  };
  switch (k.kind) {
    case ParsedKey::Kind::Other:
      return;
    case ParsedKey::Kind::ClusterConfig: {
      if (k.cluster != name_) return;
      if (!value) {
        into.config.reset();
        return;
      }
      auto r = kvstore::decode_cluster_config(*value);
      if (!r) return fail(r.error().message);
      into.config = std::move(*r);
      return;
    }
    case ParsedKey::Kind::Node: {
      if (k.cluster != name_) return;
      if (!value) {
        into.nodes.erase(k.name);
        return;
      }
      auto r = kvstore::decode_node(*value);
      if (!r) return fail(r.error().message);
      if (r->name != k.name || r->cluster != name_) {
        return fail("record names node " + r->cluster + "/" + r->name);
      }
      into.nodes[k.name] = std::move(*r);
      return;
    }
    case ParsedKey::Kind::Service: {
      if (k.cluster != name_) return;
      if (!value) {
        into.services.erase(k.name);
        return;
      }
      auto r = kvstore::decode_service(*value);
      if (!r) return fail(r.error().message);
      if (r->key() != k.name || r->cluster != name_) {
        return fail("record names service " + r->cluster + "/" + r->key());
      }
      into.services[k.name] = std::move(*r);
      return;
    }
    case ParsedKey::Kind::Ip: {
      if (k.cluster != name_) return;
      if (!value) {
        into.endpoints.erase(k.name);
        return;
      }
      auto r = kvstore::decode_endpoint(*value);
      if (!r) return fail(r.error().message);
      if (r->ip != k.name) return fail("record names IP " + r->ip);
      into.endpoints[k.name] = std::move(*r);
      return;
    }
    case ParsedKey::Kind::Identity: {
      if (!value) {
        into.identities.erase(k.id);
        return;
      }
      auto r = kvstore::decode_identity(k.id, *value);
      if (!r) return fail(r.error().message);
      into.identities[k.id] = std::move(*r);
      return;
    }
    case ParsedKey::Kind::Synced:
      if (k.cluster != name_) return;
      if (value) {
        synced.insert(k.name);
      } else {
        synced.erase(k.name);
      }
      return;
  }
}

bool RemoteStateTracker::endpoint_visible(const EndpointRecord& e, uint32_t cid) const {
  return is_reserved_identity(e.identity) || identity_cluster(e.identity) == cid;
}

bool RemoteStateTracker::identity_visible(const IdentityRecord& r, uint32_t cid) const {
  return !is_reserved_identity(r.id) && !is_node_local_identity(r.id) &&
         identity_cluster(r.id) == cid;
}

// Identities as the agent sees them: with the cluster label that policies select on.
static IdentityRecord with_cluster_label(IdentityRecord r, const std::string& cluster) {
  bool has = std::any_of(r.labels.begin(), r.labels.end(), [](const std::string& l) {
    auto colon = l.find(':');
    auto body =
        colon == std::string::npos ? std::string_view(l) : std::string_view(l).substr(colon + 1);
    return body.starts_with(std::string(kPolicyClusterLabel) + "=");
  });
  if (!has) {
    r.labels.push_back("k8s:" + std::string(kPolicyClusterLabel) + "=" + cluster);
    std::sort(r.labels.begin(), r.labels.end());
  }
  return r;
}

ClusterState RemoteStateTracker::compute_visible() const {
  ClusterState v;
  v.config = config();
  const uint32_t cid = accepted_id_;
  v.nodes = all_.nodes;
  v.services = all_.services;
  for (const auto& [ip, e] : all_.endpoints) {
    if (endpoint_visible(e, cid)) v.endpoints.emplace(ip, e);
  }
  for (const auto& [id, r] : all_.identities) {
    if (identity_visible(r, cid)) v.identities.emplace(id, with_cluster_label(r, name_));
  }
  return v;
}

void RemoteStateTracker::refresh_visible(const std::string& key, StateChanges& out) {
  const ParsedKey k = kvstore::parse_key(key);
  const uint32_t cid = accepted_id_;
  switch (k.kind) {
    case ParsedKey::Kind::Node: {
      if (k.cluster != name_) return;
      auto it = all_.nodes.find(k.name);
      const NodeRecord* want = it == all_.nodes.end() ? nullptr : &it->second;
      sync_entry(visible_.nodes, k.name, want, out.nodes_upserted, out.nodes_removed);
      return;
    }
    case ParsedKey::Kind::Service: {
      if (k.cluster != name_) return;
      auto it = all_.services.find(k.name);
      const ServiceRecord* want = it == all_.services.end() ? nullptr : &it->second;
      sync_entry(visible_.services, k.name, want, out.services_upserted, out.services_removed);
      return;
    }
    case ParsedKey::Kind::Ip: {
      if (k.cluster != name_) return;
      auto it = all_.endpoints.find(k.name);
      const EndpointRecord* want =
          it == all_.endpoints.end() || !endpoint_visible(it->second, cid) ? nullptr : &it->second;
      sync_entry(visible_.endpoints, k.name, want, out.endpoints_upserted, out.endpoints_removed);
      return;
    }
    case ParsedKey::Kind::Identity: {
      auto it = all_.identities.find(k.id);
      std::optional<IdentityRecord> want;
      if (it != all_.identities.end() && identity_visible(it->second, cid)) {
        want = with_cluster_label(it->second, name_);
      }
      sync_entry(visible_.identities, k.id, want ? &*want : nullptr, out.identities_upserted,
                 out.identities_removed);
      return;
    }
    case ParsedKey::Kind::ClusterConfig:
      if (k.cluster == name_) visible_.config = config();
      return;
    default:
      return;
  }
}

StateChanges RemoteStateTracker::make_changes() const {
  StateChanges c;
  c.cluster = name_;
  c.cluster_id = accepted_ ? accepted_id_ : cluster_id();
  return c;
}

StateChanges RemoteStateTracker::reevaluate() {
  auto cfg = config();
  std::string why;
  if (!cfg) {
    why = "waiting for " + kvstore::cluster_config_key(name_) + " in the remote kvstore";
  } else if (!validate_cluster_id(cfg->id)) {
    why = "remote cluster " + name_ + " announces cluster id " + std::to_string(cfg->id) +
          ", which is not in 1..255";
  } else if (cfg->id == local_.cluster.id) {
    why = "remote cluster " + name_ + " has cluster id " + std::to_string(cfg->id) +
          ", the same as this cluster (" + local_.cluster.name +
          "): cluster ids must be unique in the mesh";
  } else {
    // Pod CIDRs: the announced ones, and every remote node's.
    std::vector<std::pair<std::string, std::string>> theirs;  // cidr, where
    for (const auto& c : cfg->pod_cidrs)
      theirs.emplace_back(c, "cluster-config");
    for (const auto& [n, node] : all_.nodes) {
      for (const auto& c : node.pod_cidrs)
        theirs.emplace_back(c, "node " + n);
    }
    for (const auto& [cidr, where] : theirs) {
      auto p = Ipv4Prefix::parse(cidr);
      if (!p) continue;
      for (const auto& mine : local_.pod_cidrs) {
        if (mine.overlaps(*p)) {
          why = "remote cluster " + name_ + " pod CIDR " + p->str() + " (" + where +
                ") overlaps this cluster's pod CIDR " + mine.str() + " (" + local_.cluster.name +
                "): pod CIDRs must not overlap in the mesh";
          break;
        }
      }
      if (!why.empty()) break;
    }
    if (why.empty() && !external_refusal_.empty()) why = external_refusal_;
  }
  const bool was = accepted_;
  const uint32_t was_id = accepted_id_;
  accepted_ = why.empty();
  refusal_ = why;
  if (accepted_) {
    accepted_id_ = cfg->id;
    last_accepted_ = cfg;
  }
  if (was == accepted_ && (!accepted_ || was_id == accepted_id_)) return make_changes();
  ClusterState next = accepted_ ? compute_visible() : ClusterState{};
  StateChanges c = diff_state(visible_, next);
  c.cluster = name_;
  c.cluster_id = accepted_ ? accepted_id_ : was_id;
  visible_ = std::move(next);
  recomputed_ = true;
  return c;
}

StateChanges RemoteStateTracker::apply(const std::vector<etcd::WatchEvent>& events) {
  for (const auto& ev : events) {
    apply_one(ev.kv.key, ev.type == etcd::WatchEvent::Type::Put ? &ev.kv.value : nullptr, all_,
              synced_kinds_, true);
  }
  recomputed_ = false;
  StateChanges out = reevaluate();
  if (!recomputed_ && accepted_) {
    for (const auto& ev : events)
      refresh_visible(ev.kv.key, out);
  }
  return out;
}

StateChanges RemoteStateTracker::resync(const std::vector<etcd::KeyValue>& kvs) {
  ClusterState fresh;
  std::set<std::string> synced;
  for (const auto& kv : kvs) {
    const uint64_t before = decode_errors_;
    apply_one(kv.key, &kv.value, fresh, synced, true);
    if (decode_errors_ != before) {
      // Keep what we had for a key that no longer decodes.
      const ParsedKey k = kvstore::parse_key(kv.key);
      switch (k.kind) {
        case ParsedKey::Kind::ClusterConfig:
          if (!fresh.config) fresh.config = all_.config;
          break;
        case ParsedKey::Kind::Node:
          copy_entry(all_.nodes, fresh.nodes, k.name);
          break;
        case ParsedKey::Kind::Service:
          copy_entry(all_.services, fresh.services, k.name);
          break;
        case ParsedKey::Kind::Ip:
          copy_entry(all_.endpoints, fresh.endpoints, k.name);
          break;
        case ParsedKey::Kind::Identity:
          copy_entry(all_.identities, fresh.identities, k.id);
          break;
        default:
          break;
      }
    }
  }
  all_ = std::move(fresh);
  synced_kinds_ = std::move(synced);
  recomputed_ = false;
  StateChanges out = reevaluate();
  if (!recomputed_ && accepted_) {
    ClusterState next = compute_visible();
    out = diff_state(visible_, next);
    out.cluster = name_;
    out.cluster_id = accepted_id_;
    visible_ = std::move(next);
  }
  return out;
}

StateChanges RemoteStateTracker::set_external_refusal(std::string reason) {
  external_refusal_ = std::move(reason);
  recomputed_ = false;
  return reevaluate();
}

}  // namespace netagent::mesh
