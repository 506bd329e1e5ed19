// Packet-table tests of the TC NodePort program through BPF_PROG_TEST_RUN: input packet, expected
// verdict, expected rewritten headers and checksums, expected drop counters.
#include <linux/pkt_cls.h>

#include "lb_fixture.hpp"
#include "netagent/datapath/packet.hpp"
#include "netagent/datapath/test_run.hpp"
#include "netagent/lb/conntrack_gc.hpp"

namespace netagent::lb {
namespace {

using datapath::PacketBuilder;
using namespace testing;

class NodePortProgram : public ::testing::Test {
 protected:
  void SetUp() override {
    NETAGENT_REQUIRE_ROOT();
    dp_ = load_private();
    ASSERT_TRUE(dp_);
    maps_ = std::make_unique<ServiceMaps>(*dp_);
    auto d = desired({
        frontend(FrontendType::LoadBalancer, "10.25.11.100", 80, IPPROTO_TCP,
                 {{ip("10.1.0.5"), 8080, IPPROTO_TCP}, {ip("10.1.0.6"), 8080, IPPROTO_TCP}}, "web"),
        frontend(FrontendType::NodePort, "10.25.11.11", 30080, IPPROTO_TCP,
                 {{ip("10.1.0.5"), 8080, IPPROTO_TCP}, {ip("10.1.0.6"), 8080, IPPROTO_TCP}}, "web"),
        frontend(FrontendType::ExternalIP, "192.0.2.50", 443, IPPROTO_TCP,
                 {{ip("10.1.0.7"), 8443, IPPROTO_TCP}}, "ext"),
        frontend(FrontendType::LoadBalancer, "10.25.11.101", 53, IPPROTO_UDP,
                 {{ip("10.1.0.8"), 5353, IPPROTO_UDP}}, "dns"),
        frontend(FrontendType::LoadBalancer, "10.25.11.102", 80, IPPROTO_TCP, {}, "empty"),
        frontend(FrontendType::ClusterIP, "10.96.0.10", 80, IPPROTO_TCP,
                 {{ip("10.1.0.5"), 8080, IPPROTO_TCP}}, "internal"),
    });
    ASSERT_TRUE(maps_->restore());
    auto st = maps_->apply(d);
    ASSERT_TRUE(st) << st.error().str();
  }

  datapath::TestRunResult run_ingress(const std::vector<uint8_t>& pkt) {
    auto r = datapath::test_run(dp_->nodeport_ingress_fd(), pkt);
    EXPECT_TRUE(r) << r.error().str();
    return r ? *r : datapath::TestRunResult{};
  }
  datapath::TestRunResult run_egress(const std::vector<uint8_t>& pkt) {
    auto r = datapath::test_run(dp_->nodeport_egress_fd(), pkt);
    EXPECT_TRUE(r) << r.error().str();
    return r ? *r : datapath::TestRunResult{};
  }
  uint64_t drops(unsigned reason) {
    auto v = dp_->drops.read(reason);
    uint64_t n = 0;
    if (v) {
      for (const auto& c : *v)
        n += c.packets;
    }
    return n;
  }

