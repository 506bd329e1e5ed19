// Fault family "manifests": what an operator, a GitOps tool or a stray process does to the
// manifest tree while the agent serves traffic from it, against a real agent in namespaces.
//  - a slow in-place write (the first chunk alone is a valid Service with fewer ports) is never
//    applied half done: the port the half would drop keeps answering, status shows the source
//    pending on the file, and the complete file is applied once it is closed;
//  - a copy of a tree into the watched directory, file by file or with `cp -r`, lands in one load:
//    the agent never holds a part of it (a Service without its EndpointSlice);
//  - a FIFO dropped into the tree is reported in status and metrics (an error under a manifest
//    name, a warning under another), never opened (a FIFO blocks its reader), and removing it
//    clears the report and applies the tree as it is then, with no restart.
// Each case asserts the tier's three things: traffic for everything that fits keeps working, the
// fault is named in status and metrics, and the next apply restores exactly the desired state.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "netagent/testing/agent_node.hpp"
#include "netagent/testing/privileged.hpp"
#include "netagent/testing/topology.hpp"

namespace netagent {
namespace {

namespace fs = std::filesystem;
using namespace netagent::testing;
using namespace std::chrono_literals;
using nlohmann::json;

const char* kNode = R"(apiVersion: v1
kind: Node
metadata: {name: node-a}
status: {addresses: [{type: InternalIP, address: 10.25.11.11}]}
)";

// A NodePort Service `name` with one port per NodePort, all to the pods' 8080.
std::string service(const std::string& name, const std::string& cluster_ip,
                    const std::vector<int>& node_ports) {
  std::string y = "apiVersion: v1\nkind: Service\nmetadata: {name: " + name +
                  ", namespace: demo}\nspec:\n  type: NodePort\n  clusterIP: " + cluster_ip +
                  "\n  selector: {app: " + name + "}\n  ports:\n";
  for (int p : node_ports) {
    y += "  - {name: p" + std::to_string(p) + ", port: " + std::to_string(p - 30000) +
         ", targetPort: 8080, nodePort: " + std::to_string(p) + "}\n";
  }
  return y;
}

std::string slice(const std::string& name, const std::vector<std::string>& pods) {
  std::string y = "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: " + name +
                  "-1, namespace: demo, labels: {kubernetes.io/service-name: " + name +
                  "}}\naddressType: IPv4\nports:\n";
  // One port per Service port name used in these tests (p<nodePort>), all the pods' 8080.
  for (int p : {30080, 30081, 30082, 30083, 30090, 30091, 30092})
    y += "- {name: p" + std::to_string(p) + ", port: 8080}\n";
  y += "endpoints:\n";
  for (const auto& p : pods)
    y += "- {addresses: [" + p + "], nodeName: node-a}\n";
  return y;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size())
    s.replace(at, from.size(), to);
}

class ManifestFaults : public ::testing::Test {
 protected:
  void SetUp() override {
    NETAGENT_REQUIRE_ROOT();
    lan_ = std::make_unique<Lan>("mft");
    node_ = lan_->host("node", "10.25.11.11/24");
    client_ = lan_->host("client", "10.25.11.50/24");
    start_echo_pods(*node_, {"web1", "web2"}, {"10.1.0.5", "10.1.0.6"}, 8080, pods_, servers_);
    netagent_.write_manifest("node.yaml", kNode);
    netagent_.write_manifest("web.yaml", service("web", "10.96.0.10", {30080, 30081}));
    netagent_.write_manifest("web-slice.yaml", slice("web", {"10.1.0.5", "10.1.0.6"}));
    agent_ = netagent_.start(node_->ns());
    ASSERT_TRUE(wait_until([&] { return served(30080) && served(30081); }, 10s)) << agent_->log();
  }

  void TearDown() override {
    stop_load();
    if (agent_) {
      EXPECT_TRUE(agent_->alive()) << "the agent must not restart or exit\n" << agent_->log();
    }
  }

  bool served(uint16_t port) {
    auto r = run_in(client_->ns(), "",
                    [&] { return tcp_request("10.25.11.11", port, "hi", nullptr, 500); });
    return r.rfind("error", 0) != 0 && !r.empty();
  }

  // New connections to `ports`, one every ~10 ms each, counted until stop_load().
  void start_load(std::vector<uint16_t> ports) {
    load_ = std::thread([this, ports] {
      for (int i = 0; i < 3000 && !stop_; ++i) {  // bounded: at most ~60 s
        for (auto p : ports)
          (served(p) ? ok_ : failed_)++;
        std::this_thread::sleep_for(10ms);
      }
    });
  }
  void stop_load() {
    stop_ = true;
    if (load_.joinable()) load_.join();
  }

  json status() { return netagent_.api("/v1/status"); }
  json source() { return status()["source"]; }
  int services() { return status()["snapshot"].value("services", -1); }
  double metric_now(const std::string& name) {
    return metric_value(netagent_.api("/v1/metrics"), name).value_or(-1);
  }

