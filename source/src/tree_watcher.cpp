#include "netagent/source/tree_watcher.hpp"

#include <sys/inotify.h>
#include <sys/stat.h>
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

// IN_MODIFY is watched only to know which files are being written: a report waits for their
// IN_CLOSE_WRITE. Renames, creations and deletions are complete changes.
constexpr uint32_t kTreeMask = IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM |
                               IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
constexpr uint32_t kParentMask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR;

// Names whose creation, deletion or rename can change what the tree holds: anything but hidden
// names (editors' swap and temporary files, .git), except the `..`-prefixed names of a ConfigMap
// volume (..data, ..2024_...). Non-manifest names count because a FIFO, socket or device dropped
// into the tree (or removed from it) is reported by the load.
bool structural_name(const std::string& name) {
  return name.empty() || name[0] != '.' || name.rfind("..", 0) == 0;
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
  writers_.clear();
  if (fd_) {
    boost::system::error_code ec;
    fd_->close(ec);  // closing the inotify fd drops every watch
    fd_.reset();
  }
  watches_.clear();
  parent_wd_ = -1;
  std::lock_guard lock(stats_mu_);
  stats_.watches = 0;
  stats_.pending = false;
  stats_.writing.clear();
}

WatchStats TreeWatcher::stats() const {
  std::lock_guard lock(stats_mu_);
  return stats_;
}

