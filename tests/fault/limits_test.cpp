// Fault family "limits": clients and peers that try to take more than their share of the agent.
//  - File descriptor exhaustion: a local client opens more connections to the /metrics listener
//    than the agent has descriptors (the agent runs with RLIMIT_NOFILE 1024; the client opens
//    1,200). The cap (64) holds: service traffic keeps flowing, the API answers, an endpoint
//    registration is persisted, status and metrics name the cap; idle and slow connections are
//    closed after their timeouts, and once the client is gone the listener serves again with no
//    restart. Before the cap existed the agent ran out of descriptors: its API stopped answering
//    and the state write failed.
//  - BGP maximum prefixes: BIRD sends more routes than --bgp-max-prefixes. The session ends with
//    Cease / Maximum Number of Prefixes Reached (BIRD says so), the peer's routes are dropped,
//    memory stays bounded, the peer is held Idle for --bgp-max-prefixes-restart, and another
//    peer (FRR) keeps its session and our route; status and metrics name the peer. Once BIRD
//    sends fewer routes the session comes back by itself after the hold, with no restart.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "netagent/netctl/client.hpp"
#include "netagent/testing/agent_node.hpp"
#include "netagent/testing/privileged.hpp"
#include "netagent/testing/routers.hpp"
#include "netagent/testing/sockets.hpp"
#include "netagent/testing/topology.hpp"

namespace netagent {
namespace {

using namespace netagent::testing;
using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

// ---- helpers

// GET /metrics over TCP from the calling thread's namespace: the status line, or "".
std::string scrape(uint16_t port) {
  int fd = tcp_connect("127.0.0.1", port, 3s);
  if (fd < 0) return "";
  std::string req = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  char buf[64] = {};
  ssize_t n = ::recv(fd, buf, sizeof(buf) - 1, 0);
  ::close(fd);
  std::string s(buf, n > 0 ? size_t(n) : 0);
  return s.substr(0, s.find('\r'));
}

// ---- file descriptor exhaustion through the /metrics listener

const char* kCluster = R"(apiVersion: v1
kind: Node
metadata: {name: node-a}
spec: {podCIDR: 10.1.0.0/24, podCIDRs: [10.1.0.0/24]}
status: {addresses: [{type: InternalIP, address: 10.25.11.11}]}
---
apiVersion: v1
kind: Namespace
metadata: {name: demo}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: demo, labels: {app: web}}
spec: {nodeName: node-a, containers: [{name: c, image: echo}]}
status: {podIP: 10.1.0.5, podIPs: [{ip: 10.1.0.5}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec:
  clusterIP: 10.96.0.20
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: demo, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [10.1.0.5], nodeName: node-a, conditions: {ready: true}}]
)";

constexpr uint16_t kMetricsPort = 9962;
constexpr int kFdLimit = 1024;
constexpr int kFlood = 1200;  // more than the agent's descriptors
constexpr int kMetricsCap = 64;

class FdExhaustion : public ::testing::Test {
 protected:
  void SetUp() override {
    NETAGENT_REQUIRE_ROOT();
    NETAGENT_REQUIRE(sh("command -v prlimit >/dev/null") == 0, "prlimit (util-linux) is missing");
    lan_ = std::make_unique<Lan>("flim");
    node_ = lan_->host("node", "10.25.11.11/24");
    pod_ = std::make_unique<Pod>(*node_, "web", "10.1.0.5");
    echo_ = std::make_unique<Process>(
        std::vector<std::string>{NETAGENT_ECHO_BIN, "--name", "web", "--tcp", "8080"}, &pod_->ns());
    netagent_.write_manifest("cluster.yaml", kCluster);
  }
  void TearDown() override {
    for (int fd : flood_)
      ::close(fd);
    if (agent_) {
      if (HasFailure()) std::cerr << "---- agent log (tail)\n" << tail(agent_->log());
      agent_->stop(SIGTERM, 5s);
    }
  }
  static std::string tail(const std::string& log) {
    return log.size() > 6000 ? log.substr(log.size() - 6000) : log;
  }

