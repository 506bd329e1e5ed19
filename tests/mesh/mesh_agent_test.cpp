// ClusterMesh end to end through the agent: two clusters, infra (id 1, pod CIDR 10.1.0.0/24,
// etcd at 10.25.11.100) and apps (id 2, pod CIDR 10.2.0.0/24, etcd at 10.25.11.120), each with
// a real etcd on mutual TLS (certificates made here) and one netagent on its node namespace. Pods
// in both clusters; the nodes route each other's pod CIDR. A client pod in infra (in the infra
// agent's cgroup, so the socket LB translates its connects) calls the global service demo/web.
//  - infra's backends scaled to zero: the client reaches apps' backends through the ClusterIP
//    (socket LB) and an external client through the LoadBalancer IP (TC LB); back with affinity
//    local;
//  - affinity remote prefers apps' backends and falls back to infra's;
//  - shared "false" in apps keeps apps' backends to apps;
//  - the apps etcd stopped: traffic keeps flowing on the last known state (stale); restarted: the
//    state resyncs and later changes arrive;
//  - the apps agent killed with SIGKILL: its entries expire with its lease;
//  - a cluster id conflict and an overlapping pod CIDR are refused with a clear message.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include "netagent/netctl/client.hpp"
#include "netagent/testing/agent_node.hpp"
#include "netagent/testing/etcd_fixture.hpp"
#include "netagent/testing/privileged.hpp"
#include "netagent/testing/topology.hpp"

namespace netagent {
namespace {

using namespace netagent::testing;
using namespace std::chrono_literals;
using nlohmann::json;
using testing::EtcdServer;
using testing::TestPki;

struct ClusterSpec {
  std::string name;
  int id;
  std::string node, node_ip, pod_cidr;
};

class MeshAgent : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    pki_ = new TestPki();
    for (const char* c : {"infra", "apps"}) {
      pki_->make_ca(std::string(c) + "-ca");
    }
    pki_->make_cert("infra-ca", "etcd-infra", {"10.25.11.100"}, true);
    pki_->make_cert("infra-ca", "infra-client", {}, false);
    pki_->make_cert("apps-ca", "etcd-apps", {"10.25.11.120"}, true);
    pki_->make_cert("apps-ca", "apps-client", {}, false);
  }
  static void TearDownTestSuite() {
    delete pki_;
    pki_ = nullptr;
  }

  void SetUp() override {
    NETAGENT_REQUIRE_ROOT();
    NETAGENT_REQUIRE(sh("command -v etcd >/dev/null") == 0,
                     "etcd (Debian etcd-server) is not installed");
    lan_ = std::make_unique<Lan>("mag");
    etcd_host_["infra"] = lan_->host("etcdi", "10.25.11.100/24");
    etcd_host_["apps"] = lan_->host("etcda", "10.25.11.120/24");
    node_["infra"] = lan_->host("infra", "10.25.11.11/24");
    node_["apps"] = lan_->host("apps", "10.25.11.21/24");
    node_["infra"]->route("10.2.0.0/24 via 10.25.11.21");
    node_["apps"]->route("10.1.0.0/24 via 10.25.11.11");
    etcd_["infra"] = std::make_unique<EtcdServer>(etcd_host_["infra"]->ns(), "etcd-infra",
                                                  "10.25.11.100", pki_, "infra-ca", "etcd-infra");
    etcd_["apps"] = std::make_unique<EtcdServer>(etcd_host_["apps"]->ns(), "etcd-apps",
                                                 "10.25.11.120", pki_, "apps-ca", "etcd-apps");
    etcd_["infra"]->start();
    etcd_["apps"]->start();

    add_pod("infra", "web-i", "10.1.0.5", "infra-web");
    add_pod("infra", "client", "10.1.0.9", "");
    add_pod("apps", "web-a", "10.2.0.5", "apps-web");
    add_pod("apps", "web-a2", "10.2.0.6", "apps-web2");
    add_pod("apps", "client-a", "10.2.0.9", "");

    spec_["infra"] = {"infra", 1, "infra-1", "10.25.11.11", "10.1.0.0/24"};
    spec_["apps"] = {"apps", 2, "apps-1", "10.25.11.21", "10.2.0.0/24"};
    for (const auto& c : {"infra", "apps"}) {
      std::filesystem::create_directories(manifests(c));
      write(c, "cluster.yaml", cluster_yaml(spec_[c]));
      write(c, "secret.yaml", secret_yaml());
    }
    write("infra", "service.yaml", service_yaml("local", true, "LoadBalancer"));
    write("infra", "pool.yaml",
          "apiVersion: cilium.io/v2alpha1\nkind: CiliumLoadBalancerIPPool\nmetadata: {name: "
          "infra-pool}\nspec:\n  blocks: [{start: 10.25.11.200, stop: 10.25.11.209}]\n");
    // An external client routes the LoadBalancer addresses to the infra node (as BGP would).
    client_ = lan_->host("client", "10.25.11.50/24");
    client_->route("10.25.11.200/29 via 10.25.11.11");
    write("infra", "slice.yaml", slice_yaml("infra-1", {"10.1.0.5"}));
    write("apps", "service.yaml", service_yaml("none", true));
    write("apps", "slice.yaml", slice_yaml("apps-1", {"10.2.0.5"}));
  }

