#pragma once
// The LB IPAM part of the agent: allocates LoadBalancer IPs from CiliumLoadBalancerIPPools on
// every snapshot (ipam::allocate), persists the result in the state directory so that a
// restarted agent keeps every address, and serves `netctl ipam`. The LB and BGP parts, applied
// after it, read its allocation.
#include <optional>

#include "netagent/agent/agent.hpp"
#include "netagent/agent/reconciler.hpp"
#include "netagent/ipam/allocation.hpp"

namespace netagent::ipam {

class IpamReconciler : public agent::Reconciler {
 public:
  explicit IpamReconciler(agent::Agent& agent);

  std::string name() const override { return "ipam"; }
  Status start() override;
  Status apply(const k8s::Snapshot& snapshot) override;
  nlohmann::json status() const override;
  void register_kinds(k8s::KindRegistry& kinds) override;
  void register_api(api::Router& router) override;
  void register_metrics(metrics::Registry& registry) override;

  // The latest allocation (empty and dormant before the first apply).
  const ipam::Allocation& allocation() const { return allocation_; }
  // Changes whenever some service's addresses in allocation() change (services keyed, in
  // order, with their ips): consumers can skip rereading the allocation when it is the same.
  uint64_t generation() const { return generation_; }
  // The LoadBalancer IPs of a service ("ns/name").
  std::vector<Ipv4Addr> ips_of(const std::string& ns, const std::string& name) const;

 private:
  Status persist(const ipam::AllocationState& state);
  std::string state_path() const;

  agent::Agent& agent_;
  ipam::Allocation allocation_;
  ipam::AllocationState previous_;
  uint64_t applies_ = 0;
  uint64_t generation_ = 1;
};

}  // namespace netagent::ipam
