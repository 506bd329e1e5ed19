#pragma once
// ClusterMesh configuration as Cilium lays it out: the kube-system/cilium-clustermesh Secret has
// one key per cluster whose value is that cluster's etcd configuration (YAML):
//
//   endpoints:
//   - https://10.25.11.120:2379
//   trusted-ca-file: /var/lib/cilium/clustermesh/apps.etcd-client-ca.crt
//   cert-file: /var/lib/cilium/clustermesh/apps.etcd-client.crt
//   key-file: /var/lib/cilium/clustermesh/apps.etcd-client.key
//
// and keys <cluster>.etcd-client-ca.crt, <cluster>.etcd-client.crt and <cluster>.etcd-client.key
// holding the TLS material. Cilium mounts the Secret as files, so the configuration names files;
// here a file name is resolved to the Secret key with the same base name (and only if there is
// none, to the file on disk). The entry named after this cluster, if present, is this cluster's
// own etcd (where it publishes); every other entry is a remote cluster.
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "netagent/common/result.hpp"
#include "netagent/etcd/client.hpp"
#include "netagent/k8s/objects.hpp"
#include "netagent/k8s/snapshot.hpp"

namespace netagent::mesh {

inline constexpr std::string_view kClusterMeshSecretNamespace = "kube-system";
inline constexpr std::string_view kClusterMeshSecretName = "cilium-clustermesh";

struct RemoteClusterConfig {
  std::string name;
  etcd::EtcdConfig etcd;
};

struct ClusterMeshSecret {
  std::optional<etcd::EtcdConfig> local;     // the entry named after this cluster
  std::vector<RemoteClusterConfig> remotes;  // by name
};

// Parses one cluster's etcd configuration YAML; `resolve` maps a file name to its contents.
Result<etcd::EtcdConfig> parse_etcd_config(
    const std::string& cluster, const std::string& yaml,
    const std::function<Result<std::string>(const std::string& field, const std::string& file)>&
        resolve);

// Every problem in the Secret, with its key, in one error; nothing is returned unless all of it
// is good (so that a bad edit keeps the last good configuration).
Result<ClusterMeshSecret> parse_clustermesh_secret(const k8s::Secret& secret,
                                                   const std::string& local_cluster);
// The Secret from a snapshot; no Secret means no mesh (an empty configuration).
Result<ClusterMeshSecret> clustermesh_from_snapshot(const k8s::Snapshot& snap,
                                                    const std::string& local_cluster);

}  // namespace netagent::mesh
