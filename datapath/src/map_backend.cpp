#include "netagent/datapath/map_backend.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace netagent::datapath {
namespace {

constexpr int kEnotsupp = 524;  // ENOTSUPP: the kernel-internal errno of unsupported batch ops

}  // namespace

int MapBackend::update_batch(const void* keys, const void* values, uint32_t count, uint32_t* done) {
  const auto* k = static_cast<const uint8_t*>(keys);
  const auto* v = static_cast<const uint8_t*>(values);
  for (uint32_t i = 0; i < count; ++i) {
    if (int err = update(k + size_t(i) * key_size(), v + size_t(i) * value_size(), BPF_ANY)) {
      if (done) *done = i;
      return err;
    }
  }
  if (done) *done = count;
  return 0;
}

std::shared_ptr<KernelMap> KernelMap::of(const bpf_map* map) {
  int fd = bpf_map__fd(map);
  if (fd < 0) return nullptr;
  return std::make_shared<KernelMap>(fd, bpf_map__name(map), uint32_t(bpf_map__type(map)),
                                     bpf_map__key_size(map), bpf_map__value_size(map),
                                     bpf_map__max_entries(map));
}

int KernelMap::lookup(const void* key, void* value) const {
  return bpf_map_lookup_elem(fd_, key, value) == 0 ? 0 : errno;
}

int KernelMap::update(const void* key, const void* value, uint64_t flags) {
  return bpf_map_update_elem(fd_, key, value, flags) == 0 ? 0 : errno;
}

int KernelMap::remove(const void* key) {
  return bpf_map_delete_elem(fd_, key) == 0 ? 0 : errno;
}

int KernelMap::update_batch(const void* keys, const void* values, uint32_t count, uint32_t* done) {
  if (count == 0) {
    if (done) *done = 0;
    return 0;
  }
  uint32_t n = count;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  if (bpf_map_update_batch(fd_, keys, values, &n, &opts) == 0) {
    if (done) *done = count;
    return 0;
  }
  int err = errno;
  // No batch support for this map type: nothing was written, one by one then.
  if ((err == EINVAL || err == EOPNOTSUPP || err == kEnotsupp) && n == 0) {
    return MapBackend::update_batch(keys, values, count, done);
  }
  // The kernel reports how many entries it processed before the failing one.
  if (done) *done = n < count ? n : 0;
  return err;
}

int KernelMap::for_each(const Visitor& fn) const {
  std::vector<uint8_t> key(key_size()), next(key_size()), value(value_size());
  // Arrays and hash maps are read in batches (one syscall per 4096 entries instead of two per
  // entry: the drift check reads whole maps); other types, or a kernel without batch lookups
  // for the type, key by key.
  if (type_ == BPF_MAP_TYPE_ARRAY || type_ == BPF_MAP_TYPE_HASH || type_ == BPF_MAP_TYPE_LRU_HASH) {
    constexpr uint32_t kBatch = 4096;
    std::vector<uint8_t> keys(size_t(kBatch) * key_size()), values(size_t(kBatch) * value_size());
    uint32_t out_batch = 0;
    void* in_batch = nullptr;
    for (;;) {
      uint32_t count = kBatch;
      LIBBPF_OPTS(bpf_map_batch_opts, o);
      int rc =
          bpf_map_lookup_batch(fd_, in_batch, &out_batch, keys.data(), values.data(), &count, &o);
      int err = rc ? errno : 0;
      if (err && err != ENOENT) {
        const bool unsupported = err == EINVAL || err == EOPNOTSUPP || err == kEnotsupp;
        if (in_batch == nullptr && count == 0 && unsupported && type_ != BPF_MAP_TYPE_ARRAY) {
          break;  // nothing visited yet: key by key below
        }
        return err;
      }
      for (uint32_t i = 0; i < count; ++i)
        fn(keys.data() + size_t(i) * key_size(), values.data() + size_t(i) * value_size());
      if (err) return 0;  // ENOENT: that was the last batch
      in_batch = &out_batch;
    }
  }
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd_, prev, next.data()) == 0) {
    if (bpf_map_lookup_elem(fd_, next.data(), value.data()) == 0) {
      fn(next.data(), value.data());
    } else if (errno != ENOENT) {
      return errno;
    }
    key = next;
    prev = key.data();
  }
  return errno == ENOENT ? 0 : errno;
}

}  // namespace netagent::datapath