  // The agent with RLIMIT_NOFILE kFdLimit (soft and hard), metrics on 127.0.0.1 of the node,
  // short timeouts so that the test sees them act.
  void start_agent() {
    auto args = netagent_.args({"--metrics-addr", "127.0.0.1:" + std::to_string(kMetricsPort),
                                "--http-idle-timeout", "3", "--http-request-timeout", "2"});
    args.insert(
        args.begin(),
        {"prlimit", "--nofile=" + std::to_string(kFdLimit) + ":" + std::to_string(kFdLimit), "--"});
    agent_ = std::make_unique<Process>(args, &node_->ns(), netagent_.log_path());
    ASSERT_TRUE(netagent_.wait_api("/v1/status", [](const json& s) {
      for (const auto& r : s["reconcilers"])
        if (r["state"] != "ok") return false;
      return true;
    })) << agent_->log();
  }

  // A request to the ClusterIP from the node (socket LB in the agent's cgroup).
  std::string traffic() {
    auto r = run_in(node_->ns(), netagent_.cgroup.path(),
                    [] { return tcp_request("10.96.0.20", 80, "hi", nullptr, 1000); });
    return r.rfind("error", 0) == 0 ? "" : r;
  }

  // Opens `n` connections to the metrics listener from the node's namespace.
  void flood(int n) {
    InNetns in(node_->ns());
    for (int i = 0; i < n; ++i) {
      int fd = tcp_connect("127.0.0.1", kMetricsPort, 2s);
      if (fd < 0) break;
      flood_.push_back(fd);
    }
  }
  size_t closed_by_agent() {
    size_t n = 0;
    for (int fd : flood_)
      n += closed_by_peer(fd, false);
    return n;
  }

  std::unique_ptr<Lan> lan_;
  std::unique_ptr<Host> node_;
  std::unique_ptr<Pod> pod_;
  std::unique_ptr<Process> echo_;
  AgentNode netagent_{{.tag = "fault-limits"}};
  std::unique_ptr<Process> agent_;
  std::vector<int> flood_;
};

