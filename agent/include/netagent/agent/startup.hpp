#pragma once
// Start-up checks and host preparation for `netagent`, each failing with a message that says
// what is wrong and what to do, and its own exit code (exit_code.hpp). Run in this order by
// prepare_host(): privilege, descriptor limit, manifests, devices, API socket, cgroup v2, bpffs,
// directories.
#include <optional>
#include <string>
#include <vector>

#include "netagent/agent/config.hpp"

namespace netagent::agent {

struct StartupError {
  int exit_code;
  std::string message;
};
using Check = std::optional<StartupError>;

// Names of the capabilities the agent needs that the process lacks in its effective set:
// CAP_BPF (load programs, create maps), CAP_NET_ADMIN (TC, netlink), CAP_SYS_ADMIN (mount
// bpffs, attach to cgroups, pin).
std::vector<std::string> missing_capabilities();

Check check_privilege();
Check check_manifests(const Config& config);
Check check_devices(const Config& config);
Check check_api_socket(const Config& config);
// Fills config.cgroup with the cgroup v2 mount root when empty, and checks it is cgroup v2.
Check resolve_cgroup(Config& config);
// Mounts bpffs at /sys/fs/bpf if bpf-root lies under it and nothing is mounted there yet, then
// creates bpf-root. A bpf-root outside any bpffs is an error.
Check prepare_bpffs(const Config& config);
// Creates the state directory (0700) and the API socket's directory. An existing state directory
// with group or other bits (or setuid/setgid/sticky) is changed to 0700, with a log line.
Check prepare_dirs(const Config& config);
// chmod 0700 `path` unless it already has no group/other/special bits (logs when it changes it).
Status owner_only_dir(const std::string& path);

// Descriptors kept for everything but the HTTP listeners' connections: BPF maps, programs and
// links, BGP sessions, etcd, inotify, state files, the listening sockets.
inline constexpr uint64_t kFdReserve = 512;
// Raises the soft RLIMIT_NOFILE to the hard limit (config.fd_limit gets the result) and checks
// that the connection caps plus kFdReserve fit under it, so that no client of the API or of
// /metrics can starve the agent of descriptors.
Check raise_fd_limit(Config& config);

Check prepare_host(Config& config);

// The cgroup v2 mount point from /proc/self/mountinfo ("" when none is mounted). On hybrid
// systems (these machines) that is /sys/fs/cgroup/unified; on unified ones /sys/fs/cgroup.
std::string cgroup2_mount();

// mkdir -p with `mode` for the directories it creates.
Status make_dirs(const std::string& path, unsigned mode);

}  // namespace netagent::agent
