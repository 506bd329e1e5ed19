#include "netagent/lb/service_model.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <map>
#include <set>
#include <string_view>
#include <vector>

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
      if (a.ip && a.ip->is_v4()) v.addresses.push_back(a.ip->as_v4());
    }
  }
  return v;
}

namespace {

using SliceList = std::vector<const k8s::EndpointSlice*>;

// EndpointSlices by the service they belong to: one pass, not one scan per service.
std::map<std::pair<std::string_view, std::string_view>, SliceList> slices_by_service(
    const k8s::Snapshot& snap) {
  std::map<std::pair<std::string_view, std::string_view>, SliceList> out;
  for (const auto& es : snap.endpoint_slices)
    out[{es.meta.ns, es.service_name}].push_back(&es);
  return out;
}

std::set<uint16_t> node_ports_in_use(const k8s::Snapshot& snap) {
  std::set<uint16_t> out;
  for (const auto& svc : snap.services) {
    for (const auto& p : svc.ports) {
      if (p.node_port) out.insert(p.node_port);
    }
  }
  return out;
}

// The backends of service port `sp` from its slices: the slice port with the service port's name
// and protocol, every IPv4 address of every endpoint.
std::vector<Candidate> slice_candidates(const k8s::Service& svc, const k8s::ServicePort& sp,
                                        const SliceList& slices, const NodeView& node) {
  const uint8_t proto = uint8_t(sp.protocol);
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
        if (!a.is_v4()) continue;
        Candidate c;
        c.info.addr = {a.as_v4(), ep->port, proto};
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
  return cands;
}

// Backends from elsewhere (ClusterMesh) for the service port "ns/name/port-name": added to the
// slices' ones, or replacing them.
void add_extra_backends(const ExtraBackends& extra, const std::string& service_port, uint8_t proto,
                        std::vector<Candidate>& cands) {
  if (extra.replace_local.count(service_port)) cands.clear();
  auto it = extra.by_service_port.find(service_port);
  if (it == extra.by_service_port.end()) return;
  for (const auto& b : it->second) {
    Candidate c;
    c.info = b;
    c.info.addr.proto = proto;
    c.ready = true;
    c.serving = true;
    cands.push_back(std::move(c));
  }
}

// No API server assigns a nodePort in manifest mode: derive one deterministically from the
// service port's group so that every node agrees, probing past ports already taken (0 when the
// range is full).
uint16_t derive_node_port(const std::string& group, const ModelOptions& opts,
                          std::set<uint16_t>& used) {
  uint32_t span = uint32_t(opts.nodeport_max - opts.nodeport_min) + 1;
  uint32_t h = 2166136261u;  // FNV-1a
  for (char c : group)
    h = (h ^ uint8_t(c)) * 16777619u;
  for (uint32_t i = 0; i < span; ++i) {
    uint16_t cand = uint16_t(opts.nodeport_min + (h + i) % span);
    if (used.insert(cand).second) return cand;
  }
  return 0;
}

// One service port being compiled: what every frontend of it shares.
struct PortPlan {
  const std::string& service;  // "ns/name"
  const k8s::ServicePort& sp;
  uint8_t proto = 0;
  uint16_t flags = 0;  // LB_SVC_F_* of every frontend
  uint32_t affinity = 0;
  std::vector<BackendAddr> internal, external;  // the backend sets of the two scopes
  std::string group;                            // "ns/name/port-name/proto"
};

// compile_services, a service port at a time.
class ServiceCompiler {
 public:
  ServiceCompiler(const k8s::Snapshot& snap, const NodeView& node, const LoadBalancerIps& lb_ips,
                  const ModelOptions& opts, const ExtraBackends* extra)
      : snap_(snap),
        node_(node),
        lb_ips_(lb_ips),
        opts_(opts),
        extra_(extra),
        slices_of_(slices_by_service(snap)),
        used_node_ports_(node_ports_in_use(snap)) {}

  DesiredServices run() {
    for (const auto& svc : snap_.services)
      compile_service(svc);
    std::sort(out_.frontends.begin(), out_.frontends.end(),
              [](const Frontend& a, const Frontend& b) { return a.key < b.key; });
    return std::move(out_);
  }

 private:
  void compile_service(const k8s::Service& svc) {
    if (svc.type == "ExternalName" || svc.headless()) return;
    const std::string key = svc.meta.key();
    static const SliceList kNone;
    auto sit = slices_of_.find({svc.meta.ns, svc.meta.name});
    const auto& slices = sit == slices_of_.end() ? kNone : sit->second;
    for (const auto& sp : svc.ports) {
      if (sp.protocol == k8s::Protocol::SCTP) {
        out_.problems.push_back({key, "port " + sp.name + ": SCTP is not load-balanced"});
        continue;
      }
      compile_port(svc, key, sp, slices);
    }
  }

  void compile_port(const k8s::Service& svc, const std::string& key, const k8s::ServicePort& sp,
                    const SliceList& slices) {
    PortPlan p = plan_port(svc, key, sp, slices);
    for (const auto& ip : svc.cluster_ips) {
      if (ip.is_v4()) add_frontend(p, FrontendType::ClusterIP, ip.as_v4(), sp.port);
    }
    for (const auto& ip : svc.external_ips) {
      if (ip.is_v4()) add_frontend(p, FrontendType::ExternalIP, ip.as_v4(), sp.port);
    }
    if (svc.type == "LoadBalancer") {
      auto it = lb_ips_.find(key);
      if (it != lb_ips_.end()) {
        for (const auto& a : it->second)
          add_frontend(p, FrontendType::LoadBalancer, a, sp.port);
      }
    }
    if (svc.type == "NodePort" || svc.type == "LoadBalancer") {
      if (uint16_t np = node_port(p, svc)) {
        for (const auto& a : node_.addresses)
          add_frontend(p, FrontendType::NodePort, a, np);
      }
    }
  }

