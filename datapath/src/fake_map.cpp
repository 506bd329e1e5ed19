#include "netagent/datapath/fake_map.hpp"

#include <bpf/bpf.h>

#include <cstring>

namespace netagent::datapath {

std::vector<MapOp> MapJournal::done() const {
  std::vector<MapOp> out;
  for (const auto& op : ops_) {
    if (op.error == 0) out.push_back(op);
  }
  return out;
}

void MapJournal::fail_write(size_t nth, int err) {
  fail_in_ = nth;
  fail_err_ = err;
}

int MapJournal::next_write() {
  if (fail_in_ == 0 || --fail_in_ > 0) return 0;
  return fail_err_;
}

void MapJournal::record(MapOp op) {
  ops_.push_back(std::move(op));
  if (ops_.back().error == 0 && after_write) after_write(ops_.back());
}

FakeMap::FakeMap(std::string name, uint32_t key_size, uint32_t value_size, uint32_t max_entries,
                 Kind kind, std::shared_ptr<MapJournal> journal)
    : MapBackend(std::move(name), key_size, value_size, max_entries),
      kind_(kind),
      journal_(journal ? std::move(journal) : std::make_shared<MapJournal>()) {}

void FakeMap::fail_write(size_t nth, int err) {
  fail_in_ = nth;
  fail_err_ = err;
}

Bytes FakeMap::bytes(const void* p, size_t n) const {
  const auto* b = static_cast<const uint8_t*>(p);
  return Bytes(b, b + n);
}

namespace {

uint32_t array_index(const void* key) {
  uint32_t i = 0;
  std::memcpy(&i, key, sizeof(i));
  return i;
}

}  // namespace

int FakeMap::lookup(const void* key, void* value) const {
  if (kind_ == Kind::Array) {
    if (key_size() != sizeof(uint32_t) || array_index(key) >= max_entries()) return ENOENT;
    auto it = entries_.find(bytes(key, key_size()));
    if (it == entries_.end()) {
      std::memset(value, 0, value_size());
    } else {
      std::memcpy(value, it->second.data(), value_size());
    }
    return 0;
  }
  auto it = entries_.find(bytes(key, key_size()));
  if (it == entries_.end()) return ENOENT;
  std::memcpy(value, it->second.data(), value_size());
  return 0;
}

int FakeMap::write_error(const void* key, bool is_new, uint64_t flags) {
  // Injected failures first (the journal's count covers every map sharing it), then the map's
  // own rules.
  int injected = journal_->next_write();
  if (fail_in_ > 0 && --fail_in_ == 0 && !injected) injected = fail_err_;
  if (injected) return injected;
  if (kind_ == Kind::Array) {
    if (array_index(key) >= max_entries()) return E2BIG;
    if (flags == BPF_NOEXIST) return EEXIST;
    return 0;
  }
  if (flags == BPF_EXIST && is_new) return ENOENT;
  if (flags == BPF_NOEXIST && !is_new) return EEXIST;
  if (is_new && (full_ || entries_.size() >= max_entries())) {
    return kind_ == Kind::LpmTrie ? ENOSPC : E2BIG;
  }
  return 0;
}

void FakeMap::record(MapOp::Kind kind, const void* key, const void* value, int error) {
  MapOp op;
  op.kind = kind;
  op.map = name();
  op.key = bytes(key, key_size());
  if (value) op.value = bytes(value, value_size());
  op.error = error;
  journal_->record(std::move(op));
}

int FakeMap::update(const void* key, const void* value, uint64_t flags) {
  auto k = bytes(key, key_size());
  const bool is_new = !entries_.count(k);
  if (int err = write_error(key, is_new, flags)) {
    record(MapOp::Kind::Update, key, value, err);
    return err;
  }
  entries_[std::move(k)] = bytes(value, value_size());
  record(MapOp::Kind::Update, key, value, 0);
  return 0;
}

int FakeMap::remove(const void* key) {
  auto k = bytes(key, key_size());
  int err = journal_->next_write();
  if (fail_in_ > 0 && --fail_in_ == 0 && !err) err = fail_err_;
  if (!err && kind_ == Kind::Array) err = EINVAL;
  if (!err && !entries_.count(k)) err = ENOENT;
  if (!err) entries_.erase(k);
  record(MapOp::Kind::Delete, key, nullptr, err);
  return err;
}

int FakeMap::for_each(const Visitor& fn) const {
  if (kind_ == Kind::Array) {
    Bytes zero(value_size(), 0);
    for (uint32_t i = 0; i < max_entries(); ++i) {
      auto it = entries_.find(bytes(&i, sizeof(i)));
      fn(&i, it == entries_.end() ? zero.data() : it->second.data());
    }
    return 0;
  }
  // A copy: the visitor may write to the map.
  auto copy = entries_;
  for (const auto& [k, v] : copy)
    fn(k.data(), v.data());
  return 0;
}

}  // namespace netagent::datapath