TEST_F(FdExhaustion, MetricsConnectionFloodStarvesNeitherTheApiNorPersistence) {
  start_agent();
  const int pid = netagent_.api("/v1/status")["pid"].get<int>();
  ASSERT_EQ(traffic(), "web\n") << "the service does not answer before the fault";
  {
    InNetns in(node_->ns());
    ASSERT_EQ(scrape(kMetricsPort), "HTTP/1.1 200 OK");
  }
  auto st = netagent_.api("/v1/status");
  EXPECT_EQ(st["limits"]["fd_limit"], kFdLimit) << st["limits"].dump();
  EXPECT_EQ(st["limits"]["listeners"]["metrics"]["max_connections"], kMetricsCap);
  EXPECT_EQ(st["limits"]["listeners"]["api"]["max_connections"], 128);

  // The fault: more connections than the agent has descriptors, held open.
  const auto t_flood = Clock::now();
  flood(kFlood);
  ASSERT_EQ(flood_.size(), size_t(kFlood)) << "the client could not open its connections";

  // 1. Everything that fits keeps working: the API answers, traffic flows, and a state write
  //    (an endpoint registration, persisted to <state-dir>/endpoints.json) succeeds.
  st = netagent_.api("/v1/status");
  ASSERT_TRUE(st.is_object()) << "the API does not answer under the flood";
  EXPECT_EQ(traffic(), "web\n");
  json body = {{"namespace", "demo"},
               {"pod", "web"},
               {"interface", pod_->host_device()},
               {"ips", {pod_->ip()}}};
  auto reg = netctl::Client(netagent_.socket(), 5s).post("/v1/endpoints", body);
  ASSERT_TRUE(reg.ok()) << (reg.ok() ? "" : reg.error().str());
  {
    std::ifstream f(netagent_.state_dir() + "/endpoints.json");
    std::stringstream ss;
    ss << f.rdbuf();
    EXPECT_NE(ss.str().find("10.1.0.5"), std::string::npos)
        << "the endpoint was not persisted: " << ss.str();
  }
  EXPECT_EQ(traffic(), "web\n") << "traffic after the endpoint registration";

  // 2. Status and metrics name the fault: the metrics listener at its cap, connections over it
  //    closed at once (the client sees them closed), no descriptor exhaustion.
  ASSERT_TRUE(wait_until([&] { return closed_by_agent() >= size_t(kFlood - kMetricsCap); }, 5s))
      << closed_by_agent() << " of " << kFlood << " connections closed by the agent";
  st = netagent_.api("/v1/status");
  const auto& m = st["limits"]["listeners"]["metrics"];
  EXPECT_EQ(m["connections"], kMetricsCap) << st["limits"].dump();
  EXPECT_GE(m["rejected"].get<int>(), kFlood - kMetricsCap) << st["limits"].dump();
  EXPECT_EQ(m["accept_errors"], 0) << st["limits"].dump();
  EXPECT_NE(st["limits"]["state"].get<std::string>().find("metrics at its connection cap"),
            std::string::npos)
      << st["limits"].dump();
  auto metrics = netagent_.api("/v1/metrics");
  EXPECT_GE(
      metric_value(metrics, "netagent_http_connections_rejected_total", {{"listener", "metrics"}})
          .value_or(-1),
      kFlood - kMetricsCap);
  EXPECT_EQ(
      metric_value(metrics, "netagent_http_connections", {{"listener", "metrics"}}).value_or(-1),
      kMetricsCap);
  EXPECT_LT(metric_value(metrics, "netagent_process_open_fds").value_or(-1), kFdLimit / 2);
  EXPECT_NE(agent_->log().find("metrics listener: 64 connections open, the cap"),
            std::string::npos);

  // The held connections send nothing: the idle timeout (3 s) closes them.
  ASSERT_TRUE(wait_until([&] { return closed_by_agent() == size_t(kFlood); }, 8s))
      << closed_by_agent() << " of " << kFlood << " closed";
  const auto idle_after = Clock::now() - t_flood;
  RecordProperty("flood_all_closed_ms",
                 int(std::chrono::duration_cast<std::chrono::milliseconds>(idle_after).count()));
  st = netagent_.api("/v1/status");
  EXPECT_GE(st["limits"]["listeners"]["metrics"]["idle_closed"].get<int>(), kMetricsCap);

  // A slow request (a header trickled a byte every 300 ms) is cut after the request timeout (2 s).
  {
    InNetns in(node_->ns());
    int fd = tcp_connect("127.0.0.1", kMetricsPort, 300ms);
    ASSERT_GE(fd, 0);
    const std::string head = "GET /metrics HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    auto t0 = Clock::now();
    bool closed = false;
    for (size_t i = 0; i < head.size() && !closed; ++i) {
      if (::send(fd, &head[i], 1, MSG_NOSIGNAL) < 0) closed = true;
      char c;
      ssize_t n = ::recv(fd, &c, 1, 0);
      if (n == 0 || (n < 0 && errno == ECONNRESET)) closed = true;
    }
    auto took = Clock::now() - t0;
    ::close(fd);
    EXPECT_TRUE(closed) << "a request trickled for " << head.size() * 300 << " ms was not cut";
    EXPECT_LT(took, 4s);
  }
  EXPECT_GE(netagent_.api("/v1/status")["limits"]["listeners"]["metrics"]["timed_out"].get<int>(),
            1);

  // 3. The cause removed (the client closes its sockets): the listener serves again, status is
  //    ok, the same process (no restart) still serves traffic and holds the endpoint.
  for (int fd : flood_)
    ::close(fd);
  flood_.clear();
  {
    InNetns in(node_->ns());
    EXPECT_EQ(scrape(kMetricsPort), "HTTP/1.1 200 OK");
  }
  ASSERT_TRUE(
      wait_until([&] { return netagent_.api("/v1/status")["limits"]["state"] == "ok"; }, 5s))
      << netagent_.api("/v1/status")["limits"].dump();
  st = netagent_.api("/v1/status");
  EXPECT_EQ(st["pid"], pid);
  EXPECT_EQ(traffic(), "web\n");
  EXPECT_EQ(netagent_.api("/v1/endpoints")["endpoints"].size(), 1u);
  EXPECT_NE(agent_->log().find("metrics listener: under the cap of 64 connections again"),
            std::string::npos);
}

