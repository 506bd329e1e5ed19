// Fault: LB capacity exhausted (issue 10, item 1). A real agent with small LB maps
// (--bpf-lb-map-max 16: 32 backends) gets a tree with more backends than fit:
//  1. what fits keeps serving: the service programmed before and a new one that fits answer
//     through their NodePorts (real pods running netagent-echo);
//  2. status (the lb reconciler in error, its not_programmed list), metrics
//     (netagent_lb_services_not_programmed, netagent_lb_apply_failures_total{reason="capacity"}),
//     GET /v1/services and `netctl service list` name the service that is not programmed, and
//     the maps hold nothing of it;
//  3. once services are removed from the tree so that everything fits, the agent (no restart)
//     programs exactly the desired state: GET /v1/bpf/lb is what GET /v1/services wants.
#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "netagent/testing/agent_node.hpp"
#include "netagent/testing/privileged.hpp"
#include "netagent/testing/topology.hpp"

namespace netagent {
namespace {

using namespace netagent::testing;
using namespace std::chrono_literals;

const char* kNode = R"(apiVersion: v1
kind: Node
metadata: {name: node-a}
status: {addresses: [{type: InternalIP, address: 10.25.11.11}]}
)";

// A Service (NodePort when `node_port` is set, ClusterIP otherwise) on port 80 and its
// EndpointSlice, one endpoint per address on port 8080.
std::string service(const std::string& name, const std::string& cluster_ip, int node_port,
                    const std::vector<std::string>& endpoints) {
  std::string y =
      "apiVersion: v1\nkind: Service\nmetadata: {name: " + name +
      ", namespace: demo}\nspec:\n  type: " + (node_port ? "NodePort" : "ClusterIP") +
      "\n  clusterIP: " + cluster_ip + "\n  selector: {app: " + name +
      "}\n  ports:\n  - {name: http, port: 80, " + "targetPort: 8080" +
      (node_port ? ", nodePort: " + std::to_string(node_port) : std::string()) +
      "}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: " + name +
      "-1, namespace: demo, labels: {kubernetes.io/service-name: " + name +
      "}}\naddressType: IPv4\nports: [{name: http, port: 8080}]\nendpoints:\n";
  for (const auto& e : endpoints)
    y += "- {addresses: [" + e + "], nodeName: node-a}\n";
  return y;
}

std::vector<std::string> block(int b, int n) {
  std::vector<std::string> out;
  for (int i = 1; i <= n; ++i)
    out.push_back("10.2." + std::to_string(b) + "." + std::to_string(i));
  return out;
}

class CapacityFault : public ::testing::Test {
 protected:
  void SetUp() override {
    NETAGENT_REQUIRE_ROOT();
    lan_ = std::make_unique<Lan>("fcap");
    node_ = lan_->host("node", "10.25.11.11/24");
    client_ = lan_->host("client", "10.25.11.50/24");
    start_echo_pods(*node_, {"web1", "api1"}, {"10.1.0.5", "10.1.0.6"}, 8080, pods_, servers_);
  }

  // Whoever answers a TCP request to the node's NodePort, or "" when nobody does.
  std::string served(uint16_t node_port) {
    auto r = run_in(client_->ns(), "",
                    [&] { return tcp_request("10.25.11.11", node_port, "hi", nullptr, 500); });
    return r.rfind("error", 0) == 0 ? "" : r;
  }
  // Every one of `n` requests answered by `who`.
  bool always(uint16_t node_port, const std::string& who, int n = 5) {
    for (int i = 0; i < n; ++i) {
      if (served(node_port) != who) return false;
    }
    return true;
  }

  nlohmann::json lb_status() {
    const auto status = node_agent_.api("/v1/status");
    for (const auto& r : status["reconcilers"]) {
      if (r["name"] == "lb") return r;
    }
    ADD_FAILURE() << "no lb reconciler in /v1/status";
    return nullptr;
  }
  std::string metrics() {
    std::string out;
    EXPECT_EQ(node_->ns().sh("curl -sf http://127.0.0.1:9962/metrics", &out), 0) << out;
    return out;
  }
  void write(const std::string& file, const std::string& yaml) {
    node_agent_.write_manifest(file, yaml);
  }