  // The backends (recorded in out_.backends), flags and group of one service port.
  PortPlan plan_port(const k8s::Service& svc, const std::string& key, const k8s::ServicePort& sp,
                     const SliceList& slices) {
    const bool external =
        svc.type == "NodePort" || svc.type == "LoadBalancer" || !svc.external_ips.empty();
    // eTP=Local is ignored for services that are not externally reachable (CategorizeEndpoints).
    const bool etp_local = svc.external_traffic_local && external;
    const bool itp_local = svc.internal_traffic_local;
    PortPlan p{key, sp};
    p.proto = uint8_t(sp.protocol);
    std::vector<Candidate> cands = slice_candidates(svc, sp, slices, node_);
    if (extra_) add_extra_backends(*extra_, key + "/" + sp.name, p.proto, cands);
    p.internal = addrs(usable(cands, itp_local));
    p.external = addrs(usable(cands, etp_local));
    for (const auto& c : cands) {
      // Record info for every backend that may be selected.
      if (std::binary_search(p.internal.begin(), p.internal.end(), c.info.addr) ||
          std::binary_search(p.external.begin(), p.external.end(), c.info.addr)) {
        out_.backends.emplace(c.info.addr, c.info);
      }
    }
    if (etp_local) p.flags |= LB_SVC_F_ETP_LOCAL;
    if (itp_local) p.flags |= LB_SVC_F_ITP_LOCAL;
    if (svc.session_affinity_client_ip) {
      p.flags |= LB_SVC_F_AFFINITY;
      p.affinity = svc.session_affinity_timeout;
    }
    p.group = key + "/" + sp.name + "/" + proto_name(p.proto);
    return p;
  }

  // The nodePort of a NodePort or LoadBalancer service port (0: none).
  uint16_t node_port(const PortPlan& p, const k8s::Service& svc) {
    uint16_t np = p.sp.node_port;
    if (np && (np < opts_.nodeport_min || np > opts_.nodeport_max)) {
      out_.problems.push_back({p.service, "port " + p.sp.name + ": nodePort " + std::to_string(np) +
                                              " is outside the NodePort range " +
                                              std::to_string(opts_.nodeport_min) + "-" +
                                              std::to_string(opts_.nodeport_max)});
      return 0;
    }
    if (!np && svc.type == "NodePort") {
      np = derive_node_port(p.group, opts_, used_node_ports_);
      if (!np) {
        out_.problems.push_back(
            {p.service,
             "port " + p.sp.name + ": no NodePort left: every port of the NodePort range " +
                 std::to_string(opts_.nodeport_min) + "-" + std::to_string(opts_.nodeport_max) +
                 " is taken, so this port has no NodePort frontend",
             ProblemKind::NodePortRangeExhausted});
      }
    }
    return np;
  }

  void add_frontend(const PortPlan& p, FrontendType type, Ipv4Addr addr, uint16_t port) {
    Frontend f;
    f.type = type;
    f.service = p.service;
    f.port_name = p.sp.name;
    f.affinity_timeout = p.affinity;
    f.flags = p.flags;
    f.key = {addr, port, p.proto, LB_SCOPE_EXTERNAL};
    if (type == FrontendType::ClusterIP) {
      f.flags |= LB_SVC_F_CLUSTER_IP;
      f.backends = p.internal;
      f.group = p.group + "/internal";
    } else {
      f.flags |= type == FrontendType::NodePort       ? LB_SVC_F_NODE_PORT
                 : type == FrontendType::LoadBalancer ? LB_SVC_F_LOAD_BALANCER
                                                      : LB_SVC_F_EXTERNAL_IP;
      if (opts_.maglev) f.flags |= LB_SVC_F_MAGLEV;
      f.backends = p.external;
      f.group = p.group + "/external";
    }
    if (!seen_.insert(f.key).second) {
      out_.problems.push_back(
          {p.service, "frontend " + f.key.str() + " is already used by another service"});
      return;
    }
    // An external frontend whose two scopes select different backends (a traffic policy
    // Local on one side) gets an internal twin for traffic from inside the cluster.
    if (type != FrontendType::ClusterIP && p.internal != p.external) {
      Frontend in = f;
      f.flags |= LB_SVC_F_TWO_SCOPES;
      in.key.scope = LB_SCOPE_INTERNAL;
      in.flags &= uint16_t(~LB_SVC_F_MAGLEV);
      in.backends = p.internal;
      in.group = p.group + "/internal";
      seen_.insert(in.key);
      out_.frontends.push_back(std::move(in));
    }
    out_.frontends.push_back(std::move(f));
  }

  const k8s::Snapshot& snap_;
  const NodeView& node_;
  const LoadBalancerIps& lb_ips_;
  const ModelOptions& opts_;
  const ExtraBackends* extra_;
  const std::map<std::pair<std::string_view, std::string_view>, SliceList> slices_of_;
  std::set<uint16_t> used_node_ports_;
  std::set<FrontendKey> seen_;
  DesiredServices out_;
};

}  // namespace

DesiredServices compile_services(const k8s::Snapshot& snap, const NodeView& node,
                                 const LoadBalancerIps& lb_ips, const ModelOptions& opts,
                                 const ExtraBackends* extra) {
  return ServiceCompiler(snap, node, lb_ips, opts, extra).run();
}

}  // namespace netagent::lb
