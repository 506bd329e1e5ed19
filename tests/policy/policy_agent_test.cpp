// Network policy end to end: the netagent binary on a node namespace, pods in their own
// namespaces behind veths, endpoints registered over the API as a CNI plugin would, and real TCP
// and UDP traffic through the policy programs on the host-side veths.
//  - deny by default drops, an allow policy admits, an edited manifest changes the verdict of new
//    connections within a second, and replies of allowed connections pass;
//  - the clusters' baseline (deny-all, allow-dns, allow-kube-apiserver, allow-from-gateway);
//  - audit mode lets denied traffic through and reports it (monitor, metrics);
//  - service translation composes with policy: a ClusterIP or NodePort is judged on the backend;
//  - a restart (kill -9) keeps enforcing; deleting an endpoint detaches its programs.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "netagent/netctl/client.hpp"
#include "netagent/testing/agent_node.hpp"
#include "netagent/testing/privileged.hpp"
#include "netagent/testing/topology.hpp"

namespace netagent {
namespace {

using namespace netagent::testing;
using namespace std::chrono_literals;
using nlohmann::json;

const char* kCluster = R"(apiVersion: v1
kind: Node
metadata: {name: node-a}
spec: {podCIDRs: [10.1.0.0/24]}
status: {addresses: [{type: InternalIP, address: 10.25.11.11}]}
---
apiVersion: v1
kind: Namespace
metadata: {name: demo, labels: {team: demo}}
---
apiVersion: v1
kind: Namespace
metadata: {name: kube-system}
---
apiVersion: v1
kind: Namespace
metadata: {name: gateway}
---
apiVersion: v1
kind: Service
metadata: {name: kubernetes, namespace: default}
spec:
  clusterIP: 10.96.0.1
  ports: [{name: https, port: 443, targetPort: 6443}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: kubernetes, namespace: default, labels: {kubernetes.io/service-name: kubernetes}}
addressType: IPv4
ports: [{name: https, port: 6443}]
endpoints: [{addresses: [10.1.0.100]}]
---
apiVersion: v1
kind: Service
metadata: {name: websvc, namespace: demo}
spec:
  type: NodePort
  clusterIP: 10.96.0.20
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080, nodePort: 30080}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: websvc-1, namespace: demo, labels: {kubernetes.io/service-name: websvc}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [10.1.0.5], nodeName: node-a}]
)";

std::string pod_manifest(const std::string& ns, const std::string& name, const std::string& ip,
                         const std::string& labels) {
  return "---\napiVersion: v1\nkind: Pod\nmetadata: {name: " + name + ", namespace: " + ns +
         ", labels: {" + labels + "}}\nspec: {nodeName: node-a, containers: [{name: c, image: " +
         "echo}]}\nstatus: {podIP: " + ip + ", podIPs: [{ip: " + ip + "}]}\n";
}

const char* kDenyAll = R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: demo}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
)";

const char* kAllowCliToWeb = R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: cli-to-web, namespace: demo}
specs:
- endpointSelector: {matchLabels: {app: web}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: cli}}]
    toPorts: [{ports: [{port: "8080", protocol: TCP}, {port: "5353", protocol: UDP}]}]
- endpointSelector: {matchLabels: {app: cli}}
  egress:
  - toEndpoints: [{matchLabels: {app: web}}]
    toPorts: [{ports: [{port: "8080", protocol: TCP}, {port: "5353", protocol: UDP}]}]
)";

class PolicyAgent : public ::testing::Test {
 protected:
  void SetUp() override {
    NETAGENT_REQUIRE_ROOT();
    lan_ = std::make_unique<Lan>("pol");
    node_ = lan_->host("node", "10.25.11.11/24");
    std::string cluster = kCluster;
    cluster += pod_manifest("demo", "web", "10.1.0.5", "app: web");
    cluster += pod_manifest("demo", "cli", "10.1.0.6", "app: cli");
    cluster += pod_manifest("demo", "other", "10.1.0.7", "app: other");
    cluster += pod_manifest("kube-system", "coredns", "10.1.0.53", "k8s-app: kube-dns");
    cluster += pod_manifest("gateway", "gateway", "10.1.0.80", "app.kubernetes.io/name: gateway");
    write("cluster.yaml", cluster);
  }

