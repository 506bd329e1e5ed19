// Service load balancing: per-packet cost of the TC path next to a pass-through floor, and the
// control plane (programming 10,000 services, applying one endpoint change, building Maglev
// tables).
//
// Per-packet figures use BPF_PROG_TEST_RUN with repeat = 1 and one call per packet: the LB
// rewrites packets, so a large repeat would measure the wrong path (DESIGN.md, "Measuring the
// datapath"). Each iteration runs the floor program and the LB program once on fresh copies of the
// packet; the reported time is the kernel-measured LB duration, and `x_floor` is the ratio of the
// two means in the same run.
#include <benchmark/benchmark.h>

#include <netinet/in.h>
#include <unistd.h>
#include <chrono>

#include <memory>

#include "netagent/datapath/packet.hpp"
#include "netagent/datapath/skeleton.hpp"
#include "netagent/datapath/test_run.hpp"
#include "netagent/k8s/decode.hpp"
#include "netagent/lb/lb_datapath.hpp"
#include "netagent/lb/maglev.hpp"
#include "netagent/lb/service_changes.hpp"
#include "netagent/lb/service_maps.hpp"
#include "netagent/lb/service_model.hpp"
#include "netagent/testing/manifests.hpp"
#include "passthrough.skel.h"

namespace {

using namespace netagent;

Ipv4Addr nth(const char* base, uint32_t i) {
  return Ipv4Addr{Ipv4Addr::parse(base)->value + i};
}

// n LoadBalancer frontends on 10.25.0.0+i:80 with 10 backends each.
lb::DesiredServices lb_services(uint32_t n, bool maglev) {
  lb::DesiredServices d;
  for (uint32_t i = 0; i < n; ++i) {
    lb::Frontend f;
    f.type = lb::FrontendType::LoadBalancer;
    f.key = {nth("10.25.0.0", i), 80, IPPROTO_TCP, 0};
    f.flags = LB_SVC_F_LOAD_BALANCER | (maglev ? LB_SVC_F_MAGLEV : 0);
    f.service = "bench/svc" + std::to_string(i);
    f.group = f.service;
    for (uint32_t b = 0; b < 10; ++b) {
      lb::BackendAddr a{nth("10.128.0.0", i * 10 + b), 8080, IPPROTO_TCP};
      f.backends.push_back(a);
      d.backends[a] = lb::BackendInfo{a, true};
    }
    d.frontends.push_back(std::move(f));
  }
  return d;
}

struct Datapath {
  std::unique_ptr<lb::LbDatapath> lb;
  std::unique_ptr<lb::ServiceMaps> maps;
  std::optional<datapath::Skeleton<::passthrough>> floor;
};

Datapath* datapath_with(uint32_t services) {
  static std::map<uint32_t, std::unique_ptr<Datapath>> cache;
  auto& slot = cache[services];
  if (slot) return slot.get();
  auto d = std::make_unique<Datapath>();
  lb::LbDatapathOptions o;
  o.seed = *lb::MaglevSeed::parse(lb::kMaglevDefaultSeed);
  auto dp = lb::LbDatapath::load(o);
  if (!dp) return nullptr;
  d->lb = std::move(*dp);
  d->maps = std::make_unique<lb::ServiceMaps>(*d->lb);
  if (!d->maps->apply(lb_services(services, true))) return nullptr;
  auto fl = datapath::Skeleton<::passthrough>::open({}, "passthrough");
  if (!fl || !fl->load()) return nullptr;
  d->floor.emplace(std::move(*fl));
  slot = std::move(d);
  return slot.get();
}

void per_packet(benchmark::State& state, bool established) {
  if (geteuid() != 0) {
    state.SkipWithError("needs root (BPF_PROG_TEST_RUN)");
    return;
  }
  const uint32_t services = uint32_t(state.range(0));
  Datapath* d = datapath_with(services);
  if (!d) {
    state.SkipWithError("cannot load the LB datapath");
    return;
  }
  const int lb_fd = d->lb->nodeport_ingress_fd();
  const int floor_fd = bpf_program__fd((*d->floor)->progs.tc_pass);
  // The last service: the worst case for any per-service cost.
  auto vip = nth("10.25.0.0", services - 1);
  auto client = *Ipv4Addr::parse("198.51.100.1");
  auto est = datapath::PacketBuilder()
                 .ipv4(client, vip)
                 .tcp(40000, 80, datapath::tcp_flags::ACK)
                 .payload("x")
                 .build();
  if (established) (void)datapath::test_run(lb_fd, est);  // creates the conntrack entry
  uint32_t port = 0;
  double lb_total = 0, floor_total = 0;
  for (auto _ : state) {
    std::vector<uint8_t> pkt = est;
    if (!established) {
      // A new flow every call: vary the client address and port.
      port++;
      pkt = datapath::PacketBuilder()
                .ipv4(Ipv4Addr{client.value + (port >> 14)}, vip)
                .tcp(uint16_t(1024 + (port & 0x3fff)), 80)
                .payload("x")
                .build();
    }
    auto f = datapath::test_run(floor_fd, pkt);
    auto r = datapath::test_run(lb_fd, pkt);
    if (!r || !f || r->retval != 0 || r->packet == pkt) {
      state.SkipWithError("LB program did not translate the packet");
      return;
    }
    lb_total += r->duration_ns;
    floor_total += f->duration_ns;
    state.SetIterationTime(r->duration_ns * 1e-9);
  }
  state.counters["floor_ns"] = floor_total / double(state.iterations());
  state.counters["x_floor"] = floor_total > 0 ? lb_total / floor_total : 0;
  state.counters["services"] = services;
}

void BM_TcLbEstablishedFlow(benchmark::State& state) {
  per_packet(state, true);
}
void BM_TcLbNewFlow(benchmark::State& state) {
  per_packet(state, false);
}
BENCHMARK(BM_TcLbEstablishedFlow)->Arg(1)->Arg(1000)->Arg(10000)->UseManualTime();
BENCHMARK(BM_TcLbNewFlow)->Arg(1)->Arg(1000)->Arg(10000)->UseManualTime();

// YAML for n services of `type` with an EndpointSlice of 10 endpoints each.
std::string manifests(uint32_t n, const char* type) {
  std::string y;
  y.reserve(n * 700);
  for (uint32_t i = 0; i < n; ++i) {
    auto name = "svc" + std::to_string(i);
    y += "---\napiVersion: v1\nkind: Service\nmetadata: {name: " + name +
         ", namespace: bench}\nspec:\n  type: " + type +
         "\n  clusterIP: " + nth("10.96.0.0", i).str() +
         "\n  ports: [{name: http, port: 80, targetPort: 8080}]\n";
    y += "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: " + name +
         "-1, namespace: bench, labels: {kubernetes.io/service-name: " + name +
         "}}\nports: [{name: http, port: 8080}]\nendpoints:\n";
    for (uint32_t b = 0; b < 10; ++b) {
      y += "- addresses: [" + nth("10.128.0.0", i * 10 + b).str() + "]\n";
    }
  }
  return y;
}

k8s::Snapshot parse(const std::string& yaml) {
  return netagent::testing::snapshot_from_yaml(yaml, {}, "bench");
}

lb::LoadBalancerIps lb_ips(const k8s::Snapshot& s) {
  lb::LoadBalancerIps ips;
  uint32_t i = 0;
  for (const auto& svc : s.services)
    ips[svc.meta.key()] = {nth("10.25.0.0", i++)};
  return ips;
}

// Snapshot -> model -> maps for 10,000 services x 10 backends, into fresh maps. Loading the
// manifests themselves is measured by BM_SourceColdLoad (bench/source_bench.cpp); the sum of the
// two is "from manifests into the maps".
void program_services(benchmark::State& state, const char* type) {
  if (geteuid() != 0) {
    state.SkipWithError("needs root");
    return;
  }
  const uint32_t n = uint32_t(state.range(0));
  auto snap = parse(manifests(n, type));
  auto ips = lb_ips(snap);
  lb::NodeView node{"node-a", {*Ipv4Addr::parse("10.25.11.11")}};
  for (auto _ : state) {
    state.PauseTiming();
    lb::LbDatapathOptions o;
    o.seed = *lb::MaglevSeed::parse(lb::kMaglevDefaultSeed);
    auto dp = lb::LbDatapath::load(o);
    lb::ServiceMaps maps(**dp);
    state.ResumeTiming();
    auto desired = lb::compile_services(snap, node, ips, {});
    auto st = maps.apply(desired);
    if (!st) {
      state.SkipWithError(st.error().str().c_str());
      return;
    }
    state.counters["map_writes"] = double(st->map_writes);
    state.counters["maglev_tables"] = double(st->maglev_tables_written);
    state.PauseTiming();
    dp->reset();
    state.ResumeTiming();
  }
}
void BM_ProgramClusterIpServices(benchmark::State& s) {
  program_services(s, "ClusterIP");
}
void BM_ProgramLoadBalancerServices(benchmark::State& s) {
  program_services(s, "LoadBalancer");
}
BENCHMARK(BM_ProgramClusterIpServices)->Arg(10000)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_ProgramLoadBalancerServices)->Arg(10000)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_CompileServices(benchmark::State& state) {
  auto snap = parse(manifests(uint32_t(state.range(0)), "LoadBalancer"));
  auto ips = lb_ips(snap);
  lb::NodeView node{"node-a", {*Ipv4Addr::parse("10.25.11.11")}};
  for (auto _ : state)
    benchmark::DoNotOptimize(lb::compile_services(snap, node, ips, {}));
}
BENCHMARK(BM_CompileServices)->Arg(10000)->Unit(benchmark::kMillisecond);

