#pragma once
// Test hosts as network namespaces, veth links, bpffs pin directories, cgroups and child
// processes. Every name carries a per-test unique suffix, and every object removes itself in its
// destructor, so tests can run in parallel and clean up even when an assertion fails.
//
// Processes are started in a namespace with `nsenter --net=/run/netns/NAME`, never with
// `ip netns exec`: the latter remounts /sys, which hides bpffs and cgroup v2 from the process.
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace netagent::testing {

// Short unique token (6 chars) for names: interface names are limited to 15 characters.
std::string unique_suffix();

// Runs a shell command; returns its exit status and (optionally) its combined stdout/stderr.
int sh(const std::string& cmd, std::string* output = nullptr);
// Like sh() but throws std::runtime_error with the output when the command fails.
std::string sh_ok(const std::string& cmd);

bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step = std::chrono::milliseconds(20));

class NetNs {
 public:
  // Creates namespace "<base>-<suffix>" with loopback up.
  explicit NetNs(const std::string& base);
  ~NetNs();
  NetNs(const NetNs&) = delete;
  NetNs& operator=(const NetNs&) = delete;

  const std::string& name() const { return name_; }
  std::string path() const { return "/run/netns/" + name_; }
  // Prefix that runs a command inside this namespace (keeps the root mount namespace).
  std::string prefix() const { return "nsenter --net=" + path() + " "; }
  int sh(const std::string& cmd, std::string* output = nullptr) const;
  std::string sh_ok(const std::string& cmd) const;

 private:
  std::string name_;
};

// Creates a veth pair: `a_name` in namespace a, `b_name` in namespace b (nullptr = root), both up.
void make_veth(const std::string& a_name, const NetNs* a, const std::string& b_name,
               const NetNs* b);

// A unique directory under a bpffs mount (mounted at /sys/fs/bpf if needed); removed with
// everything pinned in it.
class BpffsDir {
 public:
  explicit BpffsDir(const std::string& base = "netagent-test");
  ~BpffsDir();
  BpffsDir(const BpffsDir&) = delete;
  BpffsDir& operator=(const BpffsDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A unique cgroup v2 directory; processes still in it are moved out before it is removed.
class Cgroup {
 public:
  explicit Cgroup(const std::string& base = "netagent-test");
  ~Cgroup();
  Cgroup(const Cgroup&) = delete;
  Cgroup& operator=(const Cgroup&) = delete;
  const std::string& path() const { return path_; }
  void add_pid(pid_t pid) const;
  // A prefix that runs a shell command with the shell placed in this cgroup first.
  std::string enter_prefix() const;
  static std::string root();  // the cgroup v2 mount point

 private:
  std::string path_;
};

class TempDir {
 public:
  explicit TempDir(const std::string& base = "netagent-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A child process (optionally inside a namespace), killed on destruction. stdout and stderr go to
// `log_path` when given.
class Process {
 public:
  Process(std::vector<std::string> argv, const NetNs* ns = nullptr, std::string log_path = "");
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool alive();
  void signal(int sig);
  // Sends sig and waits up to `timeout` for exit; SIGKILL after that. Returns the wait status.
  int stop(int sig, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  const std::string& log_path() const { return log_; }
  std::string log() const;

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  bool reaped_ = false;
  std::string log_;
};

}  // namespace netagent::testing
