#include "netagent/lb/service_maps.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <set>
#include <thread>

namespace netagent::lb {
namespace {

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

// The Maglev tables of the groups a commit changes, built before they are written.
struct TableBuild {
  std::string group;
  uint32_t table_id = 0;
  std::vector<uint32_t> members;  // sorted backend ids
  std::vector<MaglevBackend> backends;
  std::vector<uint32_t> table;
};

// Building a table is pure CPU (about half a millisecond at M = 16381): use every core.
void build_tables(std::vector<TableBuild>& builds, uint32_t m, const MaglevSeed& seed) {
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
}

// A digest of a Maglev table's entries (FNV-1a, a word at a time), kept per group when the table
// is written: verify() compares the table it reads by digest. Only compared within one process.
uint64_t table_digest(const std::vector<uint32_t>& table) {
  uint64_t h = 14695981039346656037ull;
  for (uint32_t v : table)
    h = (h ^ v) * 1099511628211ull;
  return h;
}

}  // namespace

lb4_svc_key svc_key(const FrontendKey& k, uint16_t slot) {
  lb4_svc_key key{};
  key.address = k.addr.to_be();
  key.dport = htons(k.port);
  key.backend_slot = slot;
  key.proto = k.proto;
  key.scope = k.scope;
  return key;
}

lb4_svc_value ProgrammedFrontend::head_value() const {
  lb4_svc_value v{};
  v.backend_id = maglev_id;
  v.svc_id = svc_id;
  v.count = count;
  v.flags = flags;
  v.affinity_timeout = affinity_timeout;
  return v;
}

lb4_svc_value ProgrammedFrontend::slot_value(size_t i) const {
  lb4_svc_value v{};
  v.backend_id = slots.at(i);
  v.svc_id = svc_id;
  return v;
}

// What one frontend of a commit writes.
struct ServiceMaps::FrontendPlan {
  FrontendKey key;
  std::string service;
  std::string group;  // the Maglev group whose table slot 0 points at, "" for none
  uint32_t svc_id = 0;
  bool new_id = false;  // allocated by this commit (released if its rev-NAT write fails)
  bool write_revnat = false;
  std::vector<std::pair<uint16_t, uint32_t>> slot_writes;  // slot -> backend id
  std::vector<uint16_t> slot_drops;                        // slots above the new count
  std::optional<lb4_svc_value> head;                       // slot 0, when it changes
};

ServiceMaps::ServiceMaps(LbMaps maps, std::chrono::milliseconds retire_grace)
    : maps_(std::move(maps)), retire_grace_(retire_grace) {}

ServiceMaps::ServiceMaps(LbDatapath& dp, std::chrono::milliseconds retire_grace)
    : ServiceMaps(dp.service_maps(), retire_grace) {}

ServiceMaps::~ServiceMaps() = default;

// ---- mirror bookkeeping

Status ServiceMaps::remove_backend(uint32_t id) {
  if (auto st = maps_.backends.remove(id); !st) return st.error();
  used_backend_ids_.erase(id);
  auto addr = backend_addr_.find(id);
  if (addr != backend_addr_.end()) {
    backend_ids_.erase(addr->second);
    backend_addr_.erase(addr);
  }
  backend_values_.erase(id);
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

// Slot `slot` (1..) of a frontend now holds `backend_id` (0: the entry is gone).
void ServiceMaps::set_slot(ProgrammedFrontend& pf, uint16_t slot, uint32_t backend_id) {
  if (pf.slots.size() < slot) pf.slots.resize(slot, 0);
  if (uint32_t old = pf.slots[slot - 1]) {
    unref_backend(old);
    service_entries_--;
  }
  pf.slots[slot - 1] = backend_id;
  if (backend_id) {
    backend_refs_[backend_id]++;
    service_entries_++;
  }
  while (!pf.slots.empty() && pf.slots.back() == 0)
    pf.slots.pop_back();
}

void ServiceMaps::set_head(ProgrammedFrontend& pf, bool head) {
  if (pf.head == head) return;
  pf.head = head;
  if (head) {
    service_entries_++;
  } else {
    service_entries_--;
  }
}

void ServiceMaps::claim(const FrontendKey& key, ProgrammedFrontend& pf,
                        const std::string& service) {
  if (pf.service == service) return;
  if (auto it = by_service_.find(pf.service); it != by_service_.end()) {
    it->second.erase(key);
    if (it->second.empty()) by_service_.erase(it);
  }
  pf.service = service;
  by_service_[service].insert(key);
}

// The Maglev group whose table the frontend's slot 0 points at.
void ServiceMaps::set_group(const FrontendKey& key, ProgrammedFrontend& pf,
                            const std::string& group) {
  if (pf.group != group && !pf.group.empty()) {
    if (auto it = groups_.find(pf.group); it != groups_.end()) it->second.users.erase(key);
    unused_groups_.insert(pf.group);
  }
  pf.group = group;
  if (!group.empty()) groups_[group].users.insert(key);
}

void ServiceMaps::forget(const FrontendKey& key) {
  auto it = frontends_.find(key);
  if (it == frontends_.end()) return;
  if (auto bs = by_service_.find(it->second.service); bs != by_service_.end()) {
    bs->second.erase(key);
    if (bs->second.empty()) by_service_.erase(bs);
  }
  frontends_.erase(it);
}

// ---- restore

Status ServiceMaps::restore() {
  frontends_.clear();
  by_service_.clear();
  backend_ids_.clear();
  backend_addr_.clear();
  backend_values_.clear();
  backend_refs_.clear();
  revnat_ids_.clear();
  groups_.clear();
  retired_.clear();
  retire_queue_.clear();
  service_entries_ = 0;
  auto st = maps_.backends.for_each([&](const uint32_t& id, const lb4_backend& b) {
    BackendAddr a{Ipv4Addr::from_be(b.address), ntohs(b.port), b.proto};
    backend_ids_[a] = id;
    backend_addr_[id] = a;
    backend_values_[id] = b;
    backend_refs_[id] = 0;
    used_backend_ids_.insert(id);
  });
  if (!st) return st;
  std::map<FrontendKey, std::map<uint16_t, uint32_t>> slots;
  st = maps_.services.for_each([&](const lb4_svc_key& k, const lb4_svc_value& v) {
    service_entries_++;
    auto fk = frontend_of(k);
    auto& pf = frontends_[fk];
    if (k.backend_slot == 0) {
      pf.svc_id = v.svc_id;
      pf.head = true;
      pf.count = v.count;
      pf.flags = v.flags;
      pf.affinity_timeout = v.affinity_timeout;
      pf.maglev_id = v.backend_id;
    } else {
      slots[fk][k.backend_slot] = v.backend_id;
      if (!pf.head) pf.svc_id = v.svc_id;  // half-written: the id its slots carry
    }
  });
  if (!st) return st;
  for (auto& [fk, pf] : frontends_) {
    if (pf.svc_id) used_svc_ids_.insert(pf.svc_id);
    auto it = slots.find(fk);
    if (it == slots.end()) continue;
    pf.slots.assign(it->second.rbegin()->first, 0);
    for (auto [slot, id] : it->second) {
      pf.slots[slot - 1] = id;
      backend_refs_[id]++;
    }
  }
  st = maps_.revnat.for_each([&](const uint32_t& id, const lb4_revnat&) {
    revnat_ids_.insert(id);
    // No frontend carries it: removed by the next commit (its id is not handed out meanwhile).
    if (used_svc_ids_.insert(id).second) orphan_revnat_.insert(id);
  });
  if (!st) return st;
  // Maglev table ids present in the outer map; groups claim them on the first apply.
  auto tables = maps_.maglev->ids();
  if (!tables) return tables.error();
  for (uint32_t id : *tables) {
    orphan_tables_.insert(id);
    used_table_ids_.insert(id);
  }
  return {};
}

// ---- apply

Result<ApplyStats> ServiceMaps::apply(const DesiredServices& desired) {
  Services services;
  for (const auto& [svc, keys] : by_service_)
    services[svc];  // absent from desired: removed
  for (const auto& f : desired.frontends)
    services[f.service].push_back(f);
  auto st = commit(services, desired.backends, true);
  if (!st || st->not_programmed.empty() || !st->changed()) return st;
  // Some services did not fit, and this commit freed or used entries: what it freed (removed
  // frontends, their service ids) counts now, so look again once.
  auto again = commit(services, desired.backends, true);
  if (!again) return again.error();
  auto& a = *again;
  a.frontends_added += st->frontends_added;
  a.frontends_updated += st->frontends_updated;
  a.frontends_removed += st->frontends_removed;
  a.backends_added += st->backends_added;
  a.backends_removed += st->backends_removed;
  a.maglev_tables_written += st->maglev_tables_written;
  a.maglev_tables_removed += st->maglev_tables_removed;
  a.maglev_tables_in_place += st->maglev_tables_in_place;
  a.backends_retired += st->backends_retired;
  a.map_writes += st->map_writes;
  a.duration += st->duration;
  return again;
}

Result<ApplyStats> ServiceMaps::apply_changes(const Services& services,
                                              const BackendInfos& backends) {
  return commit(services, backends, false);
}

MapUsage ServiceMaps::usage() const {
  MapUsage u;
  u.service_entries = service_entries_;
  u.service_entries_max = maps_.services.backend().max_entries();
  u.backends = std::max(backend_addr_.size(), used_backend_ids_.size());
  u.backends_max = std::min<size_t>(maps_.backends.backend().max_entries(), LB_MAX_BACKENDS - 1);
  u.service_ids = used_svc_ids_.size();
  u.service_ids_max = std::min<size_t>(maps_.revnat.backend().max_entries(), LB_MAX_SERVICES - 1);
  u.tables = used_table_ids_.size();
  u.tables_max = std::min<size_t>(maps_.maglev->max_tables(), LB_MAX_SERVICES - 1);
  return u;
}

bool ServiceMaps::programmed(const Frontend& f) const {
  auto it = frontends_.find(f.key);
  if (it == frontends_.end()) return false;
  const auto& pf = it->second;
  if (!pf.head || pf.count != f.backends.size() || pf.flags != f.flags ||
      pf.affinity_timeout != f.affinity_timeout || pf.slots.size() < pf.count) {
    return false;
  }
  std::vector<BackendAddr> have, want = f.backends;
  for (size_t i = 0; i < pf.count; ++i) {
    auto a = backend_addr_.find(pf.slots[i]);
    if (a == backend_addr_.end()) return false;
    have.push_back(a->second);
  }
  std::sort(have.begin(), have.end());
  std::sort(want.begin(), want.end());
  return have == want;
}

std::optional<ServiceMaps::Services> ServiceMaps::admit(const Services& services, ApplyStats& stats,
                                                        std::set<FrontendKey>& keep) const {
  const MapUsage u = usage();
  struct Need {
    size_t entries = 0, backends = 0, ids = 0, tables = 0;
  };
  auto fits = [&](const Need& used, const Need& n) {
    return used.entries + n.entries <= u.service_entries_max &&
           used.backends + n.backends <= u.backends_max && used.ids + n.ids <= u.service_ids_max &&
           used.tables + n.tables <= u.tables_max;
  };
  Need used{u.service_entries, u.backends, u.service_ids, u.tables};
  // At most what everything given needs: when that fits, so does each service.
  Need bound;
  for (const auto& [svc, fronts] : services) {
    for (const auto& f : fronts) {
      bound.entries += 1 + f.backends.size();
      bound.backends += f.backends.size();
      bound.ids++;
      bound.tables++;
    }
  }
  if (fits(used, bound)) return std::nullopt;

  std::set<BackendAddr> new_backends;  // of the services admitted so far
  std::set<std::string> new_groups;
  // What a service needs beyond what the maps and the services admitted before it hold.
  auto need_of = [&](const std::vector<Frontend>& fronts, std::set<BackendAddr>& nb,
                     std::set<std::string>& ng) {
    Need n;
    for (const auto& f : fronts) {
      auto it = frontends_.find(f.key);
      const ProgrammedFrontend* pf = it == frontends_.end() ? nullptr : &it->second;
      size_t have = 0;
      if (pf) {
        have = (pf->head ? 1 : 0) + size_t(std::count_if(pf->slots.begin(), pf->slots.end(),
                                                         [](uint32_t id) { return id != 0; }));
      }
      const size_t want = 1 + f.backends.size();
      if (want > have) n.entries += want - have;
      if (!pf || pf->svc_id == 0) n.ids++;
      for (const auto& b : f.backends) {
        if (!backend_ids_.count(b) && !new_backends.count(b) && nb.insert(b).second) n.backends++;
      }
      if ((f.flags & LB_SVC_F_MAGLEV) && !f.backends.empty()) {
        auto g = groups_.find(f.group);
        const bool has = (g != groups_.end() && g->second.table_id != 0) ||
                         new_groups.count(f.group) ||
                         (pf && pf->maglev_id && orphan_tables_.count(pf->maglev_id));
        if (!has && ng.insert(f.group).second) n.tables++;
      }
    }
    return n;
  };
  auto why = [&](const Need& n) {
    auto line = [](const char* what, size_t need, size_t used_now, size_t max) {
      return std::string("the LB maps are full: it needs ") + std::to_string(need) + " more " +
             what + ", " + std::to_string(max > used_now ? max - used_now : 0) + " of " +
             std::to_string(max) + " are free";
    };
    if (used.backends + n.backends > u.backends_max) {
      return line("backends", n.backends, used.backends, u.backends_max);
    }
    if (used.entries + n.entries > u.service_entries_max) {
      return line("service map entries", n.entries, used.entries, u.service_entries_max);
    }
    if (used.ids + n.ids > u.service_ids_max) {
      return line("service ids", n.ids, used.ids, u.service_ids_max);
    }
    return line("Maglev tables", n.tables, used.tables, u.tables_max);
  };
  auto existing = [&](const std::string& svc, const std::vector<Frontend>& fronts) {
    if (by_service_.count(svc)) return true;
    return std::any_of(fronts.begin(), fronts.end(),
                       [&](const Frontend& f) { return frontends_.count(f.key) > 0; });
  };

  Services out;
  // Those with entries in the maps first (nothing that serves is evicted), then by name.
  for (bool first : {true, false}) {
    for (const auto& [svc, fronts] : services) {
      if (existing(svc, fronts) != first) continue;
      std::set<BackendAddr> nb;
      std::set<std::string> ng;
      const Need n = need_of(fronts, nb, ng);
      if (fits(used, n)) {
        used.entries += n.entries;
        used.backends += n.backends;
        used.ids += n.ids;
        used.tables += n.tables;
        new_backends.insert(nb.begin(), nb.end());
        new_groups.insert(ng.begin(), ng.end());
        out.emplace(svc, fronts);
        continue;
      }
      stats.not_programmed[svc] = why(n);
      if (auto it = by_service_.find(svc); it != by_service_.end()) {
        keep.insert(it->second.begin(), it->second.end());
      }
      for (const auto& f : fronts) {
        if (frontends_.count(f.key)) keep.insert(f.key);
      }
    }
  }
  return out;
}

Result<ApplyStats> ServiceMaps::commit(const Services& given, const BackendInfos& backend_info,
                                       bool complete) {
  auto t0 = std::chrono::steady_clock::now();
  ApplyStats stats;
  // Retired backends whose grace has passed free their entries before capacity is counted.
  if (!retired_.empty()) {
    auto removed = collect_retired(Clock::now());
    if (!removed) return removed.error();
    stats.backends_removed += *removed;
    stats.map_writes += *removed;
  }
  std::set<FrontendKey> keep;
  const auto admitted = admit(given, stats, keep);
  const Services& services = admitted ? *admitted : given;
  const auto removals = frontends_to_remove(services, complete, keep);
  auto ids = write_backends(services, backend_info, stats);
  if (!ids) return ids.error();
  if (auto st = write_maglev_tables(services, *ids, stats); !st) return st.error();
  auto plans = plan_frontends(services, *ids, stats);
  if (!plans) return plans.error();
  for (auto step : {&ServiceMaps::write_revnat, &ServiceMaps::write_slots,
                    &ServiceMaps::write_heads, &ServiceMaps::drop_slots}) {
    if (auto st = (this->*step)(*plans, stats); !st) return st.error();
  }
  if (auto st = remove_frontends(removals, stats); !st) return st.error();
  if (auto st = remove_orphan_revnat(); !st) return st.error();
  if (auto st = remove_unused_tables(complete, stats); !st) return st.error();
  if (auto st = release_backends(complete, stats); !st) return st.error();
  stats.duration = std::chrono::steady_clock::now() - t0;
  return stats;
}

// Those a changed service no longer has, and (complete state only) those found at restore that
// no service claims, except the ones of services that did not fit (`keep`).
std::set<FrontendKey> ServiceMaps::frontends_to_remove(const Services& services, bool complete,
                                                       const std::set<FrontendKey>& keep) const {
  std::set<FrontendKey> upserted, removals;
  for (const auto& [svc, fronts] : services) {
    for (const auto& f : fronts)
      upserted.insert(f.key);
  }
  for (const auto& [svc, fronts] : services) {
    auto it = by_service_.find(svc);
    if (it == by_service_.end()) continue;
    for (const auto& k : it->second) {
      if (!upserted.count(k) && !keep.count(k)) removals.insert(k);
    }
  }
  if (complete) {
    for (const auto& [k, pf] : frontends_) {
      if (pf.service.empty() && !upserted.count(k) && !keep.count(k)) removals.insert(k);
    }
  }
  return removals;
}

// 1. The backends the frontends use that are not programmed yet.
Result<ServiceMaps::BackendIds> ServiceMaps::write_backends(const Services& services,
                                                            const BackendInfos& info,
                                                            ApplyStats& stats) {
  BackendIds ids;
  std::vector<BackendAddr> addrs;
  std::vector<uint32_t> keys;
  std::vector<lb4_backend> values;
  for (const auto& [svc, fronts] : services) {
    for (const auto& f : fronts) {
      for (const auto& b : f.backends) {
        if (ids.count(b)) continue;
        if (auto it = backend_ids_.find(b); it != backend_ids_.end()) {
          ids[b] = it->second;
          continue;
        }
        uint32_t id = alloc_id(used_backend_ids_, next_backend_id_, LB_MAX_BACKENDS - 1);
        if (id == 0) {
          for (uint32_t k : keys)
            used_backend_ids_.erase(k);
          return Error{"backend ids exhausted (" + std::to_string(LB_MAX_BACKENDS) + ")"};
        }
        ids[b] = id;
        auto i = info.find(b);
        addrs.push_back(b);
        keys.push_back(id);
        values.push_back(backend_value(i == info.end() ? nullptr : &i->second, b));
      }
    }
  }
  size_t written = 0;
  auto st = maps_.backends.update_batch(keys, values, &written);
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i >= written) {
      used_backend_ids_.erase(keys[i]);
      continue;
    }
    backend_ids_[addrs[i]] = keys[i];
    backend_addr_[keys[i]] = addrs[i];
    backend_values_[keys[i]] = values[i];
    backend_refs_[keys[i]] = 0;
  }
  stats.backends_added += written;
  stats.map_writes += written;
  if (!st) return st.error();
  return ids;
}

