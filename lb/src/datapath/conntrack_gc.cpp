#include "netagent/lb/conntrack_gc.hpp"

#include <netinet/in.h>
#include <time.h>

#include <vector>

namespace netagent::lb {

uint64_t monotonic_coarse_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

GcAction conntrack_gc_action(const ct4_key& key, const ct4_value& v, uint64_t now_ns,
                             bool service_exists, const ConntrackLifetimes& lt) {
  if (!service_exists) return GcAction::Remove;
  if (v.flags & CT_F_ACTIVE) return GcAction::Refresh;
  std::chrono::seconds life = lt.other;
  if (key.proto == IPPROTO_TCP) {
    if (v.flags & CT_F_CLOSING)
      life = lt.tcp_closing;
    else if (key.dir == CT_DIR_FORWARD && !(v.flags & CT_F_SEEN_REPLY))
      life = lt.tcp_syn;
    else
      life = lt.tcp_established;
  }
  uint64_t idle = now_ns > v.last_seen_ns ? now_ns - v.last_seen_ns : 0;
  return idle > uint64_t(std::chrono::nanoseconds(life).count()) ? GcAction::Remove
                                                                 : GcAction::Keep;
}

Result<GcStats> conntrack_gc_pass(LbDatapath& dp, const std::set<uint32_t>& live_services,
                                  const ConntrackLifetimes& lt) {
  auto t0 = std::chrono::steady_clock::now();
  GcStats stats;
  const uint64_t now = monotonic_coarse_ns();
  // The forward entry learns of replies only through its reply entry: collect which flows saw a
  // reply so that an answered TCP flow is not aged as a half-open one.
  auto all = dp.conntrack.entries();
  if (!all) return all.error();
  std::set<std::tuple<uint32_t, uint16_t, uint32_t>> answered;  // (client, client port, svc)
  for (const auto& [k, v] : *all) {
    if (k.dir == CT_DIR_REPLY && (v.flags & CT_F_SEEN_REPLY)) {
      // The client is the reply's destination, or for SNATed flows the address it restores.
      if (v.flags & CT_F_SNAT)
        answered.insert({v.snat_addr, v.snat_port, v.svc_id});
      else
        answered.insert({k.daddr, k.dport, v.svc_id});
    }
  }
  for (auto [k, v] : *all) {
    stats.scanned++;
    if (k.dir == CT_DIR_FORWARD && answered.count({k.saddr, k.sport, v.svc_id})) {
      v.flags |= CT_F_SEEN_REPLY;
    }
    switch (conntrack_gc_action(k, v, now, live_services.count(v.svc_id) > 0, lt)) {
      case GcAction::Keep:
        break;
      case GcAction::Refresh: {
        v.flags &= uint8_t(~CT_F_ACTIVE);
        v.last_seen_ns = now;
        // Only if the entry still exists: never resurrect one the datapath's LRU evicted.
        if (auto st = dp.conntrack.update(k, v, BPF_EXIST); !st && st.error().errnum != ENOENT) {
          return st.error();
        }
        stats.refreshed++;
        break;
      }
      case GcAction::Remove:
        if (auto st = dp.conntrack.remove(k); !st) return st.error();
        stats.removed++;
        break;
    }
  }
  stats.duration = std::chrono::steady_clock::now() - t0;
  return stats;
}

}  // namespace netagent::lb