  std::unique_ptr<LbDatapath> dp_;
  std::unique_ptr<ServiceMaps> maps_;
};

struct Case {
  const char* name;
  std::vector<uint8_t> packet;
  int verdict;
  // Expected packet after the program (nullptr: unchanged).
  const char* daddr;
  uint16_t dport;
  int drop_reason;
};

TEST_F(NodePortProgram, PacketTable) {
  const auto client = ip("198.51.100.7");
  auto tcp = [&](const char* dst, uint16_t dport) {
    return PacketBuilder().ipv4(client, ip(dst)).tcp(40000, dport).payload("hello").build();
  };
  auto udp = [&](const char* dst, uint16_t dport) {
    return PacketBuilder().ipv4(client, ip(dst)).udp(40001, dport).payload("query").build();
  };
  std::vector<uint8_t> truncated_tcp = tcp("10.25.11.100", 80);
  truncated_tcp.resize(14 + 20 + 10);  // IPv4 header, then half a TCP header
  // BPF_PROG_TEST_RUN (like the stack before TC) refuses frames shorter than an IPv4 header, so
  // a "short" IPv4 header is one whose IHL claims options beyond the end of the frame.
  std::vector<uint8_t> truncated_ip = tcp("10.25.11.100", 80);
  truncated_ip.resize(14 + 20);
  truncated_ip[14] = 0x4f;  // IHL 15: 60 bytes of header in a 20-byte packet
  std::vector<uint8_t> bad_ihl = tcp("10.25.11.100", 80);
  bad_ihl[14] = 0x43;  // version 4, IHL 3
  std::vector<uint8_t> arp(42, 0);
  arp[12] = 0x08;
  arp[13] = 0x06;

  const Case cases[] = {
      {"LoadBalancer IP, TCP", tcp("10.25.11.100", 80), TC_ACT_OK, "10.1.0.?", 8080, 0},
      {"NodePort on the node address", tcp("10.25.11.11", 30080), TC_ACT_OK, "10.1.0.?", 8080, 0},
      {"externalIP", tcp("192.0.2.50", 443), TC_ACT_OK, "10.1.0.7", 8443, 0},
      {"LoadBalancer IP, UDP", udp("10.25.11.101", 53), TC_ACT_OK, "10.1.0.8", 5353, 0},
      {"service without backends", tcp("10.25.11.102", 80), TC_ACT_SHOT, nullptr, 0,
       DROP_NO_BACKEND},
      {"service address, other port", tcp("10.25.11.100", 81), TC_ACT_OK, nullptr, 0, 0},
      {"non-service traffic", tcp("203.0.113.9", 80), TC_ACT_OK, nullptr, 0, 0},
      {"ClusterIP from outside is not translated", tcp("10.96.0.10", 80), TC_ACT_OK, nullptr, 0, 0},
      {"ICMP to a service address",
       PacketBuilder().ipv4(client, ip("10.25.11.100")).icmp_echo(1, 1).build(), TC_ACT_OK, nullptr,
       0, 0},
      {"ARP", arp, TC_ACT_OK, nullptr, 0, 0},
      {"truncated TCP header", truncated_tcp, TC_ACT_SHOT, nullptr, 0, DROP_MALFORMED_L4},
      {"truncated IPv4 header", truncated_ip, TC_ACT_SHOT, nullptr, 0, DROP_MALFORMED_L3},
      {"IPv4 header length below 5", bad_ihl, TC_ACT_SHOT, nullptr, 0, DROP_MALFORMED_L3},
      {"first fragment to a service",
       PacketBuilder().ipv4(client, ip("10.25.11.100")).fragment(0, true).tcp(40000, 80).build(),
       TC_ACT_SHOT, nullptr, 0, DROP_FRAGMENT},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    uint64_t before = c.drop_reason ? drops(c.drop_reason) : 0;
    auto r = run_ingress(c.packet);
    EXPECT_EQ(int(r.retval), c.verdict);
    if (c.drop_reason) {
      EXPECT_EQ(drops(c.drop_reason), before + 1);
    }
    if (c.verdict != TC_ACT_OK) continue;
    if (!c.daddr) {
      EXPECT_EQ(r.packet, c.packet) << "expected the packet untouched\n"
                                    << datapath::hexdump(r.packet);
      continue;
    }
    auto d = datapath::decode_packet(r.packet);
    ASSERT_TRUE(d);
    auto in = datapath::decode_packet(c.packet);
    std::string want = c.daddr;
    if (want.back() == '?') {
      EXPECT_TRUE(d->daddr == ip("10.1.0.5") || d->daddr == ip("10.1.0.6")) << d->str();
    } else {
      EXPECT_EQ(d->daddr, ip(c.daddr)) << d->str();
    }
    EXPECT_EQ(d->dport, c.dport);
    EXPECT_EQ(d->saddr, in->saddr);
    EXPECT_EQ(d->sport, in->sport);
    EXPECT_TRUE(d->ip_csum_ok) << d->str() << "\n" << datapath::hexdump(r.packet);
    EXPECT_TRUE(d->l4_csum_ok) << d->str() << "\n" << datapath::hexdump(r.packet);
    EXPECT_EQ(d->payload, in->payload);
  }
}

TEST_F(NodePortProgram, ReplyIsReverseTranslatedAndFlowKeepsItsBackend) {
  const auto client = ip("198.51.100.7");
  auto syn = PacketBuilder().ipv4(client, ip("10.25.11.100")).tcp(41000, 80).build();
  auto first = run_ingress(syn);
  ASSERT_EQ(int(first.retval), TC_ACT_OK);
  auto fwd = datapath::decode_packet(first.packet);
  // Established: the same flow always goes to the same backend.
  for (int i = 0; i < 20; ++i) {
    auto ack = PacketBuilder()
                   .ipv4(client, ip("10.25.11.100"))
                   .tcp(41000, 80, datapath::tcp_flags::ACK)
                   .build();
    auto r = run_ingress(ack);
    auto d = datapath::decode_packet(r.packet);
    EXPECT_EQ(d->daddr, fwd->daddr);
  }
  // The backend's reply leaves through egress and gets the service address back.
  auto reply = PacketBuilder()
                   .ipv4(fwd->daddr, client)
                   .tcp(8080, 41000, datapath::tcp_flags::SYN | datapath::tcp_flags::ACK)
                   .payload("hi")
                   .build();
  auto r = run_egress(reply);
  ASSERT_EQ(int(r.retval), TC_ACT_OK);
  auto d = datapath::decode_packet(r.packet);
  EXPECT_EQ(d->saddr, ip("10.25.11.100"));
  EXPECT_EQ(d->sport, 80);
  EXPECT_EQ(d->daddr, client);
  EXPECT_EQ(d->dport, 41000);
  EXPECT_TRUE(d->ip_csum_ok && d->l4_csum_ok) << d->str();
  // Unrelated egress traffic passes untouched.
  auto other = PacketBuilder().ipv4(ip("10.1.0.9"), client).tcp(22, 41000).build();
  EXPECT_EQ(run_egress(other).packet, other);
}

TEST_F(NodePortProgram, UdpReplyAndZeroChecksum) {
  const auto client = ip("198.51.100.8");
  auto q = PacketBuilder().ipv4(client, ip("10.25.11.101")).udp(5000, 53).payload("q").build();
  q[14 + 20 + 6] = 0;  // UDP checksum 0: "no checksum" must stay 0 after NAT
  q[14 + 20 + 7] = 0;
  auto r = run_ingress(q);
  ASSERT_EQ(int(r.retval), TC_ACT_OK);
  EXPECT_EQ(r.packet[14 + 20 + 6], 0);
  EXPECT_EQ(r.packet[14 + 20 + 7], 0);
  auto d = datapath::decode_packet(r.packet);
  EXPECT_EQ(d->daddr, ip("10.1.0.8"));
  EXPECT_TRUE(d->ip_csum_ok);
  auto reply = PacketBuilder().ipv4(ip("10.1.0.8"), client).udp(5353, 5000).payload("a").build();
  auto rr = run_egress(reply);
  auto dr = datapath::decode_packet(rr.packet);
  EXPECT_EQ(dr->saddr, ip("10.25.11.101"));
  EXPECT_EQ(dr->sport, 53);
  EXPECT_TRUE(dr->l4_csum_ok && dr->ip_csum_ok) << dr->str();
}

}  // namespace
}  // namespace netagent::lb

