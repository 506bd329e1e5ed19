#pragma once
// Small helpers shared by the BGP tests: hex byte vectors and message builders.
#include <cctype>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "netagent/bgp/messages.hpp"
#include "netagent/bgp/types.hpp"

namespace netagent::bgp::testing {

// "ff ff 00 13" -> bytes; whitespace ignored.
inline std::vector<uint8_t> hex(std::string_view s) {
  std::vector<uint8_t> out;
  int hi = -1;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    int v = std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : std::tolower(c) - 'a' + 10;
    if (v < 0 || v > 15) throw std::invalid_argument("bad hex digit");
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(uint8_t(hi << 4 | v));
      hi = -1;
    }
  }
  if (hi >= 0) throw std::invalid_argument("odd number of hex digits");
  return out;
}

inline std::string to_hex(const std::vector<uint8_t>& b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (uint8_t x : b) {
    s += d[x >> 4];
    s += d[x & 15];
  }
  return s;
}

// A whole message: marker, length, type, then `body_hex`.
inline std::vector<uint8_t> message(uint8_t type, std::string_view body_hex) {
  auto body = hex(body_hex);
  std::vector<uint8_t> m(16, 0xff);
  size_t len = 19 + body.size();
  m.push_back(uint8_t(len >> 8));
  m.push_back(uint8_t(len));
  m.push_back(type);
  m.insert(m.end(), body.begin(), body.end());
  return m;
}

inline Prefix pfx(std::string_view s) {
  auto p = Prefix::parse(s);
  if (!p) throw std::invalid_argument("bad prefix");
  return *p;
}

inline IpAddress ip(std::string_view s) {
  auto a = IpAddress::parse(s);
  if (!a) throw std::invalid_argument("bad address");
  return *a;
}

// The node's OPEN (10.25.11.11, AS 64512) with every capability the speaker sends: both
// unicast families, route refresh (plain and enhanced), 4-octet AS, and graceful restart with
// notification (RFC 8538), 120 s, IPv4 forwarding state kept.
inline OpenMessage node_open(bool restarted, bool ipv6_forwarding_kept) {
  OpenMessage o;
  o.my_as = 64512;
  o.hold_time = 90;
  o.router_id = *Ipv4Addr::parse("10.25.11.11");
  o.capabilities.multiprotocol = {kIpv4Unicast, kIpv6Unicast};
  o.capabilities.route_refresh = true;
  o.capabilities.enhanced_route_refresh = true;
  o.capabilities.four_octet_as = 64512;
  GracefulRestartCapability gr;
  gr.restart_state = restarted;
  gr.notification = true;
  gr.restart_time = 120;
  gr.families = {{kIpv4Unicast, true}, {kIpv6Unicast, ipv6_forwarding_kept}};
  o.capabilities.graceful_restart = gr;
  return o;
}

}  // namespace netagent::bgp::testing
