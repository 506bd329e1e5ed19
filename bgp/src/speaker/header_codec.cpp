// Message header checks (RFC 4271 §4.1, §6.1) and the per-type dispatch of decode_message().
#include "netagent/bgp/codec.hpp"
#include "wire.hpp"

namespace netagent::bgp {
namespace {

MessageError header_error(uint8_t subcode, std::vector<uint8_t> data, std::string reason) {
  return MessageError{NotificationMessage{err::kHeader, subcode, std::move(data)},
                      std::move(reason)};
}

// Smallest valid length per type (RFC 4271 §4.2-4.5, RFC 2918 §3).
size_t min_length(MessageType t) {
  switch (t) {
    case MessageType::open:
      return 29;
    case MessageType::update:
      return 23;
    case MessageType::notification:
      return 21;
    case MessageType::keepalive:
      return 19;
    case MessageType::route_refresh:
      return 23;
  }
  return kHeaderSize;
}

}  // namespace

std::string MessageError::str() const {
  return reason + " (NOTIFICATION " + std::to_string(notification.code) + "/" +
         std::to_string(notification.subcode) + " " + notification.description() + ")";
}

Parsed<Header> decode_header(std::span<const uint8_t> bytes) {
  if (bytes.size() < kHeaderSize) {
    return header_error(err::kBadMessageLength, {}, "header: fewer than 19 bytes");
  }
  for (size_t i = 0; i < 16; ++i) {
    // RFC 4271 §6.1: a marker that is not all ones means the stream is out of sync.
    if (bytes[i] != 0xff) {
      return header_error(err::kConnectionNotSynchronized, {}, "header: marker is not all ones");
    }
  }
  uint16_t length = wire::get16(&bytes[16]);
  uint8_t type = bytes[18];
  std::vector<uint8_t> length_field{bytes[16], bytes[17]};
  if (type < 1 || type > 5) {
    return header_error(err::kBadMessageType, {type},
                        "header: unknown message type " + std::to_string(type));
  }
  auto t = MessageType(type);
  if (length < kHeaderSize || length > kMaxMessageSize) {
    return header_error(err::kBadMessageLength, length_field,
                        "header: length " + std::to_string(length) + " outside [19, 4096]");
  }
  // RFC 4271 §6.1: too short for the type, or a KEEPALIVE that is not exactly 19 bytes.
  if (length < min_length(t) || (t == MessageType::keepalive && length != kHeaderSize)) {
    return header_error(err::kBadMessageLength, length_field,
                        "header: length " + std::to_string(length) + " invalid for " +
                            std::string(message_type_name(t)));
  }
  return Header{t, length};
}

Parsed<Message> decode_message(std::span<const uint8_t> bytes, const SessionContext& ctx) {
  auto h = decode_header(bytes);
  if (!h) return h.error();
  if (h->length != bytes.size()) {
    return header_error(err::kBadMessageLength, {uint8_t(h->length >> 8), uint8_t(h->length)},
                        "header: length " + std::to_string(h->length) + " but " +
                            std::to_string(bytes.size()) + " bytes given");
  }
  auto body = bytes.subspan(kHeaderSize);
  auto wrap = [](auto parsed) -> Parsed<Message> {
    if (!parsed) return parsed.error();
    return Message{std::move(parsed).value()};
  };
  switch (h->type) {
    case MessageType::open:
      return wrap(decode_open(body));
    case MessageType::update:
      return wrap(decode_update(body, ctx));
    case MessageType::notification:
      return wrap(decode_notification(body));
    case MessageType::keepalive:
      return wrap(decode_keepalive(body));
    case MessageType::route_refresh:
      return wrap(decode_route_refresh(body));
  }
  return header_error(err::kBadMessageType, {uint8_t(h->type)}, "header: unknown type");
}

}  // namespace netagent::bgp
