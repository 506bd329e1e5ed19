#pragma once
// What the Speaker is told to do: BGP instances (a local ASN and router id, like a Cilium
// virtual router) with their peers, and the routes to advertise. Plain values; validate() says
// what is wrong and where before anything is applied.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "netagent/bgp/fsm.hpp"
#include "netagent/bgp/types.hpp"
#include "netagent/common/result.hpp"

namespace netagent::bgp {

// The most prefixes a peer may send, per address family (like BIRD's `receive limit` and
// Cisco's `maximum-prefix`). Over it the session ends with Cease / Maximum Number of Prefixes
// Reached (RFC 4486 §4), the peer's routes are dropped, and the peer stays Idle for `restart`
// (incoming connections are refused meanwhile) before the session may start again.
struct PrefixLimit {
  uint32_t max = 0;               // per family; 0: no limit
  uint32_t warning_percent = 75;  // a warning (log, status) once this share of max is reached
  std::chrono::seconds restart{60};
  // The count at which the warning starts (0 with no limit).
  uint64_t warning_at() const {
    return max == 0 ? 0 : (uint64_t(max) * warning_percent + 99) / 100;
  }
  bool operator==(const PrefixLimit&) const = default;
};

struct PeerConfig {
  std::string name;  // unique within the instance
  IpAddress address;
  uint16_t port = 179;
  uint32_t peer_asn = 0;
  // Timers; defaults as Cilium's (connect retry jittered to [T, 2T)).
  std::chrono::seconds connect_retry{120};
  std::chrono::seconds hold_time{90};
  std::chrono::seconds keepalive_time{30};
  // IP TTL of the session's packets. Unset: 1 for eBGP (directly connected, as Cilium's
  // eBGPMultihopTTL default), the system default for iBGP.
  std::optional<uint8_t> ebgp_multihop_ttl;
  std::string md5_password;  // TCP MD5 signature (RFC 2385); empty = none; at most 80 bytes
  bool passive = false;      // wait for the peer to connect (needs the instance's listen_port)
  GracefulRestartConfig graceful_restart;
  std::vector<Family> families{kIpv4Unicast, kIpv6Unicast};
  std::optional<IpAddress> local_address;  // source address to bind; unset = kernel's choice
  PrefixLimit prefix_limit;

  bool ebgp(uint32_t local_asn) const { return peer_asn != local_asn; }
  // Whether a change from `o` to this needs the session to restart.
  bool same_session(const PeerConfig& o) const;
  bool operator==(const PeerConfig&) const = default;
};

struct InstanceConfig {
  std::string name;  // unique; routes are set per instance name
  uint32_t local_asn = 0;
  Ipv4Addr router_id;
  // Listen for incoming sessions on this port (and address; default any). Unset: connect out
  // only, like Cilium's default. 0 lets the kernel choose (tests).
  std::optional<uint16_t> listen_port;
  std::optional<IpAddress> listen_address;
  std::vector<PeerConfig> peers;
  bool operator==(const InstanceConfig&) const = default;
};

struct SpeakerConfig {
  std::vector<InstanceConfig> instances;
  bool operator==(const SpeakerConfig&) const = default;
};

// Checks everything (unique names, ASNs, timers, TTL, MD5 key length, families, listen ports);
// the error names the field, e.g. "instances[infra].peers[srx].hold_time: 2 s is not 0 or >= 3".
Status validate(const SpeakerConfig& config);

// A route to advertise.
struct Route {
  Prefix prefix;
  // Unset: the session's local address. An IPv6 prefix over an IPv4 session (or the reverse)
  // needs one, else it is not advertised (BIRD rejects IPv4-mapped next hops).
  std::optional<IpAddress> next_hop;
  Origin origin = Origin::igp;
  std::optional<uint32_t> med;
  std::optional<uint32_t> local_preference;  // sent to iBGP peers only (RFC 4271 §5.1.5)
  std::vector<Community> communities;
  std::vector<LargeCommunity> large_communities;

  std::string str() const;  // "10.25.11.100/32 origin igp community 64512:100"
  bool operator==(const Route&) const = default;
};

// The attributes of a Route apart from its prefix; routes that share them share one object and
// go out in the same UPDATEs.
struct RouteAttributes {
  std::optional<IpAddress> next_hop;
  Origin origin = Origin::igp;
  std::optional<uint32_t> med;
  std::optional<uint32_t> local_preference;
  std::vector<Community> communities;             // sorted, unique
  std::vector<LargeCommunity> large_communities;  // sorted, unique
  auto operator<=>(const RouteAttributes&) const = default;
};

// Parses the route syntax bgpspeak and tests use: "<prefix> [next-hop A] [origin igp|egp|
// incomplete] [med N] [local-preference N] [community C]... [large-community G:L1:L2]...".
Result<Route> parse_route(const std::string& text);

}  // namespace netagent::bgp
