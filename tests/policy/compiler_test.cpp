// Table tests of the policy compiler: identities, selectors, port ranges, deny precedence,
// decoding errors, enforcement and audit modes, the clusters' baseline, ClusterMesh and the
// datapath state diff.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>
#include <random>

#include "model.hpp"
#include "netagent/k8s/decode.hpp"
#include "netagent/policy/datapath_state.hpp"
#include "netagent/policy/decode.hpp"
#include "netagent/policy/evaluator.hpp"

extern "C" {
#include "netagent/drop.h"
}

namespace netagent::policy::testing {
namespace {

Ipv4Addr ip(const char* s) {
  return *Ipv4Addr::parse(s);
}

FlowDecision flow(const CompiledPolicy& cp, const char* src, const char* dst, uint8_t proto,
                  uint16_t port) {
  return decide(cp, Flow{ip(src), ip(dst), proto, port});
}

std::string rule_of(const CompiledPolicy& cp, uint32_t cookie) {
  const auto* r = cp.rule(cookie);
  return r ? r->str() : "<none>";
}

// ---------------------------------------------------------------------------------------------
// Identities

TEST(Identity, PodLabelsFollowCilium) {
  k8s::Labels pod{{"app", "web"}, {"pod-template-hash", "abc"}};
  k8s::Labels ns{{"team", "blue"}};
  auto ls = pod_identity_labels({&pod, &ns, "shop", "infra", "web-sa"});
  EXPECT_EQ(ls.canonical(),
            "k8s:app=web,"
            "k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=shop,"
            "k8s:io.cilium.k8s.namespace.labels.team=blue,"
            "k8s:io.cilium.k8s.policy.cluster=infra,"
            "k8s:io.cilium.k8s.policy.serviceaccount=web-sa,"
            "k8s:io.kubernetes.pod.namespace=shop");
  ASSERT_NE(ls.find("any", "app"), nullptr);
  EXPECT_EQ(ls.find("reserved", "app"), nullptr);
}

TEST(Identity, ReservedNumbers) {
  EXPECT_EQ(reserved_identity_of(reserved_labels({"host"})), identity::kHost);
  EXPECT_EQ(reserved_identity_of(reserved_labels({"world"})), identity::kWorld);
  EXPECT_EQ(reserved_identity_of(reserved_labels({"kube-apiserver"})), identity::kKubeApiserver);
  EXPECT_EQ(reserved_identity_of(reserved_labels({"ingress"})), identity::kIngress);
  EXPECT_FALSE(reserved_identity_of(reserved_labels({"remote-node", "kube-apiserver"})));
}

TEST(Identity, AllocationIsAFunctionOfTheSetOfLabelSets) {
  std::vector<LabelSet> sets;
  for (int i = 0; i < 3000; ++i) {
    sets.push_back(
        LabelSet({{"k8s", "app", "app-" + std::to_string(i)},
                  {"k8s", "io.kubernetes.pod.namespace", "ns-" + std::to_string(i % 37)}}));
  }
  std::vector<const LabelSet*> ptrs;
  for (const auto& s : sets)
    ptrs.push_back(&s);
  auto a = allocate_local_identities(ptrs, 2);
  std::mt19937 rng(7);
  std::shuffle(ptrs.begin(), ptrs.end(), rng);
  ptrs.push_back(ptrs.front());  // duplicates do not matter
  auto b = allocate_local_identities(ptrs, 2);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, *b);
  std::set<Identity> ids;
  for (const auto& [k, id] : *a) {
    EXPECT_EQ(identity::cluster_of(id), 2);  // ClusterMesh: cluster id in bits 16..23
    EXPECT_GE(id & 0xffff, identity::kLocalMin);
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), sets.size());
}

TEST(Identity, AddingALabelSetKeepsTheOthersUnlessItTakesTheirSlot) {
  std::vector<LabelSet> sets;
  for (int i = 0; i < 500; ++i)
    sets.push_back(LabelSet({{"k8s", "app", std::to_string(i)}}));
  std::vector<const LabelSet*> ptrs;
  for (const auto& s : sets)
    ptrs.push_back(&s);
  auto before = *allocate_local_identities(ptrs, 0);
  LabelSet extra({{"k8s", "app", "newcomer"}});
  ptrs.push_back(&extra);
  auto after = *allocate_local_identities(ptrs, 0);
  size_t moved = 0;
  for (const auto& [k, id] : before)
    moved += after.at(k) != id;
  // Only label sets in the newcomer's probe chain can move (at 0.8% load: rarely any).
  EXPECT_LE(moved, 2u);
}

