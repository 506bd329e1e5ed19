#pragma once
// The service load-balancing part of the agent: keeps the LB datapath (socket LB on the node's
// cgroup, TC NodePort/LoadBalancer on the external devices) in step with the Services and
// EndpointSlices of each snapshot and the LoadBalancer IPs LB IPAM allocated, collects conntrack
// garbage, and serves `netctl service list`, `netctl bpf lb list` and `netctl bpf ct list`.
#include <boost/asio/steady_timer.hpp>
#include <memory>

#include "netagent/agent/agent.hpp"
#include "netagent/agent/reconciler.hpp"
#include "netagent/lb/conntrack_gc.hpp"
#include "netagent/lb/lb_datapath.hpp"
#include "netagent/lb/service_changes.hpp"
#include "netagent/lb/service_maps.hpp"
#include "netagent/lb/service_model.hpp"
#include "netagent/ipam/ipam_reconciler.hpp"

namespace netagent::lb {

class ServiceReconciler : public agent::Reconciler {
 public:
  ServiceReconciler(agent::Agent& agent, const ipam::IpamReconciler& ipam);
  ~ServiceReconciler() override;

  std::string name() const override { return "lb"; }
  Status start() override;
  Status apply(const k8s::Snapshot& snapshot) override;
  nlohmann::json status() const override;
  void register_api(api::Router& router) override;
  void register_metrics(metrics::Registry& registry) override;
  void stop() override;
  Status cleanup() override;

  // The frontends programmed now, for parts that must follow the datapath (BGP announces an
  // address only once it is served).
  const lb::DesiredServices& desired() const { return changes_.current(); }

  // The LB programs' flow-event ring buffer (drops with their reason), -1 before start(). The
  // policy part streams these to `netctl monitor` with its own.
  int flow_events_fd() const { return dp_ ? dp_->flow_events_fd : -1; }

  // ClusterMesh adds remote backends per service port ("ns/name/port-name").
  void set_extra_backends(lb::ExtraBackends extra) {
    extra_ = std::move(extra);
    extra_generation_++;
  }

 private:
  lb::NodeView node(const k8s::Snapshot& snapshot) const;
  void schedule_gc();
  nlohmann::json services_json() const;
  nlohmann::json maps_json() const;
  nlohmann::json conntrack_json(size_t limit) const;

  agent::Agent& agent_;
  const ipam::IpamReconciler& ipam_;
  std::unique_ptr<lb::LbDatapath> dp_;
  std::unique_ptr<lb::ServiceMaps> maps_;
  lb::ServiceChanges changes_;
  std::vector<lb::ServiceProblem> problems_;
  bool applied_once_ = false;
  lb::ExtraBackends extra_;
  uint64_t extra_generation_ = 1;
  lb::ApplyStats last_stats_;
  lb::GcStats last_gc_;
  uint64_t gc_removed_total_ = 0;
  boost::asio::steady_timer gc_timer_;
  metrics::Histogram* apply_seconds_ = nullptr;
};

}  // namespace netagent::lb
