// ClusterMesh: how fast one cluster's state reaches another through etcd, and what the pieces
// cost on their own.
//
// End to end (needs root and Debian's etcd): two etcd servers with mutual TLS on loopback
// addresses inside a network namespace the benchmark creates; cluster "infra" publishes into
// its etcd, cluster "apps" watches it.
//   BM_MeshInitialSync: time from publish() of 10,000 endpoints, 1,000 identities, 1,000 global
//     services (10 backends each) and 100 nodes until apps' store holds all of it in memory.
//   BM_MeshEndpointChangeLatency: one endpoint's identity changes in that state; time from
//     publish() (of the whole state, as the agent does) until apps' change callback reports it.
//     p50/p99 are reported as counters (ms).
// Pure parts (no etcd): encoding the local state, planning a one-key diff, a full resync of the
// remote state, merging a global service.
// Knobs for exploring (not needed for the standard run): MESH_BENCH_OPS=<n> starts etcd with
// --max-txn-ops n and batches n operations per transaction; MESH_BENCH_PARALLEL=<n> keeps n
// transactions in flight.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "netagent/mesh/cluster_mesh.hpp"
#include "netagent/mesh/kvstore.hpp"
#include "netagent/mesh/merge.hpp"
#include "netagent/mesh/publish_plan.hpp"
#include "netagent/mesh/remote_state.hpp"

