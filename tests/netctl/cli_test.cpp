// The netctl executable against a running netagent (its own netns, bpffs dir and socket).
#include <gtest/gtest.h>

#include <signal.h>
#include <algorithm>

#include "../agent/agent_process.hpp"
#include "netagent/testing/privileged.hpp"

namespace netagent::netctl {
namespace {

using agent::test::LoneAgent;
using netagent::testing::exit_code_of;
using nlohmann::json;
using namespace std::chrono_literals;

class NetctlCli : public ::testing::Test {
 protected:
  void SetUp() override {
    NETAGENT_REQUIRE_ROOT();
    node.write_manifest("cluster.yaml", agent::test::kNodeAndService);
    agent = node.start();
    ASSERT_TRUE(node.wait_ready()) << agent->log();
  }

  int netctl(const std::string& args, std::string* out) {
    return netagent::testing::sh(
        std::string(NETCTL_BIN) + " --socket " + node.socket() + " " + args, out);
  }

  LoneAgent node;
  std::unique_ptr<netagent::testing::Process> agent;
};

TEST_F(NetctlCli, StatusAsJson) {
  std::string out;
  ASSERT_EQ(netctl("status -o json", &out), 0) << out;
  json s = json::parse(out);
  EXPECT_EQ(s["version"], "0.1.0");
  EXPECT_EQ(s["pid"], agent->pid());
  EXPECT_EQ(s["node"]["name"], "node-1");
  EXPECT_EQ(s["config"]["manifests"], node.manifests());
  EXPECT_EQ(s["config"]["bpf_root"], node.bpf_root());
  EXPECT_EQ(s["config"]["lb_maglev_table_size"], 16381);
  EXPECT_TRUE(s["reconcilers"].is_array());
  EXPECT_EQ(s["source"]["state"], "ok");
  EXPECT_EQ(s["snapshot"]["services"], 1);
  EXPECT_EQ(s["node"]["found"], true);

  // SIGTERM still exits 0 after serving netctl.
  EXPECT_EQ(exit_code_of(agent->stop(SIGTERM, 5s)), 0) << agent->log();
}

TEST_F(NetctlCli, StatusForPeople) {
  std::string out;
  ASSERT_EQ(netctl("status", &out), 0) << out;
  EXPECT_NE(out.find("Agent:"), std::string::npos) << out;
  EXPECT_NE(out.find("netagent 0.1.0, pid " + std::to_string(agent->pid())), std::string::npos)
      << out;
  EXPECT_NE(out.find("BPF root:       " + node.bpf_root() + " (locked by this agent)"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("Node:           node-1 (10.25.11.11)"), std::string::npos) << out;
  EXPECT_NE(out.find("Source:         manifests " + node.manifests() + ": ok"), std::string::npos)
      << out;
  // The listeners' limits: this netctl connection is the one open API connection.
  EXPECT_NE(out.find("Connections:    ok ("), std::string::npos) << out;
  EXPECT_NE(out.find("API 1/128"), std::string::npos) << out;
  EXPECT_NE(out.find("metrics 0/64 connections, 0 refused at the cap)"), std::string::npos) << out;
  EXPECT_NE(out.find("Reconcilers:"), std::string::npos) << out;
}

// Parts talk only through the store: status shows what each publishes and who reads it.
TEST_F(NetctlCli, StatusShowsTheStore) {
  std::string out;
  ASSERT_EQ(netctl("status -o json", &out), 0) << out;
  json s = json::parse(out);
  json lb, bgp;
  for (const auto& r : s["reconcilers"]) {
    if (r["name"] == "lb") lb = r;
    if (r["name"] == "bgp") bgp = r;
  }
  ASSERT_TRUE(lb.is_object() && bgp.is_object()) << out;
  EXPECT_EQ(lb["publishes"], (json{"lb.served_frontends"})) << out;
  EXPECT_NE(std::find(bgp["reads"].begin(), bgp["reads"].end(), "lb.served_frontends"),
            bgp["reads"].end())
      << out;
  bool served = false;
  for (const auto& t : s["store"]["topics"]) {
    if (t["topic"] == "lb.served_frontends") {
      served = true;
      EXPECT_EQ(t["publisher"], "lb") << out;
      EXPECT_GE(t["generation"].get<int>(), 1) << out;
    }
  }
  EXPECT_TRUE(served) << out;

  ASSERT_EQ(netctl("status", &out), 0) << out;
  EXPECT_NE(out.find("Store:"), std::string::npos) << out;
  EXPECT_NE(out.find("READ BY"), std::string::npos) << out;
  auto row = out.find("lb.served_frontends  ", out.find("Store:"));
  ASSERT_NE(row, std::string::npos) << out;
  auto line = out.substr(row, out.find('\n', row) - row);
  EXPECT_NE(line.find(" lb "), std::string::npos) << line;
  EXPECT_NE(line.find("bgp"), std::string::npos) << line;
}

TEST_F(NetctlCli, SocketFromTheEnvironment) {
  std::string out;
  ASSERT_EQ(netagent::testing::sh(
                "NETCTL_SOCKET=" + node.socket() + " " + NETCTL_BIN + " status -o json", &out),
            0)
      << out;
  EXPECT_EQ(json::parse(out)["node"]["name"], "node-1");
}

TEST_F(NetctlCli, Metrics) {
  std::string out;
  ASSERT_EQ(netctl("metrics", &out), 0) << out;
  EXPECT_EQ(out.rfind("METRIC", 0), 0u) << out;
  EXPECT_NE(out.find("netagent_build_info"), std::string::npos) << out;
  EXPECT_NE(out.find("compiler=g++"), std::string::npos) << out;

  ASSERT_EQ(netctl("metrics process_start -o json", &out), 0) << out;
  json m = json::parse(out);
  ASSERT_EQ(m.size(), 1u) << out;
  EXPECT_EQ(m[0]["name"], "netagent_process_start_time_seconds");
  EXPECT_EQ(m[0]["type"], "gauge");
  EXPECT_GT(m[0]["samples"][0]["value"].get<double>(), 1.6e9);
}

TEST_F(NetctlCli, RawApiCalls) {
  std::string out;
  ASSERT_EQ(netctl("api /v1/routes", &out), 0) << out;
  EXPECT_NE(out.find("\"/v1/status\""), std::string::npos) << out;
  EXPECT_EQ(netctl("api /v1/none", &out), 1) << out;
  EXPECT_NE(out.find("\"not_found\""), std::string::npos) << out;
}

TEST_F(NetctlCli, SaysWhenTheAgentIsNotRunning) {
  ASSERT_EQ(exit_code_of(agent->stop(SIGTERM, 5s)), 0);
  std::string out;
  EXPECT_EQ(netctl("status", &out), 3);
  EXPECT_EQ(out, "netctl: cannot reach netagent at " + node.socket() +
                     ": no such file or directory — is the agent running? "
                     "(--socket/NETCTL_SOCKET)\n");
}

}  // namespace
}  // namespace netagent::netctl