  void TearDown() override {
    agent_.clear();
    servers_.clear();
    pods_.clear();
    etcd_.clear();
  }

  void add_pod(const std::string& cluster, const std::string& name, const std::string& ip,
               const std::string& echo_name) {
    auto pod = std::make_unique<Pod>(*node_[cluster], name, ip);
    if (!echo_name.empty()) {
      servers_.push_back(std::make_unique<Process>(
          std::vector<std::string>{NETAGENT_ECHO_BIN, "--name", echo_name, "--tcp", "8080"},
          &pod->ns()));
    }
    pods_[name] = std::move(pod);
    pod_cluster_[name] = cluster;
  }

  std::string cluster_yaml(const ClusterSpec& s) {
    std::string pods;
    for (const auto& [name, pod] : pods_) {
      if (pod_cluster_[name] != s.name) continue;
      std::string app = name.starts_with("client") ? "client" : "web";
      pods += "---\napiVersion: v1\nkind: Pod\nmetadata: {name: " + name +
              ", namespace: demo, labels: {app: " + app + "}}\nspec: {nodeName: " + s.node +
              "}\nstatus: {podIPs: [{ip: " + pod->ip() + "}]}\n";
    }
    return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cluster-settings, namespace: "
           "flux-system}\ndata: {CLUSTER: " +
           s.name + ", CLUSTER_ID: \"" + std::to_string(s.id) +
           "\"}\n---\napiVersion: v1\nkind: Node\nmetadata: {name: " + s.node +
           "}\nspec: {podCIDRs: [" + s.pod_cidr +
           "]}\nstatus: {addresses: [{type: InternalIP, address: " + s.node_ip +
           "}]}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n" + pods;
  }

  // The same Secret in both clusters, laid out as Cilium's.
  std::string secret_yaml(const std::string& without = "") {
    std::string y =
        "apiVersion: v1\nkind: Secret\nmetadata: {name: cilium-clustermesh, namespace: "
        "kube-system}\nstringData:\n";
    const std::map<std::string, std::string> ips = {{"infra", "10.25.11.100"},
                                                    {"apps", "10.25.11.120"}};
    for (const auto& [c, ip] : ips) {
      if (c != without)
        y += clustermesh_secret_entries(*pki_, c, ip, "/var/lib/cilium/clustermesh/");
    }
    return y;
  }

  static std::string service_yaml(const std::string& affinity, bool shared,
                                  const std::string& type = "ClusterIP") {
    return "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: demo\n"
           "  annotations:\n    service.cilium.io/global: \"true\"\n"
           "    service.cilium.io/affinity: " +
           affinity + "\n    service.cilium.io/shared: \"" + (shared ? "true" : "false") +
           "\"\n    lbipam.cilium.io/ips: 10.25.11.200\nspec:\n  type: " + type +
           "\n  clusterIP: 10.96.0.10\n  selector: {app: web}\n"
           "  ports: [{name: http, port: 80, targetPort: 8080}]\n";
  }

  static std::string slice_yaml(const std::string& node, const std::vector<std::string>& ips) {
    std::string y =
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-1, "
        "namespace: demo, labels: {kubernetes.io/service-name: web}}\naddressType: IPv4\n"
        "ports: [{name: http, port: 8080}]\nendpoints:";
    if (ips.empty()) return y + " []\n";
    y += "\n";
    for (const auto& ip : ips)
      y += "- {addresses: [" + ip + "], nodeName: " + node + "}\n";
    return y;
  }

