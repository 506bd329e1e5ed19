// The agent with the Kubernetes API as its source, end to end: the netagent binary on node-a
// (10.25.11.11) in a node namespace reads the stand-in API server (tests/support, NOT
// Kubernetes, proved against kubectl and python3-kubernetes in tests/kube_standin) on an "api"
// host of the LAN (10.25.11.5:6443), and peers with BIRD standing in for the SRX (10.25.11.1).
//  - services, endpoints, pools and the BGP policy created through the API reach the LB maps and
//    BIRD; a service created, an EndpointSlice scaled and a service deleted through the API
//    follow; the leader writes status.loadBalancer.ingress back and holds the Lease;
//  - the API server killed: the state stays programmed and announced, status and metrics say
//    stale; restarted with its storage (older versions compacted, so the watches get 410 and
//    relist): the agent resyncs without touching the maps or BIRD;
//  - a relist after compaction deletes exactly what disappeared meanwhile;
//  - a bad object is reported, and nothing else is lost;
//  - two agents, one Lease: the status is written once; the leader killed, the other takes over.
#include <gtest/gtest.h>
#include <signal.h>
#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "netagent/testing/agent_node.hpp"
#include "netagent/testing/kube_standin.hpp"
#include "netagent/testing/privileged.hpp"
#include "netagent/testing/routers.hpp"
#include "netagent/testing/topology.hpp"

namespace netagent {
namespace {

using namespace netagent::testing;
using namespace std::chrono_literals;
using nlohmann::json;

// YAML as tests write it, as the JSON the API takes: integers and booleans typed, the rest
// strings.
json to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json o = json::object();
      for (auto it = n.begin(); it != n.end(); ++it)
        o[it->first.Scalar()] = to_json(it->second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (const auto& c : n)
        a.push_back(to_json(c));
      return a;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = n.Scalar();
      if (n.Tag() == "!") return s;  // quoted
      if (s == "true" || s == "false") return s == "true";
      if (!s.empty() && s.find_first_not_of("0123456789") == std::string::npos && s.size() < 10)
        return std::stoll(s);
      return s;
    }
    default:
      return nullptr;
  }
}

std::vector<json> objects(const std::string& yaml) {
  std::vector<json> out;
  for (const auto& doc : YAML::LoadAll(yaml))
    out.push_back(to_json(doc));
  return out;
}

const char* kCluster = R"(apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {bgp-policy: infra}}
status: {addresses: [{type: InternalIP, address: 10.25.11.11}]}
---
apiVersion: v1
kind: Node
metadata: {name: node-b, labels: {bgp-policy: infra}}
status: {addresses: [{type: InternalIP, address: 10.25.11.12}]}
---
apiVersion: cilium.io/v2alpha1
kind: CiliumLoadBalancerIPPool
metadata: {name: infra-pool}
spec:
  blocks: [{start: 10.25.11.100, stop: 10.25.11.119}]
---
apiVersion: cilium.io/v2alpha1
kind: CiliumBGPPeeringPolicy
metadata: {name: infra}
spec:
  nodeSelector: {matchLabels: {bgp-policy: infra}}
  virtualRouters:
  - localASN: 64512
    exportPodCIDR: false
    serviceSelector:
      matchExpressions: [{key: announce, operator: NotIn, values: ["no"]}]
    neighbors:
    - peerAddress: 10.25.11.1/32
      peerASN: 64501
      connectRetryTimeSeconds: 1
      holdTimeSeconds: 9
      keepAliveTimeSeconds: 3
)";