// 2. The Maglev tables of the groups the frontends use, where their members changed. Tables
// that exist are rewritten in place: one array value holds the whole table and the kernel
// copies it over the old one; the programs read each 4-byte entry atomically, so a packet picks
// the old or the new backend of its entry, both programmed (the old one stays until it is
// retired, see the header). New tables go into the outer map together.
Status ServiceMaps::write_maglev_tables(const Services& services, const BackendIds& ids,
                                        ApplyStats& stats) {
  std::vector<TableBuild> builds;
  std::set<std::string> touched;
  std::vector<std::string> allocated;  // groups given a new table id here
  // A table id this call allocated whose table did not go in is released.
  auto release = [&](const Status& st) {
    for (const auto& name : allocated) {
      auto g = groups_.find(name);
      if (g == groups_.end() || !g->second.members.empty() || g->second.table_id == 0) continue;
      used_table_ids_.erase(g->second.table_id);
      g->second.table_id = 0;
      if (g->second.users.empty()) groups_.erase(g);
    }
    return st;
  };
  for (const auto& [svc, fronts] : services) {
    for (const auto& f : fronts) {
      if (!(f.flags & LB_SVC_F_MAGLEV) || f.backends.empty()) continue;
      if (!touched.insert(f.group).second) continue;
      auto& g = groups_[f.group];
      if (g.table_id == 0) {
        // A table found at restore that this frontend pointed at is reused.
        auto pf = frontends_.find(f.key);
        if (pf != frontends_.end() && orphan_tables_.erase(pf->second.maglev_id)) {
          g.table_id = pf->second.maglev_id;
        } else {
          g.table_id = alloc_id(used_table_ids_, next_table_id_, LB_MAX_SERVICES - 1);
          if (g.table_id == 0) return release(Error{"Maglev table ids exhausted"});
          allocated.push_back(f.group);
        }
      }
      TableBuild b{f.group, g.table_id, {}, {}, {}};
      for (const auto& be : f.backends) {
        b.members.push_back(ids.at(be));
        b.backends.push_back({be.str(), ids.at(be)});
      }
      std::sort(b.members.begin(), b.members.end());
      if (b.members != g.members) builds.push_back(std::move(b));
    }
  }
  if (builds.empty()) return {};
  build_tables(builds, maps_.maglev->table_size(), maps_.seed);
  std::vector<std::pair<uint32_t, MaglevTables::Table>> fresh;
  std::vector<const TableBuild*> fresh_builds;
  for (auto& b : builds) {
    auto in_place = maps_.maglev->rewrite(b.table_id, b.table);
    if (!in_place) return release(in_place.error());
    if (!*in_place) {
      fresh.emplace_back(b.table_id, std::move(b.table));
      fresh_builds.push_back(&b);
      continue;
    }
    groups_[b.group].members = b.members;
    groups_[b.group].digest = table_digest(b.table);
    stats.maglev_tables_in_place++;
    stats.maglev_tables_written++;
    stats.map_writes++;
  }
  size_t installed = 0;
  auto st = maps_.maglev->install(fresh, &installed);
  for (size_t i = 0; i < installed; ++i) {
    auto& g = groups_[fresh_builds[i]->group];
    g.members = fresh_builds[i]->members;
    g.digest = table_digest(fresh[i].second);
  }
  stats.maglev_tables_written += installed;
  stats.map_writes += installed;
  if (!st) return release(st);
  return st;
}

