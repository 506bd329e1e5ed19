// The Kubernetes NetworkPolicy e2e model and the Cilium policy cases, decided by the pure
// evaluator on the compiled policy; every case asserts the full 9x9 matrix. The same cases run
// through the kernel in policy_datapath_test (tier bpf).
#include <gtest/gtest.h>

#include "model.hpp"
#include "netagent/policy/reachability.hpp"

namespace netagent::policy::testing {
namespace {

std::string test_name(const std::string& s) {
  std::string out;
  for (char c : s)
    out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out;
}

void check_case(const E2eCase& c) {
  Model model;
  CompiledPolicy cp = model.compile(c.policies, c.options);
  for (const auto& probe : c.probes) {
    std::string err;
    auto expected = Reachability::parse(probe.expected, &err);
    ASSERT_TRUE(expected) << err;
    ASSERT_EQ(expected->pods(), Model::pod_names());
    auto actual = Model::evaluate(cp, probe.port, probe.proto);
    auto diffs = expected->diff(actual);
    std::string lines;
    for (const auto& d : diffs)
      lines += "  " + d + "\n";
    EXPECT_TRUE(diffs.empty()) << c.name << ": port " << probe.port << " proto " << int(probe.proto)
                               << "\n"
                               << lines << "expected:\n"
                               << expected->str() << "actual:\n"
                               << actual.str();
  }
}

class NetworkPolicyE2e : public ::testing::TestWithParam<size_t> {};
TEST_P(NetworkPolicyE2e, Matrix) {
  check_case(network_policy_cases()[GetParam()]);
}
INSTANTIATE_TEST_SUITE_P(Upstream, NetworkPolicyE2e,
                         ::testing::Range(size_t(0), network_policy_cases().size()),
                         [](const auto& info) {
                           return std::to_string(info.param) + "_" +
                                  test_name(network_policy_cases()[info.param].name);
                         });

class CiliumPolicyE2e : public ::testing::TestWithParam<size_t> {};
TEST_P(CiliumPolicyE2e, Matrix) {
  check_case(cilium_policy_cases()[GetParam()]);
}
INSTANTIATE_TEST_SUITE_P(Cilium, CiliumPolicyE2e,
                         ::testing::Range(size_t(0), cilium_policy_cases().size()),
                         [](const auto& info) {
                           return std::to_string(info.param) + "_" +
                                  test_name(cilium_policy_cases()[info.param].name);
                         });

TEST(Reachability, ParsesAndPrintsTheUpstreamForm) {
  const std::string text =
      "-\tx/a\tx/b\n"
      "x/a\t.\tX\n"
      "x/b\tX\t.\n";
  auto r = Reachability::parse(text);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->at(0, 0));
  EXPECT_FALSE(r->at(0, 1));
  auto again = Reachability::parse(r->str());
  ASSERT_TRUE(again);
  EXPECT_TRUE(r->diff(*again, false).empty());
  EXPECT_EQ(r->json(), R"({"allowed":[[true,false],[false,true]],"pods":["x/a","x/b"]})");
  std::string err;
  EXPECT_FALSE(Reachability::parse("- x/a\nx/a ?\n", &err));
  EXPECT_NE(err.find("mark"), std::string::npos);
}

}  // namespace
}  // namespace netagent::policy::testing
