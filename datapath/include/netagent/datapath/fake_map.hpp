#pragma once
// An in-memory map with the kernel's semantics (map_backend.hpp), for tests of what writes maps
// without root: capacity-limited like the BPF map it stands for, it can be told to be full or to
// fail the Nth write, and it records every write (failed ones too) in a journal that several
// fakes may share, so that a test sees the order of writes across maps.
#include <cerrno>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "netagent/datapath/map_backend.hpp"

namespace netagent::datapath {

using Bytes = std::vector<uint8_t>;

struct MapOp {
  enum class Kind { Update, Delete };
  Kind kind = Kind::Update;
  std::string map;
  Bytes key, value;  // value: empty for a delete
  int error = 0;     // 0: done; otherwise the errno it failed with (the map did not change)
};

// The ordered writes of every fake that shares it.
class MapJournal {
 public:
  const std::vector<MapOp>& ops() const { return ops_; }
  // The writes that were done (error 0), in order.
  std::vector<MapOp> done() const;
  void clear() { ops_.clear(); }
  // The nth write from now (1 = the next one), counted over every map sharing this journal,
  // fails with `err` and changes nothing. One failure at a time; 0 cancels.
  void fail_write(size_t nth, int err = EIO);
  // Called after every successful write, with the maps already changed (invariant checks).
  std::function<void(const MapOp&)> after_write;

  // For fakes: the error injected into the write about to happen (0: none).
  int next_write();
  void record(MapOp op);

 private:
  std::vector<MapOp> ops_;
  size_t fail_in_ = 0;
  int fail_err_ = 0;
};

class FakeMap final : public MapBackend {
 public:
  enum class Kind {
    Hash,     // full: E2BIG for a new key
    LpmTrie,  // exact keys (no longest-prefix lookup); full: ENOSPC for a new key
    Array,    // keys are indexes < max_entries, every one present (zero at first); no delete
  };
  FakeMap(std::string name, uint32_t key_size, uint32_t value_size, uint32_t max_entries,
          Kind kind = Kind::Hash, std::shared_ptr<MapJournal> journal = nullptr);
  template <typename K, typename V>
  static std::shared_ptr<FakeMap> make(std::string name, uint32_t max_entries,
                                       Kind kind = Kind::Hash,
                                       std::shared_ptr<MapJournal> journal = nullptr) {
    return std::make_shared<FakeMap>(std::move(name), uint32_t(sizeof(K)), uint32_t(sizeof(V)),
                                     max_entries, kind, std::move(journal));
  }

  int lookup(const void* key, void* value) const override;
  int update(const void* key, const void* value, uint64_t flags) override;
  int remove(const void* key) override;
  int for_each(const Visitor& fn) const override;

  // Behaves as full whatever its size: new keys fail (existing keys can still be updated).
  void set_full(bool full) { full_ = full; }
  // The nth write to this map from now (1 = the next one) fails with `err`; 0 cancels.
  void fail_write(size_t nth, int err = EIO);
  size_t size() const { return kind_ == Kind::Array ? max_entries() : entries_.size(); }
  const std::map<Bytes, Bytes>& contents() const { return entries_; }
  const std::shared_ptr<MapJournal>& journal() const { return journal_; }

 private:
  int write_error(const void* key, bool is_new, uint64_t flags);
  Bytes bytes(const void* p, size_t n) const;
  void record(MapOp::Kind kind, const void* key, const void* value, int error);

  Kind kind_;
  std::shared_ptr<MapJournal> journal_;
  std::map<Bytes, Bytes> entries_;  // by key bytes; an array holds every index
  bool full_ = false;
  size_t fail_in_ = 0;
  int fail_err_ = 0;
};

}  // namespace netagent::datapath
