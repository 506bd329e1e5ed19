#include "netagent/lb/conntrack_gc.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>

namespace netagent::lb {
namespace {

constexpr uint64_t kSec = 1000000000ull;

TEST(ConntrackGc, Lifetimes) {
  ConntrackLifetimes lt;
  const uint64_t now = 100000 * kSec;
  auto entry = [&](uint8_t proto, uint8_t dir, uint8_t flags, uint64_t idle_s) {
    ct4_key k{};
    k.proto = proto;
    k.dir = dir;
    ct4_value v{};
    v.flags = flags;
    v.last_seen_ns = now - idle_s * kSec;
    return std::pair{k, v};
  };
  struct Case {
    const char* name;
    std::pair<ct4_key, ct4_value> e;
    bool service;
    GcAction want;
  } cases[] = {
      {"active entries are refreshed", entry(IPPROTO_TCP, CT_DIR_FORWARD, CT_F_ACTIVE, 99999), true,
       GcAction::Refresh},
      {"deleted service", entry(IPPROTO_TCP, CT_DIR_FORWARD, CT_F_ACTIVE, 0), false,
       GcAction::Remove},
      {"unanswered SYN, 30 s", entry(IPPROTO_TCP, CT_DIR_FORWARD, 0, 30), true, GcAction::Keep},
      {"unanswered SYN, 61 s", entry(IPPROTO_TCP, CT_DIR_FORWARD, 0, 61), true, GcAction::Remove},
      {"established, 1 h idle", entry(IPPROTO_TCP, CT_DIR_FORWARD, CT_F_SEEN_REPLY, 3600), true,
       GcAction::Keep},
      {"established, 7 h idle", entry(IPPROTO_TCP, CT_DIR_FORWARD, CT_F_SEEN_REPLY, 7 * 3600), true,
       GcAction::Remove},
      {"reply entry ages as established", entry(IPPROTO_TCP, CT_DIR_REPLY, 0, 3600), true,
       GcAction::Keep},
      {"closing, 11 s", entry(IPPROTO_TCP, CT_DIR_FORWARD, CT_F_CLOSING | CT_F_SEEN_REPLY, 11),
       true, GcAction::Remove},
      {"UDP, 59 s", entry(IPPROTO_UDP, CT_DIR_FORWARD, 0, 59), true, GcAction::Keep},
      {"UDP, 61 s", entry(IPPROTO_UDP, CT_DIR_FORWARD, 0, 61), true, GcAction::Remove},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(conntrack_gc_action(c.e.first, c.e.second, now, c.service, lt), c.want) << c.name;
  }
}

}  // namespace
}  // namespace netagent::lb