// A LoadBalancer service with its EndpointSlice: ClusterIP 10.96.0.<n>, the pool's choice of
// address (or `ip` when given), backends 10.1.0.<n>... on node-a.
std::vector<json> service(const std::string& name, int n, int backends = 1,
                          const std::string& ip = "") {
  std::string y = "apiVersion: v1\nkind: Service\nmetadata: {name: " + name + ", namespace: demo" +
                  (ip.empty() ? "" : ", annotations: {lbipam.cilium.io/ips: " + ip + "}") +
                  "}\nspec:\n  type: LoadBalancer\n  clusterIP: 10.96.0." + std::to_string(n) +
                  "\n  selector: {app: " + name +
                  "}\n  ports: [{name: http, port: 80, targetPort: 8080}]\n---\n"
                  "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: " +
                  name + "-1, namespace: demo, labels: {kubernetes.io/service-name: " + name +
                  "}}\naddressType: IPv4\nports: [{name: http, port: 8080}]\nendpoints:\n";
  for (int b = 0; b < backends; ++b) {
    y += "- {addresses: [10.1." + std::to_string(b) + "." + std::to_string(n) +
         "], nodeName: node-a, conditions: {ready: true}}\n";
  }
  return objects(y);
}

class AgentOnApi : public ::testing::Test {
 protected:
  void SetUp() override {
    NETAGENT_REQUIRE_ROOT();
    NETAGENT_REQUIRE(sh("command -v bird >/dev/null && command -v birdc >/dev/null") == 0,
                     "BIRD 2 is not installed (apt-get install bird2)");
    lan_ = std::make_unique<Lan>("kap");
    router_ = lan_->host("srx", "10.25.11.1/24");
    api_host_ = lan_->host("api", "10.25.11.5/24");
    node_ = lan_->host("node", "10.25.11.11/24");
    KubeStandin::Options o;
    o.listen = "10.25.11.5:6443";
    o.netns = &api_host_->ns();
    o.snapshot = true;
    standin_ = std::make_unique<KubeStandin>(o);
    standin_->create_namespace("demo");
    for (const auto& obj : objects(kCluster)) {
      standin_->apply(obj);
      // Node addresses are status: written through the status subresource, as kubelet does.
      if (obj["kind"] == "Node") standin_->apply_status(obj);
    }
  }
  void TearDown() override {
    if (HasFailure()) {
      if (agent_) std::cerr << "---- agent log\n" << agent_->log();
      if (standin_) std::cerr << "---- stand-in log\n" << standin_->log();
    }
  }

  std::vector<std::string> api_flags() const {
    return {"--k8s-api-server", "http://10.25.11.5:6443", "--k8s-lease-duration", "3"};
  }
  void start_agent() {
    agent_ = node_agent_.start(node_->ns(), api_flags());
    ASSERT_TRUE(node_agent_.wait_api("/v1/status")) << agent_->log();
  }
  void apply(const std::vector<json>& objs) {
    for (const auto& o : objs)
      standin_->apply(o);
  }
  void remove(const std::vector<json>& objs) {
    for (const auto& o : objs)
      standin_->remove(o);
  }
  // The Service's status.loadBalancer.ingress addresses as the API server holds them.
  std::vector<std::string> ingress(const std::string& name) {
    json svc = standin_->get(service(name, 1)[0]);
    std::vector<std::string> out;
    if (!svc.is_object()) return out;
    for (const auto& i : svc.value("status", json::object())
                             .value("loadBalancer", json::object())
                             .value("ingress", json::array()))
      out.push_back(i.value("ip", ""));
    return out;
  }
  bool programmed(AgentNode& node) {
    auto services = node.api("/v1/services");
    auto lb = node.api("/v1/bpf/lb");
    return !lb_wanted(services).empty() && lb_wanted(services) == lb_in_maps(lb);
  }
  json source(AgentNode& node) { return node.api("/v1/status")["source"]; }
  // The first Event in namespace demo about object `name`, waited for (null after 5 s).
  json event_about(const std::string& name) {
    json event;
    EXPECT_TRUE(wait_until(
        [&] {
          auto r = standin_->request("GET", "/api/v1/namespaces/demo/events");
          for (const auto& e : r.json().value("items", json::array())) {
            if (e["involvedObject"]["name"] == name) event = e;
          }
          return event.is_object();
        },
        5s))
        << "no Event about " << name;
    return event;
  }
  // The status writer's Lease as the API server holds it.
  json lease() {
    return standin_->get(
        json{{"apiVersion", "coordination.k8s.io/v1"},
             {"kind", "Lease"},
             {"metadata", {{"name", "netagent-lb-ipam"}, {"namespace", "kube-system"}}}});
  }

