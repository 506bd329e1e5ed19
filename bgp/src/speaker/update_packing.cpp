// Packing many prefixes that share one attribute set into as few UPDATEs as fit in 4096 bytes.
// The attributes are encoded once; each message then costs one header plus its prefixes.
#include "attributes_wire.hpp"
#include "framing.hpp"
#include "netagent/bgp/codec.hpp"
#include "nlri.hpp"

namespace netagent::bgp {
namespace {

constexpr size_t kMaxPrefixWire = 17;  // an IPv6 /128: length octet + 16

// Fixed bytes of an UPDATE around its attributes: header, withdrawn length, attribute length.
constexpr size_t kUpdateOverhead = kHeaderSize + 2 + 2;
// MP_REACH/MP_UNREACH attribute header with extended length, AFI, SAFI.
constexpr size_t kMpHeader = 4 + 3;

// Moves prefixes from `prefixes[i...]` into `out` while they fit in `room` bytes.
size_t put_prefixes_fitting(std::vector<uint8_t>& out, std::span<const Prefix> prefixes, size_t i,
                            size_t room) {
  size_t used = 0;
  while (i < prefixes.size()) {
    size_t n = wire::prefix_wire_size(prefixes[i]);
    if (used + n > room) break;
    wire::put_prefix(out, prefixes[i]);
    used += n;
    ++i;
  }
  return i;
}

}  // namespace

Result<EncodedAttributes> EncodedAttributes::make(const PathAttributes& attributes, Family family,
                                                  const IpAddress& next_hop,
                                                  const std::optional<IpAddress>& link_local,
                                                  const SessionContext& ctx) {
  EncodedAttributes e;
  e.family_ = family;
  PathAttributes a = attributes;
  if (family == kIpv4Unicast) {
    if (!next_hop.is_v4()) return Error{"IPv4 route with IPv6 next hop " + next_hop.str()};
    a.next_hop = next_hop.as_v4();
  } else {
    if (family.afi != afi_of(next_hop)) {
      return Error{family.str() + " route with next hop " + next_hop.str() + " of another family"};
    }
    // RFC 4760 §3: next hop length, the address, and for IPv6 an optional link-local one
    // (RFC 2545 §3).
    a.next_hop.reset();
    auto nh = next_hop.bytes();
    bool ll = link_local && link_local->is_v6() && family.afi == kAfiIpv6;
    e.mp_next_hop_.push_back(uint8_t(nh.size() + (ll ? 16 : 0)));
    wire::put(e.mp_next_hop_, nh);
    if (ll) wire::put(e.mp_next_hop_, link_local->bytes());
  }
  wire::put_path_attributes(e.attrs_, a, ctx);
  size_t fixed = kUpdateOverhead + e.attrs_.size() +
                 (e.mp_next_hop_.empty() ? 0 : kMpHeader + e.mp_next_hop_.size() + 1);
  if (fixed + kMaxPrefixWire > kMaxMessageSize) {
    return Error{"path attributes of " + std::to_string(e.attrs_.size()) +
                 " bytes leave no room for NLRI in a 4096-byte UPDATE"};
  }
  return e;
}

std::string EncodedAttributes::fingerprint() const {
  std::string s;
  s.reserve(4 + attrs_.size() + mp_next_hop_.size());
  s += char(family_.afi >> 8);
  s += char(family_.afi);
  s += char(family_.safi);
  s.append(mp_next_hop_.begin(), mp_next_hop_.end());
  s += '|';
  s.append(attrs_.begin(), attrs_.end());
  return s;
}

void append_announcements(std::vector<uint8_t>& out, const EncodedAttributes& ea,
                          std::span<const Prefix> prefixes) {
  size_t i = 0;
  while (i < prefixes.size()) {
    size_t start = wire::begin_message(out, MessageType::update);
    wire::put16(out, 0);  // no withdrawn routes
    size_t alen_at = out.size();
    wire::put16(out, 0);
    if (ea.family_ == kIpv4Unicast) {
      wire::put(out, ea.attrs_);
      wire::set16(out, alen_at, uint16_t(ea.attrs_.size()));
      size_t room = kMaxMessageSize - (out.size() - start);
      i = put_prefixes_fitting(out, prefixes, i, room);
    } else {
      // MP_REACH_NLRI first (RFC 7606 §5.1), holding the NLRI; then the other attributes.
      size_t at = wire::put_attribute_begin(out, attr::kOptional, attr::kMpReachNlri, true);
      wire::put16(out, ea.family_.afi);
      wire::put8(out, ea.family_.safi);
      wire::put(out, ea.mp_next_hop_);
      wire::put8(out, 0);  // reserved (RFC 4760 §3)
      size_t room = kMaxMessageSize - (out.size() - start) - ea.attrs_.size();
      i = put_prefixes_fitting(out, prefixes, i, room);
      wire::put_attribute_end(out, at, true);
      wire::put(out, ea.attrs_);
      wire::set16(out, alen_at, uint16_t(out.size() - alen_at - 2));
    }
    wire::finish_message(out, start);
  }
}

void append_withdrawals(std::vector<uint8_t>& out, Family f, std::span<const Prefix> prefixes) {
  size_t i = 0;
  while (i < prefixes.size()) {
    size_t start = wire::begin_message(out, MessageType::update);
    if (f == kIpv4Unicast) {
      size_t wlen_at = out.size();
      wire::put16(out, 0);
      size_t room = kMaxMessageSize - (out.size() - start) - 2;
      i = put_prefixes_fitting(out, prefixes, i, room);
      wire::set16(out, wlen_at, uint16_t(out.size() - wlen_at - 2));
      wire::put16(out, 0);  // no attributes
    } else {
      wire::put16(out, 0);
      size_t alen_at = out.size();
      wire::put16(out, 0);
      size_t at = wire::put_attribute_begin(out, attr::kOptional, attr::kMpUnreachNlri, true);
      wire::put16(out, f.afi);
      wire::put8(out, f.safi);
      size_t room = kMaxMessageSize - (out.size() - start);
      i = put_prefixes_fitting(out, prefixes, i, room);
      wire::put_attribute_end(out, at, true);
      wire::set16(out, alen_at, uint16_t(out.size() - alen_at - 2));
    }
    wire::finish_message(out, start);
  }
}

void append_end_of_rib(std::vector<uint8_t>& out, Family f) {
  // RFC 4724 §2.
  auto st = encode_update(UpdateMessage::make_end_of_rib(f), SessionContext{}, out);
  (void)st;  // an End-of-RIB always fits
}

}  // namespace netagent::bgp
