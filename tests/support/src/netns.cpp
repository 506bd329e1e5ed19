#include "netagent/testing/netns.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

namespace netagent::testing {

std::string unique_suffix() {
  static std::atomic<unsigned> counter{0};
  static const unsigned seed = std::random_device{}();
  unsigned v = (seed ^ (unsigned(getpid()) * 2654435761u)) + counter.fetch_add(1) * 7919u;
  static const char* digits = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string s;
  for (int i = 0; i < 6; ++i) {
    s += digits[v % 36];
    v /= 36;
  }
  return s;
}

int sh(const std::string& cmd, std::string* output) {
  std::string full = cmd + " 2>&1";
  FILE* p = popen(full.c_str(), "r");
  if (!p) return -1;
  std::array<char, 4096> buf;
  std::string out;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0)
    out.append(buf.data(), n);
  int st = pclose(p);
  if (output) *output = std::move(out);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

std::string sh_ok(const std::string& cmd) {
  std::string out;
  int rc = sh(cmd, &out);
  if (rc != 0)
    throw std::runtime_error("command failed (" + std::to_string(rc) + "): " + cmd + "\n" + out);
  return out;
}

bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
  }
}

NetNs::NetNs(const std::string& base) : name_(base + "-" + unique_suffix()) {
  ::netagent::testing::sh_ok("ip netns add " + name_);
  ::netagent::testing::sh_ok("ip -n " + name_ + " link set lo up");
}

NetNs::~NetNs() {
  // Kill anything still running in the namespace, then remove it.
  std::string pids;
  if (::netagent::testing::sh("ip netns pids " + name_, &pids) == 0) {
    std::istringstream in(pids);
    pid_t p;
    while (in >> p)
      ::kill(p, SIGKILL);
  }
  ::netagent::testing::sh("ip netns del " + name_);
}

int NetNs::sh(const std::string& cmd, std::string* output) const {
  return ::netagent::testing::sh(prefix() + "sh -c '" + cmd + "'", output);
}

std::string NetNs::sh_ok(const std::string& cmd) const {
  return ::netagent::testing::sh_ok(prefix() + "sh -c '" + cmd + "'");
}

void make_veth(const std::string& a_name, const NetNs* a, const std::string& b_name,
               const NetNs* b) {
  // Create both ends directly in their namespaces: no interface ever appears in the root
  // namespace unless asked for (b == nullptr).
  std::string cmd = "ip link add " + a_name;
  if (a) cmd += " netns " + a->name();
  cmd += " type veth peer name " + b_name;
  if (b) cmd += " netns " + b->name();
  sh_ok(cmd);
  sh_ok((a ? "ip -n " + a->name() : std::string("ip")) + " link set " + a_name + " up");
  sh_ok((b ? "ip -n " + b->name() : std::string("ip")) + " link set " + b_name + " up");
}

BpffsDir::BpffsDir(const std::string& base) {
  struct statfs st {};
  if (statfs("/sys/fs/bpf", &st) != 0 || st.f_type != BPF_FS_MAGIC) {
    mkdir("/sys/fs/bpf", 0755);
    if (mount("bpffs", "/sys/fs/bpf", "bpf", 0, nullptr) != 0) {
      throw std::runtime_error("cannot mount bpffs at /sys/fs/bpf");
    }
  }
  path_ = "/sys/fs/bpf/" + base + "-" + unique_suffix();
  if (mkdir(path_.c_str(), 0700) != 0) throw std::runtime_error("mkdir " + path_);
}

BpffsDir::~BpffsDir() {
  ::netagent::testing::sh("rm -rf " + path_);
}

std::string Cgroup::root() {
  // Hybrid layout (these machines): cgroup2 at /sys/fs/cgroup/unified; unified layout:
  // /sys/fs/cgroup.
  struct statfs st {};
  if (statfs("/sys/fs/cgroup/unified", &st) == 0 && st.f_type == 0x63677270) {
    return "/sys/fs/cgroup/unified";
  }
  return "/sys/fs/cgroup";
}

Cgroup::Cgroup(const std::string& base) : path_(root() + "/" + base + "-" + unique_suffix()) {
  if (mkdir(path_.c_str(), 0755) != 0) throw std::runtime_error("mkdir " + path_);
}

void Cgroup::add_pid(pid_t pid) const {
  std::ofstream f(path_ + "/cgroup.procs");
  f << pid << "\n";
  if (!f.flush()) throw std::runtime_error("cannot move pid into " + path_);
}

std::string Cgroup::enter_prefix() const {
  return "echo $$ > " + path_ + "/cgroup.procs && ";
}

Cgroup::~Cgroup() {
  std::ifstream in(path_ + "/cgroup.procs");
  pid_t p;
  std::vector<pid_t> pids;
  while (in >> p)
    pids.push_back(p);
  for (pid_t q : pids) {
    std::ofstream out(root() + "/cgroup.procs");
    out << q << "\n";
  }
  rmdir(path_.c_str());
}

TempDir::TempDir(const std::string& base) {
  std::string tmpl = "/tmp/" + base + "-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp");
  path_ = tmpl;
}

TempDir::~TempDir() {
  if (!std::getenv("NETAGENT_KEEP_TEST_DIRS")) ::netagent::testing::sh("rm -rf " + path_);
}

Process::Process(std::vector<std::string> argv, const NetNs* ns, std::string log_path)
    : log_(std::move(log_path)) {
  if (ns) {
    argv.insert(argv.begin(), {"nsenter", "--net=" + ns->path()});
  }
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    setpgid(0, 0);
    if (!log_.empty()) {
      int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
      }
    }
    std::vector<char*> args;
    for (auto& a : argv)
      args.push_back(a.data());
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
}

bool Process::alive() {
  if (reaped_) return false;
  int st;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    status_ = st;
    return false;
  }
  return true;
}

void Process::signal(int sig) {
  if (!reaped_) ::kill(pid_, sig);
}

int Process::stop(int sig, std::chrono::milliseconds timeout) {
  if (reaped_) return status_;
  ::kill(pid_, sig);
  if (!wait_until([&] { return !alive(); }, timeout, std::chrono::milliseconds(10))) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
    reaped_ = true;
  }
  return status_;
}

Process::~Process() {
  if (!reaped_) stop(SIGTERM, std::chrono::seconds(3));
  ::kill(-pid_, SIGKILL);  // the process group: children such as nsenter'd shells
}

std::string Process::log() const {
  std::ifstream in(log_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace netagent::testing