  std::string manifests(const std::string& c) const { return dir_.path() + "/" + c + "/manifests"; }
  std::string socket(const std::string& key) const { return netagent_.at(key)->socket(); }
  void write(const std::string& c, const std::string& file, const std::string& yaml) {
    write_then_rename(manifests(c), file, yaml);
  }

  void start_agent(const std::string& c, std::vector<std::string> extra_args = {}) {
    start_agent_as(c, c, spec_[c].node, *node_[c], std::move(extra_args));
  }
  // An agent `key` (its socket, state and log under dir/key) of cluster `cluster` (its
  // manifests) on `host` with --node-name `node`: several agents may serve one cluster.
  void start_agent_as(const std::string& key, const std::string& cluster, const std::string& node,
                      Host& host, std::vector<std::string> extra_args = {}) {
    agent_.erase(key);
    if (!netagent_.contains(key)) {
      AgentNode::Options o{.tag = "mag-" + key, .node_name = node, .manifests = manifests(cluster)};
      o.flags.insert(o.flags.end(), {"--clustermesh-lease-ttl", "3"});
      netagent_.emplace(key, std::make_unique<AgentNode>(std::move(o)));
    }
    agent_[key] = netagent_[key]->start(host.ns(), extra_args);
    EXPECT_TRUE(wait_until([&] { return !api(key, "/v1/clustermesh", false).is_null(); }, 10s))
        << agent_[key]->log();
  }

  json api(const std::string& c, const std::string& path, bool expect_ok = true) {
    auto r = netctl::Client(socket(c), 2s).get(path);
    if (expect_ok) {
      EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().str());
    }
    return r.ok() ? *r : json();
  }
  json publisher(const std::string& c) {
    return api(c, "/v1/clustermesh", false).value("publisher", json::object());
  }
  // A metric's value as the agent exposes it (-1 when absent).
  double metric(const std::string& c, const std::string& name) {
    std::string out;
    sh(std::string(NETCTL_BIN) + " --socket " + socket(c) + " metrics " + name + " -o json", &out);
    auto j = json::parse(out, nullptr, false);
    if (j.is_discarded()) return -1;
    for (const auto& f : j)
      for (const auto& smp : f.value("samples", json::array()))
        return smp["value"].get<double>();
    return -1;
  }
  // Every key under cilium/ in cluster c's etcd, read from the etcd's own namespace.
  std::vector<etcd::KeyValue> etcd_keys(const std::string& c, const std::string& prefix) {
    testing::EnterNetns in(etcd_host_[c]->ns());
    boost::asio::io_context io;
    etcd::EtcdConfig cfg;
    cfg.name = "etcd of " + c;
    cfg.endpoints = {etcd_[c]->url()};
    cfg.tls = pki_->client_tls(c + "-ca", c + "-client");
    auto client = etcd::EtcdClient::create(io, cfg);
    EXPECT_TRUE(client.ok());
    if (!client.ok()) return {};
    auto r = testing::run_co(io, (*client)->range_all(prefix));
    (*client)->shutdown();
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().str());
    return r.ok() ? r->kvs : std::vector<etcd::KeyValue>{};
  }
  std::string lock_holder(const std::string& c) {
    auto kvs = etcd_keys(c, "cilium/.publisher/" + c);
    return kvs.size() == 1 ? kvs[0].value : "";
  }

  json remote(const std::string& c, const std::string& name) {
    for (const auto& r : api(c, "/v1/clustermesh", false).value("remoteClusters", json::array()))
      if (r.value("name", "") == name) return r;
    return json();
  }
  bool connected(const std::string& c, const std::string& name, size_t endpoints) {
    auto r = remote(c, name);
    return r.value("connected", false) && r.value("accepted", false) && !r.value("stale", true) &&
           r.value("endpointCount", 0u) == endpoints;
  }

  // Who answers the client pod's connection to the ClusterIP ("" when nobody).
  std::string served() {
    auto r = run_in(pods_["client"]->ns(), netagent_.at("infra")->cgroup.path(),
                    [] { return tcp_request("10.96.0.10", 80, "hi", nullptr, 500); });
    return r.rfind("error", 0) == 0 ? "" : r;
  }
  // Who answers the external client through the LoadBalancer IP.
  std::string served_lb() {
    auto r = run_in(client_->ns(), "",
                    [] { return tcp_request("10.25.11.200", 80, "hi", nullptr, 500); });
    return r.rfind("error", 0) == 0 ? "" : r;
  }
  std::set<std::string> answers(int n) {
    std::set<std::string> s;
    for (int i = 0; i < n; ++i)
      s.insert(served());
    return s;
  }
  bool answered_by(const std::set<std::string>& want, std::chrono::milliseconds timeout = 5s) {
    return wait_until([&] { return answers(6) == want; }, timeout);
  }
  std::string logs() {
    std::string out;
    for (auto& [c, a] : agent_)
      out += "--- " + c + " agent\n" + a->log();
    return out;
  }

  static TestPki* pki_;
  std::unique_ptr<Lan> lan_;
  std::map<std::string, std::unique_ptr<Host>> etcd_host_, node_;
  std::unique_ptr<Host> client_;
  std::map<std::string, std::unique_ptr<EtcdServer>> etcd_;
  std::map<std::string, std::unique_ptr<Pod>> pods_;
  std::map<std::string, std::string> pod_cluster_;
  std::vector<std::unique_ptr<Process>> servers_;
  std::map<std::string, ClusterSpec> spec_;
  TempDir dir_{"mesh-agent"};
  std::map<std::string, std::unique_ptr<AgentNode>> netagent_;
  std::map<std::string, std::unique_ptr<Process>> agent_;
};

