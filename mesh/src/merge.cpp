#include "netagent/mesh/merge.hpp"

#include <algorithm>
#include <set>

namespace netagent::mesh {

std::vector<MergedBackend> MergedService::active_backends() const {
  std::vector<MergedBackend> out;
  for (const auto& b : backends) {
    if (b.active) out.push_back(b);
  }
  return out;
}

std::vector<std::string> MergedService::remote_clusters() const {
  std::set<std::string> names;
  for (const auto& b : backends) {
    if (!b.local) names.insert(b.cluster);
  }
  return {names.begin(), names.end()};
}

MergedService merge_service(const LocalService& local, const ClusterInfo& local_cluster,
                            const MeshView& view) {
  MergedService m;
  m.ns = local.ns;
  m.name = local.name;
  m.spec = local.spec;
  m.frontends = local.frontends;
  for (const auto& b : local.backends) {
    MergedBackend mb;
    mb.ip = b.ip;
    mb.ports = b.ports;
    mb.cluster = local_cluster.name;
    mb.cluster_id = local_cluster.id;
    mb.node = b.node;
    mb.local = true;
    mb.ready = b.ready;
    m.backends.push_back(std::move(mb));
  }
  if (local.spec.global) {
    std::vector<const RemoteClusterView*> remotes;
    for (const auto& c : view.clusters)
      remotes.push_back(&c);
    std::sort(remotes.begin(), remotes.end(), [](auto* a, auto* b) { return a->id < b->id; });
    const std::string key = local.ns + "/" + local.name;
    for (const auto* c : remotes) {
      if (!c->state) continue;
      auto it = c->state->services.find(key);
      if (it == c->state->services.end() || !it->second.shared) continue;
      for (const auto& [ip, ports] : it->second.backends) {
        MergedBackend mb;
        mb.ip = ip;
        mb.ports = ports;
        mb.cluster = c->name;
        mb.cluster_id = c->id;
        mb.local = false;
        mb.ready = true;  // clusters export ready backends only
        m.backends.push_back(std::move(mb));
      }
    }
  }
  const bool prefer_local = local.spec.global && local.spec.affinity == Affinity::Local;
  const bool prefer_remote = local.spec.global && local.spec.affinity == Affinity::Remote;
  bool preferred_ready = false;
  for (auto& b : m.backends) {
    b.preferred = (prefer_local && b.local) || (prefer_remote && !b.local);
    preferred_ready |= b.preferred && b.ready;
  }
  for (auto& b : m.backends) {
    // With a preferred side that has a ready backend, only that side; otherwise every ready one.
    b.active = b.ready && (!preferred_ready || b.preferred);
  }
  return m;
}

std::vector<RemoteIpcacheEntry> remote_ipcache(const MeshView& view) {
  std::vector<RemoteIpcacheEntry> out;
  std::set<std::string> seen;
  for (const auto& c : view.clusters) {
    if (!c.state) continue;
    for (const auto& [ip, e] : c.state->endpoints) {
      if (!seen.insert(ip).second) continue;
      out.push_back(RemoteIpcacheEntry{ip, e.identity, e.host_ip, c.name, c.id, false});
    }
  }
  for (const auto& c : view.clusters) {
    if (!c.state) continue;
    for (const auto& [name, n] : c.state->nodes) {
      for (const auto& a : n.addresses) {
        if (!seen.insert(a.ip).second) continue;
        out.push_back(RemoteIpcacheEntry{a.ip, kIdentityRemoteNode, a.ip, c.name, c.id, true});
      }
    }
  }
  return out;
}

std::vector<IdentityRecord> remote_identities(const MeshView& view) {
  std::vector<IdentityRecord> out;
  for (const auto& c : view.clusters) {
    if (!c.state) continue;
    for (const auto& [id, r] : c.state->identities)
      out.push_back(r);
  }
  return out;
}

}  // namespace netagent::mesh
