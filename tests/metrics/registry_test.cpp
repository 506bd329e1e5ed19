#include "netagent/metrics/registry.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace netagent::metrics {
namespace {

TEST(Registry, CounterFamilyKeepsOneChildPerLabelTuple) {
  Registry r;
  auto& f = r.counter("netagent_x_total", "X.", {"reconciler"});
  f.with({"lb"}).inc();
  f.with({"lb"}).inc(2);
  f.with({"policy"}).inc();
  EXPECT_EQ(f.with({"lb"}).value(), 3);
  EXPECT_EQ(f.with({"policy"}).value(), 1);
  // Registering again with the same shape returns the same family.
  EXPECT_EQ(&r.counter("netagent_x_total", "X.", {"reconciler"}), &f);
}

TEST(Registry, CounterIgnoresNegativeDeltas) {
  Registry r;
  auto& c = r.counter("netagent_y_total", "Y.").get();
  c.inc(5);
  c.inc(-3);
  EXPECT_EQ(c.value(), 5);
}

TEST(Registry, GaugeSetIncDec) {
  Registry r;
  auto& g = r.gauge("netagent_g", "G.").get();
  g.set(10);
  g.inc(2.5);
  g.dec();
  EXPECT_DOUBLE_EQ(g.value(), 11.5);
}

TEST(Registry, RejectsBadNamesAndShapes) {
  Registry r;
  EXPECT_THROW(r.counter("x_total", "no prefix"), std::invalid_argument);
  EXPECT_THROW(r.counter("netagent_bad-name", "dash"), std::invalid_argument);
  EXPECT_THROW(r.counter("netagent_a_total", "bad label", {"__reserved"}), std::invalid_argument);
  EXPECT_THROW(r.counter("netagent_a_total", "bad label", {"1abc"}), std::invalid_argument);
  EXPECT_THROW(r.histogram("netagent_h", "le is reserved", {"le"}), std::invalid_argument);
  EXPECT_THROW(r.histogram("netagent_h2", "bad bounds", {}, {1, 1}), std::invalid_argument);
  r.counter("netagent_c_total", "C.", {"a"});
  EXPECT_THROW(r.gauge("netagent_c_total", "other type", {"a"}), std::invalid_argument);
  EXPECT_THROW(r.counter("netagent_c_total", "other labels", {"b"}), std::invalid_argument);
  EXPECT_THROW(r.counter("netagent_c_total", "C.", {"a"}).with({"1", "2"}), std::invalid_argument);
}

TEST(Histogram, BucketsAreInclusiveAndCumulative) {
  Histogram h({1, 2, 5});
  for (double v : {0.5, 1.0, 1.5, 2.0, 4.0, 9.0})
    h.observe(v);
  auto s = h.snapshot();
  ASSERT_EQ(s.buckets.size(), 3u);
  EXPECT_EQ(s.buckets[0], (std::pair<double, uint64_t>{1, 2}));  // 0.5, 1.0 (le is <=)
  EXPECT_EQ(s.buckets[1], (std::pair<double, uint64_t>{2, 4}));  // + 1.5, 2.0
  EXPECT_EQ(s.buckets[2], (std::pair<double, uint64_t>{5, 5}));  // + 4.0
  EXPECT_EQ(s.count, 6u);                                        // + 9.0 in +Inf
  EXPECT_DOUBLE_EQ(s.sum, 18.0);
}

TEST(Registry, ConcurrentUpdatesAreNotLost) {
  Registry r;
  auto& fam = r.counter("netagent_conc_total", "C.", {"t"});
  auto& h = r.histogram("netagent_conc_seconds", "H.").get();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        fam.with({"shared"}).inc();
        fam.with({std::to_string(t)}).inc();
        h.observe(0.001);
      }
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(fam.with({"shared"}).value(), 40000);
  EXPECT_EQ(fam.with({"2"}).value(), 10000);
  EXPECT_EQ(h.snapshot().count, 40000u);
}

TEST(Registry, CollectorsRunAtScrapeTime) {
  Registry r;
  int calls = 0;
  r.add_collector("percpu", [&](Collection& c) {
    ++calls;
    c.counter("netagent_drops_total", "Drops.", {{"reason", "no_backend"}}, 7 * calls);
  });
  EXPECT_EQ(calls, 0);
  auto first = r.collect();
  auto second = r.collect();
  EXPECT_EQ(calls, 2);
  auto find = [](const std::vector<FamilySnapshot>& fs, const std::string& n) {
    for (const auto& f : fs) {
      if (f.name == n) return f;
    }
    return FamilySnapshot{};
  };
  ASSERT_EQ(find(second, "netagent_drops_total").samples.size(), 1u);
  EXPECT_EQ(find(second, "netagent_drops_total").samples[0].value, 14);
  EXPECT_EQ(find(second, "netagent_drops_total").type, Type::Counter);
}

TEST(Registry, FailingCollectorIsSkippedAndCounted) {
  Registry r;
  r.add_collector("broken", [](Collection&) { throw std::runtime_error("map gone"); });
  r.add_collector("bad-name", [](Collection& c) { c.gauge("nope", "no prefix", {}, 1); });
  r.add_collector("ok", [](Collection& c) { c.gauge("netagent_ok", "Ok.", {}, 1); });
  auto fs = r.collect();
  double errors = -1;
  bool ok_seen = false;
  for (const auto& f : fs) {
    if (f.name == "netagent_metrics_collector_errors_total") errors = f.samples.at(0).value;
    if (f.name == "netagent_ok") ok_seen = true;
  }
  EXPECT_EQ(errors, 2);
  EXPECT_TRUE(ok_seen);
}

TEST(Registry, CollectedSamplesMergeIntoARegisteredFamily) {
  Registry r;
  r.gauge("netagent_maps", "Maps.", {"map"}).with({"live"}).set(1);
  r.add_collector("more", [](Collection& c) {
    c.gauge("netagent_maps", "Maps.", {{"map", "x"}}, 2);
  });
  for (const auto& f : r.collect()) {
    if (f.name == "netagent_maps") {
      EXPECT_EQ(f.samples.size(), 2u);
      return;
    }
  }
  FAIL() << "family missing";
}

}  // namespace
}  // namespace netagent::metrics
