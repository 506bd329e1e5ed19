#include "netagent/bgp/types.hpp"

#include <arpa/inet.h>

#include <cstring>

#include "netagent/common/number.hpp"

namespace netagent::bgp {
namespace {

struct NamedCommunity {
  std::string_view name;
  uint32_t value;
};
constexpr NamedCommunity kWellKnown[] = {
    {"no-export", Community::kNoExport},
    {"no-advertise", Community::kNoAdvertise},
    {"no-export-subconfed", Community::kNoExportSubconfed},
    {"no-peer", Community::kNoPeer},
    {"graceful-shutdown", Community::kGracefulShutdown},
    {"accept-own", Community::kAcceptOwn},
    {"llgr-stale", Community::kLlgrStale},
    {"no-llgr", Community::kNoLlgr},
    {"blackhole", Community::kBlackhole},
};

}  // namespace

std::string Family::str() const {
  if (*this == kIpv4Unicast) return "ipv4-unicast";
  if (*this == kIpv6Unicast) return "ipv6-unicast";
  return "afi-" + std::to_string(afi) + "/safi-" + std::to_string(safi);
}

std::optional<Family> Family::parse(std::string_view s) {
  if (s == "ipv4-unicast" || s == "ipv4") return kIpv4Unicast;
  if (s == "ipv6-unicast" || s == "ipv6") return kIpv6Unicast;
  return std::nullopt;
}

std::optional<Community> Community::parse(std::string_view s) {
  for (const auto& w : kWellKnown) {
    if (s == w.name) return Community{w.value};
  }
  auto colon = s.find(':');
  if (colon == std::string_view::npos) {
    auto v = parse_integer<uint32_t>(s);
    if (!v) return std::nullopt;
    return Community{*v};
  }
  auto hi = parse_integer<uint16_t>(s.substr(0, colon));
  auto lo = parse_integer<uint16_t>(s.substr(colon + 1));
  if (!hi || !lo) return std::nullopt;
  return Community{uint32_t(*hi) << 16 | *lo};
}

std::string Community::str() const {
  for (const auto& w : kWellKnown) {
    if (value == w.value) return std::string(w.name);
  }
  return std::to_string(value >> 16) + ":" + std::to_string(value & 0xffff);
}

std::optional<LargeCommunity> LargeCommunity::parse(std::string_view s) {
  auto c1 = s.find(':');
  if (c1 == std::string_view::npos) return std::nullopt;
  auto c2 = s.find(':', c1 + 1);
  if (c2 == std::string_view::npos) return std::nullopt;
  auto g = parse_integer<uint32_t>(s.substr(0, c1));
  auto l1 = parse_integer<uint32_t>(s.substr(c1 + 1, c2 - c1 - 1));
  auto l2 = parse_integer<uint32_t>(s.substr(c2 + 1));
  if (!g || !l1 || !l2) return std::nullopt;
  return LargeCommunity{*g, *l1, *l2};
}

std::string LargeCommunity::str() const {
  return std::to_string(global) + ":" + std::to_string(local1) + ":" + std::to_string(local2);
}

std::string_view origin_name(Origin o) {
  switch (o) {
    case Origin::igp:
      return "igp";
    case Origin::egp:
      return "egp";
    case Origin::incomplete:
      return "incomplete";
  }
  return "?";
}

std::optional<Origin> parse_origin(std::string_view s) {
  if (s == "igp") return Origin::igp;
  if (s == "egp") return Origin::egp;
  if (s == "incomplete") return Origin::incomplete;
  return std::nullopt;
}

size_t AsPath::length() const {
  size_t n = 0;
  for (const auto& s : segments) {
    if (s.type == AsSegmentType::sequence) n += s.asns.size();
    if (s.type == AsSegmentType::set) n += 1;
  }
  return n;
}

std::string AsPath::str() const {
  std::string out;
  for (const auto& s : segments) {
    if (!out.empty()) out += ' ';
    const char* open = "";
    const char* close = "";
    switch (s.type) {
      case AsSegmentType::set:
        open = "{";
        close = "}";
        break;
      case AsSegmentType::confed_sequence:
        open = "(";
        close = ")";
        break;
      case AsSegmentType::confed_set:
        open = "({";
        close = "})";
        break;
      case AsSegmentType::sequence:
        break;
    }
    out += open;
    for (size_t i = 0; i < s.asns.size(); ++i) {
      if (i) out += ' ';
      out += std::to_string(s.asns[i]);
    }
    out += close;
  }
  return out;
}

AsPath AsPath::sequence(std::vector<uint32_t> asns) {
  AsPath p;
  if (!asns.empty()) p.segments.push_back({AsSegmentType::sequence, std::move(asns)});
  return p;
}

}  // namespace netagent::bgp
