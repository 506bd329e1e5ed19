// The Agent runtime in-process: a scripted source, recording reconcilers, the API over a real
// unix socket in a temp dir and the metrics listener on loopback.
#include "netagent/agent/agent.hpp"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "netagent/agent/exit_code.hpp"
#include "netagent/netctl/client.hpp"
#include "netagent/testing/netns.hpp"
#include "scripted_source.hpp"

namespace netagent::agent {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace nt = netagent::testing;

// Shared, thread-safe record of what reconcilers were asked to do.
struct Journal {
  std::mutex mu;
  std::vector<std::string> lines;
  void add(std::string l) {
    std::lock_guard g(mu);
    lines.push_back(std::move(l));
  }
  std::vector<std::string> get() {
    std::lock_guard g(mu);
    return lines;
  }
};

// What a reconciler programmed, as a later one reads it from the store (as BGP reads the
// frontends the LB serves).
struct Programmed {
  static constexpr std::string_view kTopic = "test.programmed";
  size_t services = 0;
};

class RecordingReconciler : public store::Reconciler {
 public:
  RecordingReconciler(std::string name, Journal& journal) : name_(std::move(name)), j_(journal) {}

  std::string name() const override { return name_; }
  std::vector<store::Topic> inputs() const override {
    if (!reads_programmed) return {};
    return {store::topic<Programmed>()};
  }
  std::vector<store::Topic> outputs() const override {
    if (!publisher) return {};
    return {store::topic<Programmed>()};
  }
  Status start() override {
    j_.add(name_ + ":start");
    if (start_error) return Error{*start_error, ENOENT};
    return {};
  }
  Status apply(const store::Store& in) override {
    const auto& s = *in.snapshot();
    j_.add(name_ + ":apply:" + std::to_string(s.services.size()));
    if (fail_next > 0) {
      --fail_next;
      return Error{"update map " + name_ + "_services", EINVAL};
    }
    services_ = s.services.size();
    if (things_) things_->inc();
    if (publisher) publisher->publish(Programmed{services_}, name_);
    return {};
  }
  Result<store::DriftReport> verify_datapath() override {
    j_.add(name_ + ":verify");
    if (verify_error) return Error{*verify_error};
    auto out = drift.value_or(store::DriftReport{});
    drift.reset();  // repaired: the next check finds nothing
    return out;
  }
  json status() const override { return {{"services", services_}}; }
  void register_api(api::Router& r) override {
    r.get("/v1/" + name_, [this](const api::Request&) {
      return api::Reply(json{{"reconciler", name_}, {"services", services_}});
    });
  }
  void register_metrics(metrics::Registry& m) override {
    things_ = &m.counter("netagent_" + name_ + "_applied_total", "Test counter.").get();
  }
  void stop() override { j_.add(name_ + ":stop"); }
  // With drain_io set: finishes draining after drain_delay on the agent's io_context (as the
  // BGP part does while its sessions close).
  void drain(std::function<void()> done) override {
    if (!drain_io) return done();
    auto t = std::make_shared<boost::asio::steady_timer>(*drain_io, drain_delay);
    t->async_wait([this, t, done](const boost::system::error_code&) {
      j_.add(name_ + ":drained");
      done();
    });
  }
  Status cleanup() override {
    j_.add(name_ + ":cleanup");
    return {};
  }

  std::optional<std::string> start_error;
  std::optional<store::DriftReport> drift;  // what the next drift check "repairs"
  std::optional<std::string> verify_error;
  std::atomic<int> fail_next{0};
  store::Store* publisher = nullptr;  // publishes Programmed after each successful apply
  bool reads_programmed = false;
  boost::asio::io_context* drain_io = nullptr;
  std::chrono::milliseconds drain_delay{0};

