#pragma once
// Typed access to a map (map_backend.hpp: a BPF map in the kernel, or a fake): keys and values
// are the ABI structs from bpf/include, checked against the map's declared sizes when the
// wrapper is made, so a struct that drifted from the kernel side fails loudly at start instead
// of corrupting entries.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "netagent/common/result.hpp"
#include "netagent/datapath/map_backend.hpp"

namespace netagent::datapath {

template <typename K, typename V>
class TypedMap {
  static_assert(std::is_trivially_copyable_v<K> && std::is_trivially_copyable_v<V>);

 public:
  TypedMap() = default;

  // Wraps a map of a loaded object. The map must outlive the wrapper.
  static Result<TypedMap> of(const bpf_map* map) {
    auto backend = KernelMap::of(map);
    if (!backend) return Error{std::string("map ") + bpf_map__name(map) + " is not loaded"};
    return of(std::move(backend));
  }
  // Wraps any backend (a kernel map, a fake).
  static Result<TypedMap> of(std::shared_ptr<MapBackend> backend) {
    if (backend->key_size() != sizeof(K) || backend->value_size() != sizeof(V)) {
      return Error{"map " + backend->name() + ": key/value size " +
                   std::to_string(backend->key_size()) + "/" +
                   std::to_string(backend->value_size()) + " does not match the C++ ABI " +
                   std::to_string(sizeof(K)) + "/" + std::to_string(sizeof(V))};
    }
    return TypedMap(std::move(backend));
  }

  // The kernel map's fd, -1 for a fake.
  int fd() const { return backend_ ? backend_->fd() : -1; }
  const std::string& name() const { return backend_->name(); }
  MapBackend& backend() const { return *backend_; }

  Result<std::optional<V>> lookup(const K& key) const {
    V v{};
    int err = backend_->lookup(&key, &v);
    if (err == 0) return std::optional<V>(v);
    if (err == ENOENT) return std::optional<V>();
    return sys_error("lookup in map " + name(), err);
  }

  Status update(const K& key, const V& value, uint64_t flags = BPF_ANY) {
    if (int err = backend_->update(&key, &value, flags)) {
      return sys_error("update map " + name(), err);
    }
    return {};
  }

  // Deletes key; a missing key is not an error (the desired state is reached either way).
  Status remove(const K& key) {
    if (int err = backend_->remove(&key); err && err != ENOENT) {
      return sys_error("delete from map " + name(), err);
    }
    return {};
  }

  // Updates many entries, with one syscall where the kernel supports it (hash maps). On failure
  // the entries before the failing one are written: `*written` says how many (all on success).
  Status update_batch(const std::vector<K>& keys, const std::vector<V>& values,
                      size_t* written = nullptr) {
    uint32_t done = 0;
    int err = keys.empty() ? 0
                           : backend_->update_batch(keys.data(), values.data(),
                                                    uint32_t(keys.size()), &done);
    if (written) *written = err ? done : keys.size();
    if (err) return sys_error("batch update map " + name(), err);
    return {};
  }

  // Visits every entry. Entries added or removed concurrently may or may not be seen.
  Status for_each(const std::function<void(const K&, const V&)>& fn) const {
    int err = backend_->for_each([&](const void* k, const void* v) {
      K key;
      V value;
      std::memcpy(&key, k, sizeof(K));
      std::memcpy(&value, v, sizeof(V));
      fn(key, value);
    });
    if (err) return sys_error("iterate map " + name(), err);
    return {};
  }

  Result<std::vector<std::pair<K, V>>> entries() const {
    std::vector<std::pair<K, V>> out;
    auto st = for_each([&](const K& k, const V& v) { out.emplace_back(k, v); });
    if (!st) return st.error();
    return out;
  }

 private:
  explicit TypedMap(std::shared_ptr<MapBackend> backend) : backend_(std::move(backend)) {}
  std::shared_ptr<MapBackend> backend_;
};

// Per-CPU array of counters: reads every CPU's copy (the map value of a per-CPU map is one
// V per possible CPU).
template <typename V>
class PerCpuArray {
 public:
  PerCpuArray() = default;
  static Result<PerCpuArray> of(const bpf_map* map) {
    std::string name = bpf_map__name(map);
    if (bpf_map__value_size(map) != sizeof(V) || bpf_map__key_size(map) != sizeof(uint32_t)) {
      return Error{"per-CPU map " + name + ": value size does not match the C++ ABI"};
    }
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) return sys_error("count possible CPUs", -ncpu);
    return PerCpuArray(bpf_map__fd(map), std::move(name), unsigned(ncpu),
                       bpf_map__max_entries(map));
  }

  uint32_t size() const { return entries_; }

  // All CPUs' values of one index.
  Result<std::vector<V>> read(uint32_t index) const {
    // The kernel copies values rounded up to 8 bytes per CPU.
    static_assert(sizeof(V) % 8 == 0, "per-CPU values must be a multiple of 8 bytes");
    std::vector<V> out(ncpu_);
    if (bpf_map_lookup_elem(fd_, &index, out.data()) != 0) {
      return sys_error("read per-CPU map " + name_);
    }
    return out;
  }

 private:
  PerCpuArray(int fd, std::string name, unsigned ncpu, uint32_t entries)
      : fd_(fd), name_(std::move(name)), ncpu_(ncpu), entries_(entries) {}
  int fd_ = -1;
  std::string name_;
  unsigned ncpu_ = 0;
  uint32_t entries_ = 0;
};

}  // namespace netagent::datapath
