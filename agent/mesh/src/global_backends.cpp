#include "netagent/agentmesh/global_backends.hpp"

#include <netinet/in.h>

#include <algorithm>

namespace netagent::agentmesh {
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
  std::sort(out.services.begin(), out.services.end(), [](const auto& a, const auto& b) {
    return std::tie(a.ns, a.name) < std::tie(b.ns, b.name);
  });
  return out;
}

bool same_backends(const GlobalBackends& a, const GlobalBackends& b) {
  if (a.replace_local != b.replace_local) return false;
  const auto& x = a.extra.by_service_port;
  const auto& y = b.extra.by_service_port;
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

GlobalBackends global_backends(const LocalGlobalServices& local, const mesh::ClusterInfo& cluster,
                               const mesh::MeshView& view) {
  GlobalBackends out;
  for (const auto& ls : local.services) {
    auto m = mesh::merge_service(ls, cluster, view);
    const std::string key = ls.ns + "/" + ls.name;
    bool local_inactive = false;  // a local backend that is ready but not selected
    bool any_remote_active = false;
    for (const auto& b : m.backends) {
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
        out.extra.by_service_port[key + "/" + port_name].push_back(std::move(info));
      }
    }
    if (local_inactive && any_remote_active) {
      // Affinity remote: the local backends stand by while a remote one is ready.
      for (const auto& [port_name, e] : out.extra.by_service_port) {
        if (port_name.starts_with(key + "/") &&
            port_name.find('/', key.size() + 1) == std::string::npos) {
          out.replace_local.insert(port_name);
        }
      }
    }
    out.merged.push_back(std::move(m));
  }
  return out;
}

}  // namespace netagent::agentmesh
