#pragma once
// The five BGP messages as plain values: OPEN with its capabilities, UPDATE with its path
// attributes, NOTIFICATION, KEEPALIVE and ROUTE-REFRESH (RFC 4271 §4, RFC 2918, RFC 7313).
// codec.hpp turns them into bytes and back.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "netagent/bgp/types.hpp"

namespace netagent::bgp {

// ---- Header (RFC 4271 §4.1) ----

inline constexpr size_t kHeaderSize = 19;
inline constexpr size_t kMaxMessageSize = 4096;  // RFC 4271 §4.1 (no RFC 8654 extended messages)

enum class MessageType : uint8_t {
  open = 1,
  update = 2,
  notification = 3,
  keepalive = 4,
  route_refresh = 5,  // RFC 2918 §3
};
std::string_view message_type_name(MessageType t);

// ---- OPEN (RFC 4271 §4.2) and capabilities (RFC 5492) ----

// Capability codes (IANA "Capability Codes").
namespace cap {
inline constexpr uint8_t kMultiprotocol = 1;          // RFC 4760 §8
inline constexpr uint8_t kRouteRefresh = 2;           // RFC 2918 §2
inline constexpr uint8_t kExtendedMessage = 6;        // RFC 8654
inline constexpr uint8_t kGracefulRestart = 64;       // RFC 4724 §3
inline constexpr uint8_t kFourOctetAs = 65;           // RFC 6793 §3
inline constexpr uint8_t kAddPath = 69;               // RFC 7911
inline constexpr uint8_t kEnhancedRouteRefresh = 70;  // RFC 7313 §3
inline constexpr uint8_t kLongLivedGr = 71;           // RFC 9494
inline constexpr uint8_t kFqdn = 73;                  // draft-walton-bgp-hostname-capability
}  // namespace cap

// A capability we do not interpret, kept as received (RFC 5492 §3: unknown capabilities are
// ignored, never an error).
struct RawCapability {
  uint8_t code = 0;
  std::vector<uint8_t> value;
  bool operator==(const RawCapability&) const = default;
};

// Graceful Restart capability (RFC 4724 §3, flags from RFC 8538 §2).
struct GracefulRestartCapability {
  bool restart_state = false;  // R: the sender has restarted (RFC 4724 §3)
  bool notification = false;   // N: the sender supports graceful NOTIFICATION (RFC 8538 §2)
  uint16_t restart_time = 0;   // seconds, 12 bits
  struct FamilyFlags {
    Family family;
    bool forwarding_preserved = false;  // F bit (RFC 4724 §3)
    bool operator==(const FamilyFlags&) const = default;
  };
  std::vector<FamilyFlags> families;
  bool operator==(const GracefulRestartCapability&) const = default;
};

struct Capabilities {
  std::vector<Family> multiprotocol;      // one MP capability per family (RFC 4760 §8)
  std::optional<uint32_t> four_octet_as;  // RFC 6793 §3
  bool route_refresh = false;             // RFC 2918 §2
  bool enhanced_route_refresh = false;    // RFC 7313 §3
  std::optional<GracefulRestartCapability> graceful_restart;
  std::vector<RawCapability> unknown;  // everything else, in order received
  bool operator==(const Capabilities&) const = default;
};

struct OpenMessage {
  uint8_t version = 4;
  uint16_t my_as = 0;      // 2-octet field; AS_TRANS when the real ASN needs 4 octets
  uint16_t hold_time = 0;  // seconds; 0 or >= 3 (RFC 4271 §4.2)
  Ipv4Addr router_id;      // BGP Identifier
  Capabilities capabilities;

