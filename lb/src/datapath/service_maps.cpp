#include "netagent/lb/service_maps.hpp"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

namespace netagent::lb {
namespace {

lb4_svc_key svc_key(const FrontendKey& k, uint16_t slot) {
  lb4_svc_key key{};
  key.address = k.addr.to_be();
  key.dport = htons(k.port);
  key.backend_slot = slot;
  key.proto = k.proto;
  key.scope = k.scope;
  return key;
}

FrontendKey frontend_of(const lb4_svc_key& k) {
  return FrontendKey{Ipv4Addr::from_be(k.address), ntohs(k.dport), k.proto, k.scope};
}

lb4_backend backend_value(const BackendInfo* info, const BackendAddr& a) {
  lb4_backend v{};
  v.address = a.addr.to_be();
  v.port = htons(a.port);
  v.proto = a.proto;
  if (info) {
    v.flags =
        uint8_t((info->local ? LB_BE_F_LOCAL : 0) | (info->terminating ? LB_BE_F_TERMINATING : 0));
    v.cluster_id = info->cluster_id;
  }
  return v;
}

// New slot contents for `want` (backend ids), keeping every backend that stays in its slot so
// that a change rewrites as few entries as possible.
std::vector<uint32_t> assign_slots(const std::vector<uint32_t>& old_live,
                                   const std::vector<uint32_t>& want) {
  std::vector<uint32_t> out(want.size(), 0);
  std::set<uint32_t> wanted(want.begin(), want.end()), placed;
  for (size_t i = 0; i < std::min(out.size(), old_live.size()); ++i) {
    if (wanted.count(old_live[i]) && placed.insert(old_live[i]).second) out[i] = old_live[i];
  }
  size_t hole = 0;
  for (uint32_t id : want) {
    if (placed.count(id)) continue;
    while (out[hole] != 0)
      ++hole;
    out[hole] = id;
    placed.insert(id);
  }
  return out;
}

// New Maglev tables, installed together. Each table is a fresh inner map inserted into the outer
// map. The kernel waits for an RCU grace period after every update of a map-in-map (milliseconds
// each); one batch update waits once. Tables that exist are rewritten in place instead (no wait).
class MaglevBatch {
 public:
  ~MaglevBatch() {
    for (int fd : fds_)
      close(fd);
  }
  Status add(uint32_t table_id, const std::vector<uint32_t>& table, uint32_t m) {
    int inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "lb4_maglev_in", sizeof(uint32_t),
                               m * sizeof(uint32_t), 1, nullptr);
    if (inner < 0) return sys_error("create Maglev table " + std::to_string(table_id));
    fds_.push_back(inner);
    uint32_t zero = 0;
    if (bpf_map_update_elem(inner, &zero, table.data(), BPF_ANY) != 0) {
      return sys_error("fill Maglev table " + std::to_string(table_id));
    }
    ids_.push_back(table_id);
    return {};
  }
  Status install(int outer_fd) {
    if (ids_.empty()) return {};
    uint32_t count = uint32_t(ids_.size());
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    if (bpf_map_update_batch(outer_fd, ids_.data(), fds_.data(), &count, &opts) == 0) return {};
    // Older kernels: one by one.
    for (size_t i = 0; i < ids_.size(); ++i) {
      if (bpf_map_update_elem(outer_fd, &ids_[i], &fds_[i], BPF_ANY) != 0) {
        return sys_error("install Maglev table " + std::to_string(ids_[i]));
      }
    }
    return {};
  }
  // After install(): the inner maps' fds, now the caller's to close.
  std::vector<std::pair<uint32_t, int>> release() {
    std::vector<std::pair<uint32_t, int>> out;
    for (size_t i = 0; i < ids_.size(); ++i)
      out.emplace_back(ids_[i], fds_[i]);
    ids_.clear();
    fds_.clear();
    return out;
  }

 private:
  std::vector<uint32_t> ids_;
  std::vector<int> fds_;
};

}  // namespace

