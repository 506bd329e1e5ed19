#pragma once
// Where the entries of a map live, as raw key and value bytes: a BPF map in the kernel
// (KernelMap, through the libbpf syscall wrappers) or memory (FakeMap in fake_map.hpp, so that
// what writes maps is tested without root). TypedMap (typed_map.hpp) puts the ABI structs on top.
//
// Errors are errno values, as the bpf(2) syscalls give them (0: done):
//   ENOENT  no such key (lookup, delete; BPF_EXIST update)
//   EEXIST  the key exists (BPF_NOEXIST update)
//   E2BIG   a hash map is full (a new key; an existing key can still be updated), or an array
//           index is out of range
//   ENOSPC  an LPM trie is full
//   EINVAL  deleting from an array
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

struct bpf_map;

namespace netagent::datapath {

class MapBackend {
 public:
  MapBackend(std::string name, uint32_t key_size, uint32_t value_size, uint32_t max_entries)
      : name_(std::move(name)),
        key_size_(key_size),
        value_size_(value_size),
        max_entries_(max_entries) {}
  virtual ~MapBackend() = default;
  MapBackend(const MapBackend&) = delete;
  MapBackend& operator=(const MapBackend&) = delete;

  const std::string& name() const { return name_; }
  uint32_t key_size() const { return key_size_; }
  uint32_t value_size() const { return value_size_; }
  uint32_t max_entries() const { return max_entries_; }

  virtual int lookup(const void* key, void* value) const = 0;
  // flags: BPF_ANY, BPF_NOEXIST or BPF_EXIST.
  virtual int update(const void* key, const void* value, uint64_t flags) = 0;
  virtual int remove(const void* key) = 0;
  // Writes `count` entries (keys and values packed back to back) in order. `*done` is how many
  // were written: all of them on success, the ones before the failing entry otherwise. The
  // default writes one by one.
  virtual int update_batch(const void* keys, const void* values, uint32_t count, uint32_t* done);
  // Visits every entry. Entries added or removed meanwhile may or may not be seen.
  using Visitor = std::function<void(const void* key, const void* value)>;
  virtual int for_each(const Visitor& fn) const = 0;
  // The kernel map's fd; -1 for a map that is not in the kernel.
  virtual int fd() const { return -1; }

 private:
  std::string name_;
  uint32_t key_size_, value_size_, max_entries_;
};

// A map of a loaded object (it must outlive the backend: the fd is not owned).
class KernelMap final : public MapBackend {
 public:
  // nullptr when the map is not loaded (no fd).
  static std::shared_ptr<KernelMap> of(const bpf_map* map);

  int lookup(const void* key, void* value) const override;
  int update(const void* key, const void* value, uint64_t flags) override;
  int remove(const void* key) override;
  // One syscall where the kernel supports it (hash maps), single updates otherwise.
  int update_batch(const void* keys, const void* values, uint32_t count, uint32_t* done) override;
  // Arrays are read in batches (a lookup per index would be a syscall per slot), other maps
  // key by key.
  int for_each(const Visitor& fn) const override;
  int fd() const override { return fd_; }

  KernelMap(int fd, std::string name, uint32_t type, uint32_t key_size, uint32_t value_size,
            uint32_t max_entries)
      : MapBackend(std::move(name), key_size, value_size, max_entries), fd_(fd), type_(type) {}

 private:
  int fd_;
  uint32_t type_;
};

}  // namespace netagent::datapath