  void TearDown() override {
    if (monitor_) monitor_->stop(SIGTERM, 1s);
    if (agent_) agent_->stop(SIGTERM, 5s);
  }

  std::string socket() const { return netagent_.socket(); }
  void write(const std::string& file, const std::string& yaml) {
    netagent_.write_manifest(file, yaml);
  }
  void remove(const std::string& file) { netagent_.remove_manifest(file); }

  // A pod namespace behind the node with echo servers on the given ports (0 = none).
  Pod& pod(const std::string& name, const std::string& ip, uint16_t tcp = 8080,
           uint16_t udp = 5353) {
    pods_[name] = std::make_unique<Pod>(*node_, name, ip);
    std::vector<std::string> argv = {NETAGENT_ECHO_BIN, "--name", name};
    if (tcp) argv.insert(argv.end(), {"--tcp", std::to_string(tcp)});
    if (udp) argv.insert(argv.end(), {"--udp", std::to_string(udp)});
    if (tcp || udp) servers_.push_back(std::make_unique<Process>(argv, &pods_[name]->ns()));
    return *pods_[name];
  }

  void start_agent(std::vector<std::string> extra = {}) {
    agent_ = netagent_.start(node_->ns(), extra);
    bool ready = netagent_.wait_api(
        "/v1/policy", [](const json& p) { return p["identities"].get<size_t>() > 0; });
    ASSERT_TRUE(ready) << agent_->log();
  }

  json api(const std::string& path) { return netagent_.api(path); }

  // Registers a pod as the CNI plugin would on ADD.
  void register_pod(const std::string& ns, const std::string& name) {
    Pod& p = *pods_.at(name);
    json body = {
        {"namespace", ns}, {"pod", name}, {"interface", p.host_device()}, {"ips", {p.ip()}}};
    auto r = netctl::Client(socket(), 5s).post("/v1/endpoints", body);
    ASSERT_TRUE(r.ok()) << (r.ok() ? "" : r.error().str()) << agent_->log();
  }

  // A TCP (or UDP) request from a pod; "" when it got no answer. Clients run in the agent's
  // cgroup so that the socket LB translates service addresses, as for pods on a real node.
  std::string tcp(const std::string& from, const std::string& ip, uint16_t port,
                  int timeout_ms = 300) {
    auto r = run_in(pods_.at(from)->ns(), netagent_.cgroup.path(),
                    [&] { return tcp_request(ip, port, "hi", nullptr, timeout_ms); });
    return r.rfind("error", 0) == 0 ? "" : r;
  }
  std::string udp(const std::string& from, const std::string& ip, uint16_t port,
                  int timeout_ms = 300) {
    auto r = run_in(pods_.at(from)->ns(), netagent_.cgroup.path(),
                    [&] { return udp_request(ip, port, "hi", nullptr, timeout_ms); });
    return r.rfind("error", 0) == 0 ? "" : r;
  }

