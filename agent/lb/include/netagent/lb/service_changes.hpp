#pragma once
// ServiceChanges: turns each new snapshot into the per-service changes ServiceMaps applies, doing
// work only for what changed. The manifest source gives every object a content digest; when only
// EndpointSlices or ClusterMesh backends changed (the common case: pods come and go, here or in
// a remote cluster), only the services whose slices or remote backends changed are compiled
// again. When Services themselves, LoadBalancer IPs or the node change, everything is compiled
// (NodePorts and frontend ownership are decided across services), and the result is still
// diffed per service.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "netagent/lb/service_model.hpp"

namespace netagent::lb {

struct ServiceChangeSet {
  std::map<std::string, std::vector<Frontend>> services;  // changed services (empty = removed)
  std::map<BackendAddr, BackendInfo> backends;            // info for their backends
  bool full = false;                                      // everything was compiled
  size_t compiled = 0;                                    // services compiled for this change
};

class ServiceChanges {
 public:
  ServiceChangeSet update(const k8s::Snapshot& snap, const NodeView& node,
                          const LoadBalancerIps& lb_ips, const ModelOptions& opts,
                          const ExtraBackends* extra = nullptr);
  // Everything as of the last update (rebuilt on demand after incremental updates).
  const DesiredServices& current() const;

 private:
  ServiceChangeSet full(const k8s::Snapshot& snap, const NodeView& node,
                        const LoadBalancerIps& lb_ips, const ModelOptions& opts,
                        const ExtraBackends* extra);
  void index(const DesiredServices& d);

  mutable DesiredServices current_;
  mutable bool current_stale_ = false;
  std::map<std::string, std::vector<Frontend>> by_service_;
  uint64_t global_digest_ = 0;  // services, LB IPs, node, options, extra backends
  std::map<std::string, uint64_t> slices_digest_;  // per service
  bool initialised_ = false;
};

}  // namespace netagent::lb
