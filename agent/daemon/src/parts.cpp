#include "parts.hpp"

#include "netagent/agentbgp/bgp_reconciler.hpp"
#include "netagent/enforcement/policy_reconciler.hpp"
#include "netagent/services/ipam_reconciler.hpp"
#include "netagent/services/service_reconciler.hpp"
#include "netagent/source/manifest_source.hpp"

namespace netagent::agent {

void add_parts(Agent& agent) {
  // In apply order: LB IPAM hands out addresses, the LB serves them, and only then may BGP
  // announce them. Policy comes after the LB: it judges the backend addresses the LB translated
  // to (socket LB at connect, NodePort LB before routing to the pod's veth).
  auto ipam = std::make_unique<services::IpamReconciler>(agent);
  auto lb = std::make_unique<services::ServiceReconciler>(agent, *ipam);
  auto bgp = std::make_unique<agentbgp::BgpReconciler>(agent, *ipam, *lb);
  agent.add(std::move(ipam));
  auto policy = std::make_unique<enforcement::PolicyReconciler>(agent);
  policy->set_lb_events([l = lb.get()] { return l->flow_events_fd(); });
  agent.add(std::move(lb));
  agent.add(std::move(bgp));
  agent.add(std::move(policy));
}

std::unique_ptr<k8s::Source> make_source(Agent& agent) {
  source::ManifestSource::Options options;
  // The CRD kinds every part registered in add_parts(), so the loader validates them.
  options.manifests.registry = agent.kinds();
  auto src = std::make_unique<source::ManifestSource>(agent.io(), agent.config().manifests,
                                                      std::move(options));
  // SIGHUP and POST /v1/resync read the tree again before re-applying.
  agent.set_reload([s = src.get()] { s->reload(); });
  return src;
}

}  // namespace netagent::agent
