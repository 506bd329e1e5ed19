#pragma once
// Exactly one agent per --bpf-root: an exclusive flock(2) on the bpf-root directory itself, taken
// before any map is opened and held for the life of the process (`netagent --cleanup` takes the
// same lock). The lock lives in the kernel, on the directory's inode: nothing is written, a
// crashed or kill -9-ed holder releases it with its last file descriptor, and every agent and
// tool that opens the same directory (whatever path leads to it) contends for the same lock. A
// refused agent names the holder from /proc/locks: its pid and, from its command line, its
// --api-socket and --state-dir.
#include <sys/types.h>

#include <optional>
#include <string>

#include "netagent/common/result.hpp"

namespace netagent::agent {

// Who holds a flock on a file, as /proc/locks and /proc/<pid>/cmdline tell.
struct LockHolder {
  pid_t pid = 0;
  std::string api_socket;  // its --api-socket, when on its command line
  std::string state_dir;   // its --state-dir, when on its command line
  std::string command;     // its command line, space-separated
  std::string describe() const;
};

// The holder of a FLOCK on the file with device `dev` and inode `ino`, from /proc/locks.
std::optional<LockHolder> flock_holder(dev_t dev, ino_t ino);

class BpfRootLock {
 public:
  // Opens `bpf_root` (an existing directory) and takes an exclusive, non-blocking flock on it.
  // When another process holds it: an error whose errnum is EWOULDBLOCK and whose message names
  // the holder.
  static Result<BpfRootLock> acquire(const std::string& bpf_root);

  BpfRootLock() = default;
  BpfRootLock(BpfRootLock&& o) noexcept;
  BpfRootLock& operator=(BpfRootLock&& o) noexcept;
  BpfRootLock(const BpfRootLock&) = delete;
  BpfRootLock& operator=(const BpfRootLock&) = delete;
  ~BpfRootLock();

  bool held() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }
  // Releases the lock now (closing the descriptor).
  void release();

 private:
  int fd_ = -1;
  std::string path_;
};

}  // namespace netagent::agent
