#pragma once
// Attaching programs so that they outlive the agent.
//
// TC: a clsact qdisc with one filter per (device, direction, priority), installed with
// BPF_TC_F_REPLACE so a restarted agent swaps its new program in atomically. The filter stays
// attached when the agent exits; only an explicit detach removes it.
//
// cgroup: a bpf_link pinned in bpffs. On restart the agent opens the pinned link and updates its
// program in place (no window where the hook is empty).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "netagent/common/result.hpp"

struct bpf_program;

namespace netagent::datapath {

enum class TcDirection { Ingress, Egress };

struct TcHook {
  int ifindex = 0;
  TcDirection direction = TcDirection::Ingress;
  uint32_t priority = 1;
  uint32_t handle = 1;
};

Result<int> ifindex_of(const std::string& device);

// Attaches (or atomically replaces) prog_fd at hook; creates the clsact qdisc when missing.
Status tc_attach(const TcHook& hook, int prog_fd);
// Removes the filter at hook; a missing filter is not an error.
Status tc_detach(const TcHook& hook);
// The id of the program attached at hook, or nullopt.
Result<std::optional<uint32_t>> tc_attached_prog_id(const TcHook& hook);
// The kernel's id of a loaded program.
Result<uint32_t> prog_id_of(int prog_fd);
// Whether prog_fd is what runs at hook now (false: no filter there, or another program).
Result<bool> tc_runs(const TcHook& hook, int prog_fd);

// The program a TC filter runs: its id and its kernel name (at most 15 characters: the kernel
// truncates program names, "policy_from_endpoint" reads back as "policy_from_end").
struct TcProgram {
  uint32_t id = 0;
  std::string name;
};
// The program attached at hook, or nullopt.
Result<std::optional<TcProgram>> tc_attached_prog(const TcHook& hook);
// Whether a kernel program name is one of `names` (function names, compared as the kernel
// truncates them).
bool prog_name_is(const std::string& kernel_name, const std::vector<std::string>& names);

// Ownership-checked TC: `ours` names the programs (their function names) this caller may
// replace or remove at the hook. Attaching over a program not in `ours` is refused with an
// error that names it (EEXIST), and so is detaching one (EPERM): the caller never replaces or
// removes another tool's filter that happens to use the same handle and priority.
Status tc_attach_owned(const TcHook& hook, int prog_fd, const std::vector<std::string>& ours);
// Removes the filter at hook when it runs one of `ours`; nothing there is not an error.
Status tc_detach_owned(const TcHook& hook, const std::vector<std::string>& ours);

// Scoped TC attachment for tests: detaches on destruction.
class ScopedTc {
 public:
  ScopedTc() = default;
  ScopedTc(TcHook hook) : hook_(hook) {}  // NOLINT
  ScopedTc(ScopedTc&& o) noexcept : hook_(o.hook_) { o.hook_.reset(); }
  ScopedTc& operator=(ScopedTc&& o) noexcept;
  ~ScopedTc();

 private:
  std::optional<TcHook> hook_;
};

// Attaches prog to the cgroup through a link pinned at pin_path, or, when a link is already
// pinned there, points that link at prog (atomic replacement).
Status cgroup_attach_pinned(const bpf_program* prog, const std::string& cgroup_path,
                            const std::string& pin_path);
// Whether the link pinned at pin_path exists, is still attached to the cgroup at cgroup_path
// and runs prog (false: the pin is gone, the link was detached, or it runs another program).
Result<bool> cgroup_link_runs(const bpf_program* prog, const std::string& cgroup_path,
                              const std::string& pin_path);
// Unpins (and so detaches, once no fd holds it) the link at pin_path.
Status cgroup_detach_pinned(const std::string& pin_path);

// Mounts bpffs at /sys/fs/bpf when `dir` lies under it and it is not mounted, then creates dir.
Status ensure_bpffs_dir(const std::string& dir);
bool is_bpffs(const std::string& path);

}  // namespace netagent::datapath
