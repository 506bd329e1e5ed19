#pragma once
// What two OPEN messages agree on (RFC 4271 §4.2, RFC 5492) and whether a received OPEN is
// acceptable for the configured peer (RFC 4271 §6.2, RFC 6286, RFC 6793).
#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "netagent/bgp/codec.hpp"
#include "netagent/bgp/messages.hpp"

namespace netagent::bgp {

struct Negotiated {
  uint32_t peer_asn = 0;
  Ipv4Addr peer_router_id;
  uint16_t hold_time = 0;       // seconds: the smaller of both (RFC 4271 §4.2); 0 = no keepalives
  uint16_t keepalive_time = 0;  // seconds: configured, at most a third of the hold time
  bool four_octet_as = false;   // both sent the capability (RFC 6793 §4)
  bool route_refresh = false;   // the peer accepts ROUTE-REFRESH (RFC 2918)
  bool enhanced_route_refresh = false;  // both (RFC 7313)
  std::vector<Family> families;         // both sides' multiprotocol families (RFC 4760 §8)
  // The peer's Graceful Restart capability: it retains our routes across a restart of ours for
  // restart_time seconds for the families it lists (RFC 4724 §4.2).
  std::optional<GracefulRestartCapability> peer_graceful_restart;
  bool local_graceful_restart = false;  // we sent the capability
  bool graceful_notification = false;   // both set the N bit (RFC 8538 §2)
  Capabilities peer_capabilities;       // everything the peer sent, for display

  bool has_family(Family f) const;
  SessionContext context(bool ebgp) const { return SessionContext{four_octet_as, ebgp}; }
  bool operator==(const Negotiated&) const = default;
};

// `keepalive` is the configured keepalive interval; it is capped at a third of the negotiated
// hold time (RFC 4271 §10 suggests one third).
Negotiated negotiate(const OpenMessage& local, const OpenMessage& remote,
                     std::chrono::seconds keepalive);

// Checks a received OPEN against the configured peer: peer ASN (Bad Peer AS), BGP Identifier
// equal to ours on an internal session (RFC 6286 §2.2: Bad BGP Identifier).
std::optional<MessageError> check_open(const OpenMessage& remote, uint32_t expected_peer_asn,
                                       uint32_t local_asn, Ipv4Addr local_router_id);

}  // namespace netagent::bgp
