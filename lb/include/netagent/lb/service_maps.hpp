#pragma once
// ServiceMaps: applies desired frontends to the LB maps as a minimal diff, in an order that never
// lets a packet or connect() see a half-written service (make before break):
//   1. new backends;
//   2. Maglev tables: a table that exists is rewritten in place (each 4-byte entry is read
//      atomically by the programs, so a packet sees the old or the new backend of its entry,
//      both valid); a new table is a fresh inner map inserted into the outer map;
//   3. rev-NAT entries and backend slots (slots above the old count are invisible until 4);
//   4. each frontend's slot 0 (count, flags, table id): this publishes the change;
//   5. slots above a lowered count, removed frontends (slot 0 first), unused tables.
// Backends no longer used are retired, not removed: a program may have read a backend id from a
// slot or table entry just before it was overwritten and look that backend up a moment later.
// Replacing an inner map made the kernel wait for an RCU grace period (every program that could
// hold an old id has finished) on each update, which cost milliseconds per change; rewriting in
// place does not wait, so retired backends are removed by a later commit or by collect_retired()
// (the agent's GC timer) once `retire_grace` has passed, far longer than any program runs. A
// retired backend that is wanted again before then is simply used again.
// Changes are per service: apply_changes() touches only the services given, so one endpoint
// change costs the same with 10 or 10,000 services. apply() takes a complete desired state.
// The mirror (frontends(), backend_addrs()) is what the maps hold: it changes only with a write
// that succeeded. A commit stops at the first failing write (a full map: E2BIG) and returns the
// error; the mirror then shows exactly what was written, and the next apply() writes what is
// missing.
// Capacity: before writing, a commit admits the services it was given one by one, those that
// already have entries in the maps first (nothing serving is evicted), then by name, counting
// what each needs that is not programmed yet (backend entries and ids, service-map entries,
// service ids with their rev-NAT entries, Maglev tables) against what the maps can hold. A
// service that does not fit is left as it is in the maps (absent if it is new, its programmed
// version if it changed) and named in ApplyStats::not_programmed; everything else is committed.
// Entries a commit frees by removing frontends count from the next commit: a complete apply()
// that left services out after freeing some commits once more at once; the entries of retired
// backends count once their grace has passed (the next commit removes them first).
// On start it reads back what is pinned (restore()), so a restarted agent keeps backend and
// service ids (established connections keep their conntrack entries) and removes what was
// deleted while it was down.
// verify() is the drift check: it reads the maps as they are now, compares them with the mirror
// and rewrites every entry that differs (missing, extra or changed, Maglev tables included), in
// the make-before-break order above, so that afterwards maps == mirror. It never moves the
// mirror: what someone else wrote or deleted is undone.
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "netagent/common/result.hpp"
#include "netagent/lb/lb_datapath.hpp"
#include "netagent/lb/lb_maps.hpp"
#include "netagent/lb/service_model.hpp"

namespace netagent::lb {

// The lb4_services key of a frontend's slot `slot` (0: the head entry).
lb4_svc_key svc_key(const FrontendKey& k, uint16_t slot);

struct ProgrammedFrontend {
  uint32_t svc_id = 0;  // the service id its rev-NAT entry and slots carry
  bool head = false;    // slot 0 is in the map (false: half-written, not visible to packets)
  uint16_t count = 0;   // slot 0's count: slots 1..count are live
  uint16_t flags = 0;
  uint32_t affinity_timeout = 0;
  uint32_t maglev_id = 0;
  std::vector<uint32_t> slots;  // backend id of each slot entry present (index i = slot i+1; 0 =
                                // absent), including any above count
  std::string service;          // owning service ("" when found at restore and not yet claimed)
  std::string group;            // Maglev group, "" when the frontend uses no table