// What each frontend writes: its rev-NAT entry when it has none, the slots whose backend
// changes, slot 0 when anything in it changes, and the slots above a lowered count. Nothing is
// written here; frontends whose slot 0 already says what is wanted join their group now.
Result<std::vector<ServiceMaps::FrontendPlan>> ServiceMaps::plan_frontends(const Services& services,
                                                                           const BackendIds& ids,
                                                                           ApplyStats& stats) {
  std::vector<FrontendPlan> plans;
  for (const auto& [svc, fronts] : services) {
    for (const auto& f : fronts) {
      FrontendPlan p;
      p.key = f.key;
      p.service = svc;
      p.group = (f.flags & LB_SVC_F_MAGLEV) && !f.backends.empty() ? f.group : "";
      const uint32_t table_id = p.group.empty() ? 0 : groups_[p.group].table_id;
      auto it = frontends_.find(f.key);
      ProgrammedFrontend* pf = it == frontends_.end() ? nullptr : &it->second;
      if (pf) claim(f.key, *pf, svc);
      p.svc_id = pf ? pf->svc_id : 0;
      if (p.svc_id == 0) {
        p.svc_id = alloc_id(used_svc_ids_, next_svc_id_, LB_MAX_SERVICES - 1);
        if (p.svc_id == 0) {
          for (const auto& q : plans) {
            if (q.new_id) used_svc_ids_.erase(q.svc_id);
          }
          return Error{"service ids exhausted"};
        }
        p.new_id = true;
      }
      p.write_revnat = !revnat_ids_.count(p.svc_id);

      std::vector<uint32_t> want;
      for (const auto& b : f.backends)
        want.push_back(ids.at(b));
      std::vector<uint32_t> old = pf ? pf->slots : std::vector<uint32_t>{};
      const size_t live_count = pf && pf->head ? std::min<size_t>(pf->count, old.size()) : 0;
      auto slots = assign_slots({old.begin(), old.begin() + live_count}, want);
      for (size_t i = 0; i < slots.size(); ++i) {
        if (i >= old.size() || old[i] != slots[i]) p.slot_writes.emplace_back(i + 1, slots[i]);
      }
      for (size_t i = slots.size(); i < old.size(); ++i) {
        if (old[i]) p.slot_drops.push_back(uint16_t(i + 1));
      }
      const bool head_same = pf && pf->head && pf->count == slots.size() && pf->flags == f.flags &&
                             pf->affinity_timeout == f.affinity_timeout &&
                             pf->maglev_id == table_id;
      if (head_same) {
        set_group(f.key, *pf, p.group);
      } else {
        lb4_svc_value head{};
        head.backend_id = table_id;
        head.svc_id = p.svc_id;
        head.count = uint16_t(slots.size());
        head.flags = f.flags;
        head.affinity_timeout = f.affinity_timeout;
        p.head = head;
      }
      if (!pf || !pf->head) {
        stats.frontends_added++;
      } else if (p.head || !p.slot_writes.empty() || !p.slot_drops.empty()) {
        stats.frontends_updated++;
      }
      plans.push_back(std::move(p));
    }
  }
  return plans;
}