TestPki* MeshAgent::pki_ = nullptr;

TEST_F(MeshAgent, GlobalServiceFailsOverToRemoteAndBackWithAffinityLocal) {
  start_agent("infra");
  start_agent("apps");
  ASSERT_TRUE(wait_until([&] { return connected("infra", "apps", 3); }, 15s))
      << remote("infra", "apps").dump() << logs();
  ASSERT_TRUE(wait_until([&] { return connected("apps", "infra", 2); }, 10s))
      << remote("apps", "infra").dump() << logs();
  // affinity local with a ready local backend: only infra's.
  EXPECT_TRUE(answered_by({"infra-web\n"})) << logs();

  // infra scales to zero: the client reaches apps' backends.
  write("infra", "slice.yaml", slice_yaml("infra-1", {}));
  EXPECT_TRUE(answered_by({"apps-web\n"})) << logs();
  // The LoadBalancer frontend (TC LB on the infra node) too.
  EXPECT_TRUE(wait_until([&] { return served_lb() == "apps-web\n"; }, 3s)) << served_lb() << logs();
  // netctl shows which cluster the backend lives in.
  std::string out;
  ASSERT_EQ(sh(std::string(NETCTL_BIN) + " --socket " + socket("infra") + " service list", &out), 0)
      << out;
  EXPECT_NE(out.find("10.2.0.5:8080/TCP (active, cluster apps"), std::string::npos) << out;
  // Apps scales up: the new backend arrives through etcd.
  write("apps", "slice.yaml", slice_yaml("apps-1", {"10.2.0.5", "10.2.0.6"}));
  EXPECT_TRUE(answered_by({"apps-web\n", "apps-web2\n"})) << logs();

  // infra's backend is back: affinity local prefers it again.
  write("infra", "slice.yaml", slice_yaml("infra-1", {"10.1.0.5"}));
  EXPECT_TRUE(answered_by({"infra-web\n"})) << logs();
  EXPECT_TRUE(wait_until([&] { return served_lb() == "infra-web\n"; }, 3s)) << served_lb();

  // netctl clustermesh status, table and JSON.
  ASSERT_EQ(
      sh(std::string(NETCTL_BIN) + " --socket " + socket("infra") + " clustermesh status", &out), 0)
      << out;
  EXPECT_NE(out.find("cluster infra (id 1)"), std::string::npos) << out;
  EXPECT_NE(out.find("connected"), std::string::npos) << out;
  ASSERT_EQ(
      sh(std::string(NETCTL_BIN) + " --socket " + socket("infra") + " clustermesh status -o json",
         &out),
      0);
  auto j = json::parse(out);
  ASSERT_EQ(j["remoteClusters"].size(), 1u) << out;
  EXPECT_EQ(j["remoteClusters"][0]["clusterID"], 2);
  EXPECT_EQ(j["remoteClusters"][0]["nodes"], 1);
  EXPECT_EQ(j["remoteClusters"][0]["services"], 1);
  EXPECT_EQ(j["globalServices"][0]["affinity"], "local");
}

