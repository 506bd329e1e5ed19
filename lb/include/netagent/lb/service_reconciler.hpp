#pragma once
// The service load-balancing part of the agent: keeps the LB datapath (socket LB on the node's
// cgroup, TC NodePort/LoadBalancer on the external devices) in step with the Services and
// EndpointSlices of each snapshot, the LoadBalancer IPs LB IPAM allocated and the remote
// backends ClusterMesh learnt (both read from the store), publishes the frontends it actually
// serves (lb::ServedFrontends), collects conntrack garbage, and serves `netctl service list`,
// `netctl bpf lb list` and `netctl bpf ct list`.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "netagent/ipam/allocation.hpp"
#include "netagent/lb/conntrack_gc.hpp"
#include "netagent/lb/lb_datapath.hpp"
#include "netagent/lb/service_changes.hpp"
#include "netagent/lb/service_maps.hpp"
#include "netagent/lb/service_model.hpp"
#include "netagent/store/reconciler.hpp"

namespace netagent::lb {

class ServiceReconciler : public store::Reconciler {
 public:
  struct Options {
    LbDatapathOptions datapath;        // pin root (bpf-root), Maglev, NodePort range
    std::string maglev_hash_seed;      // base64, as configured (decoded into datapath.seed)
    std::string node_name;             // this node's Node object (addresses, topology)
    std::string cgroup;                // cgroup v2 directory for the socket LB
    std::vector<std::string> devices;  // external devices for the NodePort/LoadBalancer LB
  };
  ServiceReconciler(boost::asio::io_context& io, store::Store& store, Options options);
  ~ServiceReconciler() override;

  std::string name() const override { return "lb"; }
  // LoadBalancer IPs from LB IPAM, remote backends of global services from ClusterMesh.
  std::vector<store::Topic> inputs() const override {
    return {store::topic<ipam::Allocation>(), store::topic<ExtraBackends>()};
  }
  std::vector<store::Topic> outputs() const override { return {store::topic<ServedFrontends>()}; }
  Status start() override;
  Status apply(const store::Store& store) override;
  Result<store::DriftReport> verify_datapath() override;
  nlohmann::json status() const override;
  void register_api(api::Router& router) override;
  void register_metrics(metrics::Registry& registry) override;
  void stop() override;
  Status cleanup() override;

 private:
  lb::NodeView node(const k8s::Snapshot& snapshot) const;
  // What the maps serve now, published when it changed.
  void publish_served();
  void schedule_gc();
  nlohmann::json services_json() const;
  nlohmann::json not_programmed_json(size_t limit) const;
  nlohmann::json usage_json() const;
  void update_problems();
  void set_not_programmed(std::map<std::string, std::string> services);
  void count_failure(const std::string& reason);
  nlohmann::json maps_json() const;
  nlohmann::json conntrack_json(size_t limit) const;

  store::Store& store_;
  Options opts_;
  std::unique_ptr<lb::LbDatapath> dp_;
  std::unique_ptr<lb::ServiceMaps> maps_;
  lb::ServiceChanges changes_;
  std::vector<lb::ServiceProblem> problems_;
  size_t ports_without_nodeport_ = 0;
  // Services the maps do not serve as desired since the last apply, and why; empty after an
  // apply that programmed everything.
  std::map<std::string, std::string> not_programmed_;
  std::map<std::string, uint64_t> failures_;  // applies that left services out, by reason
  bool applied_once_ = false;
  std::shared_ptr<const ExtraBackends> extra_;  // the version the model was compiled with
  std::shared_ptr<const ServedFrontends> served_;
  lb::ApplyStats last_stats_;
  lb::GcStats last_gc_;
  uint64_t gc_removed_total_ = 0;
  boost::asio::steady_timer gc_timer_;
  metrics::Histogram* apply_seconds_ = nullptr;
};

}  // namespace netagent::lb
