#include "netagent/agent/startup.hpp"

#include <linux/capability.h>
#include <net/if.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "netagent/agent/exit_code.hpp"
#include "netagent/api/server.hpp"

#ifndef CAP_BPF
#define CAP_BPF 39  // Linux 5.8; older UAPI headers lack it
#endif

namespace netagent::agent {

namespace {

constexpr long kBpfFsMagic = 0xcafe4a11;    // BPF_FS_MAGIC, linux/magic.h
constexpr long kCgroup2Magic = 0x63677270;  // CGROUP2_SUPER_MAGIC
constexpr const char* kBpffsMountPoint = "/sys/fs/bpf";

bool fs_is(const std::string& path, long magic) {
  struct statfs st {};
  return ::statfs(path.c_str(), &st) == 0 && static_cast<long>(st.f_type) == magic;
}

bool is_dir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string errno_text(int e) {
  return std::strerror(e);
}

}  // namespace

std::vector<std::string> missing_capabilities() {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capget, &hdr, data) != 0) return {"CAP_BPF", "CAP_NET_ADMIN", "CAP_SYS_ADMIN"};
  auto has = [&](int cap) { return (data[cap / 32].effective >> (cap % 32)) & 1u; };
  std::vector<std::string> missing;
  if (!has(CAP_BPF)) missing.push_back("CAP_BPF");
  if (!has(CAP_NET_ADMIN)) missing.push_back("CAP_NET_ADMIN");
  if (!has(CAP_SYS_ADMIN)) missing.push_back("CAP_SYS_ADMIN");
  return missing;
}

Check check_privilege() {
  auto missing = missing_capabilities();
  if (missing.empty()) return std::nullopt;
  std::string list;
  for (const auto& m : missing)
    list += (list.empty() ? "" : ", ") + m;
  return StartupError{kExitNoPrivilege,
                      "netagent needs CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN but lacks " + list +
                          " (running as uid " + std::to_string(::geteuid()) +
                          "): run it as root with these capabilities (in a DaemonSet: "
                          "privileged: true, or securityContext.capabilities.add)"};
}

Check check_manifests(const Config& c) {
  if (c.manifests.empty()) return std::nullopt;  // the Kubernetes API only
  struct stat st {};
  if (::stat(c.manifests.c_str(), &st) != 0) {
    int e = errno;
    return StartupError{kExitNoManifests, "manifests directory " + c.manifests + ": " +
                                              errno_text(e) +
                                              "; check --manifests (it must be an existing "
                                              "directory of Kubernetes manifests)"};
  }
  if (!S_ISDIR(st.st_mode)) {
    return StartupError{kExitNoManifests, "--manifests " + c.manifests +
                                              " is not a directory; point it at the directory "
                                              "that holds the manifests"};
  }
  if (::access(c.manifests.c_str(), R_OK | X_OK) != 0) {
    int e = errno;
    return StartupError{kExitNoManifests, "manifests directory " + c.manifests +
                                              " is not readable: " + errno_text(e)};
  }
  return std::nullopt;
}

Check check_devices(const Config& c) {
  for (const auto& d : c.devices) {
    if (::if_nametoindex(d.c_str()) == 0) {
      return StartupError{kExitNoDevice,
                          "device " + d +
                              " not found in this network namespace; check --devices (`ip link` "
                              "lists the devices here)"};
    }
  }
  return std::nullopt;
}

Check check_api_socket(const Config& c) {
  if (api::socket_answers(c.api_socket)) {
    return StartupError{kExitAlreadyRunning,
                        "API socket " + c.api_socket +
                            " is in use by a running netagent; stop it first, or give this "
                            "agent its own --api-socket"};
  }
  return std::nullopt;
}

