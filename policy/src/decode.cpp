#include "netagent/policy/decode.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <cctype>

#include "netagent/common/number.hpp"
#include "netagent/k8s/decode.hpp"
#include "netagent/k8s/field.hpp"

namespace netagent::policy {

using k8s::Field;
using k8s::FieldError;

const char* to_string(Direction d) {
  return d == Direction::Ingress ? "ingress" : "egress";
}
const char* to_string(Action a) {
  return a == Action::Allow ? "allow" : "deny";
}

std::string PortSpec::str() const {
  const char* p = proto == IPPROTO_TCP    ? "TCP"
                  : proto == IPPROTO_UDP  ? "UDP"
                  : proto == IPPROTO_SCTP ? "SCTP"
                                          : "ANY";
  std::string port_s;
  if (!name.empty())
    port_s = name;
  else if (port == 0)
    port_s = "*";
  else if (end_port > port)
    port_s = std::to_string(port) + "-" + std::to_string(end_port);
  else
    port_s = std::to_string(port);
  if (proto == 0 && port_s == "*") return "any";
  return port_s + "/" + p;
}

std::string PolicyDocument::display() const {
  return kind + " " + (ns.empty() ? name : ns + "/" + name);
}

bool is_policy_kind(std::string_view kind) {
  return kind == kNetworkPolicy || kind == kCiliumNetworkPolicy ||
         kind == kCiliumClusterwideNetworkPolicy;
}

namespace {

const std::string kK8s(label_source::kK8s);
const std::string kNsKey(label_key::kPodNamespace);

void check_keys(const Field& f, std::initializer_list<std::string_view> known) {
  if (!f.present()) return;
  if (!f.is_map()) f.fail("expected a map");
  for (const auto& [k, v] : f.entries()) {
    if (std::find(known.begin(), known.end(), k) == known.end()) {
      v.fail("unknown field \"" + k + "\"");
    }
  }
}

// RFC 6335 service names, as Kubernetes validates named ports (IsValidPortName).
bool valid_port_name(std::string_view s) {
  if (s.empty() || s.size() > 15) return false;
  bool letter = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '-') {
      if (i == 0 || i + 1 == s.size() || s[i - 1] == '-') return false;
    } else if (std::islower(static_cast<unsigned char>(c))) {
      letter = true;
    } else if (!std::isdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return letter;
}

// A port that is a number or a name. min_port is 1 for NetworkPolicy, 0 for Cilium ("0" = all).
void decode_port_value(const Field& f, int64_t min_port, PortSpec& out) {
  auto s = f.str();
  if (auto n = parse_integer<int64_t>(s)) {
    if (*n < min_port || *n > 65535) {
      f.fail("port " + s + " out of range (" + std::to_string(min_port) + "..65535)");
    }
    out.port = uint16_t(*n);
    return;
  }
  if (!valid_port_name(s)) {
    f.fail("\"" + s + "\" is neither a port number nor a valid port name (RFC 6335)");
  }
  out.name = s;
}

void decode_end_port(const Field& f, PortSpec& out) {
  if (!f.present()) return;
  auto e = f.integer(1, 65535);
  if (!out.name.empty()) f.fail("endPort requires a numeric port");
  if (out.port == 0) f.fail("endPort requires a port");
  if (e < out.port)
    f.fail("endPort " + std::to_string(e) + " is below port " + std::to_string(out.port));
  out.end_port = uint16_t(e);
}

Ipv4Prefix decode_prefix(const Field& f) {
  auto s = f.str();
  auto p = Ipv4Prefix::parse(s);
  if (!p) f.fail("\"" + s + "\" is not an IPv4 CIDR");
  return *p;
}

// ipBlock / CIDRRule: returns nullopt (with a warning) for IPv6, which this datapath does not
// police.
std::optional<CidrPeer> decode_cidr_rule(const Field& cidr_f, const Field& except_f,
                                         bool cluster_addresses, PolicyDocument& doc) {
  auto s = cidr_f.str();
  if (auto p = IpPrefix::parse(s); p && p->is_v6()) {
    k8s::decode_cidr(cidr_f);  // an IPv6 CIDR still needs its /prefix
    doc.warnings.push_back(cidr_f.path() + ": IPv6 CIDR " + s +
                           " is not enforced (the datapath is IPv4-only)");
    return std::nullopt;
  }
  CidrPeer c;
  c.prefix = decode_prefix(cidr_f);
  c.cluster_addresses = cluster_addresses;
  for (const auto& e : except_f.items()) {
    auto ep = decode_prefix(e);
    if (!c.prefix.contains(ep) || ep.len <= c.prefix.len) {
      e.fail("except " + ep.str() + " must be a strict subset of " + c.prefix.str());
    }
    c.except.push_back(ep);
  }
  return c;
}

// ---------------------------------------------------------------------------------------------
// networking.k8s.io/v1 NetworkPolicy

PortSpec decode_knp_port(const Field& f) {
  check_keys(f, {"protocol", "port", "endPort"});
  PortSpec p;
  p.proto = uint8_t(k8s::decode_protocol(f["protocol"]));
  if (f["port"].present()) decode_port_value(f["port"], 1, p);
  decode_end_port(f["endPort"], p);
  return p;
}

Peers decode_knp_peers(const Field& list, const std::string& ns, PolicyDocument& doc) {
  Peers peers;
  auto items = list.items();
  if (items.empty()) {
    peers.any = true;  // a missing or empty from/to matches every peer
    return peers;
  }
  for (const auto& peer : items) {
    check_keys(peer, {"podSelector", "namespaceSelector", "ipBlock"});
    bool pod = peer["podSelector"].present(), nss = peer["namespaceSelector"].present();
    if (peer["ipBlock"].present()) {
      if (pod || nss) peer["ipBlock"].fail("ipBlock cannot be combined with a selector");
      auto ib = peer["ipBlock"];
      check_keys(ib, {"cidr", "except"});
      if (auto c = decode_cidr_rule(ib["cidr"], ib["except"], true, doc)) {
        peers.cidrs.push_back(std::move(*c));
      }
      continue;
    }
    if (!pod && !nss) peer.fail("a peer needs podSelector, namespaceSelector or ipBlock");
    EndpointSelector sel;
    if (pod) sel = EndpointSelector::from_k8s(peer["podSelector"].selector(), kK8s);
    if (nss) {
      // Namespace labels are identity labels under io.cilium.k8s.namespace.labels.; an empty
      // namespaceSelector selects every namespace (every pod, but nothing outside the cluster).
      sel.merge(EndpointSelector::from_k8s(peer["namespaceSelector"].selector(), kK8s,
                                           label_key::kNamespaceLabelsPrefix));
      sel.add_exists(kK8s, kNsKey);
    } else {
      sel.add_equals(kK8s, kNsKey, ns);  // podSelector alone: the policy's namespace
    }
    peers.selectors.push_back({std::move(sel), ClusterScope::Local});
  }
  return peers;
}

}  // namespace

PolicyDocument decode_network_policy(const k8s::Object& obj) {
  Field root(obj.raw, "");
  PolicyDocument doc;
  doc.kind = kNetworkPolicy;
  doc.ns = obj.meta.ns.empty() ? "default" : obj.meta.ns;
  doc.name = obj.meta.name;
  doc.source = obj.source;
  auto spec = root["spec"];
  if (!spec.present()) spec.fail("is required");
  // Every bad field is reported, not only the first: each part below is checked on its own.
  k8s::FieldErrors errs;
  errs.check([&] { check_keys(spec, {"podSelector", "policyTypes", "ingress", "egress"}); });

  PolicyRule rule;
  rule.path = "spec";
  errs.check(
      [&] { rule.subject = EndpointSelector::from_k8s(spec["podSelector"].selector(), kK8s); });
  rule.subject.add_equals(kK8s, kNsKey, doc.ns);

  const std::vector<Field> sections[2] = {errs.items(spec["ingress"]), errs.items(spec["egress"])};
  // policyTypes defaults to Ingress, plus Egress when the policy has egress rules.
  auto types = spec["policyTypes"];
  if (types.present()) {
    for (const auto& t : errs.items(types)) {
      errs.check([&] {
        auto v = t.one_of({"Ingress", "Egress"}, "");
        rule.isolates[index_of(v == "Ingress" ? Direction::Ingress : Direction::Egress)] = true;
      });
    }
  } else {
    rule.isolates[index_of(Direction::Ingress)] = true;
    rule.isolates[index_of(Direction::Egress)] = !sections[1].empty();
  }

  for (Direction dir : kDirections) {
    const bool in = dir == Direction::Ingress;
    for (const auto& r : sections[index_of(dir)]) {
      RuleSection s;
      s.direction = dir;
      s.action = Action::Allow;
      s.path = r.path();
      bool ok = errs.check([&] { check_keys(r, {in ? "from" : "to", "ports"}); });
      ok &= errs.check([&] { s.peers = decode_knp_peers(r[in ? "from" : "to"], doc.ns, doc); });
      for (const auto& p : errs.items(r["ports"])) {
        ok &= errs.check([&] { s.ports.push_back(decode_knp_port(p)); });
      }
      if (!ok) continue;
      // A peer list of only IPv6 blocks selects nothing here (a warning was recorded).
      if (!s.peers.any && s.peers.selectors.empty() && s.peers.cidrs.empty()) continue;
      // Policy types not listed make the direction's rules inert (the API server keeps them).
      if (!rule.isolates[index_of(dir)]) continue;
      rule.sections.push_back(std::move(s));
    }
  }
  errs.raise();
  doc.rules.push_back(std::move(rule));
  return doc;
}

namespace {

// ---------------------------------------------------------------------------------------------
// cilium.io/v2 CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy

const std::vector<std::string> kEntities = {
    "all",  "world",  "world-ipv4", "world-ipv6", "cluster", "host",          "remote-node",
    "init", "health", "unmanaged",  "ingress",    "none",    "kube-apiserver"};

// Cilium's getEndpointSelector (pkg/k8s/apis/cilium.io/utils): peer selectors of a namespaced
// policy are limited to its namespace unless they name a namespace (or namespace labels);
// clusterwide ones to endpoints that have a namespace (pods). Selectors on reserved labels are
// left alone.
PeerSelector cilium_peer_selector(const Field& f, const std::string& ns) {
  auto sel = EndpointSelector::from_k8s(f.selector(), label_source::kAny);
  if (sel.has_source(label_source::kReserved)) return {std::move(sel), ClusterScope::None};
  if (!sel.has_key(label_key::kPodNamespace)) {
    if (ns.empty()) {
      sel.add_exists(kK8s, kNsKey);
    } else if (!sel.has_key_prefix(label_key::kNamespaceLabelsPrefix)) {
      sel.add_equals(kK8s, kNsKey, ns);
    }
  }
  auto scope = sel.has_key(label_key::kCluster) ? ClusterScope::None : ClusterScope::LocalByDefault;
  return {std::move(sel), scope};
}

void add_entity(const std::string& e, Peers& peers) {
  auto reserved = [&](const char* name) {
    EndpointSelector s;
    s.add_exists(label_source::kReserved, name);
    peers.selectors.push_back({std::move(s), ClusterScope::None});
  };
  if (e == "all") {
    peers.any = true;
  } else if (e == "world" || e == "world-ipv4") {
    reserved("world");  // also every CIDR identity: they carry reserved:world
  } else if (e == "cluster") {
    // pkg/policy/api/entity.go: host, remote-node, init, ingress, health, unmanaged and every
    // endpoint of this cluster.
    for (const char* r : {"host", "remote-node", "init", "ingress", "health", "unmanaged"}) {
      reserved(r);
    }
    EndpointSelector pods;
    pods.add_exists(kK8s, kNsKey);
    peers.selectors.push_back({std::move(pods), ClusterScope::Local});
  } else if (e == "host" || e == "remote-node" || e == "init" || e == "health" ||
             e == "unmanaged" || e == "ingress" || e == "kube-apiserver") {
    reserved(e.c_str());
  }
  // "none" and "world-ipv6" (an IPv4 datapath has no IPv6 world) select nothing.
}

struct SectionSpec {
  const char* field;  // "ingress", "ingressDeny", ...
  Direction dir;
  Action action;
};

RuleSection decode_cilium_section(const Field& f, const SectionSpec& spec, const std::string& ns,
                                  PolicyDocument& doc) {
  const bool in = spec.dir == Direction::Ingress;
  const bool allow = spec.action == Action::Allow;
  const char* pfx = in ? "from" : "to";
  auto key = [&](const char* suffix) { return std::string(pfx) + suffix; };
  if (in) {
    check_keys(f, {"fromEndpoints", "fromRequires", "fromCIDR", "fromCIDRSet", "fromEntities",
                   "fromGroups", "fromNodes", "toPorts", "icmps", "authentication"});
  } else {
    check_keys(f, {"toEndpoints", "toRequires", "toCIDR", "toCIDRSet", "toEntities", "toServices",
                   "toFQDNs", "toGroups", "toNodes", "toPorts", "icmps", "authentication"});
  }
  RuleSection s;
  s.direction = spec.dir;
  s.action = spec.action;
  s.path = f.path();
  // Each peer and each port is checked on its own; raise() at the end reports them all.
  k8s::FieldErrors errs;
  auto warn = [&](const Field& at, const std::string& what) {
    doc.warnings.push_back(at.path() + ": " + what);
  };
  const char* not_enforced = allow ? "; this rule allows nothing" : "; this deny is not enforced";

  bool l3 = false;  // any L3 peer field present (even one we cannot enforce)
  for (const auto& e : errs.items(f[key("Endpoints")])) {
    l3 = true;
    errs.check([&] { s.peers.selectors.push_back(cilium_peer_selector(e, ns)); });
  }
  for (const auto& c : errs.items(f[key("CIDR")])) {
    l3 = true;
    errs.check([&] {
      if (auto cp = decode_cidr_rule(c, Field(YAML::Node(), c.path() + ".except"), false, doc)) {
        s.peers.cidrs.push_back(std::move(*cp));
      }
    });
  }
  for (const auto& c : errs.items(f[key("CIDRSet")])) {
    l3 = true;
    errs.check([&] {
      check_keys(c, {"cidr", "except", "cidrGroupRef", "cidrGroupSelector"});
      if (c["cidrGroupRef"].present() || c["cidrGroupSelector"].present()) {
        warn(c, "CiliumCIDRGroup references are not supported; this peer matches nothing");
        return;
      }
      if (auto cp = decode_cidr_rule(c["cidr"], c["except"], false, doc)) {
        s.peers.cidrs.push_back(std::move(*cp));
      }
    });
  }
  for (const auto& e : errs.items(f[key("Entities")])) {
    l3 = true;
    errs.check([&] { add_entity(e.one_of(kEntities, ""), s.peers); });
  }
  for (const char* unsupported : {"Groups", "Nodes"}) {
    if (f[key(unsupported)].present()) {
      l3 = true;
      warn(f[key(unsupported)], key(unsupported) + " is not supported; these peers match nothing");
    }
  }
  if (!in && f["toServices"].present()) {
    l3 = true;
    warn(f["toServices"], "toServices is not supported; these peers match nothing");
  }
  if (!in && f["toFQDNs"].present()) {
    l3 = true;
    warn(f["toFQDNs"], "toFQDNs (DNS-based policy) is not supported; these peers match nothing");
  }
  if (f[key("Requires")].present()) {
    s.unenforceable = true;
    warn(f[key("Requires")], key("Requires") + " is not supported" + not_enforced);
  }
  if (f["authentication"].present()) {
    s.unenforceable = true;
    warn(f["authentication"], std::string("mutual authentication is not supported") + not_enforced);
  }

  bool l4 = false;
  for (const auto& pr : errs.items(f["toPorts"])) {
    l4 = true;
    if (!errs.check([&] {
          check_keys(pr, {"ports", "rules", "terminatingTLS", "originatingTLS", "serverNames",
                          "listener"});
        })) {
      continue;
    }
    bool l7 = false;
    for (const char* k : {"rules", "terminatingTLS", "originatingTLS", "serverNames", "listener"}) {
      if (pr[k].present()) {
        l7 = true;
        if (!allow) {
          errs.add(
              k8s::FieldError(pr[k].path(), std::string(k) + " is not allowed in a deny rule"));
          continue;
        }
        warn(pr[k], std::string(k) +
                        " (L7) is not enforced; the L4 ports are allowed for every request "
                        "(or nothing, when L7 handling is set to deny)");
      }
    }
    auto ports = errs.items(pr["ports"]);
    if (ports.empty()) {
      PortSpec any;
      any.l7 = l7;
      s.ports.push_back(any);
    }
    for (const auto& p : ports) {
      errs.check([&] {
        check_keys(p, {"port", "endPort", "protocol"});
        PortSpec ps;
        ps.l7 = l7;
        auto proto = p["protocol"].one_of({"TCP", "UDP", "SCTP", "ANY"}, "ANY");
        ps.proto = proto == "TCP"    ? IPPROTO_TCP
                   : proto == "UDP"  ? IPPROTO_UDP
                   : proto == "SCTP" ? IPPROTO_SCTP
                                     : 0;
        if (p["port"].present()) decode_port_value(p["port"], 0, ps);
        decode_end_port(p["endPort"], ps);
        s.ports.push_back(std::move(ps));
      });
    }
  }
  if (f["icmps"].present()) {
    if (l4) {
      warn(f["icmps"], "ICMP rules are not supported; only the toPorts part applies");
    } else {
      s.unenforceable = true;
      warn(f["icmps"], std::string("ICMP rules are not supported") + not_enforced);
    }
  }

  // No L3 peer field: an L4-only rule applies to every peer; a rule with neither selects
  // nothing (Cilium: `ingress: [{}]` is the default-deny idiom).
  if (!l3) {
    if (l4)
      s.peers.any = true;
    else
      s.unenforceable = true;
  }
  errs.raise();
  return s;
}

PolicyRule decode_cilium_rule(const Field& f, const std::string& ns, PolicyDocument& doc) {
  // Every bad field of the rule is reported: each part is checked on its own.
  k8s::FieldErrors errs;
  errs.check([&] {
    check_keys(f, {"endpointSelector", "nodeSelector", "ingress", "ingressDeny", "egress",
                   "egressDeny", "labels", "description", "enableDefaultDeny", "log"});
  });
  PolicyRule rule;
  rule.path = f.path();
  errs.check([&] { rule.description = f["description"].str_or(""); });
  bool es = f["endpointSelector"].present(), nsel = f["nodeSelector"].present();
  if (es == nsel) f.fail("exactly one of endpointSelector and nodeSelector is required");
  if (nsel) {
    errs.check([&] {
      if (!ns.empty()) f["nodeSelector"].fail("nodeSelector is only valid in a clusterwide policy");
      f["nodeSelector"].selector();
    });
    rule.host_policy = true;
    doc.warnings.push_back(f["nodeSelector"].path() +
                           ": host policies (nodeSelector) are not enforced by this datapath");
  } else {
    errs.check([&] {
      rule.subject =
          EndpointSelector::from_k8s(f["endpointSelector"].selector(), label_source::kAny);
    });
    // A namespaced policy applies in its namespace only (ParseToCiliumRule).
    if (!ns.empty()) rule.subject.add_equals(kK8s, kNsKey, ns);
  }
  for (const auto& l : errs.items(f["labels"])) {
    errs.check([&] {
      check_keys(l, {"key", "value", "source"});
      l["key"].str();
    });
  }
  auto edd = f["enableDefaultDeny"];
  errs.check([&] { check_keys(edd, {"ingress", "egress"}); });

  static const SectionSpec kSections[] = {{"ingress", Direction::Ingress, Action::Allow},
                                          {"ingressDeny", Direction::Ingress, Action::Deny},
                                          {"egress", Direction::Egress, Action::Allow},
                                          {"egressDeny", Direction::Egress, Action::Deny}};
  bool has[2] = {false, false};
  for (const auto& sp : kSections) {
    for (const auto& item : errs.items(f[sp.field])) {
      has[index_of(sp.dir)] = true;
      errs.check([&] { rule.sections.push_back(decode_cilium_section(item, sp, ns, doc)); });
    }
  }
  // enableDefaultDeny defaults to true for each direction that has rules (Cilium 1.16+).
  errs.check([&] {
    rule.isolates[index_of(Direction::Ingress)] =
        has[index_of(Direction::Ingress)] && edd["ingress"].opt_boolean().value_or(true);
  });
  errs.check([&] {
    rule.isolates[index_of(Direction::Egress)] =
        has[index_of(Direction::Egress)] && edd["egress"].opt_boolean().value_or(true);
  });
  errs.raise();
  if (rule.host_policy) {
    rule.sections.clear();
    rule.isolates[0] = rule.isolates[1] = false;
  }
  return rule;
}

}  // namespace

PolicyDocument decode_cilium_policy(const k8s::Object& obj) {
  Field root(obj.raw, "");
  PolicyDocument doc;
  doc.kind = obj.kind;
  const bool clusterwide = obj.kind == kCiliumClusterwideNetworkPolicy;
  doc.ns = clusterwide ? "" : (obj.meta.ns.empty() ? "default" : obj.meta.ns);
  doc.name = obj.meta.name;
  doc.source = obj.source;
  if (!root["spec"].present() && !root["specs"].present()) {
    root["spec"].fail("spec or specs is required");
  }
  // Each rule is checked on its own: the errors of every rule are reported.
  k8s::FieldErrors errs;
  if (root["spec"].present()) {
    errs.check([&] { doc.rules.push_back(decode_cilium_rule(root["spec"], doc.ns, doc)); });
  }
  for (const auto& s : errs.items(root["specs"])) {
    errs.check([&] { doc.rules.push_back(decode_cilium_rule(s, doc.ns, doc)); });
  }
  errs.raise();
  return doc;
}

PolicyDocument decode_policy(const k8s::Object& obj) {
  if (obj.kind == kNetworkPolicy) return decode_network_policy(obj);
  return decode_cilium_policy(obj);
}

void register_kinds(k8s::KindRegistry& registry) {
  registry.add(kNetworkPolicy, {"networking.k8s.io/v1"}, decode_network_policy);
  registry.add(kCiliumNetworkPolicy, {"cilium.io/v2"}, decode_cilium_policy);
  registry.add(kCiliumClusterwideNetworkPolicy, {"cilium.io/v2"}, decode_cilium_policy);
}

Result<PolicyDocuments> decode_policies(const k8s::Snapshot& snap) {
  PolicyDocuments out;
  for (const auto& obj : snap.objects) {
    if (!is_policy_kind(obj.kind)) continue;
    if (auto decoded = obj.shared_as<PolicyDocument>()) {  // decoded at load
      out.push_back(std::move(decoded));
      continue;
    }
    std::optional<PolicyDocument> doc;
    if (auto err = k8s::guard(obj, [&] { doc = decode_policy(obj); })) {
      return Error{err->str()};
    }
    out.push_back(std::make_shared<const PolicyDocument>(std::move(*doc)));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a->kind, a->ns, a->name) < std::tie(b->kind, b->ns, b->name);
  });
  return out;
}

}  // namespace netagent::policy
