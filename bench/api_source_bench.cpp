// The Kubernetes API source without the network: from the JSON the API server sends to a
// complete k8s::Snapshot, for the same cluster as source_bench.cpp's tree (N services, each with
// one EndpointSlice of 10 ready endpoints, over 100 namespaces), so the two read as a ratio in one
// run.
//   BM_ApiSourceInitialList  the list bodies (one per kind, as one JSON text each) parsed, every
//                            object converted and decoded, and the snapshot built: the source's
//                            part of "initial list to programmed maps"
//   BM_ApiSourceOneEvent     one EndpointSlice MODIFIED event (its endpoints changed) applied to
//                            the cache and the snapshot built again: the source's part of "watch
//                            event to map write"
//   BM_ApiSourceNoOpEvent    a MODIFIED event whose content did not change (a resourceVersion-only
//                            write): digest compared, nothing decoded or built
#include <benchmark/benchmark.h>

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

#include "netagent/source/api_source.hpp"

namespace {

using json = nlohmann::json;
using netagent::kubeapi::WatchEvent;
using netagent::source::ApiObjectCache;

json service(int i) {
  std::string name = "svc" + std::to_string(i);
  std::string cip = "10.96." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata",
           {{"name", name},
            {"namespace", "ns" + std::to_string(i % 100)},
            {"resourceVersion", std::to_string(1000 + i)},
            {"uid", "6b0f1a2c-0000-4000-8000-" + std::to_string(100000000000 + i)},
            {"labels", {{"app", name}, {"cluster", "infra"}}}}},
          {"spec",
           {{"type", "ClusterIP"},
            {"clusterIP", cip},
            {"clusterIPs", json::array({cip})},
            {"selector", {{"app", name}}},
            {"ports",
             json::array(
                 {{{"name", "http"}, {"port", 80}, {"protocol", "TCP"}, {"targetPort", 8080}}})}}},
          {"status", {{"loadBalancer", json::object()}}}};
}

json slice(int i, int generation = 0) {
  std::string name = "svc" + std::to_string(i);
  json endpoints = json::array();
  for (int e = 0; e < 10; ++e) {
    int n = i * 10 + e + generation;
    endpoints.push_back(
        {{"addresses",
          json::array({"10." + std::to_string(1 + n / 65536) + "." +
                       std::to_string((n / 256) % 256) + "." + std::to_string(n % 256)})},
         {"conditions", {{"ready", true}, {"serving", true}, {"terminating", false}}},
         {"nodeName", "node-" + std::to_string(e % 4)},
         {"targetRef", {{"kind", "Pod"}, {"name", name + "-" + std::to_string(e)}}}});
  }
  return {{"apiVersion", "discovery.k8s.io/v1"},
          {"kind", "EndpointSlice"},
          {"metadata",
           {{"name", name + "-abcde"},
            {"namespace", "ns" + std::to_string(i % 100)},
            {"resourceVersion", std::to_string(50000 + i + generation)},
            {"labels", {{"kubernetes.io/service-name", name}}}}},
          {"addressType", "IPv4"},
          {"endpoints", endpoints},
          {"ports", json::array({{{"name", "http"}, {"port", 8080}, {"protocol", "TCP"}}})}};
}

// The two list bodies as the server sends them.
struct Lists {
  std::string services, slices;
};

const Lists& lists(int n) {
  static std::map<int, Lists> cache;
  auto it = cache.find(n);
  if (it != cache.end()) return it->second;
  json s = {{"kind", "ServiceList"}, {"apiVersion", "v1"}, {"items", json::array()}};
  json e = {{"kind", "EndpointSliceList"},
            {"apiVersion", "discovery.k8s.io/v1"},
            {"items", json::array()}};
  for (int i = 0; i < n; ++i) {
    s["items"].push_back(service(i));
    e["items"].push_back(slice(i));
  }
  return cache.emplace(n, Lists{s.dump(), e.dump()}).first->second;
}

std::vector<json> items_of(const std::string& body) {
  json list = json::parse(body);
  return std::move(list["items"].get_ref<json::array_t&>());
}

void BM_ApiSourceInitialList(benchmark::State& state) {
  const Lists& l = lists(int(state.range(0)));
  for (auto _ : state) {
    ApiObjectCache cache(nullptr);
    cache.replace("Service", "api services", items_of(l.services));
    cache.replace("EndpointSlice", "api endpointslices", items_of(l.slices));
    auto snap = cache.build();
    benchmark::DoNotOptimize(snap);
    state.PauseTiming();
    if (snap->services.size() != size_t(state.range(0))) state.SkipWithError("services missing");
    snap.reset();
    state.ResumeTiming();
  }
}
BENCHMARK(BM_ApiSourceInitialList)
    ->Arg(1000)
    ->Arg(10000)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3)
    ->MeasureProcessCPUTime()
    ->UseRealTime();

void BM_ApiSourceOneEvent(benchmark::State& state) {
  const int n = int(state.range(0));
  const Lists& l = lists(n);
  ApiObjectCache cache(nullptr);
  cache.replace("Service", "api services", items_of(l.services));
  cache.replace("EndpointSlice", "api endpointslices", items_of(l.slices));
  int generation = 0;
  for (auto _ : state) {
    ++generation;
    cache.apply("EndpointSlice", "api endpointslices", WatchEvent::Type::Modified,
                slice(generation % n, generation));
    auto snap = cache.build();
    benchmark::DoNotOptimize(snap);
  }
}
BENCHMARK(BM_ApiSourceOneEvent)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_ApiSourceNoOpEvent(benchmark::State& state) {
  const int n = int(state.range(0));
  ApiObjectCache cache(nullptr);
  cache.replace("EndpointSlice", "api endpointslices", items_of(lists(n).slices));
  json same = slice(7);
  for (auto _ : state) {
    same["metadata"]["resourceVersion"] = std::to_string(state.iterations());
    benchmark::DoNotOptimize(
        cache.apply("EndpointSlice", "api endpointslices", WatchEvent::Type::Modified, same));
  }
}
BENCHMARK(BM_ApiSourceNoOpEvent)->Arg(10000)->Unit(benchmark::kMicrosecond);

}  // namespace
