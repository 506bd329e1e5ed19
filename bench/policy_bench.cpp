// Policy: compile time for 1,000 policies over 10,000 pods, the cost of applying one policy
// change (recompile and diff the local maps), and the per-packet cost of the policy check in the
// kernel next to the pass-through floor (passthrough.bpf.c, tc_pass), measured the same way.
//
// The packet paths measured leave the packet unchanged, so one BPF_PROG_TEST_RUN with a large
// repeat gives the per-packet figure (DESIGN.md, "Measuring the datapath"); the reported time of
// each BM_PolicyPacket case is the kernel-measured time per packet.
#include <benchmark/benchmark.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>

#include "netagent/datapath/packet.hpp"
#include "netagent/datapath/ring_buffer.hpp"
#include "netagent/datapath/skeleton.hpp"
#include "netagent/datapath/test_run.hpp"
#include "netagent/k8s/decode.hpp"
#include "netagent/policy/compiler.hpp"
#include "netagent/policy/datapath_state.hpp"
#include "netagent/policy/evaluator.hpp"
#include "netagent/policy/policy_datapath.hpp"
#include "netagent/testing/manifests.hpp"
#include "passthrough.skel.h"

namespace {

using namespace netagent;
using namespace netagent::policy;

constexpr int kNamespaces = 100, kPodsPerNamespace = 100, kPoliciesPerNamespace = 10;
constexpr int kNodes = 100;

std::string ns_name(int n) {
  return "ns-" + std::to_string(n);
}
std::string pod_ip(int n, int i) {
  return "10." + std::to_string(1 + n / 200) + "." + std::to_string(n % 200) + "." +
         std::to_string(i + 1);
}

// 100 namespaces x 100 pods (40 label sets per namespace: app-0..19 x version 1/2), spread over
// 100 nodes, and 10 policies per namespace: a default deny, NetworkPolicies with pod, namespace,
// named-port and ipBlock peers, and Cilium policies with entities, DNS egress, CIDRs and deny.
std::string scenario_objects() {
  std::string y;
  y.reserve(8 << 20);
  for (int n = 0; n < kNodes; ++n) {
    y += "apiVersion: v1\nkind: Node\nmetadata: {name: node-" + std::to_string(n) +
         "}\nstatus:\n  addresses: [{type: InternalIP, address: 10.25.11." +
         std::to_string(10 + n) + "}]\n---\n";
  }
  for (int n = 0; n < kNamespaces; ++n) {
    auto ns = ns_name(n);
    y += "apiVersion: v1\nkind: Namespace\nmetadata: {name: " + ns + ", labels: {team: team-" +
         std::to_string(n % 10) + "}}\n---\n";
    for (int i = 0; i < kPodsPerNamespace; ++i) {
      y += "apiVersion: v1\nkind: Pod\nmetadata: {name: pod-" + std::to_string(i) +
           ", namespace: " + ns + ", labels: {app: app-" + std::to_string(i % 20) + ", version: v" +
           std::to_string(1 + i % 2) + ", pod-template-hash: h" + std::to_string(i) +
           "}}\nspec:\n  nodeName: node-" + std::to_string((n + i) % kNodes) +
           "\n  containers:\n  - name: c\n    ports:\n    - {name: http, containerPort: 8080}\n"
           "    - {name: metrics, containerPort: 9090}\nstatus: {podIP: " +
           pod_ip(n, i) + "}\n---\n";
    }
  }
  return y;
}

std::string scenario_policy(int n, int k, int variant = 0) {
  auto ns = ns_name(n);
  auto app = [](int a) { return "app-" + std::to_string(a % 20); };
  std::string head = "metadata: {name: p" + std::to_string(k) + ", namespace: " + ns + "}\n";
  if (k == 0) {
    return "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n" + head +
           "spec:\n  podSelector: {}\n  policyTypes: [Ingress, Egress]\n";
  }
  if (k <= 4) {
    return "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n" + head +
           "spec:\n  podSelector: {matchLabels: {app: " + app(k) +
           "}}\n  ingress:\n  - from:\n"
           "    - podSelector: {matchLabels: {app: " +
           app(k + 1) +
           "}}\n    ports: [{port: http}]\n"
           "  - from:\n    - namespaceSelector: {matchLabels: {team: team-" +
           std::to_string(k) + "}}\n    ports: [{port: " + std::to_string(9090 + variant) + "}]\n";
  }
  if (k == 5) {
    return "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n" + head +
           "spec:\n  podSelector: {matchLabels: {app: " + app(k) +
           "}}\n  egress:\n  - to:\n"
           "    - podSelector: {matchLabels: {app: " +
           app(k + 2) +
           "}}\n    ports: [{port: 8080}]\n"
           "  - to:\n    - ipBlock: {cidr: 10.200.0.0/16, except: [10.200.1.0/24]}\n"
           "  policyTypes: [Egress]\n";
  }
  if (k <= 8) {
    return "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\n" + head +
           "spec:\n  endpointSelector: {matchLabels: {app: " + app(k) +
           "}}\n  egress:\n"
           "  - toEndpoints:\n    - matchLabels: {io.kubernetes.pod.namespace: kube-system, "
           "k8s-app: kube-dns}\n"
           "    toPorts: [{ports: [{port: \"53\", protocol: UDP}]}]\n  ingress:\n"
           "  - fromEntities: [cluster]\n    toPorts: [{ports: [{port: \"8080\", protocol: "
           "TCP}]}]\n"
           "  ingressDeny:\n  - fromEndpoints: [{matchLabels: {app: " +
           app(k + 5) +
           "}}]\n"
           "    toPorts: [{ports: [{port: \"9090\", protocol: TCP}]}]\n";
  }
  return "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\n" + head +
         "spec:\n  endpointSelector: {}\n  egress:\n  - toCIDRSet: [{cidr: 192.168." +
         std::to_string(n) +
         ".0/24}]\n  - toEntities: [world]\n"
         "    toPorts: [{ports: [{port: \"" +
         std::to_string(443 + variant) + "\", protocol: TCP}]}]\n";
}

std::string scenario_policies() {
  std::string y;
  for (int n = 0; n < kNamespaces; ++n) {
    for (int k = 0; k < kPoliciesPerNamespace; ++k)
      y += scenario_policy(n, k) + "---\n";
  }
  return y;
}

k8s::Snapshot build_snapshot(const std::string& yaml) {
  k8s::KindRegistry reg;
  register_kinds(reg);
  return netagent::testing::snapshot_from_yaml(yaml, {.registry = &reg}, "bench.yaml");
}

struct Scenario {
  k8s::Snapshot snapshot;
  CompileInput input;
  CompileOptions options;
  std::vector<LocalEndpoint> locals;  // the endpoints of node-0
};

const Scenario& scenario() {
  static const Scenario s = [] {
    Scenario sc;
    sc.snapshot = build_snapshot(scenario_objects() + scenario_policies());
    sc.input = *input_from_snapshot(sc.snapshot);
    sc.options.local_node = "node-0";
    uint32_t id = 1;
    for (const auto& w : sc.input.workloads) {
      if (w.node == "node-0") sc.locals.push_back({w.ns, w.name, id++, 0, std::nullopt, {}});
    }
    return sc;
  }();
  return s;
}

void report(benchmark::State& state, const CompiledPolicy& cp) {
  state.counters["pods"] = double(cp.endpoints.size());
  state.counters["policies"] = double(cp.statuses.size());
  state.counters["identities"] = double(cp.identities.size());
  state.counters["entries"] = double(cp.entry_count());
}

void BM_PolicyCompile(benchmark::State& state) {
  const auto& sc = scenario();
  for (auto _ : state) {
    auto cp = compile(sc.input, sc.options);
    if (!cp) state.SkipWithError(cp.error().str().c_str());
    benchmark::DoNotOptimize(cp);
    if (state.iterations() == 0 && cp) report(state, *cp);
  }
  if (auto cp = compile(sc.input, sc.options)) report(state, *cp);
}
BENCHMARK(BM_PolicyCompile)->Unit(benchmark::kMillisecond)->MinTime(2);

// The same, including decoding the 1,000 policy objects from the snapshot.
void BM_PolicyCompileFromSnapshot(benchmark::State& state) {
  const auto& sc = scenario();
  for (auto _ : state) {
    auto cp = compile(sc.snapshot, sc.options);
    benchmark::DoNotOptimize(cp);
  }
}
BENCHMARK(BM_PolicyCompileFromSnapshot)->Unit(benchmark::kMillisecond)->MinTime(2);

// What the agent compiles: identities and the ipcache for every pod, endpoint policies for the
// pods of its node.
void BM_PolicyCompileForNode(benchmark::State& state) {
  const auto& sc = scenario();
  CompileOptions o = sc.options;
  o.policies_for_node = "node-0";
  for (auto _ : state) {
    auto cp = compile(sc.input, o);
    benchmark::DoNotOptimize(cp);
  }
  if (auto cp = compile(sc.input, o)) report(state, *cp);
}
BENCHMARK(BM_PolicyCompileForNode)->Unit(benchmark::kMillisecond)->MinTime(2);

// One policy changes (the world port of a namespace-wide CiliumNetworkPolicy that selects a
// local endpoint): decode it, recompile as the agent does (policies for node-0), rebuild this
// node's map contents and diff them against what is programmed.
void BM_PolicyApplyOneChange(benchmark::State& state) {
  const auto& sc = scenario();
  CompileOptions opts = sc.options;
  opts.policies_for_node = "node-0";
  auto base = compile(sc.input, opts);
  auto programmed = datapath_state(*base, sc.locals);
  auto changed_obj = k8s::read_object(YAML::Load(scenario_policy(0, 9, 1)), {"change.yaml", 0});
  size_t changed_index = 0;
  for (size_t i = 0; i < sc.input.policies.size(); ++i) {
    const auto& d = *sc.input.policies[i];
    if (d.ns == "ns-0" && d.name == "p9") changed_index = i;
  }
  size_t diff_size = 0;
  for (auto _ : state) {
    CompileInput in = sc.input;  // shares the other decoded policies
    in.policies[changed_index] = std::make_shared<const PolicyDocument>(decode_policy(changed_obj));
    auto cp = compile(in, opts);
    auto d = diff(programmed, datapath_state(*cp, sc.locals));
    diff_size = d.size();
    benchmark::DoNotOptimize(d);
  }
  state.counters["diff_entries"] = double(diff_size);
  state.counters["local_endpoints"] = double(sc.locals.size());
  state.counters["local_entries"] = double(programmed.policy.entries.size());
}
BENCHMARK(BM_PolicyApplyOneChange)->Unit(benchmark::kMillisecond)->MinTime(2);

// ---------------------------------------------------------------------------------------------
// Per packet, in the kernel

constexpr uint32_t kRepeat = 20000;

struct PacketBench {
  explicit PacketBench(datapath::Skeleton<passthrough> f) : floor(std::move(f)) {}
  datapath::Skeleton<passthrough> floor;
  std::unique_ptr<PolicyDatapath> dp;
  boost::asio::io_context io;
  std::unique_ptr<datapath::RingBufferReader> events;
  std::vector<uint8_t> established, denied;
};

PacketBench* packet_bench(std::string* error) {
  static std::unique_ptr<PacketBench> pb;
  static std::string err;
  static bool tried = false;
  if (!tried) {
    tried = true;
    [&] {
      if (geteuid() != 0) {
        err = "needs root (BPF)";
        return;
      }
      auto fl = datapath::Skeleton<passthrough>::open({}, "passthrough");
      if (!fl || !fl->load()) {
        err = "load passthrough";
        return;
      }
      const auto& sc = scenario();
      auto cp = compile(sc.input, sc.options);
      auto dp = PolicyDatapath::load({});
      if (!dp) {
        err = dp.error().str();
        return;
      }
      auto b = std::make_unique<PacketBench>(std::move(*fl));
      b->dp = std::move(*dp);
      auto rb = datapath::RingBufferReader::open(b->io, b->dp->events_fd(), [](auto) {});
      if (!rb) {
        err = rb.error().str();
        return;
      }
      b->events = std::move(*rb);
      // A local endpoint that some pod of its namespace may reach on 8080 (a NetworkPolicy
      // named-port rule: the longest LPM keys).
      Ipv4Addr local{}, peer{};
      auto locals = sc.locals;
      for (auto& l : locals) {
        const auto* ep = cp->endpoint(l.ns, l.name);
        for (const auto& e : cp->endpoints) {
          if (e.ns != ep->ns || e.name == ep->name) continue;
          auto d = decide(*cp, Flow{e.ips.front(), ep->ips.front(), IPPROTO_TCP, 8080});
          if (d.ingress.verdict == Verdict::Allowed) {
            local = ep->ips.front();
            peer = e.ips.front();
            l.ifindex = 1;  // its host-side veth: test runs see packets on ifindex 1 (lo)
            break;
          }
        }
        if (peer.value) break;
      }
      if (!peer.value) {
        err = "no allowed peer in the scenario";
        return;
      }
      if (auto st = b->dp->apply(diff({}, datapath_state(*cp, locals))); !st) {
        err = st.error().str();
        return;
      }
      b->established = datapath::PacketBuilder()
                           .ipv4(peer, local)
                           .tcp(40000, 8080, datapath::tcp_flags::ACK)
                           .build();
      b->denied = datapath::PacketBuilder()
                      .ipv4(*Ipv4Addr::parse("203.0.113.7"), local)
                      .tcp(40000, 22)
                      .build();
      // Open the connection once: every later packet of it is a conntrack hit.
      auto first = datapath::test_run(b->dp->to_endpoint_fd(), b->established);
      if (!first || first->retval != TC_ACT_OK) {
        err = "the established flow is not allowed";
        return;
      }
      b->events->poll_now();
      pb = std::move(b);
    }();
  }
  if (!pb && error) *error = err;
  return pb.get();
}

enum PacketPath { kFloor, kEstablished, kDenied };

void BM_PolicyPacket(benchmark::State& state) {
  std::string err;
  auto* pb = packet_bench(&err);
  if (!pb) {
    state.SkipWithError(err.c_str());
    return;
  }
  const auto path = PacketPath(state.range(0));
  int fd = path == kFloor ? bpf_program__fd(pb->floor->progs.tc_pass) : pb->dp->to_endpoint_fd();
  const auto& pkt = path == kDenied ? pb->denied : pb->established;
  const uint32_t want = path == kDenied ? TC_ACT_SHOT : TC_ACT_OK;
  datapath::TestRunOptions o;
  o.repeat = path == kDenied ? 2000 : kRepeat;  // every denied packet writes a flow record
  for (auto _ : state) {
    auto r = datapath::test_run(fd, pkt, o);
    if (!r || r->retval != want) {
      state.SkipWithError("unexpected verdict");
      break;
    }
    state.SetIterationTime(double(r->duration_ns) * 1e-9);
    if (path == kDenied) pb->events->poll_now();
  }
  state.SetLabel(path == kFloor         ? "pass-through floor (tc_pass)"
                 : path == kEstablished ? "policy: established connection (conntrack hit)"
                                        : "policy: denied new flow (lookups, drop record)");
}
// Each iteration is one test run of `repeat` packets whose manual time is the kernel's time per
// packet, so the reported time is per packet; the iteration count is fixed because Google
// Benchmark would otherwise size the run from that (tiny) per-packet time.
BENCHMARK(BM_PolicyPacket)
    ->Arg(kFloor)
    ->Arg(kEstablished)
    ->Arg(kDenied)
    ->UseManualTime()
    ->Iterations(200)
    ->Unit(benchmark::kNanosecond);

}  // namespace
