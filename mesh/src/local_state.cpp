#include "netagent/mesh/local_state.hpp"

#include <algorithm>

namespace netagent::mesh {

namespace {

PortMap service_ports(const k8s::Service& svc) {
  PortMap out;
  for (const auto& p : svc.ports)
    out[p.name] = L4Port{k8s::to_string(p.protocol), p.port};
  return out;
}

}  // namespace

Result<LocalService> local_service(const k8s::Snapshot& snap, const k8s::Service& svc) {
  auto spec = global_service_spec(svc.meta);
  if (!spec) return spec.error();
  LocalService ls;
  ls.ns = svc.meta.ns;
  ls.name = svc.meta.name;
  ls.spec = *spec;
  const PortMap ports = service_ports(svc);
  // Records carry addresses as text (the kvstore's form).
  auto add_frontend = [&](const IpAddress& ip) {
    if (ip.is_v4()) ls.frontends[ip.str()] = ports;
  };
  for (const auto& ip : svc.cluster_ips)
    add_frontend(ip);
  for (const auto& ip : svc.external_ips)
    add_frontend(ip);
  for (const auto& ip : svc.status_ingress_ips)
    add_frontend(ip);
  if (svc.load_balancer_ip) add_frontend(*svc.load_balancer_ip);

  std::map<std::string, ServiceBackend> by_ip;
  for (const auto* slice : snap.slices_for(svc.meta.ns, svc.meta.name)) {
    if (slice->address_type != "IPv4") continue;
    PortMap sp;
    for (const auto& p : slice->ports)
      sp[p.name] = L4Port{k8s::to_string(p.protocol), p.port};
    for (const auto& ep : slice->endpoints) {
      for (const auto& ip : ep.addresses) {
        if (!ip.is_v4()) continue;
        const std::string addr = ip.str();
        auto& b = by_ip[addr];
        const bool first = b.ip.empty();
        b.ip = addr;
        b.node = ep.node_name;
        // An address listed in several slices is ready if any slice says so.
        b.ready = first ? ep.conditions.is_ready() : (b.ready || ep.conditions.is_ready());
        for (const auto& [n, p] : sp)
          b.ports[n] = p;
      }
    }
  }
  for (auto& [ip, b] : by_ip)
    ls.backends.push_back(std::move(b));
  return ls;
}

std::vector<ServiceRecord> export_global_services(const k8s::Snapshot& snap,
                                                  const ClusterInfo& cluster,
                                                  std::vector<Error>* errors) {
  std::vector<ServiceRecord> out;
  for (const auto& svc : snap.services) {
    if (svc.type == "ExternalName") continue;
    auto ls = local_service(snap, svc);
    if (!ls) {
      if (errors) errors->push_back(ls.error());
      continue;
    }
    if (!ls->spec.global || !ls->spec.shared) continue;
    ServiceRecord r;
    r.cluster = cluster.name;
    r.cluster_id = cluster.id;
    r.ns = ls->ns;
    r.name = ls->name;
    r.frontends = ls->frontends;
    for (const auto& b : ls->backends) {
      if (b.ready) r.backends[b.ip] = b.ports;
    }
    r.labels = std::map<std::string, std::string>(svc.meta.labels.begin(), svc.meta.labels.end());
    if (svc.selector)
      r.selector = std::map<std::string, std::string>(svc.selector->begin(), svc.selector->end());
    r.include_external = true;
    r.shared = true;
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<NodeRecord> export_nodes(const k8s::Snapshot& snap, const ClusterInfo& cluster) {
  std::vector<NodeRecord> out;
  for (const auto& n : snap.nodes) {
    NodeRecord r;
    r.name = n.meta.name;
    r.cluster = cluster.name;
    r.cluster_id = cluster.id;
    for (const auto& a : n.addresses) {
      if (a.ip) r.addresses.push_back({a.type, a.ip->str()});
    }
    for (const auto& c : n.pod_cidrs) {
      if (c.is_v4()) r.pod_cidrs.push_back(c.str());
    }
    r.labels = std::map<std::string, std::string>(n.meta.labels.begin(), n.meta.labels.end());
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<EndpointRecord> export_endpoints(
    const k8s::Snapshot& snap,
    const std::function<std::optional<uint32_t>(const k8s::Pod&)>& identity_of) {
  std::vector<EndpointRecord> out;
  for (const auto& pod : snap.pods) {
    if (pod.host_network) continue;
    auto id = identity_of(pod);
    if (!id) continue;
    std::string host_ip;
    if (const auto* node = snap.node(pod.node_name)) {
      if (auto ip = node->primary_ip()) host_ip = ip->str();
    }
    for (const auto& ip : pod.pod_ips) {
      if (!ip.is_v4()) continue;
      out.push_back(
          EndpointRecord{ip.str(), *id, host_ip, pod.node_name, pod.meta.ns, pod.meta.name});
    }
  }
  return out;
}

std::vector<Ipv4Prefix> pod_cidrs_of(const k8s::Snapshot& snap) {
  std::vector<Ipv4Prefix> out;
  for (const auto& n : snap.nodes) {
    for (const auto& c : n.pod_cidrs) {
      if (c.is_v4()) out.push_back(c.as_v4());
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace netagent::mesh
