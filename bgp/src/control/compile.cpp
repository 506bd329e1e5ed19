#include "netagent/bgp/control/compile.hpp"

#include <algorithm>
#include <map>

#include "netagent/ipam/pool.hpp"
#include "netagent/ipam/service_labels.hpp"
#include "routes.hpp"

namespace netagent::bgp::control {
namespace {

using detail::RouteSet;

// Condition types. Cilium's where it has one (pkg/k8s/apis/cilium.io/v2 bgp_*_types.go).
constexpr const char* kMissingAuthSecret = "cilium.io/MissingAuthSecret";
constexpr const char* kMissingPeerConfigs = "cilium.io/MissingPeerConfigs";
constexpr const char* kConflictingClusterConfig = "cilium.io/ConflictingClusterConfig";
constexpr const char* kConflictingPeeringPolicies = "netagent.io/ConflictingPeeringPolicies";
constexpr const char* kPeeringPolicyPrecedence = "netagent.io/PeeringPolicyPrecedence";
constexpr const char* kNoRouterId = "netagent.io/NoRouterID";
constexpr const char* kMissingLocalAsn = "netagent.io/MissingLocalASN";
constexpr const char* kUnsupported = "netagent.io/Unsupported";
constexpr const char* kInvalidObject = "netagent.io/InvalidObject";
constexpr const char* kInvalidNodeAnnotation = "netagent.io/InvalidNodeAnnotation";

// A service the BGP control plane may announce: its class is unset or io.cilium/bgp-control-plane.
struct ServiceInfo {
  const k8s::Service* svc;
  std::string key;
  k8s::Labels labels;  // with io.kubernetes.service.{name,namespace}
  bool ready_local;
};

struct Vip {
  IpPrefix prefix;
  ServiceAddress kind;
  const std::string* pool;  // LoadBalancerIP only
};

class Compiler {
 public:
  Compiler(const k8s::Snapshot& snap, const LocalNode& node, const ipam::Allocation& lb,
           const std::set<std::string>& ready, const CompileOptions& opts)
      : snap_(snap), node_(node), lb_(lb), opts_(opts) {
    out_.node = node.name;
    objs_ = decode_bgp_objects(snap);
    for (const auto& e : objs_.errors)
      condition(kInvalidObject, e.object, e.str());
    std::vector<const k8s::Service*> svcs;
    for (const auto& s : snap.services) {
      if (ipam::handles_load_balancer_class(s)) svcs.push_back(&s);
    }
    std::sort(svcs.begin(), svcs.end(), [](const k8s::Service* a, const k8s::Service* b) {
      return std::tie(a->meta.ns, a->meta.name) < std::tie(b->meta.ns, b->meta.name);
    });
    services_.reserve(svcs.size());
    for (const auto* s : svcs) {
      auto key = s->meta.ns + "/" + s->meta.name;
      bool ready_local = ready.count(key) != 0;
      services_.push_back({s, std::move(key), ipam::service_selector_labels(*s), ready_local});
    }
  }

  DesiredBgp run() {
    std::vector<const PeeringPolicy*> policies;
    for (const auto& p : objs_.peering_policies) {
      if (p.node_selector.matches(node_.labels)) policies.push_back(&p);
    }
    std::vector<const ClusterConfig*> configs;
    for (const auto& c : objs_.cluster_configs) {
      if (c.node_selector.matches(node_.labels)) configs.push_back(&c);
    }
    if (policies.size() > 1) {
      // Cilium clears every session until only one policy matches the node.
      std::string names;
      for (const auto* p : policies)
        names += (names.empty() ? "" : ", ") + p->name;
      condition(kConflictingPeeringPolicies, "Node " + node_.name,
                "CiliumBGPPeeringPolicies " + names +
                    " all select this node; only one may, so none applies and BGP is off");
      return std::move(out_);
    }
    if (policies.size() == 1) {
      for (const auto* c : configs) {
        condition(kPeeringPolicyPrecedence, std::string(kClusterConfigKind) + " " + c->name,
                  "ignored on node " + node_.name + ": CiliumBGPPeeringPolicy " +
                      policies[0]->name + " also selects it and takes precedence");
      }
      compile_v1(*policies[0]);
      return std::move(out_);
    }
    if (!configs.empty()) {
      for (size_t i = 1; i < configs.size(); ++i) {
        condition(kConflictingClusterConfig,
                  std::string(kClusterConfigKind) + " " + configs[i]->name,
                  "ignored on node " + node_.name + ": CiliumBGPClusterConfig " + configs[0]->name +
                      " also selects it (the first by name applies)");
      }
      compile_v2(*configs[0]);
    }
    return std::move(out_);
  }

