#pragma once
// BGP community values as the Cilium CRDs spell them: standard communities (RFC 1997) as a
// 32-bit decimal or "<0-65535>:<0-65535>", well-known communities by name, and large communities
// (RFC 8092) as "<u32>:<u32>:<u32>".
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace netagent::bgp::control {

struct LargeCommunity {
  uint32_t global_admin = 0;
  uint32_t local1 = 0;
  uint32_t local2 = 0;
  auto operator<=>(const LargeCommunity&) const = default;
  std::string str() const;  // "64512:1:2"
};

// "64512:100" or "4226809956"; nullopt when malformed or out of range.
std::optional<uint32_t> parse_standard_community(std::string_view s);
// The names of CiliumBGPAdvertisement/BGPCommunities.wellKnown: "no-export" -> 0xFFFFFF01, ...
std::optional<uint32_t> well_known_community(std::string_view name);
std::optional<LargeCommunity> parse_large_community(std::string_view s);
// "65535:65281"
std::string community_str(uint32_t c);

}  // namespace netagent::bgp::control
