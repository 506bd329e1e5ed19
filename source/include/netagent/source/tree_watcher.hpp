#pragma once
// Watches a manifest tree with inotify(7) on a Boost.Asio io_context and reports "something
// changed" once per burst of changes (debounced).
//
// inotify is not recursive: every directory of the tree gets its own watch, and the set of watches
// is re-synchronised with the directories that exist before each report, so new subdirectories
// are picked up (the load that follows the report lists the tree again, so files created in a new
// directory before its watch existed are not missed). The root's parent is watched too, for the
// root itself being replaced: a directory renamed over it, or a symlink swapped. Inside the tree
// the events that matter are those on *.yaml / *.yml names, on directories, and on `..`-prefixed
// names (a Kubernetes ConfigMap volume swaps its `..data` symlink to publish an update); editor
// swap files and the like are ignored. A queue overflow (IN_Q_OVERFLOW) triggers a full reload.
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "netagent/common/result.hpp"

namespace netagent::source {

struct WatchOptions {
  // Quiet time after the last change before reporting: editors and `kubectl`-style writers touch
  // several files in a burst.
  std::chrono::milliseconds debounce{150};
  // Upper bound from the first change to the report, so a steady trickle of changes still lands
  // well within a second.
  std::chrono::milliseconds max_delay{600};
};

struct WatchStats {
  uint64_t events = 0;          // inotify events read
  uint64_t relevant = 0;        // events that can change the manifests
  uint64_t overflows = 0;       // IN_Q_OVERFLOW
  uint64_t reports = 0;         // debounced change reports
  size_t watches = 0;           // directories watched now (the root's parent not counted)
  uint64_t watch_failures = 0;  // inotify_add_watch refused (ENOSPC: max_user_watches)
};

class TreeWatcher {
 public:
  using ChangeFn = std::function<void()>;

  TreeWatcher(boost::asio::io_context& io, std::filesystem::path root, WatchOptions options = {});
  ~TreeWatcher();
  TreeWatcher(const TreeWatcher&) = delete;
  TreeWatcher& operator=(const TreeWatcher&) = delete;

  // Creates the inotify instance and the watches; on_change runs on the io_context.
  Status start(ChangeFn on_change);
  void stop();
  WatchStats stats() const;

 private:
  void sync_watches();
  void wait_for_events();
  void read_events();
  void schedule_report();

  boost::asio::io_context& io_;
  std::filesystem::path root_;
  std::filesystem::path parent_;
  std::string root_name_;
  WatchOptions options_;
  ChangeFn on_change_;
  std::unique_ptr<boost::asio::posix::stream_descriptor> fd_;
  boost::asio::steady_timer timer_;
  bool pending_ = false;
  std::chrono::steady_clock::time_point first_change_{};
  int parent_wd_ = -1;
  std::map<int, std::filesystem::path> watches_;  // wd -> directory
  mutable std::mutex stats_mu_;                   // stats() may be called from any thread
  WatchStats stats_;
  std::shared_ptr<bool> alive_;  // handlers hold a weak_ptr: nothing runs after destruction
};

}  // namespace netagent::source
