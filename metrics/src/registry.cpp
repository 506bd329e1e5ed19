#include "netagent/metrics/registry.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace netagent::metrics {

const char* type_name(Type t) {
  switch (t) {
    case Type::Counter:
      return "counter";
    case Type::Gauge:
      return "gauge";
    case Type::Histogram:
      return "histogram";
  }
  return "untyped";
}

bool valid_metric_name(const std::string& name) {
  // [a-zA-Z_:][a-zA-Z0-9_:]* (exposition format), and ours all start with netagent_.
  if (name.rfind("netagent_", 0) != 0) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == ':';
  });
}

bool valid_label_name(const std::string& name) {
  // [a-zA-Z_][a-zA-Z0-9_]*; names starting with "__" are reserved for Prometheus itself.
  if (name.empty() || name.rfind("__", 0) == 0) return false;
  if (name[0] >= '0' && name[0] <= '9') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

void Counter::inc(double delta) {
  if (!(delta > 0)) return;
  v_.fetch_add(delta, std::memory_order_relaxed);
}

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i]) || (i > 0 && bounds_[i] <= bounds_[i - 1])) {
      throw std::invalid_argument("histogram bounds must be finite and strictly increasing");
    }
  }
  counts_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i)
    counts_[i].store(0);
}

void Histogram::observe(double v) {
  // Bucket i counts observations <= bounds_[i] (the "le" label is inclusive).
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

HistogramSample Histogram::snapshot() const {
  HistogramSample s;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    s.buckets.emplace_back(bounds_[i], cumulative);
  }
  // The count is the +Inf bucket, so the exposition is always self-consistent even while
  // other threads observe.
  s.count = cumulative + counts_[bounds_.size()].load(std::memory_order_relaxed);
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> default_seconds_buckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

// ---- Collection ----

FamilySnapshot& Collection::family(const std::string& name, const std::string& help, Type type) {
  if (!valid_metric_name(name)) {
    throw std::invalid_argument("invalid metric name '" + name + "' (must start with netagent_)");
  }
  auto [it, inserted] = families_.try_emplace(name);
  if (inserted) {
    it->second.name = name;
    it->second.help = help;
    it->second.type = type;
  } else if (it->second.type != type) {
    throw std::invalid_argument("metric " + name + " collected as both " +
                                type_name(it->second.type) + " and " + type_name(type));
  }
  return it->second;
}

void Collection::counter(const std::string& name, const std::string& help, Labels labels,
                         double value) {
  family(name, help, Type::Counter).samples.push_back(Sample{std::move(labels), value});
}

void Collection::gauge(const std::string& name, const std::string& help, Labels labels,
                       double value) {
  family(name, help, Type::Gauge).samples.push_back(Sample{std::move(labels), value});
}

void Collection::histogram(const std::string& name, const std::string& help,
                           HistogramSample sample) {
  family(name, help, Type::Histogram).histograms.push_back(std::move(sample));
}

std::vector<FamilySnapshot> Collection::take() {
  std::vector<FamilySnapshot> out;
  out.reserve(families_.size());
  for (auto& [name, fam] : families_)
    out.push_back(std::move(fam));
  families_.clear();
  return out;
}

// ---- Registry ----

Registry::Entry& Registry::entry(const std::string& name, Type type,
                                 const std::vector<std::string>& label_names) {
  if (!valid_metric_name(name)) {
    throw std::invalid_argument("invalid metric name '" + name + "' (must start with netagent_)");
  }
  for (const auto& l : label_names) {
    if (!valid_label_name(l) || (type == Type::Histogram && l == "le")) {
      throw std::invalid_argument("metric " + name + ": invalid label name '" + l + "'");
    }
  }
  auto it = entries_.find(name);
  if (it != entries_.end()) {
    if (it->second.type != type || it->second.label_names != label_names) {
      throw std::invalid_argument("metric " + name +
                                  " registered twice with a different type or labels");
    }
    return it->second;
  }
  return entries_.emplace(name, Entry{type, label_names, nullptr, nullptr, nullptr}).first->second;
}

Family<Counter>& Registry::counter(const std::string& name, const std::string& help,
                                   std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  Entry& e = entry(name, Type::Counter, label_names);
  if (!e.counter) {
    e.counter = std::make_unique<Family<Counter>>(name, help, std::move(label_names),
                                                  [] { return std::make_unique<Counter>(); });
  }
  return *e.counter;
}

Family<Gauge>& Registry::gauge(const std::string& name, const std::string& help,
                               std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  Entry& e = entry(name, Type::Gauge, label_names);
  if (!e.gauge) {
    e.gauge = std::make_unique<Family<Gauge>>(name, help, std::move(label_names),
                                              [] { return std::make_unique<Gauge>(); });
  }
  return *e.gauge;
}

Family<Histogram>& Registry::histogram(const std::string& name, const std::string& help,
                                       std::vector<std::string> label_names,
                                       std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  Entry& e = entry(name, Type::Histogram, label_names);
  if (!e.histogram) {
    Histogram probe(bounds);  // validates the bounds now rather than at first use
    e.histogram = std::make_unique<Family<Histogram>>(name, help, std::move(label_names), [bounds] {
      return std::make_unique<Histogram>(bounds);
    });
  }
  return *e.histogram;
}

void Registry::add_collector(std::string name, Collector collector) {
  std::lock_guard lock(mu_);
  collectors_.emplace_back(std::move(name), std::move(collector));
}

namespace {

Labels zip(const std::vector<std::string>& names, const LabelValues& values) {
  Labels out;
  out.reserve(names.size());
  for (size_t i = 0; i < names.size(); ++i)
    out.emplace_back(names[i], values[i]);
  return out;
}

}  // namespace

std::vector<FamilySnapshot> Registry::collect() const {
  std::vector<std::pair<std::string, Collector>> collectors;
  std::vector<FamilySnapshot> out;
  {
    std::lock_guard lock(mu_);
    collectors = collectors_;
    for (const auto& [name, e] : entries_) {
      FamilySnapshot f;
      f.name = name;
      f.type = e.type;
      if (e.counter) {
        f.help = e.counter->help();
        e.counter->for_each([&](const LabelValues& v, const Counter& c) {
          f.samples.push_back(Sample{zip(e.label_names, v), c.value()});
        });
      } else if (e.gauge) {
        f.help = e.gauge->help();
        e.gauge->for_each([&](const LabelValues& v, const Gauge& g) {
          f.samples.push_back(Sample{zip(e.label_names, v), g.value()});
        });
      } else if (e.histogram) {
        f.help = e.histogram->help();
        e.histogram->for_each([&](const LabelValues& v, const Histogram& h) {
          HistogramSample s = h.snapshot();
          s.labels = zip(e.label_names, v);
          f.histograms.push_back(std::move(s));
        });
      }
      out.push_back(std::move(f));
    }
  }

  // Collectors run outside the registry lock: they may read kernel maps and take their time.
  Collection collected;
  for (const auto& [name, fn] : collectors) {
    Collection one;
    try {
      fn(one);
    } catch (const std::exception&) {
      collector_errors_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    for (auto& f : one.take()) {
      for (auto& s : f.samples) {
        if (f.type == Type::Counter) {
          collected.counter(f.name, f.help, std::move(s.labels), s.value);
        } else {
          collected.gauge(f.name, f.help, std::move(s.labels), s.value);
        }
      }
      for (auto& h : f.histograms)
        collected.histogram(f.name, f.help, std::move(h));
    }
  }
  collected.counter("netagent_metrics_collector_errors_total",
                    "Scrape-time collectors that failed (their metrics were left out).", {},
                    static_cast<double>(collector_errors_.load()));
  for (auto& f : collected.take()) {
    auto it = std::find_if(out.begin(), out.end(),
                           [&](const FamilySnapshot& o) { return o.name == f.name; });
    if (it == out.end()) {
      out.push_back(std::move(f));
    } else if (it->type == f.type) {
      // A collector adding samples to a registered family (e.g. per-CPU sums next to live
      // counters) merges into it.
      for (auto& s : f.samples)
        it->samples.push_back(std::move(s));
      for (auto& h : f.histograms)
        it->histograms.push_back(std::move(h));
    } else {
      collector_errors_.fetch_add(1, std::memory_order_relaxed);  // same name, other type
    }
  }
  std::sort(out.begin(), out.end(),
            [](const FamilySnapshot& a, const FamilySnapshot& b) { return a.name < b.name; });
  return out;
}

}  // namespace netagent::metrics
