#include "parts.hpp"

#include "netagent/source/manifest_source.hpp"

namespace netagent::agent {

void add_parts(Agent& agent) {
  // The datapath parts plug in here, in apply order, e.g.:
  //   agent.add(std::make_unique<lb::ServiceReconciler>(agent));
  (void)agent;
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
