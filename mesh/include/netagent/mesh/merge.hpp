#pragma once
// Pure merge of this cluster's Services with the remote clusters' global services, and the
// remote endpoints as ipcache entries. No network: the agent calls these with a LocalService and
// the current MeshView whenever either changes, and programs the result as a diff.
//
// Global service backends (Cilium's semantics, Documentation/network/clustermesh/services.rst):
//   - a Service that is global here balances over its own backends and the backends of every
//     accepted remote cluster that has a Service of the same namespace and name that is global
//     and shared there (a remote cluster that is stale still counts, with its last known
//     backends);
//   - `shared: "false"` here only stops this cluster exporting its backends; it still uses the
//     remote ones;
//   - affinity local (remote) prefers the local (remote) backends: while any of them is ready
//     only they are active; when none is, the other side's ready backends are used. Affinity
//     none uses every ready backend.
// Every backend carries its cluster's name and id.
#include <string>
#include <vector>

#include "netagent/mesh/cluster.hpp"
#include "netagent/mesh/local_state.hpp"
#include "netagent/mesh/mesh_view.hpp"

namespace netagent::mesh {

struct MergedBackend {
  std::string ip;
  PortMap ports;
  std::string cluster;
  uint32_t cluster_id = 0;
  std::string node;  // local backends only
  bool local = false;
  bool ready = true;
  bool preferred = false;  // on the side the affinity prefers
  bool active = false;     // selected: program it
  bool operator==(const MergedBackend&) const = default;
};

struct MergedService {
  std::string ns;
  std::string name;
  GlobalServiceSpec spec;
  std::map<std::string, PortMap> frontends;
  std::vector<MergedBackend> backends;  // local first, then by cluster id, then IP

  std::vector<MergedBackend> active_backends() const;
  // Remote clusters that contributed backends.
  std::vector<std::string> remote_clusters() const;
};

MergedService merge_service(const LocalService& local, const ClusterInfo& local_cluster,
                            const MeshView& view);

// Remote endpoints (pod IP -> identity, tunnel endpoint) and remote nodes (node IP ->
// reserved:remote-node) of every accepted remote cluster, for the policy ipcache.
struct RemoteIpcacheEntry {
  std::string ip;
  uint32_t identity = 0;
  std::string host_ip;
  std::string cluster;
  uint32_t cluster_id = 0;
  bool is_node = false;
  bool operator==(const RemoteIpcacheEntry&) const = default;
};
std::vector<RemoteIpcacheEntry> remote_ipcache(const MeshView& view);

// Every identity of every accepted remote cluster (with its cluster label).
std::vector<IdentityRecord> remote_identities(const MeshView& view);

}  // namespace netagent::mesh
