// The kernel's Maglev tables: inner arrays in the hash-of-maps lb4_maglev.
#include <bpf/bpf.h>
#include <unistd.h>

#include <map>

#include "netagent/lb/lb_maps.hpp"

namespace netagent::lb {
namespace {

class KernelMaglevTables final : public MaglevTables {
 public:
  KernelMaglevTables(int outer_fd, uint32_t table_size) : outer_(outer_fd), m_(table_size) {
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(outer_fd, &info, &len) == 0) max_ = info.max_entries;
  }
  ~KernelMaglevTables() override {
    for (const auto& [id, fd] : fds_)
      close(fd);
  }

  uint32_t table_size() const override { return m_; }
  uint32_t max_tables() const override { return max_; }

  Result<std::vector<uint32_t>> ids() override {
    std::vector<uint32_t> out;
    uint32_t key = 0, next = 0;
    const uint32_t* prev = nullptr;
    while (bpf_map_get_next_key(outer_, prev, &next) == 0) {
      out.push_back(next);
      key = next;
      prev = &key;
    }
    if (errno != ENOENT) return sys_error("iterate map lb4_maglev");
    return out;
  }

  Result<std::optional<Table>> read(uint32_t id) override {
    uint32_t inner_id = 0;
    if (bpf_map_lookup_elem(outer_, &id, &inner_id) != 0) {
      if (errno != ENOENT) return sys_error("look up Maglev table " + std::to_string(id));
      forget(id);
      return std::optional<Table>();
    }
    // Someone replaced the outer entry: the inner map cached for rewrites is not the table.
    if (auto it = fds_.find(id); it != fds_.end()) {
      bpf_map_info info{};
      uint32_t len = sizeof(info);
      if (bpf_obj_get_info_by_fd(it->second, &info, &len) != 0 || info.id != inner_id) forget(id);
    }
    int fd = table_fd(id);
    if (fd < 0) return std::optional<Table>(Table{});
    Table t(m_);
    const uint32_t zero = 0;
    if (bpf_map_lookup_elem(fd, &zero, t.data()) != 0) {
      return sys_error("read Maglev table " + std::to_string(id));
    }
    return std::optional<Table>(std::move(t));
  }

  Result<bool> rewrite(uint32_t id, const Table& table) override {
    int fd = table_fd(id);
    if (fd < 0) return false;
    const uint32_t zero = 0;
    if (bpf_map_update_elem(fd, &zero, table.data(), BPF_EXIST) != 0) {
      return sys_error("rewrite Maglev table " + std::to_string(id));
    }
    return true;
  }

  // Each table is a fresh inner map inserted into the outer map. The kernel waits for an RCU
  // grace period after every update of a map-in-map (milliseconds each); one batch update waits
  // once.
  Status install(const std::vector<std::pair<uint32_t, Table>>& tables,
                 size_t* installed) override {
    *installed = 0;
    if (tables.empty()) return {};
    std::vector<uint32_t> ids;
    std::vector<int> fds;
    auto close_all = [&] {
      for (int fd : fds)
        close(fd);
    };
    for (const auto& [id, table] : tables) {
      int inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "lb4_maglev_in", sizeof(uint32_t),
                                 m_ * sizeof(uint32_t), 1, nullptr);
      if (inner < 0) {
        auto err = sys_error("create Maglev table " + std::to_string(id));
        close_all();
        return err;
      }
      fds.push_back(inner);
      const uint32_t zero = 0;
      if (bpf_map_update_elem(inner, &zero, table.data(), BPF_ANY) != 0) {
        auto err = sys_error("fill Maglev table " + std::to_string(id));
        close_all();
        return err;
      }
      ids.push_back(id);
    }
    uint32_t count = uint32_t(ids.size());
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    Status st;
    if (bpf_map_update_batch(outer_, ids.data(), fds.data(), &count, &opts) == 0) {
      *installed = ids.size();
    } else {
      // Older kernels, or a full outer map: one by one, so that what went in is known.
      for (; *installed < ids.size(); ++*installed) {
        size_t i = *installed;
        if (bpf_map_update_elem(outer_, &ids[i], &fds[i], BPF_ANY) != 0) {
          st = sys_error("install Maglev table " + std::to_string(ids[i]));
          break;
        }
      }
    }
    // Installed tables keep their fds (for in-place rewrites); the others are closed.
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i < *installed) {
        forget(ids[i]);
        fds_[ids[i]] = fds[i];
      } else {
        close(fds[i]);
      }
    }
    return st;
  }

  Status remove(const std::vector<uint32_t>& ids, size_t* removed) override {
    *removed = 0;
    if (ids.empty()) return {};
    // One RCU grace period for all of them.
    uint32_t count = uint32_t(ids.size());
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    if (bpf_map_delete_batch(outer_, ids.data(), &count, &opts) != 0) {
      for (; *removed < ids.size(); ++*removed) {
        uint32_t id = ids[*removed];
        if (bpf_map_delete_elem(outer_, &id) != 0 && errno != ENOENT) {
          return sys_error("remove Maglev table " + std::to_string(id));
        }
        forget(id);
      }
      return {};
    }
    for (uint32_t id : ids)
      forget(id);
    *removed = ids.size();
    return {};
  }

 private:
  // The inner map of table `id` if it can be rewritten in place (open, right size), or -1.
  int table_fd(uint32_t id) {
    if (auto it = fds_.find(id); it != fds_.end()) return it->second;
    // A table programmed by an earlier run: reopen its inner map by id, if it has the size
    // configured now (a changed table size means a new table).
    uint32_t inner_id = 0;
    if (bpf_map_lookup_elem(outer_, &id, &inner_id) != 0) return -1;
    int fd = bpf_map_get_fd_by_id(inner_id);
    if (fd < 0) return -1;
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0 || info.type != BPF_MAP_TYPE_ARRAY ||
        info.max_entries != 1 || info.value_size != m_ * sizeof(uint32_t)) {
      close(fd);
      return -1;
    }
    fds_[id] = fd;
    return fd;
  }
  void forget(uint32_t id) {
    if (auto it = fds_.find(id); it != fds_.end()) {
      close(it->second);
      fds_.erase(it);
    }
  }

  int outer_;
  uint32_t m_;
  uint32_t max_ = LB_MAX_SERVICES;  // the outer map's max_entries
  std::map<uint32_t, int> fds_;     // table id -> inner map fd (owned)
};

}  // namespace

std::unique_ptr<MaglevTables> kernel_maglev_tables(int outer_fd, uint32_t table_size) {
  return std::make_unique<KernelMaglevTables>(outer_fd, table_size);
}

}  // namespace netagent::lb
