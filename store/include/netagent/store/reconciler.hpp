#pragma once
// What a part of the agent (LB, policy, IPAM, BGP, ClusterMesh, ...) implements to be driven by
// the runtime. A part reads the desired-state store (the snapshot from the source and the topics
// it names in inputs()), compares it with what it has programmed and applies the difference; it
// may publish typed values (outputs()) that later parts read. Parts never call each other.
//
// The runtime applies a part when the snapshot changes, when a topic it reads is published, and
// after a failed apply (retry with back-off). Parts run in registration order, and a part's
// inputs must be published by parts registered before it, so one pass brings every part up to
// date.
//
// Everything here is called on the agent's control thread (its io_context), one call at a time,
// so a reconciler needs no locks between apply(), status() and its API handlers. Work that
// waits (BGP sessions, etcd watches) runs asynchronously on the same io_context.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "netagent/api/router.hpp"
#include "netagent/common/result.hpp"
#include "netagent/k8s/snapshot.hpp"
#include "netagent/metrics/registry.hpp"
#include "netagent/store/store.hpp"

namespace netagent::store {

// How long the agent waits for Reconciler::drain on shutdown.
inline constexpr std::chrono::seconds kDrainLimit{5};

// Entries of one map that a drift check found different from what the part had programmed and
// rewrote: missing (programmed, gone from the kernel), extra (in the kernel, not programmed) and
// changed (same key, another value).
struct MapDrift {
  uint64_t missing = 0, extra = 0, changed = 0;
  uint64_t total() const { return missing + extra + changed; }
};

// What Reconciler::verify_datapath() found and repaired.
struct DriftReport {
  std::map<std::string, MapDrift> maps;  // by map name ("lb4_services"); only maps with drift
  std::vector<std::string> attachments;  // program attachments restored ("tc ingress on eth0")
  // Differences found and deliberately left, with why (another tool's program at the part's
  // hook is never replaced): the check reports them as errors.
  std::vector<std::string> unrepaired;
  uint64_t entries_checked = 0;  // map entries compared (kernel side)
  uint64_t repaired() const {
    uint64_t n = attachments.size();
    for (const auto& [name, d] : maps)
      n += d.total();
    return n;
  }
  bool clean() const { return repaired() == 0; }
};

class Reconciler {
 public:
  virtual ~Reconciler() = default;

  // Short, stable, lower-case: "lb", "policy", "bgp". Used in logs, metrics labels and status.
  virtual std::string name() const = 0;

  // The topics this part reads besides the snapshot, and the ones it publishes.
  virtual std::vector<Topic> inputs() const { return {}; }
  virtual std::vector<Topic> outputs() const { return {}; }

  // Once, before the first apply: open or create pinned maps, read back what is programmed,
  // attach programs. Failing here stops the agent (exit code 1) with this error.
  virtual Status start() { return {}; }

  // Makes the programmed state match the store (store.snapshot() is never null here). On error,
  // whatever was applied before stays; the error is logged, counted and shown in `netctl
  // status`, and the agent retries this reconciler after a back-off. Must not throw.
  virtual Status apply(const Store& store) = 0;

  // The drift check: reads the kernel's maps and program attachments as they are now, compares
  // them with what this part has programmed (its mirror of its maps, not the desired state),
  // and repairs every difference (entries missing, extra or changed; programs detached or
  // replaced), so that afterwards kernel == mirror. The maps a part owns under the agent's
  // bpf-root are wholly the agent's: an entry there that the part did not write is removed.
  // Dynamic state the datapath writes itself (conntrack, counters, rings, SNAT, affinity) is
  // not compared. Runs on POST /v1/resync (before the full apply that brings the mirror to the
  // desired state) and every --datapath-verify-interval. Only after start() succeeded. An
  // error leaves whatever was repaired before it in place; the agent logs and shows it.
  // Parts that own no maps keep this default.
  virtual Result<DriftReport> verify_datapath() { return DriftReport{}; }

  // Part-specific state for GET /v1/status ("reconcilers"[i].status).
  virtual nlohmann::json status() const { return nlohmann::json::object(); }

  // Called once when the reconciler is added, before the source starts: the manifest kinds this
  // part consumes beyond the core ones (CRDs such as CiliumLoadBalancerIPPool), with their
  // decoders, so that a bad object is rejected at load time with file, document and field.
  virtual void register_kinds(k8s::KindRegistry&) {}
  // Called once when the reconciler is added: add routes ("/v1/services", ...) and metrics.
  virtual void register_api(api::Router&) {}
  virtual void register_metrics(metrics::Registry&) {}

  // On SIGTERM/SIGINT, in reverse registration order: stop background work. Must NOT unpin maps
  // or detach programs: a restart is invisible to traffic only if the datapath stays in place.
  virtual void stop() {}

  // After every part's stop(): work that must still run on the io_context before the process
  // exits (BGP sessions sending their NOTIFICATIONs or closing for graceful restart). Call
  // `done` once finished; the agent waits for every part, at most kDrainLimit, then exits.
  virtual void drain(std::function<void()> done) { done(); }

  // `netagent --cleanup` only (agent stopped): detach programs and remove this part's pins.
  virtual Status cleanup() { return {}; }
};

}  // namespace netagent::store