// 3a. Rev-NAT entries of frontends that have none (new ones).
Status ServiceMaps::write_revnat(const std::vector<FrontendPlan>& plans, ApplyStats& stats) {
  std::vector<const FrontendPlan*> order;
  std::vector<uint32_t> keys;
  std::vector<lb4_revnat> values;
  for (const auto& p : plans) {
    if (!p.write_revnat) continue;
    lb4_revnat rn{};
    rn.address = p.key.addr.to_be();
    rn.port = htons(p.key.port);
    order.push_back(&p);
    keys.push_back(p.svc_id);
    values.push_back(rn);
  }
  size_t written = 0;
  auto st = maps_.revnat.update_batch(keys, values, &written);
  for (size_t i = 0; i < order.size(); ++i) {
    const auto& p = *order[i];
    if (i >= written) {
      if (p.new_id) used_svc_ids_.erase(p.svc_id);
      continue;
    }
    revnat_ids_.insert(p.svc_id);
    auto& pf = frontends_[p.key];
    claim(p.key, pf, p.service);
    pf.svc_id = p.svc_id;
  }
  // Ids of frontends that got no entry (their plan was never reached) are released too.
  if (!st) {
    for (const auto& p : plans) {
      if (p.new_id && !revnat_ids_.count(p.svc_id)) used_svc_ids_.erase(p.svc_id);
    }
  }
  stats.map_writes += written;
  return st;
}

