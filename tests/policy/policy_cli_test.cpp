// netctl policy matrix and trace, offline, against the Kubernetes NetworkPolicy e2e model: the
// model and each case's policies are written as a manifest tree, netctl loads and compiles it as
// the agent does and decides every pair with the kernel's policy program; its -o json matrix
// must equal the case's expected 9x9 reachability (the loopback diagonal aside, k/k#95879).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "model.hpp"
#include "netagent/testing/netns.hpp"
#include "netagent/testing/privileged.hpp"

namespace netagent::policy::testing {
namespace {

using netagent::testing::TempDir;
using nlohmann::json;

std::string proto_name(uint8_t p) {
  return p == 6 ? "TCP" : p == 17 ? "UDP" : "SCTP";
}

struct Run {
  int status = -1;
  std::string out;
};

Run netctl(const std::string& args) {
  Run r;
  r.status = netagent::testing::sh(std::string(NETCTL_BIN) + " " + args + " 2>&1", &r.out);
  return r;
}

class PolicyCli : public ::testing::Test {
 protected:
  void SetUp() override { NETAGENT_REQUIRE_ROOT(); }
  std::string tree(const std::string& policies) {
    std::filesystem::remove_all(dir_.path() + "/m");
    std::filesystem::create_directories(dir_.path() + "/m");
    std::ofstream(dir_.path() + "/m/model.yaml") << Model().manifests();
    std::ofstream(dir_.path() + "/m/policies.yaml") << policies;
    return dir_.path() + "/m";
  }
  TempDir dir_{"polcli"};
};

TEST_F(PolicyCli, MatrixJsonMatchesTheE2eModel) {
  size_t probes = 0;
  for (const auto* cases : {&network_policy_cases(), &cilium_policy_cases()}) {
    for (const auto& c : *cases) {
      auto dir = tree(c.policies);
      for (const auto& p : c.probes) {
        SCOPED_TRACE(c.name + " port " + std::to_string(p.port) + "/" + proto_name(p.proto));
        auto r = netctl("policy matrix --manifests " + dir + " --port " + std::to_string(p.port) +
                        " --protocol " + proto_name(p.proto) + " -o json");
        ASSERT_EQ(r.status, 0) << r.out;
        json j = json::parse(r.out);
        ASSERT_EQ(j["pods"].get<std::vector<std::string>>(), Model::pod_names());
        Reachability actual(Model::pod_names(), false);
        for (size_t i = 0; i < 9; ++i) {
          for (size_t k = 0; k < 9; ++k)
            actual.set(i, k, j["allowed"][i][k].get<bool>());
        }
        std::string err;
        auto expected = Reachability::parse(p.expected, &err);
        ASSERT_TRUE(expected) << err;
        auto d = expected->diff(actual);
        EXPECT_TRUE(d.empty()) << "expected:\n"
                               << expected->str() << "netctl printed:\n"
                               << actual.str();
        probes++;
      }
    }
  }
  EXPECT_GT(probes, 20u);
}

TEST_F(PolicyCli, MatrixTableIsTheE2ePrintedForm) {
  const auto& c = network_policy_cases().front();
  auto dir = tree(c.policies);
  const auto& p = c.probes.front();
  auto r = netctl("policy matrix --manifests " + dir + " --port " + std::to_string(p.port) +
                  " --protocol " + proto_name(p.proto));
  ASSERT_EQ(r.status, 0) << r.out;
  std::string err;
  auto printed = Reachability::parse(r.out, &err);
  ASSERT_TRUE(printed) << err << "\n" << r.out;
  auto expected = Reachability::parse(p.expected);
  EXPECT_TRUE(expected->diff(*printed).empty()) << r.out;
  // --policy-enforcement always with no policy: everything denied.
  auto all = netctl("policy matrix --manifests " + tree("") +
                    " --port 80 --protocol TCP --policy-enforcement always -o json");
  ASSERT_EQ(all.status, 0) << all.out;
  for (const auto& row : json::parse(all.out)["allowed"]) {
    for (const auto& cell : row)
      EXPECT_FALSE(cell.get<bool>());
  }
}

TEST_F(PolicyCli, TraceNamesTheDecidingRule) {
  auto dir = tree(R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-x-b-to-x-a, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: b}}}]
    ports: [{port: 80, protocol: TCP}]
)");
  auto ok = netctl("policy trace --manifests " + dir +
                   " --src x/b --dst x/a --dport 80 --protocol TCP -o json");
  ASSERT_EQ(ok.status, 0) << ok.out;
  auto j = json::parse(ok.out);
  EXPECT_EQ(j["allowed"], true);
  EXPECT_EQ(j["ingress"]["verdict"], "allowed");
  EXPECT_NE(j["ingress"]["rule"].get<std::string>().find("NetworkPolicy x/allow-x-b-to-x-a"),
            std::string::npos)
      << ok.out;
  EXPECT_EQ(j["egress"]["verdict"], "not-policed");

  auto denied = netctl("policy trace --manifests " + dir +
                       " --src x/c --dst x/a --dport 80 --protocol TCP -o json");
  ASSERT_EQ(denied.status, 0) << denied.out;
  j = json::parse(denied.out);
  EXPECT_EQ(j["allowed"], false);
  EXPECT_EQ(j["ingress"]["verdict"], "denied");
  EXPECT_NE(j["ingress"]["rule"].get<std::string>().find("allow-x-b-to-x-a"), std::string::npos);

  // From outside the cluster, and the human form.
  auto world = netctl("policy trace --manifests " + dir +
                      " --src-ip 192.0.2.1 --dst x/a --dport 80 --protocol TCP");
  ASSERT_EQ(world.status, 0) << world.out;
  EXPECT_NE(world.out.find("verdict:  DENIED"), std::string::npos) << world.out;

  // Bad input is a clear error: a policy that does not validate names its file and field.
  auto broken = netctl("policy matrix --manifests " + tree(R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: typo, namespace: x}
spec:
  podSelector: {}
  ingress: [{form: []}]
)") + " --port 80");
  EXPECT_NE(broken.status, 0);
  EXPECT_NE(broken.out.find("policies.yaml"), std::string::npos) << broken.out;
  EXPECT_NE(broken.out.find("form"), std::string::npos) << broken.out;
  dir = tree("");

  auto bad = netctl("policy trace --manifests " + dir + " --src x/nope --dst x/a --dport 80");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.out.find("x/nope"), std::string::npos) << bad.out;
}

}  // namespace
}  // namespace netagent::policy::testing
