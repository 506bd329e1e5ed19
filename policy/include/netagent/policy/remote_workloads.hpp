#pragma once
// Identities and addresses of other clusters (ClusterMesh), as the policy part consumes them: the
// ClusterMesh part publishes them in the desired-state store whenever the remote clusters'
// endpoints, identities or nodes change; the policy part reads them at every compile
// (CompileInput::remote_identities / remote_addresses).
#include <string_view>
#include <vector>

#include "netagent/policy/compiler.hpp"

namespace netagent::policy {

struct RemoteWorkloads {
  static constexpr std::string_view kTopic = "clustermesh.workloads";

  // Every identity of every accepted remote cluster; labels include
  // k8s:io.cilium.k8s.policy.cluster=<cluster>, ids carry the cluster id in bits 16-23.
  std::vector<RemoteIdentity> identities;
  // Remote endpoints (pod IP /32 -> identity) and remote nodes (-> remote-node).
  std::vector<RemoteAddress> addresses;

  bool operator==(const RemoteWorkloads&) const = default;
};

}  // namespace netagent::policy
