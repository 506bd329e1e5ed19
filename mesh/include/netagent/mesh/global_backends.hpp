#pragma once
// The pure half of global services in the agent: from this cluster's Services (a snapshot) and
// the remote clusters' state (a MeshView) to the backends the LB must add to or use instead of
// the local ones. No network and no BPF: tested with tables.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "netagent/common/result.hpp"
#include "netagent/k8s/snapshot.hpp"
#include "netagent/lb/service_model.hpp"
#include "netagent/mesh/cluster.hpp"
#include "netagent/mesh/local_state.hpp"
#include "netagent/mesh/merge.hpp"
#include "netagent/mesh/mesh_view.hpp"

namespace netagent::mesh {

// This cluster's global Services (service.cilium.io/global), read once per snapshot. Services
// with bad annotations are left out and reported in `errors` (with the Service's name).
struct LocalGlobalServices {
  std::vector<mesh::LocalService> services;  // sorted by the string "ns/name"
  std::vector<std::string> errors;
};
LocalGlobalServices local_global_services(const k8s::Snapshot& snap);

struct GlobalBackends {
  lb::ExtraBackends extra;  // what the LB programs
  // Service ports ("ns/name/port") whose local backends stand by (affinity remote).
  std::set<std::string> replace_local;
  std::map<std::string, mesh::MergedService> merged;  // every global service, by "ns/name"
};

// Merges every local global service with the remote clusters' backends (mesh::merge_service)
// and turns the result into the LB's extra backends: active remote backends are added per
// service port (the port is matched by name); when the affinity makes the local backends
// inactive (affinity remote with a ready remote backend) the service port replaces its local
// backends.
// Same backends (addresses, clusters) for the same service ports.
bool same_backends(const GlobalBackends& a, const GlobalBackends& b);

GlobalBackends global_backends(const LocalGlobalServices& local, const mesh::ClusterInfo& cluster,
                               const mesh::MeshView& view);
// The same, in place: only the services in `only` ("ns/name") when given (a remote change names
// the services it touched), every service otherwise. True when the LB's backends changed.
bool update_global_backends(GlobalBackends& g, const LocalGlobalServices& local,
                            const mesh::ClusterInfo& cluster, const mesh::MeshView& view,
                            const std::set<std::string>* only);

}  // namespace netagent::mesh