 private:
  void condition(const std::string& type, const std::string& object, const std::string& message) {
    Condition c{type, object, message};
    if (std::find(out_.conditions.begin(), out_.conditions.end(), c) == out_.conditions.end()) {
      out_.conditions.push_back(std::move(c));
    }
  }

  // MD5 password from the Secret's "password" key. A missing Secret or key gives an empty
  // password and a condition, as Cilium does.
  void resolve_password(const std::optional<std::string>& secret, const std::string& object,
                        DesiredPeer& peer) {
    peer.auth_secret = secret;
    if (!secret) return;
    const auto* s = snap_.secret(opts_.secret_namespace, *secret);
    if (!s) {
      condition(kMissingAuthSecret, object,
                "Secret " + opts_.secret_namespace + "/" + *secret + " not found: the session to " +
                    peer.address.str() + " uses an empty password");
      return;
    }
    auto it = s->data.find("password");
    if (it == s->data.end()) {
      condition(kMissingAuthSecret, object,
                "Secret " + opts_.secret_namespace + "/" + *secret +
                    " has no \"password\" key: the session to " + peer.address.str() +
                    " uses an empty password");
      return;
    }
    peer.password = it->second;
  }

  // The addresses of one service to announce, honouring the traffic policies: with
  // externalTrafficPolicy Local, LoadBalancer and external IPs only while this node has a ready
  // local endpoint; with internalTrafficPolicy Local, the same for cluster IPs.
  void service_vips(const ServiceInfo& si, ServiceAddress kind, std::optional<Afi> afi,
                    std::vector<Vip>& out) const {
    const auto& svc = *si.svc;
    auto emit = [&](const IpAddress& ip, const std::string* pool) {
      if (afi && afi_of(ip.family()) != *afi) return;
      out.push_back({IpPrefix::host(ip), kind, pool});
    };
    switch (kind) {
      case ServiceAddress::LoadBalancerIP: {
        if (svc.type != "LoadBalancer" || (svc.external_traffic_local && !si.ready_local)) return;
        if (const auto* a = lb_.find(svc.meta.ns, svc.meta.name)) {
          for (const auto& ip : a->ips)
            emit(ip.ip, &ip.pool);
        }
        return;
      }
      case ServiceAddress::ExternalIP:
        if (svc.external_traffic_local && !si.ready_local) return;
        for (const auto& ip : svc.external_ips)
          emit(ip, nullptr);
        return;
      case ServiceAddress::ClusterIP:
        if (svc.type == "ExternalName" || (svc.internal_traffic_local && !si.ready_local)) return;
        for (const auto& ip : svc.cluster_ips)
          emit(ip, nullptr);
        return;
    }
  }

