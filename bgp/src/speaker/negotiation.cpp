#include "netagent/bgp/negotiation.hpp"

#include <algorithm>

namespace netagent::bgp {

bool Negotiated::has_family(Family f) const {
  return std::find(families.begin(), families.end(), f) != families.end();
}

Negotiated negotiate(const OpenMessage& local, const OpenMessage& remote,
                     std::chrono::seconds keepalive) {
  Negotiated n;
  const auto& lc = local.capabilities;
  const auto& rc = remote.capabilities;
  n.peer_asn = remote.asn();
  n.peer_router_id = remote.router_id;
  n.hold_time = std::min(local.hold_time, remote.hold_time);
  if (n.hold_time != 0) {
    auto ka = keepalive.count() > 0 ? uint64_t(keepalive.count()) : uint64_t(n.hold_time / 3);
    n.keepalive_time = uint16_t(std::max<uint64_t>(1, std::min<uint64_t>(ka, n.hold_time / 3)));
  }
  n.four_octet_as = lc.four_octet_as.has_value() && rc.four_octet_as.has_value();
  n.route_refresh = rc.route_refresh;
  n.enhanced_route_refresh = lc.enhanced_route_refresh && rc.enhanced_route_refresh;
  // RFC 4760 §8: a speaker that sends no multiprotocol capability does IPv4 unicast only.
  auto fams = [](const Capabilities& c) {
    return c.multiprotocol.empty() ? std::vector<Family>{kIpv4Unicast} : c.multiprotocol;
  };
  auto mine = fams(lc);
  for (const auto& f : fams(rc)) {
    if (std::find(mine.begin(), mine.end(), f) != mine.end()) n.families.push_back(f);
  }
  n.peer_graceful_restart = rc.graceful_restart;
  n.local_graceful_restart = lc.graceful_restart.has_value();
  n.graceful_notification = lc.graceful_restart && rc.graceful_restart &&
                            lc.graceful_restart->notification && rc.graceful_restart->notification;
  n.peer_capabilities = rc;
  return n;
}

std::optional<MessageError> check_open(const OpenMessage& remote, uint32_t expected_peer_asn,
                                       uint32_t local_asn, Ipv4Addr local_router_id) {
  if (remote.asn() != expected_peer_asn) {
    return MessageError{NotificationMessage{err::kOpen, err::kBadPeerAs, {}},
                        "OPEN: peer AS " + std::to_string(remote.asn()) + ", expected " +
                            std::to_string(expected_peer_asn)};
  }
  // RFC 6286 §2.2: internal peers must have distinct identifiers; external ones may share one.
  if (expected_peer_asn == local_asn && remote.router_id == local_router_id) {
    return MessageError{NotificationMessage{err::kOpen, err::kBadBgpIdentifier, {}},
                        "OPEN: internal peer uses our BGP Identifier " + local_router_id.str()};
  }
  return std::nullopt;
}

}  // namespace netagent::bgp
