#include "netagent/bgp/control/communities.hpp"

#include <array>
#include <utility>

#include "netagent/common/number.hpp"

namespace netagent::bgp::control {
namespace {

std::optional<uint64_t> parse_decimal(std::string_view s, uint64_t max) {
  if (s.size() > 10) return std::nullopt;
  auto v = parse_integer<uint64_t>(s);
  if (!v || *v > max) return std::nullopt;
  // The CRD patterns reject leading zeros ("0" alone is fine).
  if (s.size() > 1 && s[0] == '0') return std::nullopt;
  return v;
}

// RFC 1997 and the IANA "BGP Well-known Communities" registry, as listed in Cilium's
// BGPWellKnownCommunity enum.
constexpr std::array<std::pair<std::string_view, uint32_t>, 14> kWellKnown = {{
    {"internet", 0x00000000},
    {"planned-shut", 0xffff0000},
    {"accept-own", 0xffff0001},
    {"route-filter-translated-v4", 0xffff0002},
    {"route-filter-v4", 0xffff0003},
    {"route-filter-translated-v6", 0xffff0004},
    {"route-filter-v6", 0xffff0005},
    {"llgr-stale", 0xffff0006},
    {"no-llgr", 0xffff0007},
    {"blackhole", 0xffff029a},
    {"no-export", 0xffffff01},
    {"no-advertise", 0xffffff02},
    {"no-export-subconfed", 0xffffff03},
    {"no-peer", 0xffffff04},
}};

}  // namespace

std::string LargeCommunity::str() const {
  return std::to_string(global_admin) + ":" + std::to_string(local1) + ":" + std::to_string(local2);
}

std::optional<uint32_t> parse_standard_community(std::string_view s) {
  auto colon = s.find(':');
  if (colon == std::string_view::npos) {
    auto v = parse_decimal(s, 0xffffffffu);
    return v ? std::optional<uint32_t>(uint32_t(*v)) : std::nullopt;
  }
  auto hi = parse_decimal(s.substr(0, colon), 0xffff);
  auto lo = parse_decimal(s.substr(colon + 1), 0xffff);
  if (!hi || !lo) return std::nullopt;
  return uint32_t(*hi << 16 | *lo);
}

std::optional<uint32_t> well_known_community(std::string_view name) {
  for (const auto& [n, v] : kWellKnown) {
    if (n == name) return v;
  }
  return std::nullopt;
}

std::optional<LargeCommunity> parse_large_community(std::string_view s) {
  auto a = s.find(':');
  if (a == std::string_view::npos) return std::nullopt;
  auto b = s.find(':', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  auto g = parse_decimal(s.substr(0, a), 0xffffffffu);
  auto l1 = parse_decimal(s.substr(a + 1, b - a - 1), 0xffffffffu);
  auto l2 = parse_decimal(s.substr(b + 1), 0xffffffffu);
  if (!g || !l1 || !l2) return std::nullopt;
  return LargeCommunity{uint32_t(*g), uint32_t(*l1), uint32_t(*l2)};
}

std::string community_str(uint32_t c) {
  return std::to_string(c >> 16) + ":" + std::to_string(c & 0xffff);
}

}  // namespace netagent::bgp::control
