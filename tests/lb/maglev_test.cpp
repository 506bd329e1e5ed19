#include "netagent/lb/maglev.hpp"

#include <gtest/gtest.h>

#include <map>

namespace netagent::lb {
namespace {

std::vector<MaglevBackend> backends(int n, int first_id = 1) {
  std::vector<MaglevBackend> v;
  for (int i = 0; i < n; ++i) {
    v.push_back(
        {"10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1) + ":8080/TCP",
         uint32_t(first_id + i)});
  }
  return v;
}

MaglevSeed seed() {
  return *MaglevSeed::parse(kMaglevDefaultSeed);
}

std::map<uint32_t, int> counts(const std::vector<uint32_t>& t) {
  std::map<uint32_t, int> c;
  for (auto id : t)
    c[id]++;
  return c;
}

// Every node, whatever its agent version, must build the same table from the same backends and
// seed: this pins the output of the algorithm (any faster implementation must keep it).
TEST(Maglev, TableContentIsStableAcrossVersions) {
  std::vector<MaglevBackend> bs = {{"10.1.0.1:8080/TCP", 1},
                                   {"10.1.0.2:8080/TCP", 2},
                                   {"10.1.0.3:8080/TCP", 3},
                                   {"10.1.0.4:8080/TCP", 4}};
  auto t = build_maglev_table(bs, 251, seed());
  ASSERT_EQ(t.size(), 251u);
  const std::vector<uint32_t> first = {3, 3, 2, 3, 3, 4, 3, 2, 4, 3, 3, 1,
                                       2, 3, 3, 3, 3, 2, 3, 3, 1, 3, 1, 3};
  EXPECT_EQ(std::vector<uint32_t>(t.begin(), t.begin() + 24), first);
  uint64_t h = 0xcbf29ce484222325ull;
  for (auto x : t) {
    h ^= x;
    h *= 0x100000001b3ull;
  }
  EXPECT_EQ(h, 0xe29d4b2d583e6af3ull);
}

TEST(Maglev, AllowedTableSizesAreCiliums) {
  EXPECT_TRUE(maglev_table_size_allowed(16381));
  EXPECT_TRUE(maglev_table_size_allowed(251));
  EXPECT_TRUE(maglev_table_size_allowed(131071));
  EXPECT_FALSE(maglev_table_size_allowed(16383));
  EXPECT_FALSE(maglev_table_size_allowed(0));
}

TEST(Maglev, SeedParsing) {
  EXPECT_TRUE(MaglevSeed::parse("JLfvgnHc2kaSUFaI"));
  EXPECT_FALSE(MaglevSeed::parse("short"));
  EXPECT_FALSE(MaglevSeed::parse("JLfvgnHc2kaSUFaIJLfv"));
}

TEST(Maglev, BalancedWithinOneEntry) {
  for (uint32_t m : {251u, 16381u, 65521u}) {
    for (int n : {1, 2, 3, 7, 10, 100}) {
      auto t = build_maglev_table(backends(n), m, seed());
      ASSERT_EQ(t.size(), m);
      auto c = counts(t);
      ASSERT_EQ(int(c.size()), n) << "m=" << m << " n=" << n;
      int lo = INT32_MAX, hi = 0;
      for (auto [id, k] : c) {
        lo = std::min(lo, k);
        hi = std::max(hi, k);
      }
      EXPECT_LE(hi - lo, 1) << "m=" << m << " n=" << n;
    }
  }
}

TEST(Maglev, SameBackendsAndSeedGiveTheSameTableWhateverTheOrderOrIds) {
  auto a = backends(50);
  auto b = a;
  std::reverse(b.begin(), b.end());
  EXPECT_EQ(build_maglev_table(a, 16381, seed()), build_maglev_table(b, 16381, seed()));
  // Another node numbers its backends differently: the table maps to the same names.
  auto c = backends(50, 1000);
  auto ta = build_maglev_table(a, 16381, seed());
  auto tc = build_maglev_table(c, 16381, seed());
  for (size_t i = 0; i < ta.size(); ++i)
    ASSERT_EQ(ta[i] + 999, tc[i]);
  // A different seed gives a different table.
  auto other = *MaglevSeed::parse("AAAAAAAAAAAAAAAA");
  EXPECT_NE(build_maglev_table(a, 16381, seed()), build_maglev_table(a, 16381, other));
}

// Removing one backend must move all of its entries and only few others; adding one takes about
// M/N entries, again moving few others.
TEST(Maglev, DisruptionIsSmall) {
  const uint32_t m = 16381;
  auto all = backends(100);
  auto before = build_maglev_table(all, m, seed());
  auto fewer = all;
  uint32_t removed = fewer[37].id;
  fewer.erase(fewer.begin() + 37);
  auto after = build_maglev_table(fewer, m, seed());
  size_t must = 0, extra = 0;
  for (size_t i = 0; i < m; ++i) {
    if (before[i] == removed)
      must++;
    else if (before[i] != after[i])
      extra++;
  }
  EXPECT_GT(must, 0u);
  // Entries that did not belong to the removed backend but moved anyway: under 2% of the table.
  EXPECT_LT(extra, m / 50) << "extra moves " << extra << " of " << m;
  auto more = all;
  more.push_back({"10.9.9.9:8080/TCP", 999});
  auto grown = build_maglev_table(more, m, seed());
  size_t gained = 0, shuffled = 0;
  for (size_t i = 0; i < m; ++i) {
    if (grown[i] == 999)
      gained++;
    else if (grown[i] != before[i])
      shuffled++;
  }
  EXPECT_NEAR(double(gained), double(m) / 101, 1.0);
  EXPECT_LT(shuffled, m / 50) << "extra moves " << shuffled;
}

TEST(Maglev, EmptyBackendsGiveEmptyTable) {
  EXPECT_TRUE(build_maglev_table({}, 251, seed()).empty());
}

}  // namespace
}  // namespace netagent::lb
