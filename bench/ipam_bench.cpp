// LB IPAM allocation cost: 10,000 LoadBalancer services over two pools, as a fresh node, as a
// restarting node (every address kept from the persisted state) and as a node seeing one new
// service. The "canonical" variants also compute the allocation of a node without history, as the
// agent does to flag services whose address depends on history.
#include <benchmark/benchmark.h>

#include "netagent/ipam/allocation.hpp"
#include "netagent/k8s/decode.hpp"

namespace {

using namespace netagent;

std::vector<ipam::Pool> bench_pools() {
  std::vector<ipam::Pool> out;
  for (const char* spec : {"{name: pool-a}\nspec: {blocks: [{cidr: 10.64.0.0/19}]}",
                           "{name: pool-b}\nspec: {blocks: [{cidr: 10.64.32.0/19}]}"}) {
    auto doc = YAML::Load(std::string("apiVersion: cilium.io/v2\nkind: CiliumLoadBalancerIPPool\n"
                                      "metadata: ") +
                          spec + "\n");
    out.push_back(ipam::decode_pool(k8s::read_object(doc, {"bench.yaml", 0})));
  }
  return out;
}

std::vector<k8s::Service> bench_services(int n) {
  std::vector<k8s::Service> out;
  out.reserve(n);
  for (int i = 0; i < n; ++i) {
    k8s::Service s;
    s.meta.ns = "ns-" + std::to_string(i % 50);
    s.meta.name = "svc-" + std::to_string(i);
    s.type = "LoadBalancer";
    s.ports.push_back({"http", k8s::Protocol::TCP, 80, {80, ""}, 0});
    // One in 20 services shares an address with a neighbour, one in 50 requests its address.
    if (i % 20 < 2)
      s.meta.annotations[ipam::kSharingKeyAnnotation] = "key-" + std::to_string(i / 20);
    if (i % 20 == 1) s.ports[0].port = 443;
    if (i % 50 == 7) {
      s.meta.annotations[ipam::kIpsAnnotation] = Ipv4Addr{0x0a404000u + uint32_t(i)}.str();
    }
    out.push_back(std::move(s));
  }
  return out;
}

void BM_IpamAllocateFresh(benchmark::State& state) {
  auto pools = bench_pools();
  auto services = bench_services(int(state.range(0)));
  ipam::AllocateOptions opts;
  opts.compute_canonical = state.range(1) != 0;
  for (auto _ : state) {
    auto a = ipam::allocate(pools, services, {}, opts);
    benchmark::DoNotOptimize(a);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_IpamAllocateFresh)
    ->ArgNames({"services", "canonical"})
    ->Args({1000, 0})
    ->Args({10000, 0})
    ->Args({10000, 1})
    ->Unit(benchmark::kMillisecond);

void BM_IpamAllocateRestart(benchmark::State& state) {
  auto pools = bench_pools();
  auto services = bench_services(int(state.range(0)));
  auto previous = ipam::allocate(pools, services, {}).state();
  ipam::AllocateOptions opts;
  opts.compute_canonical = state.range(1) != 0;
  for (auto _ : state) {
    auto a = ipam::allocate(pools, services, previous, opts);
    benchmark::DoNotOptimize(a);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_IpamAllocateRestart)
    ->ArgNames({"services", "canonical"})
    ->Args({10000, 0})
    ->Args({10000, 1})
    ->Unit(benchmark::kMillisecond);

void BM_IpamAllocateOneNewService(benchmark::State& state) {
  auto pools = bench_pools();
  auto services = bench_services(int(state.range(0)));
  auto previous = ipam::allocate(pools, services, {}).state();
  k8s::Service extra = services.front();
  extra.meta.name = "newcomer";
  extra.meta.annotations.clear();
  services.push_back(extra);
  ipam::AllocateOptions opts;
  opts.compute_canonical = false;
  for (auto _ : state) {
    auto a = ipam::allocate(pools, services, previous, opts);
    benchmark::DoNotOptimize(a);
  }
}
BENCHMARK(BM_IpamAllocateOneNewService)
    ->ArgNames({"services"})
    ->Arg(10000)
    ->Unit(benchmark::kMillisecond);

}  // namespace
