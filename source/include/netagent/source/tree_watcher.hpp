#pragma once
// Watches a manifest tree with inotify(7) on a Boost.Asio io_context and reports "something
// changed" once per burst of completed changes (settled).
//
// A change is complete when it can be read whole: a file closed after writing (IN_CLOSE_WRITE),
// a name renamed into or out of a directory (IN_MOVED_TO / IN_MOVED_FROM: write-then-rename, a
// ConfigMap volume's `..data` symlink swap, `git checkout`), a directory or symlink created or
// deleted. A write alone (IN_MODIFY) is not: it marks the file as being written, and while any
// file is being written the report waits for its close, so a slow in-place write or a `cp -r`
// in progress is never loaded half done. A file that has not been written to for
// `max_delay` is no longer waited for (a writer that keeps a file open and idle).
//
// inotify is not recursive: every directory of the tree gets its own watch, and the set of watches
// is re-synchronised with the directories that exist before each report, so new subdirectories
// are picked up (the load that follows the report lists the tree again, so files created in a new
// directory before its watch existed are not missed). The root's parent is watched too, for the
// root itself being replaced: a directory renamed over it, or a symlink swapped. Inside the tree
// the events that matter are those on *.yaml / *.yml names, on directories, and on `..`-prefixed
// names (a Kubernetes ConfigMap volume swaps its `..data` symlink to publish an update); editor
// swap files and the like are ignored; so are creations and deletions of names of any other kind
// (a FIFO or socket dropped into the tree is reported by the load that follows). A queue overflow
// (IN_Q_OVERFLOW) triggers a full reload.
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
#include <utility>
#include <vector>

#include "netagent/common/result.hpp"

namespace netagent::source {

struct WatchOptions {
  // Quiet time after the last completed change before reporting: `cp -r`, `git checkout`,
  // editors and `kubectl`-style writers complete several files in a burst.
  std::chrono::milliseconds settle{250};
  // Upper bound from the first change to the report, so a tree that keeps changing is still
  // loaded. Files being written (modified, not yet closed) hold the report beyond it until they
  // are closed, or until they have not been written to for this long.
  std::chrono::milliseconds max_delay{5000};
};

struct WatchStats {
  uint64_t events = 0;          // inotify events read
  uint64_t relevant = 0;        // events that can change the manifests
  uint64_t overflows = 0;       // IN_Q_OVERFLOW
  uint64_t reports = 0;         // settled change reports
  uint64_t writes_waited = 0;   // reports held back because a file was being written
  uint64_t stale_writers = 0;   // files no longer waited for: written to, idle for max_delay
  size_t watches = 0;           // directories watched now (the root's parent not counted)
  uint64_t watch_failures = 0;  // inotify_add_watch refused (ENOSPC: max_user_watches)
  // A change seen and not reported yet (settling, or waiting for files being written).
  bool pending = false;
  std::vector<std::string> writing;  // files being written now (modified, not closed)
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
  size_t sync_watches();  // returns how many directories got a new watch
  void wait_for_events();
  void read_events();
  void schedule_report(std::chrono::steady_clock::time_point now);
  void arm_timer(std::chrono::steady_clock::time_point at);
  void on_timer();
  void publish_pending();

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
  // Files written to and not closed yet: (wd, name) -> when last written.
  std::map<std::pair<int, std::string>, std::chrono::steady_clock::time_point> writers_;
  mutable std::mutex stats_mu_;  // stats() may be called from any thread
  WatchStats stats_;
  std::shared_ptr<bool> alive_;  // handlers hold a weak_ptr: nothing runs after destruction
};

}  // namespace netagent::source
