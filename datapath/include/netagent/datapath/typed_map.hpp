#pragma once
// Typed access to a BPF map: keys and values are the ABI structs from bpf/include, checked
// against the map's declared sizes when the wrapper is made, so a struct that drifted from the
// kernel side fails loudly at start instead of corrupting entries.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "netagent/common/result.hpp"

namespace netagent::datapath {

template <typename K, typename V>
class TypedMap {
  static_assert(std::is_trivially_copyable_v<K> && std::is_trivially_copyable_v<V>);

 public:
  TypedMap() = default;

  // Wraps a map of a loaded object. The map must outlive the wrapper.
  static Result<TypedMap> of(const bpf_map* map) {
    std::string name = bpf_map__name(map);
    if (bpf_map__key_size(map) != sizeof(K) || bpf_map__value_size(map) != sizeof(V)) {
      return Error{"map " + name + ": key/value size " + std::to_string(bpf_map__key_size(map)) +
                   "/" + std::to_string(bpf_map__value_size(map)) + " does not match the C++ ABI " +
                   std::to_string(sizeof(K)) + "/" + std::to_string(sizeof(V))};
    }
    int fd = bpf_map__fd(map);
    if (fd < 0) return Error{"map " + name + " is not loaded"};
    return TypedMap(fd, std::move(name));
  }
  // Wraps a raw map fd (e.g. an inner map the agent created).
  static TypedMap of_fd(int fd, std::string name) { return TypedMap(fd, std::move(name)); }

  int fd() const { return fd_; }
  const std::string& name() const { return name_; }

  Result<std::optional<V>> lookup(const K& key) const {
    V v{};
    if (bpf_map_lookup_elem(fd_, &key, &v) == 0) return std::optional<V>(v);
    if (errno == ENOENT) return std::optional<V>();
    return sys_error("lookup in map " + name_);
  }

  Status update(const K& key, const V& value, uint64_t flags = BPF_ANY) {
    if (bpf_map_update_elem(fd_, &key, &value, flags) != 0) {
      return sys_error("update map " + name_);
    }
    return {};
  }

  // Deletes key; a missing key is not an error (the desired state is reached either way).
  Status remove(const K& key) {
    if (bpf_map_delete_elem(fd_, &key) != 0 && errno != ENOENT) {
      return sys_error("delete from map " + name_);
    }
    return {};
  }

  // Updates many entries with one syscall where the kernel supports it (hash maps), falling back
  // to single updates otherwise.
  Status update_batch(const std::vector<K>& keys, const std::vector<V>& values) {
    if (keys.empty()) return {};
    uint32_t count = uint32_t(keys.size());
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    if (bpf_map_update_batch(fd_, keys.data(), values.data(), &count, &opts) == 0) return {};
    if (errno != EINVAL && errno != EOPNOTSUPP && errno != 524 /* ENOTSUPP */) {
      return sys_error("batch update map " + name_);
    }
    for (size_t i = 0; i < keys.size(); ++i) {
      if (auto st = update(keys[i], values[i]); !st) return st;
    }
    return {};
  }

  // Visits every entry. Entries added or removed concurrently may or may not be seen.
  Status for_each(const std::function<void(const K&, const V&)>& fn) const {
    K key{}, next{};
    const K* prev = nullptr;
    while (bpf_map_get_next_key(fd_, prev, &next) == 0) {
      V v{};
      if (bpf_map_lookup_elem(fd_, &next, &v) == 0)
        fn(next, v);
      else if (errno != ENOENT)
        return sys_error("lookup in map " + name_);
      key = next;
      prev = &key;
    }
    if (errno != ENOENT) return sys_error("iterate map " + name_);
    return {};
  }

  Result<std::vector<std::pair<K, V>>> entries() const {
    std::vector<std::pair<K, V>> out;
    auto st = for_each([&](const K& k, const V& v) { out.emplace_back(k, v); });
    if (!st) return st.error();
    return out;
  }

 private:
  TypedMap(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  int fd_ = -1;
  std::string name_;
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
