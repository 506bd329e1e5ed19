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

IpAddress IpAddress::v4(Ipv4Addr a) {
  IpAddress r;
  uint32_t be = a.to_be();
  std::memcpy(r.b_.data(), &be, 4);
  return r;
}

IpAddress IpAddress::v6(const Ipv6Addr& a) {
  IpAddress r;
  r.v6_ = true;
  r.b_ = a.bytes;
  return r;
}

IpAddress IpAddress::from_bytes(std::span<const uint8_t> b) {
  IpAddress r;
  r.v6_ = b.size() == 16;
  std::memcpy(r.b_.data(), b.data(), r.v6_ ? 16 : 4);
  return r;
}

std::optional<IpAddress> IpAddress::parse(std::string_view s) {
  if (s.find(':') != std::string_view::npos) {
    auto a = Ipv6Addr::parse(s);
    if (!a) return std::nullopt;
    return v6(*a);
  }
  auto a = Ipv4Addr::parse(s);
  if (!a) return std::nullopt;
  return v4(*a);
}

Ipv4Addr IpAddress::as_v4() const {
  uint32_t be;
  std::memcpy(&be, b_.data(), 4);
  return Ipv4Addr::from_be(be);
}

Ipv6Addr IpAddress::as_v6() const {
  return Ipv6Addr{b_};
}

bool IpAddress::is_unspecified() const {
  for (size_t i = 0; i < (v6_ ? 16u : 4u); ++i) {
    if (b_[i] != 0) return false;
  }
  return true;
}

std::string IpAddress::str() const {
  return v6_ ? as_v6().str() : as_v4().str();
}

std::optional<Prefix> Prefix::make(const IpAddress& a, unsigned len) {
  unsigned max = a.is_v6() ? 128 : 32;
  if (len > max) return std::nullopt;
  std::array<uint8_t, 16> b{};
  auto src = a.bytes();
  std::memcpy(b.data(), src.data(), src.size());
  for (unsigned i = 0; i < src.size(); ++i) {
    unsigned bit = i * 8;
    if (bit >= len) {
      b[i] = 0;
    } else if (bit + 8 > len) {
      b[i] &= uint8_t(0xff << (8 - (len - bit)));
    }
  }
  Prefix p;
  p.addr = IpAddress::from_bytes({b.data(), src.size()});
  p.len = uint8_t(len);
  return p;
}

std::optional<Prefix> Prefix::parse(std::string_view s, bool strict) {
  auto slash = s.find('/');
  auto a = IpAddress::parse(s.substr(0, slash));
  if (!a) return std::nullopt;
  unsigned len = a->is_v6() ? 128 : 32;
  if (slash != std::string_view::npos) {
    auto l = parse_integer<unsigned>(s.substr(slash + 1));
    if (!l) return std::nullopt;
    len = *l;
  }
  auto p = make(*a, len);
  if (!p) return std::nullopt;
  if (strict && p->addr != *a) return std::nullopt;
  return p;
}

std::string Prefix::str() const {
  return addr.str() + "/" + std::to_string(len);
}

size_t PrefixHash::operator()(const Prefix& p) const noexcept {
  // Address words mixed with a splitmix64 finalizer: prefixes of a range differ only in their
  // last bits, which a plain multiplicative hash leaves clustered in the buckets.
  auto mix = [](uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
  };
  auto b = p.addr.bytes();
  uint64_t hi = 0, lo = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    (i < 8 ? hi : lo) = ((i < 8 ? hi : lo) << 8) | b[i];
  }
  uint64_t tag = uint64_t(p.len) << 1 | (p.addr.is_v6() ? 1 : 0);
  return size_t(mix(hi ^ mix(lo ^ mix(tag))));
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
