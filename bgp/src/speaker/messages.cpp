#include "netagent/bgp/messages.hpp"

#include <algorithm>
#include <iterator>

namespace netagent::bgp {

std::string_view message_type_name(MessageType t) {
  switch (t) {
    case MessageType::open:
      return "open";
    case MessageType::update:
      return "update";
    case MessageType::notification:
      return "notification";
    case MessageType::keepalive:
      return "keepalive";
    case MessageType::route_refresh:
      return "route-refresh";
  }
  return "unknown";
}

std::optional<Family> UpdateMessage::end_of_rib() const {
  // RFC 4724 §2: IPv4 unicast EoR is an UPDATE with nothing in it; for other families an UPDATE
  // whose only attribute is an MP_UNREACH_NLRI with no withdrawn routes.
  bool no_attrs = attributes == PathAttributes{};
  if (!withdrawn.empty() || !nlri.empty() || mp_reach || !no_attrs) return std::nullopt;
  if (!mp_unreach) return kIpv4Unicast;
  if (mp_unreach->withdrawn.empty()) return mp_unreach->family;
  return std::nullopt;
}

UpdateMessage UpdateMessage::make_end_of_rib(Family f) {
  UpdateMessage u;
  if (f != kIpv4Unicast) u.mp_unreach = MpUnreach{f, {}};
  return u;
}

NotificationMessage NotificationMessage::cease(uint8_t subcode, std::string_view text) {
  NotificationMessage n{err::kCease, subcode, {}};
  bool carries_text =
      subcode == err::kAdministrativeShutdown || subcode == err::kAdministrativeReset;
  if (!carries_text || text.empty()) return n;
  // RFC 8203 §2: at most 128 octets of UTF-8. Cut at a character boundary (never in the middle
  // of a multi-byte sequence: continuation bytes are 10xxxxxx).
  size_t len = std::min<size_t>(text.size(), 128);
  while (len > 0 && len < text.size() && (uint8_t(text[len]) & 0xc0) == 0x80)
    --len;
  n.data.resize(1 + len);
  n.data[0] = uint8_t(len);
  std::copy_n(text.begin(), len, n.data.begin() + 1);
  return n;
}

NotificationMessage NotificationMessage::max_prefixes(Family family, uint32_t upper_bound) {
  NotificationMessage n{err::kCease, err::kMaxPrefixes, {}};
  n.data = {uint8_t(family.afi >> 8),   uint8_t(family.afi),        uint8_t(family.safi),
            uint8_t(upper_bound >> 24), uint8_t(upper_bound >> 16), uint8_t(upper_bound >> 8),
            uint8_t(upper_bound)};
  return n;
}

NotificationMessage NotificationMessage::hard_reset(const NotificationMessage& inner) {
  NotificationMessage n{err::kCease, err::kHardReset, {}};
  n.data.resize(2 + inner.data.size());
  n.data[0] = inner.code;
  n.data[1] = inner.subcode;
  std::copy(inner.data.begin(), inner.data.end(), n.data.begin() + 2);
  return n;
}

std::optional<std::string> NotificationMessage::shutdown_communication() const {
  if (code != err::kCease) return std::nullopt;
  if (subcode != err::kAdministrativeShutdown && subcode != err::kAdministrativeReset) {
    return std::nullopt;
  }
  // RFC 8203 §2 / RFC 9003 §2: a length octet then that many octets of UTF-8. A length that
  // overruns the data means the data is not a communication.
  if (data.empty() || size_t(data[0]) + 1 > data.size()) return std::nullopt;
  return std::string(data.begin() + 1, data.begin() + 1 + data[0]);
}

std::string NotificationMessage::description() const {
  return notification_name(code, subcode);
}

std::string notification_name(uint8_t code, uint8_t subcode) {
  static const char* const kHeader[] = {"Unspecific", "Connection Not Synchronized",
                                        "Bad Message Length", "Bad Message Type"};
  static const char* const kOpen[] = {"Unspecific",
                                      "Unsupported Version Number",
                                      "Bad Peer AS",
                                      "Bad BGP Identifier",
                                      "Unsupported Optional Parameter",
                                      "Authentication Failure",
                                      "Unacceptable Hold Time",
                                      "Unsupported Capability"};
  static const char* const kUpdate[] = {"Unspecific",
                                        "Malformed Attribute List",
                                        "Unrecognized Well-known Attribute",
                                        "Missing Well-known Attribute",
                                        "Attribute Flags Error",
                                        "Attribute Length Error",
                                        "Invalid ORIGIN Attribute",
                                        "AS Routing Loop",
                                        "Invalid NEXT_HOP Attribute",
                                        "Optional Attribute Error",
                                        "Invalid Network Field",
                                        "Malformed AS_PATH"};
  static const char* const kFsm[] = {"Unspecific", "Unexpected Message in OpenSent",
                                     "Unexpected Message in OpenConfirm",
                                     "Unexpected Message in Established"};
  static const char* const kCease[] = {"Unspecific",
                                       "Maximum Number of Prefixes Reached",
                                       "Administrative Shutdown",
                                       "Peer De-configured",
                                       "Administrative Reset",
                                       "Connection Rejected",
                                       "Other Configuration Change",
                                       "Connection Collision Resolution",
                                       "Out of Resources",
                                       "Hard Reset",
                                       "BFD Down"};
  static const char* const kRefresh[] = {"Unspecific", "Invalid Message Length"};

  auto pick = [&](const char* const* table, size_t n, const char* name) {
    std::string s = name;
    s += " / ";
    if (subcode < n) {
      s += table[subcode];
    } else {
      s += "subcode " + std::to_string(subcode);
    }
    return s;
  };
  switch (code) {
    case err::kHeader:
      return pick(kHeader, std::size(kHeader), "Message Header Error");
    case err::kOpen:
      return pick(kOpen, std::size(kOpen), "OPEN Message Error");
    case err::kUpdate:
      return pick(kUpdate, std::size(kUpdate), "UPDATE Message Error");
    case err::kHoldTimerExpired:
      return "Hold Timer Expired";
    case err::kFsm:
      return pick(kFsm, std::size(kFsm), "Finite State Machine Error");
    case err::kCease:
      return pick(kCease, std::size(kCease), "Cease");
    case err::kRouteRefresh:
      return pick(kRefresh, std::size(kRefresh), "ROUTE-REFRESH Message Error");
    default:
      return "code " + std::to_string(code) + " / subcode " + std::to_string(subcode);
  }
}

}  // namespace netagent::bgp