size_t TreeWatcher::sync_watches() {
  if (!fd_) return 0;
  int fd = fd_->native_handle();
  auto listing = list_tree(root_);
  std::map<int, fs::path> next;
  uint64_t failed = 0;
  size_t added = 0;
  for (const auto& dir : listing.dirs) {
    // Adding a watch for an inode already watched returns the same wd (and sets its mask).
    int wd = ::inotify_add_watch(fd, dir.c_str(), kTreeMask);
    if (wd >= 0) {
      if (!watches_.count(wd)) ++added;
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
  for (auto it = writers_.begin(); it != writers_.end();) {
    it = next.count(it->first.first) ? std::next(it) : writers_.erase(it);
  }
  watches_ = std::move(next);
  std::lock_guard lock(stats_mu_);
  stats_.watches = watches_.size();
  stats_.watch_failures += failed;
  return added;
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
  bool complete = false;  // a completed change: settle, then report
  bool writing = false;   // a file was written to: report nothing before it is closed
  uint64_t events = 0, relevant = 0, overflows = 0;
  auto now = std::chrono::steady_clock::now();
  for (;;) {
    ssize_t n = ::read(fd_->native_handle(), buf, sizeof buf);
    if (n <= 0) break;  // EAGAIN: drained
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<struct inotify_event*>(p);
      p += sizeof(struct inotify_event) + ev->len;
      ++events;
      std::string name = ev->len ? std::string(ev->name) : std::string();
      const uint32_t m = ev->mask;
      if (m & IN_Q_OVERFLOW) {
        // Events were lost (closes among them): reload, still waiting for the writers known.
        ++overflows;
        complete = true;
        continue;
      }
      if (m & IN_IGNORED) {  // the watched directory is gone
        watches_.erase(ev->wd);
        for (auto it = writers_.begin(); it != writers_.end();) {
          it = it->first.first == ev->wd ? writers_.erase(it) : std::next(it);
        }
        if (ev->wd == parent_wd_) parent_wd_ = -1;
        continue;
      }
      if (ev->wd == parent_wd_) {
        if (name == root_name_) {
          ++relevant;
          complete = true;
        }
        continue;
      }
      const bool dir = m & IN_ISDIR;
      const auto key = std::make_pair(ev->wd, name);
      bool hit = false;
      if (!dir && (m & IN_MODIFY) && is_manifest_name(name)) {
        writers_[key] = now;
        writing = true;
        ++relevant;
      }
      if (!dir && (m & IN_CREATE) && is_manifest_name(name)) {
        // A regular file created by open(O_CREAT) is being written: its close completes it. A
        // hard link (a complete file under a new name), a symlink, a FIFO, ... is complete now.
        struct stat st {};
        auto w = watches_.find(ev->wd);
        bool new_file = w != watches_.end() && ::lstat((w->second / name).c_str(), &st) == 0 &&
                        S_ISREG(st.st_mode) && st.st_nlink == 1;
        if (new_file) {
          writers_[key] = now;
          writing = true;
          ++relevant;
        } else {
          hit = true;
        }
      } else if (m & IN_CREATE) {
        hit = dir || structural_name(name);
      }
      if (m & IN_CLOSE_WRITE) {
        bool was_writing = writers_.erase(key) > 0;
        // Any visible name: a `Kustomization` or a generator's input file is read through a
        // kustomization (an unchanged tree is not delivered again, so others cost one listing).
        hit = hit || was_writing || is_manifest_name(name) || (!name.empty() && name[0] != '.');
      }
      if (m & (IN_DELETE | IN_MOVED_FROM)) {
        writers_.erase(key);
        hit = hit || dir || structural_name(name);
      }
      if (m & IN_MOVED_TO) hit = hit || dir || structural_name(name);
      if (m & (IN_DELETE_SELF | IN_MOVE_SELF)) hit = true;
      if (hit) {
        ++relevant;
        complete = true;
      }
    }
  }
  {
    std::lock_guard lock(stats_mu_);
    stats_.events += events;
    stats_.relevant += relevant;
    stats_.overflows += overflows;
  }
  if (complete) {
    schedule_report(now);
  } else if (writing && !pending_) {
    // The first sign of a change: pending from now (status shows it), reported once it settles
    // and the files written are closed.
    pending_ = true;
    first_change_ = now;
    arm_timer(now + options_.settle);
  }
  publish_pending();
}

void TreeWatcher::schedule_report(std::chrono::steady_clock::time_point now) {
  if (!pending_) {
    pending_ = true;
    first_change_ = now;
  }
  arm_timer(std::min(now + options_.settle, first_change_ + options_.max_delay));
}

void TreeWatcher::arm_timer(std::chrono::steady_clock::time_point at) {
  timer_.expires_at(at);  // cancels the previous wait: its handler sees operation_aborted
  std::weak_ptr<bool> alive = alive_;
  timer_.async_wait([this, alive](const boost::system::error_code& ec) {
    if (alive.expired() || ec) return;
    on_timer();
  });
}

void TreeWatcher::on_timer() {
  auto now = std::chrono::steady_clock::now();
  // New directories get their watches now; what happened in them before is read by the load,
  // but a copy into them may still be going on: give it one more quiet period to show itself.
  size_t added = sync_watches();
  std::vector<std::string> stale;
  auto next_stale = std::chrono::steady_clock::time_point::max();
  for (auto it = writers_.begin(); it != writers_.end();) {
    if (now - it->second >= options_.max_delay) {
      auto w = watches_.find(it->first.first);
      stale.push_back(w == watches_.end() ? it->first.second
                                          : (w->second / it->first.second).string());
      it = writers_.erase(it);
    } else {
      next_stale = std::min(next_stale, it->second + options_.max_delay);
      ++it;
    }
  }
  if (!stale.empty()) {
    std::string names;
    for (const auto& s : stale)
      names += (names.empty() ? "" : ", ") + s;
    spdlog::warn(
        "manifests {}: {} still open for writing, idle for {} ms: loading the tree as it is now",
        root_.string(), names, options_.max_delay.count());
    std::lock_guard lock(stats_mu_);
    stats_.stale_writers += stale.size();
  }
  if (!writers_.empty()) {
    // Half-written files are never loaded: wait for their close (which re-arms the timer), or
    // until they have been idle for max_delay.
    {
      std::lock_guard lock(stats_mu_);
      ++stats_.writes_waited;
    }
    spdlog::info("manifests {}: waiting for {} file(s) being written to be closed", root_.string(),
                 writers_.size());
    arm_timer(next_stale);
    publish_pending();
    return;
  }
  if (added > 0 && now < first_change_ + options_.max_delay) {
    arm_timer(std::min(now + options_.settle, first_change_ + options_.max_delay));
    return;
  }
  pending_ = false;
  {
    std::lock_guard lock(stats_mu_);
    ++stats_.reports;
  }
  publish_pending();
  if (on_change_) on_change_();
}

void TreeWatcher::publish_pending() {
  std::vector<std::string> writing;
  for (const auto& [key, at] : writers_) {
    auto w = watches_.find(key.first);
    writing.push_back(w == watches_.end() ? key.second : (w->second / key.second).string());
  }
  std::lock_guard lock(stats_mu_);
  stats_.pending = pending_;
  stats_.writing = std::move(writing);
}

}  // namespace netagent::source
