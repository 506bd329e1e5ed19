#pragma once
// The network policy part of the agent. It registers the policy kinds (NetworkPolicy,
// CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy) with validators, keeps the endpoints the
// CNI plugin registers (POST /v1/endpoints) with the policy TC programs on their host-side veths,
// compiles each snapshot's policies for those endpoints, and programs the ipcache and policy
// maps as minimal diffs. It reads the flow events of the policy programs and serves them live
// (`netctl monitor`), counts them for Prometheus, and answers `netctl policy trace`.
#include <deque>
#include <functional>
#include <memory>
#include <set>

#include <boost/asio/io_context.hpp>

#include "netagent/datapath/attach.hpp"
#include "netagent/datapath/ring_buffer.hpp"
#include "netagent/policy/datapath_state.hpp"
#include "netagent/policy/endpoint_store.hpp"
#include "netagent/policy/policy_datapath.hpp"
#include "netagent/policy/policy_tools.hpp"
#include "netagent/policy/remote_workloads.hpp"
#include "netagent/store/reconciler.hpp"

namespace netagent::policy {

// Which flow events a monitor client wants (all fields optional).
struct MonitorFilter {
  std::string type;                  // "drop" or "policy-verdict"
  std::string verdict;               // "allowed", "denied", "audited" or "dropped"
  std::string endpoint;              // endpoint id or "ns/pod"
  std::optional<uint32_t> identity;  // source or destination identity
  static Result<MonitorFilter> from_query(const std::map<std::string, std::string>& q);
  bool matches(const nlohmann::json& event) const;
};

class PolicyReconciler : public store::Reconciler {
 public:
  struct Options {
    std::string node_name;  // the "host" identity's node; this node's endpoints
    std::string state_dir;  // endpoints.json lives here
    std::string bpf_root;   // pinned policy maps
    // The agent's --devices: uplinks that carry the NodePort/LoadBalancer programs, never an
    // endpoint's interface.
    std::vector<std::string> devices;
    EnforcementMode mode = EnforcementMode::Default;
    bool audit = false;
  };
  PolicyReconciler(boost::asio::io_context& io, Options options);
  ~PolicyReconciler() override;

  std::string name() const override { return "policy"; }
  // ClusterMesh: the remote clusters' identities and endpoints enter the ipcache.
  std::vector<store::Topic> inputs() const override { return {store::topic<RemoteWorkloads>()}; }
  Status start() override;
  Status apply(const store::Store& store) override;
  Result<store::DriftReport> verify_datapath() override;
  nlohmann::json status() const override;
  void register_kinds(k8s::KindRegistry& registry) override;
  void register_api(api::Router& router) override;
  void register_metrics(metrics::Registry& registry) override;
  void stop() override;
  Status cleanup() override;

 private:
  // Compiles the latest snapshot with the registered endpoints and applies the diff.
  Status reprogram();
  // Attaches the policy programs to the endpoint's veth unless its interface is refused (an
  // uplink, loopback) or another tool's program sits at our hook (ep.refused says why).
  Status attach(Endpoint& ep);
  // Removes the policy programs from the veth, only where they are ours.
  void detach(const Endpoint& ep);
  // The TC hook of the policy programs on an endpoint's veth (handle 1, priority 1), and the
  // programs this part may replace or remove there (its own).
  static datapath::TcHook endpoint_hook(uint32_t ifindex, datapath::TcDirection d);
  static const std::vector<std::string>& own_programs();
  // Why `interface` may not carry an endpoint (interface_refusal with its loopback flag).
  std::optional<std::string> interface_problem(const std::string& interface) const;
  void on_record(std::span<const uint8_t> bytes);
  void on_flow(const policy::PolicyFlowRecord& r);
  nlohmann::json event_json(const policy::PolicyFlowRecord& r) const;
  nlohmann::json endpoint_json(const Endpoint& ep) const;
  api::Reply register_endpoint(const api::Request& r);
  api::Reply delete_endpoint(const Endpoint& ep);
  nlohmann::json policy_json() const;

  boost::asio::io_context& io_;
  Options opts_;
  PolicySettings settings_;
  EndpointStore endpoints_;
  std::unique_ptr<policy::PolicyDatapath> dp_;
  std::unique_ptr<datapath::RingBufferReader> events_;
  // What the last apply read from the store (endpoint registrations recompile with them).
  std::shared_ptr<const k8s::Snapshot> snapshot_;
  std::shared_ptr<const RemoteWorkloads> remote_;
  std::unique_ptr<policy::CompiledPolicy> cp_;
  policy::DatapathState programmed_;
  std::vector<std::string> unknown_;  // registered endpoints the compiler did not know
  std::set<std::string> warned_;      // unsupported-feature warnings already logged
  size_t last_diff_ = 0;
  uint64_t applies_ = 0;
  uint64_t refused_registrations_ = 0;
  metrics::Family<metrics::Counter>* registrations_refused_ = nullptr;

  struct Subscriber {
    std::shared_ptr<api::Stream> stream;
    MonitorFilter filter;
  };
  std::vector<std::shared_ptr<Subscriber>> subscribers_;
  uint64_t events_seen_ = 0;

  metrics::Family<metrics::Counter>* flow_events_ = nullptr;
  metrics::Histogram* apply_seconds_ = nullptr;
};

}  // namespace netagent::policy