TEST(Identity, ModelPodsGetDistinctIdentitiesAndNamespaceIndexes) {
  Model m;
  CompileOptions o;
  o.cluster_name = "infra";
  o.cluster_id = 1;
  auto cp = m.compile("", o);
  std::set<Identity> ids;
  for (const auto& e : cp.endpoints) {
    ids.insert(e.identity);
    EXPECT_EQ(identity::cluster_of(e.identity), 1);
  }
  EXPECT_EQ(ids.size(), 9u);
  auto again = m.compile("", o);
  for (size_t i = 0; i < cp.endpoints.size(); ++i) {
    EXPECT_EQ(cp.endpoints[i].identity, again.endpoints[i].identity);
  }
  const auto* xa = cp.endpoint("x", "a");
  ASSERT_NE(xa, nullptr);
  EXPECT_EQ(cp.ipcache_lookup(ip("10.0.1.10"))->identity, xa->identity);
  EXPECT_EQ(cp.ipcache_lookup(ip("8.8.8.8")), nullptr);  // world
  EXPECT_EQ(cp.describe_identity(xa->identity), "x/pod=a (" + std::to_string(xa->identity) + ")");
}

// ---------------------------------------------------------------------------------------------
// Selectors

TEST(Selector, SourcesAndOperators) {
  LabelSet pod({{"k8s", "app", "web"}, {"k8s", "tier", "front"}});
  LabelSet host = reserved_labels({"host"});
  struct Case {
    k8s::LabelSelector sel;
    std::string default_source;
    bool pod, host;
  };
  using Op = k8s::SelectorRequirement::Op;
  std::vector<Case> cases = {
      {{{{"app", "web"}}, {}}, "any", true, false},
      {{{{"k8s:app", "web"}}, {}}, "any", true, false},
      {{{{"reserved:app", "web"}}, {}}, "any", false, false},
      {{{{"reserved:host", ""}}, {}}, "any", false, true},
      {{{}, {{"tier", Op::In, {"back", "front"}}}}, "k8s", true, false},
      {{{}, {{"tier", Op::NotIn, {"front"}}}}, "k8s", false, true},  // absent key: NotIn holds
      {{{}, {{"app", Op::Exists, {}}}}, "k8s", true, false},
      {{{}, {{"app", Op::DoesNotExist, {}}}}, "k8s", false, true},
      {{}, "k8s", true, true},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    auto s = EndpointSelector::from_k8s(cases[i].sel, cases[i].default_source);
    EXPECT_EQ(s.matches(pod), cases[i].pod) << i << " " << s.str();
    EXPECT_EQ(s.matches(host), cases[i].host) << i << " " << s.str();
  }
}

// ---------------------------------------------------------------------------------------------
// Port ranges and map entries

TEST(MapEntry, PortRangesBecomePrefixes) {
  using B = std::vector<std::pair<uint16_t, uint8_t>>;
  EXPECT_EQ(port_range_blocks(80, 80), (B{{80, 16}}));
  EXPECT_EQ(port_range_blocks(80, 81), (B{{80, 15}}));
  EXPECT_EQ(port_range_blocks(79, 80), (B{{79, 16}, {80, 16}}));
  EXPECT_EQ(port_range_blocks(8000, 8080), (B{{8000, 10}, {8064, 12}, {8080, 16}}));
  EXPECT_EQ(port_range_blocks(0, 65535), (B{{0, 0}}));
  EXPECT_EQ(port_range_blocks(1, 65535).size(), 16u);
  // Every port of a range is covered once, and nothing outside it.
  auto blocks = port_range_blocks(1000, 2047);
  for (uint32_t p = 990; p < 2060; ++p) {
    int hits = 0;
    for (auto [first, bits] : blocks) {
      MapEntry e{0, Direction::Ingress, IPPROTO_TCP, first, bits};
      hits += e.matches(IPPROTO_TCP, uint16_t(p));
    }
    EXPECT_EQ(hits, (p >= 1000 && p <= 2047) ? 1 : 0) << p;
  }
}

MapEntry entry(Identity peer, uint8_t proto, uint16_t port, uint8_t bits, Action a, uint32_t rule) {
  return MapEntry{peer, Direction::Ingress, proto, port, bits, a, rule};
}

