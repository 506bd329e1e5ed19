#pragma once
// The policy programs and maps in the kernel (bpf/policy.bpf.c): loading them (pinned under the
// agent's bpffs root, or private for tests and netctl), applying a DatapathDiff in its safe
// order, reading the maps back (to reconcile after a restart), counters, and decoding the flow
// records of the ring buffer.
#include <array>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "netagent/common/result.hpp"
// typed_map.hpp names ENOTSUPP, which only the kernel's internal errno.h defines (524: what
// BPF_MAP_UPDATE_BATCH returns for maps without batch support). Until that header defines it
// itself, give it here.
#ifndef ENOTSUPP
#define ENOTSUPP 524
#endif
#include "netagent/datapath/skeleton.hpp"
#include "netagent/datapath/typed_map.hpp"
#include "netagent/policy/datapath_state.hpp"

extern "C" {
#include "netagent/drop.h"
}

struct policy;  // the bpftool skeleton (policy.skel.h)

namespace netagent::policy {

struct PolicyDatapathOptions {
  // bpffs directory for the pinned maps (shared across restarts); nullopt: private maps.
  std::optional<std::string> pin_root;
  // Overrides of map sizes before load (0 keeps the ABI default), e.g. small private instances.
  uint32_t ct_max_entries = 0;
  uint32_t ring_buffer_bytes = 0;  // a power of two multiple of the page size
  // The kernel's CONFIG_HZ (conntrack counts seconds in jiffies). 0: measure it once per process
  // (two runs of policy_probe_jiffies 100 ms apart).
  uint32_t kernel_hz = 0;
};

struct PolicyCounters {
  std::array<drop_counter, __DROP_REASON_MAX> drops{};           // by enum drop_reason
  std::array<drop_counter, POLICY_VERDICT_COUNTERS> verdicts{};  // dir * 4 + flow_verdict
};

class PolicyDatapath {
 public:
  static Result<std::unique_ptr<PolicyDatapath>> load(const PolicyDatapathOptions& opts);
  ~PolicyDatapath();
  PolicyDatapath(const PolicyDatapath&) = delete;
  PolicyDatapath& operator=(const PolicyDatapath&) = delete;

  // Attach at TC ingress of an endpoint's host-side veth (packets from the pod: egress policy).
  int from_endpoint_fd() const;
  // Attach at TC egress of the host-side veth (packets to the pod: ingress policy).
  int to_endpoint_fd() const;
  int events_fd() const;  // ring buffer of struct policy_flow_record

  datapath::TypedMap<policy_key, policy_value>& entries() { return entries_; }
  datapath::TypedMap<ipcache4_key, ipcache4_value>& ipcache() { return ipcache_; }
  datapath::TypedMap<uint32_t, policy_endpoint>& endpoints() { return endpoints_; }
  datapath::TypedMap<uint32_t, policy_endpoint>& endpoints_by_dev() { return endpoints_by_dev_; }
  datapath::TypedMap<policy_ct_key, policy_ct_value>& conntrack() { return ct_; }

  // Applies a diff in the order DatapathDiff documents. Stops at the first failing update
  // (the caller recomputes the diff against read_state() and retries).
  Status apply(const DatapathDiff& d);
  // What the maps hold now (after a restart: the "from" side of the next diff).
  Result<DatapathState> read_state() const;
  // Per-CPU counters summed over CPUs.
  Result<PolicyCounters> counters() const;

 private:
  PolicyDatapath();
  struct Skel;
  std::unique_ptr<Skel> skel_;
  datapath::TypedMap<policy_key, policy_value> entries_;
  datapath::TypedMap<ipcache4_key, ipcache4_value> ipcache_;
  datapath::TypedMap<uint32_t, policy_endpoint> endpoints_;
  datapath::TypedMap<uint32_t, policy_endpoint> endpoints_by_dev_;
  datapath::TypedMap<policy_ct_key, policy_ct_value> ct_;
  datapath::PerCpuArray<drop_counter> drops_, verdicts_;
};

// The kernel's HZ measured with the policy object's probe program (cached per process).
Result<uint32_t> measure_kernel_hz();

// A record from the policy ring buffer.
struct PolicyFlowRecord {
  flow_event event;
  uint32_t rule = 0;
};
std::optional<PolicyFlowRecord> decode_flow_record(std::span<const uint8_t> bytes);

}  // namespace netagent::policy