 private:
  std::string name_;
  Journal& j_;
  size_t services_ = 0;
  metrics::Counter* things_ = nullptr;
};

k8s::Snapshot snapshot_with(int services, const std::string& node = "") {
  k8s::Snapshot s;
  for (int i = 0; i < services; ++i) {
    k8s::Service svc;
    svc.meta.name = "svc-" + std::to_string(i);
    svc.meta.ns = "default";
    s.services.push_back(svc);
  }
  if (!node.empty()) {
    k8s::Node n;
    n.meta.name = node;
    n.meta.labels = {{"topology.kubernetes.io/zone", "a"}};
    n.addresses = {{"InternalIP", "10.25.11.11", IpAddress::parse("10.25.11.11")}};
    s.nodes.push_back(n);
  }
  return s;
}

class AgentTest : public ::testing::Test {
 protected:
  Config config() {
    Config c;
    c.manifests = dir.path() + "/manifests";
    c.node_name = "node-1";
    c.bpf_root = dir.path() + "/bpf";
    c.state_dir = dir.path() + "/state";
    c.api_socket = dir.path() + "/api.sock";
    c.metrics_addr = "127.0.0.1:0";
    c.cgroup = "/sys/fs/cgroup/unified";
    c.datapath_verify_interval = verify_interval;
    EXPECT_TRUE(validate(c).ok());
    return c;
  }

  // Builds the agent with reconcilers a, b, c (c reads what b publishes) and a scripted source,
  // and runs it in a thread.
  void start(std::function<void(RecordingReconciler&)> tweak_b = nullptr) {
    agent = std::make_unique<Agent>(config());
    for (const char* n : {"a", "b", "c"}) {
      auto r = std::make_unique<RecordingReconciler>(n, journal);
      recs[n] = r.get();
      if (std::string(n) == "b") r->publisher = &agent->store();
      if (std::string(n) == "c") r->reads_programmed = true;
      if (tweak_b && std::string(n) == "b") tweak_b(*r);
      agent->add(std::move(r));
    }
    auto src = std::make_unique<test::ScriptedSource>(agent->io());
    source = src.get();
    agent->set_source(std::move(src));
    runner = std::thread([this] { exit_code = agent->run(); });
    ASSERT_TRUE(nt::wait_until([&] { return client().get("/v1/healthz").ok(); }, 5s));
    ASSERT_TRUE(nt::wait_until([&] { return source->started(); }, 5s));
  }

  void stop() {
    if (!runner.joinable()) return;
    agent->request_stop();
    runner.join();
  }

  void TearDown() override { stop(); }

  netctl::Client client() { return netctl::Client(dir.path() + "/api.sock", 5s); }

  json status() {
    auto s = client().get("/v1/status");
    EXPECT_TRUE(s.ok()) << s.error().str();
    return s.ok() ? *s : json();
  }

  json reconciler(const json& st, const std::string& name) {
    for (const auto& r : st["reconcilers"]) {
      if (r["name"] == name) return r;
    }
    return nullptr;
  }

  // Waits until every reconciler has processed `generation` (successfully or not).
  bool wait_applied(uint64_t applies_each) {
    return nt::wait_until(
        [&] {
          auto st = status();
          for (const auto& r : st["reconcilers"]) {
            if (r["applies"].get<uint64_t>() < applies_each) return false;
          }
          return true;
        },
        5s);
  }

  double metric(const std::string& name, const json& labels = json::object()) {
    auto m = client().get("/v1/metrics");
    if (!m.ok()) return -1;
    for (const auto& f : *m) {
      if (f["name"] != name) continue;
      for (const auto& s : f["samples"]) {
        if (s["labels"] == labels)
          return s.contains("value") ? s["value"].get<double>() : s["count"].get<double>();
      }
    }
    return -1;
  }

