#include "netagent/common/ip.hpp"

#include <cstring>

#include "netagent/common/number.hpp"

namespace netagent {

const char* to_string(IpFamily f) {
  return f == IpFamily::v6 ? "IPv6" : "IPv4";
}

IpAddress::IpAddress(Ipv4Addr a) {
  uint32_t be = a.to_be();
  std::memcpy(b_.data(), &be, 4);
}

IpAddress::IpAddress(const Ipv6Addr& a) : v6_(true), b_(a.bytes) {}

IpAddress IpAddress::from_bytes(std::span<const uint8_t> b) {
  IpAddress r;
  r.v6_ = b.size() == 16;
  std::memcpy(r.b_.data(), b.data(), r.v6_ ? 16 : 4);
  return r;
}

std::optional<IpAddress> IpAddress::parse(std::string_view s) {
  // The two syntaxes do not overlap (inet_pton(AF_INET) takes dotted quads only, an IPv6 text
  // has at least one ':'), so trying both is a parse, not a guess.
  if (auto a = Ipv4Addr::parse(s)) return IpAddress(*a);
  if (auto a = Ipv6Addr::parse(s)) return IpAddress(*a);
  return std::nullopt;
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

std::optional<IpPrefix> IpPrefix::make(const IpAddress& a, unsigned len) {
  if (len > a.bits()) return std::nullopt;
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
  IpPrefix p;
  p.addr = IpAddress::from_bytes({b.data(), src.size()});
  p.len = uint8_t(len);
  return p;
}

std::optional<IpPrefix> IpPrefix::parse(std::string_view s, bool strict) {
  auto slash = s.find('/');
  auto a = IpAddress::parse(s.substr(0, slash));
  if (!a) return std::nullopt;
  unsigned len = a->bits();
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

bool IpPrefix::contains(const IpAddress& a) const {
  if (a.family() != addr.family()) return false;
  auto m = make(a, len);
  return m && m->addr == addr;
}

std::string IpPrefix::str() const {
  return addr.str() + "/" + std::to_string(len);
}

size_t IpPrefixHash::operator()(const IpPrefix& p) const noexcept {
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

}  // namespace netagent