  // Waits until cond holds; returns how long it took (or -1 ms on timeout).
  std::chrono::milliseconds time_until(const std::function<bool()>& cond,
                                       std::chrono::milliseconds limit) {
    auto t0 = std::chrono::steady_clock::now();
    if (!wait_until(cond, limit, 10ms)) return -1ms;
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 t0);
  }

  void start_monitor(const std::vector<std::string>& filters = {}) {
    std::vector<std::string> argv = {NETCTL_BIN, "--socket", socket(), "monitor", "-o", "json"};
    argv.insert(argv.end(), filters.begin(), filters.end());
    monitor_ = std::make_unique<Process>(argv, nullptr, netagent_.dir.path() + "/monitor.log");
    ASSERT_TRUE(wait_until(
        [&] {
          json status = api("/v1/status");
          for (const auto& r : status["reconcilers"]) {
            if (r.value("name", "") == "policy" && r["status"].value("monitor_clients", 0) > 0)
              return true;
          }
          return false;
        },
        5s))
        << monitor_->log();
  }
  // The events the monitor printed so far.
  std::vector<json> monitor_events() {
    std::vector<json> out;
    std::ifstream in(netagent_.dir.path() + "/monitor.log");
    for (std::string line; std::getline(in, line);) {
      try {
        out.push_back(json::parse(line));
      } catch (...) {
      }
    }
    return out;
  }
  bool monitor_saw(const std::function<bool(const json&)>& pred) {
    return wait_until(
        [&] {
          for (const auto& e : monitor_events()) {
            if (pred(e)) return true;
          }
          return false;
        },
        3s);
  }

  double metric(const std::string& name, const std::map<std::string, std::string>& labels) {
    double sum = 0;
    json families = api("/v1/metrics");
    for (const auto& f : families) {
      if (f.value("name", "") != name) continue;
      for (const auto& s : f["samples"]) {
        bool ok = true;
        for (const auto& [k, v] : labels)
          ok = ok && s["labels"].value(k, "") == v;
        if (ok) sum += s["value"].get<double>();
      }
    }
    return sum;
  }

  AgentNode netagent_{{.tag = "polint"}};
  std::unique_ptr<Lan> lan_;
  std::unique_ptr<Host> node_;
  std::map<std::string, std::unique_ptr<Pod>> pods_;
  std::vector<std::unique_ptr<Process>> servers_;
  std::unique_ptr<Process> agent_, monitor_;
};

TEST_F(PolicyAgent, DenyByDefaultAllowPolicyAndLiveEdits) {
  pod("web", "10.1.0.5");
  pod("cli", "10.1.0.6", 0, 0);
  pod("other", "10.1.0.7", 0, 0);
  write("deny.yaml", kDenyAll);
  start_agent();
  auto t0 = std::chrono::steady_clock::now();
  for (const char* p : {"web", "cli", "other"})
    register_pod("demo", p);
  std::cout << "3 endpoint registrations (compile, maps, TC attach, state file): "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - t0)
                   .count()
            << " ms\n";
  start_monitor();

  // Registration errors name what is wrong; nothing is half-registered.
  json ghost = {
      {"namespace", "demo"}, {"pod", "ghost"}, {"interface", "nosuchdev0"}, {"ips", {"10.1.0.9"}}};
  auto bad = netctl::Client(socket(), 5s).request("POST", "/v1/endpoints", &ghost);
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.dump().find("nosuchdev0"), std::string::npos) << bad->body.dump();
  auto eps = api("/v1/endpoints")["endpoints"];
  ASSERT_EQ(eps.size(), 3u) << eps.dump();
  for (const auto& e : eps) {
    EXPECT_EQ(e["labels_from"], "manifest");
    EXPECT_TRUE(e["ingress_enforced"].get<bool>()) << e.dump();
    EXPECT_GE(e["identity"].get<uint32_t>(), 256u);
  }

  // Deny by default: neither TCP nor UDP gets through.
  EXPECT_EQ(tcp("cli", "10.1.0.5", 8080), "");
  EXPECT_EQ(udp("cli", "10.1.0.5", 5353), "");
  // ...except from the node itself (kubelet probes; its address on the veth is the host's).
  EXPECT_EQ(run_in(node_->ns(), "", [] { return tcp_request("10.1.0.5", 8080, "hi"); }), "web\n");

  // An allow policy admits cli (and only cli) within a second of the edit. The answer coming
  // back proves the replies pass web's egress and cli's ingress (both default-deny) as replies.
  write("allow.yaml", kAllowCliToWeb);
  auto took = time_until([&] { return tcp("cli", "10.1.0.5", 8080, 100) == "web\n"; }, 1s);
  EXPECT_GE(took.count(), 0) << "allow policy not effective within 1 s";
  std::cout << "manifest edit to allowed connection: " << took.count() << " ms\n";
  EXPECT_EQ(udp("cli", "10.1.0.5", 5353), "web\n");
  EXPECT_EQ(tcp("other", "10.1.0.5", 8080), "");

  // A pod the manifests do not know gets the labels its registration gives: app=cli is
  // admitted like cli.
  pod("extra", "10.1.0.9", 0, 0);
  json extra = {{"namespace", "demo"},
                {"pod", "extra"},
                {"interface", pods_.at("extra")->host_device()},
                {"ips", {"10.1.0.9"}},
                {"labels", {{"app", "cli"}}}};
  auto reg = netctl::Client(socket(), 5s).post("/v1/endpoints", extra);
  ASSERT_TRUE(reg.ok()) << (reg.ok() ? "" : reg.error().str());
  EXPECT_EQ((*reg)["labels_from"], "registration");
  EXPECT_EQ(tcp("extra", "10.1.0.5", 8080), "web\n");

  // A policy that does not validate is rejected with its file and field; the last good
  // policy keeps being enforced.
  write("bad.yaml", R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: typo, namespace: demo}
