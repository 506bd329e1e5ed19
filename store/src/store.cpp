#include "netagent/store/store.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>

#include <nlohmann/json.hpp>

namespace netagent::store {

void Store::set_snapshot(std::shared_ptr<const k8s::Snapshot> snapshot) {
  snapshot_ = std::move(snapshot);
  ++snapshot_generation_;
}

void Store::publish_erased(const Topic& t, std::shared_ptr<const void> value,
                           std::string_view publisher) {
  auto& e = values_[t];
  e.name = t.name;
  e.value = std::move(value);
  e.publisher = std::string(publisher);
  ++e.generation;
  e.published_at = Clock::now();
  if (observer_) observer_(t);
}

nlohmann::json Store::status() const {
  std::vector<const Entry*> entries;
  for (const auto& [t, e] : values_)
    entries.push_back(&e);
  std::sort(entries.begin(), entries.end(),
            [](const Entry* a, const Entry* b) { return a->name < b->name; });
  auto topics = nlohmann::json::array();
  for (const Entry* ep : entries) {
    const Entry& e = *ep;
    auto secs = std::chrono::time_point_cast<std::chrono::seconds>(e.published_at);
    topics.push_back({{"topic", std::string(e.name)},
                      {"publisher", e.publisher},
                      {"generation", e.generation},
                      {"published_at",
                       fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(Clock::to_time_t(secs)))}});
  }
  return {{"snapshot_generation", snapshot_generation_}, {"topics", topics}};
}

}  // namespace netagent::store
