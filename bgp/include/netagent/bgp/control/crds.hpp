#pragma once
// The Cilium BGP control-plane CRDs, decoded from manifest objects:
//  * CiliumBGPPeeringPolicy (cilium.io/v2alpha1, "BGPv1"), bgp-control-plane-v1.rst;
//  * CiliumBGPClusterConfig, CiliumBGPPeerConfig, CiliumBGPAdvertisement and
//    CiliumBGPNodeConfigOverride (cilium.io/v2alpha1 and cilium.io/v2), bgp-control-plane-v2.rst.
// Defaults are Cilium's (pkg/k8s/apis/cilium.io/*/bgp*_types.go SetDefaults): peer port 179,
// connect-retry 120 s, hold 90 s, keepalive 30 s, eBGP multihop TTL 1, graceful restart off with
// a restart time of 120 s, families ipv4/unicast and ipv6/unicast.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "netagent/bgp/control/communities.hpp"
#include "netagent/common/ip.hpp"
#include "netagent/k8s/decode.hpp"
#include "netagent/k8s/selector.hpp"
#include "netagent/k8s/snapshot.hpp"

namespace netagent::bgp::control {

inline constexpr const char* kPeeringPolicyKind = "CiliumBGPPeeringPolicy";
inline constexpr const char* kClusterConfigKind = "CiliumBGPClusterConfig";
inline constexpr const char* kPeerConfigKind = "CiliumBGPPeerConfig";
inline constexpr const char* kAdvertisementKind = "CiliumBGPAdvertisement";
inline constexpr const char* kNodeConfigOverrideKind = "CiliumBGPNodeConfigOverride";

enum class ServiceAddress : uint8_t { LoadBalancerIP, ClusterIP, ExternalIP };
const char* to_string(ServiceAddress a);

struct Attributes {
  std::vector<uint32_t> communities;  // standard and well-known, numeric
  std::vector<LargeCommunity> large_communities;
  std::optional<uint32_t> local_preference;
};

struct Timers {
  uint32_t connect_retry = 120;
  uint32_t hold = 90;
  uint32_t keepalive = 30;
  bool operator==(const Timers&) const = default;
};

struct GracefulRestart {
  bool enabled = false;
  uint32_t restart_time = 120;
  bool operator==(const GracefulRestart&) const = default;
};

struct Family {
  std::string afi = "ipv4";  // ipv4 | ipv6 (the only ones supported, with safi unicast)
  std::string safi = "unicast";
  bool operator==(const Family&) const = default;
};

// ---- CiliumBGPPeeringPolicy (v2alpha1) ----

enum class PathSelectorType : uint8_t { PodCIDR, LoadBalancerIPPool, PodIPPool };

struct PathAttributes {
  PathSelectorType type = PathSelectorType::PodCIDR;
  std::optional<k8s::LabelSelector> selector;  // nullopt: every object of the type
  Attributes attributes;
};

struct Neighbor {
  IpAddress address;  // the peer's IP address (peerAddress without its /32 or /128)
  uint16_t port = 179;
  uint32_t peer_asn = 0;
  std::optional<std::string> auth_secret;
  uint8_t ebgp_multihop_ttl = 1;
  Timers timers;
  GracefulRestart graceful_restart;
  std::vector<Family> families;
  std::vector<PathAttributes> path_attributes;
};

struct VirtualRouter {
  uint32_t local_asn = 0;
  bool export_pod_cidr = false;
  // nullopt: no services are announced (Cilium: "If empty / nil no services will be announced";
  // an empty selector {} selects every service).
  std::optional<k8s::LabelSelector> service_selector;
  std::vector<ServiceAddress> service_advertisements{ServiceAddress::LoadBalancerIP};
  std::vector<Neighbor> neighbors;
};

struct PeeringPolicy {
  std::string name;
  k8s::LabelSelector node_selector;  // empty: every node
  std::vector<VirtualRouter> virtual_routers;
};

// ---- CiliumBGPClusterConfig / PeerConfig / Advertisement / NodeConfigOverride ----

struct ClusterPeer {
  std::string name;
  std::optional<IpAddress> address;        // absent with autoDiscovery (not supported here)
  uint32_t peer_asn = 0;                   // 0: learn the ASN from the peer's OPEN
  std::optional<std::string> peer_config;  // CiliumBGPPeerConfig name
  bool auto_discovery = false;
};

struct BgpInstanceSpec {
  std::string name;
  std::optional<uint32_t> local_asn;
  std::optional<uint16_t> local_port;  // v2alpha1 only; v2 moved it to the node override
  std::vector<ClusterPeer> peers;
};

struct ClusterConfig {
  std::string name;
  k8s::LabelSelector node_selector;  // empty: every node
  std::vector<BgpInstanceSpec> instances;
};

struct PeerFamily {
  Family family;
  std::optional<k8s::LabelSelector> advertisements;  // nullopt: nothing advertised
};

struct PeerConfig {
  std::string name;
  uint16_t peer_port = 179;
  Timers timers;
  std::optional<std::string> auth_secret;
  uint8_t ebgp_multihop_ttl = 1;
  GracefulRestart graceful_restart;
  std::vector<PeerFamily> families;  // defaulted to ipv4 and ipv6 unicast, without adverts
};

enum class AdvertisementType : uint8_t { PodCIDR, PodIPPool, Service };

struct Advertisement {
  AdvertisementType type = AdvertisementType::PodCIDR;
  std::vector<ServiceAddress> addresses;       // Service only
  std::optional<k8s::LabelSelector> selector;  // nullopt: selects nothing (Service, PodIPPool)
  std::optional<int> aggregation_ipv4;         // accepted, not supported (reported)
  std::optional<int> aggregation_ipv6;
  Attributes attributes;
};

struct AdvertisementSet {
  std::string name;
  k8s::Labels labels;  // what PeerConfig families[].advertisements select
  std::vector<Advertisement> advertisements;
};

struct PeerOverride {
  std::string name;
  std::optional<IpAddress> local_address;
  std::optional<uint16_t> local_port;
};

struct InstanceOverride {
  std::string name;
  std::optional<Ipv4Addr> router_id;
  std::optional<uint16_t> local_port;
  std::optional<uint32_t> local_asn;
  std::vector<PeerOverride> peers;
};

struct NodeConfigOverride {
  std::string name;  // the node it applies to
  std::vector<InstanceOverride> instances;
};

// Decoders: each throws k8s::FieldError with the failing field's path.
PeeringPolicy decode_peering_policy(const k8s::Object& obj);
ClusterConfig decode_cluster_config(const k8s::Object& obj);
PeerConfig decode_peer_config(const k8s::Object& obj);
AdvertisementSet decode_advertisement(const k8s::Object& obj);
NodeConfigOverride decode_node_config_override(const k8s::Object& obj);

// Registers the five kinds with their decoders (each object is decoded once, at load).
void register_kinds(k8s::KindRegistry& registry);

// Every BGP object of a snapshot, decoded (at load, or now in a snapshot built without
// register_kinds), each list sorted by name. Objects that fail to decode are skipped and reported.
struct BgpObjects {
  std::vector<PeeringPolicy> peering_policies;
  std::vector<ClusterConfig> cluster_configs;
  std::vector<PeerConfig> peer_configs;
  std::vector<AdvertisementSet> advertisements;
  std::vector<NodeConfigOverride> node_overrides;
  std::vector<k8s::DecodeError> errors;
};
BgpObjects decode_bgp_objects(const k8s::Snapshot& snap);

}  // namespace netagent::bgp::control