spec:
  endpointSelector: {}
  ingres: [{}]
)");
  ASSERT_TRUE(wait_until(
      [&] {
        return api("/v1/status")["source"]["last_errors"].dump().find("bad.yaml") !=
               std::string::npos;
      },
      2s))
      << api("/v1/status")["source"].dump();
  EXPECT_EQ(tcp("cli", "10.1.0.5", 8080), "web\n");
  EXPECT_EQ(tcp("other", "10.1.0.5", 8080), "");
  remove("bad.yaml");

  // Removing it denies new connections again within a second.
  remove("allow.yaml");
  took = time_until([&] { return tcp("cli", "10.1.0.5", 8080, 100) == ""; }, 1s);
  EXPECT_GE(took.count(), 0) << "removal not effective within 1 s";
  std::cout << "manifest edit to denied connection: " << took.count() << " ms\n";

  // The monitor saw a denial and an allowed verdict with the rule that allowed it.
  EXPECT_TRUE(monitor_saw([](const json& e) {
    return e["verdict"] == "denied" && e["type"] == "drop" && e["destination"] == "10.1.0.5:8080" &&
           e["reason"] == "policy_denied";
  })) << monitor_->log();
  EXPECT_TRUE(monitor_saw([](const json& e) {
    return e["verdict"] == "allowed" && e["direction"] == "ingress" &&
           e.value("endpoint", "") == "demo/web" &&
           e.value("rule", "").find("cli-to-web") != std::string::npos;
  })) << monitor_->log();
  EXPECT_GT(metric("netagent_policy_flow_events_total",
                   {{"verdict", "denied"}, {"reason", "policy_denied"}}),
            0);
  EXPECT_GT(metric("netagent_policy_verdicts_total", {{"verdict", "dropped"}}), 0);

  // The trace route explains the verdict with the deciding policy.
  t0 = std::chrono::steady_clock::now();
  auto t = api("/v1/policy/trace?src=demo/other&dst=demo/web&dport=8080&protocol=TCP");
  std::cout << "trace through the agent (kernel evaluation): "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - t0)
                   .count()
            << " ms\n";
  EXPECT_EQ(t["allowed"], false) << t.dump();
  EXPECT_NE(t["ingress"].value("rule", "").find("default-deny"), std::string::npos) << t.dump();

  // The same through netctl, for people and for scripts.
  const std::string netctl = std::string(NETCTL_BIN) + " --socket " + socket() + " ";
  std::string out;
  ASSERT_EQ(sh(netctl + "policy trace --src demo/other --dst demo/web --dport 8080", &out), 0)
      << out;
  EXPECT_NE(out.find("verdict:  DENIED"), std::string::npos) << out;
  EXPECT_NE(out.find("NetworkPolicy demo/default-deny"), std::string::npos) << out;
  ASSERT_EQ(sh(netctl + "endpoint list", &out), 0) << out;
  EXPECT_NE(out.find(pods_.at("web")->host_device()), std::string::npos) << out;
  EXPECT_NE(out.find("10.1.0.6"), std::string::npos) << out;
  ASSERT_EQ(sh(netctl + "endpoint get 1 -o json", &out), 0) << out;
  auto ep = json::parse(out);
  EXPECT_EQ(ep["pod"], "web");
  EXPECT_EQ(ep["state"], "enforcing");
  EXPECT_GT(ep["policy_entries"].get<int>(), 0) << out;
  ASSERT_EQ(sh(netctl + "policy list", &out), 0) << out;
  EXPECT_NE(out.find("default-deny"), std::string::npos) << out;
}

