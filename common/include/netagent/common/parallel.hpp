#pragma once
// Runs fn(0..n-1) on up to `threads` threads (the caller's included), for work whose items are
// independent: fn must touch only its own item's slot, so the outcome does not depend on
// scheduling. Below `min_per_thread` items per thread, threads cost more than they save and
// everything runs on the caller's thread. The first exception fn throws stops the rest and is
// rethrown on the caller's thread.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace netagent {

inline void parallel_for(size_t n, size_t threads, size_t min_per_thread,
                         const std::function<void(size_t)>& fn) {
  threads = std::min(threads, n / std::max<size_t>(min_per_thread, 1));
  if (threads <= 1) {
    for (size_t i = 0; i < n; ++i)
      fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mu;
  auto work = [&] {
    try {
      for (size_t i; (i = next.fetch_add(1)) < n;)
        fn(i);
    } catch (...) {
      std::lock_guard lock(failure_mu);
      if (!failure) failure = std::current_exception();
      next = n;
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t)
    pool.emplace_back(work);
  work();
  for (auto& t : pool)
    t.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace netagent
