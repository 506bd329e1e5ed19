#include "netagent/lb/service_model.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <set>

extern "C" {
#include "netagent/lb.h"
}

namespace netagent::lb {
namespace {

const char* proto_name(uint8_t p) {
  return p == IPPROTO_TCP ? "TCP" : p == IPPROTO_UDP ? "UDP" : p == IPPROTO_SCTP ? "SCTP" : "?";
}

struct Candidate {
  BackendInfo info;
  bool ready = false;
  bool serving = false;
};

// CategorizeEndpoints: ready ones, else serving+terminating ones.
std::vector<const Candidate*> usable(const std::vector<Candidate>& all, bool local_only) {
  std::vector<const Candidate*> ready, fallback;
  for (const auto& c : all) {
    if (local_only && !c.info.local) continue;
    if (c.ready && !c.info.terminating)
      ready.push_back(&c);
    else if (c.serving && c.info.terminating)
      fallback.push_back(&c);
  }
  return ready.empty() ? fallback : ready;
}

std::vector<BackendAddr> addrs(const std::vector<const Candidate*>& v) {
  std::vector<BackendAddr> out;
  for (const auto* c : v)
    out.push_back(c->info.addr);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

std::string BackendAddr::str() const {
  return addr.str() + ":" + std::to_string(port) + "/" + proto_name(proto);
}

std::string FrontendKey::str() const {
  return addr.str() + ":" + std::to_string(port) + "/" + proto_name(proto) +
         (scope == LB_SCOPE_INTERNAL ? " (internal)" : "");
}

const char* to_string(FrontendType t) {
  switch (t) {
    case FrontendType::ClusterIP:
      return "ClusterIP";
    case FrontendType::NodePort:
      return "NodePort";
    case FrontendType::LoadBalancer:
      return "LoadBalancer";
    case FrontendType::ExternalIP:
      return "ExternalIP";
  }
  return "?";
}

NodeView node_view(const k8s::Snapshot& snap, const std::string& node_name) {
  NodeView v;
  v.name = node_name;
  if (const auto* n = snap.node(node_name)) {
    for (const auto& a : n->addresses) {
      if (a.type != "InternalIP" && a.type != "ExternalIP") continue;
      if (auto ip = Ipv4Addr::parse(a.address)) v.addresses.push_back(*ip);
    }
  }
  return v;
}

DesiredServices compile_services(const k8s::Snapshot& snap, const NodeView& node,
                                 const LoadBalancerIps& lb_ips, const ModelOptions& opts,
                                 const ExtraBackends* extra) {
  DesiredServices out;
  std::set<FrontendKey> seen;
  // EndpointSlices by the service they belong to: one pass, not one scan per service.
  std::map<std::pair<std::string_view, std::string_view>, std::vector<const k8s::EndpointSlice*>>
      slices_of;
  for (const auto& es : snap.endpoint_slices) {
    slices_of[{es.meta.ns, es.service_name}].push_back(&es);
  }
  std::set<uint16_t> used_nodeports;
  for (const auto& svc : snap.services) {
    for (const auto& p : svc.ports) {
      if (p.node_port) used_nodeports.insert(p.node_port);
    }
  }

  for (const auto& svc : snap.services) {
    const std::string key = svc.meta.key();
    if (svc.type == "ExternalName" || svc.headless()) continue;
    const bool external =
        svc.type == "NodePort" || svc.type == "LoadBalancer" || !svc.external_ips.empty();
    // eTP=Local is ignored for services that are not externally reachable (CategorizeEndpoints).
    const bool etp_local = svc.external_traffic_local && external;
    const bool itp_local = svc.internal_traffic_local;
    static const std::vector<const k8s::EndpointSlice*> kNone;
    auto sit = slices_of.find({svc.meta.ns, svc.meta.name});
    const auto& slices = sit == slices_of.end() ? kNone : sit->second;

    for (const auto& sp : svc.ports) {
      if (sp.protocol == k8s::Protocol::SCTP) {
        out.problems.push_back({key, "port " + sp.name + ": SCTP is not load-balanced"});
        continue;
      }
      const uint8_t proto = uint8_t(sp.protocol);
      // Backends: the slice port with the service port's name and protocol.
      std::vector<Candidate> cands;
      for (const auto* es : slices) {
        if (es->address_type != "IPv4") continue;
        const k8s::EndpointPort* ep = nullptr;
        for (const auto& x : es->ports) {
          if (x.name == sp.name && x.protocol == sp.protocol) ep = &x;
        }
        if (!ep) continue;
        for (const auto& e : es->endpoints) {
          for (const auto& a : e.addresses) {
            auto ip = Ipv4Addr::parse(a);
            if (!ip) continue;
            Candidate c;
            c.info.addr = {*ip, ep->port, proto};
            c.info.local = !node.name.empty() && e.node_name == node.name;
            c.info.node = e.node_name;
            c.info.pod = e.target_pod;
            // publishNotReadyAddresses: every endpoint counts as ready.
            c.ready = svc.publish_not_ready_addresses || e.conditions.is_ready();
            c.serving = svc.publish_not_ready_addresses || e.conditions.is_serving();
            c.info.terminating = !svc.publish_not_ready_addresses && e.conditions.is_terminating();
            cands.push_back(std::move(c));
          }
        }
      }
      if (extra) {
        if (extra->replace_local.count(key + "/" + sp.name)) cands.clear();
        auto it = extra->by_service_port.find(key + "/" + sp.name);
        if (it != extra->by_service_port.end()) {
          for (const auto& b : it->second) {
            Candidate c;
            c.info = b;
            c.info.addr.proto = proto;
            c.ready = true;
            c.serving = true;
            cands.push_back(std::move(c));
          }
        }
      }
      auto internal_set = addrs(usable(cands, itp_local));
      auto external_set = addrs(usable(cands, etp_local));
      for (const auto& c : cands) {
        // Record info for every backend that may be selected.
        if (std::binary_search(internal_set.begin(), internal_set.end(), c.info.addr) ||
            std::binary_search(external_set.begin(), external_set.end(), c.info.addr)) {
          out.backends.emplace(c.info.addr, c.info);
        }
      }

      uint16_t base_flags = 0;
      if (etp_local) base_flags |= LB_SVC_F_ETP_LOCAL;
      if (itp_local) base_flags |= LB_SVC_F_ITP_LOCAL;
      uint32_t affinity = 0;
      if (svc.session_affinity_client_ip) {
        base_flags |= LB_SVC_F_AFFINITY;
        affinity = svc.session_affinity_timeout;
      }
      const std::string group_base = key + "/" + sp.name + "/" + proto_name(proto);

      auto add = [&](FrontendType type, Ipv4Addr addr, uint16_t port) {
        Frontend f;
        f.type = type;
        f.service = key;
        f.port_name = sp.name;
        f.affinity_timeout = affinity;
        f.flags = base_flags;
        f.key = {addr, port, proto, LB_SCOPE_EXTERNAL};
        if (type == FrontendType::ClusterIP) {
          f.flags |= LB_SVC_F_CLUSTER_IP;
          f.backends = internal_set;
          f.group = group_base + "/internal";
        } else {
          f.flags |= type == FrontendType::NodePort       ? LB_SVC_F_NODE_PORT
                     : type == FrontendType::LoadBalancer ? LB_SVC_F_LOAD_BALANCER
                                                          : LB_SVC_F_EXTERNAL_IP;
          if (opts.maglev) f.flags |= LB_SVC_F_MAGLEV;
          f.backends = external_set;
          f.group = group_base + "/external";
        }
        if (!seen.insert(f.key).second) {
          out.problems.push_back(
              {key, "frontend " + f.key.str() + " is already used by another service"});
          return;
        }
        const bool two_scopes = type != FrontendType::ClusterIP && internal_set != external_set;
        if (two_scopes) {
          Frontend in = f;
          f.flags |= LB_SVC_F_TWO_SCOPES;
          in.key.scope = LB_SCOPE_INTERNAL;
          in.flags &= uint16_t(~LB_SVC_F_MAGLEV);
          in.backends = internal_set;
          in.group = group_base + "/internal";
          seen.insert(in.key);
          out.frontends.push_back(std::move(in));
        }
        out.frontends.push_back(std::move(f));
      };

      for (const auto& ip : svc.cluster_ips) {
        if (auto a = Ipv4Addr::parse(ip)) add(FrontendType::ClusterIP, *a, sp.port);
      }
      for (const auto& ip : svc.external_ips) {
        if (auto a = Ipv4Addr::parse(ip)) add(FrontendType::ExternalIP, *a, sp.port);
      }
      if (svc.type == "LoadBalancer") {
        auto it = lb_ips.find(key);
        if (it != lb_ips.end()) {
          for (const auto& a : it->second)
            add(FrontendType::LoadBalancer, a, sp.port);
        }
      }
      if (svc.type == "NodePort" || svc.type == "LoadBalancer") {
        uint16_t np = sp.node_port;
        if (np && (np < opts.nodeport_min || np > opts.nodeport_max)) {
          out.problems.push_back({key, "port " + sp.name + ": nodePort " + std::to_string(np) +
                                           " is outside the NodePort range " +
                                           std::to_string(opts.nodeport_min) + "-" +
                                           std::to_string(opts.nodeport_max)});
          np = 0;
        } else if (!np && svc.type == "NodePort") {
          // No API server assigns one in manifest mode: derive it deterministically from the
          // service and port so that every node agrees, probing past ports already taken.
          uint32_t span = uint32_t(opts.nodeport_max - opts.nodeport_min) + 1;
          uint32_t h = 2166136261u;
          for (char c : group_base)
            h = (h ^ uint8_t(c)) * 16777619u;
          for (uint32_t i = 0; i < span; ++i) {
            uint16_t cand = uint16_t(opts.nodeport_min + (h + i) % span);
            if (used_nodeports.insert(cand).second) {
              np = cand;
              break;
            }
          }
        }
        if (np) {
          for (const auto& a : node.addresses)
            add(FrontendType::NodePort, a, np);
        }
      }
    }
  }
  std::sort(out.frontends.begin(), out.frontends.end(),
            [](const Frontend& a, const Frontend& b) { return a.key < b.key; });
  return out;
}

}  // namespace netagent::lb