  // Router ID and listening port from the v1 node annotation
  // cilium.io/bgp-virtual-router.<asn>="router-id=10.0.0.2,local-port=179" (last key wins).
  void v1_node_annotation(uint32_t asn, std::optional<Ipv4Addr>& router_id, uint16_t& listen_port) {
    auto key = "cilium.io/bgp-virtual-router." + std::to_string(asn);
    auto it = node_.annotations.find(key);
    if (it == node_.annotations.end()) return;
    size_t start = 0;
    const auto& v = it->second;
    while (start <= v.size()) {
      auto comma = v.find(',', start);
      auto item = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      auto eq = item.find('=');
      auto k = item.substr(0, eq);
      auto val = eq == std::string::npos ? "" : item.substr(eq + 1);
      if (k == "router-id") {
        if (auto ip = Ipv4Addr::parse(val)) {
          router_id = *ip;
        } else {
          condition(kInvalidNodeAnnotation, "Node " + node_.name,
                    key + ": router-id \"" + val + "\" is not an IPv4 address (ignored)");
        }
      } else if (k == "local-port") {
        int port = 0;
        bool ok = !val.empty() && val.find_first_not_of("0123456789") == std::string::npos &&
                  val.size() <= 5 && (port = std::stoi(val)) >= 1 && port <= 65535;
        if (ok) {
          listen_port = uint16_t(port);
        } else {
          condition(kInvalidNodeAnnotation, "Node " + node_.name,
                    key + ": local-port \"" + val + "\" is not a port (ignored)");
        }
      }
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }

  const std::map<std::string, k8s::Labels>& pool_labels() {
    if (!pool_labels_) {
      pool_labels_.emplace();
      for (auto& p : ipam::decode_pools(snap_))
        (*pool_labels_)[p.name] = p.labels;
    }
    return *pool_labels_;
  }

  // ---- CiliumBGPPeeringPolicy ----
  void compile_v1(const PeeringPolicy& policy) {
    const std::string object = std::string(kPeeringPolicyKind) + " " + policy.name;
    out_.source = object;
    for (const auto& vr : policy.virtual_routers) {
      DesiredInstance inst;
      inst.name = "vrouter-" + std::to_string(vr.local_asn);
      inst.local_asn = vr.local_asn;
      std::optional<Ipv4Addr> router_id = node_.ipv4;
      v1_node_annotation(vr.local_asn, router_id, inst.listen_port);
      if (!router_id) {
        condition(kNoRouterId, object,
                  "node " + node_.name +
                      " has no IPv4 address for the router ID of virtual router " +
                      std::to_string(vr.local_asn) + "; set cilium.io/bgp-virtual-router." +
                      std::to_string(vr.local_asn) + "=\"router-id=...\" on the Node");
        continue;
      }
      inst.router_id = *router_id;
      for (const auto& n : vr.neighbors) {
        DesiredPeer peer;
        peer.name = n.address.str();
        peer.address = n.address;
        peer.port = n.port;
        peer.peer_asn = n.peer_asn;
        peer.ibgp = n.peer_asn == vr.local_asn;
        peer.timers = n.timers;
        peer.ebgp_multihop_ttl = n.ebgp_multihop_ttl;
        peer.graceful_restart = n.graceful_restart;
        peer.families = n.families;
        resolve_password(n.auth_secret, object, peer);
        RouteSet routes;
        if (vr.export_pod_cidr) {
          for (const auto& cidr : node_.pod_cidrs) {
            auto r = routes.add(cidr, "PodCIDR");
            for (const auto& pa : n.path_attributes) {
              if (pa.type == PathSelectorType::PodCIDR &&
                  (!pa.selector || pa.selector->matches(node_.labels))) {
                routes.merge(r, pa.attributes);
              }
            }
          }
        }
        for (const auto& pa : n.path_attributes) {
          if (pa.type == PathSelectorType::PodIPPool) {
            condition(kUnsupported, object,
                      "advertisedPathAttributes with selectorType CiliumPodIPPool have no effect: "
                      "this agent has no multi-pool pod IPAM");
          }
        }
        if (vr.service_selector) {
          std::vector<Vip> vips;
          for (const auto& si : services_) {
            if (!vr.service_selector->matches(si.labels)) continue;
            vips.clear();
            for (auto kind : vr.service_advertisements)
              service_vips(si, kind, std::nullopt, vips);
            for (const auto& vip : vips) {
              auto r = routes.add(vip.prefix, "Service " + si.key + " " + to_string(vip.kind));
              if (vip.kind != ServiceAddress::LoadBalancerIP || !vip.pool) continue;
              for (const auto& pa : n.path_attributes) {
                if (pa.type != PathSelectorType::LoadBalancerIPPool) continue;
                if (pa.selector) {
                  auto it = pool_labels().find(*vip.pool);
                  if (it == pool_labels().end() || !pa.selector->matches(it->second)) continue;
                }
                routes.merge(r, pa.attributes);
              }
            }
          }
        }
        peer.routes = routes.finish(peer.ibgp, peer.families);
        inst.peers.push_back(std::move(peer));
      }
      out_.instances.push_back(std::move(inst));
    }
  }

  // ---- CiliumBGPClusterConfig and friends ----
  void compile_v2(const ClusterConfig& cc) {
    const std::string object = std::string(kClusterConfigKind) + " " + cc.name;
    out_.source = object;
    const NodeConfigOverride* ov = nullptr;
    for (const auto& o : objs_.node_overrides) {
      if (o.name == node_.name) ov = &o;
    }
    for (const auto& spec : cc.instances) {
      const InstanceOverride* io = nullptr;
      if (ov) {
        for (const auto& i : ov->instances) {
          if (i.name == spec.name) io = &i;
        }
      }
      DesiredInstance inst;
      inst.name = spec.name;
      auto asn = io && io->local_asn ? io->local_asn : spec.local_asn;
      if (!asn) {
        condition(kMissingLocalAsn, object,
                  "BGP instance " + spec.name +
                      " has no localASN (set it here or in a "
                      "CiliumBGPNodeConfigOverride); the instance is not started");
        continue;
      }
      inst.local_asn = *asn;
      auto rid = io && io->router_id ? io->router_id : node_.ipv4;
      if (!rid) {
        condition(kNoRouterId, object,
                  "node " + node_.name + " has no IPv4 address for the router ID of BGP instance " +
                      spec.name + "; set routerID in a CiliumBGPNodeConfigOverride");
        continue;
      }
      inst.router_id = *rid;
      inst.listen_port = io && io->local_port ? *io->local_port : spec.local_port.value_or(0);
      for (const auto& cp : spec.peers) {
        if (!cp.address) {
          condition(kUnsupported, object,
                    "peer " + cp.name + " of instance " + spec.name +
                        " uses autoDiscovery, which this agent does not support; it is skipped");
          continue;
        }
        inst.peers.push_back(compile_v2_peer(object, inst, cp, io));
      }
      out_.instances.push_back(std::move(inst));
    }
  }

  DesiredPeer compile_v2_peer(const std::string& cc_object, const DesiredInstance& inst,
                              const ClusterPeer& cp, const InstanceOverride* io) {
    static const PeerConfig kDefault = [] {
      PeerConfig d;
      d.families = {{{"ipv4", "unicast"}, std::nullopt}, {{"ipv6", "unicast"}, std::nullopt}};
      return d;
    }();
    const PeerConfig* pc = &kDefault;
    if (cp.peer_config) {
      auto it = std::find_if(objs_.peer_configs.begin(), objs_.peer_configs.end(),
                             [&](const PeerConfig& p) { return p.name == *cp.peer_config; });
      if (it != objs_.peer_configs.end()) {
        pc = &*it;
      } else {
        condition(kMissingPeerConfigs, cc_object,
                  "peer " + cp.name + " of instance " + inst.name +
                      " refers to CiliumBGPPeerConfig " + *cp.peer_config +
                      ", which does not exist; defaults apply and nothing is "
                      "advertised to it");
      }
    }
    DesiredPeer peer;
    peer.name = cp.name;
    peer.address = *cp.address;
    peer.port = pc->peer_port;
    peer.peer_asn = cp.peer_asn;
    peer.ibgp = cp.peer_asn != 0 && cp.peer_asn == inst.local_asn;
    peer.timers = pc->timers;
    peer.ebgp_multihop_ttl = pc->ebgp_multihop_ttl;
    peer.graceful_restart = pc->graceful_restart;
    for (const auto& f : pc->families)
      peer.families.push_back(f.family);
    if (io) {
      for (const auto& po : io->peers) {
        if (po.name == cp.name) peer.local_address = po.local_address;
      }
    }
    resolve_password(pc->auth_secret, std::string(kPeerConfigKind) + " " + pc->name, peer);

    RouteSet routes;
    std::vector<Vip> vips;
    for (const auto& pf : pc->families) {
      if (!pf.advertisements) continue;  // no selector: nothing advertised for this family
      const Afi afi = pf.family.afi == "ipv6" ? Afi::Ipv6 : Afi::Ipv4;
      for (const auto& set : objs_.advertisements) {
        if (!pf.advertisements->matches(set.labels)) continue;
        const std::string set_object = std::string(kAdvertisementKind) + " " + set.name;
        for (const auto& ad : set.advertisements) {
          switch (ad.type) {
            case AdvertisementType::PodCIDR:
              for (const auto& cidr : node_.pod_cidrs) {
                if (afi_of(cidr.family()) != afi) continue;
                routes.merge(routes.add(cidr, "PodCIDR"), ad.attributes);
              }
              break;
            case AdvertisementType::PodIPPool:
              condition(kUnsupported, set_object,
                        "advertisementType CiliumPodIPPool has no effect: this agent has no "
                        "multi-pool pod IPAM");
              break;
            case AdvertisementType::Service:
              if (ad.aggregation_ipv4 || ad.aggregation_ipv6) {
                condition(kUnsupported, set_object,
                          "service route aggregation is not supported: each address is "
                          "advertised as a /32 (or /128)");
              }
              if (!ad.selector) break;  // no selector selects no service
              for (const auto& si : services_) {
                if (!ad.selector->matches(si.labels)) continue;
                vips.clear();
                for (auto kind : ad.addresses)
                  service_vips(si, kind, afi, vips);
                for (const auto& vip : vips) {
                  auto r = routes.add(vip.prefix, "Service " + si.key + " " + to_string(vip.kind));
                  routes.merge(r, ad.attributes);
                }
              }
              break;
          }
        }
      }
    }
    peer.routes = routes.finish(peer.ibgp, peer.families);
    return peer;
  }

  const k8s::Snapshot& snap_;
  const LocalNode& node_;
  const ipam::Allocation& lb_;
  const CompileOptions& opts_;
  BgpObjects objs_;
  std::vector<ServiceInfo> services_;
  std::optional<std::map<std::string, k8s::Labels>> pool_labels_;
  DesiredBgp out_;
};

}  // namespace

LocalNode local_node(const k8s::Snapshot& snap, std::string_view node_name) {
  LocalNode n;
  n.name = std::string(node_name);
  if (const auto* node = snap.node(node_name)) {
    n.labels = node->meta.labels;
    n.annotations = node->meta.annotations;
    n.pod_cidrs = node->pod_cidrs;
    // The router ID is the node's IPv4 address: the first IPv4 InternalIP, else ExternalIP.
    for (const char* type : {"InternalIP", "ExternalIP"}) {
      for (const auto& a : node->addresses) {
        if (a.type == type && !n.ipv4 && a.ip && a.ip->is_v4()) n.ipv4 = a.ip->as_v4();
      }
    }
  }
  n.labels.emplace("kubernetes.io/hostname", n.name);
  return n;
}

std::set<std::string> ready_local_services(const k8s::Snapshot& snap, std::string_view node_name) {
  std::set<std::string> out;
  for (const auto& es : snap.endpoint_slices) {
    for (const auto& e : es.endpoints) {
      if (e.node_name == node_name && e.conditions.is_ready()) {
        out.insert(es.meta.ns + "/" + es.service_name);
        break;
      }
    }
  }
  return out;
}

DesiredBgp compile(const k8s::Snapshot& snap, const LocalNode& node, const ipam::Allocation& lb_ips,
                   const std::set<std::string>& ready_local, const CompileOptions& options) {
  return Compiler(snap, node, lb_ips, ready_local, options).run();
}

DesiredBgp compile(const k8s::Snapshot& snap, std::string_view node_name,
                   const ipam::Allocation& lb_ips, const std::set<std::string>& ready_local,
                   const CompileOptions& options) {
  auto node = local_node(snap, node_name);
  return Compiler(snap, node, lb_ips, ready_local, options).run();
}

const DesiredInstance* DesiredBgp::instance(std::string_view name) const {
  for (const auto& i : instances) {
    if (i.name == name) return &i;
  }
  return nullptr;
}

}  // namespace netagent::bgp::control