TEST_F(PolicyAgent, ClusterBaseline) {
  pod("web", "10.1.0.5");
  pod("other", "10.1.0.7", 0, 0);
  pod("coredns", "10.1.0.53", 53, 53);
  pod("gateway", "10.1.0.80", 8080, 0);
  auto& api_server = pod("apiserver", "10.1.0.100", 6443, 0);
  servers_.push_back(std::make_unique<Process>(
      std::vector<std::string>{NETAGENT_ECHO_BIN, "--name", "apiserver", "--tcp", "8443"},
      &api_server.ns()));
  // The baseline every application namespace of the example clusters runs.
  std::ifstream in(std::string(NETAGENT_SOURCE_DIR) + "/deploy/examples/infra/demo/policies.yaml");
  std::stringstream baseline;
  baseline << in.rdbuf();
  ASSERT_FALSE(baseline.str().empty());
  write("baseline.yaml", baseline.str());
  // An FQDN rule is reported as unsupported, not silently dropped.
  write("fqdn.yaml", R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: to-github, namespace: demo}
spec:
  endpointSelector: {matchLabels: {app: web}}
  egress:
  - toFQDNs: [{matchName: github.com}]
)");
  start_agent();
  register_pod("demo", "web");
  register_pod("demo", "other");
  register_pod("kube-system", "coredns");
  register_pod("gateway", "gateway");

  EXPECT_EQ(udp("web", "10.1.0.53", 53), "coredns\n");       // allow-dns
  EXPECT_EQ(tcp("web", "10.1.0.53", 53), "coredns\n");       // allow-dns, TCP
  EXPECT_EQ(tcp("web", "10.1.0.100", 6443), "apiserver\n");  // allow-kube-apiserver
  EXPECT_EQ(tcp("web", "10.1.0.100", 8443), "");             // ...that port only
  EXPECT_EQ(tcp("gateway", "10.1.0.5", 8080), "web\n");      // allow-from-gateway
  EXPECT_EQ(tcp("other", "10.1.0.5", 8080), "");             // default-deny ingress
  EXPECT_EQ(tcp("web", "10.1.0.80", 8080), "");              // default-deny egress

  auto pol = api("/v1/policy");
  bool reported = false;
  for (const auto& u : pol["unsupported"])
    reported = reported || u.get<std::string>().find("toFQDNs") != std::string::npos;
  EXPECT_TRUE(reported) << pol.dump();
  EXPECT_NE(agent_->log().find("toFQDNs"), std::string::npos) << "not logged";
}

TEST_F(PolicyAgent, AuditModeLetsThroughAndReports) {
  pod("web", "10.1.0.5");
  pod("cli", "10.1.0.6", 0, 0);
  write("deny.yaml", kDenyAll);
  start_agent({"--policy-audit-mode"});
  register_pod("demo", "web");
  register_pod("demo", "cli");
  start_monitor({"--verdict", "audited"});
  // And one for people (table mode), filtered by endpoint.
  Process human({NETCTL_BIN, "--socket", socket(), "monitor", "--endpoint", "demo/cli"}, nullptr,
                netagent_.dir.path() + "/monitor-human.log");
  ASSERT_TRUE(wait_until(
      [&] {
        json status = api("/v1/status");
        for (const auto& r : status["reconcilers"]) {
          if (r.value("name", "") == "policy" && r["status"].value("monitor_clients", 0) > 1)
            return true;
        }
        return false;
      },
      5s));

  EXPECT_EQ(tcp("cli", "10.1.0.5", 8080), "web\n");
  EXPECT_EQ(udp("cli", "10.1.0.5", 5353), "web\n");
  EXPECT_TRUE(monitor_saw([](const json& e) {
    return e["verdict"] == "audited" && e["destination"] == "10.1.0.5:8080" &&
           e["direction"] == "egress" && e.value("endpoint", "") == "demo/cli";
  })) << monitor_->log();
  // The filter holds: nothing but audit verdicts.
  for (const auto& e : monitor_events())
    EXPECT_EQ(e["verdict"], "audited") << e.dump();
  EXPECT_GT(metric("netagent_policy_flow_events_total", {{"verdict", "audited"}}), 0);
  EXPECT_TRUE(wait_until(
      [&] {
        return human.log().find("AUDITED egress TCP 10.1.0.6:") != std::string::npos &&
               human.log().find("-> 10.1.0.5:8080 endpoint demo/cli") != std::string::npos;
      },
      3s))
      << human.log();
  // Only demo/cli's events: web's ingress verdicts are filtered out.
  EXPECT_EQ(human.log().find("endpoint demo/web"), std::string::npos) << human.log();
  human.stop(SIGTERM, 1s);
  EXPECT_EQ(api("/v1/policy")["audit_mode"], true);
}

