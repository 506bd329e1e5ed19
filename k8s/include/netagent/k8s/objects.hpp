#pragma once
// The typed Kubernetes objects that the agent reads: v1 Service, Pod, Namespace, Node, ConfigMap,
// Secret and discovery.k8s.io/v1 EndpointSlice. Only the fields the agent uses are kept. Other
// kinds (the Cilium CRDs) stay as generic Objects and are decoded by the library that owns them.
// Addresses and CIDRs are parsed when the object is decoded (a bad one is a field error) and
// travel typed (common/ip.hpp) from there on.
#include <yaml-cpp/yaml.h>

#include <boost/container/small_vector.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <typeindex>
#include <vector>

#include "netagent/common/ip.hpp"
#include "netagent/k8s/selector.hpp"

namespace netagent::k8s {

// Where an object came from: a manifest file and the index of the YAML document in it.
struct SourceRef {
  std::string file;
  int document = -1;
  // Identifies the object's content (after substitution) as loaded: equal digests mean the
  // object did not change, so consumers can skip work for unchanged objects. 0 = unknown.
  uint64_t digest = 0;
  std::string str() const {
    return document < 0 ? file : file + " (document " + std::to_string(document) + ")";
  }
};

struct ObjectMeta {
  std::string name;
  std::string ns;  // empty for cluster-scoped objects
  Labels labels;
  std::map<std::string, std::string> annotations;

  // "ns/name" or "name".
  std::string key() const { return ns.empty() ? name : ns + "/" + name; }
  const std::string* annotation(const std::string& k) const {
    auto it = annotations.find(k);
    return it == annotations.end() ? nullptr : &it->second;
  }
};

enum class Protocol : uint8_t { TCP = 6, UDP = 17, SCTP = 132 };
const char* to_string(Protocol p);
std::optional<Protocol> parse_protocol(const std::string& s);

// An int-or-string field such as Service.spec.ports[].targetPort.
struct PortRef {
  uint16_t number = 0;  // 0 when named
  std::string name;
  bool empty() const { return number == 0 && name.empty(); }
};

struct ServicePort {
  std::string name;
  Protocol protocol = Protocol::TCP;
  uint16_t port = 0;
  PortRef target_port;  // defaults to port
  uint16_t node_port = 0;
};

struct Service {
  ObjectMeta meta;
  std::string type = "ClusterIP";      // ClusterIP | NodePort | LoadBalancer | ExternalName
  std::vector<IpAddress> cluster_ips;  // spec.clusterIPs (or [spec.clusterIP]), IPv4
  bool cluster_ip_none = false;        // clusterIP: None (a headless service)
  std::vector<ServicePort> ports;
  std::optional<Labels> selector;
  std::vector<IpAddress> external_ips;        // IPv4
  std::optional<IpAddress> load_balancer_ip;  // deprecated spec.loadBalancerIP, IPv4
  std::optional<std::string> load_balancer_class;
  std::vector<IpPrefix> load_balancer_source_ranges;
  bool external_traffic_local = false;  // externalTrafficPolicy: Local
  bool internal_traffic_local = false;  // internalTrafficPolicy: Local
  bool session_affinity_client_ip = false;
  uint32_t session_affinity_timeout = 10800;  // seconds, default 3 h
  bool publish_not_ready_addresses = false;
  std::vector<IpAddress> status_ingress_ips;  // status.loadBalancer.ingress[].ip, IPv4
  SourceRef source;