// 3b. Backend slots (those above the current count are not read until slot 0 says so).
Status ServiceMaps::write_slots(const std::vector<FrontendPlan>& plans, ApplyStats& stats) {
  std::vector<std::pair<const FrontendPlan*, std::pair<uint16_t, uint32_t>>> order;
  std::vector<lb4_svc_key> keys;
  std::vector<lb4_svc_value> values;
  for (const auto& p : plans) {
    for (auto [slot, backend] : p.slot_writes) {
      lb4_svc_value v{};
      v.backend_id = backend;
      v.svc_id = p.svc_id;
      order.push_back({&p, {slot, backend}});
      keys.push_back(svc_key(p.key, slot));
      values.push_back(v);
    }
  }
  size_t written = 0;
  auto st = maps_.services.update_batch(keys, values, &written);
  for (size_t i = 0; i < written; ++i) {
    const auto& [p, sb] = order[i];
    set_slot(frontends_.at(p->key), sb.first, sb.second);
  }
  stats.map_writes += written;
  return st;
}

// 4. Slot 0 of each changed frontend: packets and connect() see the change from here on.
Status ServiceMaps::write_heads(const std::vector<FrontendPlan>& plans, ApplyStats& stats) {
  std::vector<const FrontendPlan*> order;
  std::vector<lb4_svc_key> keys;
  std::vector<lb4_svc_value> values;
  for (const auto& p : plans) {
    if (!p.head) continue;
    order.push_back(&p);
    keys.push_back(svc_key(p.key, 0));
    values.push_back(*p.head);
  }
  size_t written = 0;
  auto st = maps_.services.update_batch(keys, values, &written);
  for (size_t i = 0; i < written; ++i) {
    const auto& p = *order[i];
    auto& pf = frontends_.at(p.key);
    set_head(pf, true);
    pf.count = p.head->count;
    pf.flags = p.head->flags;
    pf.affinity_timeout = p.head->affinity_timeout;
    pf.maglev_id = p.head->backend_id;
    set_group(p.key, pf, p.group);
  }
  stats.map_writes += written;
  return st;
}