// One endpoint of one service changes among 10,000 LoadBalancer services: detect the change
// (object digests, as the manifest source sets them), compile that service and apply its diff
// (the service's Maglev table is rewritten in place).
void BM_ApplyOneEndpointChange(benchmark::State& state) {
  if (geteuid() != 0) {
    state.SkipWithError("needs root");
    return;
  }
  auto snap = parse(manifests(10000, "LoadBalancer"));
  uint64_t digest = 1;
  for (auto& s : snap.services)
    s.source.digest = digest += 2;
  for (auto& es : snap.endpoint_slices)
    es.source.digest = digest += 2;
  auto ips = lb_ips(snap);
  lb::NodeView node{"node-a", {*Ipv4Addr::parse("10.25.11.11")}};
  lb::LbDatapathOptions o;
  o.seed = *lb::MaglevSeed::parse(lb::kMaglevDefaultSeed);
  auto dp = lb::LbDatapath::load(o);
  lb::ServiceMaps maps(**dp);
  lb::ServiceChanges changes;
  // As the agent gives them: built on a full compile, otherwise known unchanged by generation.
  lb::LoadBalancerIpsSource ips_source{1, [&] { return ips; }};
  changes.update(snap, node, ips_source, {}, nullptr, 1);
  (void)maps.apply(changes.current());
  auto& es = snap.endpoint_slices[5000];
  // A new pod address every time (as pods come and go): the replaced backend is retired and
  // removed by a later change once its grace has passed, as in the agent.
  uint32_t pod = 0;
  using Clock = std::chrono::steady_clock;
  Clock::duration detect{}, apply{};
  for (auto _ : state) {
    es.endpoints[3].addresses[0] = nth("10.200.0.0", ++pod);
    es.source.digest = digest += 2;
    const auto t0 = Clock::now();
    auto c = changes.update(snap, node, ips_source, {}, nullptr, 1);
    const auto t1 = Clock::now();
    auto st = maps.apply_changes(c.services, c.backends);
    apply += Clock::now() - t1;
    detect += t1 - t0;
    if (!st || st->backends_added != 1 || c.compiled != 1) {
      state.SkipWithError("the change was not applied as one backend of one service");
      return;
    }
  }
  // Where the time goes: finding and compiling the changed service, and writing the maps.
  const double n = double(state.iterations());
  state.counters["detect_us"] = std::chrono::duration<double, std::micro>(detect).count() / n;
  state.counters["apply_us"] = std::chrono::duration<double, std::micro>(apply).count() / n;
}
BENCHMARK(BM_ApplyOneEndpointChange)->Unit(benchmark::kMicrosecond);

