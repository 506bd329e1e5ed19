#pragma once
// What this cluster publishes (LocalState), and how to build it from a k8s Snapshot: nodes from
// Node objects, endpoints from Pods (with the identity the policy part gave each pod), global
// shared Services with their frontends and ready backends from EndpointSlices. Also the local
// view of one Service (LocalService) that the global-service merge starts from.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "netagent/common/ip.hpp"
#include "netagent/common/result.hpp"
#include "netagent/k8s/snapshot.hpp"
#include "netagent/mesh/cluster.hpp"
#include "netagent/mesh/global_service.hpp"
#include "netagent/mesh/records.hpp"

namespace netagent::mesh {

struct LocalState {
  std::vector<NodeRecord> nodes;
  std::vector<EndpointRecord> endpoints;
  std::vector<IdentityRecord> identities;
  std::vector<ServiceRecord> services;  // global and shared only
};

struct ServiceBackend {
  std::string ip;
  PortMap ports;  // by port name, from the EndpointSlices
  bool ready = true;
  std::string node;
  bool operator==(const ServiceBackend&) const = default;
};

// One Service of this cluster as the merge sees it.
struct LocalService {
  std::string ns;
  std::string name;
  GlobalServiceSpec spec;
  std::map<std::string, PortMap> frontends;  // ClusterIPs, external and LoadBalancer IPs -> ports
  std::vector<ServiceBackend> backends;      // every IPv4 endpoint address, ready or not
};

// The Service's frontends and backends from the snapshot; an error for bad annotations.
Result<LocalService> local_service(const k8s::Snapshot& snap, const k8s::Service& svc);

// The Services that are global and shared, as records for this cluster (ready backends only,
// as Cilium exports them). Services with bad annotations are skipped and reported in `errors`.
std::vector<ServiceRecord> export_global_services(const k8s::Snapshot& snap,
                                                  const ClusterInfo& cluster,
                                                  std::vector<Error>* errors = nullptr);
std::vector<NodeRecord> export_nodes(const k8s::Snapshot& snap, const ClusterInfo& cluster);
// Endpoints for every pod IP (IPv4, not hostNetwork) whose identity `identity_of` knows.
std::vector<EndpointRecord> export_endpoints(
    const k8s::Snapshot& snap,
    const std::function<std::optional<uint32_t>(const k8s::Pod&)>& identity_of);
// This cluster's pod CIDRs as the Nodes declare them (spec.podCIDRs, IPv4).
std::vector<Ipv4Prefix> pod_cidrs_of(const k8s::Snapshot& snap);

}  // namespace netagent::mesh
