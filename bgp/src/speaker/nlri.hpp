#pragma once
// NLRI prefix encoding (RFC 4271 §4.3, RFC 4760 §5): a length in bits, then just enough octets
// to hold it (internal to the codec).
#include <span>
#include <vector>

#include "netagent/bgp/types.hpp"
#include "wire.hpp"

namespace netagent::bgp::wire {

inline size_t prefix_wire_size(const Prefix& p) {
  return 1 + (p.len + 7u) / 8u;
}

inline void put_prefix(std::vector<uint8_t>& o, const Prefix& p) {
  o.push_back(p.len);
  auto b = p.addr.bytes();
  o.insert(o.end(), b.begin(), b.begin() + (p.len + 7) / 8);
}

// Parses a run of prefixes of family `afi` filling `bytes` exactly. Returns false when a length
// exceeds the family's width or a prefix runs past the end. Host bits are cleared (RFC 4271
// §4.3: trailing bits are irrelevant).
inline bool parse_prefixes(std::span<const uint8_t> bytes, uint16_t afi, std::vector<Prefix>& out) {
  const unsigned max = afi == kAfiIpv6 ? 128 : 32;
  const size_t width = max / 8;
  size_t i = 0;
  while (i < bytes.size()) {
    unsigned len = bytes[i++];
    if (len > max) return false;
    size_t n = (len + 7) / 8;
    if (n > bytes.size() - i) return false;
    uint8_t buf[16] = {};
    for (size_t k = 0; k < n; ++k)
      buf[k] = bytes[i + k];
    if (len % 8 != 0) buf[n - 1] &= uint8_t(0xff << (8 - len % 8));
    i += n;
    Prefix p;
    p.addr = IpAddress::from_bytes({buf, width});
    p.len = uint8_t(len);
    out.push_back(p);
  }
  return true;
}

}  // namespace netagent::bgp::wire