TEST(MapEntry, NormalizeMergesAndPropagatesDeny) {
  // Cilium Test_MergeL3 case 1: L3 allow from Foo plus L3-L4 allow from Foo on 80/TCP.
  std::vector<MapEntry> e = {entry(100, 0, 0, 0, Action::Allow, 1),
                             entry(100, IPPROTO_TCP, 80, 16, Action::Allow, 2)};
  normalize_entries(e);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(longest_match(e, 100, Direction::Ingress, IPPROTO_TCP, 80)->rule, 2u);
  EXPECT_EQ(longest_match(e, 100, Direction::Ingress, IPPROTO_UDP, 53)->rule, 1u);

  // Same key twice: deny wins; among allows the earlier one (rule precedence order).
  e = {entry(7, IPPROTO_TCP, 80, 16, Action::Allow, 5),
       entry(7, IPPROTO_TCP, 80, 16, Action::Deny, 9),
       entry(8, IPPROTO_TCP, 80, 16, Action::Allow, 3),
       entry(8, IPPROTO_TCP, 80, 16, Action::Allow, 5)};
  normalize_entries(e);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].action, Action::Deny);
  EXPECT_EQ(e[0].rule, 9u);
  EXPECT_EQ(e[1].rule, 3u);

  // A deny over a range turns the allows inside it into denies; the LPM answer stays right.
  // 8064/10 is 8064-8127.
  e = {entry(7, IPPROTO_TCP, 8064, 10, Action::Deny, 1),
       entry(7, IPPROTO_TCP, 8080, 16, Action::Allow, 2),
       entry(7, IPPROTO_TCP, 9000, 16, Action::Allow, 3), entry(7, 0, 0, 0, Action::Allow, 4)};
  normalize_entries(e);
  EXPECT_EQ(longest_match(e, 7, Direction::Ingress, IPPROTO_TCP, 8080)->action, Action::Deny);
  EXPECT_EQ(longest_match(e, 7, Direction::Ingress, IPPROTO_TCP, 8080)->rule, 1u);
  EXPECT_EQ(longest_match(e, 7, Direction::Ingress, IPPROTO_TCP, 8127)->action, Action::Deny);
  EXPECT_EQ(longest_match(e, 7, Direction::Ingress, IPPROTO_TCP, 8063)->action, Action::Allow);
  EXPECT_EQ(longest_match(e, 7, Direction::Ingress, IPPROTO_TCP, 9000)->action, Action::Allow);
  EXPECT_EQ(longest_match(e, 7, Direction::Ingress, IPPROTO_UDP, 8080)->action, Action::Allow);
  EXPECT_EQ(longest_match(e, 8, Direction::Ingress, IPPROTO_UDP, 8080), nullptr);
}

// ---------------------------------------------------------------------------------------------
// Decoding

std::string decode_error(const std::string& yaml) {
  try {
    Model().snapshot(yaml);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST(Decode, ErrorsNameTheField) {
  struct Case {
    const char* yaml;
    const char* expect;
  };
  std::vector<Case> cases = {
      {"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\n"
       "spec:\n  podSelector: {}\n  ingress:\n  - ports:\n    - port: 70000\n",
       "spec.ingress[0].ports[0].port"},
      {"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\n"
       "spec:\n  podSelector: {}\n  ingress:\n  - ports:\n    - port: Not_A_Name\n",
       "neither a port number nor a valid port name"},
      {"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\n"
       "spec:\n  podSelector: {}\n  ingress:\n  - ports:\n    - {port: 90, endPort: 80}\n",
       "endPort 80 is below port 90"},
      {"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\n"
       "spec:\n  podSelector: {}\n  egress:\n  - to:\n    - ipBlock: {cidr: 10.0.0.0/16, except: "
       "[10.1.0.0/24]}\n",
       "must be a strict subset of 10.0.0.0/16"},
      {"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\n"
       "spec:\n  podSelector: {}\n  ingres: []\n",
       "unknown field \"ingres\""},
      {"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\n"
       "spec:\n  podSelector: {}\n  policyTypes: [Sideways]\n",
       "spec.policyTypes[0]"},
      {"apiVersion: networking.k8s.io/v1beta1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: "
       "x}\n"
       "spec:\n  podSelector: {}\n",
       "unsupported apiVersion"},
      {"apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p, namespace: x}\n"
       "spec:\n  endpointSelector: {}\n  ingress:\n  - fromEndpoint: [{}]\n",
       "spec.ingress[0].fromEndpoint"},
      {"apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p, namespace: x}\n"
       "spec:\n  endpointSelector: {}\n  egress:\n  - toEntities: [everyone]\n",
       "spec.egress[0].toEntities[0]"},
      {"apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p, namespace: x}\n"
       "spec:\n  endpointSelector: {}\n  egress:\n  - toPorts:\n    - ports: [{port: \"53\", "
       "protocol: ICMP}]\n",
       "spec.egress[0].toPorts[0].ports[0].protocol"},
      {"apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p, namespace: x}\n"
       "spec:\n  endpointSelector: {}\n  ingressDeny:\n  - toPorts:\n    - ports: [{port: "
       "\"80\"}]\n"
       "      rules: {http: [{method: GET}]}\n",
       "not allowed in a deny rule"},
      {"apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p, namespace: x}\n"
       "spec:\n  nodeSelector: {}\n",
       "only valid in a clusterwide policy"},
      {"apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {name: p}\n",
       "spec or specs is required"},
  };
  for (const auto& c : cases) {
    auto err = decode_error(c.yaml);
    EXPECT_NE(err.find(c.expect), std::string::npos)
        << "expected \"" << c.expect << "\" in: " << err;
    EXPECT_NE(err.find("policies.yaml (document 0)"), std::string::npos) << err;
  }
}

// Every bad field of a policy is reported at load, not only the first.
std::vector<std::string> error_fields(const std::string& yaml) {
  k8s::KindRegistry reg;
  register_kinds(reg);
  k8s::SnapshotBuilder b(&reg);
  std::vector<std::string> fields;
  for (const auto& e : b.add_all(k8s::read_object(YAML::Load(yaml), {"policies.yaml", 0})))
    fields.push_back(e.field);
  return fields;
}

TEST(Decode, EveryBadFieldOfAPolicyIsReported) {
  EXPECT_EQ(error_fields(R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Sideways]
  ingress:
  - ports: [{port: 70000}, {port: 80}, {port: 90, endPort: 80}]
  - from: [{ipBlock: {cidr: 10.0.0.0/33}}]
)"),
            (std::vector<std::string>{"spec.policyTypes[0]", "spec.ingress[0].ports[0].port",
                                      "spec.ingress[0].ports[2].endPort",
                                      "spec.ingress[1].from[0].ipBlock.cidr"}));
  EXPECT_EQ(
      error_fields(R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: p, namespace: x}
specs:
- endpointSelector: {}
  ingress:
  - fromEntities: [everyone]
    toPorts: [{ports: [{port: "53", protocol: ICMP}, {port: "99999"}]}]
- endpointSelector: {}
  egress:
  - toEndpoint: [{}]
  enableDefaultDeny: {egress: perhaps}
)"),
      (std::vector<std::string>{
          "specs[0].ingress[0].fromEntities[0]", "specs[0].ingress[0].toPorts[0].ports[0].protocol",
          "specs[0].ingress[0].toPorts[0].ports[1].port", "specs[1].egress[0].toEndpoint",
          "specs[1].enableDefaultDeny.egress"}));
}