// The drift check (ServiceMaps::verify) on maps that hold what the mirror says: reading every
// entry of the services, backends and rev-NAT maps and every Maglev table, and comparing. 6,000
// ClusterIP services x 10 backends fill lb4_services with 66,000 entries (and 60,000 backends);
// 1,000 LoadBalancer services add their Maglev tables (M = 16381, 64 KiB each).
void verify_services(benchmark::State& state, const char* type) {
  if (geteuid() != 0) {
    state.SkipWithError("needs root");
    return;
  }
  auto snap = parse(manifests(uint32_t(state.range(0)), type));
  auto ips = lb_ips(snap);
  lb::NodeView node{"node-a", {*Ipv4Addr::parse("10.25.11.11")}};
  lb::LbDatapathOptions o;
  o.seed = *lb::MaglevSeed::parse(lb::kMaglevDefaultSeed);
  auto dp = lb::LbDatapath::load(o);
  lb::ServiceMaps maps(**dp);
  if (auto st = maps.apply(lb::compile_services(snap, node, ips, {})); !st) {
    state.SkipWithError(st.error().str().c_str());
    return;
  }
  for (auto _ : state) {
    auto v = maps.verify();
    if (!v || v->repaired() != 0) {
      state.SkipWithError("the check failed or found drift in maps nobody touched");
      return;
    }
    state.counters["entries_checked"] = double(v->checked);
  }
  state.counters["tables"] = double(maps.maglev_tables());
}
void BM_VerifyClusterIpServices(benchmark::State& s) {
  verify_services(s, "ClusterIP");
}
void BM_VerifyLoadBalancerServices(benchmark::State& s) {
  verify_services(s, "LoadBalancer");
}
BENCHMARK(BM_VerifyClusterIpServices)->Arg(6000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_VerifyLoadBalancerServices)->Arg(1000)->Unit(benchmark::kMillisecond);

void BM_MaglevBuild(benchmark::State& state) {
  const uint32_t m = uint32_t(state.range(0));
  const uint32_t n = uint32_t(state.range(1));
  std::vector<lb::MaglevBackend> backends;
  for (uint32_t i = 0; i < n; ++i)
    backends.push_back({nth("10.1.0.0", i).str() + ":80/TCP", i + 1});
  auto seed = *lb::MaglevSeed::parse(lb::kMaglevDefaultSeed);
  for (auto _ : state)
    benchmark::DoNotOptimize(lb::build_maglev_table(backends, m, seed));
}
BENCHMARK(BM_MaglevBuild)->Args({16381, 100})->Args({65521, 1000})->Unit(benchmark::kMicrosecond);

}  // namespace