TEST_F(PolicyAgent, EnforcementModes) {
  pod("web", "10.1.0.5");
  pod("cli", "10.1.0.6", 0, 0);
  // always: no policy selects anything, yet everything is denied.
  start_agent({"--policy-enforcement", "always"});
  register_pod("demo", "web");
  register_pod("demo", "cli");
  EXPECT_EQ(tcp("cli", "10.1.0.5", 8080), "");
  auto t = api("/v1/policy/trace?src=demo/cli&dst=demo/web&dport=8080");
  EXPECT_NE(t["egress"].value("rule", "").find("policy enforcement mode always"), std::string::npos)
      << t.dump();
  EXPECT_EQ(api("/v1/endpoints/demo/web")["ingress_enforced"], true);

  // never: even a deny-all policy is not enforced. The endpoints come back from --state-dir.
  agent_->stop(SIGTERM);
  write("deny.yaml", kDenyAll);
  start_agent({"--policy-enforcement", "never"});
  EXPECT_TRUE(wait_until([&] { return tcp("cli", "10.1.0.5", 8080, 100) == "web\n"; }, 2s));
  EXPECT_EQ(api("/v1/policy")["enforcement"], "never");
}

TEST_F(PolicyAgent, ServiceTranslationComposesWithPolicy) {
  pod("web", "10.1.0.5");
  pod("cli", "10.1.0.6", 0, 0);
  pod("other", "10.1.0.7", 0, 0);
  auto client = lan_->host("client", "10.25.11.50/24");
  write("deny.yaml", kDenyAll);
  write("allow.yaml", kAllowCliToWeb);
  // The world may reach web on its container port (what a NodePort delivers after DNAT).
  write("world.yaml", R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: world-to-web, namespace: demo}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - fromEntities: [world]
    toPorts: [{ports: [{port: "8080", protocol: TCP}]}]
)");
  // A service without backends: the LB drops its packets, and the monitor shows that drop too.
  write("empty.yaml", R"(apiVersion: v1
kind: Service
metadata: {name: empty, namespace: demo}
spec:
  type: NodePort
  clusterIP: 10.96.0.30
  selector: {app: nothing}
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30099}]
)");
  start_agent();
  for (const char* p : {"web", "cli", "other"})
    register_pod("demo", p);
  start_monitor({"--type", "drop"});

  // cli may talk to web:8080 only; the ClusterIP 10.96.0.20:80 is neither web's address nor its
  // port, so this passes only because policy judges the backend the socket LB connected to.
  EXPECT_EQ(tcp("cli", "10.96.0.20", 80), "web\n");
  EXPECT_EQ(tcp("other", "10.96.0.20", 80), "");
  // From outside through the NodePort: DNAT on the node's device, then web's ingress policy
  // sees the world client and port 8080.
  auto np = run_in(client->ns(), "",
                   [&] { return tcp_request("10.25.11.11", 30080, "hi", nullptr, 1000); });
  EXPECT_EQ(np, "web\n");
  run_in(client->ns(), "", [&] { return tcp_request("10.25.11.11", 30099, "hi", nullptr, 200); });
  EXPECT_TRUE(monitor_saw([](const json& e) {
    return e["reason"] == "no_backend" && e["observation_point"] == "nodeport" &&
           e["destination"] == "10.25.11.11:30099";
  })) << monitor_->log();
  // The policy drop of other's attempt, judged at its endpoint on the backend address.
  EXPECT_TRUE(monitor_saw([](const json& e) {
    return e["reason"] == "policy_denied" && e.value("endpoint", "") == "demo/other" &&
           e["destination"] == "10.1.0.5:8080";
  })) << monitor_->log();
  remove("world.yaml");
  EXPECT_TRUE(wait_until(
      [&] {
        return run_in(client->ns(), "", [&] {
                 return tcp_request("10.25.11.11", 30080, "hi", nullptr, 100);
               }).rfind("error", 0) == 0;
      },
      2s));
}

