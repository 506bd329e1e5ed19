#pragma once
// IPv4/IPv6 addresses and prefixes as small value types. Ipv4Addr holds the address in host byte
// order so that arithmetic (ranges, pools) is natural; to_be() gives the wire/map form.
// IpAddress and IpPrefix carry either family with its tag: text is parsed once, where it enters
// (a manifest field, a kvstore record, a flag), and printed again only at the edges.
#include <arpa/inet.h>

#include <array>
#include <bit>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace netagent {

// Byte order conversion usable in constant expressions (htonl is not constexpr in glibc).
constexpr uint32_t bswap_if_le(uint32_t v) {
  if constexpr (std::endian::native == std::endian::little) return __builtin_bswap32(v);
  return v;
}

struct Ipv4Addr {
  uint32_t value = 0;  // host byte order

  static constexpr Ipv4Addr from_be(uint32_t be) { return Ipv4Addr{bswap_if_le(be)}; }
  constexpr uint32_t to_be() const { return bswap_if_le(value); }

  static std::optional<Ipv4Addr> parse(std::string_view s) {
    std::string z(s);
    in_addr a{};
    if (inet_pton(AF_INET, z.c_str(), &a) != 1) return std::nullopt;
    return Ipv4Addr{ntohl(a.s_addr)};
  }
  std::string str() const {
    char buf[INET_ADDRSTRLEN];
    in_addr a{htonl(value)};
    inet_ntop(AF_INET, &a, buf, sizeof buf);
    return buf;
  }
  auto operator<=>(const Ipv4Addr&) const = default;
};

struct Ipv4Prefix {
  Ipv4Addr addr;  // network address (host bits cleared by parse())
  uint8_t len = 32;

  static constexpr uint32_t mask_of(uint8_t len) {
    return len == 0 ? 0u : (len >= 32 ? 0xffffffffu : ~((1u << (32 - len)) - 1));
  }
  constexpr uint32_t mask() const { return mask_of(len); }
  constexpr Ipv4Addr first() const { return Ipv4Addr{addr.value & mask()}; }
  constexpr Ipv4Addr last() const { return Ipv4Addr{(addr.value & mask()) | ~mask()}; }
  constexpr bool contains(Ipv4Addr a) const { return (a.value & mask()) == (addr.value & mask()); }
  constexpr bool contains(const Ipv4Prefix& p) const { return p.len >= len && contains(p.addr); }
  constexpr bool overlaps(const Ipv4Prefix& p) const { return contains(p) || p.contains(*this); }

  // "10.0.0.0/8" or a bare address (treated as /32). Host bits set in the input are rejected
  // when strict, cleared otherwise.
  static std::optional<Ipv4Prefix> parse(std::string_view s, bool strict = false) {
    auto slash = s.find('/');
    auto a = Ipv4Addr::parse(s.substr(0, slash));
    if (!a) return std::nullopt;
    unsigned len = 32;
    if (slash != std::string_view::npos) {
      auto rest = s.substr(slash + 1);
      if (rest.empty() || rest.size() > 2) return std::nullopt;
      len = 0;
      for (char c : rest) {
        if (c < '0' || c > '9') return std::nullopt;
        len = len * 10 + unsigned(c - '0');
      }
      if (len > 32) return std::nullopt;
    }
    Ipv4Prefix p{*a, uint8_t(len)};
    if (strict && (a->value & ~p.mask()) != 0) return std::nullopt;
    p.addr.value &= p.mask();
    return p;
  }
  std::string str() const { return addr.str() + "/" + std::to_string(len); }
  auto operator<=>(const Ipv4Prefix&) const = default;
};

struct Ipv6Addr {
  std::array<uint8_t, 16> bytes{};

  static std::optional<Ipv6Addr> parse(std::string_view s) {
    std::string z(s);
    Ipv6Addr a;
    if (inet_pton(AF_INET6, z.c_str(), a.bytes.data()) != 1) return std::nullopt;
    return a;
  }
  std::string str() const {
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
    return buf;
  }
  auto operator<=>(const Ipv6Addr&) const = default;
};

enum class IpFamily : uint8_t { v4, v6 };
const char* to_string(IpFamily f);  // "IPv4", "IPv6"

// An IPv4 or IPv6 address; bytes in network order, the first 4 used for IPv4. Ordered by family
// (IPv4 first), then numerically.
class IpAddress {
 public:
  IpAddress() = default;         // 0.0.0.0
  IpAddress(Ipv4Addr a);         // NOLINT(google-explicit-constructor): every IPv4 address is one
  IpAddress(const Ipv6Addr& a);  // NOLINT(google-explicit-constructor)
  static IpAddress v4(Ipv4Addr a) { return IpAddress(a); }
  static IpAddress v6(const Ipv6Addr& a) { return IpAddress(a); }
  static IpAddress from_bytes(std::span<const uint8_t> b);  // 4 or 16 bytes
  // Dotted IPv4 or RFC 4291 IPv6 text; the family is the one whose syntax the whole text has.
  static std::optional<IpAddress> parse(std::string_view s);

  IpFamily family() const { return v6_ ? IpFamily::v6 : IpFamily::v4; }
  bool is_v4() const { return !v6_; }
  bool is_v6() const { return v6_; }
  Ipv4Addr as_v4() const;  // meaningful when is_v4()
  Ipv6Addr as_v6() const;  // meaningful when is_v6()
  std::span<const uint8_t> bytes() const { return {b_.data(), v6_ ? 16u : 4u}; }
  unsigned bits() const { return v6_ ? 128 : 32; }
  bool is_unspecified() const;
  std::string str() const;

  auto operator<=>(const IpAddress&) const = default;

 private:
  bool v6_ = false;
  std::array<uint8_t, 16> b_{};
};

// An IP prefix of either family. Host bits beyond `len` are always zero.
struct IpPrefix {
  IpAddress addr;
  uint8_t len = 0;

  static std::optional<IpPrefix> make(const IpAddress& a, unsigned len);   // clears host bits
  static IpPrefix host(const IpAddress& a) { return *make(a, a.bits()); }  // /32 or /128
  static IpPrefix of(const Ipv4Prefix& p) { return {IpAddress(p.addr), p.len}; }
  // "10.25.11.100/32", "2001:db8::/64"; a bare address is a host route. `strict` rejects set
  // host bits instead of clearing them.
  static std::optional<IpPrefix> parse(std::string_view s, bool strict = false);

  IpFamily family() const { return addr.family(); }
  bool is_v4() const { return addr.is_v4(); }
  bool is_v6() const { return addr.is_v6(); }
  Ipv4Prefix as_v4() const { return {addr.as_v4(), len}; }  // meaningful when is_v4()
  bool contains(const IpAddress& a) const;
  std::string str() const;
  auto operator<=>(const IpPrefix&) const = default;
};

struct IpPrefixHash {
  size_t operator()(const IpPrefix& p) const noexcept;
};

}  // namespace netagent

template <>
struct std::hash<netagent::IpPrefix> : netagent::IpPrefixHash {};
