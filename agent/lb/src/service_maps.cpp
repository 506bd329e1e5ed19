#include "netagent/lb/service_maps.hpp"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <unistd.h>

#include <algorithm>

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

}  // namespace

ServiceMaps::ServiceMaps(LbDatapath& dp) : dp_(dp) {}

uint32_t ServiceMaps::alloc_id(std::set<uint32_t>& used, uint32_t& next, uint32_t max) {
  // Round-robin from the last id handed out: a freed id is reused as late as possible, so that
  // conntrack entries of a removed backend do not meet a new one under the same id.
  for (uint32_t i = 0; i < max; ++i) {
    uint32_t id = next;
    next = next >= max ? 1 : next + 1;
    if (used.insert(id).second) return id;
  }
  return 0;
}

Status ServiceMaps::restore() {
  frontends_.clear();
  backend_ids_.clear();
  backend_addr_.clear();
  auto st = dp_.backends.for_each([&](const uint32_t& id, const lb4_backend& b) {
    BackendAddr a{Ipv4Addr::from_be(b.address), ntohs(b.port), b.proto};
    backend_ids_[a] = id;
    backend_addr_[id] = a;
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
    for (auto [slot, id] : it->second)
      pf.slots[slot - 1] = id;
  }
  st = dp_.revnat.for_each([&](const uint32_t& id, const lb4_revnat&) {
    if (!used_svc_ids_.count(id)) orphan_revnat_.insert(id);
  });
  if (!st) return st;
  // Maglev table ids present in the outer map; groups are matched to them on the first apply.
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

Status ServiceMaps::write_maglev(uint32_t table_id, const std::vector<uint32_t>& table) {
  const uint32_t m = dp_.options().maglev_table_size;
  int inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "lb4_maglev_in", sizeof(uint32_t),
                             m * sizeof(uint32_t), 1, nullptr);
  if (inner < 0) return sys_error("create Maglev table " + std::to_string(table_id));
  uint32_t zero = 0;
  int err = bpf_map_update_elem(inner, &zero, table.data(), BPF_ANY);
  // Swapping the inner map is atomic for readers: a packet sees the old table or the new one.
  if (err == 0) err = bpf_map_update_elem(dp_.maglev_outer_fd, &table_id, &inner, BPF_ANY);
  int saved = errno;
  close(inner);
  if (err) return sys_error("install Maglev table " + std::to_string(table_id), saved);
  return {};
}

Result<ApplyStats> ServiceMaps::apply(const DesiredServices& desired) {
  auto t0 = std::chrono::steady_clock::now();
  ApplyStats stats;

  // 1. Backends.
  std::map<BackendAddr, uint32_t> needed;
  for (const auto& f : desired.frontends) {
    for (const auto& b : f.backends)
      needed.emplace(b, 0);
  }
  {
    std::vector<uint32_t> keys;
    std::vector<lb4_backend> values;
    for (auto& [addr, id] : needed) {
      auto it = backend_ids_.find(addr);
      auto info_it = desired.backends.find(addr);
      const BackendInfo* info = info_it == desired.backends.end() ? nullptr : &info_it->second;
      if (it != backend_ids_.end()) {
        id = it->second;
        continue;  // flags of an existing backend are refreshed below only when they change
      }
      id = alloc_id(used_backend_ids_, next_backend_id_, LB_MAX_BACKENDS - 1);
      if (id == 0) return Error{"backend ids exhausted (" + std::to_string(LB_MAX_BACKENDS) + ")"};
      backend_ids_[addr] = id;
      backend_addr_[id] = addr;
      keys.push_back(id);
      values.push_back(backend_value(info, addr));
      stats.backends_added++;
    }
    if (auto st = dp_.backends.update_batch(keys, values); !st) return st.error();
    stats.map_writes += keys.size();
  }

  // 2. Maglev tables, one per group of north-south frontends.
  std::map<std::string, std::vector<const BackendAddr*>> groups;
  for (const auto& f : desired.frontends) {
    if (!(f.flags & LB_SVC_F_MAGLEV) || f.backends.empty()) continue;
    auto& g = groups[f.group];
    if (g.empty()) {
      for (const auto& b : f.backends)
        g.push_back(&b);
    }
  }
  // Adopt tables found at restore for the groups their frontends point at.
  for (const auto& f : desired.frontends) {
    auto it = frontends_.find(f.key);
    if (it == frontends_.end() || !groups.count(f.group) || group_ids_.count(f.group)) continue;
    if (orphan_tables_.erase(it->second.maglev_id)) group_ids_[f.group] = it->second.maglev_id;
  }
  const uint32_t m = dp_.options().maglev_table_size;
  for (const auto& [name, members] : groups) {
    uint32_t& tid = group_ids_[name];
    if (tid == 0) {
      tid = alloc_id(used_table_ids_, next_table_id_, LB_MAX_SERVICES - 1);
      if (tid == 0) return Error{"Maglev table ids exhausted"};
    }
    std::vector<MaglevBackend> mb;
    std::vector<uint32_t> ids;
    for (const auto* b : members) {
      mb.push_back({b->str(), needed[*b]});
      ids.push_back(needed[*b]);
    }
    std::sort(ids.begin(), ids.end());
    auto& cur = group_members_[tid];
    if (cur == ids) continue;
    if (auto st = write_maglev(tid, build_maglev_table(mb, m, dp_.options().seed)); !st) {
      return st.error();
    }
    cur = ids;
    stats.maglev_tables_written++;
    stats.map_writes++;
  }

  // 3 and 4. Frontends: rev-NAT and slots first, then slot 0.
  std::vector<lb4_svc_key> slot_keys, head_keys, drop_keys;
  std::vector<lb4_svc_value> slot_vals, head_vals;
  std::vector<uint32_t> revnat_keys;
  std::vector<lb4_revnat> revnat_vals;
  std::set<FrontendKey> desired_keys;
  for (const auto& f : desired.frontends) {
    desired_keys.insert(f.key);
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
    std::vector<uint32_t> want;
    for (const auto& b : f.backends)
      want.push_back(needed[b]);
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
    uint32_t table_id = 0;
    if ((f.flags & LB_SVC_F_MAGLEV) && !f.backends.empty()) table_id = group_ids_[f.group];
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
    pf.count = uint16_t(slots.size());
    pf.flags = f.flags;
    pf.affinity_timeout = f.affinity_timeout;
    pf.maglev_id = table_id;
    pf.slots = std::move(slots);
  }
  if (auto st = dp_.revnat.update_batch(revnat_keys, revnat_vals); !st) return st.error();
  if (auto st = dp_.services.update_batch(slot_keys, slot_vals); !st) return st.error();
  if (auto st = dp_.services.update_batch(head_keys, head_vals); !st) return st.error();
  for (const auto& k : drop_keys) {
    if (auto st = dp_.services.remove(k); !st) return st.error();
  }
  stats.map_writes += revnat_keys.size() + slot_keys.size() + head_keys.size() + drop_keys.size();

  // 5. Removed frontends (slot 0 first), unused tables, unused backends.
  for (auto it = frontends_.begin(); it != frontends_.end();) {
    if (desired_keys.count(it->first)) {
      ++it;
      continue;
    }
    const auto& pf = it->second;
    if (auto st = dp_.services.remove(svc_key(it->first, 0)); !st) return st.error();
    for (size_t i = 0; i < pf.slots.size(); ++i) {
      if (pf.slots[i]) {
        if (auto st = dp_.services.remove(svc_key(it->first, uint16_t(i + 1))); !st) {
          return st.error();
        }
      }
    }
    if (pf.svc_id) {
      if (auto st = dp_.revnat.remove(pf.svc_id); !st) return st.error();
      used_svc_ids_.erase(pf.svc_id);
    }
    stats.frontends_removed++;
    stats.map_writes += 2 + pf.slots.size();
    it = frontends_.erase(it);
  }
  for (uint32_t id : orphan_revnat_) {
    if (auto st = dp_.revnat.remove(id); !st) return st.error();
  }
  orphan_revnat_.clear();
  auto drop_table = [&](uint32_t tid) -> Status {
    if (bpf_map_delete_elem(dp_.maglev_outer_fd, &tid) != 0 && errno != ENOENT) {
      return sys_error("remove Maglev table " + std::to_string(tid));
    }
    used_table_ids_.erase(tid);
    group_members_.erase(tid);
    stats.maglev_tables_removed++;
    stats.map_writes++;
    return {};
  };
  for (auto it = group_ids_.begin(); it != group_ids_.end();) {
    if (groups.count(it->first)) {
      ++it;
      continue;
    }
    if (auto st = drop_table(it->second); !st) return st.error();
    it = group_ids_.erase(it);
  }
  for (uint32_t tid : orphan_tables_) {
    if (auto st = drop_table(tid); !st) return st.error();
  }
  orphan_tables_.clear();
  for (auto it = backend_ids_.begin(); it != backend_ids_.end();) {
    if (needed.count(it->first)) {
      ++it;
      continue;
    }
    if (auto st = dp_.backends.remove(it->second); !st) return st.error();
    used_backend_ids_.erase(it->second);
    backend_addr_.erase(it->second);
    stats.backends_removed++;
    stats.map_writes++;
    it = backend_ids_.erase(it);
  }
  stats.duration = std::chrono::steady_clock::now() - t0;
  return stats;
}

}  // namespace netagent::lb
