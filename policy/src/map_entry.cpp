#include "netagent/policy/map_entry.hpp"

#include <netinet/in.h>

#include <algorithm>

namespace netagent::policy {

std::string MapEntry::str() const {
  std::string out = std::string(to_string(direction)) + " peer=";
  out += peer ? std::to_string(peer) : "any";
  if (!proto) {
    out += " any";
  } else {
    std::string p = proto == IPPROTO_TCP    ? "TCP"
                    : proto == IPPROTO_UDP  ? "UDP"
                    : proto == IPPROTO_SCTP ? "SCTP"
                                            : std::to_string(proto);
    if (port_bits == 0) {
      out += " */" + p;
    } else if (port_bits == 16) {
      out += " " + std::to_string(port) + "/" + p;
    } else {
      uint32_t last = uint32_t(port) + (1u << (16 - port_bits)) - 1;
      out += " " + std::to_string(port) + "-" + std::to_string(last) + "/" + p;
    }
  }
  out += std::string(" ") + to_string(action);
  return out;
}

std::vector<std::pair<uint16_t, uint8_t>> port_range_blocks(uint16_t lo, uint16_t hi) {
  std::vector<std::pair<uint16_t, uint8_t>> out;
  uint32_t cur = lo;
  while (cur <= hi) {
    // The largest aligned block starting at cur that ends at or before hi.
    uint8_t bits = 16;
    while (bits > 0) {
      uint32_t size = 1u << (16 - (bits - 1));
      if ((cur & (size - 1)) != 0 || cur + size - 1 > hi) break;
      --bits;
    }
    out.emplace_back(uint16_t(cur), bits);
    cur += 1u << (16 - bits);
  }
  return out;
}

void normalize_entries(std::vector<MapEntry>& entries) {
  // Same key: deny first, then the earlier entry (stable); keep the first.
  std::stable_sort(entries.begin(), entries.end(), [](const MapEntry& a, const MapEntry& b) {
    uint64_t ka = a.sort_key(), kb = b.sort_key();
    if (ka != kb) return ka < kb;
    return a.action == Action::Deny && b.action != Action::Deny;
  });
  entries.erase(std::unique(entries.begin(), entries.end(),
                            [](const MapEntry& a, const MapEntry& b) { return a.same_key(b); }),
                entries.end());
  // Deny covers allow: within each (peer, direction) group, an allow under a deny becomes that
  // deny. Entries are sorted by prefix length within the group, so covering denies come first.
  size_t i = 0;
  while (i < entries.size()) {
    size_t j = i;
    while (j < entries.size() && entries[j].peer == entries[i].peer &&
           entries[j].direction == entries[i].direction) {
      ++j;
    }
    std::vector<const MapEntry*> denies;
    for (size_t k = i; k < j; ++k) {
      if (entries[k].action == Action::Deny) denies.push_back(&entries[k]);
    }
    if (!denies.empty()) {
      for (size_t k = i; k < j; ++k) {
        auto& e = entries[k];
        if (e.action != Action::Allow) continue;
        for (const auto* d : denies) {
          if (d->covers(e)) {
            e.action = Action::Deny;
            e.rule = d->rule;
            e.l3_deny = d->proto == 0;
            break;
          }
        }
      }
    }
    i = j;
  }
}

const MapEntry* longest_match(const std::vector<MapEntry>& entries, Identity peer, Direction dir,
                              uint8_t proto, uint16_t port) {
  auto lo = std::lower_bound(entries.begin(), entries.end(), std::make_pair(peer, dir),
                             [](const MapEntry& e, const std::pair<Identity, Direction>& k) {
                               return std::make_pair(e.peer, uint8_t(e.direction)) <
                                      std::make_pair(k.first, uint8_t(k.second));
                             });
  const MapEntry* best = nullptr;
  for (auto it = lo; it != entries.end() && it->peer == peer && it->direction == dir; ++it) {
    if (it->matches(proto, port) && (!best || it->prefixlen() > best->prefixlen())) best = &*it;
  }
  return best;
}

}  // namespace netagent::policy
