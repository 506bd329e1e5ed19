// The in-memory map backend (datapath/fake_map.hpp) behaves as the kernel's maps do where the
// code that writes maps can tell: full maps, flags, arrays, batches, injected failures, and the
// journal of writes across maps.
#include "netagent/datapath/fake_map.hpp"

#include <gtest/gtest.h>

#include "netagent/datapath/typed_map.hpp"

namespace netagent::datapath {
namespace {

struct Key {
  uint32_t a;
};
struct Value {
  uint64_t v;
};
using Map = TypedMap<Key, Value>;

Map typed(std::shared_ptr<FakeMap> fake) {
  auto m = Map::of(std::move(fake));
  EXPECT_TRUE(m);
  return *m;
}

TEST(FakeMap, AFullHashMapRefusesNewKeysWithE2bigButUpdatesExistingOnes) {
  auto fake = FakeMap::make<Key, Value>("m", 2);
  auto m = typed(fake);
  ASSERT_TRUE(m.update({1}, {10}));
  ASSERT_TRUE(m.update({2}, {20}));
  auto st = m.update({3}, {30});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().errnum, E2BIG);
  EXPECT_EQ(st.error().message, "update map m");
  EXPECT_TRUE(m.update({2}, {21}));
  EXPECT_EQ(m.lookup({2})->value().v, 21u);
  EXPECT_FALSE(m.lookup({3})->has_value());
  // Told to be full, it is full whatever its size.
  ASSERT_TRUE(m.remove({1}));
  fake->set_full(true);
  EXPECT_EQ(m.update({1}, {10}).error().errnum, E2BIG);
  fake->set_full(false);
  EXPECT_TRUE(m.update({1}, {10}));
}

TEST(FakeMap, LpmTriesAreFullWithEnospcArraysHaveEveryIndex) {
  auto lpm = typed(FakeMap::make<Key, Value>("lpm", 1, FakeMap::Kind::LpmTrie));
  ASSERT_TRUE(lpm.update({1}, {1}));
  EXPECT_EQ(lpm.update({2}, {2}).error().errnum, ENOSPC);

  auto arr =
      TypedMap<uint32_t, Value>::of(FakeMap::make<uint32_t, Value>("arr", 4, FakeMap::Kind::Array));
  ASSERT_TRUE(arr);
  EXPECT_EQ(arr->lookup(3)->value().v, 0u);  // present, zero
  EXPECT_FALSE(arr->lookup(4)->has_value());
  ASSERT_TRUE(arr->update(3, {7}));
  EXPECT_EQ(arr->update(4, {7}).error().errnum, E2BIG);
  EXPECT_EQ(arr->remove(3).error().errnum, EINVAL);
  auto all = arr->entries();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ((*all)[3].second.v, 7u);
}

TEST(FakeMap, FlagsAndMissingKeys) {
  auto m = typed(FakeMap::make<Key, Value>("m", 8));
  EXPECT_EQ(m.update({1}, {1}, BPF_EXIST).error().errnum, ENOENT);
  ASSERT_TRUE(m.update({1}, {1}, BPF_NOEXIST));
  EXPECT_EQ(m.update({1}, {1}, BPF_NOEXIST).error().errnum, EEXIST);
  EXPECT_TRUE(m.update({1}, {2}, BPF_EXIST));
  EXPECT_TRUE(m.remove({9}));  // TypedMap: a missing key is not an error
  const Key nine{9};
  EXPECT_EQ(m.backend().remove(&nine), ENOENT);
}

TEST(FakeMap, ABatchThatHitsAFullMapSaysHowManyWentIn) {
  auto m = typed(FakeMap::make<Key, Value>("m", 3));
  ASSERT_TRUE(m.update({100}, {0}));
  size_t written = 99;
  auto st = m.update_batch({{1}, {2}, {3}, {4}}, {{1}, {2}, {3}, {4}}, &written);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().errnum, E2BIG);
  EXPECT_EQ(written, 2u);
  EXPECT_TRUE(m.lookup({2})->has_value());
  EXPECT_FALSE(m.lookup({3})->has_value());
  ASSERT_TRUE(m.update_batch({}, {}, &written));
  EXPECT_EQ(written, 0u);
}

TEST(FakeMap, TheNthWriteFailsAndTheJournalOrdersWritesAcrossMaps) {
  auto journal = std::make_shared<MapJournal>();
  auto a = typed(FakeMap::make<Key, Value>("a", 8, FakeMap::Kind::Hash, journal));
  auto b = typed(FakeMap::make<Key, Value>("b", 8, FakeMap::Kind::Hash, journal));
  std::vector<std::string> seen;
  journal->after_write = [&](const MapOp& op) { seen.push_back(op.map); };
  journal->fail_write(3, EIO);
  ASSERT_TRUE(a.update({1}, {1}));
  ASSERT_TRUE(b.update({1}, {1}));
  auto st = a.remove({1});  // the third write
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().errnum, EIO);
  EXPECT_TRUE(a.lookup({1})->has_value()) << "a failed write changes nothing";
  ASSERT_TRUE(a.remove({1}));
  ASSERT_EQ(journal->ops().size(), 4u);
  EXPECT_EQ(journal->ops()[2].kind, MapOp::Kind::Delete);
  EXPECT_EQ(journal->ops()[2].error, EIO);
  EXPECT_EQ(journal->done().size(), 3u);
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b", "a"}));
  // Per map: the second write to b fails.
  auto fb = FakeMap::make<Key, Value>("c", 8);
  auto c = typed(fb);
  fb->fail_write(2, ENOMEM);
  ASSERT_TRUE(c.update({1}, {1}));
  EXPECT_EQ(c.update({2}, {2}).error().errnum, ENOMEM);
  EXPECT_TRUE(c.update({2}, {2}));
}

TEST(FakeMap, TypedMapChecksTheSizes) {
  auto m = TypedMap<Key, Key>::of(FakeMap::make<Key, Value>("m", 1));
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("does not match the C++ ABI 4/4"), std::string::npos)
      << m.error().message;
}

}  // namespace
}  // namespace netagent::datapath
