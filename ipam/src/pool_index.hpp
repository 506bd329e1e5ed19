#pragma once
// Internal: the pools of one allocation run, with overlapping pools settled, each pool's
// allocatable addresses numbered 0..total-1 (so that a hash picks a home address), and a lookup
// from an address to the pool that owns it.
#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "netagent/ipam/pool.hpp"

namespace netagent::ipam::detail {

struct PoolRuntime {
  const Pool* pool = nullptr;
  bool conflicting = false;
  std::string conflict_message;
  struct Range {
    uint32_t lo, hi;  // inclusive, allocatable
    uint64_t offset;  // number of allocatable addresses before lo in this pool
  };
  std::vector<Range> ranges;  // ascending by address, non-overlapping
  uint64_t total = 0;         // allocatable addresses
  uint64_t used = 0;          // allocatable addresses held (maintained by the allocator)

  bool usable_for_new() const { return !conflicting && !pool->disabled; }
  bool full() const { return used >= total; }
  Ipv4Addr at(uint64_t index) const;  // index < total
};

class PoolIndex {
 public:
  explicit PoolIndex(const std::vector<Pool>& pools);

  std::vector<PoolRuntime>& pools() { return pools_; }
  const std::vector<PoolRuntime>& pools() const { return pools_; }
  // The non-conflicting pool with a block containing ip (reserved edge addresses included).
  PoolRuntime* owner(Ipv4Addr ip);
  // A conflicting pool with a block containing ip, or nullptr.
  const PoolRuntime* conflicting_owner(Ipv4Addr ip) const;
  // The first or last address of a CIDR that its pool reserves.
  bool reserved(Ipv4Addr ip) const { return reserved_.count(ip.value) != 0; }
  // Is ip one of the pool's allocatable addresses (inside a block and not reserved).
  bool allocatable(Ipv4Addr ip) const { return !reserved(ip); }

 private:
  struct Interval {
    uint32_t lo, hi;
    size_t pool;
    const PoolBlock* block;
  };
  std::vector<PoolRuntime> pools_;
  std::vector<Interval> owned_;       // sorted by lo, non-overlapping
  std::vector<Interval> conflicted_;  // blocks of conflicting pools
  std::unordered_set<uint32_t> reserved_;
};

}  // namespace netagent::ipam::detail