  // The lb4_services values this frontend's entries hold: slot 0 (when `head`) and slot i+1.
  lb4_svc_value head_value() const;
  lb4_svc_value slot_value(size_t i) const;
};

struct ApplyStats {
  size_t frontends_added = 0, frontends_updated = 0, frontends_removed = 0;
  size_t backends_added = 0, backends_removed = 0;
  size_t maglev_tables_written = 0, maglev_tables_removed = 0;
  size_t maglev_tables_in_place = 0;  // of those written, rewritten in place
  size_t backends_retired = 0;        // unused since this commit; removed after the grace
  size_t map_writes = 0;
  // Services that did not fit in the maps ("ns/name" -> why); left as they were.
  std::map<std::string, std::string> not_programmed;
  std::chrono::nanoseconds duration{0};
  bool changed() const { return map_writes > 0; }
};

// What the LB maps can hold and what the mirror uses of it.
struct MapUsage {
  size_t service_entries = 0, service_entries_max = 0;  // lb4_services: slot 0s and slots
  size_t backends = 0, backends_max = 0;                // lb4_backends (retired ones included)
  size_t service_ids = 0, service_ids_max = 0;          // rev-NAT entries / service ids
  size_t tables = 0, tables_max = 0;                    // Maglev tables
};

// What one map's drift check found (and rewrote).
struct EntryRepairs {
  size_t missing = 0, extra = 0, changed = 0;
  size_t total() const { return missing + extra + changed; }
};

struct VerifyStats {
  std::map<std::string, EntryRepairs> maps;  // "lb4_services", "lb4_backends", "lb4_revnat",
                                             // "lb4_maglev" (whole tables); only maps with drift
  size_t checked = 0;                        // entries read from the maps
  size_t repaired() const {
    size_t n = 0;
    for (const auto& [name, r] : maps)
      n += r.total();
    return n;
  }
};

class ServiceMaps {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kDefaultRetireGrace{1000};

  explicit ServiceMaps(LbMaps maps, std::chrono::milliseconds retire_grace = kDefaultRetireGrace);
  explicit ServiceMaps(LbDatapath& dp,
                       std::chrono::milliseconds retire_grace = kDefaultRetireGrace);
  ~ServiceMaps();
  ServiceMaps(const ServiceMaps&) = delete;
  ServiceMaps& operator=(const ServiceMaps&) = delete;

  // Reads back the pinned maps into the mirror. Call once before the first apply.
  Status restore();
  // The drift check (see above). Cost: one read of each map (and of each Maglev table) plus
  // the writes of what differs.
  Result<VerifyStats> verify();
  // Complete desired state: every frontend not in `desired` is removed.
  Result<ApplyStats> apply(const DesiredServices& desired);
  // Per service ("ns/name"): its complete new list of frontends; an empty list removes the
  // service. Services not named are left as they are. `backends` describes the backends used.
  Result<ApplyStats> apply_changes(const std::map<std::string, std::vector<Frontend>>& services,
                                   const std::map<BackendAddr, BackendInfo>& backends);

  // What the maps hold, frontend by frontend (half-written ones included: see `head`).
  const std::map<FrontendKey, ProgrammedFrontend>& frontends() const { return frontends_; }
  // Backend id -> address, as programmed.
  const std::map<uint32_t, BackendAddr>& backend_addrs() const { return backend_addr_; }
  size_t maglev_tables() const { return groups_.size(); }
  std::set<uint32_t> service_ids() const;
  MapUsage usage() const;
  // Whether the maps serve `f` as given: slot 0 present with its flags, and slots 1..count
  // holding exactly its backends.
  bool programmed(const Frontend& f) const;
  // Removes the retired backends whose grace has passed by `now` and that are still unused.
  // Returns how many were removed.
  Result<size_t> collect_retired(Clock::time_point now = Clock::now());
  size_t retired_backends() const { return retired_.size(); }

 private:
  using Services = std::map<std::string, std::vector<Frontend>>;
  using BackendInfos = std::map<BackendAddr, BackendInfo>;
  using BackendIds = std::map<BackendAddr, uint32_t>;
  struct Group {
    uint32_t table_id = 0;
    std::vector<uint32_t> members;  // backend ids the installed table was built from, sorted
    std::set<FrontendKey> users;    // frontends whose slot 0 points at the table
    uint64_t digest = 0;            // of the installed table's contents (for verify())
  };
  struct FrontendPlan;