TEST_F(MeshAgent, AffinityRemotePrefersTheRemoteClusterAndFallsBackToLocal) {
  write("infra", "service.yaml", service_yaml("remote", true));
  start_agent("infra");
  start_agent("apps");
  ASSERT_TRUE(wait_until([&] { return connected("infra", "apps", 3); }, 15s)) << logs();
  // A ready remote backend: the local one stands by.
  EXPECT_TRUE(answered_by({"apps-web\n"})) << logs();
  // Apps scales to zero: back to the local backend.
  write("apps", "slice.yaml", slice_yaml("apps-1", {}));
  EXPECT_TRUE(answered_by({"infra-web\n"})) << logs();
  write("apps", "slice.yaml", slice_yaml("apps-1", {"10.2.0.6"}));
  EXPECT_TRUE(answered_by({"apps-web2\n"})) << logs();
}

TEST_F(MeshAgent, PolicyOnTheRemoteClusterLabelAdmitsAppsPodsAndDeniesInfraPods) {
  // infra's web pods admit only endpoints of cluster apps (remote identities in the ipcache).
  write("infra", "policy.yaml", R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: only-apps, namespace: demo}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - fromEndpoints: [{matchLabels: {io.cilium.k8s.policy.cluster: apps}}]
    toPorts: [{ports: [{port: "8080", protocol: TCP}]}]
)");
  start_agent("infra");
  start_agent("apps");
  // The CNI plugin registers infra's web pod with its agent (policy is enforced on its veth).
  json body = {{"namespace", "demo"},
               {"pod", "web-i"},
               {"interface", pods_["web-i"]->host_device()},
               {"ips", {"10.1.0.5"}}};
  auto r = netctl::Client(socket("infra"), 5s).post("/v1/endpoints", body);
  ASSERT_TRUE(r.ok()) << (r.ok() ? "" : r.error().str()) << logs();
  ASSERT_TRUE(wait_until([&] { return connected("infra", "apps", 3); }, 15s)) << logs();
  auto from = [&](const std::string& pod) {
    auto out = run_in(pods_[pod]->ns(), "",
                      [] { return tcp_request("10.1.0.5", 8080, "hi", nullptr, 300); });
    return out.rfind("error", 0) == 0 ? "" : out;
  };
  // An apps pod is admitted, an infra pod is denied.
  EXPECT_TRUE(wait_until([&] { return from("client-a") == "infra-web\n"; }, 5s))
      << from("client-a") << logs();
  EXPECT_EQ(from("client"), "");
  EXPECT_EQ(from("client-a"), "infra-web\n");
  // The policy ipcache holds the remote pod with apps' identity (cluster id 2 in bits 16-23).
  std::string out;
  sh(std::string(NETCTL_BIN) + " --socket " + socket("infra") + " clustermesh status -o json",
     &out);
  EXPECT_EQ(json::parse(out)["remoteClusters"][0]["identities"].get<int>() > 0, true) << out;
}

TEST_F(MeshAgent, SharedFalseKeepsBackendsToTheirCluster) {
  write("infra", "slice.yaml", slice_yaml("infra-1", {}));
  write("apps", "service.yaml", service_yaml("none", false));
  // Infra's own etcd from --clustermesh-etcd-config (files on disk) instead of the Secret.
  write("infra", "secret.yaml", secret_yaml("infra"));
  const std::string etcd_config = dir_.path() + "/infra-etcd.config";
  std::ofstream(etcd_config) << "endpoints:\n- https://10.25.11.100:2379\ntrusted-ca-file: "
                             << pki_->path("infra-ca.crt")
                             << "\ncert-file: " << pki_->path("infra-client.crt")
                             << "\nkey-file: " << pki_->path("infra-client.key") << "\n";
  start_agent("infra", {"--clustermesh-etcd-config", etcd_config});
  start_agent("apps");
  ASSERT_TRUE(wait_until([&] { return connected("infra", "apps", 3); }, 15s)) << logs();
  // Infra publishes through the flag's etcd: apps sees its endpoints.
  ASSERT_TRUE(wait_until([&] { return connected("apps", "infra", 2); }, 10s)) << logs();
  // Apps does not share its backends: infra has none to use.
  EXPECT_TRUE(answered_by({""})) << logs();
  // Sharing again: they arrive.
  write("apps", "service.yaml", service_yaml("none", true));
  EXPECT_TRUE(answered_by({"apps-web\n"})) << logs();
}

