// The LB datapath with real packets: a client namespace reaches TCP and UDP servers in pod
// namespaces through a LoadBalancer IP and a NodePort (TC on the node's device), and a process in
// the node's cgroup reaches them through a ClusterIP (socket LB).
#include <set>

#include "lb_fixture.hpp"
#include "netagent/testing/topology.hpp"

namespace netagent::lb {
namespace {

using namespace netagent::testing;
using testing::frontend;
using testing::ip;

class LbNetns : public ::testing::Test {
 protected:
  void SetUp() override {
    NETAGENT_REQUIRE_ROOT();
    lan_ = std::make_unique<Lan>("lbt");
    node_ = lan_->host("node", "10.25.11.11/24");
    client_ = lan_->host("client", "10.25.11.50/24");
    client_->route("10.25.11.100/32 via 10.25.11.11");
    for (const char* n : {"web1", "web2"}) {
      pods_.push_back(
          std::make_unique<Pod>(*node_, n, n == std::string("web1") ? "10.1.0.5" : "10.1.0.6"));
      auto& pod = *pods_.back();
      servers_.push_back(
          std::make_unique<Process>(std::vector<std::string>{NETAGENT_ECHO_BIN, "--name", n,
                                                             "--tcp", "8080", "--udp", "5353"},
                                    &pod.ns()));
    }
    bpffs_ = std::make_unique<BpffsDir>("lbt");
    cgroup_ = std::make_unique<Cgroup>("lbt");
    LbDatapathOptions o;
    o.pin_root = bpffs_->path();
    o.maglev_table_size = 251;
    o.seed = *MaglevSeed::parse(kMaglevDefaultSeed);
    auto dp = LbDatapath::load(o);
    ASSERT_TRUE(dp) << dp.error().str();
    dp_ = std::move(*dp);
    {
      InNetns in(node_->ns());
      auto st = dp_->attach_devices({"eth0"});
      ASSERT_TRUE(st) << st.error().str();
    }
    auto st = dp_->attach_cgroup(cgroup_->path());
    ASSERT_TRUE(st) << st.error().str();
    maps_ = std::make_unique<ServiceMaps>(*dp_);
    ASSERT_TRUE(maps_->restore());
    // Servers up?
    ASSERT_TRUE(wait_until(
        [&] {
          return run_in(node_->ns(), "", [] { return tcp_request("10.1.0.6", 8080, "x"); }) ==
                 "web2\n";
        },
        std::chrono::seconds(5)));
  }

  void program(std::vector<BackendAddr> tcp, std::vector<BackendAddr> udp) {
    auto d = testing::desired({
        frontend(FrontendType::LoadBalancer, "10.25.11.100", 80, IPPROTO_TCP, tcp, "web-tcp"),
        frontend(FrontendType::NodePort, "10.25.11.11", 30080, IPPROTO_TCP, tcp, "web-tcp"),
        frontend(FrontendType::LoadBalancer, "10.25.11.100", 53, IPPROTO_UDP, udp, "web-udp"),
        frontend(FrontendType::ClusterIP, "10.96.0.10", 80, IPPROTO_TCP, tcp, "web-cip"),
        frontend(FrontendType::ClusterIP, "10.96.0.10", 53, IPPROTO_UDP, udp, "web-cip-udp"),
        frontend(FrontendType::ClusterIP, "10.96.0.11", 80, IPPROTO_TCP, {}, "nobody"),
    });
    auto st = maps_->apply(d);
    ASSERT_TRUE(st) << st.error().str();
  }

  std::set<std::string> answers(const std::function<std::string()>& req, int n) {
    std::set<std::string> seen;
    for (int i = 0; i < n; ++i)
      seen.insert(req());
    return seen;
  }

