// BGP control-plane compile cost for 10,000 LoadBalancer services (a tenth with
// externalTrafficPolicy Local, half of those with a ready local endpoint), with the legacy
// CiliumBGPPeeringPolicy and with the newer ClusterConfig/PeerConfig/Advertisement API, each with
// path attributes to merge. The LB IPAM allocation is computed once, outside the loop.
#include <benchmark/benchmark.h>

#include "netagent/bgp/control/compile.hpp"
#include "netagent/ipam/allocation.hpp"
#include "netagent/testing/manifests.hpp"

namespace {

using namespace netagent;

k8s::Snapshot bench_snapshot(int services, bool new_api) {
  k8s::KindRegistry reg;
  ipam::register_kinds(reg);
  bgp::control::register_kinds(reg);
  std::string yaml;
  auto add = [&](const std::string& doc) { yaml += doc + "---\n"; };
  add(R"(
apiVersion: v1
kind: Node
metadata: {name: node-1, labels: {bgp: "on"}}
status: {addresses: [{type: InternalIP, address: 10.25.11.11}]}
spec: {podCIDR: 10.244.1.0/24}
)");
  add(R"(
apiVersion: cilium.io/v2
kind: CiliumLoadBalancerIPPool
metadata: {name: pool, labels: {cluster: infra}}
spec: {blocks: [{cidr: 10.64.0.0/17}]}
)");
  if (new_api) {
    add(R"(
apiVersion: cilium.io/v2
kind: CiliumBGPClusterConfig
metadata: {name: cc}
spec:
  nodeSelector: {matchLabels: {bgp: "on"}}
  bgpInstances:
  - name: main
    localASN: 64512
    peers: [{name: srx, peerAddress: 10.25.11.1, peerASN: 64501, peerConfigRef: {name: pc}}]
)");
    add(R"(
apiVersion: cilium.io/v2
kind: CiliumBGPPeerConfig
metadata: {name: pc}
spec:
  families: [{afi: ipv4, safi: unicast, advertisements: {matchLabels: {advertise: bgp}}}]
)");
    add(R"(
apiVersion: cilium.io/v2
kind: CiliumBGPAdvertisement
metadata: {name: all, labels: {advertise: bgp}}
spec:
  advertisements:
  - advertisementType: Service
    service: {addresses: [LoadBalancerIP]}
    selector: {matchExpressions: [{key: somekey, operator: NotIn, values: [never-used-value]}]}
    attributes: {communities: {standard: ["64512:100"]}}
  - advertisementType: Service
    service: {addresses: [LoadBalancerIP]}
    selector: {matchLabels: {tier: gold}}
    attributes: {communities: {large: ["64512:1:1"]}, localPreference: 200}
  - advertisementType: PodCIDR
)");
  } else {
    add(R"(
apiVersion: cilium.io/v2alpha1
kind: CiliumBGPPeeringPolicy
metadata: {name: infra}
spec:
  nodeSelector: {matchLabels: {bgp: "on"}}
  virtualRouters:
  - localASN: 64512
    exportPodCIDR: true
    serviceSelector: {}
    neighbors:
    - peerAddress: 10.25.11.1/32
      peerASN: 64501
      advertisedPathAttributes:
      - selectorType: CiliumLoadBalancerIPPool
        selector: {matchLabels: {cluster: infra}}
        communities: {standard: ["64512:100"], wellKnown: [no-export]}
)");
  }
  for (int i = 0; i < services; ++i) {
    std::string name = "svc-" + std::to_string(i);
    std::string ns = "ns-" + std::to_string(i % 50);
    std::string labels = i % 4 == 0 ? "{tier: gold}" : "{}";
    std::string etp = i % 10 == 0 ? "  externalTrafficPolicy: Local\n  selector: {app: x}\n" : "";
    add("apiVersion: v1\nkind: Service\nmetadata: {name: " + name + ", namespace: " + ns +
        ", labels: " + labels + "}\nspec:\n  type: LoadBalancer\n" + etp +
        "  ports: [{port: 80}]\n");
  }
  return netagent::testing::snapshot_from_yaml(yaml, {.registry = &reg}, "bench.yaml");
}

void run(benchmark::State& state, bool new_api) {
  const int n = int(state.range(0));
  auto snap = bench_snapshot(n, new_api);
  auto lb = ipam::allocate(snap, {});
  std::set<std::string> ready;
  for (int i = 0; i < n; i += 20)
    ready.insert("ns-" + std::to_string(i % 50) + "/svc-" + std::to_string(i));
  auto node = bgp::control::local_node(snap, "node-1");
  size_t routes = 0;
  for (auto _ : state) {
    auto d = bgp::control::compile(snap, node, lb, ready);
    routes = d.instances.at(0).peers.at(0).routes.size();
    benchmark::DoNotOptimize(d);
  }
  state.counters["routes"] = double(routes);
  state.SetItemsProcessed(state.iterations() * n);
}

void BM_BgpCompilePeeringPolicy(benchmark::State& state) {
  run(state, false);
}
BENCHMARK(BM_BgpCompilePeeringPolicy)
    ->ArgName("services")
    ->Arg(1000)
    ->Arg(10000)
    ->Unit(benchmark::kMillisecond);

void BM_BgpCompileClusterConfig(benchmark::State& state) {
  run(state, true);
}
BENCHMARK(BM_BgpCompileClusterConfig)
    ->ArgName("services")
    ->Arg(1000)
    ->Arg(10000)
    ->Unit(benchmark::kMillisecond);

void BM_BgpReadyLocalServices(benchmark::State& state) {
  // The helper that finds services with ready endpoints on this node, over 10,000 slices.
  k8s::Snapshot snap;
  for (int i = 0; i < 10000; ++i) {
    k8s::EndpointSlice es;
    es.meta.ns = "ns-" + std::to_string(i % 50);
    es.meta.name = "svc-" + std::to_string(i) + "-abc";
    es.service_name = "svc-" + std::to_string(i);
    for (int e = 0; e < 3; ++e) {
      k8s::Endpoint ep;
      ep.addresses = {*IpAddress::parse("10.244.0.1")};
      ep.node_name = "node-" + std::to_string((i + e) % 10);
      es.endpoints.push_back(ep);
    }
    snap.endpoint_slices.push_back(std::move(es));
  }
  for (auto _ : state)
    benchmark::DoNotOptimize(bgp::control::ready_local_services(snap, "node-1"));
}
BENCHMARK(BM_BgpReadyLocalServices)->Unit(benchmark::kMillisecond);

}  // namespace
