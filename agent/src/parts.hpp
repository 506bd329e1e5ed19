#pragma once
// The parts this netagent build runs. To plug in a new part, add it in parts.cpp (and its
// library to the netagent executable in CMakeLists.txt).
#include <memory>

#include "netagent/agent/agent.hpp"
#include "netagent/k8s/source.hpp"

namespace netagent::agent {

// Adds every reconciler, in apply order (a part reads from the store what parts added before it
// published: IPAM before the LB before BGP).
void add_parts(Agent& agent);

// The desired-state source for this configuration: the manifest tree, the Kubernetes API, or
// both merged (the API first). An error says what in the API configuration is wrong (a missing
// service account token, a bad kubeconfig or URL).
Result<std::unique_ptr<k8s::Source>> make_source(Agent& agent);

}  // namespace netagent::agent