// ---- BGP maximum prefixes

const char* kBgpCluster = R"(apiVersion: v1
kind: ConfigMap
metadata: {name: cluster-settings, namespace: flux-system}
data: {CILIUM_LB_POOL_START: 10.25.11.100, CILIUM_LB_POOL_END: 10.25.11.119}
---
apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {bgp-policy: infra}}
status: {addresses: [{type: InternalIP, address: 10.25.11.11}]}
---
apiVersion: cilium.io/v2alpha1
kind: CiliumLoadBalancerIPPool
metadata: {name: infra-pool, labels: {cluster: infra}}
spec:
  blocks: [{start: "${CILIUM_LB_POOL_START}", stop: "${CILIUM_LB_POOL_END}"}]
---
apiVersion: cilium.io/v2
kind: CiliumBGPClusterConfig
metadata: {name: bgp-cluster-config}
spec:
  nodeSelector: {matchLabels: {bgp-policy: infra}}
  bgpInstances:
  - name: instance-64512
    localASN: 64512
    peers:
    - {name: srx, peerAddress: 10.25.11.1, peerASN: 64501, peerConfigRef: {name: peer}}
    - {name: frr, peerAddress: 10.25.11.2, peerASN: 64501, peerConfigRef: {name: peer}}
---
apiVersion: cilium.io/v2
kind: CiliumBGPPeerConfig
metadata: {name: peer}
spec:
  timers: {connectRetryTimeSeconds: 1, holdTimeSeconds: 9, keepAliveTimeSeconds: 3}
  families:
  - {afi: ipv4, safi: unicast, advertisements: {matchLabels: {advertise: bgp}}}
---
apiVersion: cilium.io/v2
kind: CiliumBGPAdvertisement
metadata: {name: bgp-loadbalancer-ips, labels: {advertise: bgp}}
spec:
  advertisements:
  - advertisementType: Service
    service: {addresses: [LoadBalancerIP]}
    selector:
      matchExpressions: [{key: somekey, operator: NotIn, values: [never-used-value]}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo, annotations: {lbipam.cilium.io/ips: 10.25.11.100}}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.100
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: demo, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [10.1.0.100], nodeName: node-a, conditions: {ready: true}}]
)";

// BIRD at 10.25.11.1 (passive, AS 64501) announcing `n` static /32s (10.200.x.y) to the node.
class RouteSource {
 public:
  RouteSource(const NetNs& ns, std::string dir)
      : ns_(ns), dir_(std::move(dir)), ctl_(dir_ + "/bird.ctl"), conf_(dir_ + "/bird.conf") {}
  ~RouteSource() {
    if (proc_) proc_->stop(SIGTERM);
  }
  void announce(int n) {
    std::ofstream out(conf_);
    out << "log \"" << dir_ << "/bird.log\" all;\n"
        << "router id 10.25.11.1;\n"
           "protocol device { }\n"
           "protocol static s1 { ipv4;\n";
    for (int i = 0; i < n; ++i)
      out << "  route 10.200." << i / 256 << "." << i % 256 << "/32 blackhole;\n";
    out << "}\n"
           "protocol bgp node1 {\n"
           "  local 10.25.11.1 as 64501;\n"
           "  neighbor 10.25.11.11 as 64512;\n"
           "  passive on;\n"
           "  strict bind on;\n"  // listen on 10.25.11.1 only: FRR has .2:179
           "  ipv4 { import all; export where source = RTS_STATIC; };\n"
           "}\n";
    out.close();
    if (!proc_) {
      ::unlink(ctl_.c_str());
      proc_ =
          std::make_unique<Process>(std::vector<std::string>{"bird", "-f", "-c", conf_, "-s", ctl_},
                                    &ns_, dir_ + "/bird.out");
      EXPECT_TRUE(wait_until([&] { return std::filesystem::exists(ctl_); }, 5s));
    } else {
      sh_ok("birdc -s " + ctl_ + " configure");
    }
  }
  std::string protocol() { return sh_ok("birdc -s " + ctl_ + " show protocols all node1"); }