  std::unique_ptr<Lan> lan_;
  std::unique_ptr<Host> node_, client_;
  std::vector<std::unique_ptr<Pod>> pods_;
  std::vector<std::unique_ptr<Process>> servers_;
  AgentNode netagent_{{.tag = "fault-manifests"}};
  std::unique_ptr<Process> agent_;
  std::thread load_;
  std::atomic<bool> stop_{false};
  std::atomic<int> ok_{0}, failed_{0};
};

TEST_F(ManifestFaults, SlowInPlaceWriteIsNeverAppliedHalfDone) {
  const std::string path = netagent_.manifests() + "/web.yaml";
  // The first chunk alone is a valid Service with one port: applying it would drop 30081.
  std::string first = service("web", "10.96.0.10", {30080});
  std::string rest =
      "  - {name: p30081, port: 81, targetPort: 8080, nodePort: 30081}\n"
      "  - {name: p30082, port: 82, targetPort: 8080, nodePort: 30082}\n";
  ASSERT_FALSE(served(30082));
  uint64_t loads_before = source()["loads_ok"].get<uint64_t>();
  start_load({30080, 30081});

  int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, first.data(), first.size()), ssize_t(first.size()));
  // 1.5 s with the file half written: the half is never applied, the source says why it waits.
  std::string pending;
  double pending_metric = -1;
  auto until = std::chrono::steady_clock::now() + 1500ms;
  bool half_applied = false;
  while (std::chrono::steady_clock::now() < until) {
    auto src = source();
    if (src["pending"].is_string()) pending = src["pending"];
    if (pending_metric < 1) pending_metric = metric_now("netagent_source_pending");
    if (src["loads_ok"].get<uint64_t>() != loads_before) half_applied = true;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_FALSE(half_applied) << "a half-written file was loaded";
  EXPECT_NE(pending.find("web.yaml"), std::string::npos) << pending;
  EXPECT_EQ(pending_metric, 1.0);
  EXPECT_TRUE(served(30081)) << "the port the half file lacks stopped answering";

  ASSERT_EQ(::write(fd, rest.data(), rest.size()), ssize_t(rest.size()));
  auto closed = std::chrono::steady_clock::now();
  ::close(fd);
  ASSERT_TRUE(wait_until([&] { return served(30082); }, 5s)) << agent_->log();
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - closed);
  std::printf("slow in-place write: close -> new NodePort answering in %lld ms\n",
              static_cast<long long>(took.count()));
  stop_load();
  EXPECT_EQ(failed_.load(), 0) << "of " << ok_.load() << " connections";
  EXPECT_GT(ok_.load(), 50);
  auto src = source();
  EXPECT_EQ(src["loads_ok"].get<uint64_t>(), loads_before + 1) << src.dump();
  EXPECT_EQ(src["state"], "ok");
  EXPECT_TRUE(src["pending"].is_null()) << src.dump();
  EXPECT_EQ(metric_now("netagent_source_pending"), 0.0);
  EXPECT_TRUE(served(30080) && served(30081) && served(30082));
}

