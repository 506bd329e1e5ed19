#pragma once
// The parts this netagent build runs. To plug in a new part, add it in parts.cpp (and its
// library to the netagent executable in CMakeLists.txt).
#include <memory>

#include "netagent/agent/agent.hpp"
#include "netagent/k8s/source.hpp"
#include "netagent/kubeapi/client.hpp"

namespace netagent::agent {

// Adds every reconciler, in apply order (a part reads from the store what parts added before it
// published: IPAM before the LB before BGP).
// `api`: the Kubernetes API client when the API is a source (adds the status writer).
void add_parts(Agent& agent, std::shared_ptr<kubeapi::Client> api = nullptr);

// The Kubernetes API client of this configuration, or null when the API is not a source. An
// error says what in the API configuration is wrong (a missing service account token, a bad
// kubeconfig or URL).
Result<std::shared_ptr<kubeapi::Client>> make_api_client(Agent& agent);

// The desired-state source for this configuration: the manifest tree, the Kubernetes API, or
// both merged (the API first).
Result<std::unique_ptr<k8s::Source>> make_source(Agent& agent,
                                                 std::shared_ptr<kubeapi::Client> api);

}  // namespace netagent::agent
