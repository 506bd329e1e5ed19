#pragma once
// Building and decoding Ethernet/IPv4/TCP/UDP test packets with correct lengths and checksums,
// for BPF packet-table tests and benchmarks.
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "netagent/common/ip.hpp"

namespace netagent::datapath {

using Mac = std::array<uint8_t, 6>;

namespace tcp_flags {
inline constexpr uint8_t FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10;
}

class PacketBuilder {
 public:
  PacketBuilder& eth(Mac src, Mac dst);
  PacketBuilder& ipv4(Ipv4Addr src, Ipv4Addr dst);
  PacketBuilder& ttl(uint8_t t);
  // Fragment offset in 8-byte units and the more-fragments flag.
  PacketBuilder& fragment(uint16_t offset, bool more);
  PacketBuilder& tcp(uint16_t sport, uint16_t dport, uint8_t flags = tcp_flags::SYN);
  PacketBuilder& udp(uint16_t sport, uint16_t dport);
  PacketBuilder& icmp_echo(uint16_t id, uint16_t seq);
  PacketBuilder& payload(std::string data);
  // Raw L3 protocol with no L4 header (e.g. GRE) for pass-through cases.
  PacketBuilder& proto(uint8_t p);

  std::vector<uint8_t> build() const;

 private:
  Mac src_mac_{0x02, 0, 0, 0, 0, 1}, dst_mac_{0x02, 0, 0, 0, 0, 2};
  Ipv4Addr saddr_, daddr_;
  uint8_t ttl_ = 64;
  uint16_t frag_off_ = 0;
  bool more_frags_ = false;
  uint8_t proto_ = 0;
  uint16_t sport_ = 0, dport_ = 0;
  uint8_t tcp_flags_ = 0;
  std::string payload_;
};

struct DecodedPacket {
  bool ipv4 = false;
  Ipv4Addr saddr, daddr;
  uint8_t proto = 0;
  uint8_t ttl = 0;
  uint16_t tot_len = 0;
  bool ip_csum_ok = false;
  uint16_t sport = 0, dport = 0;
  uint8_t tcp_flags = 0;
  bool l4_csum_ok = false;  // TCP/UDP checksum over the pseudo-header (UDP 0 counts as ok)
  std::string payload;

  std::string str() const;  // "TCP 10.0.0.1:1234 -> 10.0.0.2:80 [csum ok]"
};

std::optional<DecodedPacket> decode_packet(std::span<const uint8_t> frame);
std::string hexdump(std::span<const uint8_t> data);

// RFC 1071 one's-complement sum helpers.
uint16_t inet_checksum(std::span<const uint8_t> data, uint32_t initial = 0);

}  // namespace netagent::datapath