  uint32_t verify_interval = 0;
  nt::TempDir dir{"agent-test"};
  Journal journal;
  std::unique_ptr<Agent> agent;
  std::map<std::string, RecordingReconciler*> recs;
  test::ScriptedSource* source = nullptr;
  std::thread runner;
  int exit_code = -1;
};

TEST_F(AgentTest, AppliesEverySnapshotToEveryReconcilerInOrder) {
  start();
  source->push(snapshot_with(2));
  ASSERT_TRUE(wait_applied(1));
  source->push(snapshot_with(3));
  ASSERT_TRUE(wait_applied(2));

  auto st = status();
  EXPECT_EQ(st["snapshot"]["generation"], 2);
  EXPECT_EQ(st["snapshot"]["services"], 3);
  for (const char* n : {"a", "b", "c"}) {
    auto r = reconciler(st, n);
    EXPECT_EQ(r["state"], "ok");
    EXPECT_EQ(r["applies"], 2);
    EXPECT_EQ(r["errors"], 0);
    EXPECT_EQ(r["applied_generation"], 2);
    EXPECT_TRUE(r["last_error"].is_null());
    EXPECT_EQ(r["status"], (json{{"services", 3}}));
  }
  EXPECT_EQ(metric("netagent_reconciler_applies_total", {{"reconciler", "b"}}), 2);
  EXPECT_EQ(metric("netagent_reconciler_apply_duration_seconds", {{"reconciler", "b"}}), 2);
  EXPECT_EQ(metric("netagent_snapshot_generation"), 2);

  stop();
  EXPECT_EQ(exit_code, kExitOk);
  EXPECT_TRUE(source->stopped());
  EXPECT_EQ(journal.get(),
            (std::vector<std::string>{"a:start", "b:start", "c:start", "a:apply:2", "b:apply:2",
                                      "c:apply:2", "a:apply:3", "b:apply:3", "c:apply:3", "c:stop",
                                      "b:stop", "a:stop"}));
  // Shutdown removes the API socket but never calls cleanup (pins stay).
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/api.sock"));
}

TEST_F(AgentTest, AReconcilerErrorKeepsTheAgentAndTheOthersGoing) {
  start([](RecordingReconciler& b) { b.fail_next = 1; });
  source->push(snapshot_with(1));
  ASSERT_TRUE(wait_applied(1));

  auto st = status();
  auto b = reconciler(st, "b");
  EXPECT_EQ(b["state"], "error");
  EXPECT_EQ(b["errors"], 1);
  EXPECT_EQ(b["last_error"], "update map b_services: Invalid argument (errno 22)");
  EXPECT_EQ(reconciler(st, "a")["state"], "ok");
  EXPECT_EQ(reconciler(st, "c")["state"], "ok");  // after b in order, still applied
  EXPECT_TRUE(client().get("/v1/healthz").ok());
  EXPECT_EQ(metric("netagent_reconciler_apply_errors_total", {{"reconciler", "b"}}), 1);
  EXPECT_EQ(metric("netagent_reconciler_healthy", {{"reconciler", "b"}}), 0);

  // The agent retries b alone with the latest snapshot after a back-off (1 s first).
  ASSERT_TRUE(nt::wait_until([&] { return reconciler(status(), "b")["state"] == "ok"; }, 5s));
  st = status();
  EXPECT_EQ(reconciler(st, "b")["applies"], 2);
  EXPECT_EQ(reconciler(st, "a")["applies"], 1);
  // c reads what b programs (as BGP follows the LB): it catches up once b has recovered.
  EXPECT_EQ(reconciler(st, "c")["applies"], 2);
  EXPECT_TRUE(reconciler(st, "b")["last_error"].is_null());
  EXPECT_EQ(metric("netagent_reconciler_healthy", {{"reconciler", "b"}}), 1);
}

TEST_F(AgentTest, ShutdownWaitsForPartsToDrain) {
  start([this](RecordingReconciler& b) {
    b.drain_io = &agent->io();
    b.drain_delay = 300ms;
  });
  source->push(snapshot_with(1));
  ASSERT_TRUE(wait_applied(1));
  auto t0 = std::chrono::steady_clock::now();
  stop();
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(exit_code, kExitOk);
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, store::kDrainLimit);
  auto j = journal.get();
  ASSERT_GE(j.size(), 4u);
  EXPECT_EQ(std::vector<std::string>(j.end() - 4, j.end()),
            (std::vector<std::string>{"c:stop", "b:stop", "a:stop", "b:drained"}));
}

TEST_F(AgentTest, SourceErrorsAreVisibleAndTheLastGoodStateStays) {
  start();
  source->push(snapshot_with(2));
  ASSERT_TRUE(wait_applied(1));
  k8s::DecodeError e{
      {"/m/svc.yaml", 2}, "Service default/web", "spec.ports[0].port", "value out of range"};
  source->fail({e});
  ASSERT_TRUE(nt::wait_until([&] { return status()["source"]["loads_failed"] == 1; }, 5s));
  auto st = status();
  EXPECT_EQ(st["source"]["state"], "error (serving the last good snapshot)");
  EXPECT_EQ(st["source"]["last_errors"], json::array({e.str()}));
  EXPECT_EQ(st["snapshot"]["services"], 2);
  EXPECT_EQ(reconciler(st, "a")["applies"], 1);  // nothing re-applied on a rejected load
}