TEST_F(ManifestFaults, CopyOfATreeInProgressIsNeverAppliedHalfDone) {
  // A tree of three services (api, db, cache), each a Service file and an EndpointSlice file, in
  // a directory outside the watched tree.
  TempDir staging("fault-manifests-src");
  struct Svc {
    std::string name, cluster_ip;
    int node_port;
  };
  std::vector<Svc> svcs = {
      {"api", "10.96.0.20", 30090}, {"cache", "10.96.0.21", 30091}, {"db", "10.96.0.22", 30092}};
  std::vector<std::pair<std::string, std::string>> files;  // relative path, content
  for (const auto& s : svcs) {
    files.push_back({s.name + "/svc.yaml", service(s.name, s.cluster_ip, {s.node_port})});
    files.push_back({s.name + "/slice.yaml", slice(s.name, {"10.1.0.5", "10.1.0.6"})});
  }
  int base = services();
  ASSERT_EQ(base, 1);
  start_load({30080, 30081});

  // 1. File by file, 150 ms apart (a slow `cp -r`, rsync or unpacking): one load, all of it.
  const std::string dst = netagent_.manifests() + "/apps";
  std::set<int> seen;
  std::atomic<bool> copying{true};
  std::thread watch([&] {
    while (copying) {
      seen.insert(services());
      std::this_thread::sleep_for(20ms);
    }
  });
  for (const auto& [rel, text] : files) {
    fs::create_directories(fs::path(dst + "/" + rel).parent_path());
    std::ofstream(dst + "/" + rel) << text;
    std::this_thread::sleep_for(150ms);
  }
  ASSERT_TRUE(wait_until([&] { return services() == base + 3; }, 8s)) << agent_->log();
  copying = false;
  watch.join();
  for (int n : seen)
    EXPECT_TRUE(n == base || n == base + 3) << "the agent held " << n << " services mid-copy";
  for (const auto& s : svcs)
    EXPECT_TRUE(wait_until([&] { return served(uint16_t(s.node_port)); }, 3s)) << s.name;

  // 2. `cp -r` of the same tree under another name (other services): one load.
  TempDir tree2("fault-manifests-src2");
  for (const auto& [rel, text] : files) {
    std::string renamed = text;
    for (const auto& s : svcs) {
      replace_all(renamed, "name: " + s.name, "name: " + s.name + "2");
      replace_all(renamed, "app: " + s.name + "}", "app: " + s.name + "2}");
      replace_all(renamed, s.cluster_ip, "10.96.1." + s.cluster_ip.substr(8));
      replace_all(renamed, "nodePort: " + std::to_string(s.node_port),
                  "nodePort: " + std::to_string(s.node_port + 10));
    }
    fs::create_directories(fs::path(tree2.path() + "/" + rel).parent_path());
    std::ofstream(tree2.path() + "/" + rel) << renamed;
  }
  uint64_t loads = source()["loads_ok"].get<uint64_t>();
  ASSERT_EQ(sh("cp -r " + tree2.path() + " " + netagent_.manifests() + "/apps2"), 0);
  ASSERT_TRUE(wait_until([&] { return services() == base + 6; }, 8s)) << source().dump();
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(source()["loads_ok"].get<uint64_t>(), loads + 1) << "the copy was loaded in parts";
  for (const auto& s : svcs)
    EXPECT_TRUE(wait_until([&] { return served(uint16_t(s.node_port + 10)); }, 3s)) << s.name;
  stop_load();
  EXPECT_EQ(failed_.load(), 0) << "of " << ok_.load() << " connections";
  EXPECT_EQ(source()["state"], "ok");
}

TEST_F(ManifestFaults, FifoInTheTreeIsReportedAndDoesNotBlockTheWatcher) {
  const std::string dir = netagent_.manifests();
  start_load({30080, 30081});
  // Under a name that is not a manifest's: a warning; edits keep being applied.
  ASSERT_EQ(::mkfifo((dir + "/notes").c_str(), 0600), 0);
  ASSERT_TRUE(wait_until([&] { return source()["warnings"].size() == 1; }, 5s)) << source().dump();
  EXPECT_EQ(source()["warnings"][0], dir + "/notes: a FIFO; not read");
  EXPECT_EQ(metric_now("netagent_source_warnings"), 1.0);
  netagent_.write_manifest("web.yaml", service("web", "10.96.0.10", {30080, 30081, 30082}));
  ASSERT_TRUE(wait_until([&] { return served(30082); }, 5s)) << "the watcher is blocked";

  // Under a manifest name: an error that names it; the last good state keeps serving, and an
  // edit made meanwhile waits for the tree to be whole again.
  ASSERT_EQ(::mkfifo((dir + "/pipe.yaml").c_str(), 0600), 0);
  ASSERT_TRUE(wait_until([&] { return source()["loads_failed"].get<int>() >= 1; }, 5s));
  auto src = source();
  EXPECT_EQ(src["state"], "error (serving the last good snapshot)");
  ASSERT_EQ(src["last_errors"].size(), 1u) << src.dump();
  EXPECT_EQ(src["last_errors"][0], dir + "/pipe.yaml: is a FIFO, not a regular file: not read");
  EXPECT_EQ(metric_now("netagent_source_errors"), 1.0);
  netagent_.write_manifest("web.yaml", service("web", "10.96.0.10", {30080, 30081, 30083}));
  ASSERT_TRUE(wait_until([&] { return source()["loads_failed"].get<int>() >= 2; }, 5s))
      << "the watcher is blocked";
  EXPECT_TRUE(served(30082));  // the last good state
  EXPECT_FALSE(served(30083));

  // Removing them: the next load applies the tree as it is now, and the reports clear.
  fs::remove(dir + "/pipe.yaml");
  ASSERT_TRUE(wait_until([&] { return served(30083); }, 5s)) << source().dump();
  EXPECT_FALSE(served(30082));
  fs::remove(dir + "/notes");
  ASSERT_TRUE(wait_until([&] { return source()["warnings"].empty(); }, 5s)) << source().dump();
  src = source();
  EXPECT_EQ(src["state"], "ok");
  EXPECT_TRUE(src["last_errors"].empty());
  EXPECT_EQ(metric_now("netagent_source_errors"), 0.0);
  EXPECT_EQ(metric_now("netagent_source_warnings"), 0.0);
  stop_load();
  EXPECT_EQ(failed_.load(), 0) << "of " << ok_.load() << " connections";
}

}  // namespace
}  // namespace netagent
