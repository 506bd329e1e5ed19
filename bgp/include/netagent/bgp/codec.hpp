#pragma once
// The BGP wire format: pure functions from byte spans to message values and back. Nothing here
// does I/O, allocates per byte or throws; every decoding failure is a MessageError carrying the
// NOTIFICATION that RFC 4271 §6 (as revised by RFC 7606) says to send.
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "netagent/bgp/messages.hpp"
#include "netagent/common/result.hpp"

namespace netagent::bgp {

// A decoding error that ends the session: the NOTIFICATION to send and a readable reason.
struct MessageError {
  NotificationMessage notification;
  std::string reason;  // what was wrong and where, e.g. "OPEN: hold time 2 is not 0 or >= 3"

  std::string str() const;  // "reason (NOTIFICATION 2/6 OPEN Message Error / Unacceptable ...)"
};

// Either a decoded value or the MessageError that ends the session.
template <typename T>
class [[nodiscard]] Parsed {
 public:
  Parsed(T value) : v_(std::move(value)) {}             // NOLINT(google-explicit-constructor)
  Parsed(MessageError error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const MessageError& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, MessageError> v_;
};

// ---- Header and framing (RFC 4271 §4.1, §6.1) ----

struct Header {
  MessageType type = MessageType::keepalive;
  uint16_t length = 0;  // whole message including the header
};

// Checks the 19-byte header at the start of `bytes` (which must hold at least kHeaderSize):
// marker, length within [19, 4096] and the minimum for the type, known type.
Parsed<Header> decode_header(std::span<const uint8_t> bytes);

// ---- RFC 7606 revised error handling of UPDATE messages ----

// What to do about a malformed UPDATE, weakest first; when several attributes are malformed the
// strongest action wins (RFC 7606 §3 h). Session reset is reported as a MessageError instead.
enum class ErrorAction : uint8_t {
  none = 0,
  attribute_discard = 1,  // drop the attribute, keep the routes (RFC 7606 §2)
  treat_as_withdraw = 2,  // treat every NLRI of the UPDATE as withdrawn (RFC 7606 §2)
};
std::string_view error_action_name(ErrorAction a);

struct AttributeError {
  uint8_t type = 0;  // attribute type code (0 when about the attribute list)
  ErrorAction action = ErrorAction::none;
  uint8_t subcode = 0;  // the RFC 4271 §6.3 subcode this error would have reset with
  std::string reason;
};

struct DecodedUpdate {
  UpdateMessage update;
  ErrorAction action = ErrorAction::none;  // the strongest of errors[].action
  std::vector<AttributeError> errors;      // also notes of ignored input (action none)

  // Every prefix the receiver must remove: withdrawn + MP_UNREACH, plus all announced NLRI when
  // the update is treated as withdraw.
  std::vector<Prefix> withdrawn_prefixes() const;
  // Prefixes to install with update.attributes (none when treated as withdraw).
  std::vector<Prefix> announced_prefixes() const;
};

// Per-session facts the UPDATE format depends on.
struct SessionContext {
  bool four_octet_as = true;  // RFC 6793: AS_PATH carries 4-octet ASNs
  bool ebgp = true;           // LOCAL_PREF from an external peer is discarded (RFC 7606 §7.5)
};

// ---- Decoding message bodies (everything after the 19-byte header) ----

Parsed<OpenMessage> decode_open(std::span<const uint8_t> body);
Parsed<DecodedUpdate> decode_update(std::span<const uint8_t> body, const SessionContext& ctx);
Parsed<NotificationMessage> decode_notification(std::span<const uint8_t> body);
Parsed<KeepaliveMessage> decode_keepalive(std::span<const uint8_t> body);
Parsed<RouteRefreshMessage> decode_route_refresh(std::span<const uint8_t> body);

using Message = std::variant<OpenMessage, DecodedUpdate, NotificationMessage, KeepaliveMessage,
                             RouteRefreshMessage>;

// Decodes one complete message (header included; `bytes` must be exactly one message).
Parsed<Message> decode_message(std::span<const uint8_t> bytes, const SessionContext& ctx);

// ---- Encoding (each function appends one complete message, header included) ----

void encode_open(const OpenMessage& m, std::vector<uint8_t>& out);
void encode_notification(const NotificationMessage& m, std::vector<uint8_t>& out);
void encode_keepalive(std::vector<uint8_t>& out);
void encode_route_refresh(const RouteRefreshMessage& m, std::vector<uint8_t>& out);
// One UPDATE; fails (appending nothing) if it would exceed kMaxMessageSize.
Status encode_update(const UpdateMessage& m, const SessionContext& ctx, std::vector<uint8_t>& out);

// Convenience: a single message as its own buffer.
std::vector<uint8_t> encode(const OpenMessage& m);
std::vector<uint8_t> encode(const NotificationMessage& m);
std::vector<uint8_t> encode(const RouteRefreshMessage& m);
std::vector<uint8_t> encode_keepalive();

// ---- Packing many prefixes into few UPDATEs ----

// Path attributes pre-encoded once for one session and one family, so that announcing N
// prefixes with the same attributes costs N prefix encodings, not N attribute encodings.
// For IPv4 unicast NLRI go in the UPDATE's NLRI field with a NEXT_HOP attribute; for other
// families they go in an MP_REACH_NLRI attribute, placed first (RFC 7606 §5.1).
class EncodedAttributes {
 public:
  // `next_hop` is NEXT_HOP for IPv4 (must be IPv4) or the MP_REACH next hop otherwise;
  // attributes.next_hop is ignored in favour of it.
  static Result<EncodedAttributes> make(const PathAttributes& attributes, Family family,
                                        const IpAddress& next_hop,
                                        const std::optional<IpAddress>& link_local_next_hop,
                                        const SessionContext& ctx);
  Family family() const { return family_; }
  size_t size() const { return attrs_.size(); }
  // The encoded bytes with the family: equal fingerprints mean identical UPDATE attributes.
  std::string fingerprint() const;
  bool operator==(const EncodedAttributes& o) const {
    return family_ == o.family_ && attrs_ == o.attrs_ && mp_next_hop_ == o.mp_next_hop_;
  }

 private:
  friend void append_announcements(std::vector<uint8_t>&, const EncodedAttributes&,
                                   std::span<const Prefix>);
  Family family_;
  std::vector<uint8_t> attrs_;        // all attributes except MP_REACH
  std::vector<uint8_t> mp_next_hop_;  // MP_REACH next hop field (length octet included)
};

// Appends as few UPDATEs as fit `prefixes` (all of the attribute set's family) within
// kMaxMessageSize.
void append_announcements(std::vector<uint8_t>& out, const EncodedAttributes& attributes,
                          std::span<const Prefix> prefixes);
// Appends as few UPDATEs as fit the withdrawal of `prefixes` (all of family `f`).
void append_withdrawals(std::vector<uint8_t>& out, Family f, std::span<const Prefix> prefixes);
void append_end_of_rib(std::vector<uint8_t>& out, Family f);

}  // namespace netagent::bgp
