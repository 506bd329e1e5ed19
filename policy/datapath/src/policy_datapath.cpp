#include "netagent/policy/policy_datapath.hpp"

#include <algorithm>
#include <cstring>

#include "policy.skel.h"

namespace netagent::policy {

struct PolicyDatapath::Skel {
  datapath::Skeleton<::policy> s;
};

PolicyDatapath::PolicyDatapath() = default;
PolicyDatapath::~PolicyDatapath() = default;

Result<std::unique_ptr<PolicyDatapath>> PolicyDatapath::load(const PolicyDatapathOptions& opts) {
  datapath::OpenOptions oo;
  oo.pin_root = opts.pin_root;
  auto sk = datapath::Skeleton<::policy>::open(oo, "policy");
  if (!sk) return sk.error();
  auto* s = sk->get();
  if (opts.ct_max_entries && bpf_map__set_max_entries(s->maps.policy_ct, opts.ct_max_entries)) {
    return sys_error("size map policy_ct");
  }
  if (opts.ring_buffer_bytes &&
      bpf_map__set_max_entries(s->maps.policy_events, opts.ring_buffer_bytes)) {
    return sys_error("size map policy_events");
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
  NETAGENT_WRAP(entries_, policy_entries, EntriesMap);
  NETAGENT_WRAP(ipcache_, ipcache4, IpcacheMap);
  NETAGENT_WRAP(endpoints_, policy_eps, EndpointsMap);
  NETAGENT_WRAP(ct_, policy_ct, CtMap);
  NETAGENT_WRAP(drops_, policy_drops, Counters);
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
int PolicyDatapath::events_fd() const { return bpf_map__fd(skel_->s->maps.policy_events); }

Status PolicyDatapath::apply(const DatapathDiff& d) {
  // One update per entry: LPM tries have no batch update (and TypedMap::update_batch does not
  // compile here yet: it names the kernel-internal ENOTSUPP).
  for (const auto& [k, v] : d.policy.upserts) {
    if (auto st = entries_.update(k, v); !st) return st;
  }
  for (const auto& [k, v] : d.ipcache.upserts) {
    if (auto st = ipcache_.update(k, v); !st) return st;
  }
  for (const auto& [k, v] : d.endpoints.upserts) {
    if (auto st = endpoints_.update(k, v); !st) return st;
  }
  for (const auto& k : d.endpoints.deletes) {
    if (auto st = endpoints_.remove(k); !st) return st;
  }
  for (const auto& k : d.ipcache.deletes) {
    if (auto st = ipcache_.remove(k); !st) return st;
  }
  for (const auto& k : d.policy.deletes) {
    if (auto st = entries_.remove(k); !st) return st;
  }
  return {};
}

namespace {

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

}  // namespace

Result<DatapathState> PolicyDatapath::read_state() const {
  DatapathState st;
  if (auto s = read_into(ipcache_, st.ipcache); !s) return s.error();
  if (auto s = read_into(endpoints_, st.endpoints); !s) return s.error();
  if (auto s = read_into(entries_, st.policy); !s) return s.error();
  return st;
}

Result<PolicyCounters> PolicyDatapath::counters() const {
  PolicyCounters c;
  auto sum = [](const datapath::PerCpuArray<drop_counter>& arr, auto& out) -> Status {
    for (uint32_t i = 0; i < out.size(); ++i) {
      auto per_cpu = arr.read(i);
      if (!per_cpu) return per_cpu.error();
      for (const auto& v : *per_cpu) {
        out[i].packets += v.packets;
        out[i].bytes += v.bytes;
      }
    }
    return {};
  };
  if (auto st = sum(drops_, c.drops); !st) return st.error();
  if (auto st = sum(verdicts_, c.verdicts); !st) return st.error();
  return c;
}

std::optional<PolicyFlowRecord> decode_flow_record(std::span<const uint8_t> bytes) {
  if (bytes.size() < sizeof(policy_flow_record)) return std::nullopt;
  policy_flow_record r;
  std::memcpy(&r, bytes.data(), sizeof(r));
  return PolicyFlowRecord{r.event, r.rule};
}

}  // namespace netagent::policy
