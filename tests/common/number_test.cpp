#include "netagent/common/number.hpp"

#include <gtest/gtest.h>

#include <cstdint>

namespace netagent {
namespace {

TEST(ParseInteger, TakesTheWholeStringAsDecimal) {
  EXPECT_EQ(parse_integer<uint32_t>("0"), 0u);
  EXPECT_EQ(parse_integer<uint32_t>("4294967295"), 4294967295u);
  EXPECT_EQ(parse_integer<uint16_t>("65535"), 65535);
  EXPECT_EQ(parse_integer<int64_t>("-42"), -42);
  EXPECT_EQ(parse_integer<uint32_t>("007"), 7u);
}

TEST(ParseInteger, RejectsAnythingElse) {
  for (const char* s : {"", " 1", "1 ", "+1", "1x", "0x10", "1.0", "-"}) {
    EXPECT_FALSE(parse_integer<uint32_t>(s)) << '"' << s << '"';
    EXPECT_FALSE(parse_integer<int64_t>(s)) << '"' << s << '"';
  }
  EXPECT_FALSE(parse_integer<uint32_t>("-1"));  // no sign for an unsigned type
  EXPECT_FALSE(parse_integer<uint32_t>("4294967296"));
  EXPECT_FALSE(parse_integer<uint16_t>("65536"));
  EXPECT_FALSE(parse_integer<int64_t>("9223372036854775808"));
}

}  // namespace
}  // namespace netagent
