// CiliumLoadBalancerIPPool decoding: good pools as Cilium documents them, and bad pools rejected
// at load time with the exact field path.
#include <gtest/gtest.h>

#include "ipam_fixtures.hpp"
#include "netagent/ipam/pool.hpp"

namespace netagent::ipam {
namespace {

using testing::pool_from;

TEST(PoolDecode, BlocksAsDocumented) {
  // The pool from lb-ipam.rst ("Pools"), with an IPv6 CIDR (accepted, not allocated from).
  auto p = pool_from(R"(
apiVersion: "cilium.io/v2alpha1"
kind: CiliumLoadBalancerIPPool
metadata:
  name: "blue-pool"
spec:
  blocks:
  - cidr: "10.0.10.0/24"
  - cidr: "2004::0/64"
  - start: "20.0.20.100"
    stop: "20.0.20.200"
  - start: "1.2.3.4"
)");
  EXPECT_EQ(p.name, "blue-pool");
  ASSERT_EQ(p.blocks.size(), 4u);
  EXPECT_TRUE(p.blocks[0].from_cidr);
  EXPECT_EQ(p.blocks[0].first.str(), "10.0.10.0");
  EXPECT_EQ(p.blocks[0].last.str(), "10.0.10.255");
  EXPECT_EQ(p.blocks[0].prefix_len, 24);
  EXPECT_TRUE(p.blocks[1].ipv6);
  EXPECT_FALSE(p.blocks[2].from_cidr);
  EXPECT_EQ(p.blocks[2].size(), 101u);
  EXPECT_EQ(p.blocks[3].first, p.blocks[3].last);  // a lone start is one address
  EXPECT_EQ(p.blocks[3].text, "1.2.3.4");
  EXPECT_FALSE(p.disabled);
  EXPECT_FALSE(p.allow_first_last);
  EXPECT_TRUE(p.service_selector.empty());
}

TEST(PoolDecode, SubstitutedStringsDecodeAsTheirTypes) {
  // After ${INFRA_POOL_DISABLED} substitution a quoted "false" / "true" is a string scalar.
  struct Case {
    std::string disabled;
    bool want;
  } cases[] = {{"\"false\"", false}, {"\"true\"", true}, {"false", false}, {"true", true}};
  for (const auto& c : cases) {
    auto p = pool_from(
        "apiVersion: cilium.io/v2\nkind: CiliumLoadBalancerIPPool\n"
        "metadata: {name: infra-pool, namespace: kube-system}\n"
        "spec:\n  disabled: " +
        c.disabled + "\n  blocks:\n  - {start: \"10.25.11.100\", stop: 10.25.11.119}\n");
    EXPECT_EQ(p.disabled, c.want) << c.disabled;
  }
}

TEST(PoolDecode, SelectorFirstLastAndDeprecatedCidrs) {
  auto p = pool_from(R"(
apiVersion: cilium.io/v2
kind: CiliumLoadBalancerIPPool
metadata: {name: tenant, labels: {environment: production}}
spec:
  allowFirstLastIPs: "Yes"
  cidrs:
  - cidr: 10.9.0.0/30
  serviceSelector:
    matchLabels: {io.kubernetes.service.namespace: tenant-a}
    matchExpressions:
    - {key: color, operator: In, values: [blue, cyan]}
)");
  EXPECT_TRUE(p.allow_first_last);
  ASSERT_EQ(p.blocks.size(), 1u);
  EXPECT_EQ(p.labels.at("environment"), "production");
  EXPECT_TRUE(p.service_selector.matches(
      {{"io.kubernetes.service.namespace", "tenant-a"}, {"color", "cyan"}}));
  EXPECT_FALSE(p.service_selector.matches({{"io.kubernetes.service.namespace", "tenant-a"}}));
}

TEST(PoolDecode, AllowFirstLastSpellings) {
  for (auto [text, want] : std::vector<std::pair<std::string, bool>>{
           {"Yes", true}, {"yes", true}, {"true", true}, {"No", false}, {"no", false}}) {
    auto p = pool_from(
        "apiVersion: cilium.io/v2\nkind: CiliumLoadBalancerIPPool\n"
        "metadata: {name: p}\nspec:\n  allowFirstLastIPs: " +
        text + "\n  blocks: [{cidr: 10.0.0.0/24}]\n");
    EXPECT_EQ(p.allow_first_last, want) << text;
  }
}

// Each bad pool must fail at load with this field path and a message containing `what`.
TEST(PoolDecode, BadPoolsAreRejectedAtLoadWithTheFieldPath) {
  struct Case {
    std::string spec;
    std::string field;
    std::string what;
  } cases[] = {
      {"blocks: [{}]", "spec.blocks[0]", "needs cidr"},
      {"blocks: [{cidr: 10.0.0.0/33}]", "spec.blocks[0].cidr", "not a valid CIDR"},
      {"blocks: [{cidr: 10.0.0.1}]", "spec.blocks[0].cidr", "missing /prefix"},
      {"blocks: [{cidr: \"fd00::/200\"}]", "spec.blocks[0].cidr", "not a valid CIDR"},
      {"blocks: [{cidr: 10.0.0.0/24}, {start: 10.0.1.300}]", "spec.blocks[1].start",
       "not an IP address"},
      {"blocks: [{start: 10.0.0.9, stop: 10.0.0.1}]", "spec.blocks[0].stop", "before start"},
      {"blocks: [{stop: 10.0.0.1}]", "spec.blocks[0].start", "required when stop"},
      {"blocks: [{cidr: 10.0.0.0/24, start: 10.0.0.1}]", "spec.blocks[0]", "not both"},
      {"blocks: [{start: 10.0.0.1, stop: \"fd00::1\"}]", "spec.blocks[0].stop", "IPv4"},
      {"blocks: {cidr: 10.0.0.0/24}", "spec.blocks", "expected a list"},
      {"blocks: [10.0.0.0/24]", "spec.blocks[0]", "expected a block"},
      {"disabled: maybe\n  blocks: [{cidr: 10.0.0.0/24}]", "spec.disabled", "boolean"},
      {"allowFirstLastIPs: Perhaps\n  blocks: [{cidr: 10.0.0.0/24}]", "spec.allowFirstLastIPs",
       "Yes or No"},
      {"serviceSelector: {matchExpressions: [{key: a, operator: Like, values: [b]}]}",
       "spec.serviceSelector.matchExpressions[0].operator", "unsupported value"},
      {"serviceSelector: {matchExpressions: [{key: a, operator: In}]}",
       "spec.serviceSelector.matchExpressions[0].values", "non-empty"},
  };
  for (const auto& c : cases) {
    std::string yaml =
        "apiVersion: cilium.io/v2alpha1\nkind: CiliumLoadBalancerIPPool\n"
        "metadata: {name: bad-pool}\nspec:\n  " +
        c.spec + "\n";
    k8s::KindRegistry reg;
    register_kinds(reg);
    k8s::SnapshotBuilder b(&reg);
    auto err = b.add(k8s::read_object(YAML::Load(yaml), {"pools/bad.yaml", 3}));
    ASSERT_TRUE(err) << c.spec;
    EXPECT_EQ(err->field, c.field) << c.spec << " -> " << err->str();
    EXPECT_NE(err->message.find(c.what), std::string::npos) << c.spec << " -> " << err->str();
    EXPECT_EQ(err->object, "CiliumLoadBalancerIPPool bad-pool");
    EXPECT_NE(err->str().find("pools/bad.yaml (document 3)"), std::string::npos) << err->str();
    EXPECT_TRUE(b.take().objects.empty()) << "a bad pool must not enter the snapshot";
  }
}

TEST(PoolDecode, EveryBadFieldIsReported) {
  // Three bad blocks and two bad settings: five errors, in the order of the fields.
  std::string yaml = R"(apiVersion: cilium.io/v2
kind: CiliumLoadBalancerIPPool
metadata: {name: bad-pool}
spec:
  blocks:
  - {cidr: 10.0.0.0/33}
  - {cidr: 10.0.1.0/24}
  - {start: 10.0.2.300}
  - {stop: 10.0.3.1}
  disabled: maybe
  allowFirstLastIPs: Perhaps
)";
  k8s::KindRegistry reg;
  register_kinds(reg);
  k8s::SnapshotBuilder b(&reg);
  auto errs = b.add_all(k8s::read_object(YAML::Load(yaml), {"pools/bad.yaml", 0}));
  std::vector<std::string> fields;
  for (const auto& e : errs)
    fields.push_back(e.field);
  EXPECT_EQ(fields, (std::vector<std::string>{"spec.blocks[0].cidr", "spec.blocks[2].start",
                                              "spec.blocks[3].start", "spec.disabled",
                                              "spec.allowFirstLastIPs"}));
  EXPECT_TRUE(b.take().objects.empty()) << "a bad pool must not enter the snapshot";
}

TEST(PoolDecode, ApiVersionsAccepted) {
  for (const char* v : {"cilium.io/v2alpha1", "cilium.io/v2"}) {
    k8s::KindRegistry reg;
    register_kinds(reg);
    k8s::SnapshotBuilder b(&reg);
    auto yaml = std::string("apiVersion: ") + v +
                "\nkind: CiliumLoadBalancerIPPool\nmetadata: {name: p}\nspec: {blocks: "
                "[{cidr: 10.0.0.0/24}]}\n";
    EXPECT_FALSE(b.add(k8s::read_object(YAML::Load(yaml), {"p.yaml", 0}))) << v;
  }
  k8s::KindRegistry reg;
  register_kinds(reg);
  k8s::SnapshotBuilder b(&reg);
  auto err = b.add(k8s::read_object(
      YAML::Load("apiVersion: cilium.io/v1\nkind: CiliumLoadBalancerIPPool\nmetadata: {name: p}\n"),
      {"p.yaml", 0}));
  ASSERT_TRUE(err);
  EXPECT_EQ(err->field, "apiVersion");
}

TEST(PoolDecode, DecodePoolsSortsByName) {
  auto snap = testing::load(R"(
apiVersion: cilium.io/v2
kind: CiliumLoadBalancerIPPool
metadata: {name: zeta}
spec: {blocks: [{cidr: 10.1.0.0/24}]}
---
apiVersion: cilium.io/v2
kind: CiliumLoadBalancerIPPool
metadata: {name: alpha}
spec: {blocks: [{cidr: 10.2.0.0/24}]}
)");
  auto pools = decode_pools(snap);
  ASSERT_EQ(pools.size(), 2u);
  EXPECT_EQ(pools[0].name, "alpha");
  EXPECT_EQ(pools[1].name, "zeta");
}

}  // namespace
}  // namespace netagent::ipam