TEST_F(MeshAgent, EtcdOutageKeepsLastKnownStateAndResyncs) {
  write("infra", "slice.yaml", slice_yaml("infra-1", {}));
  start_agent("infra");
  start_agent("apps");
  ASSERT_TRUE(wait_until([&] { return connected("infra", "apps", 3); }, 15s)) << logs();
  ASSERT_TRUE(answered_by({"apps-web\n"})) << logs();

  etcd_["apps"]->stop();
  ASSERT_TRUE(wait_until([&] { return remote("infra", "apps").value("stale", false); }, 10s))
      << remote("infra", "apps").dump();
  // The last known state stays programmed.
  EXPECT_EQ(answers(6), std::set<std::string>{"apps-web\n"}) << logs();
  EXPECT_EQ(remote("infra", "apps").value("endpointCount", 0), 3);
  // Back unchanged: the resync finds nothing new, so nothing is withdrawn or re-added (no
  // flap): no change reaches the agent.
  const auto changes = api("infra", "/v1/clustermesh")["remoteChanges"].get<uint64_t>();
  const auto resyncs = remote("infra", "apps")["resyncs"].get<uint64_t>();
  etcd_["apps"]->start();
  ASSERT_TRUE(wait_until(
      [&] {
        auto r = remote("infra", "apps");
        return connected("infra", "apps", 3) && r.value("resyncs", 0u) > resyncs;
      },
      15s))
      << remote("infra", "apps").dump() << logs();
  EXPECT_EQ(api("infra", "/v1/clustermesh")["remoteChanges"].get<uint64_t>(), changes);
  EXPECT_EQ(answers(6), std::set<std::string>{"apps-web\n"}) << logs();

  // Down again, and apps changes meanwhile; after the restart infra resyncs and follows.
  etcd_["apps"]->stop();
  ASSERT_TRUE(wait_until([&] { return remote("infra", "apps").value("stale", false); }, 10s));
  write("apps", "slice.yaml", slice_yaml("apps-1", {"10.2.0.6"}));
  std::this_thread::sleep_for(300ms);
  etcd_["apps"]->start();
  EXPECT_TRUE(wait_until([&] { return connected("infra", "apps", 3); }, 15s))
      << remote("infra", "apps").dump() << logs();
  EXPECT_TRUE(answered_by({"apps-web2\n"}, 10s)) << logs();
}

TEST_F(MeshAgent, KilledAgentsEntriesExpireWithItsLease) {
  write("infra", "slice.yaml", slice_yaml("infra-1", {}));
  start_agent("infra");
  start_agent("apps");
  ASSERT_TRUE(wait_until([&] { return connected("infra", "apps", 3); }, 15s)) << logs();
  ASSERT_TRUE(answered_by({"apps-web\n"})) << logs();
  agent_["apps"]->stop(SIGKILL);
  agent_.erase("apps");
  // TTL 3 s (etcd may raise it to its minimum): the endpoints and the service go.
  EXPECT_TRUE(wait_until(
      [&] {
        auto r = remote("infra", "apps");
        return r.value("endpointCount", 1) == 0 && r.value("services", 1) == 0;
      },
      15s))
      << remote("infra", "apps").dump();
  EXPECT_TRUE(answered_by({""})) << logs();
}

