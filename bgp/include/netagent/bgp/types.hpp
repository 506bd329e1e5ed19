#pragma once
// Value types of the BGP speaker: address families (IP addresses and prefixes are common/ip.hpp),
// communities (RFC 1997), large communities (RFC 8092), ORIGIN and AS_PATH (RFC 4271 §5.1).
// Parsing returns std::nullopt on bad input; callers say where the input came from.
#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "netagent/common/ip.hpp"

namespace netagent::bgp {

// Address Family Identifier and Subsequent AFI (RFC 4760 §3, IANA registries).
inline constexpr uint16_t kAfiIpv4 = 1;
inline constexpr uint16_t kAfiIpv6 = 2;
inline constexpr uint8_t kSafiUnicast = 1;

// An AFI/SAFI pair. Kept numeric so that families we do not implement can still be carried in
// capabilities and shown.
struct Family {
  uint16_t afi = kAfiIpv4;
  uint8_t safi = kSafiUnicast;

  std::string str() const;  // "ipv4-unicast", "ipv6-unicast", or "afi-25/safi-70"
  static std::optional<Family> parse(std::string_view s);
  auto operator<=>(const Family&) const = default;
};
inline constexpr Family kIpv4Unicast{kAfiIpv4, kSafiUnicast};
inline constexpr Family kIpv6Unicast{kAfiIpv6, kSafiUnicast};

// Addresses and prefixes are the shared ones (common/ip.hpp); their AFI follows from the family.
using netagent::IpAddress;
using Prefix = netagent::IpPrefix;
using PrefixHash = netagent::IpPrefixHash;
constexpr uint16_t afi_of(IpFamily f) {
  return f == IpFamily::v6 ? kAfiIpv6 : kAfiIpv4;
}
inline uint16_t afi_of(const IpAddress& a) {
  return afi_of(a.family());
}
inline uint16_t afi_of(const Prefix& p) {
  return afi_of(p.family());
}
inline Family family_of(const Prefix& p) {
  return Family{afi_of(p), kSafiUnicast};
}

// A standard community (RFC 1997 §3): high 16 bits an ASN, low 16 bits a value. Well-known
// values print and parse by name.
struct Community {
  uint32_t value = 0;

  static constexpr uint32_t kNoExport = 0xFFFFFF01;           // RFC 1997
  static constexpr uint32_t kNoAdvertise = 0xFFFFFF02;        // RFC 1997
  static constexpr uint32_t kNoExportSubconfed = 0xFFFFFF03;  // RFC 1997
  static constexpr uint32_t kNoPeer = 0xFFFFFF04;             // RFC 3765
  static constexpr uint32_t kGracefulShutdown = 0xFFFF0000;   // RFC 8326
  static constexpr uint32_t kAcceptOwn = 0xFFFF0001;          // RFC 7611
  static constexpr uint32_t kLlgrStale = 0xFFFF0006;          // RFC 9494
  static constexpr uint32_t kNoLlgr = 0xFFFF0007;             // RFC 9494
  static constexpr uint32_t kBlackhole = 0xFFFF029A;          // RFC 7999

  // "64512:100", a decimal 32-bit value, or a well-known name ("no-export", "no-advertise",
  // "no-export-subconfed", "no-peer", "graceful-shutdown", "accept-own", "llgr-stale",
  // "no-llgr", "blackhole").
  static std::optional<Community> parse(std::string_view s);
  std::string str() const;  // well-known name, else "asn:value"
  auto operator<=>(const Community&) const = default;
};

// A large community (RFC 8092 §3): three 32-bit values, written "global:local1:local2".
struct LargeCommunity {
  uint32_t global = 0;
  uint32_t local1 = 0;
  uint32_t local2 = 0;

  static std::optional<LargeCommunity> parse(std::string_view s);
  std::string str() const;
  auto operator<=>(const LargeCommunity&) const = default;
};

// ORIGIN (RFC 4271 §5.1.1).
enum class Origin : uint8_t { igp = 0, egp = 1, incomplete = 2 };
std::string_view origin_name(Origin o);  // "igp", "egp", "incomplete"
std::optional<Origin> parse_origin(std::string_view s);

// AS_PATH segment types (RFC 4271 §4.3, RFC 5065 §3 for the confederation ones).
enum class AsSegmentType : uint8_t {
  set = 1,
  sequence = 2,
  confed_sequence = 3,
  confed_set = 4,
};

struct AsPathSegment {
  AsSegmentType type = AsSegmentType::sequence;
  std::vector<uint32_t> asns;
  bool operator==(const AsPathSegment&) const = default;
};

struct AsPath {
  std::vector<AsPathSegment> segments;

  // Path length for route selection (RFC 4271 §9.1.2.2): an AS_SET counts as one, confederation
  // segments count zero.
  size_t length() const;
  bool empty() const { return segments.empty(); }
  // "64512 64501 {1 2}" (sequences plain, sets in braces, confederation parts in parentheses).
  std::string str() const;
  static AsPath sequence(std::vector<uint32_t> asns);
  bool operator==(const AsPath&) const = default;
};

// AS_TRANS (RFC 6793 §9): stands in for a 4-octet ASN towards a speaker without the capability.
inline constexpr uint32_t kAsTrans = 23456;

}  // namespace netagent::bgp
