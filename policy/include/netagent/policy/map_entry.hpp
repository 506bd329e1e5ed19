#pragma once
// A policy map entry as the compiler produces it and the datapath stores it: (peer identity,
// direction, protocol, port prefix) -> allow/deny and the rule that produced it. The port is a
// prefix so that ranges fit an LPM trie (bpf/include/netagent/policy.h).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "netagent/policy/identity.hpp"
#include "netagent/policy/rule.hpp"

namespace netagent::policy {

struct MapEntry {
  Identity peer = 0;  // 0 = any peer
  Direction direction = Direction::Ingress;
  uint8_t proto = 0;      // 0 = any protocol and any port
  uint16_t port = 0;      // first port of the block (host order); 0 with port_bits 0
  uint8_t port_bits = 0;  // leading bits of the port that must match: 0 any, 16 one port
  Action action = Action::Allow;
  uint32_t rule = 0;  // cookie of the producing rule (CompiledPolicy::rules)
  // An allow entry that an any-protocol deny covers becomes that deny; it then reports the
  // deny's L3 match, not its own port.
  bool l3_deny = false;

  // Bits of struct policy_key after prefixlen that must match.
  uint32_t prefixlen() const {
    return proto ? POLICY_KEY_PROTO_BITS + port_bits : POLICY_KEY_FIXED_BITS;
  }
  uint16_t port_mask() const { return port_bits ? uint16_t(0xffffu << (16 - port_bits)) : 0; }
  bool l4() const { return proto != 0; }
  // What a match on this entry is reported as: L3-L4 / L4-only when true.
  bool reports_l4() const { return proto != 0 && !l3_deny; }
  // Whether a packet of (proto, port) falls in this entry's key space (peer/direction aside).
  bool matches(uint8_t p, uint16_t dport) const {
    return proto == 0 || (proto == p && (dport & port_mask()) == port);
  }
  // Whether every packet o matches also matches this entry (same peer and direction).
  bool covers(const MapEntry& o) const {
    return peer == o.peer && direction == o.direction && prefixlen() <= o.prefixlen() &&
           (proto == 0 || (proto == o.proto && (o.port & port_mask()) == port));
  }
  // "ingress peer=1234 80/TCP allow", "egress any any deny", "ingress peer=2 8000-8063/UDP ..."
  std::string str() const;
  // The key packed for sorting: (peer, direction, protocol, prefix bits, port).
  uint64_t sort_key() const {
    return uint64_t(peer) << 32 | uint64_t(uint8_t(direction)) << 31 | uint64_t(proto) << 21 |
           uint64_t(port_bits) << 16 | port;
  }
  bool same_key(const MapEntry& o) const {
    return peer == o.peer && direction == o.direction && proto == o.proto && port == o.port &&
           port_bits == o.port_bits;
  }
};

// Splits the inclusive port range [lo, hi] into the fewest prefix-aligned blocks, as a range of
// addresses splits into CIDRs: (first port, prefix bits).
std::vector<std::pair<uint16_t, uint8_t>> port_range_blocks(uint16_t lo, uint16_t hi);

// Sorts entries, merges entries with the same key (deny beats allow; among equals the earlier
// in `entries` keeps its rule: pass them in rule precedence order) and turns every allow entry
// that a deny entry of the same peer covers into a deny: after this, the longest matching entry
// of a peer is its verdict, which is what the kernel's LPM lookup returns.
void normalize_entries(std::vector<MapEntry>& entries);

// The longest entry for (peer, direction) matching (proto, port): the LPM lookup.
const MapEntry* longest_match(const std::vector<MapEntry>& sorted_entries, Identity peer,
                              Direction dir, uint8_t proto, uint16_t port);

}  // namespace netagent::policy