ServiceMaps::ServiceMaps(LbDatapath& dp, std::chrono::milliseconds retire_grace)
    : dp_(dp), retire_grace_(retire_grace) {}

ServiceMaps::~ServiceMaps() {
  for (const auto& [id, fd] : table_fds_)
    close(fd);
}

int ServiceMaps::table_fd(uint32_t table_id) {
  if (auto it = table_fds_.find(table_id); it != table_fds_.end()) return it->second;
  // A table programmed by an earlier run: reopen its inner map by id, if it has the size
  // configured now (a changed table size means a new table).
  uint32_t inner_id = 0;
  if (bpf_map_lookup_elem(dp_.maglev_outer_fd, &table_id, &inner_id) != 0) return -1;
  int fd = bpf_map_get_fd_by_id(inner_id);
  if (fd < 0) return -1;
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0 || info.type != BPF_MAP_TYPE_ARRAY ||
      info.max_entries != 1 ||
      info.value_size != dp_.options().maglev_table_size * sizeof(uint32_t)) {
    close(fd);
    return -1;
  }
  table_fds_[table_id] = fd;
  return fd;
}

void ServiceMaps::forget_table(uint32_t table_id) {
  if (auto it = table_fds_.find(table_id); it != table_fds_.end()) {
    close(it->second);
    table_fds_.erase(it);
  }
}

Status ServiceMaps::remove_backend(uint32_t id) {
  if (auto st = dp_.backends.remove(id); !st) return st.error();
  used_backend_ids_.erase(id);
  auto addr = backend_addr_.find(id);
  if (addr != backend_addr_.end()) {
    backend_ids_.erase(addr->second);
    backend_addr_.erase(addr);
  }
  backend_refs_.erase(id);
  retired_.erase(id);
  return {};
}

Result<size_t> ServiceMaps::collect_retired(Clock::time_point now) {
  // Oldest first, so this stops at the first backend still in its grace.
  size_t removed = 0;
  while (!retire_queue_.empty() && now - retire_queue_.front().first >= retire_grace_) {
    auto [when, id] = retire_queue_.front();
    auto it = retired_.find(id);
    if (it != retired_.end() && it->second == when) {
      auto refs = backend_refs_.find(id);
      if (refs != backend_refs_.end() && refs->second > 0) {
        retired_.erase(it);  // wanted again
      } else {
        if (auto st = remove_backend(id); !st) return st.error();
        removed++;
      }
    }
    retire_queue_.pop_front();
  }
  return removed;
}

uint32_t ServiceMaps::alloc_id(std::set<uint32_t>& used, uint32_t& next, uint32_t max) {
  // Round-robin from the last id handed out: a freed id is reused as late as possible.
  for (uint32_t i = 0; i < max; ++i) {
    uint32_t id = next;
    next = next >= max ? 1 : next + 1;
    if (used.insert(id).second) return id;
  }
  return 0;
}

std::set<uint32_t> ServiceMaps::service_ids() const {
  std::set<uint32_t> out;
  for (const auto& [k, f] : frontends_) {
    if (f.svc_id) out.insert(f.svc_id);
  }
  return out;
}

void ServiceMaps::unref_backend(uint32_t id) {
  auto it = backend_refs_.find(id);
  if (it != backend_refs_.end() && it->second > 0 && --it->second == 0) unused_backends_.insert(id);
}

