// OPEN (RFC 4271 §4.2) with Capabilities Optional Parameters (RFC 5492), including the extended
// optional parameters length of RFC 9072 on receipt.
#include "framing.hpp"
#include "netagent/bgp/codec.hpp"

namespace netagent::bgp {
namespace {

constexpr uint8_t kParamCapabilities = 2;  // RFC 5492 §4

MessageError open_error(uint8_t subcode, std::string reason, std::vector<uint8_t> data = {}) {
  return MessageError{NotificationMessage{err::kOpen, subcode, std::move(data)},
                      "OPEN: " + std::move(reason)};
}

// Parses the capabilities of one Capabilities Optional Parameter into `caps`.
std::optional<MessageError> parse_capabilities(std::span<const uint8_t> value, Capabilities& caps) {
  wire::Reader r(value);
  while (!r.empty()) {
    uint8_t code, len;
    std::span<const uint8_t> v;
    if (!r.u8(code) || !r.u8(len) || !r.bytes(len, v)) {
      return open_error(0, "capability overruns its optional parameter");
    }
    auto malformed = [&](const char* what) {
      return open_error(0, "malformed " + std::string(what) + " capability (code " +
                               std::to_string(code) + ", length " + std::to_string(len) + ")");
    };
    switch (code) {
      case cap::kMultiprotocol: {
        // RFC 4760 §8: AFI (2), Reserved (1), SAFI (1).
        if (len != 4) return malformed("multiprotocol");
        Family f{wire::get16(v.data()), v[3]};
        bool dup = false;
        for (const auto& g : caps.multiprotocol)
          dup = dup || g == f;
        if (!dup) caps.multiprotocol.push_back(f);
        break;
      }
      case cap::kRouteRefresh:  // RFC 2918 §2: length 0
        if (len != 0) return malformed("route refresh");
        caps.route_refresh = true;
        break;
      case cap::kEnhancedRouteRefresh:  // RFC 7313 §3: length 0
        if (len != 0) return malformed("enhanced route refresh");
        caps.enhanced_route_refresh = true;
        break;
      case cap::kFourOctetAs: {
        // RFC 6793 §3: the 4-octet ASN; RFC 7607: AS 0 is a Bad Peer AS.
        if (len != 4) return malformed("4-octet AS");
        uint32_t asn = wire::get32(v.data());
        if (asn == 0) return open_error(err::kBadPeerAs, "4-octet AS capability carries AS 0");
        caps.four_octet_as = asn;
        break;
      }
      case cap::kGracefulRestart: {
        // RFC 4724 §3: Restart Flags (4 bits) + Restart Time (12 bits), then per family
        // AFI (2), SAFI (1), Flags (1). The N flag is RFC 8538 §2.
        if (len < 2 || (len - 2) % 4 != 0) return malformed("graceful restart");
        GracefulRestartCapability gr;
        uint16_t ft = wire::get16(v.data());
        gr.restart_state = ft & 0x8000;
        gr.notification = ft & 0x4000;
        gr.restart_time = ft & 0x0fff;
        for (size_t i = 2; i < len; i += 4) {
          gr.families.push_back(
              {Family{wire::get16(&v[i]), v[i + 2]}, static_cast<bool>(v[i + 3] & 0x80)});
        }
        caps.graceful_restart = std::move(gr);
        break;
      }
      default:
        // RFC 5492 §3: an unrecognised capability is ignored; kept for display.
        caps.unknown.push_back(RawCapability{code, {v.begin(), v.end()}});
        break;
    }
  }
  return std::nullopt;
}

void put_capability(std::vector<uint8_t>& o, uint8_t code, std::span<const uint8_t> value) {
  wire::put8(o, code);
  wire::put8(o, uint8_t(value.size()));
  wire::put(o, value);
}

std::vector<uint8_t> encode_capabilities(const Capabilities& c) {
  std::vector<uint8_t> o;
  for (const auto& f : c.multiprotocol) {
    uint8_t v[4] = {uint8_t(f.afi >> 8), uint8_t(f.afi), 0, f.safi};
    put_capability(o, cap::kMultiprotocol, v);
  }
  if (c.route_refresh) put_capability(o, cap::kRouteRefresh, {});
  if (c.enhanced_route_refresh) put_capability(o, cap::kEnhancedRouteRefresh, {});
  if (c.four_octet_as) {
    std::vector<uint8_t> v;
    wire::put32(v, *c.four_octet_as);
    put_capability(o, cap::kFourOctetAs, v);
  }
  if (c.graceful_restart) {
    const auto& gr = *c.graceful_restart;
    std::vector<uint8_t> v;
    uint16_t ft = uint16_t((gr.restart_state ? 0x8000 : 0) | (gr.notification ? 0x4000 : 0) |
                           (gr.restart_time & 0x0fff));
    wire::put16(v, ft);
    // At most 63 families fit the one-octet capability length.
    for (size_t i = 0; i < gr.families.size() && i < 63; ++i) {
      wire::put16(v, gr.families[i].family.afi);
      wire::put8(v, gr.families[i].family.safi);
      wire::put8(v, gr.families[i].forwarding_preserved ? 0x80 : 0);
    }
    put_capability(o, cap::kGracefulRestart, v);
  }
  for (const auto& u : c.unknown) {
    put_capability(o, u.code, std::span(u.value).first(std::min<size_t>(u.value.size(), 255)));
  }
  return o;
}

}  // namespace

Parsed<OpenMessage> decode_open(std::span<const uint8_t> body) {
  wire::Reader r(body);
  OpenMessage m;
  uint32_t id;
  uint8_t opt_len;
  if (!r.u8(m.version) || !r.u16(m.my_as) || !r.u16(m.hold_time) || !r.u32(id) || !r.u8(opt_len)) {
    return open_error(0, "shorter than its fixed fields");
  }
  m.router_id = Ipv4Addr{id};
  if (m.version != 4) {
    // RFC 4271 §6.2: the data is the largest version we support.
    return open_error(err::kUnsupportedVersion, "version " + std::to_string(m.version), {0, 4});
  }
  if (m.my_as == 0) return open_error(err::kBadPeerAs, "My Autonomous System is 0 (RFC 7607)");
  if (m.hold_time == 1 || m.hold_time == 2) {
    return open_error(err::kUnacceptableHoldTime,
                      "hold time " + std::to_string(m.hold_time) + " is not 0 or >= 3");
  }
  if (id == 0) return open_error(err::kBadBgpIdentifier, "BGP Identifier 0.0.0.0 (RFC 6286)");

  // RFC 9072 §2: a non-extended length of 255 followed by a parameter type of 255 announces the
  // extended format with 2-octet lengths.
  bool extended = opt_len == 255 && r.remaining() >= 1 && r.rest()[0] == 255;
  size_t params_len = opt_len;
  if (extended) {
    uint16_t ext_len;
    r.skip(1);
    if (!r.u16(ext_len)) return open_error(0, "extended optional parameters length truncated");
    params_len = ext_len;
  }
  if (params_len != r.remaining()) {
    return open_error(0, "optional parameters length " + std::to_string(params_len) + " but " +
                             std::to_string(r.remaining()) + " bytes follow");
  }
  while (!r.empty()) {
    uint8_t type;
    uint16_t len = 0;
    std::span<const uint8_t> v;
    bool ok = r.u8(type);
    if (extended) {
      ok = ok && r.u16(len);
    } else {
      uint8_t l8 = 0;
      ok = ok && r.u8(l8);
      len = l8;
    }
    if (!ok || !r.bytes(len, v)) return open_error(0, "optional parameter overruns the message");
    if (type != kParamCapabilities) {
      return open_error(err::kUnsupportedOptionalParameter,
                        "optional parameter type " + std::to_string(type));
    }
    if (auto e = parse_capabilities(v, m.capabilities)) return *e;
  }
  return m;
}

void encode_open(const OpenMessage& m, std::vector<uint8_t>& out) {
  size_t start = wire::begin_message(out, MessageType::open);
  wire::put8(out, m.version);
  wire::put16(out, m.my_as);
  wire::put16(out, m.hold_time);
  wire::put32(out, m.router_id.value);
  auto caps = encode_capabilities(m.capabilities);
  if (caps.empty()) {
    wire::put8(out, 0);
  } else if (caps.size() + 2 <= 255) {
    // One Capabilities Optional Parameter holding every capability (RFC 5492 §4).
    wire::put8(out, uint8_t(caps.size() + 2));
    wire::put8(out, kParamCapabilities);
    wire::put8(out, uint8_t(caps.size()));
    wire::put(out, caps);
  } else {
    // RFC 9072 §2 extended optional parameters, needed only for very large capability sets.
    wire::put8(out, 255);
    wire::put8(out, 255);
    wire::put16(out, uint16_t(caps.size() + 3));
    wire::put8(out, kParamCapabilities);
    wire::put16(out, uint16_t(caps.size()));
    wire::put(out, caps);
  }
  wire::finish_message(out, start);
}

std::vector<uint8_t> encode(const OpenMessage& m) {
  std::vector<uint8_t> out;
  encode_open(m, out);
  return out;
}

}  // namespace netagent::bgp