  std::unique_ptr<Lan> lan_;
  std::unique_ptr<Host> router_, api_host_, node_;
  std::unique_ptr<KubeStandin> standin_;
  AgentNode node_agent_{{.tag = "api-agent"}};
  std::unique_ptr<Process> agent_;
};

const std::string kWeb = "10.25.11.100/32", kApi = "10.25.11.101/32", kNew = "10.25.11.102/32";

TEST_F(AgentOnApi, ObjectsFromTheApiReachTheMapsBirdAndStatus) {
  Bird bird(router_->ns(), node_agent_.dir.path());
  apply(service("web", 10, 1, "10.25.11.100"));
  apply(service("api", 11, 1, "10.25.11.101"));
  start_agent();

  ASSERT_TRUE(wait_until([&] { return bird.established(); }, 15s)) << bird.details();
  ASSERT_TRUE(wait_until(
      [&] {
        return bird.prefixes() == std::set<std::string>{kWeb, kApi};
      },
      10s))
      << bird.cmd("show route");
  ASSERT_TRUE(wait_until([&] { return programmed(node_agent_); }, 5s));
  auto want = lb_wanted(node_agent_.api("/v1/services"));
  EXPECT_EQ(want.at("10.96.0.10:80/TCP"), std::set<std::string>{"10.1.0.10:8080/TCP"});
  EXPECT_EQ(want.at("10.25.11.100:80/TCP"), std::set<std::string>{"10.1.0.10:8080/TCP"});

  // Status: every watched kind synced, none stale; the status writer leads and wrote the
  // addresses back.
  auto src = source(node_agent_);
  EXPECT_EQ(src["state"], "ok") << src.dump();
  EXPECT_FALSE(src["stale"].get<bool>());
  std::set<std::string> states;
  for (const auto& p : src["parts"])
    states.insert(p["name"].get<std::string>() + "=" + p["state"].get<std::string>());
  EXPECT_TRUE(states.count("services/v1=synced")) << src.dump();
  EXPECT_TRUE(states.count("ciliumloadbalancerippools.cilium.io/v2=synced")) << src.dump();
  EXPECT_TRUE(
      wait_until([&] { return ingress("web") == std::vector<std::string>{"10.25.11.100"}; }, 10s))
      << standin_->get(service("web", 1)[0]).dump();
  EXPECT_TRUE(
      wait_until([&] { return ingress("api") == std::vector<std::string>{"10.25.11.101"}; }, 5s));
  EXPECT_EQ(lease()["spec"]["holderIdentity"], "node-a") << lease().dump();
  auto writer = node_agent_.api("/v1/status")["reconcilers"];
  bool leader = false;
  for (const auto& r : writer) {
    if (r["name"] == "k8s-status") leader = r["status"]["leader"].get<bool>();
  }
  EXPECT_TRUE(leader) << writer.dump();

  // Created, scaled and deleted through the API.
  apply(service("new", 12, 1, "10.25.11.102"));
  EXPECT_TRUE(wait_until(
      [&] {
        return bird.prefixes() == std::set<std::string>{kWeb, kApi, kNew};
      },
      2s))
      << bird.cmd("show route");
  apply({service("web", 10, 3, "10.25.11.100")[1]});  // the slice, now 3 endpoints
  EXPECT_TRUE(wait_until(
      [&] {
        auto w = lb_wanted(node_agent_.api("/v1/services"));
        return w.count("10.96.0.10:80/TCP") && w.at("10.96.0.10:80/TCP").size() == 3 &&
               programmed(node_agent_);
      },
      2s))
      << node_agent_.api("/v1/services").dump();
  remove(service("api", 11));
  EXPECT_TRUE(wait_until(
      [&] {
        return bird.prefixes() == std::set<std::string>{kWeb, kNew};
      },
      2s))
      << bird.cmd("show route");
  EXPECT_TRUE(wait_until(
      [&] { return !lb_wanted(node_agent_.api("/v1/services")).count("10.96.0.11:80/TCP"); }, 2s));

  // A request LB IPAM cannot meet (an address outside every pool): a Warning Event on it.
  apply(service("wrong", 13, 1, "10.25.11.200"));
  json event = event_about("wrong");
  EXPECT_EQ(event["type"], "Warning") << event.dump();
  EXPECT_EQ(event["reason"], "LBIPAM_no_pool") << event.dump();
  EXPECT_TRUE(ingress("wrong").empty());

  // The leader renews its Lease (an update) every 2/15 of the 3 s duration.
  EXPECT_TRUE(wait_until(
      [&] {
        json l = lease();
        return l["spec"]["renewTime"] != l["spec"]["acquireTime"];
      },
      3s));

  // The RBAC the DaemonSet ships is exactly what the agent used: every request allowed, every
  // rule used (a `list` only granted for the list+watch fallback of a kind it watched with
  // WatchList), secrets read in one namespace only.
  std::set<std::string> allowed, used, listed_fallback;
  for (const auto& doc : YAML::LoadAllFromFile(std::string(NETAGENT_SOURCE_DIR) +
                                               "/deploy/netagent/daemonset.yaml")) {
    const std::string kind = doc["kind"].as<std::string>();
    if (kind != "ClusterRole" && kind != "Role") continue;
    for (const auto& rule : doc["rules"]) {
      for (const auto& g : rule["apiGroups"])
        for (const auto& r : rule["resources"])
          for (const auto& v : rule["verbs"])
            allowed.insert(g.as<std::string>() + "|" + r.as<std::string>() + "|" +
                           v.as<std::string>());
    }
  }
  std::set<std::string> secret_namespaces;
  for (const auto& a : standin_->request("GET", "/standin/audit").json()) {
    if (a["userAgent"] != "netagent") continue;  // the test's own requests are "netagent-tests"
    const std::string key = a["group"].get<std::string>() + "|" + a["resource"].get<std::string>() +
                            "|" + a["verb"].get<std::string>();
    used.insert(key);
    EXPECT_TRUE(allowed.count(key)) << "the agent used " << key << ", which RBAC does not grant";
    if (a["resource"] == "secrets") secret_namespaces.insert(a["namespace"]);
    if (a["verb"] == "watch")
      listed_fallback.insert(a["group"].get<std::string>() + "|" +
                             a["resource"].get<std::string>() + "|list");
  }
  for (const auto& key : allowed) {
    EXPECT_TRUE(used.count(key) || listed_fallback.count(key))
        << "RBAC grants " << key << ", which the agent never used";
  }
  EXPECT_EQ(secret_namespaces, std::set<std::string>{"kube-system"});
}

