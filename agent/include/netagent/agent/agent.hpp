#pragma once
// The agent runtime: one control thread (a Boost.Asio io_context) that runs the desired-state
// source, the reconcilers, the API server, the metrics server and signal handling.
//
//   Agent agent(config);
//   agent.add(std::make_unique<ipam::IpamReconciler>(agent.store(), options));  // in apply order
//   agent.set_source(std::make_unique<source::ManifestSource>(agent.io(), dir));
//   return agent.run();                                                         // until SIGTERM
//
// The agent owns the desired-state store (store/): each snapshot from the source goes into it
// and every reconciler's apply() runs, in registration order. A value a part publishes into the
// store re-applies the parts that read it (Reconciler::inputs), in the same pass when it is
// published during one. A reconciler error is logged, counted
// (netagent_reconciler_apply_errors_total), shown in `netctl status`, and retried with back-off;
// the agent and the other reconcilers keep going. On SIGTERM/SIGINT the agent stops its parts and
// exits 0, leaving every pinned map and attached program in place (see Reconciler::stop). SIGHUP
// and POST /v1/resync run the drift check of every part (Reconciler::verify_datapath: the
// kernel's maps and attachments against what the part programmed, differences repaired), then
// reload the source and re-apply the latest snapshot to all. The drift check also runs every
// Config::datapath_verify_interval seconds; its last result is in GET /v1/status
// ("datapath_check") and its repairs in netagent_datapath_drift_repaired_total.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "netagent/agent/bpf_root_lock.hpp"
#include "netagent/agent/config.hpp"
#include "netagent/api/router.hpp"
#include "netagent/api/server.hpp"
#include "netagent/k8s/snapshot.hpp"
#include "netagent/k8s/source.hpp"
#include "netagent/metrics/http_server.hpp"
#include "netagent/metrics/registry.hpp"
#include "netagent/store/reconciler.hpp"
#include "netagent/store/store.hpp"

namespace netagent::agent {

// "0.1.0": the version this agent was built as.
const char* version();

class Agent {
 public:
  explicit Agent(Config config);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  const Config& config() const { return config_; }
  boost::asio::io_context& io() { return io_; }
  metrics::Registry& metrics() { return metrics_; }
  api::Router& router() { return router_; }
  // CRD kinds the parts consume; hand it to the source (parts register theirs in add()).
  k8s::KindRegistry& kinds() { return kinds_; }
  // The desired-state store the parts read and publish into.
  store::Store& store() { return store_; }

  // Before run(), in apply order. Calls the reconciler's register_kinds/api/metrics at once.
  // Throws std::logic_error when a topic the part reads is not published by a part added before
  // it (the order would make a pass miss the update).
  void add(std::unique_ptr<store::Reconciler> reconciler);
  // Before run(). Without a source the agent runs with no desired state and says so in status.
  void set_source(std::unique_ptr<k8s::Source> source);
  // Optional: how to make the source read its input again (called on the control thread by a
  // resync, before re-applying; a reload that delivers a new snapshot applies it itself).
  void set_reload(std::function<void()> reload) { reload_ = std::move(reload); }

  // Listens on the API socket and metrics address, starts the reconcilers and the source, and
  // runs the control loop on the calling thread until stopped. Returns the process exit code:
  // kExitOk after SIGTERM/SIGINT/request_stop(), else the start-up failure's code (logged).
  int run();
  // Thread-safe: stop as on SIGTERM / resync as on SIGHUP (reload the source, re-apply).
  void request_stop();
  void request_resync();
  // Control thread only: the drift check of every part, then reload and a full pass. Returns
  // what POST /v1/resync answers: {"datapath_check": ..., "reconcilers": [...]}.
  nlohmann::json resync(const std::string& trigger);
  // Control thread only: the drift check of every part (`trigger`: "periodic", "resync", ...);
  // returns the check's record (also kept as status()["datapath_check"]["last"]).
  nlohmann::json verify_datapath(const std::string& trigger);

