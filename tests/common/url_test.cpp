#include "netagent/common/url.hpp"

#include <gtest/gtest.h>

namespace netagent {
namespace {

TEST(Url, EncodeDecodeRoundTrip) {
  for (std::string s : {"plain", "a b/c?d=e&f", "ümlaut", "100%"}) {
    EXPECT_EQ(url_decode(url_encode(s), false).value(), s);
  }
  EXPECT_FALSE(url_decode("%4", false));
  EXPECT_FALSE(url_decode("%g0", false));
  EXPECT_EQ(url_decode("a+b", false).value(), "a+b");
  EXPECT_EQ(url_decode("a+b", true).value(), "a b");
}

// netctl puts names into API paths: only RFC 3986 unreserved characters stay as they are.
TEST(Url, EncodesEverythingButUnreserved) {
  EXPECT_EQ(url_encode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(url_encode("demo/web 1"), "demo%2Fweb%201");
  EXPECT_EQ(url_encode("a+b=c&d"), "a%2Bb%3Dc%26d");
  EXPECT_EQ(url_encode("\xff"), "%FF");
  EXPECT_EQ(url_decode("%2f%2F", false).value(), "//");
}

}  // namespace
}  // namespace netagent