TEST_F(AgentOnApi, LosingTheApiServerKeepsTheStateAndItsReturnCausesNoFlap) {
  Bird bird(router_->ns(), node_agent_.dir.path());
  apply(service("web", 10, 2, "10.25.11.100"));
  apply(service("api", 11, 1, "10.25.11.101"));
  start_agent();
  ASSERT_TRUE(wait_until([&] { return bird.established(); }, 15s)) << bird.details();
  ASSERT_TRUE(wait_until(
      [&] {
        return bird.prefixes() == std::set<std::string>{kWeb, kApi};
      },
      10s));
  ASSERT_TRUE(wait_until([&] { return programmed(node_agent_); }, 5s));
  const auto lb_before = lb_in_maps(node_agent_.api("/v1/bpf/lb"));
  const auto lb_applies = [&] {
    const json status = node_agent_.api("/v1/status");  // not a temporary: range-for below
    for (const auto& r : status["reconcilers"]) {
      if (r["name"] == "lb") return r["applies"].get<uint64_t>();
    }
    return uint64_t(0);
  };
  // Status writes settle first (each comes back through the watch).
  ASSERT_TRUE(
      wait_until([&] { return ingress("api") == std::vector<std::string>{"10.25.11.101"}; }, 10s));
  std::this_thread::sleep_for(500ms);
  const uint64_t generation = node_agent_.api("/v1/status")["snapshot"]["generation"];

  // Gone (stopped with its storage saved, as an API server whose etcd survives): the agent keeps
  // everything programmed and announced, and says it is stale.
  standin_->kill(SIGTERM);
  ASSERT_TRUE(wait_until([&] { return source(node_agent_)["stale"] == true; }, 10s))
      << source(node_agent_).dump();
  auto src = source(node_agent_);
  EXPECT_EQ(src["state"], "stale (serving the last state seen)") << src.dump();
  EXPECT_FALSE(src["stale_reason"].get<std::string>().empty());
  auto metrics = node_agent_.api("/v1/metrics");
  EXPECT_EQ(metric_value(metrics, "netagent_source_stale"), 1.0);
  EXPECT_EQ(lb_in_maps(node_agent_.api("/v1/bpf/lb")), lb_before);
  EXPECT_EQ(bird.prefixes(), (std::set<std::string>{kWeb, kApi}));

  // Back with its storage (older versions compacted: the watches get 410 and relist). Same
  // objects, same digests: no new snapshot reaches the parts, nothing is re-programmed.
  const uint64_t applies = lb_applies();
  standin_->restart(true);
  ASSERT_TRUE(wait_until([&] { return source(node_agent_)["stale"] == false; }, 15s))
      << source(node_agent_).dump();
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(node_agent_.api("/v1/status")["snapshot"]["generation"], generation);
  EXPECT_EQ(lb_applies(), applies);
  EXPECT_EQ(lb_in_maps(node_agent_.api("/v1/bpf/lb")), lb_before);
  EXPECT_EQ(bird.prefixes(), (std::set<std::string>{kWeb, kApi}));
  EXPECT_GE(metric_value(node_agent_.api("/v1/metrics"), "netagent_source_stale"), 0.0);

  // A relist deletes exactly what disappeared: api deleted while the agent's watches are cut
  // and the history compacted (the resumed watches get 410 and list again).
  standin_->cut_watches();
  remove(service("api", 11));
  standin_->compact();
  EXPECT_TRUE(wait_until([&] { return bird.prefixes() == std::set<std::string>{kWeb}; }, 10s))
      << bird.cmd("show route");
  auto w = lb_wanted(node_agent_.api("/v1/services"));
  EXPECT_EQ(w.count("10.96.0.11:80/TCP"), 0u);
  EXPECT_EQ(w.at("10.96.0.10:80/TCP").size(), 2u);
}

