#pragma once
// The agent's metrics: counters, gauges and histograms grouped in labelled families, plus
// collectors that run at scrape time (so that, e.g., per-CPU datapath counters are read from the
// maps when someone asks, not polled). Values are atomics: any thread may update them. Every
// metric name starts with "netagent_"; a bad name or label set is a programming error and throws
// std::invalid_argument at registration, i.e. at start-up, where a test catches it.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace netagent::metrics {

enum class Type { Counter, Gauge, Histogram };
const char* type_name(Type t);  // "counter", "gauge", "histogram"

// Label name/value pairs in the family's declared order.
using Labels = std::vector<std::pair<std::string, std::string>>;
using LabelValues = std::vector<std::string>;

// What one scrape sees: plain values, detached from the live metrics.
struct Sample {
  Labels labels;
  double value = 0;
};
struct HistogramSample {
  Labels labels;
  std::vector<std::pair<double, uint64_t>> buckets;  // (upper bound, cumulative count); no +Inf
  uint64_t count = 0;                                // = the +Inf bucket
  double sum = 0;
};
struct FamilySnapshot {
  std::string name;
  std::string help;
  Type type = Type::Gauge;
  std::vector<Sample> samples;              // counter and gauge families
  std::vector<HistogramSample> histograms;  // histogram families
};

class Counter {
 public:
  // Counters only go up (Prometheus resets are process restarts): negative deltas are ignored.
  void inc(double delta = 1.0);
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

class Gauge {
 public:
  void set(double v) { v_.store(v, std::memory_order_relaxed); }
  void inc(double delta = 1.0) { v_.fetch_add(delta, std::memory_order_relaxed); }
  void dec(double delta = 1.0) { v_.fetch_sub(delta, std::memory_order_relaxed); }
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

class Histogram {
 public:
  // `bounds`: strictly increasing finite upper bounds; +Inf is implicit.
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  HistogramSample snapshot() const;  // labels left empty

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // per bucket, not cumulative; last = +Inf
  std::atomic<double> sum_{0};
};

// Default latency buckets in seconds: 100 µs .. 10 s, fit for control-plane work.
std::vector<double> default_seconds_buckets();

// A metric name with a fixed list of label names; one child per distinct label-value tuple.
// References returned by with() stay valid until remove()/clear() drops that child.
template <typename M>
class Family {
 public:
  using Factory = std::function<std::unique_ptr<M>()>;
  Family(std::string name, std::string help, std::vector<std::string> label_names, Factory factory)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        factory_(std::move(factory)) {}

  // Throws std::invalid_argument when the number of values differs from the label names.
  M& with(const LabelValues& values);
  M& get() { return with({}); }  // for families without labels
  void remove(const LabelValues& values);
  void clear();

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  // Calls fn(values, metric) for every child, in label-value order, under the family's lock.
  void for_each(const std::function<void(const LabelValues&, const M&)>& fn) const;

 private:
  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
  Factory factory_;
  mutable std::mutex mu_;
  std::map<LabelValues, std::unique_ptr<M>> children_;
};

// What a collector fills at scrape time. Samples of one name land in one family.
class Collection {
 public:
  void counter(const std::string& name, const std::string& help, Labels labels, double value);
  void gauge(const std::string& name, const std::string& help, Labels labels, double value);
  void histogram(const std::string& name, const std::string& help, HistogramSample sample);
  // Families sorted by name.
  std::vector<FamilySnapshot> take();

 private:
  FamilySnapshot& family(const std::string& name, const std::string& help, Type type);
  std::map<std::string, FamilySnapshot> families_;
};

class Registry {
 public:
  using Collector = std::function<void(Collection&)>;

  // Registering an existing name again returns the same family when type and label names match,
  // and throws std::invalid_argument otherwise.
  Family<Counter>& counter(const std::string& name, const std::string& help,
                           std::vector<std::string> label_names = {});
  Family<Gauge>& gauge(const std::string& name, const std::string& help,
                       std::vector<std::string> label_names = {});
  Family<Histogram>& histogram(const std::string& name, const std::string& help,
                               std::vector<std::string> label_names = {},
                               std::vector<double> bounds = default_seconds_buckets());

  // Runs at every scrape, on the scraping thread (the agent's control thread). A collector that
  // throws is skipped for that scrape and counted in netagent_metrics_collector_errors_total.
  void add_collector(std::string name, Collector collector);

  // Every family, registered and collected, sorted by name.
  std::vector<FamilySnapshot> collect() const;

 private:
  struct Entry {
    Type type;
    std::vector<std::string> label_names;
    std::unique_ptr<Family<Counter>> counter;
    std::unique_ptr<Family<Gauge>> gauge;
    std::unique_ptr<Family<Histogram>> histogram;
  };
  Entry& entry(const std::string& name, Type type, const std::vector<std::string>& label_names);

  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
  std::vector<std::pair<std::string, Collector>> collectors_;
  mutable std::atomic<uint64_t> collector_errors_{0};
};

// Name rules of the exposition format, plus the project's "netagent_" prefix.
bool valid_metric_name(const std::string& name);
bool valid_label_name(const std::string& name);

// ---- template members ----

template <typename M>
M& Family<M>::with(const LabelValues& values) {
  if (values.size() != label_names_.size()) {
    throw std::invalid_argument("metric " + name_ + ": expected " +
                                std::to_string(label_names_.size()) + " label values, got " +
                                std::to_string(values.size()));
  }
  std::lock_guard lock(mu_);
  auto& slot = children_[values];
  if (!slot) slot = factory_();
  return *slot;
}

template <typename M>
void Family<M>::remove(const LabelValues& values) {
  std::lock_guard lock(mu_);
  children_.erase(values);
}

template <typename M>
void Family<M>::clear() {
  std::lock_guard lock(mu_);
  children_.clear();
}

template <typename M>
void Family<M>::for_each(const std::function<void(const LabelValues&, const M&)>& fn) const {
  std::lock_guard lock(mu_);
  for (const auto& [values, metric] : children_)
    fn(values, *metric);
}

}  // namespace netagent::metrics