// 5a. Slots above a lowered count.
Status ServiceMaps::drop_slots(const std::vector<FrontendPlan>& plans, ApplyStats& stats) {
  for (const auto& p : plans) {
    for (uint16_t slot : p.slot_drops) {
      if (auto st = maps_.services.remove(svc_key(p.key, slot)); !st) return st;
      set_slot(frontends_.at(p.key), slot, 0);
      stats.map_writes++;
    }
  }
  return {};
}

// 5b. Removed frontends: slot 0 first (packets stop seeing the frontend), then the slots, then
// the rev-NAT entry.
Status ServiceMaps::remove_frontends(const std::set<FrontendKey>& keys, ApplyStats& stats) {
  for (const auto& key : keys) {
    auto it = frontends_.find(key);
    if (it == frontends_.end()) continue;
    auto& pf = it->second;
    if (pf.head) {
      if (auto st = maps_.services.remove(svc_key(key, 0)); !st) return st;
      set_head(pf, false);
      set_group(key, pf, "");
      stats.map_writes++;
    }
    for (size_t i = pf.slots.size(); i-- > 0;) {
      if (i >= pf.slots.size() || !pf.slots[i]) continue;  // (trailing empty slots are trimmed)
      if (auto st = maps_.services.remove(svc_key(key, uint16_t(i + 1))); !st) return st;
      set_slot(pf, uint16_t(i + 1), 0);
      stats.map_writes++;
    }
    if (pf.svc_id && revnat_ids_.count(pf.svc_id)) {
      if (auto st = maps_.revnat.remove(pf.svc_id); !st) return st;
      revnat_ids_.erase(pf.svc_id);
      stats.map_writes++;
    }
    used_svc_ids_.erase(pf.svc_id);
    stats.frontends_removed++;
    forget(key);
  }
  return {};
}

Status ServiceMaps::remove_orphan_revnat() {
  for (auto it = orphan_revnat_.begin(); it != orphan_revnat_.end();) {
    if (auto st = maps_.revnat.remove(*it); !st) return st;
    revnat_ids_.erase(*it);
    used_svc_ids_.erase(*it);
    it = orphan_revnat_.erase(it);
  }
  return {};
}