Status ServiceMaps::restore() {
  frontends_.clear();
  by_service_.clear();
  backend_ids_.clear();
  backend_addr_.clear();
  backend_refs_.clear();
  groups_.clear();
  retired_.clear();
  retire_queue_.clear();
  for (const auto& [id, fd] : table_fds_)
    close(fd);
  table_fds_.clear();
  auto st = dp_.backends.for_each([&](const uint32_t& id, const lb4_backend& b) {
    BackendAddr a{Ipv4Addr::from_be(b.address), ntohs(b.port), b.proto};
    backend_ids_[a] = id;
    backend_addr_[id] = a;
    backend_refs_[id] = 0;
    used_backend_ids_.insert(id);
  });
  if (!st) return st;
  std::map<FrontendKey, std::map<uint16_t, uint32_t>> slots;
  st = dp_.services.for_each([&](const lb4_svc_key& k, const lb4_svc_value& v) {
    auto fk = frontend_of(k);
    if (k.backend_slot == 0) {
      auto& pf = frontends_[fk];
      pf.svc_id = v.svc_id;
      pf.count = v.count;
      pf.flags = v.flags;
      pf.affinity_timeout = v.affinity_timeout;
      pf.maglev_id = v.backend_id;
      used_svc_ids_.insert(v.svc_id);
    } else {
      slots[fk][k.backend_slot] = v.backend_id;
      frontends_.try_emplace(fk);
    }
  });
  if (!st) return st;
  for (auto& [fk, pf] : frontends_) {
    auto it = slots.find(fk);
    if (it == slots.end()) continue;
    pf.slots.assign(it->second.rbegin()->first, 0);
    for (auto [slot, id] : it->second) {
      pf.slots[slot - 1] = id;
      backend_refs_[id]++;
    }
  }
  st = dp_.revnat.for_each([&](const uint32_t& id, const lb4_revnat&) {
    if (!used_svc_ids_.count(id)) orphan_revnat_.insert(id);
  });
  if (!st) return st;
  // Maglev table ids present in the outer map; groups claim them on the first apply.
  uint32_t key = 0, next = 0;
  const uint32_t* prev = nullptr;
  while (bpf_map_get_next_key(dp_.maglev_outer_fd, prev, &next) == 0) {
    orphan_tables_.insert(next);
    used_table_ids_.insert(next);
    key = next;
    prev = &key;
  }
  return {};
}

Result<ApplyStats> ServiceMaps::apply(const DesiredServices& desired) {
  std::map<std::string, std::vector<Frontend>> services;
  for (const auto& [svc, keys] : by_service_)
    services[svc];  // absent from desired: removed
  for (const auto& f : desired.frontends)
    services[f.service].push_back(f);
  return commit(services, desired.backends, true);
}

Result<ApplyStats> ServiceMaps::apply_changes(
    const std::map<std::string, std::vector<Frontend>>& services,
    const std::map<BackendAddr, BackendInfo>& backends) {
  return commit(services, backends, false);
}