  // The sender's ASN: the 4-octet AS capability when present, else my_as (RFC 6793 §4.1).
  uint32_t asn() const { return capabilities.four_octet_as.value_or(my_as); }
  bool operator==(const OpenMessage&) const = default;
};

// ---- UPDATE (RFC 4271 §4.3) ----

// Path attribute type codes (IANA "BGP Path Attributes").
namespace attr {
inline constexpr uint8_t kOrigin = 1;
inline constexpr uint8_t kAsPath = 2;
inline constexpr uint8_t kNextHop = 3;
inline constexpr uint8_t kMed = 4;
inline constexpr uint8_t kLocalPref = 5;
inline constexpr uint8_t kAtomicAggregate = 6;
inline constexpr uint8_t kAggregator = 7;
inline constexpr uint8_t kCommunities = 8;      // RFC 1997
inline constexpr uint8_t kOriginatorId = 9;     // RFC 4456
inline constexpr uint8_t kClusterList = 10;     // RFC 4456
inline constexpr uint8_t kMpReachNlri = 14;     // RFC 4760 §3
inline constexpr uint8_t kMpUnreachNlri = 15;   // RFC 4760 §4
inline constexpr uint8_t kAs4Path = 17;         // RFC 6793 §3
inline constexpr uint8_t kAs4Aggregator = 18;   // RFC 6793 §3
inline constexpr uint8_t kLargeCommunity = 32;  // RFC 8092 §3

// Attribute flags (RFC 4271 §4.3).
inline constexpr uint8_t kOptional = 0x80;
inline constexpr uint8_t kTransitive = 0x40;
inline constexpr uint8_t kPartial = 0x20;
inline constexpr uint8_t kExtendedLength = 0x10;
}  // namespace attr

struct Aggregator {
  uint32_t asn = 0;
  Ipv4Addr address;
  bool operator==(const Aggregator&) const = default;
};

// An attribute we do not interpret. Unrecognised optional transitive attributes are kept (and
// passed on with the Partial bit, RFC 4271 §5); unrecognised non-transitive ones are dropped.
struct RawAttribute {
  uint8_t flags = 0;
  uint8_t type = 0;
  std::vector<uint8_t> value;
  bool operator==(const RawAttribute&) const = default;
};

// The path attributes of an UPDATE other than MP_REACH/MP_UNREACH. On a session without the
// 4-octet AS capability, AS4_PATH/AS4_AGGREGATOR are merged into as_path/aggregator on decode
// and generated again on encode (RFC 6793 §4.2), so this always holds 4-octet ASNs.
struct PathAttributes {
  std::optional<Origin> origin;
  std::optional<AsPath> as_path;
  std::optional<Ipv4Addr> next_hop;
  std::optional<uint32_t> med;
  std::optional<uint32_t> local_pref;
  bool atomic_aggregate = false;
  std::optional<Aggregator> aggregator;
  std::vector<Community> communities;
  std::vector<LargeCommunity> large_communities;
  std::optional<Ipv4Addr> originator_id;  // RFC 4456 (route reflection, iBGP)
  std::vector<uint32_t> cluster_list;     // RFC 4456
  std::vector<RawAttribute> unknown;      // optional transitive attributes we do not interpret
  bool operator==(const PathAttributes&) const = default;
};

// MP_REACH_NLRI (RFC 4760 §3). For IPv6 the next hop may carry a link-local address too
// (RFC 2545 §3).
struct MpReach {
  Family family;
  IpAddress next_hop;
  std::optional<IpAddress> link_local_next_hop;
  std::vector<Prefix> nlri;
  bool operator==(const MpReach&) const = default;
};

// MP_UNREACH_NLRI (RFC 4760 §4).
struct MpUnreach {
  Family family;
  std::vector<Prefix> withdrawn;
  bool operator==(const MpUnreach&) const = default;
};

struct UpdateMessage {
  std::vector<Prefix> withdrawn;  // IPv4 unicast
  PathAttributes attributes;
  std::optional<MpReach> mp_reach;
  std::optional<MpUnreach> mp_unreach;
  std::vector<Prefix> nlri;  // IPv4 unicast

