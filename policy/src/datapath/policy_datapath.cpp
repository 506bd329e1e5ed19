#include "netagent/policy/policy_datapath.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "netagent/datapath/packet.hpp"
#include "netagent/datapath/test_run.hpp"
#include "policy.skel.h"

namespace netagent::policy {

struct PolicyDatapath::Skel {
  datapath::Skeleton<::policy> s;
};

PolicyDatapath::PolicyDatapath() = default;
PolicyDatapath::~PolicyDatapath() = default;

namespace {

Result<uint32_t> probe_hz() {
  auto sk = datapath::Skeleton<::policy>::open({}, "policy-hz-probe");
  if (!sk) return sk.error();
  bpf_map__set_max_entries(sk->get()->maps.policy_ct, 16);
  if (auto st = sk->load(); !st) return st.error();
  int fd = bpf_program__fd(sk->get()->progs.policy_probe_jiffies);
  auto pkt = datapath::PacketBuilder().ipv4(Ipv4Addr{1}, Ipv4Addr{2}).udp(1, 2).build();
  auto sample = [&]() -> Result<std::pair<uint32_t, std::chrono::steady_clock::time_point>> {
    auto r = datapath::test_run(fd, pkt);
    if (!r) return r.error();
    return std::make_pair(r->retval, std::chrono::steady_clock::now());
  };
  auto a = sample();
  if (!a) return a.error();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto b = sample();
  if (!b) return b.error();
  double secs = std::chrono::duration<double>(b->second - a->second).count();
  double rate = double(uint32_t(b->first - a->first)) / secs;
  // CONFIG_HZ is one of these; take the nearest.
  uint32_t best = 250;
  for (uint32_t hz : {100u, 250u, 300u, 1000u}) {
    if (std::abs(rate - hz) < std::abs(rate - best)) best = hz;
  }
  return best;
}

}  // namespace

Result<uint32_t> measure_kernel_hz() {
  static std::mutex mu;
  static std::optional<uint32_t> cached;
  std::lock_guard<std::mutex> lock(mu);
  if (!cached) {
    auto hz = probe_hz();
    if (!hz) return hz.error().wrap("measure the kernel's HZ");
    cached = *hz;
  }
  return *cached;
}

Result<std::unique_ptr<PolicyDatapath>> PolicyDatapath::load(const PolicyDatapathOptions& opts) {
  uint32_t hz = opts.kernel_hz;
  if (!hz) {
    auto m = measure_kernel_hz();
    if (!m) return m.error();
    hz = *m;
  }
  datapath::OpenOptions oo;
  oo.pin_root = opts.pin_root;
  auto sk = datapath::Skeleton<::policy>::open(oo, "policy");
  if (!sk) return sk.error();
  auto* s = sk->get();
  s->rodata->policy_cfg.hz = hz;
  if (opts.ct_max_entries && bpf_map__set_max_entries(s->maps.policy_ct, opts.ct_max_entries)) {
    return sys_error("size map policy_ct");
  }
  if (opts.ring_buffer_bytes &&
      bpf_map__set_max_entries(s->maps.flow_events, opts.ring_buffer_bytes)) {
    return sys_error("size map flow_events");
  }
  if (auto st = sk->load(); !st) return st.error();

  std::unique_ptr<PolicyDatapath> dp(new PolicyDatapath());
  dp->skel_ = std::make_unique<Skel>(Skel{std::move(*sk)});
  s = dp->skel_->s.get();
  using EntriesMap = datapath::TypedMap<policy_key, policy_value>;
  using IpcacheMap = datapath::TypedMap<ipcache4_key, ipcache4_value>;
  using EndpointsMap = datapath::TypedMap<uint32_t, policy_endpoint>;
  using CtMap = datapath::TypedMap<policy_ct_key, policy_ct_value>;
  using Counters = datapath::PerCpuArray<drop_counter>;
#define NETAGENT_WRAP(field, map, type)               \
  do {                                                \
    auto m = type::of(s->maps.map);                   \
    if (!m) return m.error().wrap("policy datapath"); \
    dp->field = std::move(*m);                        \
  } while (0)
  NETAGENT_WRAP(maps_.entries, policy_entries, EntriesMap);
  NETAGENT_WRAP(maps_.ipcache, ipcache4, IpcacheMap);
  NETAGENT_WRAP(maps_.endpoints, policy_eps, EndpointsMap);
  NETAGENT_WRAP(maps_.endpoints_by_dev, policy_ep_dev, EndpointsMap);
  NETAGENT_WRAP(ct_, policy_ct, CtMap);
  NETAGENT_WRAP(drops_, drop_counters, Counters);
  NETAGENT_WRAP(verdicts_, policy_verdicts, Counters);
#undef NETAGENT_WRAP
  return dp;
}

int PolicyDatapath::from_endpoint_fd() const {
  return bpf_program__fd(skel_->s->progs.policy_from_endpoint);
}
int PolicyDatapath::to_endpoint_fd() const {
  return bpf_program__fd(skel_->s->progs.policy_to_endpoint);
}
int PolicyDatapath::events_fd() const {
  return bpf_map__fd(skel_->s->maps.flow_events);
}

PolicyMaps PolicyMaps::fake(std::shared_ptr<datapath::MapJournal> journal) {
  if (!journal) journal = std::make_shared<datapath::MapJournal>();
  using datapath::FakeMap;
  // The kinds and sizes of bpf/policy.bpf.c's maps.
  return PolicyMaps{
      *datapath::TypedMap<policy_key, policy_value>::of(FakeMap::make<policy_key, policy_value>(
          "policy_entries", POLICY_MAP_MAX_ENTRIES, FakeMap::Kind::LpmTrie, journal)),
      *datapath::TypedMap<ipcache4_key, ipcache4_value>::of(
          FakeMap::make<ipcache4_key, ipcache4_value>("ipcache4", IPCACHE4_MAX_ENTRIES,
                                                      FakeMap::Kind::LpmTrie, journal)),
      *datapath::TypedMap<uint32_t, policy_endpoint>::of(FakeMap::make<uint32_t, policy_endpoint>(
          "policy_eps", POLICY_ENDPOINTS_MAX, FakeMap::Kind::Hash, journal)),
      *datapath::TypedMap<uint32_t, policy_endpoint>::of(FakeMap::make<uint32_t, policy_endpoint>(
          "policy_ep_dev", POLICY_EP_DEV_MAX, FakeMap::Kind::Array, journal)),
  };
}

namespace {

template <typename K, typename V>
Status write_upserts(datapath::TypedMap<K, V>& m, const MapDiff<K, V>& d) {
  // One update per entry: LPM tries have no batch update.
  for (const auto& [k, v] : d.upserts) {
    if (auto st = m.update(k, v); !st) return st;
  }
  return {};
}

template <typename K, typename V>
Status write_deletes(datapath::TypedMap<K, V>& m, const MapDiff<K, V>& d) {
  for (const auto& k : d.deletes) {
    if (auto st = m.remove(k); !st) return st;
  }
  return {};
}

// endpoints_by_dev is an array: a delete is a write of an empty slot.
Status clear_slots(datapath::TypedMap<uint32_t, policy_endpoint>& m,
                   const MapDiff<uint32_t, policy_endpoint>& d) {
  for (const auto& k : d.deletes) {
    if (auto st = m.update(k, policy_endpoint{}); !st) return st;
  }
  return {};
}

template <typename K, typename V>
Status read_into(const datapath::TypedMap<K, V>& m, MapContents<K, V>& out) {
  auto e = m.entries();
  if (!e) return e.error();
  out.entries = std::move(*e);
  std::sort(out.entries.begin(), out.entries.end(), [](const auto& a, const auto& b) {
    return std::memcmp(&a.first, &b.first, sizeof(K)) < 0;
  });
  return {};
}

// The array's occupied slots (the backend reads arrays in batches).
Status read_slots(const datapath::TypedMap<uint32_t, policy_endpoint>& m,
                  MapContents<uint32_t, policy_endpoint>& out) {
  return m.for_each([&](const uint32_t& k, const policy_endpoint& v) {
    if (v.endpoint_id) out.entries.emplace_back(k, v);
  });
}

}  // namespace

Status apply_diff(PolicyMaps& maps, const DatapathDiff& d) {
  // Make before break (see DatapathDiff): every upsert, policy first, then every delete,
  // endpoints first.
  if (auto st = write_upserts(maps.entries, d.policy); !st) return st;
  if (auto st = write_upserts(maps.ipcache, d.ipcache); !st) return st;
  if (auto st = write_upserts(maps.endpoints, d.endpoints); !st) return st;
  if (auto st = write_upserts(maps.endpoints_by_dev, d.endpoints_by_dev); !st) return st;
  if (auto st = clear_slots(maps.endpoints_by_dev, d.endpoints_by_dev); !st) return st;
  if (auto st = write_deletes(maps.endpoints, d.endpoints); !st) return st;
  if (auto st = write_deletes(maps.ipcache, d.ipcache); !st) return st;
  return write_deletes(maps.entries, d.policy);
}

Result<DatapathState> read_state(const PolicyMaps& maps) {
  DatapathState st;
  if (auto s = read_into(maps.ipcache, st.ipcache); !s) return s.error();
  if (auto s = read_into(maps.endpoints, st.endpoints); !s) return s.error();
  if (auto s = read_slots(maps.endpoints_by_dev, st.endpoints_by_dev); !s) return s.error();
  if (auto s = read_into(maps.entries, st.policy); !s) return s.error();
  return st;
}

namespace {

template <typename K, typename V>
void count_repairs(const MapContents<K, V>& now, const MapDiff<K, V>& d, const std::string& name,
                   RepairStats& out) {
  out.checked += now.entries.size();
  EntryRepairs r;
  std::set<std::string> present;
  for (const auto& [k, v] : now.entries)
    present.emplace(reinterpret_cast<const char*>(&k), sizeof(K));
  for (const auto& [k, v] : d.upserts) {
    bool there = present.count(std::string(reinterpret_cast<const char*>(&k), sizeof(K))) > 0;
    (there ? r.changed : r.missing)++;
  }
  r.extra = d.deletes.size();
  if (r.total()) out.maps[name] = r;
}

}  // namespace

Result<RepairStats> repair_drift(PolicyMaps& maps, const DatapathState& programmed) {
  auto now = read_state(maps);
  if (!now) return now.error();
  auto d = diff(*now, programmed);
  RepairStats out;
  count_repairs(now->policy, d.policy, maps.entries.name(), out);
  count_repairs(now->ipcache, d.ipcache, maps.ipcache.name(), out);
  count_repairs(now->endpoints, d.endpoints, maps.endpoints.name(), out);
  count_repairs(now->endpoints_by_dev, d.endpoints_by_dev, maps.endpoints_by_dev.name(), out);
  if (!d.empty()) {
    if (auto st = apply_diff(maps, d); !st) return st.error();
  }
  return out;
}

Result<PolicyCounters> PolicyDatapath::counters() const {
  PolicyCounters c;
  // first: the first index of the array that out[0] sums.
  auto sum = [](const datapath::PerCpuArray<drop_counter>& arr, uint32_t first,
                auto& out) -> Status {
    for (uint32_t i = 0; i < out.size(); ++i) {
      auto per_cpu = arr.read(first + i);
      if (!per_cpu) return per_cpu.error();
      for (const auto& v : *per_cpu) {
        out[i].packets += v.packets;
        out[i].bytes += v.bytes;
      }
    }
    return {};
  };
  if (auto st = sum(drops_, uint32_t(DROP_SET_POLICY) * __DROP_REASON_MAX, c.drops); !st)
    return st.error();
  if (auto st = sum(verdicts_, 0, c.verdicts); !st) return st.error();
  return c;
}

std::optional<PolicyFlowRecord> decode_flow_record(std::span<const uint8_t> bytes) {
  if (bytes.size() < sizeof(flow_event)) return std::nullopt;
  flow_event e;
  std::memcpy(&e, bytes.data(), sizeof(e));
  return PolicyFlowRecord{e, e.rule};
}

}  // namespace netagent::policy
