#include "netagent/datapath/attach.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <net/if.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <filesystem>

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

namespace netagent::datapath {
namespace {

bpf_tc_hook tc_hook_of(const TcHook& h) {
  bpf_tc_hook hook{};
  hook.sz = sizeof(hook);
  hook.ifindex = h.ifindex;
  hook.attach_point = h.direction == TcDirection::Ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS;
  return hook;
}

std::string describe(const TcHook& h) {
  char name[IF_NAMESIZE] = "?";
  if_indextoname(unsigned(h.ifindex), name);
  return std::string("tc ") + (h.direction == TcDirection::Ingress ? "ingress" : "egress") +
         " on " + name;
}

}  // namespace

Result<int> ifindex_of(const std::string& device) {
  unsigned idx = if_nametoindex(device.c_str());
  if (idx == 0) return sys_error("device " + device + " not found in this network namespace");
  return int(idx);
}

Status tc_attach(const TcHook& h, int prog_fd) {
  auto hook = tc_hook_of(h);
  int err = bpf_tc_hook_create(&hook);
  if (err && err != -EEXIST) return sys_error("create clsact qdisc for " + describe(h), -err);
  LIBBPF_OPTS(bpf_tc_opts, opts);
  opts.prog_fd = prog_fd;
  opts.flags = BPF_TC_F_REPLACE;
  opts.handle = h.handle;
  opts.priority = h.priority;
  err = bpf_tc_attach(&hook, &opts);
  if (err) return sys_error("attach " + describe(h), -err);
  return {};
}

Status tc_detach(const TcHook& h) {
  auto hook = tc_hook_of(h);
  LIBBPF_OPTS(bpf_tc_opts, opts);
  opts.handle = h.handle;
  opts.priority = h.priority;
  int err = bpf_tc_detach(&hook, &opts);
  if (err && err != -ENOENT && err != -EINVAL) return sys_error("detach " + describe(h), -err);
  return {};
}

Result<std::optional<uint32_t>> tc_attached_prog_id(const TcHook& h) {
  auto hook = tc_hook_of(h);
  LIBBPF_OPTS(bpf_tc_opts, opts);
  opts.handle = h.handle;
  opts.priority = h.priority;
  int err = bpf_tc_query(&hook, &opts);
  if (err == -ENOENT || err == -EINVAL) return std::optional<uint32_t>();
  if (err) return sys_error("query " + describe(h), -err);
  return std::optional<uint32_t>(opts.prog_id);
}

Result<std::optional<TcProgram>> tc_attached_prog(const TcHook& h) {
  auto id = tc_attached_prog_id(h);
  if (!id) return id.error();
  if (!*id) return std::optional<TcProgram>();
  TcProgram p;
  p.id = **id;
  int fd = bpf_prog_get_fd_by_id(p.id);
  if (fd < 0) {
    // Replaced or removed since the query: report it by id only.
    if (errno == ENOENT) return std::optional<TcProgram>();
    return sys_error("open program " + std::to_string(p.id) + " at " + describe(h));
  }
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  int err = bpf_obj_get_info_by_fd(fd, &info, &len);
  int e = errno;
  close(fd);
  if (err) return sys_error("read program " + std::to_string(p.id) + " at " + describe(h), e);
  p.name = info.name;
  return std::optional<TcProgram>(p);
}

bool prog_name_is(const std::string& kernel_name, const std::vector<std::string>& names) {
  if (kernel_name.empty()) return false;
  for (const auto& n : names) {
    // BPF_OBJ_NAME_LEN is 16 with the NUL.
    if (n.substr(0, 15) == kernel_name) return true;
  }
  return false;
}

Status tc_attach_owned(const TcHook& h, int prog_fd, const std::vector<std::string>& ours) {
  auto at = tc_attached_prog(h);
  if (!at) return at.error();
  if (*at && !prog_name_is((*at)->name, ours)) {
    return Error{describe(h) + " (handle " + std::to_string(h.handle) + ", priority " +
                     std::to_string(h.priority) + ") runs program " + std::to_string((*at)->id) +
                     " '" + (*at)->name +
                     "', which netagent did not attach there; it is left in place",
                 EEXIST};
  }
  if (*at) return tc_attach(h, prog_fd);  // ours: replaced atomically
  // Nothing there: attach without BPF_TC_F_REPLACE, so that a filter another tool installed
  // since the query is not replaced either.
  auto hook = tc_hook_of(h);
  int err = bpf_tc_hook_create(&hook);
  if (err && err != -EEXIST) return sys_error("create clsact qdisc for " + describe(h), -err);
  LIBBPF_OPTS(bpf_tc_opts, opts);
  opts.prog_fd = prog_fd;
  opts.handle = h.handle;
  opts.priority = h.priority;
  err = bpf_tc_attach(&hook, &opts);
  if (err == -EEXIST) {
    return Error{describe(h) + ": another filter appeared at handle " + std::to_string(h.handle) +
                     ", priority " + std::to_string(h.priority) + "; it is left in place",
                 EEXIST};
  }
  if (err) return sys_error("attach " + describe(h), -err);
  return {};
}

Status tc_detach_owned(const TcHook& h, const std::vector<std::string>& ours) {
  auto at = tc_attached_prog(h);
  if (!at) return at.error();
  if (!*at) return {};
  if (!prog_name_is((*at)->name, ours)) {
    return Error{describe(h) + " runs program " + std::to_string((*at)->id) + " '" + (*at)->name +
                     "', which netagent did not attach; it is left in place",
                 EPERM};
  }
  return tc_detach(h);
}

Result<uint32_t> prog_id_of(int prog_fd) {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) != 0) return sys_error("read program info");
  return info.id;
}