TEST_F(PolicyAgent, RestartKeepsEnforcingAndDeleteDetaches) {
  pod("web", "10.1.0.5");
  pod("cli", "10.1.0.6", 0, 0);
  pod("other", "10.1.0.7", 0, 0);
  write("deny.yaml", kDenyAll);
  write("allow.yaml", kAllowCliToWeb);
  start_agent();
  for (const char* p : {"web", "cli", "other"})
    register_pod("demo", p);
  ASSERT_EQ(tcp("cli", "10.1.0.5", 8080), "web\n");
  ASSERT_EQ(tcp("other", "10.1.0.5", 8080), "");

  // While the agent is down the pinned maps and attached programs keep enforcing.
  agent_->stop(SIGKILL);
  EXPECT_EQ(tcp("cli", "10.1.0.5", 8080), "web\n");
  EXPECT_EQ(tcp("other", "10.1.0.5", 8080), "");

  // A new agent finds its endpoints in --state-dir and takes over.
  start_agent();
  auto eps = api("/v1/endpoints")["endpoints"];
  ASSERT_EQ(eps.size(), 3u) << eps.dump();
  EXPECT_EQ(tcp("cli", "10.1.0.5", 8080), "web\n");
  EXPECT_EQ(tcp("other", "10.1.0.5", 8080), "");
  remove("allow.yaml");
  EXPECT_TRUE(wait_until([&] { return tcp("cli", "10.1.0.5", 8080, 100) == ""; }, 2s));

  // CNI DEL: the programs leave the veth and the endpoint's entries leave the maps.
  const std::string dev = pods_.at("web")->host_device();
  auto del = netctl::Client(socket(), 5s).del("/v1/endpoints/demo/web");
  ASSERT_TRUE(del.ok()) << (del.ok() ? "" : del.error().str());
  std::string filters;
  node_->ns().sh("tc filter show dev " + dev + " egress", &filters);
  EXPECT_EQ(filters.find("bpf"), std::string::npos) << filters;
  auto gone = netctl::Client(socket(), 5s).request("GET", "/v1/endpoints/demo/web");
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->status, 404);
  EXPECT_EQ(api("/v1/endpoints")["endpoints"].size(), 2u);

  // `netagent --cleanup` (agent stopped) takes the programs off the remaining veths.
  agent_->stop(SIGTERM);
  agent_.reset();
  const std::string cli_dev = pods_.at("cli")->host_device();
  ASSERT_EQ(node_->ns().sh("tc filter show dev " + cli_dev + " ingress", &filters), 0);
  EXPECT_NE(filters.find("bpf"), std::string::npos) << "still attached after SIGTERM";
  std::string out;
  EXPECT_EQ(node_->ns().sh(std::string(NETAGENT_BIN) + " --cleanup --node-name node-a --cgroup " +
                               netagent_.cgroup.path() + " --devices eth0 --bpf-root " +
                               netagent_.bpf.path() + "/root --state-dir " + netagent_.dir.path() +
                               "/state --api-socket " + socket() + " 2>&1",
                           &out),
            0)
      << out;
  node_->ns().sh("tc filter show dev " + cli_dev + " ingress", &filters);
  EXPECT_EQ(filters.find("bpf"), std::string::npos) << filters;
  EXPECT_FALSE(std::filesystem::exists(netagent_.dir.path() + "/state/endpoints.json"));
}

}  // namespace
}  // namespace netagent