const PolicyStatus* status_of(const CompiledPolicy& cp, const std::string& name) {
  for (const auto& s : cp.statuses) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

TEST(Decode, UnsupportedPartsAreWarnedAndFailClosed) {
  Model m;
  auto cp = m.compile(R"(
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: fqdn, namespace: x}
spec:
  endpointSelector: {matchLabels: {pod: a}}
  egress:
  - toFQDNs: [{matchName: example.com}]
    toPorts:
    - ports: [{port: "443", protocol: TCP}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: l7, namespace: x}
spec:
  endpointSelector: {matchLabels: {pod: b}}
  ingress:
  - toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules:
        http: [{method: GET, path: /}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: requires, namespace: x}
spec:
  endpointSelector: {matchLabels: {pod: c}}
  ingress:
  - fromEndpoints: [{}]
    fromRequires: [{matchLabels: {env: prod}}]
)");
  const auto* fqdn = status_of(cp, "fqdn");
  ASSERT_NE(fqdn, nullptr);
  ASSERT_EQ(fqdn->warnings.size(), 1u);
  EXPECT_NE(fqdn->warnings[0].find("spec.egress[0].toFQDNs"), std::string::npos);
  EXPECT_EQ(fqdn->selected_endpoints, 1u);
  // toFQDNs selects nothing here: x/a's egress is default-deny and nothing is allowed.
  EXPECT_FALSE(flow(cp, "10.0.1.10", "93.184.216.34", IPPROTO_TCP, 443).allowed());
  EXPECT_FALSE(flow(cp, "10.0.1.10", "10.0.2.10", IPPROTO_TCP, 443).allowed());

  const auto* l7 = status_of(cp, "l7");
  ASSERT_NE(l7, nullptr);
  ASSERT_EQ(l7->warnings.size(), 1u);
  EXPECT_NE(l7->warnings[0].find("spec.ingress[0].toPorts[0].rules"), std::string::npos);
  EXPECT_TRUE(flow(cp, "10.0.2.10", "10.0.1.20", IPPROTO_TCP, 80).allowed());  // L4 part
  EXPECT_FALSE(flow(cp, "10.0.2.10", "10.0.1.20", IPPROTO_TCP, 81).allowed());

  CompileOptions deny_l7;
  deny_l7.l7 = L7Handling::Deny;
  auto strict = m.compile(R"(
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: l7, namespace: x}
spec:
  endpointSelector: {matchLabels: {pod: b}}
  ingress:
  - toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules:
        http: [{method: GET, path: /}]
)",
                          deny_l7);
  EXPECT_FALSE(flow(strict, "10.0.2.10", "10.0.1.20", IPPROTO_TCP, 80).allowed());

  EXPECT_NE(status_of(cp, "requires")->warnings.at(0).find("fromRequires is not supported"),
            std::string::npos);
  EXPECT_FALSE(flow(cp, "10.0.1.10", "10.0.1.30", IPPROTO_TCP, 80).allowed());
}

// ---------------------------------------------------------------------------------------------
// Enforcement modes, audit, host

const char* kDenyAllX = R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
)";

