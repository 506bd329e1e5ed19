#include "netagent/bgp/control/crds.hpp"

#include <algorithm>
#include <set>

namespace netagent::bgp::control {
namespace {

using k8s::Field;

constexpr int64_t kMaxU32 = 4294967295;

// A local ASN of 0 is reserved and never valid in an OPEN (RFC 7607).
uint32_t decode_local_asn(const Field& f) {
  auto v = f.integer(0, kMaxU32);
  if (v == 0) f.fail("AS 0 is reserved (RFC 7607) and cannot be a local ASN");
  return uint32_t(v);
}

std::optional<k8s::LabelSelector> opt_selector(const Field& f) {
  if (!f.present()) return std::nullopt;
  return f.selector();
}

// v2alpha1 peerAddress: "CIDR notation with a /32 to express a single host" (or /128).
IpAddress decode_peer_cidr(const Field& f) {
  auto s = f.str();
  auto slash = s.find('/');
  auto addr = IpAddress::parse(std::string_view(s).substr(0, slash));
  if (slash == std::string::npos || !addr || s.substr(slash + 1) != std::to_string(addr->bits())) {
    f.fail("\"" + s + "\" must be the peer address in CIDR notation with /32 (or /128 for IPv6), " +
           "e.g. 10.25.11.1/32");
  }
  return *addr;
}

Attributes decode_attributes(const Field& communities, const Field& local_pref) {
  Attributes a;
  for (auto& f : communities["standard"].items()) {
    auto c = parse_standard_community(f.str());
    if (!c)
      f.fail("\"" + f.str() +
             "\" is not a standard community (<0-65535>:<0-65535> or a 32-bit decimal)");
    a.communities.push_back(*c);
  }
  for (auto& f : communities["wellKnown"].items()) {
    auto c = well_known_community(f.str());
    if (!c) {
      f.fail("unknown well-known community \"" + f.str() +
             "\" (expected internet, planned-shut, accept-own, route-filter-translated-v4, "
             "route-filter-v4, route-filter-translated-v6, route-filter-v6, llgr-stale, no-llgr, "
             "blackhole, no-export, no-advertise, no-export-subconfed or no-peer)");
    }
    a.communities.push_back(*c);
  }
  for (auto& f : communities["large"].items()) {
    auto c = parse_large_community(f.str());
    if (!c) f.fail("\"" + f.str() + "\" is not a large community (<u32>:<u32>:<u32>)");
    a.large_communities.push_back(*c);
  }
  if (auto lp = local_pref.opt_integer(0, kMaxU32)) a.local_preference = uint32_t(*lp);
  return a;
}

Timers decode_timers(const Field& connect_retry, const Field& hold, const Field& keepalive) {
  Timers t;
  if (auto v = connect_retry.opt_integer(1, 2147483647)) t.connect_retry = uint32_t(*v);
  if (auto v = hold.opt_integer(3, 65535)) t.hold = uint32_t(*v);
  if (auto v = keepalive.opt_integer(1, 65535)) t.keepalive = uint32_t(*v);
  if (t.keepalive > t.hold) {
    (keepalive.present() ? keepalive : hold)
        .fail("keepAliveTimeSeconds (" + std::to_string(t.keepalive) +
              ") must not be larger than holdTimeSeconds (" + std::to_string(t.hold) + ")");
  }
  return t;
}

GracefulRestart decode_graceful_restart(const Field& f) {
  GracefulRestart gr;
  if (!f.present()) return gr;
  gr.enabled = f["enabled"].boolean();
  if (auto v = f["restartTimeSeconds"].opt_integer(1, 4095)) gr.restart_time = uint32_t(*v);
  return gr;
}

Family decode_family(const Field& f) {
  Family fam;
  fam.afi = f["afi"].str();
  fam.safi = f["safi"].str();
  if (fam.afi != "ipv4" && fam.afi != "ipv6") {
    f["afi"].fail("unsupported afi \"" + fam.afi +
                  "\": only ipv4 and ipv6 (unicast) are supported");
  }
  if (fam.safi != "unicast") {
    f["safi"].fail("unsupported safi \"" + fam.safi + "\": only unicast is supported");
  }
  return fam;
}

std::vector<Family> default_families() {
  return {{"ipv4", "unicast"}, {"ipv6", "unicast"}};
}

ServiceAddress decode_service_address(const Field& f) {
  auto v = f.one_of({"LoadBalancerIP", "ClusterIP", "ExternalIP"}, "");
  if (v.empty()) f.fail("is required");
  return v == "LoadBalancerIP" ? ServiceAddress::LoadBalancerIP
         : v == "ClusterIP"    ? ServiceAddress::ClusterIP
                               : ServiceAddress::ExternalIP;
}

uint16_t decode_port(const Field& f, uint16_t def) {
  auto v = f.opt_integer(0, 65535);
  return (!v || *v == 0) ? def : uint16_t(*v);  // 0 means "default", as Cilium's SetDefaults
}

// values[i] is items[i]'s key (an item that did not decode has none: skipped).
template <typename T>
void require_unique(k8s::FieldErrors& errs, const std::vector<std::pair<Field, T>>& values,
                    const std::string& key, const std::string& what) {
  std::set<T> seen;
  for (const auto& [item, v] : values) {
    if (!seen.insert(v).second) {
      errs.add(k8s::FieldError(item[key].path(), "duplicate " + what + " within the list"));
    }
  }
}

// Every decoder below checks each field and each list item on its own (k8s::FieldErrors), so
// that one bad field does not hide the next: all of an object's errors are reported at once.

Neighbor decode_neighbor(const Field& f) {
  k8s::FieldErrors errs;
  Neighbor n;
  errs.check([&] { n.address = decode_peer_cidr(f["peerAddress"]); });
  errs.check([&] { n.port = decode_port(f["peerPort"], 179); });
  errs.check([&] { n.peer_asn = uint32_t(f["peerASN"].integer(0, kMaxU32)); });
  errs.check([&] {
    if (auto s = f["authSecretRef"].opt_str(); s && !s->empty()) n.auth_secret = *s;
  });
  errs.check([&] {
    if (auto v = f["eBGPMultihopTTL"].opt_integer(1, 255)) n.ebgp_multihop_ttl = uint8_t(*v);
  });
  errs.check([&] {
    n.timers = decode_timers(f["connectRetryTimeSeconds"], f["holdTimeSeconds"],
                             f["keepAliveTimeSeconds"]);
  });
  errs.check([&] { n.graceful_restart = decode_graceful_restart(f["gracefulRestart"]); });
  for (auto& fam : errs.items(f["families"]))
    errs.check([&] { n.families.push_back(decode_family(fam)); });
  if (n.families.empty()) n.families = default_families();
  for (auto& pa : errs.items(f["advertisedPathAttributes"])) {
    errs.check([&] {
      PathAttributes p;
      auto type =
          pa["selectorType"].one_of({"PodCIDR", "CiliumLoadBalancerIPPool", "CiliumPodIPPool"}, "");
      if (type.empty()) pa["selectorType"].fail("is required");
      p.type = type == "PodCIDR"                    ? PathSelectorType::PodCIDR
               : type == "CiliumLoadBalancerIPPool" ? PathSelectorType::LoadBalancerIPPool
                                                    : PathSelectorType::PodIPPool;
      p.selector = opt_selector(pa["selector"]);
      p.attributes = decode_attributes(pa["communities"], pa["localPreference"]);
      n.path_attributes.push_back(std::move(p));
    });
  }
  errs.raise();
  return n;
}

// A list that must not be empty: absent, or an empty list (not a list at all is another error).
bool missing_or_empty(const Field& f) {
  return !f.present() || (f.is_seq() && f.node().size() == 0);
}

Advertisement decode_one_advertisement(const Field& f) {
  k8s::FieldErrors errs;
  Advertisement a;
  errs.check([&] {
    auto type = f["advertisementType"].one_of({"PodCIDR", "CiliumPodIPPool", "Service"}, "");
    if (type.empty()) f["advertisementType"].fail("is required");
    a.type = type == "PodCIDR"           ? AdvertisementType::PodCIDR
             : type == "CiliumPodIPPool" ? AdvertisementType::PodIPPool
                                         : AdvertisementType::Service;
  });
  if (a.type == AdvertisementType::Service) {
    auto svc = f["service"];
    errs.check([&] {
      if (!svc.present()) svc.fail("is required for the 'Service' advertisementType");
    });
    if (svc.present()) {
      auto addrs = errs.items(svc["addresses"]);
      if (addrs.empty() && missing_or_empty(svc["addresses"])) {
        errs.add(k8s::FieldError(svc["addresses"].path(), "must list at least one address type"));
      }
      for (auto& x : addrs)
        errs.check([&] { a.addresses.push_back(decode_service_address(x)); });
      errs.check([&] {
        if (auto v = svc["aggregationLengthIPv4"].opt_integer(0, 31)) a.aggregation_ipv4 = int(*v);
      });
      errs.check([&] {
        if (auto v = svc["aggregationLengthIPv6"].opt_integer(0, 127)) {
          a.aggregation_ipv6 = int(*v);
        }
      });
    }
  }
  errs.check([&] { a.selector = opt_selector(f["selector"]); });
  auto attrs = f["attributes"];
  errs.check(
      [&] { a.attributes = decode_attributes(attrs["communities"], attrs["localPreference"]); });
  errs.raise();
  return a;
}

Field spec_of(const k8s::Object& obj) {
  Field spec = Field(obj.raw, "")["spec"];
  if (spec.present() && !spec.is_map()) spec.fail("expected a map");
  return spec;
}

}  // namespace

const char* to_string(ServiceAddress a) {
  switch (a) {
    case ServiceAddress::LoadBalancerIP:
      return "LoadBalancerIP";
    case ServiceAddress::ClusterIP:
      return "ClusterIP";
    case ServiceAddress::ExternalIP:
      return "ExternalIP";
  }
  return "?";
}

PeeringPolicy decode_peering_policy(const k8s::Object& obj) {
  auto spec = spec_of(obj);
  k8s::FieldErrors errs;
  PeeringPolicy p;
  p.name = obj.meta.name;
  errs.check([&] { p.node_selector = spec["nodeSelector"].selector(); });
  auto routers = errs.items(spec["virtualRouters"]);
  if (missing_or_empty(spec["virtualRouters"])) {
    errs.add(
        k8s::FieldError(spec["virtualRouters"].path(), "must list at least one virtual router"));
  }
  std::vector<std::pair<Field, uint32_t>> asns;
  for (auto& r : routers) {
    VirtualRouter vr;
    bool asn_ok = errs.check([&] { vr.local_asn = decode_local_asn(r["localASN"]); });
    errs.check([&] { vr.export_pod_cidr = r["exportPodCIDR"].opt_boolean().value_or(false); });
    errs.check([&] { vr.service_selector = opt_selector(r["serviceSelector"]); });
    if (r["serviceAdvertisements"].present()) {
      vr.service_advertisements.clear();
      for (auto& a : errs.items(r["serviceAdvertisements"])) {
        errs.check([&] { vr.service_advertisements.push_back(decode_service_address(a)); });
      }
    }
    // podIPPoolSelector is accepted for compatibility; this agent has no multi-pool pod IPAM.
    errs.check([&] { (void)opt_selector(r["podIPPoolSelector"]); });
    auto neighbors = errs.items(r["neighbors"]);
    if (missing_or_empty(r["neighbors"])) {
      errs.add(k8s::FieldError(r["neighbors"].path(), "must list at least one neighbor"));
    }
    std::vector<std::pair<Field, std::string>> addresses;
    for (auto& n : neighbors) {
      errs.check([&] {
        vr.neighbors.push_back(decode_neighbor(n));
        addresses.emplace_back(n, vr.neighbors.back().address.str());
      });
    }
    require_unique(errs, addresses, "peerAddress", "peerAddress");
    if (asn_ok) asns.emplace_back(r, vr.local_asn);
    p.virtual_routers.push_back(std::move(vr));
  }
  // A virtual router is identified by its local ASN (bgp-control-plane-v1.rst).
  require_unique(errs, asns, "localASN", "localASN");
  errs.raise();
  return p;
}

ClusterConfig decode_cluster_config(const k8s::Object& obj) {
  auto spec = spec_of(obj);
  k8s::FieldErrors errs;
  ClusterConfig c;
  c.name = obj.meta.name;
  errs.check([&] { c.node_selector = spec["nodeSelector"].selector(); });
  auto instances = errs.items(spec["bgpInstances"]);
  if (missing_or_empty(spec["bgpInstances"])) {
    errs.add(k8s::FieldError(spec["bgpInstances"].path(), "must list at least one BGP instance"));
  }
  std::vector<std::pair<Field, std::string>> names;
  for (auto& i : instances) {
    BgpInstanceSpec in;
    bool name_ok = errs.check([&] {
      in.name = i["name"].str();
      if (in.name.empty()) i["name"].fail("must not be empty");
    });
    errs.check([&] {
      if (i["localASN"].present()) in.local_asn = decode_local_asn(i["localASN"]);
    });
    errs.check([&] {
      if (auto v = i["localPort"].opt_integer(1, 65535)) in.local_port = uint16_t(*v);
    });
    std::vector<std::pair<Field, std::string>> peer_names;
    for (auto& pf : errs.items(i["peers"])) {
      ClusterPeer peer;
      bool peer_name_ok = errs.check([&] {
        peer.name = pf["name"].str();
        if (peer.name.empty()) pf["name"].fail("must not be empty");
      });
      errs.check([&] {
        if (pf["peerAddress"].present()) peer.address = k8s::decode_ip(pf["peerAddress"]);
        peer.auto_discovery = pf["autoDiscovery"].present();
        if (peer.auto_discovery) (void)pf["autoDiscovery"]["mode"].str();
        if (!peer.address && !peer.auto_discovery) {
          pf["peerAddress"].fail("is required (or autoDiscovery)");
        }
      });
      errs.check(
          [&] { peer.peer_asn = uint32_t(pf["peerASN"].opt_integer(0, kMaxU32).value_or(0)); });
      if (auto ref = pf["peerConfigRef"]; ref.present()) {
        errs.check([&] { peer.peer_config = ref["name"].str(); });
        // v2alpha1 allowed group and kind; only the one kind exists.
        errs.check([&] {
          auto kind = ref["kind"].str_or(kPeerConfigKind);
          if (kind != kPeerConfigKind) ref["kind"].fail("must be CiliumBGPPeerConfig");
        });
        errs.check([&] {
          auto group = ref["group"].str_or("cilium.io");
          if (group != "cilium.io") ref["group"].fail("must be cilium.io");
        });
      }
      if (peer_name_ok) peer_names.emplace_back(pf, peer.name);
      in.peers.push_back(std::move(peer));
    }
    require_unique(errs, peer_names, "name", "peer name");
    if (name_ok) names.emplace_back(i, in.name);
    c.instances.push_back(std::move(in));
  }
  require_unique(errs, names, "name", "instance name");
  errs.raise();
  return c;
}

PeerConfig decode_peer_config(const k8s::Object& obj) {
  auto spec = spec_of(obj);
  k8s::FieldErrors errs;
  PeerConfig p;
  p.name = obj.meta.name;
  errs.check([&] { p.peer_port = decode_port(spec["transport"]["peerPort"], 179); });
  // v2alpha1, dropped in v2
  errs.check([&] { (void)spec["transport"]["localPort"].opt_integer(0, 65535); });
  auto t = spec["timers"];
  errs.check([&] {
    p.timers = decode_timers(t["connectRetryTimeSeconds"], t["holdTimeSeconds"],
                             t["keepAliveTimeSeconds"]);
  });
  errs.check([&] {
    if (auto s = spec["authSecretRef"].opt_str(); s && !s->empty()) p.auth_secret = *s;
  });
  errs.check([&] {
    if (auto v = spec["ebgpMultihop"].opt_integer(1, 255)) p.ebgp_multihop_ttl = uint8_t(*v);
  });
  errs.check([&] { p.graceful_restart = decode_graceful_restart(spec["gracefulRestart"]); });
  for (auto& f : errs.items(spec["families"])) {
    errs.check([&] {
      PeerFamily pf;
      pf.family = decode_family(f);
      pf.advertisements = opt_selector(f["advertisements"]);
      p.families.push_back(std::move(pf));
    });
  }
  errs.raise();
  if (p.families.empty()) {
    for (auto& fam : default_families())
      p.families.push_back({fam, std::nullopt});
  }
  return p;
}

AdvertisementSet decode_advertisement(const k8s::Object& obj) {
  auto spec = spec_of(obj);
  AdvertisementSet set;
  set.name = obj.meta.name;
  set.labels = obj.meta.labels;
  if (!spec["advertisements"].present()) spec["advertisements"].fail("is required");
  k8s::FieldErrors errs;
  for (auto& f : errs.items(spec["advertisements"])) {
    errs.check([&] { set.advertisements.push_back(decode_one_advertisement(f)); });
  }
  errs.raise();
  return set;
}

NodeConfigOverride decode_node_config_override(const k8s::Object& obj) {
  auto spec = spec_of(obj);
  NodeConfigOverride o;
  o.name = obj.meta.name;
  k8s::FieldErrors errs;
  for (auto& f : errs.items(spec["bgpInstances"])) {
    InstanceOverride in;
    errs.check([&] { in.name = f["name"].str(); });
    errs.check([&] {
      if (auto s = f["routerID"].opt_str()) {
        auto ip = Ipv4Addr::parse(*s);
        if (!ip) f["routerID"].fail("\"" + *s + "\" is not an IPv4 address");
        in.router_id = *ip;
      }
    });
    errs.check([&] {
      if (auto v = f["localPort"].opt_integer(1, 65535)) in.local_port = uint16_t(*v);
    });
    errs.check([&] {
      if (f["localASN"].present()) in.local_asn = decode_local_asn(f["localASN"]);
    });
    for (auto& p : errs.items(f["peers"])) {
      PeerOverride po;
      errs.check([&] { po.name = p["name"].str(); });
      errs.check([&] {
        if (p["localAddress"].present()) po.local_address = k8s::decode_ip(p["localAddress"]);
      });
      errs.check([&] {
        if (auto v = p["localPort"].opt_integer(1, 65535)) po.local_port = uint16_t(*v);
      });
      in.peers.push_back(std::move(po));
    }
    o.instances.push_back(std::move(in));
  }
  errs.raise();
  return o;
}

void register_kinds(k8s::KindRegistry& registry) {
  registry.add(kPeeringPolicyKind, {"cilium.io/v2alpha1"}, decode_peering_policy);
  const std::vector<std::string> v2 = {"cilium.io/v2alpha1", "cilium.io/v2"};
  registry.add(kClusterConfigKind, v2, decode_cluster_config);
  registry.add(kPeerConfigKind, v2, decode_peer_config);
  registry.add(kAdvertisementKind, v2, decode_advertisement);
  registry.add(kNodeConfigOverrideKind, v2, decode_node_config_override);
}

namespace {

template <typename T, typename Fn>
void decode_all(const k8s::Snapshot& snap, const char* kind, Fn fn, std::vector<T>& out,
                std::vector<k8s::DecodeError>& errors) {
  for (const auto* obj : snap.of_kind(kind)) {
    if (const auto* decoded = obj->as<T>()) {  // decoded at load
      out.push_back(*decoded);
      continue;
    }
    T v;
    if (auto err = k8s::guard(*obj, [&] { v = fn(*obj); })) {
      errors.push_back(*err);
      continue;
    }
    out.push_back(std::move(v));
  }
  std::sort(out.begin(), out.end(), [](const T& a, const T& b) { return a.name < b.name; });
}

}  // namespace

BgpObjects decode_bgp_objects(const k8s::Snapshot& snap) {
  BgpObjects o;
  decode_all(snap, kPeeringPolicyKind, decode_peering_policy, o.peering_policies, o.errors);
  decode_all(snap, kClusterConfigKind, decode_cluster_config, o.cluster_configs, o.errors);
  decode_all(snap, kPeerConfigKind, decode_peer_config, o.peer_configs, o.errors);
  decode_all(snap, kAdvertisementKind, decode_advertisement, o.advertisements, o.errors);
  decode_all(snap, kNodeConfigOverrideKind, decode_node_config_override, o.node_overrides,
             o.errors);
  return o;
}

}  // namespace netagent::bgp::control
