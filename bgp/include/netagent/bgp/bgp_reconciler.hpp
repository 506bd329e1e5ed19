#pragma once
// The BGP part of the agent. On every snapshot it compiles the Cilium BGP CRDs for this node
// (bgp::control::compile: CiliumBGPPeeringPolicy or
// CiliumBGPClusterConfig/PeerConfig/Advertisement, nodeSelector against the Node manifest's labels,
// MD5 passwords from Secrets) and drives one bgp::Speaker on the agent's io_context with the
// result: peers are added, changed (a session restarts only when its own parameters change) and
// removed; each peer's routes are replaced as a diff, so an unchanged route is never re-sent.
//
// What is announced follows the datapath: a LoadBalancer IP only while the LB part says (in the
// store, lb::ServedFrontends) that its maps serve a LoadBalancer frontend for it, so a router
// never sends traffic for an address the node does not serve, even when an LB apply failed. On
// SIGTERM the sessions end through Speaker::stop(graceful): graceful-restart peers keep our routes
// as stale until the next agent re-announces them; other peers get Cease / Administrative Shutdown
// and withdraw.
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "netagent/bgp/control/compile.hpp"
#include "netagent/bgp/control/desired.hpp"
#include "netagent/bgp/speaker.hpp"
#include "netagent/ipam/allocation.hpp"
#include "netagent/lb/service_model.hpp"
#include "netagent/store/reconciler.hpp"

namespace netagent::bgp {

// bgpcp's desired state -> the speaker's configuration and per-peer routes. Pure (tested alone).
// Peers that cannot be configured (an unparsable address, a peer ASN left to discovery) are left
// out and reported in `problems`. Every peer gets `prefix_limit` (the agent's --bgp-max-prefixes
// flags: Cilium's BGP CRDs have no such field).
struct SpeakerPlan {
  bgp::SpeakerConfig config;
  // (instance, peer) -> routes
  std::map<std::pair<std::string, std::string>, std::vector<bgp::Route>> routes;
  std::vector<std::string> problems;
};
SpeakerPlan plan_speaker(const bgp::control::DesiredBgp& desired,
                         const bgp::PrefixLimit& prefix_limit = {});

// The allocation restricted to the addresses the LB datapath serves as LoadBalancer frontends.
ipam::Allocation served_allocation(const ipam::Allocation& allocation,
                                   const lb::ServedFrontends& served);

class BgpReconciler : public store::Reconciler {
 public:
  struct Options {
    std::string node_name;  // this node's Node object: labels for nodeSelectors, annotations
    bgp::PrefixLimit prefix_limit;  // for every peer
  };
  BgpReconciler(boost::asio::io_context& io, Options options);
  ~BgpReconciler() override;

  std::string name() const override { return "bgp"; }
  // The LoadBalancer IPs allocated, and the frontends the LB serves.
  std::vector<store::Topic> inputs() const override {
    return {store::topic<ipam::Allocation>(), store::topic<lb::ServedFrontends>()};
  }
  Status start() override;
  Status apply(const store::Store& store) override;
  nlohmann::json status() const override;
  void register_kinds(k8s::KindRegistry& kinds) override;
  void register_api(api::Router& router) override;
  void register_metrics(metrics::Registry& registry) override;
  void stop() override;
  void drain(std::function<void()> done) override;

  const bgp::control::DesiredBgp& desired() const { return desired_; }

 private:
  nlohmann::json routes_json(bool advertised, const api::Request& req) const;

  boost::asio::io_context& io_;
  Options opts_;
  std::unique_ptr<bgp::Speaker> speaker_;
  bgp::control::DesiredBgp desired_;
  std::map<std::pair<std::string, std::string>, std::vector<bgp::Route>> applied_routes_;
  std::set<std::string> reported_;  // conditions and problems already logged
  std::vector<std::string> problems_;
  bool stopped_ = false;
  metrics::Family<metrics::Counter>* transitions_ = nullptr;
  metrics::Family<metrics::Counter>* config_errors_ = nullptr;
};

}  // namespace netagent::bgp