TEST(Enforcement, AlwaysNeverAndAudit) {
  Model m;
  CompileOptions always;
  always.mode = EnforcementMode::Always;
  auto cp = m.compile("", always);
  EXPECT_FALSE(flow(cp, "10.0.2.10", "10.0.3.10", IPPROTO_TCP, 80).allowed());
  auto d = flow(cp, "10.0.2.10", "10.0.3.10", IPPROTO_TCP, 80);
  EXPECT_EQ(d.egress.drop_reason, DROP_POLICY_DENIED);
  EXPECT_EQ(d.egress.rule, 0u);

  CompileOptions never;
  never.mode = EnforcementMode::Never;
  auto open = m.compile(std::string(kDenyAllX) + R"(---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: deny, namespace: y}
spec:
  endpointSelector: {}
  ingressDeny:
  - fromEntities: [all]
)",
                        never);
  EXPECT_TRUE(flow(open, "10.0.1.10", "10.0.2.10", IPPROTO_TCP, 80).allowed());
  EXPECT_EQ(flow(open, "10.0.1.10", "10.0.2.10", IPPROTO_TCP, 80).ingress.verdict,
            Verdict::NotPoliced);

  CompileOptions audit;
  audit.audit = true;
  auto audited = m.compile(kDenyAllX, audit);
  auto a = flow(audited, "10.0.2.10", "10.0.1.10", IPPROTO_TCP, 80);
  EXPECT_TRUE(a.allowed());
  EXPECT_EQ(a.ingress.verdict, Verdict::Audited);
  EXPECT_EQ(a.ingress.drop_reason, DROP_POLICY_DENIED);
  EXPECT_EQ(a.egress.verdict, Verdict::NotPoliced);
}

TEST(Enforcement, TheNodeMayReachItsEndpoints) {
  Model m(R"(
apiVersion: v1
kind: Node
metadata: {name: node-1}
status:
  addresses: [{type: InternalIP, address: 10.25.11.11}]
---
apiVersion: v1
kind: Node
metadata: {name: node-2}
status:
  addresses: [{type: InternalIP, address: 10.25.11.12}]
)");
  CompileOptions o;
  o.local_node = "node-1";
  auto cp = m.compile(kDenyAllX, o);
  EXPECT_EQ(cp.ipcache_lookup(ip("10.25.11.11"))->identity, identity::kHost);
  EXPECT_EQ(cp.ipcache_lookup(ip("10.25.11.12"))->identity, identity::kRemoteNode);
  auto host = flow(cp, "10.25.11.11", "10.0.1.10", IPPROTO_TCP, 8080);
  EXPECT_TRUE(host.allowed());
  EXPECT_EQ(rule_of(cp, host.ingress.rule), "built-in allow-localhost");
  EXPECT_FALSE(flow(cp, "10.25.11.12", "10.0.1.10", IPPROTO_TCP, 8080).allowed());
  o.allow_localhost = false;
  auto strict = m.compile(kDenyAllX, o);
  EXPECT_FALSE(flow(strict, "10.25.11.11", "10.0.1.10", IPPROTO_TCP, 8080).allowed());
}

// ---------------------------------------------------------------------------------------------
// The clusters' baseline: deny all, then allow DNS to CoreDNS, the kube-apiserver, and ingress
// only from the Gateway.

const char* kClusterObjects = R"(
apiVersion: v1
kind: Namespace
metadata: {name: kube-system}
---
apiVersion: v1
kind: Pod
metadata:
  name: coredns-1
  namespace: kube-system
  labels: {k8s-app: kube-dns}
spec:
  containers:
  - name: coredns
    ports:
    - {name: dns, containerPort: 53, protocol: UDP}
    - {name: dns-tcp, containerPort: 53, protocol: TCP}
status: {podIP: 10.0.9.10}
---
apiVersion: v1
kind: Node
metadata: {name: node-1}
status:
  addresses: [{type: InternalIP, address: 10.25.11.11}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kubernetes
  namespace: default
  labels: {kubernetes.io/service-name: kubernetes}
addressType: IPv4
endpoints:
- addresses: [10.25.11.5]
ports:
- {name: https, port: 6443, protocol: TCP}
)";

const char* kBaseline = R"(
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: default-deny}
spec:
  description: deny everything not allowed below
  endpointSelector:
    matchExpressions:
    - {key: io.kubernetes.pod.namespace, operator: NotIn, values: [kube-system]}
  ingress: [{}]
  egress: [{}]
---
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: allow-dns}
spec:
  endpointSelector:
    matchExpressions:
    - {key: io.kubernetes.pod.namespace, operator: NotIn, values: [kube-system]}
  egress:
  - toEndpoints:
    - matchLabels: {io.kubernetes.pod.namespace: kube-system, k8s-app: kube-dns}
    toPorts:
    - ports:
      - {port: "53", protocol: UDP}
      - {port: "53", protocol: TCP}
      rules:
        dns:
        - matchPattern: "*"
---
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: allow-kube-apiserver}
spec:
  endpointSelector:
    matchExpressions:
    - {key: io.kubernetes.pod.namespace, operator: NotIn, values: [kube-system]}
  egress:
  - toEntities: [kube-apiserver]
    toPorts:
    - ports: [{port: "6443", protocol: TCP}]
---
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: allow-from-gateway}
spec:
  endpointSelector:
    matchExpressions:
    - {key: io.kubernetes.pod.namespace, operator: NotIn, values: [kube-system]}
  ingress:
  - fromEntities: [ingress]
)";

