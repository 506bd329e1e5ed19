// IpAddress and IpPrefix: the family comes from the text's syntax, never from a ':' lookup.
#include "netagent/common/ip.hpp"

#include <gtest/gtest.h>

#include <unordered_set>

namespace netagent {
namespace {

TEST(IpAddress, ParsesEitherFamilyAndPrintsCanonically) {
  auto a = IpAddress::parse("10.25.11.7");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->is_v4());
  EXPECT_EQ(a->family(), IpFamily::v4);
  EXPECT_EQ(a->as_v4(), *Ipv4Addr::parse("10.25.11.7"));
  EXPECT_EQ(a->str(), "10.25.11.7");
  auto b = IpAddress::parse("fd00:10:0:0::1");
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->is_v6());
  EXPECT_EQ(b->str(), "fd00:10::1");
  auto mapped = IpAddress::parse("::ffff:10.0.0.1");
  ASSERT_TRUE(mapped);
  EXPECT_TRUE(mapped->is_v6());
}

TEST(IpAddress, RejectsWhatIsNeither) {
  for (const char* s : {"", "10.0.0", "10.0.0.256", "10.0.0.1:80", "fd00::1::2", "host", ":",
                        "10.0.0.1/32", " 10.0.0.1"}) {
    EXPECT_FALSE(IpAddress::parse(s)) << s;
  }
}

TEST(IpAddress, OrdersIpv4FirstThenNumerically) {
  auto v = [](const char* s) { return *IpAddress::parse(s); };
  EXPECT_LT(v("10.0.0.2"), v("10.0.0.10"));
  EXPECT_LT(v("255.255.255.255"), v("::"));
  EXPECT_LT(v("fd00::2"), v("fd00::10"));
  EXPECT_EQ(IpAddress(Ipv4Addr{0x0a000001}), v("10.0.0.1"));
}

TEST(IpPrefix, ParsesClearsOrRejectsHostBits) {
  auto p = IpPrefix::parse("10.25.11.7/24");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->str(), "10.25.11.0/24");
  EXPECT_FALSE(IpPrefix::parse("10.25.11.7/24", true));
  EXPECT_EQ(IpPrefix::parse("10.25.11.7")->str(), "10.25.11.7/32");
  EXPECT_EQ(IpPrefix::parse("fd00:244:2::1/64")->str(), "fd00:244:2::/64");
  EXPECT_EQ(IpPrefix::parse("fd00::1")->str(), "fd00::1/128");
  for (const char* s : {"10.0.0.0/33", "fd00::/129", "10.0.0.0/", "10.0.0.0/x", "/8", "x/8"}) {
    EXPECT_FALSE(IpPrefix::parse(s)) << s;
  }
}

TEST(IpPrefix, ContainsOnlyItsOwnFamily) {
  auto p = *IpPrefix::parse("10.0.0.0/8");
  EXPECT_TRUE(p.contains(*IpAddress::parse("10.1.2.3")));
  EXPECT_FALSE(p.contains(*IpAddress::parse("11.0.0.1")));
  EXPECT_FALSE(IpPrefix::parse("::/0")->contains(*IpAddress::parse("10.0.0.1")));
  EXPECT_TRUE(IpPrefix::parse("0.0.0.0/0")->contains(*IpAddress::parse("10.0.0.1")));
  EXPECT_EQ(IpPrefix::host(*IpAddress::parse("fd00::1")).len, 128);
  EXPECT_EQ(IpPrefix::of(*Ipv4Prefix::parse("10.1.0.0/16")).str(), "10.1.0.0/16");
  EXPECT_EQ(p.as_v4(), *Ipv4Prefix::parse("10.0.0.0/8"));
}

TEST(IpPrefix, HashesByValue) {
  std::unordered_set<IpPrefix> s{*IpPrefix::parse("10.0.0.0/8"), *IpPrefix::parse("10.0.0.0/8"),
                                 *IpPrefix::parse("::/0"), *IpPrefix::parse("0.0.0.0/0")};
  EXPECT_EQ(s.size(), 3u);
}

}  // namespace
}  // namespace netagent
