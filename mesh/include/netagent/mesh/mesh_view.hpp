#pragma once
// The remote clusters the agent may use right now: every accepted remote cluster (refused and
// not-yet-configured ones are absent) with its last known state, stale or not. A stale cluster's
// state is the last one seen before its etcd became unreachable; it stays in use until the
// cluster reconnects and resyncs.
#include <memory>
#include <string>
#include <vector>

#include "netagent/mesh/cluster_state.hpp"

namespace netagent::mesh {

struct RemoteClusterView {
  std::string name;
  uint32_t id = 0;
  bool stale = false;
  std::shared_ptr<const ClusterState> state;
};

struct MeshView {
  std::vector<RemoteClusterView> clusters;  // by name

  const RemoteClusterView* find(const std::string& name) const {
    for (const auto& c : clusters) {
      if (c.name == name) return &c;
    }
    return nullptr;
  }
};

}  // namespace netagent::mesh