  // Keeps the bpf-root lock (main takes it before any part starts) for the agent's life, and
  // shows it in GET /v1/status ("bpf_root_lock").
  void hold_bpf_root_lock(BpfRootLock lock) { bpf_root_lock_ = std::move(lock); }

  // `netagent --cleanup`: each reconciler's cleanup() in reverse order, then removes the
  // agent's own pins under bpf-root (datapath/pins.hpp: other pins and directories stay and are
  // logged) and a stale API socket. The agent must not be running (main holds the bpf-root
  // lock).
  int cleanup();

  // Control thread only (e.g. from API handlers and tests that post to io()).
  const std::shared_ptr<const k8s::Snapshot>& snapshot() const { return store_.snapshot(); }
  uint64_t generation() const { return store_.snapshot_generation(); }
  nlohmann::json status() const;
  // Where the metrics listener is bound (port 0 in the config picks one).
  std::string metrics_endpoint() const;

 private:
  struct Part;

  void register_builtin_api();
  void register_builtin_metrics();
  void on_snapshot(std::shared_ptr<const k8s::Snapshot> snapshot);
  void on_source_errors(const std::vector<k8s::DecodeError>& errors);
  // Applies every part marked dirty, in order (parts dirtied by a publish during the pass are
  // applied in the same pass).
  void run_pass();
  void schedule_pass();
  void on_publish(const store::Topic& topic);
  void apply(Part& part);
  void schedule_retry(Part& part);
  void watch_signals();
  void schedule_verify();
  void shutdown(const std::string& why);
  // Gives freed heap back to the kernel when much more is free than in use (see agent.cpp).
  void release_freed_heap();
  void schedule_heap_check();
  nlohmann::json source_status() const;
  nlohmann::json node_status() const;
  nlohmann::json last_check() const;
  // The file descriptor limit and the HTTP listeners' connections (GET /v1/status "limits").
  nlohmann::json limits_status() const;

  Config config_;
  boost::asio::io_context io_;  // first: outlives every object that posts to it
  metrics::Registry metrics_;
  api::Router router_;
  k8s::KindRegistry kinds_;
  store::Store store_;
  api::ApiServer api_server_;
  metrics::MetricsServer metrics_server_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer verify_timer_;
  nlohmann::json last_check_;  // the latest drift check (null before the first)
  uint64_t checks_ = 0, checks_repaired_ = 0, checks_failed_ = 0;
  uint64_t repaired_total_ = 0;  // entries and attachments repaired since start
  metrics::Family<metrics::Counter>* m_drift_repaired_ = nullptr;
  metrics::Family<metrics::Counter>* m_drift_attachments_ = nullptr;
  metrics::Family<metrics::Counter>* m_drift_checks_ = nullptr;
  std::unique_ptr<k8s::Source> source_;
  std::function<void()> reload_;
  std::vector<std::unique_ptr<Part>> parts_;
  BpfRootLock bpf_root_lock_;
  boost::asio::steady_timer heap_timer_;
  metrics::Counter* heap_trims_ = nullptr;
  metrics::Counter* heap_released_ = nullptr;
  // Resident bytes after the last trim and heap bytes in use then (release_freed_heap).
  size_t resident_after_trim_ = 0;
  size_t in_use_at_trim_ = 0;

  std::chrono::system_clock::time_point snapshot_at_{};
  bool in_pass_ = false;
  bool pass_scheduled_ = false;
  std::vector<k8s::DecodeError> source_errors_;  // latest rejected load, as reported
  std::chrono::system_clock::time_point started_at_;
  std::chrono::steady_clock::time_point started_steady_;
  int exit_code_ = 0;  // kExitOk unless a fatal error stopped the agent
  bool running_ = false;
  bool stopping_ = false;
  bool node_found_ = false;
  bool node_checked_ = false;
};

}  // namespace netagent::agent