// 5c. Tables no frontend points at any more (and, complete state only, those found at restore
// that no group claimed).
Status ServiceMaps::remove_unused_tables(bool complete, ApplyStats& stats) {
  if (complete) {
    for (const auto& [name, g] : groups_)
      unused_groups_.insert(name);
  }
  std::vector<uint32_t> dead;
  std::vector<std::string> owners;  // the group of each dead table, "" for a restore orphan
  for (const auto& name : unused_groups_) {
    auto it = groups_.find(name);
    if (it == groups_.end() || !it->second.users.empty()) continue;
    if (it->second.table_id == 0) {
      groups_.erase(it);
      continue;
    }
    dead.push_back(it->second.table_id);
    owners.push_back(name);
  }
  if (complete && !orphan_tables_.empty()) {
    // (Not one a frontend left in place still points at: one whose service did not fit.)
    std::set<uint32_t> pointed;
    for (const auto& [k, pf] : frontends_) {
      if (pf.head && pf.maglev_id) pointed.insert(pf.maglev_id);
    }
    for (uint32_t tid : orphan_tables_) {
      if (pointed.count(tid)) continue;
      dead.push_back(tid);
      owners.emplace_back();
    }
  }
  size_t removed = 0;
  auto st = maps_.maglev->remove(dead, &removed);
  for (size_t i = 0; i < removed; ++i) {
    used_table_ids_.erase(dead[i]);
    if (owners[i].empty()) {
      orphan_tables_.erase(dead[i]);
    } else {
      groups_.erase(owners[i]);
    }
  }
  stats.maglev_tables_removed += removed;
  stats.map_writes += removed;
  if (!st) return st;
  unused_groups_.clear();
  return {};
}

// 5d. Backends: those no slot uses any more are retired (removed after the grace, see the
// header); those found at restore that nothing used (complete state only) go now, since no slot
// or table entry of this run ever pointed at them.
Status ServiceMaps::release_backends(bool complete, ApplyStats& stats) {
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
      if (auto st = remove_backend(id); !st) return st;
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
  return {};
}

// ---- verify (the drift check)

namespace {

template <typename V>
bool same(const V& a, const V& b) {
  return std::memcmp(&a, &b, sizeof(V)) == 0;
}

}  // namespace

Result<VerifyStats> ServiceMaps::verify() {
  // Writes in the commit's order (backends, tables, rev-NAT, slots, slot 0), removals of extra
  // entries in the reverse one, so that no packet meets a frontend whose parts are missing.
  VerifyStats out;
  std::vector<uint32_t> extra_backends, extra_tables, extra_revnat;
  std::vector<lb4_svc_key> extra_services;
  if (auto st = verify_backends(out, extra_backends); !st) return st.error();
  if (auto st = verify_tables(out, extra_tables); !st) return st.error();
  if (auto st = verify_revnat(out, extra_revnat); !st) return st.error();
  if (auto st = verify_services(out, extra_services); !st) return st.error();
  // Slot 0 entries first (the key order puts slot 0 first for each frontend, and a frontend's
  // other slots are invisible without it).
  std::stable_partition(extra_services.begin(), extra_services.end(),
                        [](const lb4_svc_key& k) { return k.backend_slot == 0; });
  for (const auto& k : extra_services) {
    if (auto st = maps_.services.remove(k); !st) return st.error();
  }
  for (uint32_t id : extra_revnat) {
    if (auto st = maps_.revnat.remove(id); !st) return st.error();
  }
  size_t removed = 0;
  if (auto st = maps_.maglev->remove(extra_tables, &removed); !st) return st.error();
  for (uint32_t id : extra_backends) {
    if (auto st = maps_.backends.remove(id); !st) return st.error();
  }
  return out;
}