TEST_F(AgentOnApi, ABadObjectIsReportedAndNothingElseIsLost) {
  apply(service("web", 10, 1, "10.25.11.100"));
  start_agent();
  ASSERT_TRUE(wait_until([&] { return programmed(node_agent_); }, 10s));
  // A CiliumNetworkPolicy the policy decoder refuses (the stand-in, like a CRD without a strict
  // schema, stores it): reported with its field, and the services keep flowing.
  standin_->apply(objects(R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: broken, namespace: demo}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress: [{toPorts: [{ports: [{port: "99999", protocol: TCP}]}]}]
)")[0]);
  apply(service("api", 11, 1, "10.25.11.101"));
  ASSERT_TRUE(wait_until(
      [&] { return lb_wanted(node_agent_.api("/v1/services")).count("10.96.0.11:80/TCP") == 1; },
      5s));
  EXPECT_TRUE(wait_until([&] { return programmed(node_agent_); }, 5s));
  auto src = source(node_agent_);
  ASSERT_EQ(src["errors_total"], 1) << src.dump();
  const std::string err = src["last_errors"][0];
  EXPECT_NE(err.find("CiliumNetworkPolicy demo/broken"), std::string::npos) << err;
  EXPECT_NE(err.find("port"), std::string::npos) << err;
  EXPECT_EQ(metric_value(node_agent_.api("/v1/metrics"), "netagent_source_errors"), 1.0);
  // The leader tells the object's owner, as a controller does: a Warning Event on it.
  json event = event_about("broken");
  EXPECT_EQ(event["reason"], "InvalidObject") << event.dump();
  EXPECT_EQ(event["type"], "Warning");
  EXPECT_EQ(event["involvedObject"]["kind"], "CiliumNetworkPolicy");
  EXPECT_EQ(event["involvedObject"]["apiVersion"], "cilium.io/v2");
  EXPECT_NE(event["message"].get<std::string>().find("port"), std::string::npos) << event.dump();
}

