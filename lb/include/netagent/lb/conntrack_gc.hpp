#pragma once
// Conntrack garbage collection for the per-packet LB. The datapath never reads the clock for an
// established flow: it sets CT_F_ACTIVE on use. Each GC pass clears the bit of active entries and
// moves their last_seen forward, and removes entries idle for longer than their lifetime or whose
// service no longer exists. Lifetimes as Cilium's defaults: TCP established 6 h, TCP before the
// first reply (SYN) 60 s, TCP closing (FIN/RST seen) 10 s, UDP and others 60 s.
#include <chrono>
#include <cstdint>
#include <set>

#include "netagent/common/result.hpp"
#include "netagent/lb/lb_datapath.hpp"

namespace netagent::lb {

struct ConntrackLifetimes {
  std::chrono::seconds tcp_established{21600};
  std::chrono::seconds tcp_syn{60};
  std::chrono::seconds tcp_closing{10};
  std::chrono::seconds other{60};
};

enum class GcAction { Keep, Refresh, Remove };

// Pure: what a pass does with one entry at time now_ns (CLOCK_MONOTONIC_COARSE).
GcAction conntrack_gc_action(const ct4_key& key, const ct4_value& value, uint64_t now_ns,
                             bool service_exists, const ConntrackLifetimes& lt);

struct GcStats {
  size_t scanned = 0, refreshed = 0, removed = 0;
  std::chrono::nanoseconds duration{0};
};

// One pass over the conntrack map. `live_services` are the service ids programmed now.
Result<GcStats> conntrack_gc_pass(LbDatapath& dp, const std::set<uint32_t>& live_services,
                                  const ConntrackLifetimes& lt = {});

uint64_t monotonic_coarse_ns();

}  // namespace netagent::lb