TEST_F(AgentTest, TheLocalNodeComesFromTheManifests) {
  start();
  source->push(snapshot_with(0));
  ASSERT_TRUE(wait_applied(1));
  EXPECT_EQ(status()["node"], (json{{"name", "node-1"}, {"found", false}}));
  source->push(snapshot_with(0, "node-1"));
  ASSERT_TRUE(wait_applied(2));
  auto node = status()["node"];
  EXPECT_EQ(node["found"], true);
  EXPECT_EQ(node["addresses"], json::parse(R"([{"type":"InternalIP","address":"10.25.11.11"}])"));
  EXPECT_EQ(node["labels"]["topology.kubernetes.io/zone"], "a");
}

TEST_F(AgentTest, ResyncReappliesTheLatestSnapshot) {
  start();
  source->push(snapshot_with(1));
  ASSERT_TRUE(wait_applied(1));
  auto r = client().post("/v1/resync", json::object());
  ASSERT_TRUE(r.ok()) << r.error().str();
  ASSERT_TRUE(wait_applied(2));
  EXPECT_EQ(status()["snapshot"]["generation"], 1);
}

TEST_F(AgentTest, ResyncChecksTheDatapathFirstAndSaysWhatWasRepaired) {
  start([](RecordingReconciler& b) {
    store::DriftReport d;
    d.maps["b_services"] = store::MapDrift{2, 1, 0};
    d.maps["b_backends"] = store::MapDrift{0, 0, 4};
    d.attachments = {"tc ingress on eth0"};
    d.entries_checked = 10;
    b.drift = d;
  });
  source->push(snapshot_with(1));
  ASSERT_TRUE(wait_applied(1));
  EXPECT_TRUE(status()["datapath_check"]["last"].is_null());
  auto r = client().post("/v1/resync", json::object());
  ASSERT_TRUE(r.ok()) << r.error().str();
  // The reply comes after the check and the full apply.
  const auto& check = (*r)["datapath_check"];
  EXPECT_EQ(check["trigger"], "resync");
  EXPECT_EQ(check["result"], "repaired");
  EXPECT_EQ(check["repaired"], 2 + 1 + 4 + 1);
  ASSERT_EQ(check["parts"].size(), 1u) << check.dump();  // parts with nothing to check are left out
  EXPECT_EQ(check["parts"][0]["name"], "b");
  EXPECT_EQ(check["parts"][0]["maps"]["b_services"],
            (json{{"missing", 2}, {"extra", 1}, {"changed", 0}}));
  EXPECT_EQ(check["parts"][0]["attachments"], json::array({"tc ingress on eth0"}));
  EXPECT_EQ((*r)["reconcilers"].size(), 3u);
  // Every part's check before the first re-apply.
  auto lines = journal.get();
  auto last = [&](const std::string& l) {
    return long(lines.rend() - std::find(lines.rbegin(), lines.rend(), l)) - 1;
  };
  EXPECT_GE(last("c:verify"), 0);
  EXPECT_LT(last("c:verify"), last("a:apply:1")) << "checks come first";
  EXPECT_EQ(std::count(lines.begin(), lines.end(), "a:apply:1"), 2);
  auto st = status()["datapath_check"];
  EXPECT_EQ(st["checks"], 1);
  EXPECT_EQ(st["checks_repaired"], 1);
  EXPECT_EQ(st["repaired_total"], 8);
  EXPECT_EQ(st["interval_seconds"], 0);
  EXPECT_EQ(st["last"]["result"], "repaired");
  EXPECT_TRUE(st["last"]["seconds_ago"].is_number());
  EXPECT_EQ(
      metric("netagent_datapath_drift_repaired_total", {{"part", "b"}, {"map", "b_services"}}), 3);
  EXPECT_EQ(
      metric("netagent_datapath_drift_repaired_total", {{"part", "b"}, {"map", "b_backends"}}), 4);
  EXPECT_EQ(metric("netagent_datapath_drift_attachments_restored_total", {{"part", "b"}}), 1);
  EXPECT_EQ(metric("netagent_datapath_drift_checks_total", {{"result", "repaired"}}), 1);
  EXPECT_EQ(metric("netagent_datapath_drift_checks_total", {{"result", "clean"}}), 0);

  // Nothing left: the next check is clean.
  r = client().post("/v1/resync", json::object());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)["datapath_check"]["result"], "clean");
  EXPECT_EQ(metric("netagent_datapath_drift_checks_total", {{"result", "clean"}}), 1);
}