std::string cgroup2_mount() {
  // mountinfo(5): "... mount-point ... - fstype source options"
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  std::string found;
  while (std::getline(in, line)) {
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype;
    tail >> fstype;
    if (fstype != "cgroup2") continue;
    std::istringstream head(line.substr(0, dash));
    std::string id, parent, devno, root, mount_point;
    head >> id >> parent >> devno >> root >> mount_point;
    // Prefer the conventional places when several cgroup2 mounts exist.
    if (mount_point == "/sys/fs/cgroup/unified" || mount_point == "/sys/fs/cgroup") {
      return mount_point;
    }
    if (found.empty()) found = mount_point;
  }
  return found;
}

Check resolve_cgroup(Config& c) {
  if (c.cgroup.empty()) {
    c.cgroup = cgroup2_mount();
    if (c.cgroup.empty()) {
      return StartupError{kExitHostSetup,
                          "no cgroup v2 mount found; mount one (mount -t cgroup2 none "
                          "/sys/fs/cgroup/unified) or pass --cgroup PATH"};
    }
    return std::nullopt;
  }
  if (!is_dir(c.cgroup)) {
    return StartupError{kExitBadConfig, "--cgroup " + c.cgroup + " does not exist"};
  }
  if (!fs_is(c.cgroup, kCgroup2Magic)) {
    std::string mount = cgroup2_mount();
    return StartupError{kExitBadConfig,
                        "--cgroup " + c.cgroup + " is not a cgroup v2 directory" +
                            (mount.empty() ? std::string(" (no cgroup v2 is mounted)")
                                           : " (cgroup v2 is mounted at " + mount + ")")};
  }
  return std::nullopt;
}

Status make_dirs(const std::string& path, unsigned mode) {
  std::string at;
  std::stringstream ss(path);
  std::string part;
  while (std::getline(ss, part, '/')) {
    if (part.empty()) continue;
    at += "/" + part;
    if (::mkdir(at.c_str(), mode) != 0 && errno != EEXIST) return sys_error("mkdir " + at);
    if (!is_dir(at)) return Error{at + " exists and is not a directory", ENOTDIR};
  }
  return {};
}

Check prepare_bpffs(const Config& c) {
  // The deepest existing ancestor tells whether bpf-root is (or will be) on a bpffs.
  std::filesystem::path p(c.bpf_root);
  std::filesystem::path existing = p;
  while (!existing.empty() && existing != existing.root_path() && !is_dir(existing.string())) {
    existing = existing.parent_path();
  }
  if (!fs_is(existing.string(), kBpfFsMagic)) {
    const std::string root = kBpffsMountPoint;
    const bool under_default = c.bpf_root == root || c.bpf_root.rfind(root + "/", 0) == 0;
    if (!under_default) {
      return StartupError{kExitHostSetup,
                          "--bpf-root " + c.bpf_root +
                              " is not on a bpffs; choose a path under /sys/fs/bpf, or mount "
                              "bpffs above it (mount -t bpf bpf DIR)"};
    }
    if (!fs_is(root, kBpfFsMagic)) {
      if (auto st = make_dirs(root, 0755); !st) {
        return StartupError{kExitHostSetup, "cannot create " + root + ": " + st.error().str()};
      }
      // Pinning (bpf(2) BPF_OBJ_PIN) needs a bpffs; Debian does not mount one at boot.
      if (::mount("bpf", root.c_str(), "bpf", 0, nullptr) != 0) {
        int e = errno;
        return StartupError{kExitHostSetup, "cannot mount bpffs at " + root + ": " + errno_text(e) +
                                                "; mount it yourself (mount -t bpf bpf " + root +
                                                ")"};
      }
    }
  }
  if (auto st = make_dirs(c.bpf_root, 0700); !st) {
    return StartupError{kExitHostSetup,
                        "cannot create --bpf-root " + c.bpf_root + ": " + st.error().str()};
  }
  if (!fs_is(c.bpf_root, kBpfFsMagic)) {
    return StartupError{kExitHostSetup, "--bpf-root " + c.bpf_root + " is not on a bpffs"};
  }
  return std::nullopt;
}

