#pragma once
// Identities and addresses of other clusters (ClusterMesh), as the policy part consumes them:
// the agent's ClusterMesh part implements this, the policy part reads it at every compile
// (CompileInput::remote_identities / remote_addresses). Control thread only.
#include <cstdint>
#include <vector>

#include "netagent/policy/compiler.hpp"

namespace netagent::policy {

class RemoteSource {
 public:
  virtual ~RemoteSource() = default;
  // Every identity of every accepted remote cluster; labels include
  // k8s:io.cilium.k8s.policy.cluster=<cluster>, ids carry the cluster id in bits 16-23.
  virtual std::vector<RemoteIdentity> remote_identities() const = 0;
  // Remote endpoints (pod IP /32 -> identity) and remote nodes (-> remote-node).
  virtual std::vector<RemoteAddress> remote_addresses() const = 0;
  // Changes whenever either of the above does.
  virtual uint64_t remote_generation() const = 0;
};

}  // namespace netagent::policy