Result<bool> tc_runs(const TcHook& h, int prog_fd) {
  auto want = prog_id_of(prog_fd);
  if (!want) return want.error();
  auto now = tc_attached_prog_id(h);
  if (!now) return now.error();
  return *now && **now == *want;
}

ScopedTc& ScopedTc::operator=(ScopedTc&& o) noexcept {
  if (this != &o) {
    if (hook_) (void)tc_detach(*hook_);
    hook_ = o.hook_;
    o.hook_.reset();
  }
  return *this;
}

ScopedTc::~ScopedTc() {
  if (hook_) (void)tc_detach(*hook_);
}

Status cgroup_attach_pinned(const bpf_program* prog, const std::string& cgroup_path,
                            const std::string& pin_path) {
  const char* name = bpf_program__name(prog);
  if (bpf_link* existing = bpf_link__open(pin_path.c_str())) {
    int err = bpf_link__update_program(existing, const_cast<bpf_program*>(prog));
    bpf_link__disconnect(existing);  // keep the kernel link; we only drop our fd
    bpf_link__destroy(existing);
    if (err == 0) return {};
    // The pinned link is unusable (e.g. a different attach type): replace it below.
    unlink(pin_path.c_str());
  }
  int cg = open(cgroup_path.c_str(), O_RDONLY | O_DIRECTORY);
  if (cg < 0) return sys_error("open cgroup " + cgroup_path);
  bpf_link* link = bpf_program__attach_cgroup(prog, cg);
  int attach_err = errno;
  close(cg);
  if (!link)
    return sys_error(std::string("attach ") + name + " to cgroup " + cgroup_path, attach_err);
  int err = bpf_link__pin(link, pin_path.c_str());
  bpf_link__disconnect(link);
  bpf_link__destroy(link);
  if (err) return sys_error(std::string("pin cgroup link of ") + name + " at " + pin_path, -err);
  return {};
}

Result<bool> cgroup_link_runs(const bpf_program* prog, const std::string& cgroup_path,
                              const std::string& pin_path) {
  int fd = bpf_obj_get(pin_path.c_str());
  if (fd < 0) {
    if (errno == ENOENT) return false;
    return sys_error("open pinned link " + pin_path);
  }
  bpf_link_info info{};
  uint32_t len = sizeof(info);
  int err = bpf_obj_get_info_by_fd(fd, &info, &len) != 0 ? errno : 0;
  close(fd);
  if (err) return sys_error("read link info of " + pin_path, err);
  auto want = prog_id_of(bpf_program__fd(prog));
  if (!want) return want.error();
  // A detached cgroup link reports cgroup id 0; the id of a cgroup v2 directory is its inode.
  struct stat cg {};
  if (stat(cgroup_path.c_str(), &cg) != 0) return sys_error("stat cgroup " + cgroup_path);
  return info.type == BPF_LINK_TYPE_CGROUP && info.prog_id == *want &&
         info.cgroup.cgroup_id == uint64_t(cg.st_ino);
}

Status cgroup_detach_pinned(const std::string& pin_path) {
  if (unlink(pin_path.c_str()) != 0 && errno != ENOENT) return sys_error("unpin " + pin_path);
  return {};
}

bool is_bpffs(const std::string& path) {
  struct statfs st {};
  return statfs(path.c_str(), &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

Status ensure_bpffs_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  if (dir.rfind("/sys/fs/bpf", 0) == 0 && !is_bpffs("/sys/fs/bpf")) {
    mkdir("/sys/fs/bpf", 0755);
    if (mount("bpffs", "/sys/fs/bpf", "bpf", 0, nullptr) != 0) {
      return sys_error("mount bpffs at /sys/fs/bpf");
    }
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Error{"create pin directory " + dir + ": " + ec.message(), ec.value()};
  if (!is_bpffs(dir)) return Error{"pin directory " + dir + " is not on a bpffs mount"};
  return {};
}

}  // namespace netagent::datapath