namespace netagent::lb {
namespace {

TEST_F(NodePortProgram, ConntrackGcRefreshesActiveFlowsAndDropsThoseOfDeletedServices) {
  auto syn = datapath::PacketBuilder()
                 .ipv4(testing::ip("198.51.100.9"), testing::ip("10.25.11.100"))
                 .tcp(42000, 80)
                 .build();
  ASSERT_EQ(int(run_ingress(syn).retval), TC_ACT_OK);
  auto entries = dp_->conntrack.entries();
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 2u);  // forward and reply
  std::set<uint32_t> live;
  for (const auto& [k, f] : maps_->frontends())
    live.insert(f.svc_id);
  auto st = conntrack_gc_pass(*dp_, live);
  ASSERT_TRUE(st) << st.error().str();
  EXPECT_EQ(st->refreshed, 2u);
  auto after_gc = dp_->conntrack.entries();
  ASSERT_TRUE(after_gc);
  for (const auto& [k, v] : *after_gc)
    EXPECT_FALSE(v.flags & CT_F_ACTIVE);
  // Traffic marks the forward entry active again, without the datapath reading a clock.
  run_ingress(syn);
  size_t active = 0;
  auto after_use = dp_->conntrack.entries();
  ASSERT_TRUE(after_use);
  for (const auto& [k, v] : *after_use)
    active += (v.flags & CT_F_ACTIVE) ? 1 : 0;
  EXPECT_EQ(active, 1u);
  // The service goes away: its flows go too.
  st = conntrack_gc_pass(*dp_, {});
  ASSERT_TRUE(st);
  EXPECT_EQ(st->removed, 2u);
  EXPECT_TRUE(dp_->conntrack.entries()->empty());
}

}  // namespace
}  // namespace netagent::lb
