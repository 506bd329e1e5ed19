#pragma once
// The LB IPAM part of the agent: allocates LoadBalancer IPs from CiliumLoadBalancerIPPools on
// every snapshot (ipam::allocate), persists the result in the state directory so that a
// restarted agent keeps every address, and serves `netctl ipam`. It publishes the allocation
// (ipam::Allocation) in the store whenever some service's addresses change; the LB and BGP
// parts read it from there.
#include <memory>
#include <string>

#include "netagent/ipam/allocation.hpp"
#include "netagent/store/reconciler.hpp"

namespace netagent::ipam {

class IpamReconciler : public store::Reconciler {
 public:
  struct Options {
    std::string state_dir;  // lb-ipam.json lives here
  };
  IpamReconciler(store::Store& store, Options options);

  std::string name() const override { return "ipam"; }
  std::vector<store::Topic> outputs() const override { return {store::topic<Allocation>()}; }
  Status start() override;
  Status apply(const store::Store& store) override;
  nlohmann::json status() const override;
  void register_kinds(k8s::KindRegistry& kinds) override;
  void register_api(api::Router& router) override;
  void register_metrics(metrics::Registry& registry) override;

  // The latest allocation (empty and dormant before the first apply).
  const Allocation& allocation() const { return *allocation_; }

 private:
  Status persist(const AllocationState& state);
  std::string state_path() const;

  store::Store& store_;
  Options opts_;
  std::shared_ptr<const Allocation> allocation_ = std::make_shared<const Allocation>();
  AllocationState previous_;
  uint64_t applies_ = 0;
};

}  // namespace netagent::ipam