  std::unique_ptr<Lan> lan_;
  std::unique_ptr<Host> node_, client_;
  std::vector<std::unique_ptr<Pod>> pods_;
  std::vector<std::unique_ptr<Process>> servers_;
  std::unique_ptr<BpffsDir> bpffs_;
  std::unique_ptr<Cgroup> cgroup_;
  std::unique_ptr<LbDatapath> dp_;
  std::unique_ptr<ServiceMaps> maps_;
};

const BackendAddr kWeb1Tcp{*Ipv4Addr::parse("10.1.0.5"), 8080, IPPROTO_TCP};
const BackendAddr kWeb2Tcp{*Ipv4Addr::parse("10.1.0.6"), 8080, IPPROTO_TCP};
const BackendAddr kWeb1Udp{*Ipv4Addr::parse("10.1.0.5"), 5353, IPPROTO_UDP};
const BackendAddr kWeb2Udp{*Ipv4Addr::parse("10.1.0.6"), 5353, IPPROTO_UDP};

TEST_F(LbNetns, NorthSouthThroughLoadBalancerIpAndNodePort) {
  program({kWeb1Tcp, kWeb2Tcp}, {kWeb1Udp, kWeb2Udp});
  auto via_lb = answers(
      [&] {
        return run_in(client_->ns(), "", [] { return tcp_request("10.25.11.100", 80, "hi"); });
      },
      12);
  EXPECT_EQ(via_lb, (std::set<std::string>{"web1\n", "web2\n"}));
  auto via_np = answers(
      [&] {
        return run_in(client_->ns(), "", [] { return tcp_request("10.25.11.11", 30080, "hi"); });
      },
      12);
  EXPECT_EQ(via_np, (std::set<std::string>{"web1\n", "web2\n"}));
  std::string from;
  auto udp = run_in(client_->ns(), "", [&] {
    std::string f;
    auto r = udp_request("10.25.11.100", 53, "q", &f);
    return r + "|" + f;
  });
  EXPECT_TRUE(udp == "web1\n|10.25.11.100:53" || udp == "web2\n|10.25.11.100:53") << udp;
}

TEST_F(LbNetns, EastWestThroughClusterIpAtTheSocket) {
  program({kWeb1Tcp, kWeb2Tcp}, {kWeb1Udp, kWeb2Udp});
  auto cg = cgroup_->path();
  auto seen = answers(
      [&] {
        return run_in(node_->ns(), cg, [] {
          std::string peer;
          auto r = tcp_request("10.96.0.10", 80, "hi", &peer);
          return r + "|" + peer;
        });
      },
      12);
  // getpeername() shows the ClusterIP, never the backend.
  EXPECT_EQ(seen, (std::set<std::string>{"web1\n|10.96.0.10:80", "web2\n|10.96.0.10:80"}));
  auto udp = run_in(node_->ns(), cg, [] {
    std::string from;
    auto r = udp_request("10.96.0.10", 53, "q", &from);
    return r + "|" + from;
  });
  EXPECT_TRUE(udp == "web1\n|10.96.0.10:53" || udp == "web2\n|10.96.0.10:53") << udp;
  // No backend: refused at once.
  auto t0 = std::chrono::steady_clock::now();
  auto refused = run_in(node_->ns(), cg, [] { return tcp_request("10.96.0.11", 80, "hi"); });
  EXPECT_EQ(refused, "error: connect: Connection refused");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
  // Outside the node's cgroup nothing is translated.
  auto outside =
      run_in(node_->ns(), "", [] { return tcp_request("10.96.0.10", 80, "hi", nullptr, 300); });
  EXPECT_EQ(outside.rfind("error:", 0), 0u) << outside;
}

TEST_F(LbNetns, ScaleDownAndUpWhileServing) {
  program({kWeb1Tcp, kWeb2Tcp}, {kWeb1Udp});
  program({kWeb1Tcp}, {kWeb1Udp});
  auto only1 = answers(
      [&] {
        return run_in(client_->ns(), "", [] { return tcp_request("10.25.11.100", 80, "hi"); });
      },
      8);
  EXPECT_EQ(only1, std::set<std::string>{"web1\n"});
  program({kWeb2Tcp}, {kWeb1Udp});
  auto only2 = answers(
      [&] {
        return run_in(client_->ns(), "", [] { return tcp_request("10.25.11.100", 80, "hi"); });
      },
      8);
  EXPECT_EQ(only2, std::set<std::string>{"web2\n"});
}

}  // namespace
}  // namespace netagent::lb
