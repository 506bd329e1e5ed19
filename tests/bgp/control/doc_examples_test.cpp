// The manifest examples in docs/ipam.md and docs/bgp-control-plane.md load (after the ${VAR}
// substitution the manifest source performs with the infra cluster's settings) and compile to
// what the docs say.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "bgpcp_fixtures.hpp"

namespace netagent::bgp::control {
namespace {

const std::map<std::string, std::string> kInfraSettings = {
    {"CILIUM_LB_POOL_START", "10.25.11.100"}, {"CILIUM_LB_POOL_END", "10.25.11.119"},
    {"INFRA_POOL_DISABLED", "false"},         {"CILIUM_BGP_LOCAL_ASN", "64512"},
    {"CILIUM_BGP_PEER_ASN", "64501"},         {"CILIUM_BGP_PEER_ADDRESS", "10.25.11.1/32"},
};

std::string substitute(std::string s) {
  for (const auto& [k, v] : kInfraSettings) {
    const std::string var = "${" + k + "}";
    for (auto pos = s.find(var); pos != std::string::npos; pos = s.find(var, pos + v.size())) {
      s.replace(pos, var.size(), v);
    }
  }
  EXPECT_EQ(s.find("${"), std::string::npos) << "unsubstituted variable in:\n" << s;
  return s;
}

// The ```yaml blocks of a Markdown file.
std::vector<std::string> yaml_blocks(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  std::vector<std::string> out;
  std::string line, block;
  bool inside = false;
  while (std::getline(in, line)) {
    if (!inside && line == "```yaml") {
      inside = true;
      block.clear();
    } else if (inside && line == "```") {
      inside = false;
      out.push_back(block);
    } else if (inside) {
      block += line + "\n";
    }
  }
  return out;
}

TEST(DocExamples, ManifestsLoadAndCompile) {
  auto pools = yaml_blocks(NETAGENT_SOURCE_DIR "/docs/ipam.md");
  auto bgp = yaml_blocks(NETAGENT_SOURCE_DIR "/docs/bgp-control-plane.md");
  ASSERT_EQ(pools.size(), 1u);
  ASSERT_EQ(bgp.size(), 2u);
  const std::string cluster = R"(
---
apiVersion: v1
kind: Node
metadata: {name: node-1}
status: {addresses: [{type: InternalIP, address: 10.25.11.11}]}
spec: {podCIDR: 10.244.1.0/24}
---
apiVersion: v1
kind: Service
metadata:
  name: clustermesh-apiserver
  namespace: kube-system
  annotations: {lbipam.cilium.io/ips: 10.25.11.100}
spec: {type: LoadBalancer, ports: [{port: 2379}]}
)";
  for (size_t i = 0; i < bgp.size(); ++i) {
    auto snap = testing::load(substitute(pools[0] + "---\n" + bgp[i] + cluster));
    auto d = testing::compile_for(snap, "node-1");
    EXPECT_TRUE(d.conditions.empty()) << testing::conditions_str(d);
    ASSERT_EQ(d.instances.size(), 1u) << "example " << i;
    EXPECT_EQ(d.instances[0].local_asn, 64512u);
    const auto& peer = d.instances[0].peers.at(0);
    EXPECT_EQ(peer.address.str(), "10.25.11.1");
    EXPECT_EQ(peer.peer_asn, 64501u);
    EXPECT_TRUE(peer.graceful_restart.enabled);
    const auto* r = testing::route(peer, "10.25.11.100/32");
    ASSERT_TRUE(r) << "example " << i;
    if (i == 0) {
      EXPECT_EQ(r->communities, (std::vector<uint32_t>{64512u << 16 | 100}));
      EXPECT_TRUE(testing::route(peer, "10.244.1.0/24"));
    }
  }
}

}  // namespace
}  // namespace netagent::bgp::control