Result<ApplyStats> ServiceMaps::commit(const std::map<std::string, std::vector<Frontend>>& services,
                                       const std::map<BackendAddr, BackendInfo>& backend_info,
                                       bool complete) {
  auto t0 = std::chrono::steady_clock::now();
  ApplyStats stats;

  // Which frontends go away: those a changed service no longer has, and (complete state only)
  // those found at restore that no service claims.
  std::set<FrontendKey> removals;
  std::set<FrontendKey> upserted;
  for (const auto& [svc, fronts] : services) {
    for (const auto& f : fronts)
      upserted.insert(f.key);
  }
  for (const auto& [svc, fronts] : services) {
    auto it = by_service_.find(svc);
    if (it == by_service_.end()) continue;
    for (const auto& k : it->second) {
      if (!upserted.count(k)) removals.insert(k);
    }
  }
  if (complete) {
    for (const auto& [k, pf] : frontends_) {
      if (pf.service.empty() && !upserted.count(k)) removals.insert(k);
    }
  }

  // 1. Backends.
  std::map<BackendAddr, uint32_t> ids;
  {
    std::vector<uint32_t> keys;
    std::vector<lb4_backend> values;
    for (const auto& [svc, fronts] : services) {
      for (const auto& f : fronts) {
        for (const auto& b : f.backends) {
          if (ids.count(b)) continue;
          auto it = backend_ids_.find(b);
          if (it != backend_ids_.end()) {
            ids[b] = it->second;
            continue;
          }
          uint32_t id = alloc_id(used_backend_ids_, next_backend_id_, LB_MAX_BACKENDS - 1);
          if (id == 0)
            return Error{"backend ids exhausted (" + std::to_string(LB_MAX_BACKENDS) + ")"};
          ids[b] = id;
          backend_ids_[b] = id;
          backend_addr_[id] = b;
          backend_refs_[id] = 0;
          auto info = backend_info.find(b);
          keys.push_back(id);
          values.push_back(backend_value(info == backend_info.end() ? nullptr : &info->second, b));
          stats.backends_added++;
        }
      }
    }
    if (auto st = dp_.backends.update_batch(keys, values); !st) return st.error();
    stats.map_writes += keys.size();
  }

  // 2. Maglev tables of the groups that the changed frontends use.
  struct Build {
    uint32_t table_id;
    std::vector<MaglevBackend> backends;
    std::vector<uint32_t> table;
  };
  std::vector<Build> builds;
  std::set<std::string> touched_groups;
  for (const auto& [svc, fronts] : services) {
    for (const auto& f : fronts) {
      if (!(f.flags & LB_SVC_F_MAGLEV) || f.backends.empty()) continue;
      if (!touched_groups.insert(f.group).second) continue;
      auto& g = groups_[f.group];
      if (g.table_id == 0) {
        // A table found at restore that this frontend pointed at is reused.
        auto pf = frontends_.find(f.key);
        if (pf != frontends_.end() && orphan_tables_.erase(pf->second.maglev_id)) {
          g.table_id = pf->second.maglev_id;
        } else {
          g.table_id = alloc_id(used_table_ids_, next_table_id_, LB_MAX_SERVICES - 1);
          if (g.table_id == 0) return Error{"Maglev table ids exhausted"};
        }
      }
      std::vector<uint32_t> members;
      Build b{g.table_id, {}, {}};
      for (const auto& be : f.backends) {
        members.push_back(ids[be]);
        b.backends.push_back({be.str(), ids[be]});
      }
      std::sort(members.begin(), members.end());
      if (members == g.members) continue;
      g.members = std::move(members);
      builds.push_back(std::move(b));
    }
  }
  if (!builds.empty()) {
    // Building a table is pure CPU (about half a millisecond at M = 16381): use every core.
    const uint32_t m = dp_.options().maglev_table_size;
    const auto& seed = dp_.options().seed;
    size_t workers = std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()),
                                      (builds.size() + 63) / 64);
    auto work = [&](size_t w) {
      for (size_t i = w; i < builds.size(); i += workers) {
        builds[i].table = build_maglev_table(builds[i].backends, m, seed);
      }
    };
    std::vector<std::thread> threads;
    for (size_t w = 1; w < workers; ++w)
      threads.emplace_back(work, w);
    work(0);
    for (auto& t : threads)
      t.join();
    // Tables that exist are rewritten in place: one array value holds the whole table and the
    // kernel copies it over the old one; the programs read each 4-byte entry atomically, so a
    // packet picks the old or the new backend of its entry, both programmed (the old one stays
    // until it is retired, see the header). New tables go into the outer map together.
    MaglevBatch batch;
    const uint32_t zero = 0;
    for (const auto& b : builds) {
      int fd = table_fd(b.table_id);
      if (fd >= 0) {
        if (bpf_map_update_elem(fd, &zero, b.table.data(), BPF_EXIST) != 0) {
          return sys_error("rewrite Maglev table " + std::to_string(b.table_id));
        }
        stats.maglev_tables_in_place++;
        continue;
      }
      if (auto st = batch.add(b.table_id, b.table, m); !st) return st.error();
    }
    if (auto st = batch.install(dp_.maglev_outer_fd); !st) return st.error();
    for (auto [id, fd] : batch.release()) {
      forget_table(id);
      table_fds_[id] = fd;
    }
    stats.maglev_tables_written += builds.size();
    stats.map_writes += builds.size();
  }

  // 3 and 4. Frontends: rev-NAT and slots first, then slot 0.
  std::vector<lb4_svc_key> slot_keys, head_keys, drop_keys;
  std::vector<lb4_svc_value> slot_vals, head_vals;
  std::vector<uint32_t> revnat_keys;
  std::vector<lb4_revnat> revnat_vals;
  for (const auto& [svc, fronts] : services) {
    auto& owned = by_service_[svc];
    owned.clear();
    for (const auto& f : fronts) {
      owned.insert(f.key);
      auto [it, inserted] = frontends_.try_emplace(f.key);
      auto& pf = it->second;
      bool is_new = pf.svc_id == 0;
      if (is_new) {
        pf.svc_id = alloc_id(used_svc_ids_, next_svc_id_, LB_MAX_SERVICES - 1);
        if (pf.svc_id == 0) return Error{"service ids exhausted"};
        lb4_revnat rn{};
        rn.address = f.key.addr.to_be();
        rn.port = htons(f.key.port);
        revnat_keys.push_back(pf.svc_id);
        revnat_vals.push_back(rn);
        stats.frontends_added++;
      }
      // Group membership.
      std::string group = (f.flags & LB_SVC_F_MAGLEV) && !f.backends.empty() ? f.group : "";
      if (pf.group != group) {
        if (!pf.group.empty()) {
          groups_[pf.group].users.erase(f.key);
          unused_groups_.insert(pf.group);
        }
        pf.group = group;
      }
      if (!group.empty()) groups_[group].users.insert(f.key);
      uint32_t table_id = group.empty() ? 0 : groups_[group].table_id;

      std::vector<uint32_t> want;
      for (const auto& b : f.backends)
        want.push_back(ids[b]);
      std::vector<uint32_t> live(pf.slots.begin(),
                                 pf.slots.begin() + std::min<size_t>(pf.count, pf.slots.size()));
      auto slots = assign_slots(live, want);
      bool changed = false;
      for (size_t i = 0; i < slots.size(); ++i) {
        if (i < pf.slots.size() && pf.slots[i] == slots[i]) continue;
        lb4_svc_value v{};
        v.backend_id = slots[i];
        v.svc_id = pf.svc_id;
        slot_keys.push_back(svc_key(f.key, uint16_t(i + 1)));
        slot_vals.push_back(v);
        changed = true;
      }
      for (size_t i = slots.size(); i < pf.slots.size(); ++i) {
        if (pf.slots[i]) drop_keys.push_back(svc_key(f.key, uint16_t(i + 1)));
        changed = true;
      }
      if (is_new || pf.count != slots.size() || pf.flags != f.flags ||
          pf.affinity_timeout != f.affinity_timeout || pf.maglev_id != table_id) {
        lb4_svc_value head{};
        head.backend_id = table_id;
        head.svc_id = pf.svc_id;
        head.count = uint16_t(slots.size());
        head.flags = f.flags;
        head.affinity_timeout = f.affinity_timeout;
        head_keys.push_back(svc_key(f.key, 0));
        head_vals.push_back(head);
        changed = true;
      }
      if (changed && !is_new) stats.frontends_updated++;
      for (uint32_t id : pf.slots) {
        if (id) unref_backend(id);
      }
      for (uint32_t id : slots)
        backend_refs_[id]++;
      pf.count = uint16_t(slots.size());
      pf.flags = f.flags;
      pf.affinity_timeout = f.affinity_timeout;
      pf.maglev_id = table_id;
      pf.slots = std::move(slots);
      pf.service = svc;
    }
    if (owned.empty()) by_service_.erase(svc);
  }
  if (auto st = dp_.revnat.update_batch(revnat_keys, revnat_vals); !st) return st.error();
  if (auto st = dp_.services.update_batch(slot_keys, slot_vals); !st) return st.error();
  if (auto st = dp_.services.update_batch(head_keys, head_vals); !st) return st.error();
  for (const auto& k : drop_keys) {
    if (auto st = dp_.services.remove(k); !st) return st.error();
  }
  stats.map_writes += revnat_keys.size() + slot_keys.size() + head_keys.size() + drop_keys.size();

  // 5. Removed frontends (slot 0 first), unused tables, unused backends.
  for (const auto& key : removals) {
    auto it = frontends_.find(key);
    if (it == frontends_.end()) continue;
    const auto& pf = it->second;
    if (auto st = dp_.services.remove(svc_key(key, 0)); !st) return st.error();
    for (size_t i = 0; i < pf.slots.size(); ++i) {
      if (!pf.slots[i]) continue;
      if (auto st = dp_.services.remove(svc_key(key, uint16_t(i + 1))); !st) return st.error();
      unref_backend(pf.slots[i]);
    }
    if (pf.svc_id) {
      if (auto st = dp_.revnat.remove(pf.svc_id); !st) return st.error();
      used_svc_ids_.erase(pf.svc_id);
    }
    if (!pf.group.empty()) {
      groups_[pf.group].users.erase(key);
      unused_groups_.insert(pf.group);
    }
    if (!pf.service.empty()) {
      auto bs = by_service_.find(pf.service);
      if (bs != by_service_.end()) {
        bs->second.erase(key);
        if (bs->second.empty()) by_service_.erase(bs);
      }
    }
    stats.frontends_removed++;
    stats.map_writes += 2 + pf.slots.size();
    frontends_.erase(it);
  }
  for (uint32_t id : orphan_revnat_) {
    if (auto st = dp_.revnat.remove(id); !st) return st.error();
  }
  orphan_revnat_.clear();
  std::vector<uint32_t> dead_tables;
  if (complete) {
    for (const auto& [name, g] : groups_)
      unused_groups_.insert(name);
  }
  for (const auto& name : unused_groups_) {
    auto it = groups_.find(name);
    if (it == groups_.end() || !it->second.users.empty()) continue;
    if (it->second.table_id) {
      dead_tables.push_back(it->second.table_id);
      used_table_ids_.erase(it->second.table_id);
      forget_table(it->second.table_id);
    }
    groups_.erase(it);
  }
  unused_groups_.clear();
  if (complete) {
    for (uint32_t tid : orphan_tables_) {
      dead_tables.push_back(tid);
      used_table_ids_.erase(tid);
      forget_table(tid);
    }
    orphan_tables_.clear();
  }
  if (!dead_tables.empty()) {
    // One RCU grace period for all of them (see MaglevBatch).
    uint32_t count = uint32_t(dead_tables.size());
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    if (bpf_map_delete_batch(dp_.maglev_outer_fd, dead_tables.data(), &count, &opts) != 0) {
      for (uint32_t tid : dead_tables) {
        if (bpf_map_delete_elem(dp_.maglev_outer_fd, &tid) != 0 && errno != ENOENT) {
          return sys_error("remove Maglev table " + std::to_string(tid));
        }
      }
    }
    stats.maglev_tables_removed += dead_tables.size();
    stats.map_writes += dead_tables.size();
  }
  // Backends: those this commit stopped using are retired (removed after the grace, see the
  // header); those found at restore that nothing used (complete state only) go now, since no
  // slot or table entry of this run ever pointed at them.
  const auto now = Clock::now();
  for (uint32_t id : unused_backends_) {
    auto it = backend_refs_.find(id);
    if (it == backend_refs_.end() || it->second > 0) continue;
    // Retired again after being wanted again: the grace starts over (the older queue entry no
    // longer matches and is skipped).
    retired_[id] = now;
    retire_queue_.emplace_back(now, id);
    stats.backends_retired++;
  }
  unused_backends_.clear();
  if (complete) {
    std::vector<uint32_t> orphans;
    for (const auto& [id, refs] : backend_refs_) {
      if (refs == 0 && !retired_.count(id)) orphans.push_back(id);
    }
    for (uint32_t id : orphans) {
      if (auto st = remove_backend(id); !st) return st.error();
      stats.backends_removed++;
      stats.map_writes++;
    }
  }
  if (!retired_.empty()) {
    auto removed = collect_retired(now);
    if (!removed) return removed.error();
    stats.backends_removed += *removed;
    stats.map_writes += *removed;
  }
  stats.duration = std::chrono::steady_clock::now() - t0;
  return stats;
}

}  // namespace netagent::lb