TEST_F(MeshAgent, ClusterIdConflictAndOverlappingPodCidrAreRefused) {
  write("infra", "slice.yaml", slice_yaml("infra-1", {}));
  spec_["apps"].id = 1;
  write("apps", "cluster.yaml", cluster_yaml(spec_["apps"]));
  start_agent("infra");
  start_agent("apps");
  ASSERT_TRUE(wait_until(
      [&] { return remote("infra", "apps").value("refusal", "").find("id") != std::string::npos; },
      15s))
      << remote("infra", "apps").dump() << logs();
  auto r = remote("infra", "apps");
  EXPECT_FALSE(r["accepted"].get<bool>());
  EXPECT_NE(r["refusal"].get<std::string>().find("1"), std::string::npos) << r.dump();
  EXPECT_EQ(r.value("endpointCount", 1), 0);
  EXPECT_TRUE(answered_by({""})) << logs();
  std::string out;
  sh(std::string(NETCTL_BIN) + " --socket " + socket("infra") + " clustermesh status", &out);
  EXPECT_NE(out.find("refused"), std::string::npos) << out;
  EXPECT_TRUE(
      wait_until([&] { return agent_["infra"]->log().find("refused") != std::string::npos; }, 5s));
  // Prometheus: the refused gauge of apps is 1.
  sh(std::string(NETCTL_BIN) + " --socket " + socket("infra") +
         " metrics netagent_clustermesh_remote_cluster_refused -o json",
     &out);
  auto refused = json::parse(out, nullptr, false);
  ASSERT_FALSE(refused.is_discarded()) << out;
  double refused_value = -1;
  for (const auto& f : refused) {
    for (const auto& smp : f.value("samples", json::array())) {
      if (smp["labels"].dump().find("apps") != std::string::npos)
        refused_value = smp["value"].get<double>();
    }
  }
  EXPECT_EQ(refused_value, 1) << out;

  // Id fixed, but apps now claims a pod CIDR overlapping infra's.
  spec_["apps"].id = 2;
  spec_["apps"].pod_cidr = "10.1.0.0/16";
  write("apps", "cluster.yaml", cluster_yaml(spec_["apps"]));
  EXPECT_TRUE(wait_until(
      [&] {
        auto r = remote("infra", "apps");
        return r.value("clusterID", 0) == 2 &&
               r.value("refusal", "").find("overlap") != std::string::npos;
      },
      15s))
      << remote("infra", "apps").dump() << logs();
  EXPECT_TRUE(answered_by({""})) << logs();

  // Both fixed: accepted.
  spec_["apps"].pod_cidr = "10.2.0.0/24";
  write("apps", "cluster.yaml", cluster_yaml(spec_["apps"]));
  EXPECT_TRUE(wait_until([&] { return connected("infra", "apps", 3); }, 15s))
      << remote("infra", "apps").dump() << logs();
  EXPECT_TRUE(answered_by({"apps-web\n"})) << logs();
}

