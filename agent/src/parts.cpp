#include "parts.hpp"

#include "netagent/bgp/bgp_reconciler.hpp"
#include "netagent/mesh/mesh_reconciler.hpp"
#include "netagent/policy/policy_reconciler.hpp"
#include "netagent/ipam/ipam_reconciler.hpp"
#include "netagent/lb/service_reconciler.hpp"
#include "netagent/source/manifest_source.hpp"

namespace netagent::agent {

void add_parts(Agent& agent) {
  // In apply order: LB IPAM hands out addresses; ClusterMesh publishes this cluster's state and
  // merges the remote clusters' backends into the global services, so that the LB, next,
  // programs local and remote backends from the same snapshot in one apply; only then may BGP
  // announce the addresses. Policy comes after the LB: it judges the backend addresses the LB
  // translated to (socket LB at connect, NodePort LB before routing to the pod's veth), and it
  // takes the remote clusters' identities and endpoints from ClusterMesh. Remote changes between
  // snapshots re-apply the LB then BGP (backends), or policy (endpoints, identities).
  auto ipam = std::make_unique<ipam::IpamReconciler>(agent);
  auto lb = std::make_unique<lb::ServiceReconciler>(agent, *ipam);
  auto mesh = std::make_unique<mesh::MeshReconciler>(agent, lb.get());
  auto bgp = std::make_unique<bgp::BgpReconciler>(agent, *ipam, *lb);
  agent.add(std::move(ipam));
  auto policy = std::make_unique<policy::PolicyReconciler>(agent);
  policy->set_lb_events([l = lb.get()] { return l->flow_events_fd(); });
  policy->set_remote_source(mesh.get());
  agent.add(std::move(mesh));
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
