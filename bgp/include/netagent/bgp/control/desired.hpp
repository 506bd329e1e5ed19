#pragma once
// The BGP configuration this node should run, as plain values: what compile() produces and the
// agent turns into the speaker's configuration (bgp/), and what netctl shows.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "netagent/bgp/control/communities.hpp"
#include "netagent/bgp/control/crds.hpp"
#include "netagent/common/ip.hpp"

namespace netagent::bgp::control {

enum class Afi : uint8_t { Ipv4, Ipv6 };
const char* to_string(Afi a);
constexpr Afi afi_of(IpFamily f) {
  return f == IpFamily::v6 ? Afi::Ipv6 : Afi::Ipv4;
}

// ORIGIN (RFC 4271 5.1.1). Cilium announces every route with IGP.
enum class Origin : uint8_t { Igp = 0, Egp = 1, Incomplete = 2 };
const char* to_string(Origin o);

struct DesiredRoute {
  IpPrefix prefix;                                // 10.25.11.100/32, 10.244.1.0/24, fd00::/64
  Afi afi = Afi::Ipv4;                            // the prefix's
  std::vector<uint32_t> communities;              // RFC 1997, sorted, unique
  std::vector<LargeCommunity> large_communities;  // RFC 8092, sorted, unique
  // LOCAL_PREF (RFC 4271 5.1.5) is sent to internal peers only: set for iBGP peers (the largest
  // configured value among the matching attributes, else 100), never for eBGP peers.
  std::optional<uint32_t> local_pref;
  Origin origin = Origin::Igp;
  // Why the route exists, for netctl and logs: "Service kube-system/clustermesh-apiserver
  // LoadBalancerIP", "PodCIDR". Sorted, unique.
  std::vector<std::string> sources;
  // The next hop is the session's local address, chosen by the speaker (next-hop-self).
};

struct DesiredPeer {
  std::string name;   // v2: the peer's name; v1: its address
  IpAddress address;  // IPv4 or IPv6
  uint16_t port = 179;
  uint32_t peer_asn = 0;                   // 0: accept the ASN the peer's OPEN announces (v2 only)
  bool ibgp = false;                       // peer_asn == the instance's local ASN
  std::optional<IpAddress> local_address;  // CiliumBGPNodeConfigOverride
  Timers timers;
  uint8_t ebgp_multihop_ttl = 1;
  std::optional<std::string> auth_secret;  // Secret name, when MD5 (RFC 2385) is configured
  std::string password;                    // from the Secret's "password" key; never in JSON
  GracefulRestart graceful_restart;
  std::vector<Family> families;
  std::vector<DesiredRoute> routes;  // IPv4 by address, then IPv6
};

struct DesiredInstance {
  std::string name;  // v2: the instance's name; v1: "vrouter-<localASN>"
  uint32_t local_asn = 0;
  Ipv4Addr router_id;
  uint16_t listen_port = 0;  // 0: do not listen (Cilium's default: connect out only)
  std::vector<DesiredPeer> peers;
};

// A status condition, as Cilium's where one exists (cilium.io/...), else this agent's
// (netagent.io/...). object is "Kind name".
struct Condition {
  std::string type;
  std::string object;
  std::string message;
  bool operator==(const Condition&) const = default;
};

struct DesiredBgp {
  std::string node;
  // The object the configuration comes from ("CiliumBGPPeeringPolicy infra"), empty when none.
  std::string source;
  std::vector<DesiredInstance> instances;
  std::vector<Condition> conditions;

  const DesiredInstance* instance(std::string_view name) const;
};

nlohmann::json to_json(const DesiredRoute& r);
nlohmann::json to_json(const DesiredPeer& p);  // the password is never included
nlohmann::json to_json(const DesiredInstance& i);
nlohmann::json to_json(const DesiredBgp& d);

}  // namespace netagent::bgp::control