// Two agents in cluster apps (nodes apps-1 and apps-2, the same manifests): one publishes, the
// other stands by; when the publisher is killed the standby takes the lock over within the lease
// TTL + the lock retry, and infra's view of apps comes back complete. A graceful restart of the
// publisher within its TTL keeps the lock.
TEST_F(MeshAgent, OnePublisherPerClusterAndTheStandbyTakesOver) {
  write("infra", "slice.yaml", slice_yaml("infra-1", {}));
  write("apps", "node2.yaml",
        "apiVersion: v1\nkind: Node\nmetadata: {name: apps-2}\nspec: {podCIDRs: "
        "[10.2.0.0/24]}\nstatus: {addresses: [{type: InternalIP, address: 10.25.11.22}]}\n");
  node_["apps2"] = lan_->host("apps2", "10.25.11.22/24");
  start_agent("infra");
  // apps-2 (no pods of its own) starts first and takes the lock; apps-1 stands by.
  start_agent_as("apps2", "apps", "apps-2", *node_["apps2"]);
  ASSERT_TRUE(wait_until([&] { return publisher("apps2").value("role", "") == "leader"; }, 10s))
      << publisher("apps2").dump() << logs();
  start_agent("apps");
  ASSERT_TRUE(wait_until([&] { return publisher("apps").value("role", "") == "standby"; }, 10s))
      << publisher("apps").dump() << logs();
  ASSERT_TRUE(wait_until(
      [&] {
        auto r = remote("infra", "apps");
        return connected("infra", "apps", 3) && r.value("nodes", 0) == 2 &&
               r.value("services", 0) == 1;
      },
      15s))
      << remote("infra", "apps").dump() << logs();
  ASSERT_TRUE(answered_by({"apps-web\n"})) << logs();

  // Only apps-2 writes: the lock names it, every key of apps is under its lease, the standby
  // wrote nothing and says who publishes.
  EXPECT_EQ(lock_holder("apps"), "apps-2");
  auto leader = publisher("apps2"), standby = publisher("apps");
  EXPECT_EQ(standby.value("holder", ""), "apps-2") << standby.dump();
  EXPECT_EQ(standby.value("puts", 1), 0) << standby.dump();
  EXPECT_EQ(standby.value("lockKey", ""), "cilium/.publisher/apps");
  const int64_t lease = leader.value("leaseID", int64_t(0));
  ASSERT_NE(lease, 0);
  size_t keys = 0;
  for (const auto& kv : etcd_keys("apps", "cilium/")) {
    EXPECT_EQ(kv.lease, lease) << kv.key << " is not under the publisher's lease";
    ++keys;
  }
  EXPECT_GT(keys, 5u);
  EXPECT_EQ(metric("apps2", "netagent_clustermesh_publisher_leader"), 1);
  EXPECT_EQ(metric("apps", "netagent_clustermesh_publisher_leader"), 0);
  std::string out;
  sh(std::string(NETCTL_BIN) + " --socket " + socket("apps") + " clustermesh status", &out);
  EXPECT_NE(out.find("publisher: standby (lock cilium/.publisher/apps held by apps-2)"),
            std::string::npos)
      << out;

  // kill -9 the publisher: its lease (and the lock, and every key) expire after the TTL; the
  // standby takes the lock within ~1 s and writes everything again.
  const int ttl = leader.value("leaseTTLSeconds", 3);
  const auto killed = std::chrono::steady_clock::now();
  agent_["apps2"]->stop(SIGKILL);
  agent_.erase("apps2");
  // Meanwhile: when infra lost apps' endpoints (the old lease expired) and got them back.
  std::optional<double> gone, back;
  auto watch_gap = [&] {
    const double t =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
    const auto n = remote("infra", "apps").value("endpointCount", -1);
    if (n == 0 && !gone) gone = t;
    if (n == 3 && gone && !back) back = t;
  };
  ASSERT_TRUE(wait_until(
      [&] {
        watch_gap();
        return publisher("apps").value("role", "") == "leader";
      },
      std::chrono::seconds(ttl + 5)))
      << publisher("apps").dump() << logs();
  const double takeover =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  EXPECT_LT(takeover, ttl + 1.5) << "TTL " << ttl << " s";
  EXPECT_EQ(lock_holder("apps"), "apps-1");
  ASSERT_TRUE(wait_until(
      [&] {
        watch_gap();
        auto r = remote("infra", "apps");
        return connected("infra", "apps", 3) && r.value("nodes", 0) == 2 &&
               r.value("services", 0) == 1 && r.value("identities", 0) > 0;
      },
      5s))
      << remote("infra", "apps").dump() << logs();
  const double complete =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  EXPECT_TRUE(answered_by({"apps-web\n"})) << logs();
  std::printf(
      "[   INFO   ] lease TTL %d s: standby took over %.2f s after kill -9, infra saw "
      "apps complete again after %.2f s (its endpoints gone at %.2f s, back at %.2f s)\n",
      ttl, takeover, complete, gone.value_or(-1), back.value_or(-1));
  EXPECT_EQ(metric("apps", "netagent_clustermesh_publisher_leader"), 1);

  // apps-2 comes back: it stands by. The publisher apps-1 restarted gracefully (SIGTERM, not a
  // decommission) within its TTL keeps the lock (its remembered lease) and rewrites nothing.
  start_agent_as("apps2", "apps", "apps-2", *node_["apps2"]);
  ASSERT_TRUE(wait_until([&] { return publisher("apps2").value("role", "") == "standby"; }, 10s))
      << publisher("apps2").dump() << logs();
  const int64_t lease1 = publisher("apps").value("leaseID", int64_t(0));
  const auto events = remote("infra", "apps").value("events", uint64_t(0));
  agent_["apps"]->stop(SIGTERM);
  start_agent("apps");
  ASSERT_TRUE(wait_until([&] { return publisher("apps").value("role", "") == "leader"; }, 10s))
      << publisher("apps").dump() << logs();
  EXPECT_EQ(publisher("apps").value("leaseID", int64_t(0)), lease1);
  EXPECT_TRUE(wait_until([&] { return publisher("apps").value("synced", false); }, 5s));
  EXPECT_EQ(publisher("apps").value("puts", 1), 0) << publisher("apps").dump();
  EXPECT_EQ(lock_holder("apps"), "apps-1");
  EXPECT_EQ(publisher("apps2").value("role", ""), "standby");
  EXPECT_EQ(remote("infra", "apps").value("events", uint64_t(0)), events);
  EXPECT_TRUE(answered_by({"apps-web\n"})) << logs();
}

}  // namespace
}  // namespace netagent