TEST(Baseline, DenyAllPlusDnsApiserverAndGateway) {
  Model m(kClusterObjects);
  CompileOptions o;
  o.local_node = "node-1";
  o.ingress_ips = {ip("10.0.0.200")};
  auto cp = m.compile(kBaseline, o);

  const char* kClosed = R"(
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  X   X   X   X   X   X   X   X   X
x/c  X   X   X   X   X   X   X   X   X
y/a  X   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  X   X   X   X   X   X   X   X   X
z/b  X   X   X   X   X   X   X   X   X
z/c  X   X   X   X   X   X   X   X   X
)";
  for (uint8_t proto : {IPPROTO_TCP, IPPROTO_UDP}) {
    auto diffs = Reachability::parse(kClosed)->diff(Model::evaluate(cp, 80, proto));
    EXPECT_TRUE(diffs.empty()) << diffs.front();
  }

  struct FlowCase {
    const char* src;
    const char* dst;
    uint8_t proto;
    uint16_t port;
    bool allowed;
    const char* rule;  // the deciding rule of the policed direction, "" for a default verdict
  };
  std::vector<FlowCase> flows = {
      {"10.0.1.10", "10.0.9.10", IPPROTO_UDP, 53, true,
       "CiliumClusterwideNetworkPolicy allow-dns spec.egress[0]"},
      {"10.0.1.10", "10.0.9.10", IPPROTO_TCP, 53, true,
       "CiliumClusterwideNetworkPolicy allow-dns spec.egress[0]"},
      {"10.0.1.10", "10.0.9.10", IPPROTO_UDP, 54, false, ""},
      {"10.0.1.10", "10.25.11.5", IPPROTO_TCP, 6443, true,
       "CiliumClusterwideNetworkPolicy allow-kube-apiserver spec.egress[0]"},
      {"10.0.1.10", "10.25.11.5", IPPROTO_TCP, 443, false, ""},
      {"10.0.1.10", "8.8.8.8", IPPROTO_UDP, 53, false, ""},
      {"10.0.0.200", "10.0.2.20", IPPROTO_TCP, 8080, true,
       "CiliumClusterwideNetworkPolicy allow-from-gateway spec.ingress[0]"},
      {"8.8.8.8", "10.0.2.20", IPPROTO_TCP, 80, false, ""},
      {"10.25.11.11", "10.0.2.20", IPPROTO_TCP, 80, true, "built-in allow-localhost"},
  };
  for (const auto& f : flows) {
    auto d = flow(cp, f.src, f.dst, f.proto, f.port);
    EXPECT_EQ(d.allowed(), f.allowed) << f.src << " -> " << f.dst << ":" << f.port;
    const auto& policed = d.egress.endpoint ? d.egress : d.ingress;
    EXPECT_EQ(policed.rule ? rule_of(cp, policed.rule) : "", f.rule) << f.src << " -> " << f.dst;
  }
  // kube-system is not selected: CoreDNS takes queries from anyone.
  EXPECT_EQ(flow(cp, "10.0.1.10", "10.0.9.10", IPPROTO_UDP, 53).ingress.verdict,
            Verdict::NotPoliced);
  const auto* dns = status_of(cp, "allow-dns");
  ASSERT_NE(dns, nullptr);
  EXPECT_EQ(dns->selected_endpoints, 9u);
  ASSERT_EQ(dns->warnings.size(), 1u);
  EXPECT_NE(dns->warnings[0].find("rules (L7) is not enforced"), std::string::npos);

  auto denied = flow(cp, "10.0.1.10", "10.25.11.5", IPPROTO_TCP, 443);
  EXPECT_EQ(denied.egress.drop_reason, DROP_POLICY_DENIED);
  std::string why = explain(cp, denied.egress, Direction::Egress);
  EXPECT_NE(why.find("CiliumClusterwideNetworkPolicy default-deny"), std::string::npos) << why;
  EXPECT_NE(why.find("reserved:kube-apiserver"), std::string::npos) << why;
}

// ---------------------------------------------------------------------------------------------
// CIDR rules and entities with addresses outside the cluster

TEST(Cidr, CiliumCidrWithExceptAndDenyPrecedence) {
  Model m;
  auto cp = m.compile(R"(
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: egress-cidr, namespace: x}
spec:
  endpointSelector: {matchLabels: {pod: a}}
  egress:
  - toCIDRSet:
    - cidr: 192.0.2.0/24
      except: [192.0.2.128/25]
  - toCIDR: [198.51.100.7/32]
    toPorts:
    - ports: [{port: "443", protocol: TCP}]
  - toEntities: [world]
    toPorts:
    - ports: [{port: "8443", protocol: TCP}]
  egressDeny:
  - toCIDR: [192.0.2.8/29]
)");
  struct C {
    const char* dst;
    uint16_t port;
    bool allowed;
    uint16_t reason;
  };
  std::vector<C> cases = {
      {"192.0.2.1", 80, true, 0},
      {"192.0.2.9", 80, false, DROP_POLICY_DENY_RULE},  // deny beats the /24 allow
      {"192.0.2.200", 80, false, DROP_POLICY_DENIED},   // in the except
      {"198.51.100.7", 443, true, 0},
      {"198.51.100.7", 80, false, DROP_POLICY_DENIED},
      {"203.0.113.1", 8443, true, 0},  // world
      {"192.0.2.200", 8443, true, 0},  // the except is still world
      {"192.0.2.9", 8443, false, DROP_POLICY_DENY_RULE},
      {"10.0.2.10", 8443, false, DROP_POLICY_DENIED},  // a pod is not world
  };
  for (const auto& c : cases) {
    auto d = flow(cp, "10.0.1.10", c.dst, IPPROTO_TCP, c.port);
    EXPECT_EQ(d.allowed(), c.allowed) << c.dst << ":" << c.port;
    EXPECT_EQ(d.egress.drop_reason, c.reason) << c.dst << ":" << c.port;
  }
}

