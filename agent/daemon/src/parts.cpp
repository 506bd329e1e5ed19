#include "parts.hpp"

#include "netagent/agentbgp/bgp_reconciler.hpp"
#include "netagent/agentmesh/mesh_reconciler.hpp"
#include "netagent/services/ipam_reconciler.hpp"
#include "netagent/services/service_reconciler.hpp"
#include "netagent/source/manifest_source.hpp"

namespace netagent::agent {

void add_parts(Agent& agent) {
  // In apply order: LB IPAM hands out addresses; ClusterMesh publishes this cluster's state and
  // merges the remote clusters' backends into the global services, so that the LB, next,
  // programs local and remote backends from the same snapshot in one apply; only then may BGP
  // announce the addresses. (Remote changes between snapshots re-apply the LB, then BGP.)
  auto ipam = std::make_unique<services::IpamReconciler>(agent);
  auto lb = std::make_unique<services::ServiceReconciler>(agent, *ipam);
  auto mesh = std::make_unique<agentmesh::MeshReconciler>(agent, lb.get());
  auto bgp = std::make_unique<agentbgp::BgpReconciler>(agent, *ipam, *lb);
  agent.add(std::move(ipam));
  agent.add(std::move(mesh));
  agent.add(std::move(lb));
  agent.add(std::move(bgp));
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