Status ServiceMaps::verify_backends(VerifyStats& out, std::vector<uint32_t>& extra) {
  // Sorted vectors merged against the (sorted) mirror: no allocation per entry.
  std::vector<std::pair<uint32_t, lb4_backend>> kernel;
  kernel.reserve(backend_values_.size());
  auto st = maps_.backends.for_each(
      [&](const uint32_t& id, const lb4_backend& b) { kernel.emplace_back(id, b); });
  if (!st) return st;
  std::sort(kernel.begin(), kernel.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  out.checked += kernel.size();
  EntryRepairs r;
  std::vector<uint32_t> keys;
  std::vector<lb4_backend> values;
  auto k = kernel.begin();
  for (const auto& [id, want] : backend_values_) {
    for (; k != kernel.end() && k->first < id; ++k) {
      extra.push_back(k->first);
      r.extra++;
    }
    const bool there = k != kernel.end() && k->first == id;
    if (there && same(k->second, want)) {
      ++k;
      continue;
    }
    (there ? r.changed : r.missing)++;
    if (there) ++k;
    keys.push_back(id);
    values.push_back(want);
  }
  for (; k != kernel.end(); ++k) {
    extra.push_back(k->first);
    r.extra++;
  }
  if (auto st = maps_.backends.update_batch(keys, values); !st) return st;
  if (r.total()) out.maps[maps_.backends.name()] = r;
  return {};
}

MaglevTables::Table ServiceMaps::rebuild_table(const Group& g) const {
  std::vector<MaglevBackend> backends;
  for (uint32_t id : g.members) {
    auto a = backend_addr_.find(id);
    if (a != backend_addr_.end()) backends.push_back({a->second.str(), id});
  }
  return build_maglev_table(backends, maps_.maglev->table_size(), maps_.seed);
}

Status ServiceMaps::verify_tables(VerifyStats& out, std::vector<uint32_t>& extra) {
  auto ids = maps_.maglev->ids();
  if (!ids) return ids.error();
  std::set<uint32_t> kernel(ids->begin(), ids->end());
  out.checked += kernel.size();
  EntryRepairs r;
  std::set<uint32_t> ours;
  std::vector<std::pair<uint32_t, MaglevTables::Table>> fresh;
  for (const auto& [name, g] : groups_) {
    if (g.table_id == 0 || g.members.empty()) continue;  // nothing installed for it
    ours.insert(g.table_id);
    auto now = maps_.maglev->read(g.table_id);
    if (!now) return now.error();
    if (*now && table_digest(**now) == g.digest) continue;
    auto table = rebuild_table(g);
    if (*now) {
      r.changed++;
      // Rewritten in place when the entry is still a table of this size, else replaced.
      auto in_place = maps_.maglev->rewrite(g.table_id, table);
      if (!in_place) return in_place.error();
      if (*in_place) continue;
    } else {
      r.missing++;
    }
    fresh.emplace_back(g.table_id, std::move(table));
  }
  size_t installed = 0;
  if (auto st = maps_.maglev->install(fresh, &installed); !st) return st;
  // Tables found at restore that no group claimed yet stay until the next complete apply; one
  // that went away meanwhile is simply forgotten.
  for (auto it = orphan_tables_.begin(); it != orphan_tables_.end();) {
    if (kernel.count(*it)) {
      ours.insert(*it);
      ++it;
    } else {
      used_table_ids_.erase(*it);
      it = orphan_tables_.erase(it);
    }
  }
  for (uint32_t id : kernel) {
    if (!ours.count(id)) {
      extra.push_back(id);
      r.extra++;
    }
  }
  if (r.total()) out.maps["lb4_maglev"] = r;
  return {};
}

Status ServiceMaps::verify_revnat(VerifyStats& out, std::vector<uint32_t>& extra) {
  std::map<uint32_t, lb4_revnat> want;
  for (const auto& [key, pf] : frontends_) {
    if (!pf.svc_id || !revnat_ids_.count(pf.svc_id)) continue;
    lb4_revnat rn{};
    rn.address = key.addr.to_be();
    rn.port = htons(key.port);
    want[pf.svc_id] = rn;
  }
  std::map<uint32_t, lb4_revnat> kernel;
  auto st = maps_.revnat.for_each(
      [&](const uint32_t& id, const lb4_revnat& v) { kernel.emplace(id, v); });
  if (!st) return st;
  out.checked += kernel.size();
  EntryRepairs r;
  std::vector<uint32_t> keys;
  std::vector<lb4_revnat> values;
  for (const auto& [id, v] : want) {
    auto it = kernel.find(id);
    if (it != kernel.end() && same(it->second, v)) continue;
    (it == kernel.end() ? r.missing : r.changed)++;
    keys.push_back(id);
    values.push_back(v);
  }
  for (const auto& [id, v] : kernel) {
    // Entries found at restore with no frontend are removed by the next commit.
    if (want.count(id) || orphan_revnat_.count(id)) continue;
    extra.push_back(id);
    r.extra++;
  }
  // An orphan that went away needs no removal any more.
  for (auto it = orphan_revnat_.begin(); it != orphan_revnat_.end();) {
    if (kernel.count(*it)) {
      ++it;
    } else {
      revnat_ids_.erase(*it);
      used_svc_ids_.erase(*it);
      it = orphan_revnat_.erase(it);
    }
  }
  if (auto st = maps_.revnat.update_batch(keys, values); !st) return st;
  if (r.total()) out.maps[maps_.revnat.name()] = r;
  return {};
}

Status ServiceMaps::verify_services(VerifyStats& out, std::vector<lb4_svc_key>& extra) {
  using Entry = std::pair<std::pair<FrontendKey, uint16_t>, lb4_svc_value>;
  // What the mirror says, in (frontend, slot) order: the mirror's own order.
  std::vector<Entry> want;
  want.reserve(frontends_.size() * 2);
  for (const auto& [key, pf] : frontends_) {
    if (pf.head) want.push_back({{key, 0}, pf.head_value()});
    for (size_t i = 0; i < pf.slots.size(); ++i) {
      if (pf.slots[i]) want.push_back({{key, uint16_t(i + 1)}, pf.slot_value(i)});
    }
  }
  std::vector<Entry> kernel;
  kernel.reserve(want.size());
  auto st = maps_.services.for_each([&](const lb4_svc_key& k, const lb4_svc_value& v) {
    kernel.push_back({{frontend_of(k), k.backend_slot}, v});
  });
  if (!st) return st;
  std::sort(kernel.begin(), kernel.end(),
            [](const Entry& a, const Entry& b) { return a.first < b.first; });
  out.checked += kernel.size();
  EntryRepairs r;
  // Backend slots before slot 0 (the commit's order): a repaired frontend is complete before
  // packets see it again.
  std::vector<lb4_svc_key> slot_keys, head_keys;
  std::vector<lb4_svc_value> slot_values, head_values;
  auto k = kernel.begin();
  auto drop_extra = [&] {
    extra.push_back(svc_key(k->first.first, k->first.second));
    r.extra++;
  };
  for (const auto& [key, v] : want) {
    for (; k != kernel.end() && k->first < key; ++k)
      drop_extra();
    const bool there = k != kernel.end() && k->first == key;
    if (there && same(k->second, v)) {
      ++k;
      continue;
    }
    (there ? r.changed : r.missing)++;
    if (there) ++k;
    (key.second == 0 ? head_keys : slot_keys).push_back(svc_key(key.first, key.second));
    (key.second == 0 ? head_values : slot_values).push_back(v);
  }
  for (; k != kernel.end(); ++k)
    drop_extra();
  if (auto st = maps_.services.update_batch(slot_keys, slot_values); !st) return st;
  if (auto st = maps_.services.update_batch(head_keys, head_values); !st) return st;
  if (r.total()) out.maps[maps_.services.name()] = r;
  return {};
}

}  // namespace netagent::lb
