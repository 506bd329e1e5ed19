// libFuzzer target for the BGP codec. The first input byte picks the session context (4-octet
// AS, external peer); the rest is one message. Properties checked beyond "no crash, no UB":
// whatever decodes cleanly encodes again and decodes to the same value, and received UPDATEs
// apply to an Adj-RIB-In.
#include <cstdint>
#include <cstdlib>
#include <span>
#include <variant>

#include "netagent/bgp/codec.hpp"
#include "netagent/bgp/rib.hpp"

using namespace netagent::bgp;

namespace {

[[noreturn]] void property_failed() {
  std::abort();
}

template <typename T>
const T& redecode(const std::vector<uint8_t>& bytes, const SessionContext& ctx,
                  Parsed<Message>& holder) {
  holder = decode_message(bytes, ctx);
  if (!holder.ok()) property_failed();
  auto* v = std::get_if<T>(&holder.value());
  if (!v) property_failed();
  return *v;
}

bool has_confed(const PathAttributes& a) {
  if (!a.as_path) return false;
  for (const auto& s : a.as_path->segments) {
    if (s.type == AsSegmentType::confed_sequence || s.type == AsSegmentType::confed_set) {
      return true;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  SessionContext ctx{(data[0] & 1) != 0, (data[0] & 2) != 0};
  std::span<const uint8_t> msg(data + 1, size - 1);
  if (msg.size() >= kHeaderSize) (void)decode_header(msg);
  auto m = decode_message(msg, ctx);
  if (!m.ok()) {
    (void)m.error().str();
    return 0;
  }
  Parsed<Message> again = MessageError{};
  if (auto* o = std::get_if<OpenMessage>(&m.value())) {
    auto bytes = encode(*o);
    if (bytes.size() <= kMaxMessageSize && redecode<OpenMessage>(bytes, ctx, again) != *o) {
      property_failed();
    }
  } else if (auto* u = std::get_if<DecodedUpdate>(&m.value())) {
    AdjRibIn rib;
    rib.apply(*u);
    (void)rib.routes();
    (void)u->update.end_of_rib();
    // Only clean updates round-trip exactly: errors drop or keep parts of the input, and on a
    // 2-octet session AS4_PATH cannot carry confederation segments (RFC 6793 §4.2.2).
    bool clean = u->action == ErrorAction::none && u->errors.empty() &&
                 (ctx.four_octet_as || !has_confed(u->update.attributes));
    std::vector<uint8_t> bytes;
    if (clean && encode_update(u->update, ctx, bytes).ok()) {
      const auto& d = redecode<DecodedUpdate>(bytes, ctx, again);
      if (d.update != u->update || d.action != ErrorAction::none) property_failed();
    }
  } else if (auto* n = std::get_if<NotificationMessage>(&m.value())) {
    (void)n->shutdown_communication();
    (void)n->description();
    if (redecode<NotificationMessage>(encode(*n), ctx, again) != *n) property_failed();
  } else if (auto* r = std::get_if<RouteRefreshMessage>(&m.value())) {
    if (redecode<RouteRefreshMessage>(encode(*r), ctx, again) != *r) property_failed();
  }
  return 0;
}