TEST(Cidr, NetworkPolicyIpBlockMatchesPodsAndTheWorld) {
  Model m;
  auto cp = m.compile(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-block, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - ipBlock: {cidr: 10.0.2.0/24, except: [10.0.2.20/32]}
    - ipBlock: {cidr: 172.16.0.0/12}
)");
  EXPECT_TRUE(flow(cp, "10.0.2.10", "10.0.1.10", IPPROTO_TCP, 80).allowed());
  EXPECT_FALSE(flow(cp, "10.0.2.20", "10.0.1.10", IPPROTO_TCP, 80).allowed());
  EXPECT_TRUE(flow(cp, "10.0.2.99", "10.0.1.10", IPPROTO_TCP, 80).allowed());
  EXPECT_TRUE(flow(cp, "172.20.1.1", "10.0.1.10", IPPROTO_TCP, 80).allowed());
  EXPECT_FALSE(flow(cp, "10.0.3.10", "10.0.1.10", IPPROTO_TCP, 80).allowed());
  auto d = flow(cp, "10.0.2.10", "10.0.1.10", IPPROTO_TCP, 80);
  EXPECT_NE(d.ingress.peer_cidr_identity, 0u);
  EXPECT_TRUE(identity::is_cluster_cidr(d.ingress.peer_cidr_identity));
}

// ---------------------------------------------------------------------------------------------
// Named ports resolve against the destination pod

TEST(NamedPorts, EgressResolvesPerDestinationPod) {
  Model m(R"(
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: y, labels: {app: web}}
spec:
  containers:
  - name: web
    ports: [{name: http, containerPort: 8080}]
status: {podIP: 10.0.2.100}
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: z, labels: {app: api}}
spec:
  containers:
  - name: api
    ports: [{name: http, containerPort: 9090}]
status: {podIP: 10.0.3.100}
)");
  auto cp = m.compile(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: to-http, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  egress:
  - ports:
    - port: http
  policyTypes: [Egress]
)");
  EXPECT_TRUE(flow(cp, "10.0.1.10", "10.0.2.100", IPPROTO_TCP, 8080).allowed());
  EXPECT_FALSE(flow(cp, "10.0.1.10", "10.0.2.100", IPPROTO_TCP, 9090).allowed());
  EXPECT_TRUE(flow(cp, "10.0.1.10", "10.0.3.100", IPPROTO_TCP, 9090).allowed());
  EXPECT_FALSE(flow(cp, "10.0.1.10", "10.0.3.100", IPPROTO_TCP, 8080).allowed());
  EXPECT_FALSE(flow(cp, "10.0.1.10", "10.0.2.10", IPPROTO_TCP, 8080).allowed());
}

// ---------------------------------------------------------------------------------------------
// ClusterMesh: remote identities never collide and are selected only when asked for

TEST(ClusterMesh, RemoteIdentitiesAndLocalDefault) {
  Model m;
  auto snap = m.snapshot(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: knp-from-a, namespace: x}
spec:
  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from:
    - podSelector: {matchLabels: {pod: a}}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: cnp-from-a, namespace: x}
spec:
  endpointSelector: {matchLabels: {pod: c}}
  ingress:
  - fromEndpoints: [{matchLabels: {pod: a}}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: cnp-from-apps, namespace: x}