TEST_F(AgentTest, ADifferenceLeftInPlaceMakesTheCheckAnError) {
  start([](RecordingReconciler& b) {
    store::DriftReport d;
    d.maps["b_services"] = store::MapDrift{1, 0, 0};
    d.unrepaired = {"tc ingress on eth0 runs program 7 'other', which netagent did not attach"};
    d.entries_checked = 3;
    b.drift = d;
  });
  source->push(snapshot_with(1));
  ASSERT_TRUE(wait_applied(1));
  auto r = client().post("/v1/resync", json::object());
  ASSERT_TRUE(r.ok()) << r.error().str();
  const auto& check = (*r)["datapath_check"];
  EXPECT_EQ(check["result"], "error");
  EXPECT_EQ(check["repaired"], 1);
  EXPECT_EQ(check["errors"],
            json::array({"b: left as found: tc ingress on eth0 runs program 7 'other', which "
                         "netagent did not attach"}));
  EXPECT_EQ(check["parts"][0]["unrepaired"].size(), 1u);
  EXPECT_EQ(status()["datapath_check"]["checks_failed"], 1);
  EXPECT_EQ(
      metric("netagent_datapath_drift_repaired_total", {{"part", "b"}, {"map", "b_services"}}), 1);
}

TEST_F(AgentTest, ThePeriodicDriftCheckRunsOnItsOwnAndReportsErrors) {
  verify_interval = 1;
  start([](RecordingReconciler& b) { b.verify_error = "iterate map b_services: EPERM"; });
  source->push(snapshot_with(1));
  ASSERT_TRUE(wait_applied(1));
  ASSERT_TRUE(nt::wait_until([&] { return status()["datapath_check"]["checks"] >= 1; }, 3s));
  auto st = status()["datapath_check"];
  EXPECT_EQ(st["interval_seconds"], 1);
  EXPECT_EQ(st["last"]["trigger"], "periodic");
  EXPECT_EQ(st["last"]["result"], "error");
  EXPECT_EQ(st["last"]["errors"], json::array({"b: iterate map b_services: EPERM"}));
  EXPECT_GE(st["checks_failed"], 1);
  EXPECT_GE(metric("netagent_datapath_drift_checks_total", {{"result", "error"}}), 1);
  // A check applies nothing.
  EXPECT_EQ(reconciler(status(), "a")["applies"], 1);
}

