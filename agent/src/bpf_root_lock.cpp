#include "netagent/agent/bpf_root_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

namespace netagent::agent {

std::string LockHolder::describe() const {
  std::string s = "pid " + std::to_string(pid);
  if (!api_socket.empty()) s += ", --api-socket " + api_socket;
  if (!state_dir.empty()) s += ", --state-dir " + state_dir;
  if (api_socket.empty() && state_dir.empty() && !command.empty()) s += ": " + command;
  return s;
}

namespace {

LockHolder holder_of(pid_t pid) {
  LockHolder h;
  h.pid = pid;
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::vector<std::string> argv;
  for (std::string arg; std::getline(in, arg, '\0');)
    argv.push_back(arg);
  for (size_t i = 0; i < argv.size(); ++i) {
    h.command += (i ? " " : "") + argv[i];
    for (auto [flag, out] :
         {std::pair{"--api-socket", &h.api_socket}, std::pair{"--state-dir", &h.state_dir}}) {
      std::string f = flag;
      if (argv[i] == f && i + 1 < argv.size()) {
        *out = argv[i + 1];
      } else if (argv[i].rfind(f + "=", 0) == 0) {
        *out = argv[i].substr(f.size() + 1);
      }
    }
  }
  return h;
}

}  // namespace

std::optional<LockHolder> flock_holder(dev_t dev, ino_t ino) {
  // "1: FLOCK  ADVISORY  WRITE 4242 00:1f:13961 0 EOF" (locks.c: pid, then major:minor in hex
  // and the inode in decimal); waiters carry "->" and are skipped.
  std::ifstream in("/proc/locks");
  for (std::string line; std::getline(in, line);) {
    if (line.find("->") != std::string::npos) continue;
    std::istringstream ls(line);
    std::string n, kind, mode, access, where;
    long pid = 0;
    if (!(ls >> n >> kind >> mode >> access >> pid >> where) || kind != "FLOCK") continue;
    unsigned maj = 0, min = 0;
    unsigned long long inode = 0;
    if (std::sscanf(where.c_str(), "%x:%x:%llu", &maj, &min, &inode) != 3) continue;
    if (makedev(maj, min) != dev || inode != ino) continue;
    return holder_of(pid_t(pid));
  }
  return std::nullopt;
}

Result<BpfRootLock> BpfRootLock::acquire(const std::string& bpf_root) {
  BpfRootLock lock;
  lock.path_ = bpf_root;
  lock.fd_ = ::open(bpf_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (lock.fd_ < 0) return sys_error("open --bpf-root " + bpf_root + " to lock it");
  if (::flock(lock.fd_, LOCK_EX | LOCK_NB) == 0) return lock;
  int e = errno;
  if (e != EWOULDBLOCK) return sys_error("lock --bpf-root " + bpf_root, e);
  struct stat st {};
  std::optional<LockHolder> holder;
  if (::fstat(lock.fd_, &st) == 0) holder = flock_holder(st.st_dev, st.st_ino);
  return Error{"--bpf-root " + bpf_root + " is locked by another netagent (" +
                   (holder ? holder->describe() : std::string("holder unknown")) +
                   "): one agent per bpf-root; stop that agent first, or give this one its own "
                   "--bpf-root",
               EWOULDBLOCK};
}

BpfRootLock::BpfRootLock(BpfRootLock&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) {
  o.fd_ = -1;
}

BpfRootLock& BpfRootLock::operator=(BpfRootLock&& o) noexcept {
  if (this != &o) {
    release();
    fd_ = o.fd_;
    path_ = std::move(o.path_);
    o.fd_ = -1;
  }
  return *this;
}

BpfRootLock::~BpfRootLock() {
  release();
}

void BpfRootLock::release() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace netagent::agent
