// Manifest source: time from a tree on disk to a complete k8s::Snapshot.
//
// The tree is what a large GitOps repository looks like: N services, each in its own file with its
// EndpointSlice (10 ready endpoints), spread over 100 namespace directories, plus a
// cluster-settings ConfigMap and variables in every service (so substitution is on the path).
//   BM_SourceLoadCold        a fresh loader: list, read, parse, substitute, decode, build
//   BM_SourceReloadOneEdit   the watcher's path after one file changed: the rest comes from the
//                            parse cache, the snapshot is still built whole
//   BM_SourceReloadUnchanged a reload that finds every file as it was (no snapshot delivered)
//   BM_SourceLoadKustomized  the same tree with a kustomization.yaml in every namespace directory
//                            (resources listed, namespace and commonLabels): the kustomize path
//   BM_SourceReloadKustomizedUnchanged  a reload of it that finds nothing changed
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include "netagent/source/manifest_loader.hpp"

namespace {

namespace fs = std::filesystem;
using netagent::source::ManifestLoader;

std::string service_file(int i, int port) {
  std::string ns = "ns" + std::to_string(i % 100);
  std::string name = "svc" + std::to_string(i);
  std::string cip = "10.96." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
  std::string out =
      "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + name + "\n  namespace: " + ns +
      "\n  labels:\n    app: " + name +
      "\n    cluster: ${CLUSTER}\nspec:\n  type: ClusterIP\n  clusterIP: " + cip +
      "\n  selector:\n    app: " + name +
      "\n  ports:\n  - name: http\n    port: " + std::to_string(port) +
      "\n    protocol: TCP\n    targetPort: 8080\n---\n" +
      "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: " + name +
      "-abcde\n  namespace: " + ns + "\n  labels:\n    kubernetes.io/service-name: " + name +
      "\naddressType: IPv4\nendpoints:\n";
  for (int e = 0; e < 10; ++e) {
    int n = i * 10 + e;
    out += "- addresses:\n  - 10." + std::to_string(1 + n / 65536) + "." +
           std::to_string((n / 256) % 256) + "." + std::to_string(n % 256) +
           "\n  conditions:\n    ready: true\n  nodeName: node-" + std::to_string(e % 4) + "\n";
  }
  out += "ports:\n- name: http\n  port: 8080\n  protocol: TCP\n";
  return out;
}

// Trees are generated once per size and removed at exit.
class GeneratedTrees {
 public:
  ~GeneratedTrees() {
    for (auto& [n, dir] : dirs_) {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  }
  const std::string& get(int services, bool kustomized = false) {
    int key = kustomized ? -services : services;
    auto it = dirs_.find(key);
    if (it != dirs_.end()) return it->second;
    std::string dir = (fs::temp_directory_path() /
                       ("netbench-source-" + std::to_string(getpid()) + "-" + std::to_string(key)))
                          .string();
    fs::create_directories(dir + "/flux-system");
    std::ofstream(dir + "/flux-system/cluster-settings.yaml")
        << "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cluster-settings\n"
           "  namespace: flux-system\ndata:\n  CLUSTER: infra\n";
    for (int i = 0; i < services; ++i) {
      std::string sub = dir + "/ns" + std::to_string(i % 100);
      if (i < 100) fs::create_directories(sub);
      std::ofstream(sub + "/svc" + std::to_string(i) + ".yaml") << service_file(i, 80);
    }
    for (int n = 0; kustomized && n < 100 && n < services; ++n) {
      std::string sub = dir + "/ns" + std::to_string(n);
      std::ofstream k(sub + "/kustomization.yaml");
      k << "namespace: ns" << n << "\ncommonLabels:\n  team: t" << n << "\nresources:\n";
      for (int i = n; i < services; i += 100)
        k << "- svc" << i << ".yaml\n";
    }
    return dirs_.emplace(key, dir).first->second;
  }

 private:
  std::map<int, std::string> dirs_;
};

GeneratedTrees& trees() {
  static GeneratedTrees t;
  return t;
}

void report(benchmark::State& state, const netagent::source::TreeLoad& r) {
  if (!r.ok()) {
    state.SkipWithError(r.errors.empty() ? "load failed" : r.errors[0].str().c_str());
    return;
  }
  state.counters["objects"] = double(r.stats.objects);
  state.counters["files"] = double(r.stats.files);
}

void BM_SourceLoadCold(benchmark::State& state) {
  const auto& dir = trees().get(int(state.range(0)));
  for (auto _ : state) {
    ManifestLoader loader;
    auto r = loader.load(dir);
    benchmark::DoNotOptimize(r.snapshot);
    state.PauseTiming();
    report(state, r);
    r = {};  // freeing the snapshot is not part of the load
    state.ResumeTiming();
  }
}
BENCHMARK(BM_SourceLoadCold)
    ->Arg(1000)
    ->Arg(10000)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3)
    ->MeasureProcessCPUTime()
    ->UseRealTime();

void BM_SourceReloadOneEdit(benchmark::State& state) {
  const auto& dir = trees().get(int(state.range(0)));
  ManifestLoader loader;
  auto first = loader.load(dir);
  report(state, first);
  std::string edited = dir + "/ns7/svc7.yaml";
  int port = 80;
  for (auto _ : state) {
    state.PauseTiming();
    port = port == 80 ? 81 : 80;
    std::ofstream(edited) << service_file(7, port);
    state.ResumeTiming();
    auto r = loader.load(dir);
    benchmark::DoNotOptimize(r.snapshot);
    state.PauseTiming();
    report(state, r);
    state.counters["parsed"] = double(r.stats.files_parsed);
    r = {};
    state.ResumeTiming();
  }
  std::ofstream(edited) << service_file(7, 80);
}
BENCHMARK(BM_SourceReloadOneEdit)
    ->Arg(10000)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(5)
    ->MeasureProcessCPUTime()
    ->UseRealTime();

void BM_SourceReloadUnchanged(benchmark::State& state) {
  const auto& dir = trees().get(int(state.range(0)));
  ManifestLoader loader;
  report(state, loader.load(dir));
  for (auto _ : state) {
    auto r = loader.load(dir);
    benchmark::DoNotOptimize(r.unchanged);
  }
}
BENCHMARK(BM_SourceReloadUnchanged)->Arg(10000)->Unit(benchmark::kMillisecond)->Iterations(5);

void BM_SourceLoadKustomized(benchmark::State& state) {
  const auto& dir = trees().get(int(state.range(0)), true);
  for (auto _ : state) {
    ManifestLoader loader;
    auto r = loader.load(dir);
    benchmark::DoNotOptimize(r.snapshot);
    state.PauseTiming();
    report(state, r);
    state.counters["kustomizations"] = double(r.stats.kustomizations);
    r = {};
    state.ResumeTiming();
  }
}
BENCHMARK(BM_SourceLoadKustomized)
    ->Arg(10000)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3)
    ->MeasureProcessCPUTime()
    ->UseRealTime();

void BM_SourceReloadKustomizedUnchanged(benchmark::State& state) {
  const auto& dir = trees().get(int(state.range(0)), true);
  ManifestLoader loader;
  report(state, loader.load(dir));
  for (auto _ : state) {
    auto r = loader.load(dir);
    benchmark::DoNotOptimize(r.unchanged);
  }
}
BENCHMARK(BM_SourceReloadKustomizedUnchanged)
    ->Arg(10000)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(5);

}  // namespace
