#include "parts.hpp"

namespace netagent::agent {

void add_parts(Agent& agent) {
  // The datapath parts plug in here, in apply order, e.g.:
  //   agent.add(std::make_unique<lb::ServiceReconciler>(agent.config(), agent.io()));
  (void)agent;
}

std::unique_ptr<k8s::Source> make_source(Agent& agent) {
  // The manifest source (agent/source) plugs in here once it is on main:
  //   return std::make_unique<source::ManifestSource>(agent.io(), agent.config().manifests,
  //                                                   &agent.kinds());
  (void)agent;
  return nullptr;
}

}  // namespace netagent::agent