  // The steps of a commit, in their order. Each writes, then records in the mirror what it
  // wrote, and returns at the first failing write.
  Result<ApplyStats> commit(const Services& services, const BackendInfos& backends, bool complete);
  // The services of `services` that fit (see the header); the others go to `stats`, and the
  // frontends they have in the maps to `keep`.
  // nullopt: everything fits.
  std::optional<Services> admit(const Services& services, ApplyStats& stats,
                                std::set<FrontendKey>& keep) const;
  std::set<FrontendKey> frontends_to_remove(const Services& services, bool complete,
                                            const std::set<FrontendKey>& keep) const;
  Result<BackendIds> write_backends(const Services& services, const BackendInfos& info,
                                    ApplyStats& stats);
  Status write_maglev_tables(const Services& services, const BackendIds& ids, ApplyStats& stats);
  Result<std::vector<FrontendPlan>> plan_frontends(const Services& services, const BackendIds& ids,
                                                   ApplyStats& stats);
  Status write_revnat(const std::vector<FrontendPlan>& plans, ApplyStats& stats);
  Status write_slots(const std::vector<FrontendPlan>& plans, ApplyStats& stats);
  Status write_heads(const std::vector<FrontendPlan>& plans, ApplyStats& stats);
  Status drop_slots(const std::vector<FrontendPlan>& plans, ApplyStats& stats);
  Status remove_frontends(const std::set<FrontendKey>& keys, ApplyStats& stats);
  Status remove_orphan_revnat();
  Status remove_unused_tables(bool complete, ApplyStats& stats);
  Status release_backends(bool complete, ApplyStats& stats);

  // Mirror bookkeeping.
  uint32_t alloc_id(std::set<uint32_t>& used, uint32_t& next, uint32_t max);
  Status remove_backend(uint32_t id);
  void unref_backend(uint32_t id);
  void set_slot(ProgrammedFrontend& pf, uint16_t slot, uint32_t backend_id);
  void set_head(ProgrammedFrontend& pf, bool head);
  void claim(const FrontendKey& key, ProgrammedFrontend& pf, const std::string& service);
  void set_group(const FrontendKey& key, ProgrammedFrontend& pf, const std::string& group);
  void forget(const FrontendKey& key);
  // verify()'s steps.
  Status verify_backends(VerifyStats& out, std::vector<uint32_t>& extra);
  Status verify_tables(VerifyStats& out, std::vector<uint32_t>& extra);
  Status verify_revnat(VerifyStats& out, std::vector<uint32_t>& extra);
  Status verify_services(VerifyStats& out, std::vector<lb4_svc_key>& extra);
  MaglevTables::Table rebuild_table(const Group& g) const;

  LbMaps maps_;
  std::map<FrontendKey, ProgrammedFrontend> frontends_;
  std::map<std::string, std::set<FrontendKey>> by_service_;
  std::map<BackendAddr, uint32_t> backend_ids_;
  std::map<uint32_t, BackendAddr> backend_addr_;
  std::map<uint32_t, lb4_backend> backend_values_;  // id -> the value written (or restored)
  std::map<uint32_t, uint32_t> backend_refs_;       // id -> slot entries using it
  std::set<uint32_t> revnat_ids_;                   // service ids with a rev-NAT entry
  std::map<std::string, Group> groups_;
  std::chrono::milliseconds retire_grace_;
  std::set<uint32_t> unused_backends_;             // refs dropped to 0 since the last commit
  std::map<uint32_t, Clock::time_point> retired_;  // unused backend id -> when it was retired
  std::deque<std::pair<Clock::time_point, uint32_t>> retire_queue_;  // oldest first
  std::set<std::string> unused_groups_;  // lost a user since the last commit
  std::set<uint32_t> orphan_tables_;     // tables found at restore that no group claimed yet
  std::set<uint32_t> orphan_revnat_;     // rev-NAT entries found at restore with no frontend
  std::set<uint32_t> used_backend_ids_, used_svc_ids_, used_table_ids_;
  size_t service_entries_ = 0;  // entries of lb4_services the mirror holds
  uint32_t next_backend_id_ = 1, next_svc_id_ = 1, next_table_id_ = 1;
};

}  // namespace netagent::lb
