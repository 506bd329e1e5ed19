#pragma once
// The pure half of service load balancing: from a snapshot (Services, EndpointSlices, the node)
// to the frontends and backends the datapath must hold. No BPF here; the ServiceMaps reconciler
// applies the result as a diff.
//
// Endpoint selection follows Kubernetes' CategorizeEndpoints (pkg/proxy/topology.go) and
// KEP-1669: ready endpoints; if none, serving-and-terminating ones; for a traffic policy of
// Local, the node's own endpoints with the same fallback. North-south frontends (NodePort,
// LoadBalancer, externalIPs) follow externalTrafficPolicy, east-west ones internalTrafficPolicy.
#include <compare>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "netagent/common/ip.hpp"
#include "netagent/k8s/snapshot.hpp"

namespace netagent::lb {

struct BackendAddr {
  Ipv4Addr addr;
  uint16_t port = 0;  // host order
  uint8_t proto = 0;  // IPPROTO_*
  auto operator<=>(const BackendAddr&) const = default;
  std::string str() const;  // "10.1.0.5:8080/TCP"
};

struct BackendInfo {
  BackendAddr addr;
  bool local = false;        // on this node
  bool terminating = false;  // serving but terminating
  uint8_t cluster_id = 0;    // ClusterMesh: 0 = this cluster
  std::string node;
  std::string pod;
  std::string cluster;  // ClusterMesh cluster name, empty = this cluster
};

enum class FrontendType : uint8_t { ClusterIP, NodePort, LoadBalancer, ExternalIP };
const char* to_string(FrontendType t);

struct FrontendKey {
  Ipv4Addr addr;
  uint16_t port = 0;  // host order
  uint8_t proto = 0;
  uint8_t scope = 0;  // LB_SCOPE_*
  auto operator<=>(const FrontendKey&) const = default;
  std::string str() const;  // "10.96.0.10:80/TCP" (+ " internal")
};

struct Frontend {
  FrontendKey key;
  FrontendType type = FrontendType::ClusterIP;
  std::string service;    // "ns/name"
  std::string port_name;  // the Service port's name (may be empty)
  uint16_t flags = 0;     // LB_SVC_F_*
  uint32_t affinity_timeout = 0;
  std::vector<BackendAddr> backends;  // the active selection set, sorted
  // Frontends with the same group share one Maglev table: "ns/name/port-name/proto/scope".
  std::string group;
};

enum class ProblemKind {
  Other,
  NodePortRangeExhausted,  // a port that needs a NodePort got none: the range is used up
};

struct ServiceProblem {
  std::string service;  // "ns/name"
  std::string message;
  ProblemKind kind = ProblemKind::Other;
};

struct DesiredServices {
  std::vector<Frontend> frontends;              // sorted by key
  std::map<BackendAddr, BackendInfo> backends;  // every backend a frontend uses
  std::vector<ServiceProblem> problems;         // services (or ports) not programmed, and why
};

struct NodeView {
  std::string name;
  std::vector<Ipv4Addr> addresses;  // NodePort frontends listen on each
};

struct ModelOptions {
  uint16_t nodeport_min = 30000;
  uint16_t nodeport_max = 32767;
  bool maglev = true;  // north-south selection through Maglev
};

// LoadBalancer ingress IPs per service ("ns/name"), from IPAM (or status in a real cluster).
using LoadBalancerIps = std::map<std::string, std::vector<Ipv4Addr>>;

// Backends of a service port learnt from elsewhere (ClusterMesh), added to the local ones.
// Published in the store by the ClusterMesh part; the LB part reads it.
struct ExtraBackends {
  static constexpr std::string_view kTopic = "clustermesh.backends";

  std::map<std::string, std::vector<BackendInfo>> by_service_port;  // "ns/name/port-name"
  // Service ports whose own (local) backends stand by: only the extra ones are used (ClusterMesh
  // affinity remote while a remote backend is ready).
  std::set<std::string> replace_local;
};

// What the LB datapath serves, as its maps say: every frontend whose slot 0 is programmed,
// with its owning service. Published in the store by the LB part after every apply, failed ones
// included (it is read from the maps' mirror, not from the desired state); BGP announces a
// LoadBalancer IP only while it is here.
struct ServedFrontends {
  static constexpr std::string_view kTopic = "lb.served_frontends";

  struct Entry {
    std::string service;  // "ns/name"
    FrontendType type = FrontendType::ClusterIP;
    bool operator==(const Entry&) const = default;
  };
  std::map<FrontendKey, Entry> frontends;
  bool operator==(const ServedFrontends&) const = default;
};

DesiredServices compile_services(const k8s::Snapshot& snap, const NodeView& node,
                                 const LoadBalancerIps& lb_ips, const ModelOptions& opts,
                                 const ExtraBackends* extra = nullptr);

// The node's view from its Node manifest (addresses) or, failing that, explicit addresses.
NodeView node_view(const k8s::Snapshot& snap, const std::string& node_name);

}  // namespace netagent::lb
