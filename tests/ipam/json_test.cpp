// The JSON the agent serves to `netctl ipam -o json` and the counters behind the metrics.
#include <gtest/gtest.h>

#include "ipam_fixtures.hpp"
#include "netagent/ipam/json.hpp"

namespace netagent::ipam {
namespace {

TEST(IpamJson, ServicesPoolsAndCounters) {
  auto a = allocate(testing::load(R"(
apiVersion: cilium.io/v2
kind: CiliumLoadBalancerIPPool
metadata: {name: infra-pool}
spec: {blocks: [{start: 10.25.11.100, stop: 10.25.11.119}]}
---
apiVersion: v1
kind: Service
metadata:
  name: clustermesh-apiserver
  namespace: kube-system
  annotations: {lbipam.cilium.io/ips: 10.25.11.100}
spec: {type: LoadBalancer, ports: [{port: 2379}]}
---
apiVersion: v1
kind: Service
metadata: {name: lost, namespace: default, annotations: {lbipam.cilium.io/ips: 192.0.2.1}}
spec: {type: LoadBalancer, ports: [{port: 80}]}
)"),
                    {});
  auto j = to_json(a);
  EXPECT_EQ(j["dormant"], false);
  ASSERT_EQ(j["pools"].size(), 1u);
  EXPECT_EQ(j["pools"][0]["name"], "infra-pool");
  EXPECT_EQ(j["pools"][0]["ips_total"], 20);
  EXPECT_EQ(j["pools"][0]["ips_used"], 1);
  EXPECT_EQ(j["pools"][0]["ips_available"], 19);
  EXPECT_EQ(j["pools"][0]["conflicting"], false);
  ASSERT_EQ(j["services"].size(), 2u);
  // Services are listed in canonical order.
  EXPECT_EQ(j["services"][0]["service"], "default/lost");
  EXPECT_EQ(j["services"][0]["satisfied"], false);
  EXPECT_EQ(j["services"][0]["reason"], "no_pool");
  EXPECT_TRUE(j["services"][0]["ips"].empty());
  EXPECT_EQ(j["services"][1]["ips"][0]["ip"], "10.25.11.100");
  EXPECT_EQ(j["services"][1]["ips"][0]["pool"], "infra-pool");
  EXPECT_EQ(j["services"][1]["ips"][0]["placement"], "requested");
  EXPECT_EQ(j["services"][1]["reason"], "satisfied");
  EXPECT_EQ(j["services"][1]["canonical"], true);

  auto c = to_json(counters(a));
  EXPECT_EQ(c["pools"], 1);
  EXPECT_EQ(c["services"], 2);
  EXPECT_EQ(c["services_unsatisfied"], 1);
  EXPECT_EQ(c["ips_used"], 1);
  EXPECT_EQ(c["per_pool"][0]["ips_available"], 19);

  EXPECT_EQ(
      state_to_json(a.state()),
      nlohmann::json::parse(
          R"({"version": 1, "services": {"kube-system/clustermesh-apiserver": ["10.25.11.100"]}})"));
}

}  // namespace
}  // namespace netagent::ipam