TEST_F(AgentOnApi, TwoAgentsOneLeaseStatusWrittenOnceAndTakenOverWhenTheLeaderDies) {
  auto node_b = lan_->host("nodeb", "10.25.11.12/24");
  AgentNode agent_b_node({.tag = "api-agent-b", .node_name = "node-b"});
  apply(service("web", 10, 1));  // the pool's choice
  start_agent();
  ASSERT_TRUE(wait_until([&] { return ingress("web").size() == 1; }, 10s));
  auto agent_b = agent_b_node.start(node_b->ns(), api_flags());
  ASSERT_TRUE(agent_b_node.wait_api("/v1/status")) << agent_b->log();
  ASSERT_TRUE(wait_until([&] { return programmed(agent_b_node); }, 10s)) << agent_b->log();
  auto leader_of = [&](AgentNode& n) {
    const json status = n.api("/v1/status");  // not a temporary: range-for below
    for (const auto& r : status["reconcilers"]) {
      if (r["name"] == "k8s-status") return r["status"];
    }
    return json::object();
  };
  // Both serve the address the Service status holds; only node-a writes.
  const std::string ip = ingress("web").at(0);
  EXPECT_TRUE(wait_until(
      [&] { return lb_wanted(agent_b_node.api("/v1/services")).count(ip + ":80/TCP") == 1; }, 5s));
  EXPECT_TRUE(leader_of(node_agent_)["leader"].get<bool>());
  EXPECT_FALSE(leader_of(agent_b_node)["leader"].get<bool>());
  EXPECT_EQ(leader_of(agent_b_node)["holder"], "node-a");
  EXPECT_EQ(leader_of(agent_b_node)["writes_ok"], 0);
  const auto writes_a = leader_of(node_agent_)["writes_ok"].get<uint64_t>();
  EXPECT_GE(writes_a, 1u);

  // The leader dies without releasing: node-b takes over after the lease duration (3 s) and
  // writes what is left: a new service's address.
  agent_->stop(SIGKILL);
  ASSERT_TRUE(wait_until([&] { return leader_of(agent_b_node)["leader"] == true; }, 10s))
      << leader_of(agent_b_node).dump() << agent_b->log();
  apply(service("api", 11, 1));
  EXPECT_TRUE(wait_until([&] { return ingress("api").size() == 1; }, 5s));
  EXPECT_GE(leader_of(agent_b_node)["writes_ok"].get<uint64_t>(), 1u);
  EXPECT_EQ(ingress("web"), std::vector<std::string>{ip});  // kept, never rewritten
  agent_b->stop(SIGTERM);
}

}  // namespace
}  // namespace netagent
