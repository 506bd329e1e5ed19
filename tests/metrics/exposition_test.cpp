#include "netagent/metrics/exposition.hpp"

#include <gtest/gtest.h>

namespace netagent::metrics {
namespace {

TEST(Exposition, ExactTextForAKnownRegistry) {
  Registry r;
  auto& req = r.counter("netagent_test_requests_total", "Requests.", {"code"});
  req.with({"500"}).inc();
  req.with({"200"}).inc(3);
  r.gauge("netagent_test_temperature", "Temp with \\ and\nnewline.").get().set(-1.5);
  auto& lat = r.histogram("netagent_test_latency_seconds", "Latency.", {"op"}, {0.1, 1});
  auto& h = lat.with({"a\"b\\c\nd"});
  h.observe(0.0625);
  h.observe(0.5);
  h.observe(4);
  r.add_collector("cpu", [](Collection& c) {
    c.gauge("netagent_test_collected", "Collected.", {{"cpu", "0"}}, 7);
    c.gauge("netagent_test_collected", "Collected.", {{"cpu", "1"}}, 8);
  });

  const std::string expected =
      "# HELP netagent_metrics_collector_errors_total Scrape-time collectors that failed (their "
      "metrics were left out).\n"
      "# TYPE netagent_metrics_collector_errors_total counter\n"
      "netagent_metrics_collector_errors_total 0\n"
      "# HELP netagent_test_collected Collected.\n"
      "# TYPE netagent_test_collected gauge\n"
      "netagent_test_collected{cpu=\"0\"} 7\n"
      "netagent_test_collected{cpu=\"1\"} 8\n"
      "# HELP netagent_test_latency_seconds Latency.\n"
      "# TYPE netagent_test_latency_seconds histogram\n"
      "netagent_test_latency_seconds_bucket{op=\"a\\\"b\\\\c\\nd\",le=\"0.1\"} 1\n"
      "netagent_test_latency_seconds_bucket{op=\"a\\\"b\\\\c\\nd\",le=\"1\"} 2\n"
      "netagent_test_latency_seconds_bucket{op=\"a\\\"b\\\\c\\nd\",le=\"+Inf\"} 3\n"
      "netagent_test_latency_seconds_sum{op=\"a\\\"b\\\\c\\nd\"} 4.5625\n"
      "netagent_test_latency_seconds_count{op=\"a\\\"b\\\\c\\nd\"} 3\n"
      "# HELP netagent_test_requests_total Requests.\n"
      "# TYPE netagent_test_requests_total counter\n"
      "netagent_test_requests_total{code=\"200\"} 3\n"
      "netagent_test_requests_total{code=\"500\"} 1\n"
      "# HELP netagent_test_temperature Temp with \\\\ and\\nnewline.\n"
      "# TYPE netagent_test_temperature gauge\n"
      "netagent_test_temperature -1.5\n";
  EXPECT_EQ(to_text(r.collect()), expected);
}

TEST(Exposition, FamilyWithoutSamplesHasOnlyHelpAndType) {
  Registry r;
  r.counter("netagent_empty_total", "Nothing yet.", {"x"});
  std::string text = to_text(r.collect());
  EXPECT_NE(text.find("# HELP netagent_empty_total Nothing yet.\n"
                      "# TYPE netagent_empty_total counter\n# HELP"),
            std::string::npos)
      << text;
}

TEST(Exposition, ValueFormatting) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(42), "42");
  EXPECT_EQ(format_value(-7), "-7");
  EXPECT_EQ(format_value(1e15), "1000000000000000");
  EXPECT_EQ(format_value(0.1), "0.1");
  EXPECT_EQ(format_value(1795432655.7454343), "1795432655.7454343");
  EXPECT_EQ(format_value(1e-05), "1e-05");
  EXPECT_EQ(format_value(1e300), "1e+300");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
}

TEST(Exposition, JsonCarriesTheSameSamples) {
  Registry r;
  r.counter("netagent_j_total", "J.", {"k"}).with({"v"}).inc(2);
  r.gauge("netagent_inf", "Inf.").get().set(std::numeric_limits<double>::infinity());
  r.histogram("netagent_h_seconds", "H.", {}, {1}).get().observe(0.5);
  auto j = to_json(r.collect());
  ASSERT_TRUE(j.is_array());
  auto find = [&](const std::string& n) {
    for (const auto& f : j) {
      if (f["name"] == n) return f;
    }
    return nlohmann::json();
  };
  EXPECT_EQ(find("netagent_j_total")["type"], "counter");
  EXPECT_EQ(find("netagent_j_total")["samples"][0]["labels"]["k"], "v");
  EXPECT_EQ(find("netagent_j_total")["samples"][0]["value"], 2.0);
  EXPECT_EQ(find("netagent_inf")["samples"][0]["value"], "+Inf");
  auto h = find("netagent_h_seconds")["samples"][0];
  EXPECT_EQ(h["count"], 1);
  EXPECT_EQ(h["sum"], 0.5);
  EXPECT_EQ(h["buckets"][0]["le"], 1.0);
  EXPECT_EQ(h["buckets"][1]["le"], "+Inf");
  EXPECT_EQ(h["buckets"][1]["count"], 1);
}

}  // namespace
}  // namespace netagent::metrics