  std::unique_ptr<Lan> lan_;
  std::unique_ptr<Host> node_, client_;
  std::vector<std::unique_ptr<Pod>> pods_;
  std::vector<std::unique_ptr<Process>> servers_;
  AgentNode node_agent_{{.tag = "fault-capacity",
                         .flags = {"--devices", "eth0", "--metrics-addr", "127.0.0.1:9962",
                                   "--bpf-lb-map-max", "16"}}};
};

TEST_F(CapacityFault, WhatFitsServesTheRestIsReportedAndTheNextApplyRestoresAll) {
  // web (1 backend) and big-a (20 backends) fit the 32 backends of the maps.
  write("node.yaml", kNode);
  write("web.yaml", service("web", "10.96.0.10", 30080, {"10.1.0.5"}));
  write("big-a.yaml", service("big-a", "10.96.1.1", 0, block(1, 20)));
  auto agent = node_agent_.start(node_->ns());
  ASSERT_TRUE(wait_until([&] { return served(30080) == "web1\n"; }, 10s)) << agent->log();
  const auto pid = node_agent_.api("/v1/status")["pid"];
  auto status = lb_status();
  EXPECT_EQ(status["state"], "ok") << status.dump();
  EXPECT_EQ(status["status"]["maps"]["backends"]["max"], 32) << status.dump();

  // The fault: big-b's 20 backends do not fit (21 + 20 + 1 > 32); api (a new backend) does.
  write("api.yaml", service("api", "10.96.0.11", 30081, {"10.1.0.6"}));
  write("big-b.yaml", service("big-b", "10.96.1.2", 0, block(2, 20)));
  ASSERT_TRUE(wait_until(
      [&] {
        auto s = lb_status();
        return s["state"] == "error" && s["status"]["not_programmed"]["count"] == 1 &&
               served(30081) == "api1\n";
      },
      10s))
      << lb_status().dump() << "\n"
      << agent->log();

  // 1. What fits serves: the service programmed before and the new one that fits.
  EXPECT_TRUE(always(30080, "web1\n"));
  EXPECT_TRUE(always(30081, "api1\n"));

  // 2. Status, metrics, the services API and netctl name the fault.
  status = lb_status();
  const std::string err = status["last_error"].get<std::string>();
  EXPECT_NE(err.find("demo/big-b"), std::string::npos) << err;
  EXPECT_NE(err.find("the LB maps are full"), std::string::npos) << err;
  ASSERT_EQ(status["status"]["not_programmed"]["services"].size(), 1u) << status.dump();
  EXPECT_EQ(status["status"]["not_programmed"]["services"][0]["service"], "demo/big-b");
  EXPECT_NE(status["status"]["not_programmed"]["services"][0]["reason"].get<std::string>().find(
                "backends"),
            std::string::npos)
      << status.dump();
  auto m = metrics();
  EXPECT_NE(m.find("netagent_lb_services_not_programmed 1"), std::string::npos) << m;
  EXPECT_NE(m.find("netagent_lb_apply_failures_total{reason=\"capacity\"}"), std::string::npos)
      << m;
  EXPECT_NE(m.find("netagent_lb_map_capacity{map=\"backends\"} 32"), std::string::npos) << m;
  auto services = node_agent_.api("/v1/services");
  size_t big_b_rows = 0;
  for (const auto& row : services["services"]) {
    const bool big_b = row["service"] == "demo/big-b";
    big_b_rows += big_b;
    EXPECT_EQ(row["programmed"], !big_b) << row.dump();
    EXPECT_EQ(row["state"], big_b ? "not programmed" : "programmed") << row.dump();
  }
  EXPECT_EQ(big_b_rows, 1u) << services.dump();
  std::string out;
  ASSERT_EQ(
      sh(std::string(NETCTL_BIN) + " --socket " + node_agent_.socket() + " service list", &out), 0)
      << out;
  EXPECT_NE(out.find("not programmed"), std::string::npos) << out;
  EXPECT_NE(out.find("problem: demo/big-b: not programmed: the LB maps are full"),
            std::string::npos)
      << out;
  auto maps = lb_in_maps(node_agent_.api("/v1/bpf/lb"));
  EXPECT_FALSE(maps.count("10.96.1.2:80/TCP")) << "nothing of big-b is in the maps";
  EXPECT_TRUE(maps.count("10.96.1.1:80/TCP"));
  // The retries (back-off) keep the same answer and keep serving.
  const auto errors = status["errors"].get<int>();
  ASSERT_TRUE(wait_until([&] { return lb_status()["errors"].get<int>() > errors; }, 5s));
  EXPECT_TRUE(always(30080, "web1\n", 2));
  EXPECT_EQ(lb_status()["status"]["not_programmed"]["count"], 1);

  // 3. The cause goes (big-a is deleted): the next apply, or its retry once big-a's backends
  // are out of their grace, programs exactly the desired state, with no restart.
  node_agent_.remove_manifest("big-a.yaml");
  ASSERT_TRUE(wait_until([&] { return lb_status()["state"] == "ok"; }, 10s))
      << lb_status().dump() << "\n"
      << agent->log();
  services = node_agent_.api("/v1/services");
  auto lb = node_agent_.api("/v1/bpf/lb");
  EXPECT_EQ(lb_in_maps(lb), lb_wanted(services)) << lb.dump() << "\n" << services.dump();
  EXPECT_EQ(lb_wanted(services).size(), 5u) << services.dump();  // web, api: 2 each; big-b
  EXPECT_EQ(lb["backends"].size(), 22u) << lb.dump();            // big-a's are gone
  for (const auto& row : services["services"])
    EXPECT_EQ(row["programmed"], true) << row.dump();
  status = lb_status();
  EXPECT_EQ(status["status"]["not_programmed"]["count"], 0) << status.dump();
  EXPECT_TRUE(status["last_error"].is_null()) << status.dump();
  m = metrics();
  EXPECT_NE(m.find("netagent_lb_services_not_programmed 0"), std::string::npos) << m;
  EXPECT_TRUE(always(30080, "web1\n"));
  EXPECT_TRUE(always(30081, "api1\n"));
  EXPECT_EQ(node_agent_.api("/v1/status")["pid"], pid) << "no restart";
  EXPECT_TRUE(agent->alive());

  // The maps stay pinned with their size: an agent started on them with another
  // --bpf-lb-map-max is refused with an error that names the map and both sizes.
  EXPECT_EQ(exit_code_of(agent->stop(SIGTERM)), 0) << agent->log();
  auto args = node_agent_.args();
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--bpf-lb-map-max") args[i + 1] = "32";
  }
  Process other(args, &node_->ns(), node_agent_.dir.path() + "/other.log");
  ASSERT_TRUE(wait_until([&] { return !other.alive(); }, 10s)) << other.log();
  EXPECT_NE(exit_code_of(other.stop(SIGTERM)), 0);
  EXPECT_NE(other.log().find("the pinned map " + node_agent_.bpf_root() +
                             "/lb4_services holds 64 entries, --bpf-lb-map-max 32 wants 128"),
            std::string::npos)
      << other.log();
}

}  // namespace
}  // namespace netagent