Status owner_only_dir(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return sys_error("stat " + path);
  const unsigned mode = st.st_mode & 07777;
  if ((mode & 07077) != 0) {
    if (::chmod(path.c_str(), 0700) != 0) return sys_error("chmod 0700 " + path);
    spdlog::warn("--state-dir {} was mode {:04o}; changed it to 0700 (its files are the agent's)",
                 path, mode);
  }
  // State files an earlier version wrote with group/other bits (lb-ipam.json was 0644).
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(path, ec)) {
    struct stat fst {};
    if (::lstat(e.path().c_str(), &fst) != 0 || !S_ISREG(fst.st_mode)) continue;
    const unsigned fmode = fst.st_mode & 07777;
    if ((fmode & 07077) == 0) continue;
    if (::chmod(e.path().c_str(), 0600) != 0) return sys_error("chmod 0600 " + e.path().string());
    spdlog::warn("state file {} was mode {:04o}; changed it to 0600", e.path().string(), fmode);
  }
  return {};
}

Check prepare_dirs(const Config& c) {
  if (auto st = make_dirs(c.state_dir, 0700); !st) {
    return StartupError{kExitHostSetup,
                        "cannot create --state-dir " + c.state_dir + ": " + st.error().str()};
  }
  if (auto st = owner_only_dir(c.state_dir); !st) {
    return StartupError{kExitHostSetup, "--state-dir " + c.state_dir + ": " + st.error().str()};
  }
  std::string socket_dir = std::filesystem::path(c.api_socket).parent_path().string();
  if (auto st = make_dirs(socket_dir, 0755); !st) {
    return StartupError{kExitHostSetup, "cannot create the API socket's directory " + socket_dir +
                                            ": " + st.error().str()};
  }
  return std::nullopt;
}

Check raise_fd_limit(Config& c) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    return StartupError{kExitHostSetup, "getrlimit(RLIMIT_NOFILE): " + errno_text(errno)};
  }
  const rlim_t before = rl.rlim_cur;
  if (rl.rlim_cur != rl.rlim_max) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      rl = raised;
    } else {
      spdlog::warn("cannot raise the file descriptor limit from {} to the hard limit {}: {}",
                   before, rl.rlim_max, errno_text(errno));
    }
  }
  c.fd_limit = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : uint64_t(rl.rlim_cur);
  const uint64_t caps = uint64_t(c.api_max_connections) + c.metrics_max_connections;
  const uint64_t needed = caps + kFdReserve;
  if (c.fd_limit < needed) {
    return StartupError{
        kExitHostSetup,
        "the file descriptor limit (ulimit -n, hard " + std::to_string(rl.rlim_max) + ") is " +
            std::to_string(c.fd_limit) + ", below the " + std::to_string(needed) +
            " the agent needs: --api-max-connections " + std::to_string(c.api_max_connections) +
            " + --metrics-max-connections " + std::to_string(c.metrics_max_connections) +
            " + a reserve of " + std::to_string(kFdReserve) +
            " for maps, programs, sessions and state files; raise the limit (systemd "
            "LimitNOFILE=, ulimit -Hn) or lower the caps"};
  }
  spdlog::info(
      "file descriptors: limit {} (was {}); HTTP connections capped at {} (API {}, metrics {}), "
      "{} kept for the rest",
      c.fd_limit, before, caps, c.api_max_connections, c.metrics_max_connections,
      c.fd_limit - caps);
  return std::nullopt;
}

Check prepare_host(Config& c) {
  if (auto e = check_privilege()) return e;
  if (auto e = raise_fd_limit(c)) return e;
  if (auto e = check_manifests(c)) return e;
  if (auto e = check_devices(c)) return e;
  if (auto e = check_api_socket(c)) return e;
  if (auto e = resolve_cgroup(c)) return e;
  if (auto e = prepare_bpffs(c)) return e;
  if (auto e = prepare_dirs(c)) return e;
  return std::nullopt;
}

}  // namespace netagent::agent
