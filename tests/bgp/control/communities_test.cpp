#include "netagent/bgp/control/communities.hpp"

#include <gtest/gtest.h>

namespace netagent::bgp::control {
namespace {

TEST(Communities, Standard) {
  struct Case {
    std::string in;
    std::optional<uint32_t> want;
  } cases[] = {
      {"64512:100", 0xfc000064},
      {"0:0", 0},
      {"65535:65281", 0xffffff01},
      {"4294967295", 0xffffffff},
      {"100", 100},
      {"65536:1", std::nullopt},
      {"1:65536", std::nullopt},
      {"4294967296", std::nullopt},
      {"", std::nullopt},
      {"a:b", std::nullopt},
      {"1:2:3", std::nullopt},
      {"01:2", std::nullopt},
  };
  for (const auto& c : cases)
    EXPECT_EQ(parse_standard_community(c.in), c.want) << c.in;
  EXPECT_EQ(community_str(0xfc000064), "64512:100");
}

TEST(Communities, WellKnownNames) {
  EXPECT_EQ(well_known_community("no-export"), 0xffffff01u);
  EXPECT_EQ(well_known_community("no-advertise"), 0xffffff02u);
  EXPECT_EQ(well_known_community("blackhole"), 0xffff029au);
  EXPECT_EQ(well_known_community("llgr-stale"), 0xffff0006u);
  EXPECT_EQ(well_known_community("internet"), 0u);
  EXPECT_EQ(well_known_community("No-Export"), std::nullopt);
}

TEST(Communities, Large) {
  auto c = parse_large_community("64512:100:50");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->global_admin, 64512u);
  EXPECT_EQ(c->local1, 100u);
  EXPECT_EQ(c->local2, 50u);
  EXPECT_EQ(c->str(), "64512:100:50");
  EXPECT_TRUE(parse_large_community("4294967295:4294967295:4294967295"));
  EXPECT_FALSE(parse_large_community("4294967296:1:1"));
  EXPECT_FALSE(parse_large_community("1:2"));
  EXPECT_FALSE(parse_large_community("1:2:x"));
}

}  // namespace
}  // namespace netagent::bgp::control
