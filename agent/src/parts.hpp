#pragma once
// The parts this netagent build runs. To plug in a new part, add it in parts.cpp (and its
// library to the netagent executable in CMakeLists.txt).
#include <memory>

#include "netagent/agent/agent.hpp"
#include "netagent/k8s/source.hpp"

namespace netagent::agent {

// Adds every reconciler, in apply order (IPAM before LB before BGP: later parts read what
// earlier ones decided).
void add_parts(Agent& agent);

// The desired-state source for this configuration (the manifest tree), or nullptr when this
// build has none yet.
std::unique_ptr<k8s::Source> make_source(Agent& agent);

}  // namespace netagent::agent
