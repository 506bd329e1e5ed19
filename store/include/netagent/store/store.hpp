#pragma once
// The desired-state store: the one channel between the parts of the agent.
//
// Sources write into it (the manifest tree or, next, the Kubernetes API, as whole snapshots of
// typed objects). Parts read from it and publish typed values that later parts read: LB IPAM
// publishes the LoadBalancer IPs it allocated, ClusterMesh the remote clusters' backends and
// workloads, the LB the frontends it has actually programmed. No part holds a reference to
// another or calls it by name; the runtime (agent/) re-applies every part whose inputs changed,
// in registration order.
//
// A published value is immutable (shared_ptr<const T>) and versioned: each publish bumps its
// topic's generation, so a reader can tell cheaply whether anything changed since it last looked.
// A topic is a C++ type with a `static constexpr std::string_view kTopic` naming it in status
// output ("lb.programmed_frontends").
//
// Control thread only: everything here runs on the agent's io_context, one call at a time.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <typeindex>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "netagent/k8s/snapshot.hpp"

namespace netagent::store {

// One kind of published value.
struct Topic {
  std::type_index type;
  std::string_view name;

  bool operator==(const Topic& o) const { return type == o.type; }
  bool operator<(const Topic& o) const { return type < o.type; }
};

template <typename T>
Topic topic() {
  static_assert(std::is_same_v<decltype(T::kTopic), const std::string_view>,
                "a published type names its topic: static constexpr std::string_view kTopic");
  return Topic{std::type_index(typeid(T)), T::kTopic};
}

class Store {
 public:
  using Clock = std::chrono::system_clock;
  // Called after every publish (the runtime schedules the readers).
  using Observer = std::function<void(const Topic&)>;

  // The desired state from the source; null before the first snapshot.
  const std::shared_ptr<const k8s::Snapshot>& snapshot() const { return snapshot_; }
  // Snapshots received since start (0 = none yet).
  uint64_t snapshot_generation() const { return snapshot_generation_; }
  void set_snapshot(std::shared_ptr<const k8s::Snapshot> snapshot);

  // The latest value of topic T, or null when nothing was published yet.
  template <typename T>
  std::shared_ptr<const T> get() const {
    auto it = values_.find(topic<T>());
    if (it == values_.end()) return nullptr;
    return std::static_pointer_cast<const T>(it->second.value);
  }
  // How many times T was published (0 = never).
  template <typename T>
  uint64_t generation() const {
    auto it = values_.find(topic<T>());
    return it == values_.end() ? 0 : it->second.generation;
  }
  // Replaces T's value and tells the observer. `publisher` names the part, for status.
  template <typename T>
  void publish(std::shared_ptr<const T> value, std::string_view publisher) {
    publish_erased(topic<T>(), std::move(value), publisher);
  }
  template <typename T>
  void publish(T value, std::string_view publisher) {
    publish<T>(std::make_shared<const T>(std::move(value)), publisher);
  }

  void set_observer(Observer observer) { observer_ = std::move(observer); }

  // {"snapshot_generation": n, "topics": [{"topic", "publisher", "generation", "published_at"}]}
  nlohmann::json status() const;

 private:
  struct Entry {
    std::string_view name;
    std::shared_ptr<const void> value;
    std::string publisher;
    uint64_t generation = 0;
    Clock::time_point published_at{};
  };
  void publish_erased(const Topic& t, std::shared_ptr<const void> value,
                      std::string_view publisher);

  std::shared_ptr<const k8s::Snapshot> snapshot_;
  uint64_t snapshot_generation_ = 0;
  std::map<Topic, Entry> values_;
  Observer observer_;
};

}  // namespace netagent::store
