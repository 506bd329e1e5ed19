#include "netagent/policy/compiler.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <set>
#include <unordered_set>

namespace netagent::policy {

const char* to_string(EnforcementMode m) {
  switch (m) {
    case EnforcementMode::Default:
      return "default";
    case EnforcementMode::Always:
      return "always";
    case EnforcementMode::Never:
      return "never";
  }
  return "?";
}

std::optional<EnforcementMode> parse_enforcement_mode(std::string_view s) {
  if (s == "default") return EnforcementMode::Default;
  if (s == "always") return EnforcementMode::Always;
  if (s == "never") return EnforcementMode::Never;
  return std::nullopt;
}

std::string RuleInfo::policy() const {
  if (kind.empty()) return "built-in";
  return kind + " " + (ns.empty() ? name : ns + "/" + name);
}

std::string RuleInfo::str() const {
  return policy() + " " + path;
}

bool IdentityPolicy::has_entries(Direction d) const {
  return std::any_of(entries.begin(), entries.end(),
                     [&](const MapEntry& e) { return e.direction == d; });
}

std::string PolicyStatus::display() const {
  return kind + " " + (ns.empty() ? name : ns + "/" + name);
}

// ---------------------------------------------------------------------------------------------
// CompiledPolicy lookups

void CompiledPolicy::index() {
  endpoint_by_ip_.clear();
  for (size_t i = 0; i < endpoints.size(); ++i) {
    for (auto ip : endpoints[i].ips)
      endpoint_by_ip_.emplace(ip.value, i);
  }
  for (auto& m : ipcache_by_len_)
    m.clear();
  for (size_t i = 0; i < ipcache.size(); ++i) {
    ipcache_by_len_[ipcache[i].prefix.len].emplace(ipcache[i].prefix.addr.value, i);
  }
}

const EndpointInfo* CompiledPolicy::endpoint(std::string_view ns, std::string_view name) const {
  auto it = std::lower_bound(endpoints.begin(), endpoints.end(), std::make_pair(ns, name),
                             [](const EndpointInfo& e, const auto& k) {
                               return std::tie(e.ns, e.name) <
                                      std::make_tuple(std::string(k.first), std::string(k.second));
                             });
  if (it == endpoints.end() || it->ns != ns || it->name != name) return nullptr;
  return &*it;
}

const EndpointInfo* CompiledPolicy::endpoint_at(Ipv4Addr a) const {
  auto it = endpoint_by_ip_.find(a.value);
  return it == endpoint_by_ip_.end() ? nullptr : &endpoints[it->second];
}

const IpcacheEntry* CompiledPolicy::ipcache_lookup(Ipv4Addr a) const {
  for (int len = 32; len >= 0; --len) {
    const auto& m = ipcache_by_len_[len];
    if (m.empty()) continue;
    auto it = m.find(a.value & Ipv4Prefix::mask_of(uint8_t(len)));
    if (it != m.end()) return &ipcache[it->second];
  }
  return nullptr;
}

const RuleInfo* CompiledPolicy::rule(uint32_t cookie) const {
  auto it = rules.find(cookie);
  return it == rules.end() ? nullptr : &it->second;
}

std::string CompiledPolicy::describe_identity(Identity id) const {
  if (id == 0) return "any";
  if (const char* r = reserved_identity_name(id)) return std::string("reserved:") + r;
  auto it = identities.find(id);
  if (it == identities.end()) return "unknown (" + std::to_string(id) + ")";
  const LabelSet& ls = it->second;
  std::string out;
  if (identity::is_cidr(id) || identity::is_cluster_cidr(id)) {
    for (const auto& l : ls.labels()) {
      if (l.source == label_source::kCidr) out = "cidr:" + l.key;
    }
    if (identity::is_cluster_cidr(id)) out += " (cluster addresses)";
  } else if (const auto* ns = ls.find(label_source::kK8s, label_key::kPodNamespace)) {
    out = *ns + "/";
    std::string pod;
    for (const auto& l : ls.labels()) {
      if (l.source != label_source::kK8s || l.key.starts_with("io.cilium.k8s.") ||
          l.key == label_key::kPodNamespace) {
        continue;
      }
      pod += (pod.empty() ? "" : ",") + l.key + "=" + l.value;
    }
    out += pod.empty() ? "<no labels>" : pod;
    if (const auto* c = ls.find(label_source::kK8s, label_key::kCluster);
        c && *c != options.cluster_name) {
      out += " @" + *c;
    }
  } else {
    out = ls.canonical();
  }
  return out + " (" + std::to_string(id) + ")";
}

size_t CompiledPolicy::entry_count() const {
  std::unordered_set<const IdentityPolicy*> seen;
  size_t n = 0;
  for (const auto& e : endpoints) {
    if (e.policy && seen.insert(e.policy.get()).second) n += e.policy->entries.size();
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// Input

CompileInput workloads_from_snapshot(const k8s::Snapshot& snap) {
  CompileInput in;
  for (const auto& n : snap.namespaces)
    in.namespaces[n.meta.name] = n.meta.labels;
  for (const auto& p : snap.pods) {
    if (p.host_network) continue;  // the node's own address and identity
    Workload w;
    w.ns = p.meta.ns.empty() ? "default" : p.meta.ns;
    w.name = p.meta.name;
    w.labels = p.meta.labels;
    w.ports = p.ports;
    w.node = p.node_name;
    for (const auto& ip : p.pod_ips) {
      if (ip.is_v4()) w.ips.push_back(ip.as_v4());
    }
    in.workloads.push_back(std::move(w));
  }
  for (const auto& n : snap.nodes) {
    NodeAddresses na{n.meta.name, {}};
    for (const auto& a : n.addresses) {
      if (a.ip && a.ip->is_v4()) na.ips.push_back(a.ip->as_v4());
    }
    in.nodes.push_back(std::move(na));
  }
  for (const auto* es : snap.slices_for("default", "kubernetes")) {
    for (const auto& ep : es->endpoints) {
      for (const auto& a : ep.addresses) {
        if (a.is_v4()) in.kube_apiserver_ips.push_back(a.as_v4());
      }
    }
  }
  return in;
}

Result<CompileInput> input_from_snapshot(const k8s::Snapshot& snap) {
  auto docs = decode_policies(snap);
  if (!docs) return docs.error();
  CompileInput in = workloads_from_snapshot(snap);
  in.policies = std::move(*docs);
  return in;
}

// ---------------------------------------------------------------------------------------------
// The compiler

namespace {

const std::string kK8s(label_source::kK8s);

struct SectionRef {
  const PolicyDocument* doc;
  const PolicyRule* rule;
  const RuleSection* section;
  uint32_t cookie;
  std::shared_ptr<const std::vector<Identity>> peers;  // 0 = any
};

struct RuleRef {
  const PolicyDocument* doc;
  const PolicyRule* rule;
  size_t doc_index;
  std::vector<size_t> sections;  // indexes into Compiler::sections_
  bool ingress_named_ports = false;
};

class Compiler {
 public:
  Compiler(const CompileInput& in, const CompileOptions& opts, CompiledPolicy& out)
      : in_(in), opts_(opts), out_(out) {}

  Status run();

 private:
  Status build_identities();
  void build_cidr_identities();
  void build_ipcache();
  void build_rules();
  void build_endpoint_policies();

  Identity cluster_cidr_identity_of(Ipv4Addr a);
  const std::vector<Identity>& select(const PeerSelector& ps);
  std::shared_ptr<const std::vector<Identity>> resolve_peers(const Peers& peers);
  std::shared_ptr<const IdentityPolicy> policy_for(Identity subject,
                                                   const std::vector<size_t>& rule_refs);
  void expand(const PortSpec& spec, const SectionRef& s, Identity subject,
              std::vector<MapEntry>& out);
  void warn(std::string w) { out_.warnings.push_back(std::move(w)); }

  const CompileInput& in_;
  const CompileOptions& opts_;
  CompiledPolicy& out_;

  // Workloads in (namespace, name) order with their identity labels.
  struct Pod {
    const Workload* w;
    const LabelSet* labels;  // shared by the pods with the same labels (label_sets_)
    Identity id = 0;
    std::vector<Ipv4Addr> ips;
    bool synthetic = false;
  };
  std::vector<Pod> pods_;
  std::unordered_map<std::string, LabelSet> label_sets_;     // by namespace, account and pod labels
  std::map<uint32_t, std::set<std::string>> address_roles_;  // address -> reserved labels
  std::map<uint32_t, Identity> address_identity_;
  std::vector<Identity> all_ids_;
  std::unordered_map<std::string, std::vector<Identity>> ids_by_ns_;        // every pod identity
  std::unordered_map<std::string, std::vector<Identity>> local_ids_by_ns_;  // this cluster's
  std::vector<Identity> local_pod_ids_;
  std::unordered_map<Identity, std::vector<k8s::ContainerPort>> ports_by_identity_;

  std::vector<Ipv4Prefix> policy_prefixes_;  // sorted
  std::map<Ipv4Prefix, uint32_t> cidr_slot_;
  std::array<std::unordered_map<uint32_t, uint32_t>, 33> cidr_by_len_;
  bool ipblock_rules_ = false;

  std::unordered_map<std::string, std::vector<Identity>> selector_cache_;
  std::vector<SectionRef> sections_;
  std::vector<RuleRef> rule_refs_;
  uint32_t localhost_cookie_ = 0;
};

Status Compiler::run() {
  out_.options = opts_;
  if (auto st = build_identities(); !st) return st;
  build_cidr_identities();
  build_ipcache();
  build_rules();
  build_endpoint_policies();
  out_.index();
  return {};
}

Status Compiler::build_identities() {
  // Pods, sorted so that synthesized addresses and first-wins conflicts are deterministic.
  pods_.reserve(in_.workloads.size());
  std::string key;
  for (const auto& w : in_.workloads) {
    // Pods of one workload share their labels: build each distinct label set once.
    key = w.ns;
    key += '\0';
    key += w.service_account;
    for (const auto& [k, v] : w.labels) {
      key += '\0';
      key += k;
      key += '=';
      key += v;
    }
    auto [it, inserted] = label_sets_.try_emplace(key);
    if (inserted) {
      auto nsit = in_.namespaces.find(w.ns);
      PodLabelInput pl{&w.labels, nsit == in_.namespaces.end() ? nullptr : &nsit->second, w.ns,
                       opts_.cluster_name, w.service_account};
      it->second = pod_identity_labels(pl);
    }
    pods_.push_back({&w, &it->second, 0, w.ips, false});
  }
  std::sort(pods_.begin(), pods_.end(), [](const Pod& a, const Pod& b) {
    return std::tie(a.w->ns, a.w->name) < std::tie(b.w->ns, b.w->name);
  });
  if (opts_.synthesize_pod_ips) {
    uint32_t next = Ipv4Addr::parse("240.0.0.1")->value;
    for (auto& p : pods_) {
      if (p.ips.empty()) {
        p.ips.push_back(Ipv4Addr{next++});
        p.synthetic = true;
      }
    }
  }

  // Reserved roles of node, kube-apiserver and ingress addresses.
  for (const auto& n : in_.nodes) {
    const char* role =
        !opts_.local_node.empty() && n.name == opts_.local_node ? "host" : "remote-node";
    for (auto ip : n.ips)
      address_roles_[ip.value].insert(role);
  }
  for (auto ip : opts_.host_ips)
    address_roles_[ip.value].insert("host");
  for (auto ip : in_.kube_apiserver_ips)
    address_roles_[ip.value].insert("kube-apiserver");
  for (auto ip : opts_.kube_apiserver_ips)
    address_roles_[ip.value].insert("kube-apiserver");
  for (auto ip : opts_.ingress_ips)
    address_roles_[ip.value].insert("ingress");
  // An address with both host and remote-node roles is this node.
  std::map<std::set<std::string>, LabelSet> role_sets;
  for (auto& [addr, roles] : address_roles_) {
    if (roles.count("host")) roles.erase("remote-node");
    if (!role_sets.count(roles)) {
      std::vector<Label> ls;
      for (const auto& r : roles)
        ls.push_back({std::string(label_source::kReserved), r, ""});
      role_sets.emplace(roles, LabelSet(std::move(ls)));
    }
  }

  // Cluster-local identities for pod label sets and for addresses with several roles (e.g. a
  // node that also serves the kube-apiserver).
  std::vector<const LabelSet*> to_allocate;
  for (const auto& [k, ls] : label_sets_)
    to_allocate.push_back(&ls);
  for (const auto& [roles, ls] : role_sets) {
    if (!reserved_identity_of(ls)) to_allocate.push_back(&ls);
  }
  auto local = allocate_local_identities(to_allocate, opts_.cluster_id);
  if (!local) {
    return Error{"more than " + std::to_string(identity::kLocalSlots) +
                 " distinct label sets: the cluster-local identity space is exhausted"};
  }

  for (Identity id = identity::kHost; id <= identity::kIngress; ++id) {
    out_.identities.emplace(id, reserved_labels({reserved_identity_name(id)}));
  }
  for (auto& p : pods_) {
    p.id = local->at(p.labels->canonical());
    if (out_.identities.find(p.id) == out_.identities.end())
      out_.identities.emplace(p.id, *p.labels);
  }
  for (const auto& [addr, roles] : address_roles_) {
    const LabelSet& ls = role_sets.at(roles);
    Identity id = reserved_identity_of(ls).value_or(0);
    if (!id) {
      id = local->at(ls.canonical());
      out_.identities.emplace(id, ls);
    }
    address_identity_[addr] = id;
  }
  for (const auto& r : in_.remote_identities) {
    if (identity::cluster_of(r.id) == opts_.cluster_id || out_.identities.count(r.id)) {
      warn("remote identity " + std::to_string(r.id) + " (" + r.labels.canonical() +
           ") collides with a local identity; ignored");
      continue;
    }
    out_.identities.emplace(r.id, r.labels);
  }

  // Indexes for selection.
  for (const auto& [id, ls] : out_.identities) {
    if (const auto* ns = ls.find(label_source::kK8s, label_key::kPodNamespace)) {
      ids_by_ns_[*ns].push_back(id);
      if (identity::cluster_of(id) == opts_.cluster_id && !identity::is_reserved(id)) {
        local_ids_by_ns_[*ns].push_back(id);
      }
    }
  }
  std::set<Identity> local_ids;
  for (const auto& p : pods_) {
    local_ids.insert(p.id);
    auto& ports = ports_by_identity_[p.id];
    ports.insert(ports.end(), p.w->ports.begin(), p.w->ports.end());
  }
  local_pod_ids_.assign(local_ids.begin(), local_ids.end());
  return {};
}

void Compiler::build_cidr_identities() {
  for (const auto& doc : in_.policies) {
    for (const auto& r : doc->rules) {
      for (const auto& s : r.sections) {
        for (const auto& c : s.peers.cidrs) {
          policy_prefixes_.push_back(c.prefix);
          for (const auto& e : c.except)
            policy_prefixes_.push_back(e);
          if (c.cluster_addresses) ipblock_rules_ = true;
        }
      }
    }
  }
  std::sort(policy_prefixes_.begin(), policy_prefixes_.end());
  policy_prefixes_.erase(std::unique(policy_prefixes_.begin(), policy_prefixes_.end()),
                         policy_prefixes_.end());
  cidr_slot_ = allocate_cidr_slots(policy_prefixes_);
  for (const auto& [prefix, slot] : cidr_slot_) {
    cidr_by_len_[prefix.len].emplace(prefix.addr.value, slot);
    // CIDR identities stand for the world inside that prefix (Cilium labels them
    // reserved:world as well, so `toEntities: [world]` covers them).
    out_.identities.emplace(IDENTITY_SCOPE_CIDR | slot,
                            LabelSet({{std::string(label_source::kCidr), prefix.str(), ""},
                                      {std::string(label_source::kReserved), "world", ""}}));
  }
  all_ids_.clear();
  for (const auto& [id, ls] : out_.identities)
    all_ids_.push_back(id);
}

Identity Compiler::cluster_cidr_identity_of(Ipv4Addr a) {
  if (!ipblock_rules_) return 0;
  for (int len = 32; len >= 0; --len) {
    const auto& m = cidr_by_len_[len];
    if (m.empty()) continue;
    auto it = m.find(a.value & Ipv4Prefix::mask_of(uint8_t(len)));
    if (it == m.end()) continue;
    Identity id = IDENTITY_SCOPE_CLUSTER_CIDR | it->second;
    if (!out_.identities.count(id)) {
      Ipv4Prefix p{Ipv4Addr{it->first}, uint8_t(len)};
      out_.identities.emplace(id, LabelSet({{std::string(label_source::kCidr), p.str(), ""}}));
      all_ids_.insert(std::upper_bound(all_ids_.begin(), all_ids_.end(), id), id);
    }
    return id;
  }
  return 0;
}

void Compiler::build_ipcache() {
  std::map<Ipv4Prefix, IpcacheEntry> entries;
  auto add = [&](IpcacheEntry e, const std::string& what) {
    auto [it, inserted] = entries.emplace(e.prefix, e);
    if (!inserted && (it->second.identity != e.identity)) {
      warn("address " + e.prefix.str() + " of " + what + " is already " +
           out_.describe_identity(it->second.identity) + "; keeping the first");
    }
  };
  for (const auto& [addr, id] : address_identity_) {
    Ipv4Addr a{addr};
    add({Ipv4Prefix{a, 32}, id, cluster_cidr_identity_of(a), 0, 0}, "a node or service");
  }
  for (const auto& p : pods_) {
    for (auto a : p.ips) {
      Identity cc = p.synthetic ? 0 : cluster_cidr_identity_of(a);
      add({Ipv4Prefix{a, 32}, p.id, cc, IPCACHE_F_ENDPOINT, 0}, "pod " + p.w->ns + "/" + p.w->name);
      if (cc) {
        auto& ports = ports_by_identity_[cc];
        ports.insert(ports.end(), p.w->ports.begin(), p.w->ports.end());
      }
    }
  }
  for (const auto& r : in_.remote_addresses) {
    Identity cc = r.prefix.len == 32 ? cluster_cidr_identity_of(r.prefix.addr) : 0;
    add({r.prefix, r.identity, cc, IPCACHE_F_ENDPOINT, r.cluster_id}, "a remote cluster");
  }
  for (const auto& [prefix, slot] : cidr_slot_) {
    entries.emplace(prefix, IpcacheEntry{prefix, IDENTITY_SCOPE_CIDR | slot, 0, 0, 0});
  }
  out_.ipcache.reserve(entries.size());
  for (auto& [p, e] : entries)
    out_.ipcache.push_back(e);
}

const std::vector<Identity>& Compiler::select(const PeerSelector& ps) {
  EndpointSelector sel = ps.selector;
  if (ps.scope == ClusterScope::Local ||
      (ps.scope == ClusterScope::LocalByDefault && opts_.policy_default_local_cluster)) {
    sel.add_equals(kK8s, label_key::kCluster, opts_.cluster_name);
  }
  auto [it, inserted] = selector_cache_.try_emplace(sel.str());
  if (!inserted) return it->second;
  const std::vector<Identity>* candidates = &all_ids_;
  static const std::vector<Identity> kNone;
  if (auto ns = sel.pinned_namespace()) {
    auto nit = ids_by_ns_.find(*ns);
    candidates = nit == ids_by_ns_.end() ? &kNone : &nit->second;
  }
  for (Identity id : *candidates) {
    if (sel.matches(out_.identities.at(id))) it->second.push_back(id);
  }
  return it->second;
}

std::shared_ptr<const std::vector<Identity>> Compiler::resolve_peers(const Peers& peers) {
  std::vector<Identity> ids;
  if (peers.any) ids.push_back(identity::kUnknown);
  for (const auto& ps : peers.selectors) {
    const auto& sel = select(ps);
    ids.insert(ids.end(), sel.begin(), sel.end());
  }
  for (const auto& c : peers.cidrs) {
    // Every policy prefix inside the block and outside its exceptions: an address's most
    // specific policy prefix decides its CIDR identity, so this is exactly the block minus the
    // exceptions.
    for (const auto& q : policy_prefixes_) {
      if (!c.prefix.contains(q)) continue;
      if (std::any_of(c.except.begin(), c.except.end(),
                      [&](const Ipv4Prefix& e) { return e.contains(q); })) {
        continue;
      }
      uint32_t slot = cidr_slot_.at(q);
      ids.push_back(IDENTITY_SCOPE_CIDR | slot);
      if (c.cluster_addresses && out_.identities.count(IDENTITY_SCOPE_CLUSTER_CIDR | slot)) {
        ids.push_back(IDENTITY_SCOPE_CLUSTER_CIDR | slot);
      }
    }
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return std::make_shared<const std::vector<Identity>>(std::move(ids));
}

void Compiler::build_rules() {
  std::unordered_set<uint32_t> used{0};
  auto cookie_of = [&](const std::string& name) {
    uint32_t c = uint32_t(stable_hash(name));
    while (!used.insert(c).second)
      ++c;  // probe past collisions (and past 0)
    return c;
  };
  uint32_t order = 0;
  localhost_cookie_ = cookie_of("built-in/allow-localhost");
  out_.rules.emplace(localhost_cookie_,
                     RuleInfo{localhost_cookie_, "", "", "", "allow-localhost", Direction::Ingress,
                              Action::Allow, "the node may always reach its endpoints", order++});
  for (size_t d = 0; d < in_.policies.size(); ++d) {
    const auto& doc = *in_.policies[d];
    PolicyStatus st{doc.kind, doc.ns, doc.name, doc.source, doc.warnings, 0};
    for (const auto& rule : doc.rules) {
      if (rule.host_policy) continue;
      RuleRef rr{&doc, &rule, d, {}, false};
      for (const auto& s : rule.sections) {
        uint32_t c = cookie_of(doc.display() + " " + s.path);
        out_.rules.emplace(c, RuleInfo{c, doc.kind, doc.ns, doc.name, s.path, s.direction, s.action,
                                       rule.description, order++});
        rr.sections.push_back(sections_.size());
        sections_.push_back({&doc, &rule, &s, c, resolve_peers(s.peers)});
        if (s.direction == Direction::Ingress) {
          for (const auto& p : s.ports)
            rr.ingress_named_ports |= !p.name.empty();
        }
      }
      rule_refs_.push_back(std::move(rr));
    }
    out_.statuses.push_back(std::move(st));
  }
}

void Compiler::expand(const PortSpec& spec, const SectionRef& s, Identity subject,
                      std::vector<MapEntry>& out) {
  const Direction dir = s.section->direction;
  const Action act = s.section->action;
  auto push = [&](Identity peer, uint8_t proto, uint16_t port, uint8_t bits) {
    out.push_back(MapEntry{peer, dir, proto, port, bits, act, s.cookie});
  };
  const auto& peers = *s.peers;
  if (!spec.name.empty()) {
    // Named ports resolve against the destination pod's container ports: the endpoint itself
    // for ingress, each peer for egress.
    auto matches = [&](const k8s::ContainerPort& cp) {
      return cp.name == spec.name && (spec.proto == 0 || spec.proto == uint8_t(cp.protocol));
    };
    auto push_ports = [&](Identity peer, const std::vector<k8s::ContainerPort>& ports) {
      for (const auto& cp : ports) {
        if (matches(cp)) push(peer, uint8_t(cp.protocol), cp.container_port, 16);
      }
    };
    if (dir == Direction::Ingress) {
      auto it = ports_by_identity_.find(subject);
      if (it == ports_by_identity_.end()) return;
      for (Identity peer : peers)
        push_ports(peer, it->second);
    } else {
      for (Identity peer : peers) {
        if (peer == identity::kUnknown) {
          for (const auto& [id, ports] : ports_by_identity_)
            push_ports(id, ports);
        } else if (auto it = ports_by_identity_.find(peer); it != ports_by_identity_.end()) {
          push_ports(peer, it->second);
        }
      }
    }
    return;
  }
  static constexpr uint8_t kAnyProtos[] = {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP};
  auto one = [&](uint8_t proto) {
    for (Identity peer : peers) {
      if (proto == 0) {
        push(peer, 0, 0, 0);
      } else if (spec.port == 0) {
        push(peer, proto, 0, 0);
      } else {
        for (auto [first, bits] :
             port_range_blocks(spec.port, spec.end_port ? spec.end_port : spec.port)) {
          push(peer, proto, first, bits);
        }
      }
    }
  };
  if (spec.proto) {
    one(spec.proto);
  } else if (spec.port == 0) {
    one(0);
  } else {
    for (uint8_t p : kAnyProtos)
      one(p);  // Cilium's ANY with a port: TCP, UDP and SCTP
  }
}

std::shared_ptr<const IdentityPolicy> Compiler::policy_for(Identity subject,
                                                           const std::vector<size_t>& refs) {
  auto pol = std::make_shared<IdentityPolicy>();
  if (opts_.mode == EnforcementMode::Never) return pol;
  for (size_t r : refs) {
    const auto& rr = rule_refs_[r];
    for (Direction d : kDirections) {
      if (rr.rule->isolates[index_of(d)]) {
        auto& by = pol->isolated_by[index_of(d)];
        if (std::find(by.begin(), by.end(), rr.doc->display()) == by.end()) {
          by.push_back(rr.doc->display());
        }
      }
    }
  }
  for (Direction d : kDirections) {
    pol->enforced[index_of(d)] =
        opts_.mode == EnforcementMode::Always || !pol->isolated_by[index_of(d)].empty();
  }
  std::vector<MapEntry> raw;
  // Built-in rules first, then the policies' in rule order: the merge keeps the first.
  if (pol->enforced[index_of(Direction::Ingress)] && opts_.allow_localhost) {
    raw.push_back(
        MapEntry{identity::kHost, Direction::Ingress, 0, 0, 0, Action::Allow, localhost_cookie_});
  }
  static const PortSpec kAnyPort;
  for (size_t r : refs) {
    for (size_t si : rule_refs_[r].sections) {
      const auto& s = sections_[si];
      if (s.section->unenforceable) continue;
      if (s.section->ports.empty()) {
        expand(kAnyPort, s, subject, raw);
        continue;
      }
      for (const auto& p : s.section->ports) {
        if (p.l7 && opts_.l7 == L7Handling::Deny && s.section->action == Action::Allow) continue;
        expand(p, s, subject, raw);
      }
    }
  }
  normalize_entries(raw);
  pol->entries = std::move(raw);
  return pol;
}

void Compiler::build_endpoint_policies() {
  // Which rules select each identity. Only this cluster's pods are subjects.
  std::unordered_map<Identity, std::vector<size_t>> rules_of;
  std::vector<std::set<Identity>> selected_by_doc(in_.policies.size());
  for (size_t r = 0; r < rule_refs_.size(); ++r) {
    const auto& sel = rule_refs_[r].rule->subject;
    const std::vector<Identity>* candidates = &local_pod_ids_;
    static const std::vector<Identity> kNone;
    if (auto ns = sel.pinned_namespace()) {
      auto it = local_ids_by_ns_.find(*ns);
      candidates = it == local_ids_by_ns_.end() ? &kNone : &it->second;
    }
    for (Identity id : *candidates) {
      if (!sel.matches(out_.identities.at(id))) continue;
      rules_of[id].push_back(r);
      selected_by_doc[rule_refs_[r].doc_index].insert(id);
    }
  }

  // Identities selected by the same rules share one policy; with ingress named ports also the
  // same container ports.
  std::unordered_map<std::string, std::shared_ptr<const IdentityPolicy>> by_key;
  std::unordered_map<Identity, std::shared_ptr<const IdentityPolicy>> by_identity;
  auto key_of = [&](Identity id, const std::vector<size_t>& refs) {
    std::string k;
    bool named = false;
    for (size_t r : refs) {
      k += std::to_string(r) + ",";
      named |= rule_refs_[r].ingress_named_ports;
    }
    if (named) {
      auto ports = ports_by_identity_[id];
      std::sort(ports.begin(), ports.end(), [](const auto& a, const auto& b) {
        return std::tie(a.name, a.protocol, a.container_port) <
               std::tie(b.name, b.protocol, b.container_port);
      });
      k += "|";
      for (const auto& p : ports) {
        k += p.name + "/" + std::to_string(int(p.protocol)) + "/" +
             std::to_string(p.container_port) + ",";
      }
    }
    return k;
  };
  const bool always = opts_.mode == EnforcementMode::Always;
  std::vector<Identity> subjects;
  if (opts_.policies_for_node.empty()) {
    subjects = local_pod_ids_;
  } else {
    for (const auto& p : pods_) {
      if (p.w->node == opts_.policies_for_node) subjects.push_back(p.id);
    }
    std::sort(subjects.begin(), subjects.end());
    subjects.erase(std::unique(subjects.begin(), subjects.end()), subjects.end());
  }
  for (Identity id : subjects) {
    auto it = rules_of.find(id);
    static const std::vector<size_t> kNoRules;
    const auto& refs = it == rules_of.end() ? kNoRules : it->second;
    if (refs.empty() && !always) continue;
    auto key = key_of(id, refs);
    auto [kit, inserted] = by_key.try_emplace(key);
    if (inserted) kit->second = policy_for(id, refs);
    by_identity[id] = kit->second;
  }

  std::unordered_map<Identity, size_t> pods_of;
  for (const auto& p : pods_)
    pods_of[p.id]++;
  for (size_t d = 0; d < in_.policies.size(); ++d) {
    size_t n = 0;
    for (Identity id : selected_by_doc[d])
      n += pods_of[id];
    out_.statuses[d].selected_endpoints = n;
  }

  out_.endpoints.reserve(pods_.size());
  for (const auto& p : pods_) {
    EndpointInfo e;
    e.ns = p.w->ns;
    e.name = p.w->name;
    e.identity = p.id;
    e.ips = p.ips;
    e.node = p.w->node;
    e.synthetic_ip = p.synthetic;
    e.audit = opts_.audit;
    if (auto it = by_identity.find(p.id); it != by_identity.end()) e.policy = it->second;
    out_.endpoints.push_back(std::move(e));
  }
}

}  // namespace

Result<CompiledPolicy> compile(const CompileInput& in, const CompileOptions& opts) {
  CompiledPolicy out;
  Compiler c(in, opts, out);
  if (auto st = c.run(); !st) return st.error();
  return out;
}

Result<CompiledPolicy> compile(const k8s::Snapshot& snap, const CompileOptions& opts) {
  auto in = input_from_snapshot(snap);
  if (!in) return in.error();
  return compile(*in, opts);
}

}  // namespace netagent::policy