TEST_F(AgentTest, PartsServeTheirOwnRoutesAndMetrics) {
  start();
  source->push(snapshot_with(4));
  ASSERT_TRUE(wait_applied(1));
  auto a = client().get("/v1/a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, (json{{"reconciler", "a"}, {"services", 4}}));
  EXPECT_EQ(metric("netagent_c_applied_total"), 1);

  auto routes = client().get("/v1/routes");
  ASSERT_TRUE(routes.ok());
  EXPECT_NE(routes->dump().find("\"/v1/b\""), std::string::npos);

  // The same metrics over Prometheus HTTP.
  namespace beast = boost::beast;
  namespace http = beast::http;
  std::string ep = agent->metrics_endpoint();
  auto colon = ep.rfind(':');
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket s(io);
  s.connect({boost::asio::ip::make_address(ep.substr(0, colon)),
             static_cast<uint16_t>(std::stoi(ep.substr(colon + 1)))});
  http::request<http::empty_body> req{http::verb::get, "/metrics", 11};
  http::write(s, req);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(s, buf, res);
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_NE(res.body().find("netagent_c_applied_total 1\n"), std::string::npos);
  EXPECT_NE(res.body().find("netagent_reconciler_applies_total{reconciler=\"a\"} 1\n"),
            std::string::npos);
  EXPECT_NE(res.body().find("netagent_build_info{version=\"0.1.0\""), std::string::npos);
}

TEST_F(AgentTest, StartFailureStopsTheAgentWithoutApplying) {
  agent = std::make_unique<Agent>(config());
  auto a = std::make_unique<RecordingReconciler>("a", journal);
  auto b = std::make_unique<RecordingReconciler>("b", journal);
  b->start_error = "open pinned map /sys/fs/bpf/x";
  agent->add(std::move(a));
  agent->add(std::move(b));
  EXPECT_EQ(agent->run(), kExitFailed);
  EXPECT_EQ(journal.get(), (std::vector<std::string>{"a:start", "b:start", "b:stop", "a:stop"}));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/api.sock"));
}

TEST_F(AgentTest, ASecondAgentOnTheSameSocketRefusesToStart) {
  start();
  Agent second(config());
  EXPECT_EQ(second.run(), kExitAlreadyRunning);
  EXPECT_TRUE(client().get("/v1/healthz").ok());
}

TEST_F(AgentTest, RunsIdleWithoutASource) {
  agent = std::make_unique<Agent>(config());
  runner = std::thread([this] { exit_code = agent->run(); });
  ASSERT_TRUE(nt::wait_until([&] { return client().get("/v1/healthz").ok(); }, 5s));
  auto st = status();
  EXPECT_EQ(st["source"]["state"], "none");
  EXPECT_TRUE(st["snapshot"].is_null());
  EXPECT_EQ(st["reconcilers"], json::array());
  EXPECT_EQ(st["config"]["node_name"], "node-1");
  EXPECT_EQ((*client().get("/v1/healthz"))["ready"], false);
  stop();
  EXPECT_EQ(exit_code, kExitOk);
}

TEST_F(AgentTest, CleanupRunsEachPartsCleanupAndRemovesThePins) {
  auto c = config();
  namespace fs = std::filesystem;
  fs::create_directories(c.bpf_root + "/links");
  std::ofstream(c.bpf_root + "/lb4_services") << "";
  std::ofstream(c.bpf_root + "/links/cgroup_sock4_connect") << "";
  {
    Agent a(c);
    a.add(std::make_unique<RecordingReconciler>("x", journal));
    a.add(std::make_unique<RecordingReconciler>("y", journal));
    EXPECT_EQ(a.cleanup(), kExitOk);
    EXPECT_EQ(journal.get(), (std::vector<std::string>{"y:cleanup", "x:cleanup"}));
    EXPECT_FALSE(fs::exists(c.bpf_root));  // only the agent's pins: all gone, and the directory
  }
  // Another tool's pin or directory under bpf-root stays, and so does bpf-root.
  fs::create_directories(c.bpf_root + "/lb");
  std::ofstream(c.bpf_root + "/lb4_backends") << "";
  Agent b(c);
  EXPECT_EQ(b.cleanup(), kExitOk);
  EXPECT_FALSE(fs::exists(c.bpf_root + "/lb4_backends"));
  EXPECT_TRUE(fs::is_directory(c.bpf_root + "/lb"));
}

TEST_F(AgentTest, APublishBetweenSnapshotsReappliesOnlyItsReaders) {
  start();
  source->push(snapshot_with(1));
  ASSERT_TRUE(wait_applied(1));
  // b's state changes outside a snapshot (as ClusterMesh learns remote backends): c, which
  // reads it, is applied again; a is not.
  boost::asio::post(agent->io(), [this] { agent->store().publish(Programmed{7}, "test"); });
  ASSERT_TRUE(nt::wait_until([&] { return reconciler(status(), "c")["applies"] == 2; }, 5s));
  auto st = status();
  EXPECT_EQ(reconciler(st, "a")["applies"], 1);
  EXPECT_EQ(reconciler(st, "b")["applies"], 1);
  // The store says who published what.
  bool found = false;
  for (const auto& t : st["store"]["topics"]) {
    if (t["topic"] != "test.programmed") continue;
    found = true;
    EXPECT_EQ(t["publisher"], "test");
    EXPECT_EQ(t["generation"], 2);  // b's apply, then the test's
  }
  EXPECT_TRUE(found) << st["store"].dump();
}

TEST_F(AgentTest, AReaderAddedBeforeItsPublisherIsRefused) {
  Agent a(config());
  auto c = std::make_unique<RecordingReconciler>("c", journal);
  c->reads_programmed = true;
  try {
    a.add(std::move(c));
    FAIL() << "add() accepted a reader of a topic nobody publishes before it";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("test.programmed"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace netagent::agent