  // End-of-RIB marker (RFC 4724 §2): an empty UPDATE for IPv4 unicast, or one carrying only an
  // empty MP_UNREACH_NLRI for other families.
  std::optional<Family> end_of_rib() const;
  static UpdateMessage make_end_of_rib(Family f);
  bool operator==(const UpdateMessage&) const = default;
};

// ---- NOTIFICATION (RFC 4271 §4.5) ----

// Error codes (RFC 4271 §4.5) and the subcodes this speaker sends or names.
namespace err {
inline constexpr uint8_t kHeader = 1;
inline constexpr uint8_t kOpen = 2;
inline constexpr uint8_t kUpdate = 3;
inline constexpr uint8_t kHoldTimerExpired = 4;
inline constexpr uint8_t kFsm = 5;
inline constexpr uint8_t kCease = 6;
inline constexpr uint8_t kRouteRefresh = 7;  // RFC 7313 §5

// Message Header Error subcodes (RFC 4271 §6.1)
inline constexpr uint8_t kConnectionNotSynchronized = 1;
inline constexpr uint8_t kBadMessageLength = 2;
inline constexpr uint8_t kBadMessageType = 3;
// OPEN Message Error subcodes (RFC 4271 §6.2, RFC 5492 §5)
inline constexpr uint8_t kUnsupportedVersion = 1;
inline constexpr uint8_t kBadPeerAs = 2;
inline constexpr uint8_t kBadBgpIdentifier = 3;
inline constexpr uint8_t kUnsupportedOptionalParameter = 4;
inline constexpr uint8_t kUnacceptableHoldTime = 6;
inline constexpr uint8_t kUnsupportedCapability = 7;
// UPDATE Message Error subcodes (RFC 4271 §6.3)
inline constexpr uint8_t kMalformedAttributeList = 1;
inline constexpr uint8_t kUnrecognizedWellKnownAttribute = 2;
inline constexpr uint8_t kMissingWellKnownAttribute = 3;
inline constexpr uint8_t kAttributeFlagsError = 4;
inline constexpr uint8_t kAttributeLengthError = 5;
inline constexpr uint8_t kInvalidOrigin = 6;
inline constexpr uint8_t kInvalidNextHop = 8;
inline constexpr uint8_t kOptionalAttributeError = 9;
inline constexpr uint8_t kInvalidNetworkField = 10;
inline constexpr uint8_t kMalformedAsPath = 11;
// FSM Error subcodes (RFC 6608 §4)
inline constexpr uint8_t kUnexpectedInOpenSent = 1;
inline constexpr uint8_t kUnexpectedInOpenConfirm = 2;
inline constexpr uint8_t kUnexpectedInEstablished = 3;
// Cease subcodes (RFC 4486 §4, RFC 8538 §3)
inline constexpr uint8_t kMaxPrefixes = 1;
inline constexpr uint8_t kAdministrativeShutdown = 2;
inline constexpr uint8_t kPeerDeconfigured = 3;
inline constexpr uint8_t kAdministrativeReset = 4;
inline constexpr uint8_t kConnectionRejected = 5;
inline constexpr uint8_t kOtherConfigurationChange = 6;
inline constexpr uint8_t kConnectionCollisionResolution = 7;
inline constexpr uint8_t kOutOfResources = 8;
inline constexpr uint8_t kHardReset = 9;
// ROUTE-REFRESH Message Error subcodes (RFC 7313 §5)
inline constexpr uint8_t kInvalidMessageLength = 1;
}  // namespace err

struct NotificationMessage {
  uint8_t code = 0;
  uint8_t subcode = 0;
  std::vector<uint8_t> data;

  // A Cease with an RFC 8203 / RFC 9003 shutdown communication (only subcodes 2 and 4 carry one).
  // The text is cut to 128 octets at a UTF-8 character boundary, the RFC 8203 limit that every
  // receiver accepts.
  static NotificationMessage cease(uint8_t subcode, std::string_view communication = {});
  // Cease / Maximum Number of Prefixes Reached (RFC 4486 §4): the data is the family's AFI
  // (2 octets), SAFI (1 octet) and the upper bound (4 octets).
  static NotificationMessage max_prefixes(Family family, uint32_t upper_bound);
  // Cease / Hard Reset wrapping `inner` (RFC 8538 §3): with the N bit negotiated, this is the
  // NOTIFICATION that makes the peer drop our routes instead of keeping them as stale.
  static NotificationMessage hard_reset(const NotificationMessage& inner);
  // The shutdown communication of a Cease/Administrative Shutdown or Reset (RFC 8203 §2), when
  // the data holds a well-formed one.
  std::optional<std::string> shutdown_communication() const;
  // "Cease / Administrative Shutdown"; unknown codes are shown by number.
  std::string description() const;
  bool operator==(const NotificationMessage&) const = default;
};
std::string notification_name(uint8_t code, uint8_t subcode);

struct KeepaliveMessage {
  bool operator==(const KeepaliveMessage&) const = default;
};

// ROUTE-REFRESH (RFC 2918 §3); subtype per RFC 7313 §4 (0 normal, 1 BoRR, 2 EoRR).
struct RouteRefreshMessage {
  Family family;
  uint8_t subtype = 0;
  static constexpr uint8_t kNormal = 0;
  static constexpr uint8_t kBeginning = 1;
  static constexpr uint8_t kEnd = 2;
  bool operator==(const RouteRefreshMessage&) const = default;
};

}  // namespace netagent::bgp
