// BgpReconciler's pure parts: bgpcp's desired state turned into the speaker's configuration and
// per-peer routes, and the LB IPAM allocation restricted to the frontends the LB serves.
#include <gtest/gtest.h>

#include "netagent/bgp/bgp_reconciler.hpp"

namespace netagent::bgp {
namespace {

bgp::control::DesiredBgp desired() {
  bgp::control::DesiredBgp d;
  bgp::control::DesiredInstance inst;
  inst.name = "vrouter-64512";
  inst.local_asn = 64512;
  inst.router_id = *Ipv4Addr::parse("10.25.11.11");
  bgp::control::DesiredPeer p;
  p.name = "10.25.11.1";
  p.address = *IpAddress::parse("10.25.11.1");
  p.peer_asn = 64501;
  p.timers = {1, 9, 3};
  p.password = "s3cret";
  p.graceful_restart = {true, 60};
  p.families = {{"ipv4", "unicast"}};
  bgp::control::DesiredRoute r;
  r.prefix = *IpPrefix::parse("10.25.11.100/32");
  r.communities = {0xfc000064, 0xffffff01};
  r.large_communities = {{64512, 1, 2}};
  p.routes.push_back(r);
  inst.peers.push_back(p);
  // Learning the ASN from the peer's OPEN is not supported: skipped with a reason.
  bgp::control::DesiredPeer any = p;
  any.name = "discover";
  any.address = *IpAddress::parse("10.25.11.2");
  any.peer_asn = 0;
  inst.peers.push_back(any);
  d.instances.push_back(inst);
  return d;
}

TEST(PlanSpeaker, PeersTimersGracefulRestartMd5AndRoutes) {
  auto plan = plan_speaker(desired());
  ASSERT_EQ(plan.config.instances.size(), 1u);
  const auto& inst = plan.config.instances[0];
  EXPECT_EQ(inst.local_asn, 64512u);
  EXPECT_FALSE(inst.listen_port) << "connect out only unless a port is configured";
  ASSERT_EQ(inst.peers.size(), 1u);
  const auto& p = inst.peers[0];
  EXPECT_EQ(p.address.str(), "10.25.11.1");
  EXPECT_EQ(p.connect_retry, std::chrono::seconds(1));
  EXPECT_EQ(p.hold_time, std::chrono::seconds(9));
  EXPECT_EQ(p.keepalive_time, std::chrono::seconds(3));
  EXPECT_EQ(p.ebgp_multihop_ttl, 1);
  EXPECT_EQ(p.md5_password, "s3cret");
  EXPECT_TRUE(p.graceful_restart.enabled);
  EXPECT_EQ(p.graceful_restart.restart_time, std::chrono::seconds(60));
  EXPECT_EQ(p.families, (std::vector<bgp::Family>{bgp::kIpv4Unicast}));
  EXPECT_TRUE(bgp::validate(plan.config)) << "the plan must be a valid speaker configuration";

  auto routes = plan.routes.at({"vrouter-64512", "10.25.11.1"});
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_EQ(routes[0].str(),
            "10.25.11.100/32 origin igp community 64512:100 community no-export "
            "large-community 64512:1:2");
  EXPECT_FALSE(routes[0].next_hop) << "next-hop-self: the node's address on the session";
  ASSERT_EQ(plan.problems.size(), 1u);
  EXPECT_NE(plan.problems[0].find("peerASN"), std::string::npos) << plan.problems[0];
}

TEST(PlanSpeaker, CiliumDefaultsGiveCiliumTimers) {
  auto d = desired();
  d.instances[0].peers.resize(1);
  d.instances[0].peers[0].timers = {};
  d.instances[0].peers[0].graceful_restart = {};
  const auto p = plan_speaker(d).config.instances.at(0).peers.at(0);
  EXPECT_EQ(p.connect_retry, std::chrono::seconds(120));
  EXPECT_EQ(p.hold_time, std::chrono::seconds(90));
  EXPECT_EQ(p.keepalive_time, std::chrono::seconds(30));
  EXPECT_FALSE(p.graceful_restart.enabled);
  EXPECT_EQ(p.graceful_restart.restart_time, std::chrono::seconds(120));
}

TEST(ServedAllocation, KeepsOnlyAddressesWithALoadBalancerFrontend) {
  ipam::Allocation a;
  a.dormant = false;
  auto& web = a.services["demo/web"];
  web.key = "demo/web";
  web.satisfied = true;
  web.ips = {{*Ipv4Addr::parse("10.25.11.100"), "pool"}};
  auto& api = a.services["demo/api"];
  api.key = "demo/api";
  api.satisfied = true;
  api.ips = {{*Ipv4Addr::parse("10.25.11.101"), "pool"}};

  lb::ServedFrontends programmed;
  lb::FrontendKey k;
  k.addr = *Ipv4Addr::parse("10.25.11.100");
  programmed.frontends[k] = {"demo/web", lb::FrontendType::LoadBalancer};
  // api's address is only a ClusterIP frontend here (e.g. its LB frontend failed to program).
  k.addr = *Ipv4Addr::parse("10.25.11.101");
  programmed.frontends[k] = {"demo/api", lb::FrontendType::ClusterIP};

  auto served = served_allocation(a, programmed);
  EXPECT_EQ(served.ips_of("demo", "web").size(), 1u);
  EXPECT_TRUE(served.ips_of("demo", "api").empty());
}

}  // namespace
}  // namespace netagent::bgp
