#include "netagent/datapath/packet.hpp"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>

#include <cstdio>
#include <cstring>

namespace netagent::datapath {
namespace {

uint32_t sum16(std::span<const uint8_t> d, uint32_t acc) {
  size_t i = 0;
  for (; i + 1 < d.size(); i += 2)
    acc += uint32_t(d[i]) << 8 | d[i + 1];
  if (i < d.size()) acc += uint32_t(d[i]) << 8;
  return acc;
}

uint16_t fold(uint32_t acc) {
  while (acc >> 16)
    acc = (acc & 0xffff) + (acc >> 16);
  return uint16_t(~acc);
}

uint32_t pseudo_sum(uint32_t saddr_be, uint32_t daddr_be, uint8_t proto, uint16_t len) {
  uint8_t ph[12];
  std::memcpy(ph, &saddr_be, 4);
  std::memcpy(ph + 4, &daddr_be, 4);
  ph[8] = 0;
  ph[9] = proto;
  ph[10] = uint8_t(len >> 8);
  ph[11] = uint8_t(len);
  return sum16(ph, 0);
}

}  // namespace

uint16_t inet_checksum(std::span<const uint8_t> data, uint32_t initial) {
  return fold(sum16(data, initial));
}

PacketBuilder& PacketBuilder::eth(Mac src, Mac dst) {
  src_mac_ = src;
  dst_mac_ = dst;
  return *this;
}
PacketBuilder& PacketBuilder::ipv4(Ipv4Addr src, Ipv4Addr dst) {
  saddr_ = src;
  daddr_ = dst;
  return *this;
}
PacketBuilder& PacketBuilder::ttl(uint8_t t) {
  ttl_ = t;
  return *this;
}
PacketBuilder& PacketBuilder::fragment(uint16_t offset, bool more) {
  frag_off_ = offset;
  more_frags_ = more;
  return *this;
}
PacketBuilder& PacketBuilder::tcp(uint16_t sport, uint16_t dport, uint8_t flags) {
  proto_ = IPPROTO_TCP;
  sport_ = sport;
  dport_ = dport;
  tcp_flags_ = flags;
  return *this;
}
PacketBuilder& PacketBuilder::udp(uint16_t sport, uint16_t dport) {
  proto_ = IPPROTO_UDP;
  sport_ = sport;
  dport_ = dport;
  return *this;
}
PacketBuilder& PacketBuilder::icmp_echo(uint16_t id, uint16_t seq) {
  proto_ = IPPROTO_ICMP;
  sport_ = id;
  dport_ = seq;
  return *this;
}
PacketBuilder& PacketBuilder::payload(std::string data) {
  payload_ = std::move(data);
  return *this;
}
PacketBuilder& PacketBuilder::proto(uint8_t p) {
  proto_ = p;
  return *this;
}

std::vector<uint8_t> PacketBuilder::build() const {
  size_t l4_len = 0;
  if (proto_ == IPPROTO_TCP) l4_len = sizeof(tcphdr);
  if (proto_ == IPPROTO_UDP) l4_len = sizeof(udphdr);
  if (proto_ == IPPROTO_ICMP) l4_len = 8;
  size_t ip_len = sizeof(iphdr) + l4_len + payload_.size();
  std::vector<uint8_t> out(sizeof(ethhdr) + ip_len);
  auto* eth = reinterpret_cast<ethhdr*>(out.data());
  std::memcpy(eth->h_source, src_mac_.data(), 6);
  std::memcpy(eth->h_dest, dst_mac_.data(), 6);
  eth->h_proto = htons(ETH_P_IP);
  auto* ip = reinterpret_cast<iphdr*>(out.data() + sizeof(ethhdr));
  ip->version = 4;
  ip->ihl = 5;
  ip->tot_len = htons(uint16_t(ip_len));
  ip->id = htons(0x1234);
  ip->frag_off = htons(uint16_t((more_frags_ ? 0x2000 : 0) | (frag_off_ & 0x1fff)));
  ip->ttl = ttl_;
  ip->protocol = proto_;
  ip->saddr = saddr_.to_be();
  ip->daddr = daddr_.to_be();
  ip->check = 0;
  ip->check = htons(inet_checksum({reinterpret_cast<uint8_t*>(ip), sizeof(iphdr)}));
  uint8_t* l4 = out.data() + sizeof(ethhdr) + sizeof(iphdr);
  std::memcpy(l4 + l4_len, payload_.data(), payload_.size());
  uint16_t seg_len = uint16_t(l4_len + payload_.size());
  if (proto_ == IPPROTO_TCP) {
    auto* t = reinterpret_cast<tcphdr*>(l4);
    t->source = htons(sport_);
    t->dest = htons(dport_);
    t->seq = htonl(1);
    t->doff = 5;
    reinterpret_cast<uint8_t*>(t)[13] = tcp_flags_;
    t->window = htons(65535);
    t->check = 0;
    t->check = htons(fold(sum16({l4, seg_len}, pseudo_sum(ip->saddr, ip->daddr, proto_, seg_len))));
  } else if (proto_ == IPPROTO_UDP) {
    auto* u = reinterpret_cast<udphdr*>(l4);
    u->source = htons(sport_);
    u->dest = htons(dport_);
    u->len = htons(seg_len);
    u->check = 0;
    uint16_t c = fold(sum16({l4, seg_len}, pseudo_sum(ip->saddr, ip->daddr, proto_, seg_len)));
    u->check = htons(c == 0 ? 0xffff : c);
  } else if (proto_ == IPPROTO_ICMP) {
    l4[0] = 8;  // echo request
    l4[4] = uint8_t(sport_ >> 8);
    l4[5] = uint8_t(sport_);
    l4[6] = uint8_t(dport_ >> 8);
    l4[7] = uint8_t(dport_);
    uint16_t c = inet_checksum({l4, seg_len});
    l4[2] = uint8_t(c >> 8);
    l4[3] = uint8_t(c);
  }
  return out;
}

std::optional<DecodedPacket> decode_packet(std::span<const uint8_t> f) {
  DecodedPacket d;
  if (f.size() < sizeof(ethhdr)) return std::nullopt;
  auto* eth = reinterpret_cast<const ethhdr*>(f.data());
  if (eth->h_proto != htons(ETH_P_IP)) return d;
  if (f.size() < sizeof(ethhdr) + sizeof(iphdr)) return std::nullopt;
  auto* ip = reinterpret_cast<const iphdr*>(f.data() + sizeof(ethhdr));
  size_t ihl = size_t(ip->ihl) * 4;
  if (ihl < sizeof(iphdr) || f.size() < sizeof(ethhdr) + ihl) return std::nullopt;
  d.ipv4 = true;
  d.saddr = Ipv4Addr::from_be(ip->saddr);
  d.daddr = Ipv4Addr::from_be(ip->daddr);
  d.proto = ip->protocol;
  d.ttl = ip->ttl;
  d.tot_len = ntohs(ip->tot_len);
  d.ip_csum_ok = inet_checksum({reinterpret_cast<const uint8_t*>(ip), ihl}) == 0;
  size_t l3_end = std::min(f.size(), sizeof(ethhdr) + d.tot_len);
  const uint8_t* l4 = f.data() + sizeof(ethhdr) + ihl;
  size_t l4_avail = l3_end > sizeof(ethhdr) + ihl ? l3_end - sizeof(ethhdr) - ihl : 0;
  uint32_t ps = pseudo_sum(ip->saddr, ip->daddr, d.proto, uint16_t(l4_avail));
  if (d.proto == IPPROTO_TCP && l4_avail >= sizeof(tcphdr)) {
    auto* t = reinterpret_cast<const tcphdr*>(l4);
    d.sport = ntohs(t->source);
    d.dport = ntohs(t->dest);
    d.tcp_flags = l4[13];
    d.l4_csum_ok = fold(sum16({l4, l4_avail}, ps)) == 0;
    size_t doff = size_t(t->doff) * 4;
    if (doff <= l4_avail)
      d.payload.assign(reinterpret_cast<const char*>(l4 + doff), l4_avail - doff);
  } else if (d.proto == IPPROTO_UDP && l4_avail >= sizeof(udphdr)) {
    auto* u = reinterpret_cast<const udphdr*>(l4);
    d.sport = ntohs(u->source);
    d.dport = ntohs(u->dest);
    d.l4_csum_ok = u->check == 0 || fold(sum16({l4, l4_avail}, ps)) == 0;
    d.payload.assign(reinterpret_cast<const char*>(l4 + sizeof(udphdr)), l4_avail - sizeof(udphdr));
  } else if (d.proto == IPPROTO_ICMP && l4_avail >= 8) {
    d.sport = uint16_t(l4[4] << 8 | l4[5]);
    d.dport = uint16_t(l4[6] << 8 | l4[7]);
    d.l4_csum_ok = inet_checksum({l4, l4_avail}) == 0;
  }
  return d;
}

std::string DecodedPacket::str() const {
  if (!ipv4) return "non-IPv4 frame";
  const char* p = proto == IPPROTO_TCP    ? "TCP"
                  : proto == IPPROTO_UDP  ? "UDP"
                  : proto == IPPROTO_ICMP ? "ICMP"
                                          : "IP";
  return std::string(p) + " " + saddr.str() + ":" + std::to_string(sport) + " -> " + daddr.str() +
         ":" + std::to_string(dport) + " [ip csum " + (ip_csum_ok ? "ok" : "BAD") + ", l4 csum " +
         (l4_csum_ok ? "ok" : "BAD") + "]";
}

std::string hexdump(std::span<const uint8_t> data) {
  std::string out;
  char buf[32];
  for (size_t i = 0; i < data.size(); ++i) {
    if (i % 16 == 0) {
      std::snprintf(buf, sizeof buf, "%s%04zx:", i ? "\n" : "", i);
      out += buf;
    }
    std::snprintf(buf, sizeof buf, " %02x", data[i]);
    out += buf;
  }
  return out;
}

}  // namespace netagent::datapath