 private:
  const NetNs& ns_;
  std::string dir_, ctl_, conf_;
  std::unique_ptr<Process> proc_;
};

class BgpMaxPrefix : public ::testing::Test {
 protected:
  void SetUp() override {
    NETAGENT_REQUIRE_ROOT();
    NETAGENT_REQUIRE(sh("command -v bird >/dev/null && command -v birdc >/dev/null && "
                        "command -v vtysh >/dev/null && test -x /usr/lib/frr/bgpd") == 0,
                     "BIRD 2 and FRR are not installed (apt-get install bird2 frr)");
    lan_ = std::make_unique<Lan>("fbgp");
    router_ = lan_->host("srx", "10.25.11.1/24");
    router_->ns().sh_ok("ip addr add 10.25.11.2/24 dev eth0");
    node_ = lan_->host("node", "10.25.11.11/24");
    netagent_.write_manifest("cluster.yaml", kBgpCluster);
  }
  void TearDown() override {
    if (HasFailure() && agent_) {
      auto log = agent_->log();
      std::cerr << "---- agent log (tail)\n"
                << (log.size() > 6000 ? log.substr(log.size() - 6000) : log);
    }
    if (agent_) agent_->stop(SIGTERM, 5s);
  }
  json peer(const std::string& name) {
    for (const auto& p : netagent_.api("/v1/bgp/peers").value("peers", json::array()))
      if (p["name"] == name) return p;
    return json::object();
  }
  bool frr_has_route(Frr& frr) {
    auto out = frr.vtysh("show bgp ipv4 unicast 10.25.11.100/32 json");
    auto j = json::parse(out.substr(std::min(out.find('{'), out.size())), nullptr, false);
    return j.is_object() && j.contains("paths");
  }

  std::unique_ptr<Lan> lan_;
  std::unique_ptr<Host> router_, node_;
  AgentNode netagent_{
      {.tag = "fault-bgp-limit",
       .flags = {"--devices", "eth0", "--metrics-addr", "", "--bgp-max-prefixes", "1000",
                 "--bgp-max-prefixes-warning", "50", "--bgp-max-prefixes-restart", "6"}}};
  std::unique_ptr<Process> agent_;
};

