// The small control messages: NOTIFICATION (RFC 4271 §4.5), KEEPALIVE (§4.4) and ROUTE-REFRESH
// (RFC 2918 §3, RFC 7313 §4).
#include "framing.hpp"
#include "netagent/bgp/codec.hpp"

namespace netagent::bgp {

Parsed<NotificationMessage> decode_notification(std::span<const uint8_t> body) {
  if (body.size() < 2) {
    return MessageError{NotificationMessage{err::kHeader, err::kBadMessageLength, {}},
                        "NOTIFICATION: body shorter than 2 bytes"};
  }
  NotificationMessage n;
  n.code = body[0];
  n.subcode = body[1];
  n.data.assign(body.begin() + 2, body.end());
  return n;
}

Parsed<KeepaliveMessage> decode_keepalive(std::span<const uint8_t> body) {
  if (!body.empty()) {
    uint16_t len = uint16_t(kHeaderSize + body.size());
    return MessageError{
        NotificationMessage{
            err::kHeader, err::kBadMessageLength, {uint8_t(len >> 8), uint8_t(len)}},
        "KEEPALIVE: carries a body"};
  }
  return KeepaliveMessage{};
}

Parsed<RouteRefreshMessage> decode_route_refresh(std::span<const uint8_t> body) {
  if (body.size() != 4) {
    // RFC 7313 §5: a ROUTE-REFRESH whose length is not 23 is answered with
    // ROUTE-REFRESH Message Error / Invalid Message Length, carrying the message.
    std::vector<uint8_t> data(16, 0xff);
    uint16_t len = uint16_t(kHeaderSize + body.size());
    data.push_back(uint8_t(len >> 8));
    data.push_back(uint8_t(len));
    data.push_back(uint8_t(MessageType::route_refresh));
    data.insert(data.end(), body.begin(), body.end());
    return MessageError{
        NotificationMessage{err::kRouteRefresh, err::kInvalidMessageLength, std::move(data)},
        "ROUTE-REFRESH: body of " + std::to_string(body.size()) + " bytes, expected 4"};
  }
  RouteRefreshMessage r;
  r.family.afi = wire::get16(body.data());
  r.subtype = body[2];  // "Reserved" in RFC 2918, message subtype in RFC 7313 §3
  r.family.safi = body[3];
  return r;
}

void encode_notification(const NotificationMessage& m, std::vector<uint8_t>& out) {
  size_t start = wire::begin_message(out, MessageType::notification);
  wire::put8(out, m.code);
  wire::put8(out, m.subcode);
  // Data beyond what fits in one message is cut (it is diagnostic only).
  size_t room = kMaxMessageSize - kHeaderSize - 2;
  wire::put(out, std::span(m.data).first(std::min(room, m.data.size())));
  wire::finish_message(out, start);
}

void encode_keepalive(std::vector<uint8_t>& out) {
  size_t start = wire::begin_message(out, MessageType::keepalive);
  wire::finish_message(out, start);
}

void encode_route_refresh(const RouteRefreshMessage& m, std::vector<uint8_t>& out) {
  size_t start = wire::begin_message(out, MessageType::route_refresh);
  wire::put16(out, m.family.afi);
  wire::put8(out, m.subtype);
  wire::put8(out, m.family.safi);
  wire::finish_message(out, start);
}

std::vector<uint8_t> encode(const NotificationMessage& m) {
  std::vector<uint8_t> out;
  encode_notification(m, out);
  return out;
}

std::vector<uint8_t> encode(const RouteRefreshMessage& m) {
  std::vector<uint8_t> out;
  encode_route_refresh(m, out);
  return out;
}

std::vector<uint8_t> encode_keepalive() {
  std::vector<uint8_t> out;
  encode_keepalive(out);
  return out;
}

}  // namespace netagent::bgp
