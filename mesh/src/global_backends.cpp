#include "netagent/mesh/global_backends.hpp"

#include <netinet/in.h>

#include <algorithm>

namespace netagent::mesh {
namespace {

uint8_t proto_of(const std::string& p) {
  return p == "UDP" ? IPPROTO_UDP : p == "SCTP" ? IPPROTO_SCTP : IPPROTO_TCP;
}

}  // namespace

LocalGlobalServices local_global_services(const k8s::Snapshot& snap) {
  LocalGlobalServices out;
  for (const auto& svc : snap.services) {
    auto spec = mesh::global_service_spec(svc.meta);
    if (!spec) {
      out.errors.push_back(spec.error().message);
      continue;
    }
    if (!spec->global) continue;
    auto ls = mesh::local_service(snap, svc);
    if (!ls) {
      out.errors.push_back(ls.error().message);
      continue;
    }
    out.services.push_back(std::move(*ls));
  }
  // By "ns/name" as a string, the key update_global_backends() looks services up by.
  std::sort(out.services.begin(), out.services.end(),
            [](const auto& a, const auto& b) { return a.ns + "/" + a.name < b.ns + "/" + b.name; });
  return out;
}

namespace {

using PortBackends = std::map<std::string, std::vector<lb::BackendInfo>>;

bool same_ports(const PortBackends& x, const PortBackends& y) {
  if (x.size() != y.size()) return false;
  for (auto i = x.begin(), j = y.begin(); i != x.end(); ++i, ++j) {
    if (i->first != j->first || i->second.size() != j->second.size()) return false;
    for (size_t k = 0; k < i->second.size(); ++k) {
      const auto& p = i->second[k];
      const auto& q = j->second[k];
      if (p.addr != q.addr || p.cluster != q.cluster || p.cluster_id != q.cluster_id) return false;
    }
  }
  return true;
}

// The entries of `m` whose key starts with `prefix`.
template <typename M>
std::pair<typename M::iterator, typename M::iterator> prefixed(M& m, const std::string& prefix) {
  auto first = m.lower_bound(prefix);
  auto last = first;
  auto key = [](const auto& e) -> const std::string& {
    if constexpr (requires { e.first; }) {
      return e.first;
    } else {
      return e;
    }
  };
  while (last != m.end() && key(*last).starts_with(prefix))
    ++last;
  return {first, last};
}

// One service's merge and its share of the LB's extra backends.
void merge_one(const mesh::LocalService& ls, const mesh::ClusterInfo& cluster,
               const mesh::MeshView& view, mesh::MergedService& merged, PortBackends& ports,
               std::set<std::string>& replace) {
  merged = mesh::merge_service(ls, cluster, view);
  const std::string key = ls.ns + "/" + ls.name;
  bool local_inactive = false;  // a local backend that is ready but not selected
  bool any_remote_active = false;
  for (const auto& b : merged.backends) {
    if (b.local) {
      local_inactive |= b.ready && !b.active;
      continue;
    }
    if (!b.active) continue;
    auto ip = Ipv4Addr::parse(b.ip);
    if (!ip) continue;
    any_remote_active = true;
    for (const auto& [port_name, l4] : b.ports) {
      lb::BackendInfo info;
      info.addr = {*ip, l4.port, proto_of(l4.protocol)};
      info.cluster = b.cluster;
      info.cluster_id = uint8_t(b.cluster_id);
      ports[key + "/" + port_name].push_back(std::move(info));
    }
  }
  if (local_inactive && any_remote_active) {
    // Affinity remote: the local backends stand by while a remote one is ready.
    for (const auto& [port_key, e] : ports)
      replace.insert(port_key);
  }
}

}  // namespace

bool same_backends(const GlobalBackends& a, const GlobalBackends& b) {
  return a.replace_local == b.replace_local &&
         same_ports(a.extra.by_service_port, b.extra.by_service_port);
}

bool update_global_backends(GlobalBackends& g, const LocalGlobalServices& local,
                            const mesh::ClusterInfo& cluster, const mesh::MeshView& view,
                            const std::set<std::string>* only) {
  if (!only) {
    GlobalBackends next;
    for (const auto& ls : local.services) {
      PortBackends ports;
      std::set<std::string> replace;
      auto& m = next.merged[ls.ns + "/" + ls.name];
      merge_one(ls, cluster, view, m, ports, replace);
      next.extra.by_service_port.merge(ports);
      next.replace_local.merge(replace);
    }
    bool changed = !same_backends(next, g);
    g = std::move(next);
    return changed;
  }
  bool changed = false;
  for (const auto& key : *only) {
    auto it = std::lower_bound(
        local.services.begin(), local.services.end(), key,
        [](const mesh::LocalService& s, const std::string& k) { return s.ns + "/" + s.name < k; });
    if (it == local.services.end() || it->ns + "/" + it->name != key) continue;  // not global here
    PortBackends ports;
    std::set<std::string> replace;
    merge_one(*it, cluster, view, g.merged[key], ports, replace);
    const std::string prefix = key + "/";
    auto [first, last] = prefixed(g.extra.by_service_port, prefix);
    PortBackends old(first, last);
    auto [rf, rl] = prefixed(g.replace_local, prefix);
    std::set<std::string> old_replace(rf, rl);
    if (same_ports(old, ports) && old_replace == replace) continue;
    changed = true;
    g.extra.by_service_port.erase(first, last);
    g.replace_local.erase(rf, rl);
    g.extra.by_service_port.merge(ports);
    g.replace_local.merge(replace);
  }
  return changed;
}

GlobalBackends global_backends(const LocalGlobalServices& local, const mesh::ClusterInfo& cluster,
                               const mesh::MeshView& view) {
  GlobalBackends out;
  update_global_backends(out, local, cluster, view, nullptr);
  return out;
}

}  // namespace netagent::mesh