TEST_F(BgpMaxPrefix, PeerOverTheLimitIsCeasedHeldAndOthersKeepWorking) {
  RouteSource bird(router_->ns(), netagent_.dir.path());
  Frr frr(router_->ns(), netagent_.dir.path());
  bird.announce(600);  // over the warning (50 %), under the limit
  agent_ = netagent_.start(node_->ns());
  ASSERT_TRUE(netagent_.wait_api("/v1/status")) << agent_->log();
  const int pid = netagent_.api("/v1/status")["pid"].get<int>();

  ASSERT_TRUE(wait_until([&] { return peer("srx").value("prefixes_in", 0) == 600; }, 20s))
      << peer("srx").dump();
  ASSERT_TRUE(wait_until([&] { return peer("frr").value("state", "") == "Established"; }, 20s))
      << peer("frr").dump();
  ASSERT_TRUE(wait_until([&] { return frr_has_route(frr); }, 10s));
  auto srx = peer("srx");
  EXPECT_EQ(srx["prefix_limit"]["max_per_family"], 1000);
  EXPECT_EQ(srx["prefix_limit"]["warning_at"], 500);
  EXPECT_EQ(srx["prefix_limit"]["warning"], true) << srx.dump();
  EXPECT_NE(agent_->log().find("50% or more of the limit of 1000"), std::string::npos);
  auto bgp_status = [&] {
    const json st = netagent_.api("/v1/status");
    for (const auto& r : st["reconcilers"])
      if (r["name"] == "bgp") return r["status"];
    return json::object();
  };
  EXPECT_EQ(bgp_status()["prefix_limit"]["peers_over_warning"],
            json::array({"instance-64512/srx"}));
  const long rss_before = rss_kib(pid);

  // The fault: BIRD now sends 20,000 routes, twenty times the limit.
  bird.announce(20000);
  const auto t_fault = Clock::now();
  ASSERT_TRUE(wait_until(
      [&] { return peer("srx").value("prefix_limit", json::object()).value("ceases", 0) >= 1; },
      20s))
      << peer("srx").dump();
  srx = peer("srx");
  EXPECT_NE(srx["state"], "Established");
  EXPECT_EQ(srx["prefixes_in"], 0) << "the peer's routes were not dropped";
  ASSERT_TRUE(srx.contains("last_error")) << srx.dump();
  const auto& sent = srx["last_error"]["notification_sent"];
  EXPECT_EQ(sent["code"], 6) << srx.dump();
  EXPECT_EQ(sent["subcode"], 1) << srx.dump();
  EXPECT_EQ(sent["description"], "Cease / Maximum Number of Prefixes Reached");
  EXPECT_TRUE(srx["prefix_limit"].contains("exceeded")) << srx.dump();
  EXPECT_GT(srx.value("idle_hold_seconds", 0), 0) << srx.dump();
  // The real peer decoded the subcode.
  ASSERT_TRUE(wait_until(
      [&] {
        return bird.protocol().find("Maximum number of prefixes reached") != std::string::npos;
      },
      5s))
      << bird.protocol();
  // Memory stays bounded: at most the limit was stored before the session ended.
  const long rss_after = rss_kib(pid);
  RecordProperty("rss_before_kib", int(rss_before));
  RecordProperty("rss_after_kib", int(rss_after));
  EXPECT_LT(rss_after - rss_before, 32 * 1024) << rss_before << " -> " << rss_after << " KiB";

  // Status and metrics name the fault.
  auto limit = bgp_status()["prefix_limit"];
  ASSERT_EQ(limit["peers_exceeded"].size(), 1u) << limit.dump();
  EXPECT_EQ(limit["peers_exceeded"][0]["peer"], "instance-64512/srx");
  auto metrics = netagent_.api("/v1/metrics");
  EXPECT_GE(metric_value(
                metrics, "netagent_bgp_notifications_sent_total",
                {{"peer", "srx"}, {"notification", "Cease / Maximum Number of Prefixes Reached"}})
                .value_or(-1),
            1);
  EXPECT_EQ(metric_value(metrics, "netagent_bgp_prefixes_received", {{"peer", "srx"}}).value_or(-1),
            0);
  EXPECT_EQ(metric_value(metrics, "netagent_bgp_max_prefixes", {{"peer", "srx"}}).value_or(-1),
            1000);

  // 1. The other peer keeps its session and our route, throughout.
  EXPECT_EQ(peer("frr")["state"], "Established");
  EXPECT_EQ(peer("frr")["established_count"], 1);
  EXPECT_TRUE(frr_has_route(frr));

  // Held Idle: no new session for the restart time (6 s) even though BIRD would take one.
  bool established = false;
  while (Clock::now() - t_fault < 4s) {
    established |= peer("srx").value("state", "") == "Established";
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_FALSE(established) << "the peer was re-connected before its hold time";

  // 3. The cause removed (BIRD back to 600 routes): after the hold the session comes back with
  //    exactly those routes, no restart.
  bird.announce(600);
  ASSERT_TRUE(wait_until(
      [&] {
        auto p = peer("srx");
        return p.value("state", "") == "Established" && p.value("prefixes_in", 0) == 600;
      },
      30s))
      << peer("srx").dump();
  srx = peer("srx");
  EXPECT_FALSE(srx["prefix_limit"].contains("exceeded")) << srx.dump();
  EXPECT_TRUE(bgp_status()["prefix_limit"]["peers_exceeded"].empty());
  EXPECT_EQ(netagent_.api("/v1/status")["pid"], pid);
  EXPECT_EQ(peer("frr")["established_count"], 1);
}

}  // namespace
}  // namespace netagent