namespace {

using namespace netagent;
using namespace netagent::mesh;
using namespace std::chrono_literals;

constexpr int kEndpoints = 10000;
constexpr int kServices = 1000;
constexpr int kIdentities = 1000;
constexpr int kNodes = 100;

std::string ip4(uint32_t base, uint32_t i) {
  return Ipv4Addr{base + i}.str();
}

LocalState big_state() {
  LocalState s;
  const uint32_t pods = Ipv4Addr::parse("10.1.0.0")->value;
  for (int n = 0; n < kNodes; ++n) {
    s.nodes.push_back({"infra-" + std::to_string(n),
                       "",
                       0,
                       {{"InternalIP", ip4(Ipv4Addr::parse("10.25.0.0")->value, n + 1)}},
                       {ip4(pods, uint32_t(n) * 256) + "/24"},
                       {}});
  }
  for (int i = 0; i < kIdentities; ++i) {
    s.identities.push_back(
        {uint32_t(256 + i),
         {"k8s:app=app" + std::to_string(i), "k8s:io.kubernetes.pod.namespace=bench"}});
  }
  for (int e = 0; e < kEndpoints; ++e) {
    int node = e % kNodes;
    s.endpoints.push_back({ip4(pods, uint32_t(node) * 256 + 1 + uint32_t(e / kNodes)),
                           uint32_t(256 + e % kIdentities), s.nodes[node].addresses[0].ip,
                           s.nodes[node].name, "bench", "pod-" + std::to_string(e)});
  }
  for (int v = 0; v < kServices; ++v) {
    ServiceRecord svc;
    svc.ns = "bench";
    svc.name = "svc" + std::to_string(v);
    svc.frontends[ip4(Ipv4Addr::parse("10.96.0.0")->value, v + 1)] = {{"http", {"TCP", 80}}};
    for (int b = 0; b < 10; ++b) {
      svc.backends[s.endpoints[(v * 10 + b) % kEndpoints].ip] = {{"http", {"TCP", 8080}}};
    }
    s.services.push_back(std::move(svc));
  }
  return s;
}

// ---- the etcd environment (created once, removed at exit) ----

int sh(const std::string& cmd) {
  return std::system((cmd + " >/dev/null 2>&1").c_str());
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class EnterNs {
 public:
  explicit EnterNs(const std::string& ns) {
    saved_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    int fd = open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    ok_ = saved_ >= 0 && fd >= 0 && setns(fd, CLONE_NEWNET) == 0;
    if (fd >= 0) close(fd);
  }
  ~EnterNs() {
    if (saved_ >= 0) {
      if (setns(saved_, CLONE_NEWNET) != 0) std::abort();
      close(saved_);
    }
  }
  bool ok() const { return ok_; }

 private:
  int saved_ = -1;
  bool ok_ = false;
};

struct EtcdPair {
  std::string ns = "meshbench-" + std::to_string(getpid());
  std::string dir;
  std::vector<pid_t> pids;
  std::string error;

  EtcdPair() {
    if (geteuid() != 0) {
      error = "needs root (network namespace)";
      return;
    }
    if (sh("command -v etcd") != 0 || sh("command -v openssl") != 0) {
      error = "needs etcd and openssl";
      return;
    }
    char tmpl[] = "/dev/shm/netagent-meshbench-XXXXXX";
    if (!mkdtemp(tmpl)) {
      error = "mkdtemp";
      return;
    }
    dir = tmpl;
    if (sh("ip netns add " + ns) != 0 || sh("ip -n " + ns + " link set lo up") != 0) {
      error = "cannot create network namespace";
      return;
    }
    const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    std::string pki = "cd " + dir + " && openssl req -x509 " + ec +
                      " -keyout ca.key -out ca.crt -days 2 -subj /CN=ca";
    for (const char* name : {"infra", "apps"}) {
      std::string n = name;
      std::string ip = n == "infra" ? "127.0.0.11" : "127.0.0.12";
      pki += " && printf 'subjectAltName=IP:" + ip +
             "\\nextendedKeyUsage=serverAuth,clientAuth\\n' > " + n + ".ext && openssl req " + ec +
             " -keyout " + n + ".key -out " + n + ".csr -subj /CN=" + n +
             " && openssl x509 -req -in " + n +
             ".csr -CA ca.crt -CAkey ca.key -CAcreateserial -out " + n + ".crt -days 2 -extfile " +
             n + ".ext";
    }
    if (sh(pki) != 0) {
      error = "openssl failed";
      return;
    }
    for (const char* name : {"infra", "apps"})
      start_etcd(name);
  }

  void start_etcd(const std::string& n) {
    std::string ip = n == "infra" ? "127.0.0.11" : "127.0.0.12";
    std::string url = "https://" + ip + ":2379", peer = "http://" + ip + ":2380";
    std::vector<std::string> argv = {"nsenter",
                                     "--net=/run/netns/" + ns,
                                     "etcd",
                                     "--name",
                                     n,
                                     "--data-dir",
                                     dir + "/" + n + ".data",
                                     "--listen-client-urls",
                                     url,
                                     "--advertise-client-urls",
                                     url,
                                     "--listen-peer-urls",
                                     peer,
                                     "--initial-advertise-peer-urls",
                                     peer,
                                     "--initial-cluster",
                                     n + "=" + peer,
                                     "--log-level",
                                     "error",
                                     "--cert-file",
                                     dir + "/" + n + ".crt",
                                     "--key-file",
                                     dir + "/" + n + ".key",
                                     "--trusted-ca-file",
                                     dir + "/ca.crt",
                                     "--client-cert-auth"};
    if (const char* p = std::getenv("MESH_BENCH_OPS")) {
      argv.push_back("--max-txn-ops");
      argv.push_back(p);
    }
    pid_t pid = fork();
    if (pid == 0) {
      int fd = open((dir + "/" + n + ".log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      std::vector<char*> args;
      for (auto& a : argv)
        args.push_back(a.data());
      args.push_back(nullptr);
      execvp(args[0], args.data());
      _exit(127);
    }
    pids.push_back(pid);
  }

  ~EtcdPair() {
    for (pid_t p : pids) {
      kill(p, SIGKILL);
      waitpid(p, nullptr, 0);
    }
    if (!dir.empty()) sh("rm -rf " + dir);
    sh("ip netns del " + ns);
  }

  etcd::EtcdConfig config(const std::string& cluster) const {
    etcd::EtcdConfig c;
    c.name = "etcd of cluster " + cluster;
    c.endpoints = {std::string("https://") + (cluster == "infra" ? "127.0.0.11" : "127.0.0.12") +
                   ":2379"};
    c.tls = etcd::TlsMaterial{slurp(dir + "/ca.crt"), slurp(dir + "/" + cluster + ".crt"),
                              slurp(dir + "/" + cluster + ".key")};
    return c;
  }
};

// CPU time (ms) the etcd servers used so far, from /proc/<pid>/stat (utime + stime).
double etcd_cpu_ms(const std::vector<pid_t>& pids) {
  double total = 0;
  for (pid_t p : pids) {
    std::ifstream f("/proc/" + std::to_string(p) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    std::string field;
    std::vector<std::string> fields;
    while (rest >> field)
      fields.push_back(field);
    if (fields.size() > 12) total += double(std::stoull(fields[11]) + std::stoull(fields[12]));
  }
  return total * 1000.0 / double(sysconf(_SC_CLK_TCK));
}

EtcdPair& env() {
  static EtcdPair pair;
  return pair;
}

void run_until(boost::asio::io_context& io, const std::function<bool()>& cond,
               std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!cond() && std::chrono::steady_clock::now() < deadline) {
    io.run_one_for(5ms);
    if (io.stopped()) io.restart();
  }
}

// Two meshes on one io_context: infra publishes, apps watches infra.
struct Meshes {
  boost::asio::io_context io;
  std::unique_ptr<ClusterMesh> infra, apps;
  std::function<void(const StateChanges&)> on_apps_change;
  std::string error;

  Meshes() {
    EnterNs in(env().ns);
    if (!in.ok()) {
      error = "cannot enter the benchmark namespace";
      return;
    }
    MeshOptions oi;
    oi.local = {"infra", 1};
    oi.pod_cidrs = {*Ipv4Prefix::parse("10.1.0.0/16")};
    oi.local_etcd = env().config("infra");
    oi.publisher.lease_ttl = 30s;
    if (const char* p = std::getenv("MESH_BENCH_PARALLEL"))
      oi.publisher.parallel_txns = std::stoul(p);
    if (const char* p = std::getenv("MESH_BENCH_OPS")) oi.publisher.max_txn_ops = std::stoul(p);
    MeshOptions oa;
    oa.local = {"apps", 2};
    oa.pod_cidrs = {*Ipv4Prefix::parse("10.2.0.0/16")};
    oa.remotes.push_back({"infra", env().config("infra")});
    auto i = ClusterMesh::create(io, oi, {});
    auto a = ClusterMesh::create(io, oa, [this](const StateChanges& c) {
      if (on_apps_change) on_apps_change(c);
    });
    if (!i || !a) {
      error = !i ? i.error().message : a.error().message;
      return;
    }
    infra = std::move(*i);
    apps = std::move(*a);
    infra->start();
    apps->start();
    // Wait for both etcd servers and the watch to be up (an empty publish round trips).
    infra->publish(LocalState{});
    run_until(
        io,
        [&] {
          return infra->status().publisher.synced && apps->status().remotes[0].ready &&
                 apps->status().remotes[0].accepted;
        },
        20s);
    if (!apps->status().remotes[0].accepted) error = "apps never saw infra";
  }

  size_t seen(const char* what) {
    auto v = apps->view();
    const auto* c = v.find("infra");
    if (!c || !c->state) return 0;
    const auto& s = *c->state;
    std::string w = what;
    return w == "ep"    ? s.endpoints.size()
           : w == "svc" ? s.services.size()
           : w == "id"  ? s.identities.size()
                        : s.nodes.size();
  }
  bool has_all() {
    auto v = apps->view();
    const auto* c = v.find("infra");
    return c && c->state && c->state->endpoints.size() == kEndpoints &&
           c->state->services.size() == kServices && c->state->identities.size() == kIdentities &&
           c->state->nodes.size() == kNodes;
  }
  bool has_none() {
    auto v = apps->view();
    const auto* c = v.find("infra");
    return c && c->state && c->state->endpoints.empty() && c->state->services.empty() &&
           c->state->nodes.empty();
  }
};

Meshes* meshes(benchmark::State& state) {
  if (!env().error.empty()) {
    state.SkipWithError(env().error.c_str());
    return nullptr;
  }
  static std::unique_ptr<Meshes> m = std::make_unique<Meshes>();
  if (!m->error.empty()) {
    state.SkipWithError(m->error.c_str());
    return nullptr;
  }
  return m.get();
}

void BM_MeshInitialSync(benchmark::State& state) {
  Meshes* m = meshes(state);
  if (!m) return;
  EnterNs in(env().ns);
  const LocalState full = big_state();
  double publish_s = 0, etcd_ms = 0;
  for (auto _ : state) {
    const double etcd0 = etcd_cpu_ms(env().pids);
    auto t0 = std::chrono::steady_clock::now();
    m->infra->publish(full);
    bool published = false;
    run_until(
        m->io,
        [&] {
          if (!published && m->infra->status().publisher.synced) {
            published = true;
            publish_s +=
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          }
          return m->has_all();
        },
        30s);
    auto dt = std::chrono::steady_clock::now() - t0;
    etcd_ms += etcd_cpu_ms(env().pids) - etcd0;
    if (!m->has_all()) {
      state.SkipWithError("apps did not receive everything within 30 s");
      return;
    }
    state.SetIterationTime(std::chrono::duration<double>(dt).count());
    // Back to empty for the next iteration (not timed).
    m->infra->publish(LocalState{});
    run_until(
        m->io, [&] { return m->has_none() && m->infra->status().publisher.synced; }, 30s);
  }
  const double n = double(state.iterations());
  state.counters["keys"] = double(kEndpoints + kServices + kIdentities + kNodes);
  state.counters["written_ms"] = publish_s * 1000 / n;  // until infra's etcd held everything
  state.counters["etcd_cpu_ms"] = etcd_ms / n;          // both servers, publish to last event
}
BENCHMARK(BM_MeshInitialSync)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_MeshEndpointChangeLatency(benchmark::State& state) {
  Meshes* m = meshes(state);
  if (!m) return;
  EnterNs in(env().ns);
  LocalState s = big_state();
  m->infra->publish(s);
  run_until(
      m->io, [&] { return m->has_all() && m->infra->status().publisher.synced; }, 30s);
  if (!m->has_all()) {
    state.SkipWithError("initial state did not arrive");
    return;
  }
  std::string want_ip;
  bool seen = false;
  m->on_apps_change = [&](const StateChanges& c) {
    for (const auto& e : c.endpoints_upserted)
      seen |= e.ip == want_ip;
  };
  std::vector<double> ms;
  size_t i = 0;
  for (auto _ : state) {
    auto& ep = s.endpoints[(i * 37) % s.endpoints.size()];
    ep.identity = ep.identity == 256 ? 257 : 256;
    want_ip = ep.ip;
    seen = false;
    ++i;
    auto t0 = std::chrono::steady_clock::now();
    m->infra->publish(s);
    run_until(
        m->io, [&] { return seen; }, 5s);
    auto dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!seen) {
      state.SkipWithError("change not seen within 5 s");
      break;
    }
    ms.push_back(dt * 1000);
    state.SetIterationTime(dt);
  }
  m->on_apps_change = {};
  if (!ms.empty()) {
    std::sort(ms.begin(), ms.end());
    state.counters["p50_ms"] = ms[ms.size() / 2];
    state.counters["p99_ms"] = ms[std::min(ms.size() - 1, ms.size() * 99 / 100)];
    state.counters["max_ms"] = ms.back();
  }
}
BENCHMARK(BM_MeshEndpointChangeLatency)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(200);

// ---- pure parts ----

void BM_MeshEncodeLocalState(benchmark::State& state) {
  const LocalState s = big_state();
  for (auto _ : state) {
    auto keys = encode_local_state(s, {"infra", 1}, {*Ipv4Prefix::parse("10.1.0.0/16")});
    benchmark::DoNotOptimize(keys);
  }
}
BENCHMARK(BM_MeshEncodeLocalState)->Unit(benchmark::kMillisecond);

void BM_MeshPlanOneChange(benchmark::State& state) {
  LocalState s = big_state();
  auto desired = encode_local_state(s, {"infra", 1}, {});
  WrittenKeys written;
  for (const auto& [k, v] : desired)
    written[k] = {v, 7};
  s.endpoints[5].identity = 999;
  auto changed = encode_local_state(s, {"infra", 1}, {});
  for (auto _ : state) {
    auto plan = plan_publish(changed, written, 7, 128);
    if (plan.puts != 1) state.SkipWithError("expected one put");
    benchmark::DoNotOptimize(plan);
  }
}
BENCHMARK(BM_MeshPlanOneChange)->Unit(benchmark::kMillisecond);

void BM_MeshRemoteResync(benchmark::State& state) {
  auto keys = encode_local_state(big_state(), {"infra", 1}, {});
  std::vector<etcd::KeyValue> kvs;
  for (const auto& [k, v] : keys)
    kvs.push_back({k, v});
  for (auto _ : state) {
    RemoteStateTracker t("infra", {{"apps", 2}, {*Ipv4Prefix::parse("10.2.0.0/16")}});
    auto c = t.resync(kvs);
    benchmark::DoNotOptimize(c);
  }
  state.counters["keys"] = double(kvs.size());
}
BENCHMARK(BM_MeshRemoteResync)->Unit(benchmark::kMillisecond);

void BM_MeshMergeGlobalService(benchmark::State& state) {
  // One global service with 10 local backends merged with 3 remote clusters of 10 backends.
  MeshView v;
  for (uint32_t c = 2; c <= 4; ++c) {
    auto st = std::make_shared<ClusterState>();
    ServiceRecord svc;
    svc.ns = "bench";
    svc.name = "svc";
    for (uint32_t b = 0; b < 10; ++b)
      svc.backends[ip4(0x0a000000 + (c << 16), b)] = {{"http", {"TCP", 80}}};
    st->services["bench/svc"] = svc;
    v.clusters.push_back({"c" + std::to_string(c), c, false, st});
  }
  LocalService ls;
  ls.ns = "bench";
  ls.name = "svc";
  ls.spec = {true, true, Affinity::Local};
  for (uint32_t b = 0; b < 10; ++b)
    ls.backends.push_back({ip4(0x0a010000, b), {{"http", {"TCP", 80}}}, true, "n"});
  for (auto _ : state) {
    auto m = merge_service(ls, {"infra", 1}, v);
    benchmark::DoNotOptimize(m);
  }
}
BENCHMARK(BM_MeshMergeGlobalService);

}  // namespace
