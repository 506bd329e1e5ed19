#include "netagent/source/tree_watcher.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <algorithm>

#include <cerrno>
#include <cstring>
#include <set>

#include "netagent/source/manifest_tree.hpp"

namespace netagent::source {
namespace fs = std::filesystem;

namespace {

// Changes that can alter what the tree contains. IN_MODIFY as well as IN_CLOSE_WRITE: a writer
// that keeps the file open still changes it; the debounce folds the burst into one report.
constexpr uint32_t kTreeMask = IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM |
                               IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
constexpr uint32_t kParentMask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR;

bool relevant_name(const std::string& name, uint32_t mask) {
  if (name.empty() || (mask & IN_ISDIR)) return true;
  if (name.rfind("..", 0) == 0) return true;  // ConfigMap volume: ..data, ..2024_...
  return is_manifest_name(name);
}

}  // namespace

TreeWatcher::TreeWatcher(boost::asio::io_context& io, fs::path root, WatchOptions options)
    : io_(io), root_(std::move(root)), options_(options), timer_(io) {
  fs::path abs = fs::absolute(root_).lexically_normal();
  if (abs.filename().empty()) abs = abs.parent_path();  // "dir/" -> "dir"
  parent_ = abs.parent_path();
  root_name_ = abs.filename().string();
}

TreeWatcher::~TreeWatcher() {
  stop();
}

Status TreeWatcher::start(ChangeFn on_change) {
  stop();
  int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return sys_error("inotify_init1 for " + root_.string());
  on_change_ = std::move(on_change);
  alive_ = std::make_shared<bool>(true);
  fd_ = std::make_unique<boost::asio::posix::stream_descriptor>(io_, fd);
  if (!parent_.empty() && !root_name_.empty()) {
    parent_wd_ = ::inotify_add_watch(fd, parent_.c_str(), kParentMask);
  }
  sync_watches();
  wait_for_events();
  return {};
}

void TreeWatcher::stop() {
  alive_.reset();
  timer_.cancel();
  pending_ = false;
  if (fd_) {
    boost::system::error_code ec;
    fd_->close(ec);  // closing the inotify fd drops every watch
    fd_.reset();
  }
  watches_.clear();
  parent_wd_ = -1;
  std::lock_guard lock(stats_mu_);
  stats_.watches = 0;
}

WatchStats TreeWatcher::stats() const {
  std::lock_guard lock(stats_mu_);
  return stats_;
}

void TreeWatcher::sync_watches() {
  if (!fd_) return;
  int fd = fd_->native_handle();
  auto listing = list_tree(root_);
  std::map<int, fs::path> next;
  uint64_t failed = 0;
  for (const auto& dir : listing.dirs) {
    // Adding a watch for an inode already watched returns the same wd (and sets its mask).
    int wd = ::inotify_add_watch(fd, dir.c_str(), kTreeMask);
    if (wd >= 0) {
      next[wd] = dir;
    } else if (errno != ENOENT) {  // ENOENT: removed since it was listed, nothing to watch
      if (failed++ == 0) {
        // ENOSPC: the fs.inotify.max_user_watches sysctl is exhausted.
        spdlog::warn(
            "manifests {}: cannot watch {} ({}); edits there are seen only with the "
            "next change elsewhere or a reload",
            root_.string(), dir.string(), std::strerror(errno));
      }
    }
  }
  for (const auto& [wd, path] : watches_) {
    if (!next.count(wd) && wd != parent_wd_) ::inotify_rm_watch(fd, wd);
  }
  watches_ = std::move(next);
  std::lock_guard lock(stats_mu_);
  stats_.watches = watches_.size();
  stats_.watch_failures += failed;
}

void TreeWatcher::wait_for_events() {
  std::weak_ptr<bool> alive = alive_;
  fd_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                  [this, alive](const boost::system::error_code& ec) {
                    if (alive.expired() || ec) return;
                    read_events();
                    wait_for_events();
                  });
}

void TreeWatcher::read_events() {
  // Aligned as inotify(7) recommends for struct inotify_event.
  alignas(struct inotify_event) char buf[16384];
  bool relevant = false;
  for (;;) {
    ssize_t n = ::read(fd_->native_handle(), buf, sizeof buf);
    if (n <= 0) break;  // EAGAIN: drained
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<struct inotify_event*>(p);
      p += sizeof(struct inotify_event) + ev->len;
      std::lock_guard lock(stats_mu_);
      ++stats_.events;
      std::string name = ev->len ? std::string(ev->name) : std::string();
      if (ev->mask & IN_Q_OVERFLOW) {
        ++stats_.overflows;
        relevant = true;
        continue;
      }
      if (ev->mask & IN_IGNORED) {  // the watched directory is gone
        watches_.erase(ev->wd);
        if (ev->wd == parent_wd_) parent_wd_ = -1;
        continue;
      }
      bool hit = ev->wd == parent_wd_ ? name == root_name_ : relevant_name(name, ev->mask);
      if (hit) {
        ++stats_.relevant;
        relevant = true;
      }
    }
  }
  if (relevant) schedule_report();
}

void TreeWatcher::schedule_report() {
  auto now = std::chrono::steady_clock::now();
  if (!pending_) {
    pending_ = true;
    first_change_ = now;
  }
  auto deadline = std::min(now + options_.debounce, first_change_ + options_.max_delay);
  timer_.expires_at(deadline);  // cancels the previous wait: its handler sees operation_aborted
  std::weak_ptr<bool> alive = alive_;
  timer_.async_wait([this, alive](const boost::system::error_code& ec) {
    if (alive.expired() || ec) return;
    pending_ = false;
    {
      std::lock_guard lock(stats_mu_);
      ++stats_.reports;
    }
    sync_watches();
    if (on_change_) on_change_();
  });
}

}  // namespace netagent::source
