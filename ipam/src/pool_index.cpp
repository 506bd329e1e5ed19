#include "pool_index.hpp"

#include <algorithm>

namespace netagent::ipam::detail {
namespace {

bool overlaps(uint32_t a_lo, uint32_t a_hi, uint32_t b_lo, uint32_t b_hi) {
  return a_lo <= b_hi && b_lo <= a_hi;
}

// Cilium's wording (lb-ipam.rst, "Conflicts"), with "CIDR" standing for any block.
std::string conflict_text(const PoolBlock& mine, const PoolBlock& theirs, const std::string& pool) {
  return "Pool conflicts since CIDR '" + mine.text + "' overlaps CIDR '" + theirs.text +
         (pool.empty() ? "' of the same pool" : "' from IP Pool '" + pool + "'");
}

template <typename Intervals>
auto find_interval(Intervals& v, uint32_t ip) -> decltype(&v[0]) {
  // Last interval with lo <= ip.
  auto it = std::upper_bound(v.begin(), v.end(), ip,
                             [](uint32_t x, const auto& iv) { return x < iv.lo; });
  if (it == v.begin()) return nullptr;
  --it;
  return ip <= it->hi ? &*it : nullptr;
}

}  // namespace

Ipv4Addr PoolRuntime::at(uint64_t index) const {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), index,
                             [](uint64_t i, const Range& r) { return i < r.offset; });
  --it;  // ranges[0].offset == 0 <= index
  return Ipv4Addr{uint32_t(it->lo + (index - it->offset))};
}

PoolIndex::PoolIndex(const std::vector<Pool>& pools) {
  std::vector<const Pool*> by_name;
  for (const auto& p : pools)
    by_name.push_back(&p);
  // "Later" pool = later by name: a deterministic stand-in for Cilium's "last added", which
  // nodes reading the same manifests could not agree on.
  std::stable_sort(by_name.begin(), by_name.end(),
                   [](const Pool* a, const Pool* b) { return a->name < b->name; });

  for (const Pool* p : by_name) {
    PoolRuntime rt;
    rt.pool = p;
    std::vector<const PoolBlock*> v4;
    for (const auto& b : p->blocks) {
      if (!b.ipv6) v4.push_back(&b);
    }
    std::sort(v4.begin(), v4.end(),
              [](const PoolBlock* a, const PoolBlock* b) { return a->first < b->first; });
    // Blocks of one pool must not overlap each other either.
    for (size_t i = 1; i < v4.size() && !rt.conflicting; ++i) {
      if (v4[i]->first <= v4[i - 1]->last) {
        rt.conflicting = true;
        rt.conflict_message = conflict_text(*v4[i], *v4[i - 1], "");
      }
    }
    for (const PoolBlock* b : v4) {
      if (rt.conflicting) break;
      for (const auto& iv : owned_) {
        if (overlaps(b->first.value, b->last.value, iv.lo, iv.hi)) {
          rt.conflicting = true;
          rt.conflict_message = conflict_text(*b, *iv.block, pools_[iv.pool].pool->name);
          break;
        }
      }
    }
    const size_t idx = pools_.size();
    for (const PoolBlock* b : v4) {
      Interval iv{b->first.value, b->last.value, idx, b};
      if (rt.conflicting) {
        conflicted_.push_back(iv);
        continue;
      }
      owned_.push_back(iv);
      uint32_t lo = b->first.value, hi = b->last.value;
      if (b->reserves_edges(p->allow_first_last)) {
        reserved_.insert(lo);
        reserved_.insert(hi);
        ++lo;
        --hi;
      }
      rt.ranges.push_back({lo, hi, rt.total});
      rt.total += uint64_t(hi) - lo + 1;
    }
    pools_.push_back(std::move(rt));
  }
  auto by_lo = [](const Interval& a, const Interval& b) { return a.lo < b.lo; };
  std::sort(owned_.begin(), owned_.end(), by_lo);
  std::sort(conflicted_.begin(), conflicted_.end(), by_lo);
}

PoolRuntime* PoolIndex::owner(Ipv4Addr ip) {
  auto* iv = find_interval(owned_, ip.value);
  return iv ? &pools_[iv->pool] : nullptr;
}

const PoolRuntime* PoolIndex::conflicting_owner(Ipv4Addr ip) const {
  // Conflicting blocks may overlap each other: scan (they are few and this is an error path).
  for (const auto& iv : conflicted_) {
    if (iv.lo <= ip.value && ip.value <= iv.hi) return &pools_[iv.pool];
  }
  return nullptr;
}

}  // namespace netagent::ipam::detail