spec:
  endpointSelector: {matchLabels: {pod: a}}
  ingress:
  - fromEndpoints: [{matchLabels: {pod: a, io.cilium.k8s.policy.cluster: apps}}]
)");
  auto in = input_from_snapshot(snap);
  ASSERT_TRUE(in);
  k8s::Labels remote_pod{{"pod", "a"}};
  RemoteIdentity remote{identity::cluster_local(2, 4242),
                        pod_identity_labels({&remote_pod, nullptr, "x", "apps", ""})};
  in->remote_identities.push_back(remote);
  in->remote_addresses.push_back({*Ipv4Prefix::parse("10.2.0.5/32"), remote.id, 2});
  CompileOptions o;
  o.cluster_name = "infra";
  o.cluster_id = 1;
  auto cp = compile(*in, o);
  ASSERT_TRUE(cp);
  const char* remote_ip = "10.2.0.5";
  EXPECT_EQ(cp->ipcache_lookup(ip(remote_ip))->identity, remote.id);
  EXPECT_EQ(cp->ipcache_lookup(ip(remote_ip))->cluster_id, 2);
  EXPECT_FALSE(flow(*cp, remote_ip, "10.0.1.20", IPPROTO_TCP, 80).allowed());  // KNP: local only
  EXPECT_TRUE(flow(*cp, "10.0.1.10", "10.0.1.20", IPPROTO_TCP, 80).allowed());
  EXPECT_FALSE(flow(*cp, remote_ip, "10.0.1.30", IPPROTO_TCP, 80).allowed());  // CNP default
  EXPECT_TRUE(flow(*cp, remote_ip, "10.0.1.10", IPPROTO_TCP, 80).allowed());   // names apps
  EXPECT_FALSE(flow(*cp, "10.0.2.10", "10.0.1.10", IPPROTO_TCP, 80).allowed());

  o.policy_default_local_cluster = false;
  auto open = compile(*in, o);
  EXPECT_TRUE(flow(*open, remote_ip, "10.0.1.30", IPPROTO_TCP, 80).allowed());
  EXPECT_FALSE(flow(*open, remote_ip, "10.0.1.20", IPPROTO_TCP, 80).allowed());

  // A remote identity in our own cluster id is refused, loudly.
  in->remote_identities.push_back({identity::cluster_local(1, 999), remote.labels});
  auto bad = compile(*in, o);
  ASSERT_TRUE(bad);
  ASSERT_EQ(bad->warnings.size(), 1u);
  EXPECT_NE(bad->warnings[0].find("collides"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// The datapath state and its diff

TEST(DatapathState, EntriesFlagsAndOrderedDiff) {
  Model m;
  auto cp = m.compile(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: range, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - podSelector: {matchLabels: {pod: b}}
    ports:
    - {port: 8000, endPort: 8063, protocol: UDP}
)");
  std::vector<LocalEndpoint> locals = {{"x", "a", 7, 42, std::nullopt, {}},
                                       {"x", "b", 8, 43, true, {}},
                                       {"q", "gone", 9, 44, std::nullopt, {}}};
  std::vector<std::string> unknown;
  auto st = datapath_state(cp, locals, &unknown);
  EXPECT_EQ(unknown, std::vector<std::string>{"q/gone"});
  ASSERT_EQ(st.endpoints.entries.size(), 2u);
  const auto* xa = cp.endpoint("x", "a");
  const auto* xb = cp.endpoint("x", "b");
  for (const auto& [addr, ep] : st.endpoints.entries) {
    if (addr == Model::pod_ip("x/a").to_be()) {
      EXPECT_EQ(ep.endpoint_id, 7u);
      EXPECT_EQ(ep.ifindex, 42u);
      EXPECT_EQ(ep.identity, xa->identity);
      EXPECT_EQ(ep.flags, POLICY_EP_F_INGRESS_ENFORCE | POLICY_EP_F_INGRESS_LOOKUP);
    } else {
      EXPECT_EQ(ep.endpoint_id, 8u);
      EXPECT_EQ(ep.flags, POLICY_EP_F_AUDIT);
    }
  }
  // x/b -> 8000-8063/UDP is one 58-bit-port-prefix key, plus the host (allow-localhost).
  ASSERT_EQ(st.policy.entries.size(), 2u);
  bool range = false;
  for (const auto& [k, v] : st.policy.entries) {
    EXPECT_EQ(k.endpoint_id, 7u);
    if (k.identity == xb->identity) {
      range = true;
      EXPECT_EQ(k.prefixlen, uint32_t(POLICY_KEY_PROTO_BITS + 10));
      EXPECT_EQ(k.proto, IPPROTO_UDP);
      EXPECT_EQ(ntohs(k.dport), 8000);
      EXPECT_EQ(v.action, POLICY_ACTION_ALLOW);
      EXPECT_EQ(v.l4, 1);
      EXPECT_EQ(cp.rule(v.rule)->str(), "NetworkPolicy x/range spec.ingress[0]");
    } else {
      EXPECT_EQ(k.identity, identity::kHost);
      EXPECT_EQ(k.prefixlen, uint32_t(POLICY_KEY_FIXED_BITS));
    }
  }
  EXPECT_TRUE(range);
  EXPECT_EQ(st.ipcache.entries.size(), 9u);
  // By device: each slot carries the address its packets must have.
  ASSERT_EQ(st.endpoints_by_dev.entries.size(), 2u);
  EXPECT_EQ(st.endpoints_by_dev.entries[0].first, 42u);
  EXPECT_EQ(st.endpoints_by_dev.entries[0].second.addr, Model::pod_ip("x/a").to_be());
  EXPECT_EQ(st.endpoints_by_dev.entries[1].first, 43u);

  // Removing the policy: policy entries are deleted, the endpoint's flags cleared.
  auto none = m.compile("");
  auto d = diff(st, datapath_state(none, locals));
  EXPECT_EQ(d.policy.deletes.size(), 2u);
  EXPECT_TRUE(d.policy.upserts.empty());
  EXPECT_TRUE(d.ipcache.empty());
  ASSERT_EQ(d.endpoints.upserts.size(), 1u);
  EXPECT_EQ(d.endpoints.upserts[0].second.flags, 0);
  EXPECT_TRUE(diff(st, st).empty());
}

}  // namespace
}  // namespace netagent::policy::testing
