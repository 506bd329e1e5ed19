#pragma once
// ServiceChanges: turns each new snapshot into the per-service changes ServiceMaps applies, doing
// work only for what changed. The manifest source gives every object a content digest; when only
// EndpointSlices or ClusterMesh backends changed (the common case: pods come and go, here or in
// a remote cluster), only the services whose slices or remote backends changed are compiled
// again. When Services themselves, LoadBalancer IPs, the node or the options change, everything
// is compiled (NodePorts and frontend ownership are decided across services), and the result is
// still diffed per service.
//
// Cost when nothing but a few EndpointSlices changed: one pass over the Services' digests and one
// over the EndpointSlices' digests (no allocation, no string work), then a compile of the changed
// services only. The slices' digests are kept in snapshot order: the changed ones are what lies
// between the longest common prefix and suffix of the old and new sequences, so an added, removed
// or edited slice anywhere is found without looking anything up. Each slice also remembers the
// service it belongs to, so finding a changed service's slices is a scan of integers. ClusterMesh
// backends are looked at only when their generation changed, and then compared per service.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "netagent/lb/service_model.hpp"

namespace netagent::lb {

struct ServiceChangeSet {
  std::map<std::string, std::vector<Frontend>> services;  // changed services (empty = removed)
  std::map<BackendAddr, BackendInfo> backends;            // info for their backends
  bool full = false;                                      // everything was compiled
  size_t compiled = 0;                                    // services compiled for this change
};

// LoadBalancer IPs given without building them: `generation` changes whenever what `build`
// returns changes other than through a Service's own content (which the Services' digests
// cover); `build` is called only when everything is compiled.
struct LoadBalancerIpsSource {
  uint64_t generation = 0;
  std::function<LoadBalancerIps()> build;
};

class ServiceChanges {
 public:
  // `lb_ips` and `extra` are hashed on every call (tests, tools).
  ServiceChangeSet update(const k8s::Snapshot& snap, const NodeView& node,
                          const LoadBalancerIps& lb_ips, const ModelOptions& opts,
                          const ExtraBackends* extra = nullptr);
  // The agent's path: LB IPs by generation, and `extra_generation` changes whenever `extra`
  // does (0: compare `extra` on every call).
  ServiceChangeSet update(const k8s::Snapshot& snap, const NodeView& node,
                          const LoadBalancerIpsSource& lb_ips, const ModelOptions& opts,
                          const ExtraBackends* extra, uint64_t extra_generation);
  // Everything as of the last update (rebuilt on demand after incremental updates).
  const DesiredServices& current() const;

 private:
  ServiceChangeSet full(const k8s::Snapshot& snap, const NodeView& node,
                        const LoadBalancerIpsSource& lb_ips, const ModelOptions& opts,
                        const ExtraBackends* extra);
  void index(const DesiredServices& d);
  int32_t intern(const std::string& service_key);

  mutable DesiredServices current_;
  mutable bool current_stale_ = false;
  std::map<std::string, std::vector<Frontend>> by_service_;
  uint64_t global_digest_ = 0;  // services, LB IPs, node, options, extra backends
  bool initialised_ = false;
  LoadBalancerIps lb_ips_;  // as of the last full compile

  // Services by index: key, and position in snapshot.services as of the last full compile (-1:
  // EndpointSlices name a service that does not exist). Positions stay valid until the next full
  // compile, since any change to the Services makes one.
  std::unordered_map<std::string, int32_t> svc_index_;
  std::vector<std::string> svc_keys_;
  std::vector<int32_t> svc_pos_;
  // Per EndpointSlice in snapshot order as of the last update: its digest and its service.
  std::vector<uint64_t> slice_digests_;
  std::vector<int32_t> slice_svc_;
  // ClusterMesh backends per service ("ns/name") and the generation they were taken at.
  std::map<std::string, uint64_t> extra_digests_;
  uint64_t extra_generation_ = 0;
};

}  // namespace netagent::lb