  bool headless() const { return cluster_ip_none; }
};

struct EndpointConditions {
  std::optional<bool> ready, serving, terminating;
  // discovery.k8s.io/v1 semantics: nil ready means ready; nil serving defers to ready; nil
  // terminating means not terminating.
  bool is_ready() const { return ready.value_or(true); }
  bool is_serving() const { return serving.value_or(is_ready()); }
  bool is_terminating() const { return terminating.value_or(false); }
};

struct Endpoint {
  // Of the slice's addressType (IPv4 or IPv6); empty for an FQDN slice, whose names no part uses.
  // Kubernetes allows up to 100 but every real endpoint has one: stored inline (no allocation),
  // so compiling 10,000 services walks the slices' memory in order instead of chasing a pointer
  // per endpoint (BM_CompileServices).
  boost::container::small_vector<IpAddress, 1> addresses;
  EndpointConditions conditions;
  std::string node_name;
  std::string zone;
  std::string target_pod;  // targetRef name when kind is Pod
  std::vector<std::string> zone_hints;
};

struct EndpointPort {
  std::string name;
  Protocol protocol = Protocol::TCP;
  uint16_t port = 0;
};

struct EndpointSlice {
  ObjectMeta meta;
  std::string service_name;  // label kubernetes.io/service-name
  std::string address_type = "IPv4";
  std::vector<Endpoint> endpoints;
  std::vector<EndpointPort> ports;
  SourceRef source;
};

struct ContainerPort {
  std::string name;
  uint16_t container_port = 0;
  Protocol protocol = Protocol::TCP;
};

struct Pod {
  ObjectMeta meta;
  std::string node_name;
  std::vector<IpAddress> pod_ips;    // status.podIPs (or status.podIP), IPv4
  std::vector<ContainerPort> ports;  // all containers
  bool host_network = false;
  SourceRef source;
};

struct Namespace {
  ObjectMeta meta;
  SourceRef source;
};

struct NodeAddress {
  std::string type;             // InternalIP | ExternalIP | Hostname | InternalDNS | ExternalDNS
  std::string address;          // as written: an IP address for the *IP types, else a name
  std::optional<IpAddress> ip;  // the address, for InternalIP and ExternalIP
};

struct Node {
  ObjectMeta meta;
  std::vector<NodeAddress> addresses;
  std::vector<IpPrefix> pod_cidrs;  // spec.podCIDRs (or [spec.podCIDR])
  SourceRef source;
  // First InternalIP, else first ExternalIP.
  std::optional<IpAddress> primary_ip() const;
};

struct ConfigMap {
  ObjectMeta meta;
  std::map<std::string, std::string> data;
  SourceRef source;
};

struct Secret {
  ObjectMeta meta;
  std::string type;
  std::map<std::string, std::string> data;  // base64-decoded data merged with stringData
  SourceRef source;
};

// A parsed YAML document that can be copied and assigned like a value. YAML::Node has reference
// semantics and its assignment operator writes through to the document it refers to, so an
// Object holding a bare YAML::Node would corrupt other Objects when sorted or reassigned;
// RawDocument rebinds on assignment instead. Treat the document as read-only.
class RawDocument {
 public:
  RawDocument() = default;
  RawDocument(YAML::Node node) : node_(std::move(node)) {}  // NOLINT(google-explicit-constructor)
  RawDocument(const RawDocument& o) : node_(o.node_) {}
  RawDocument& operator=(const RawDocument& o) {
    node_.reset(o.node_);
    return *this;
  }
  operator const YAML::Node&() const { return node_; }  // NOLINT(google-explicit-constructor)
  const YAML::Node& node() const { return node_; }

 private:
  YAML::Node node_;
};

// Any object as read from a manifest: used for the kinds that feature libraries decode
// (CiliumLoadBalancerIPPool, CiliumBGPPeeringPolicy, NetworkPolicy, ...).
struct Object {
  std::string api_version;
  std::string kind;
  ObjectMeta meta;
  RawDocument raw;  // the whole document after variable substitution
  SourceRef source;
  // The typed form, decoded once at load by the decoder its consumer registered (KindRegistry);
  // null for objects built without a registry (tests, tools).
  std::shared_ptr<const void> decoded;
  std::type_index decoded_type = typeid(void);

  // "Kind ns/name" for messages.
  std::string display() const { return kind + " " + meta.key(); }

  // The decoded form if it was decoded as a T, else null.
  template <typename T>
  const T* as() const {
    return decoded_type == typeid(T) ? static_cast<const T*>(decoded.get()) : nullptr;
  }
  // The same, sharing ownership with this object's copy.
  template <typename T>
  std::shared_ptr<const T> shared_as() const {
    if (decoded_type != typeid(T)) return nullptr;
    return std::shared_ptr<const T>(decoded, static_cast<const T*>(decoded.get()));
  }
};

}  // namespace netagent::k8s
