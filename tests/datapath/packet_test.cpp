#include "netagent/datapath/packet.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>

namespace netagent::datapath {
namespace {

TEST(Packet, BuiltPacketsDecodeWithValidChecksums) {
  auto a = *Ipv4Addr::parse("10.0.0.1"), b = *Ipv4Addr::parse("10.0.0.2");
  for (auto pkt : {PacketBuilder().ipv4(a, b).tcp(1234, 80).payload("abc").build(),
                   PacketBuilder().ipv4(a, b).udp(53, 5353).payload("odd").build(),
                   PacketBuilder().ipv4(a, b).icmp_echo(7, 9).build()}) {
    auto d = decode_packet(pkt);
    ASSERT_TRUE(d);
    EXPECT_TRUE(d->ip_csum_ok) << d->str();
    EXPECT_TRUE(d->l4_csum_ok) << d->str();
    EXPECT_EQ(d->saddr, a);
    EXPECT_EQ(d->daddr, b);
  }
  auto bad = PacketBuilder().ipv4(a, b).tcp(1, 2).build();
  bad.back() ^= 0xff;
  EXPECT_FALSE(decode_packet(bad)->l4_csum_ok);
}

TEST(Packet, Rfc1071Example) {
  // RFC 1071 §3: the sum of 00 01 f2 03 f4 f5 f6 f7 is ddf2, so the checksum is 220d.
  std::vector<uint8_t> d = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(inet_checksum(d), 0x220d);
}

}  // namespace
}  // namespace netagent::datapath
