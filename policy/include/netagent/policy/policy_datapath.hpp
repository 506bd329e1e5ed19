#pragma once
// The policy programs and maps in the kernel (bpf/policy.bpf.c): loading them (pinned under the
// agent's bpffs root, or private for tests and netctl), applying a DatapathDiff in its safe
// order, reading the maps back (to reconcile after a restart), counters, and decoding the flow
// records of the ring buffer.
#include <array>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "netagent/common/result.hpp"
#include "netagent/datapath/fake_map.hpp"
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
  std::array<drop_counter, __DROP_REASON_MAX> drops{};  // DROP_SET_POLICY, by enum drop_reason
  std::array<drop_counter, POLICY_VERDICT_COUNTERS> verdicts{};  // dir * 4 + flow_verdict
};

// The maps a DatapathDiff writes: the kernel's (PolicyDatapath::maps()) or in-memory fakes of
// the same kinds and sizes (fake(), for tests of the order and the failures without root).
struct PolicyMaps {
  datapath::TypedMap<policy_key, policy_value> entries;
  datapath::TypedMap<ipcache4_key, ipcache4_value> ipcache;
  datapath::TypedMap<uint32_t, policy_endpoint> endpoints;
  datapath::TypedMap<uint32_t, policy_endpoint> endpoints_by_dev;

  // Fakes sharing one journal (a fresh one if none is given).
  static PolicyMaps fake(std::shared_ptr<datapath::MapJournal> journal = nullptr);
};

// Applies a diff in the order DatapathDiff documents. Stops at the first failing write: what
// was written before it stays (read_state() says what the maps hold; the caller diffs against
// that and retries).
Status apply_diff(PolicyMaps& maps, const DatapathDiff& d);
// What the maps hold now (after a restart or a failed apply: the "from" side of the next diff).
Result<DatapathState> read_state(const PolicyMaps& maps);

// The drift check of the policy maps: reads them as they are, compares them with `programmed`
// (what the agent wrote) and writes the difference in apply_diff()'s order, so that afterwards
// they hold exactly `programmed`. Per map name ("policy_entries", "ipcache4", "policy_eps",
// "policy_ep_dev"), the entries that were missing, extra or changed (maps without drift are
// left out). The conntrack and counters are not compared.
struct EntryRepairs {
  size_t missing = 0, extra = 0, changed = 0;
  size_t total() const { return missing + extra + changed; }
};
struct RepairStats {
  std::map<std::string, EntryRepairs> maps;
  size_t checked = 0;  // entries read
};
Result<RepairStats> repair_drift(PolicyMaps& maps, const DatapathState& programmed);

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
  // The flow event ring buffer (struct flow_event), shared by every program through its pin:
  // with a pin root it carries the LB programs' records too.
  int events_fd() const;

  datapath::TypedMap<policy_key, policy_value>& entries() { return maps_.entries; }
  datapath::TypedMap<ipcache4_key, ipcache4_value>& ipcache() { return maps_.ipcache; }
  datapath::TypedMap<uint32_t, policy_endpoint>& endpoints() { return maps_.endpoints; }
  datapath::TypedMap<uint32_t, policy_endpoint>& endpoints_by_dev() {
    return maps_.endpoints_by_dev;
  }
  datapath::TypedMap<policy_ct_key, policy_ct_value>& conntrack() { return ct_; }
  PolicyMaps& maps() { return maps_; }

  // apply_diff() and read_state() on the kernel's maps.
  Status apply(const DatapathDiff& d) { return apply_diff(maps_, d); }
  Result<DatapathState> read_state() const { return policy::read_state(maps_); }
  // Per-CPU counters summed over CPUs.
  Result<PolicyCounters> counters() const;

 private:
  PolicyDatapath();
  struct Skel;
  std::unique_ptr<Skel> skel_;
  PolicyMaps maps_;
  datapath::TypedMap<policy_ct_key, policy_ct_value> ct_;
  datapath::PerCpuArray<drop_counter> drops_, verdicts_;
};

// The kernel's HZ measured with the policy object's probe program (cached per process).
Result<uint32_t> measure_kernel_hz();

// A record from the flow event ring buffer, with the policy rule that decided (0: none).
struct PolicyFlowRecord {
  flow_event event;
  uint32_t rule = 0;
};
std::optional<PolicyFlowRecord> decode_flow_record(std::span<const uint8_t> bytes);

}  // namespace netagent::policy
