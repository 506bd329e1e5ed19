// UPDATE (RFC 4271 §4.3) and its path attributes, decoded with the revised error handling of
// RFC 7606: each malformed attribute is classified as attribute-discard, treat-as-withdraw or
// session reset (the last one as a MessageError carrying the NOTIFICATION to send).
#include <algorithm>
#include <bitset>

#include "attributes_wire.hpp"
#include "framing.hpp"
#include "netagent/bgp/codec.hpp"
#include "nlri.hpp"

namespace netagent::bgp {
namespace {

using wire::Reader;

MessageError update_error(uint8_t subcode, std::string reason, std::vector<uint8_t> data = {}) {
  return MessageError{NotificationMessage{err::kUpdate, subcode, std::move(data)},
                      "UPDATE: " + std::move(reason)};
}

// The whole attribute (flags, type, length, value) as NOTIFICATION data (RFC 4271 §6.3).
std::vector<uint8_t> attribute_bytes(uint8_t flags, uint8_t type, std::span<const uint8_t> v) {
  std::vector<uint8_t> d{flags, type};
  if (flags & attr::kExtendedLength) d.push_back(uint8_t(v.size() >> 8));
  d.push_back(uint8_t(v.size()));
  d.insert(d.end(), v.begin(), v.end());
  return d;
}

// The Optional and Transitive bits each known attribute must carry (RFC 4271 §5, RFC 4760,
// RFC 1997, RFC 4456, RFC 6793, RFC 8092). Returns -1 for attributes we do not know.
int expected_flags(uint8_t type) {
  constexpr int kWellKnown = attr::kTransitive;
  constexpr int kOptTrans = attr::kOptional | attr::kTransitive;
  constexpr int kOptNonTrans = attr::kOptional;
  switch (type) {
    case attr::kOrigin:
    case attr::kAsPath:
    case attr::kNextHop:
    case attr::kLocalPref:
    case attr::kAtomicAggregate:
      return kWellKnown;
    case attr::kMed:
    case attr::kOriginatorId:
    case attr::kClusterList:
    case attr::kMpReachNlri:
    case attr::kMpUnreachNlri:
      return kOptNonTrans;
    case attr::kAggregator:
    case attr::kCommunities:
    case attr::kAs4Path:
    case attr::kAs4Aggregator:
    case attr::kLargeCommunity:
      return kOptTrans;
    default:
      return -1;
  }
}

std::string attr_name(uint8_t type) {
  switch (type) {
    case attr::kOrigin:
      return "ORIGIN";
    case attr::kAsPath:
      return "AS_PATH";
    case attr::kNextHop:
      return "NEXT_HOP";
    case attr::kMed:
      return "MULTI_EXIT_DISC";
    case attr::kLocalPref:
      return "LOCAL_PREF";
    case attr::kAtomicAggregate:
      return "ATOMIC_AGGREGATE";
    case attr::kAggregator:
      return "AGGREGATOR";
    case attr::kCommunities:
      return "COMMUNITIES";
    case attr::kOriginatorId:
      return "ORIGINATOR_ID";
    case attr::kClusterList:
      return "CLUSTER_LIST";
    case attr::kMpReachNlri:
      return "MP_REACH_NLRI";
    case attr::kMpUnreachNlri:
      return "MP_UNREACH_NLRI";
    case attr::kAs4Path:
      return "AS4_PATH";
    case attr::kAs4Aggregator:
      return "AS4_AGGREGATOR";
    case attr::kLargeCommunity:
      return "LARGE_COMMUNITY";
    default:
      return "attribute " + std::to_string(type);
  }
}

// Parses AS_PATH / AS4_PATH segments (RFC 4271 §4.3, RFC 6793 §3) with `as_size` octets per
// ASN. Malformed per RFC 7606 §7.2: unknown segment type, zero-length segment, overrun, or a
// single trailing octet.
bool parse_as_path(std::span<const uint8_t> v, size_t as_size, AsPath& out) {
  Reader r(v);
  while (!r.empty()) {
    uint8_t type, count;
    if (!r.u8(type) || !r.u8(count)) return false;
    if (type < 1 || type > 4 || count == 0) return false;
    if (r.remaining() < size_t(count) * as_size) return false;
    AsPathSegment seg{AsSegmentType(type), {}};
    seg.asns.reserve(count);
    for (unsigned i = 0; i < count; ++i) {
      if (as_size == 4) {
        uint32_t a = 0;
        r.u32(a);
        seg.asns.push_back(a);
      } else {
        uint16_t a = 0;
        r.u16(a);
        seg.asns.push_back(a);
      }
    }
    out.segments.push_back(std::move(seg));
  }
  return true;
}

// RFC 6793 §4.2.3: rebuilds the 4-octet path from AS_PATH (with AS_TRANS) and AS4_PATH received
// from a speaker without the capability.
AsPath merge_as4_path(const AsPath& as_path, const AsPath& as4_path) {
  size_t n = as_path.length();
  size_t m = as4_path.length();
  if (n < m) return as_path;  // AS4_PATH is longer: ignore it
  size_t keep = n - m;
  AsPath out;
  for (const auto& seg : as_path.segments) {
    if (keep == 0) break;
    if (seg.type == AsSegmentType::confed_sequence || seg.type == AsSegmentType::confed_set) {
      out.segments.push_back(seg);
    } else if (seg.type == AsSegmentType::set) {
      out.segments.push_back(seg);
      --keep;
    } else {
      size_t take = std::min(keep, seg.asns.size());
      out.segments.push_back(
          {AsSegmentType::sequence, {seg.asns.begin(), seg.asns.begin() + long(take)}});
      keep -= take;
    }
  }
  for (const auto& seg : as4_path.segments)
    out.segments.push_back(seg);
  return out;
}

// Collects the outcome of the attribute checks.
struct Outcome {
  DecodedUpdate& d;
  void note(uint8_t type, ErrorAction action, uint8_t subcode, std::string reason) {
    d.errors.push_back({type, action, subcode, std::move(reason)});
    d.action = std::max(d.action, action);  // RFC 7606 §3 h: the strongest action wins
  }
  void withdraw(uint8_t type, uint8_t subcode, const std::string& what) {
    note(type, ErrorAction::treat_as_withdraw, subcode, attr_name(type) + ": " + what);
  }
  void discard(uint8_t type, const std::string& what) {
    note(type, ErrorAction::attribute_discard, 0, attr_name(type) + ": " + what + ", discarded");
  }
};

struct As4Parts {
  std::optional<AsPath> as4_path;
  std::optional<Aggregator> as4_aggregator;
};

// Parses MP_REACH_NLRI (RFC 4760 §3). Errors that make the NLRI impossible to locate reset the
// session; a next hop of the wrong length is treat-as-withdraw (RFC 7606 §7.11).
std::optional<MessageError> parse_mp_reach(std::span<const uint8_t> v, std::vector<uint8_t> raw,
                                           UpdateMessage& u, Outcome& out) {
  Reader r(v);
  uint16_t afi;
  uint8_t safi, nh_len;
  std::span<const uint8_t> nh;
  if (!r.u16(afi) || !r.u8(safi) || !r.u8(nh_len) || !r.bytes(nh_len, nh) || !r.skip(1)) {
    return update_error(err::kOptionalAttributeError, "MP_REACH_NLRI truncated", std::move(raw));
  }
  MpReach mp;
  mp.family = Family{afi, safi};
  bool known = (afi == kAfiIpv4 || afi == kAfiIpv6) && safi == kSafiUnicast;
  if (!known) {
    out.note(attr::kMpReachNlri, ErrorAction::none, 0,
             "MP_REACH_NLRI for unsupported " + mp.family.str() + " ignored");
    u.mp_reach = std::move(mp);
    return std::nullopt;
  }
  if (!wire::parse_prefixes(r.rest(), afi, mp.nlri)) {
    return update_error(err::kOptionalAttributeError,
                        "MP_REACH_NLRI " + mp.family.str() + " NLRI malformed", std::move(raw));
  }
  if (afi == kAfiIpv4 && nh_len == 4) {
    mp.next_hop = IpAddress::from_bytes(nh);
  } else if (afi == kAfiIpv6 && (nh_len == 16 || nh_len == 32)) {
    mp.next_hop = IpAddress::from_bytes(nh.first(16));
    if (nh_len == 32) mp.link_local_next_hop = IpAddress::from_bytes(nh.subspan(16));
  } else {
    out.withdraw(attr::kMpReachNlri, err::kOptionalAttributeError,
                 "next hop length " + std::to_string(nh_len) + " invalid for " + mp.family.str());
  }
  u.mp_reach = std::move(mp);
  return std::nullopt;
}

std::optional<MessageError> parse_mp_unreach(std::span<const uint8_t> v, std::vector<uint8_t> raw,
                                             UpdateMessage& u, Outcome& out) {
  Reader r(v);
  uint16_t afi;
  uint8_t safi;
  if (!r.u16(afi) || !r.u8(safi)) {
    return update_error(err::kOptionalAttributeError, "MP_UNREACH_NLRI truncated", std::move(raw));
  }
  MpUnreach mp;
  mp.family = Family{afi, safi};
  bool known = (afi == kAfiIpv4 || afi == kAfiIpv6) && safi == kSafiUnicast;
  if (!known) {
    out.note(attr::kMpUnreachNlri, ErrorAction::none, 0,
             "MP_UNREACH_NLRI for unsupported " + mp.family.str() + " ignored");
  } else if (!wire::parse_prefixes(r.rest(), afi, mp.withdrawn)) {
    return update_error(err::kOptionalAttributeError,
                        "MP_UNREACH_NLRI " + mp.family.str() + " NLRI malformed", std::move(raw));
  }
  u.mp_unreach = std::move(mp);
  return std::nullopt;
}

// One received attribute whose flags have been checked, and where its decoding goes.
struct AttributeIn {
  uint8_t flags;
  uint8_t type;
  std::span<const uint8_t> v;
  const SessionContext& ctx;
  PathAttributes& a;
  Outcome& out;

  size_t len() const { return v.size(); }
  // A value whose length is wrong for its type: treat-as-withdraw.
  void bad_length() const {
    out.withdraw(type, err::kAttributeLengthError, "bad length " + std::to_string(len()));
  }
  // A malformed optional attribute that does not affect route selection: attribute-discard.
  void bad_length_discard() const { out.discard(type, "bad length " + std::to_string(len())); }
  // Attributes used only inside an AS are discarded when an external peer sends them; true then.
  bool discarded_from_external_peer() const {
    if (ctx.ebgp) out.discard(type, "received from an external peer");
    return ctx.ebgp;
  }
  // The AS4 attributes mean something only from a 2-octet AS speaker; true (and discarded) when
  // they came on a 4-octet AS session.
  bool discarded_on_as4_session() const {
    if (ctx.four_octet_as) out.discard(type, "received on a 4-octet AS session");
    return ctx.four_octet_as;
  }
  // A 4-octet value (NEXT_HOP, MED, LOCAL_PREF, ORIGINATOR_ID); nullopt after bad_length().
  std::optional<uint32_t> u32() const {
    if (len() != 4) {
      bad_length();
      return std::nullopt;
    }
    return wire::get32(v.data());
  }
  // A non-empty list of `size`-octet items (COMMUNITIES, CLUSTER_LIST, LARGE_COMMUNITY);
  // false after bad_length().
  bool items_of(size_t size) const {
    if (len() == 0 || len() % size != 0) {
      bad_length();
      return false;
    }
    return true;
  }
};

void decode_origin(const AttributeIn& in) {  // RFC 7606 §7.1
  if (in.len() != 1) {
    in.bad_length();
  } else if (in.v[0] > 2) {
    in.out.withdraw(in.type, err::kInvalidOrigin, "undefined value " + std::to_string(in.v[0]));
  } else {
    in.a.origin = Origin(in.v[0]);
  }
}

void decode_as_path(const AttributeIn& in) {  // RFC 7606 §7.2
  AsPath p;
  if (!parse_as_path(in.v, in.ctx.four_octet_as ? 4 : 2, p)) {
    in.out.withdraw(in.type, err::kMalformedAsPath, "malformed segment");
  } else {
    in.a.as_path = std::move(p);
  }
}

void decode_atomic_aggregate(const AttributeIn& in) {  // RFC 7606 §7.6
  if (in.len() != 0) {
    in.bad_length_discard();
  } else {
    in.a.atomic_aggregate = true;
  }
}

void decode_aggregator(const AttributeIn& in) {  // RFC 7606 §7.7
  const auto& v = in.v;
  size_t want = in.ctx.four_octet_as ? 8 : 6;
  if (in.len() != want) {
    in.bad_length_discard();
  } else if (want == 8) {
    in.a.aggregator = Aggregator{wire::get32(v.data()), Ipv4Addr{wire::get32(&v[4])}};
  } else {
    in.a.aggregator = Aggregator{wire::get16(v.data()), Ipv4Addr{wire::get32(&v[2])}};
  }
}

void decode_communities(const AttributeIn& in) {  // RFC 7606 §7.8
  if (!in.items_of(4)) return;
  for (size_t i = 0; i < in.len(); i += 4)
    in.a.communities.push_back({wire::get32(&in.v[i])});
}

void decode_cluster_list(const AttributeIn& in) {  // RFC 7606 §7.10
  if (in.discarded_from_external_peer() || !in.items_of(4)) return;
  for (size_t i = 0; i < in.len(); i += 4)
    in.a.cluster_list.push_back(wire::get32(&in.v[i]));
}

void decode_large_communities(const AttributeIn& in) {  // RFC 8092 §6
  if (!in.items_of(12)) return;
  const auto& v = in.v;
  for (size_t i = 0; i < in.len(); i += 12) {
    in.a.large_communities.push_back(
        {wire::get32(&v[i]), wire::get32(&v[i + 4]), wire::get32(&v[i + 8])});
  }
}

// RFC 6793 §4.1: a NEW speaker ignores AS4_PATH from another NEW speaker; §6: malformed
// AS4_PATH (or one with confederation segments) is discarded.
void decode_as4_path(const AttributeIn& in, As4Parts& as4) {
  if (in.discarded_on_as4_session()) return;
  AsPath p;
  bool confed = false;
  bool ok = parse_as_path(in.v, 4, p);
  for (const auto& s : p.segments) {
    confed =
        confed || s.type == AsSegmentType::confed_sequence || s.type == AsSegmentType::confed_set;
  }
  if (!ok || confed) {
    in.out.discard(in.type, ok ? "carries confederation segments" : "malformed segment");
  } else {
    as4.as4_path = std::move(p);
  }
}

void decode_as4_aggregator(const AttributeIn& in, As4Parts& as4) {  // RFC 6793 §4.1, §6
  if (in.discarded_on_as4_session()) return;
  if (in.len() != 8) {
    in.bad_length_discard();
  } else {
    as4.as4_aggregator = Aggregator{wire::get32(in.v.data()), Ipv4Addr{wire::get32(&in.v[4])}};
  }
}

std::optional<MessageError> decode_unrecognized(const AttributeIn& in) {
  if (!(in.flags & attr::kOptional)) {
    // RFC 4271 §6.3: an unrecognised well-known attribute resets the session.
    return update_error(err::kUnrecognizedWellKnownAttribute,
                        "unrecognized well-known attribute " + std::to_string(in.type),
                        attribute_bytes(in.flags, in.type, in.v));
  }
  if (in.flags & attr::kTransitive) {
    // RFC 4271 §5: kept (and passed on with the Partial bit).
    in.a.unknown.push_back(RawAttribute{
        uint8_t(in.flags & ~attr::kExtendedLength), in.type, {in.v.begin(), in.v.end()}});
  } else {
    in.out.note(
        in.type, ErrorAction::none, 0,
        "unrecognized optional non-transitive attribute " + std::to_string(in.type) + " ignored");
  }
  return std::nullopt;
}

// Parses one attribute whose flags have been checked. Returns a MessageError only for session
// reset; other problems go to `out`.
std::optional<MessageError> parse_attribute(uint8_t flags, uint8_t type, std::span<const uint8_t> v,
                                            const SessionContext& ctx, UpdateMessage& u,
                                            As4Parts& as4, Outcome& out) {
  const AttributeIn in{flags, type, v, ctx, u.attributes, out};
  PathAttributes& a = u.attributes;
  switch (type) {
    case attr::kOrigin:
      decode_origin(in);
      break;
    case attr::kAsPath:
      decode_as_path(in);
      break;
    case attr::kNextHop:  // RFC 7606 §7.3
      if (auto x = in.u32()) a.next_hop = Ipv4Addr{*x};
      break;
    case attr::kMed:  // RFC 7606 §7.4
      if (auto x = in.u32()) a.med = *x;
      break;
    case attr::kLocalPref:  // RFC 7606 §7.5; RFC 4271 §5.1.5: ignored from external peers
      if (in.discarded_from_external_peer()) break;
      if (auto x = in.u32()) a.local_pref = *x;
      break;
    case attr::kAtomicAggregate:
      decode_atomic_aggregate(in);
      break;
    case attr::kAggregator:
      decode_aggregator(in);
      break;
    case attr::kCommunities:
      decode_communities(in);
      break;
    case attr::kOriginatorId:  // RFC 7606 §7.9
      if (in.discarded_from_external_peer()) break;
      if (auto x = in.u32()) a.originator_id = Ipv4Addr{*x};
      break;
    case attr::kClusterList:
      decode_cluster_list(in);
      break;
    case attr::kMpReachNlri:
      return parse_mp_reach(v, attribute_bytes(flags, type, v), u, out);
    case attr::kMpUnreachNlri:
      return parse_mp_unreach(v, attribute_bytes(flags, type, v), u, out);
    case attr::kAs4Path:
      decode_as4_path(in, as4);
      break;
    case attr::kAs4Aggregator:
      decode_as4_aggregator(in, as4);
      break;
    case attr::kLargeCommunity:
      decode_large_communities(in);
      break;
    default:
      return decode_unrecognized(in);
  }
  return std::nullopt;
}

}  // namespace

std::string_view error_action_name(ErrorAction a) {
  switch (a) {
    case ErrorAction::none:
      return "none";
    case ErrorAction::attribute_discard:
      return "attribute-discard";
    case ErrorAction::treat_as_withdraw:
      return "treat-as-withdraw";
  }
  return "?";
}

std::vector<Prefix> DecodedUpdate::withdrawn_prefixes() const {
  std::vector<Prefix> out = update.withdrawn;
  if (update.mp_unreach) {
    out.insert(out.end(), update.mp_unreach->withdrawn.begin(), update.mp_unreach->withdrawn.end());
  }
  if (action == ErrorAction::treat_as_withdraw) {
    out.insert(out.end(), update.nlri.begin(), update.nlri.end());
    if (update.mp_reach) {
      out.insert(out.end(), update.mp_reach->nlri.begin(), update.mp_reach->nlri.end());
    }
  }
  return out;
}

std::vector<Prefix> DecodedUpdate::announced_prefixes() const {
  if (action == ErrorAction::treat_as_withdraw) return {};
  std::vector<Prefix> out = update.nlri;
  if (update.mp_reach) {
    out.insert(out.end(), update.mp_reach->nlri.begin(), update.mp_reach->nlri.end());
  }
  return out;
}

Parsed<DecodedUpdate> decode_update(std::span<const uint8_t> body, const SessionContext& ctx) {
  DecodedUpdate d;
  UpdateMessage& u = d.update;
  Outcome out{d};
  Reader r(body);

  // RFC 4271 §6.3: lengths that overrun the message are a Malformed Attribute List.
  uint16_t withdrawn_len;
  std::span<const uint8_t> withdrawn;
  if (!r.u16(withdrawn_len) || !r.bytes(withdrawn_len, withdrawn)) {
    return update_error(err::kMalformedAttributeList, "withdrawn routes length overruns message");
  }
  uint16_t attrs_len;
  std::span<const uint8_t> attrs;
  if (!r.u16(attrs_len) || !r.bytes(attrs_len, attrs)) {
    return update_error(err::kMalformedAttributeList, "total attribute length overruns message");
  }
  // RFC 7606 §5.3: NLRI that cannot be parsed reset the session.
  if (!wire::parse_prefixes(withdrawn, kAfiIpv4, u.withdrawn)) {
    return update_error(err::kInvalidNetworkField, "withdrawn routes malformed");
  }
  if (!wire::parse_prefixes(r.rest(), kAfiIpv4, u.nlri)) {
    return update_error(err::kInvalidNetworkField, "NLRI malformed");
  }

  std::bitset<256> seen;
  As4Parts as4;
  Reader ar(attrs);
  while (!ar.empty()) {
    // RFC 7606 §4: an attribute header or value running past the Total Attribute Length is
    // treat-as-withdraw; the NLRI are still found through the total length.
    uint8_t flags, type;
    uint16_t len;
    std::span<const uint8_t> v;
    bool hdr = ar.u8(flags) && ar.u8(type);
    if (hdr) {
      if (flags & attr::kExtendedLength) {
        hdr = ar.u16(len);
      } else {
        uint8_t l8 = 0;
        hdr = ar.u8(l8);
        len = l8;
      }
    }
    if (!hdr || !ar.bytes(len, v)) {
      out.note(0, ErrorAction::treat_as_withdraw, err::kAttributeLengthError,
               "attribute overruns the total attribute length");
      break;
    }
    if (seen[type]) {
      // RFC 7606 §3 g: repeated MP_REACH/MP_UNREACH reset the session; any other repeated
      // attribute keeps its first occurrence.
      if (type == attr::kMpReachNlri || type == attr::kMpUnreachNlri) {
        return update_error(err::kMalformedAttributeList, attr_name(type) + " appears twice");
      }
      out.note(type, ErrorAction::attribute_discard, 0,
               attr_name(type) + ": repeated, later occurrence discarded");
      continue;
    }
    seen[type] = true;
    int want = expected_flags(type);
    if (want >= 0 && (flags & (attr::kOptional | attr::kTransitive)) != want) {
      // RFC 7606 §3 c: wrong Optional/Transitive bits make the attribute malformed. MP_* must
      // still be parsed to find their NLRI.
      out.withdraw(type, err::kAttributeFlagsError, "flags 0x" + std::to_string(flags));
      if (type != attr::kMpReachNlri && type != attr::kMpUnreachNlri) continue;
    }
    if (auto e = parse_attribute(flags, type, v, ctx, u, as4, out)) return *e;
  }

  // RFC 6793 §4.2.3: on a 2-octet session the real path is AS_PATH merged with AS4_PATH, unless
  // an AGGREGATOR with a real (non-AS_TRANS) ASN says the AS4 attributes are stale.
  if (!ctx.four_octet_as) {
    PathAttributes& a = u.attributes;
    bool stale = a.aggregator && a.aggregator->asn != kAsTrans && as4.as4_aggregator;
    if (!stale) {
      if (as4.as4_aggregator && a.aggregator) a.aggregator = as4.as4_aggregator;
      if (as4.as4_path && a.as_path) a.as_path = merge_as4_path(*a.as_path, *as4.as4_path);
    }
  }

  // RFC 7606 §3 d: reachable NLRI without the well-known mandatory attributes are withdrawn.
  // NEXT_HOP is only mandatory for NLRI in the IPv4 NLRI field (RFC 4760 §3).
  bool reach_mp = u.mp_reach && !u.mp_reach->nlri.empty();
  if (!u.nlri.empty() || reach_mp) {
    const PathAttributes& a = u.attributes;
    auto missing = [&](uint8_t type) {
      out.note(type, ErrorAction::treat_as_withdraw, err::kMissingWellKnownAttribute,
               "missing well-known attribute " + attr_name(type));
    };
    if (!a.origin && !seen[attr::kOrigin]) missing(attr::kOrigin);
    if (!a.as_path && !seen[attr::kAsPath]) missing(attr::kAsPath);
    if (!u.nlri.empty() && !a.next_hop && !seen[attr::kNextHop]) missing(attr::kNextHop);
  }
  return d;
}

// ---- Encoding ----

namespace wire {

size_t put_attribute_begin(std::vector<uint8_t>& o, uint8_t flags, uint8_t type, bool extended) {
  put8(o, uint8_t(flags | (extended ? attr::kExtendedLength : 0)));
  put8(o, type);
  size_t at = o.size();
  if (extended) put8(o, 0);
  put8(o, 0);
  return at;
}

void put_attribute_end(std::vector<uint8_t>& o, size_t len_at, bool extended) {
  size_t len = o.size() - len_at - (extended ? 2 : 1);
  if (extended) {
    set16(o, len_at, uint16_t(len));
  } else {
    o[len_at] = uint8_t(len);
  }
}

namespace {

// Writes one attribute whose value is produced by `fill`, choosing the extended length when the
// value exceeds 255 octets.
template <typename Fill>
void put_attribute(std::vector<uint8_t>& o, uint8_t flags, uint8_t type, size_t value_len,
                   Fill fill) {
  bool ext = value_len > 255;
  size_t at = put_attribute_begin(o, flags, type, ext);
  fill();
  put_attribute_end(o, at, ext);
}

size_t as_path_size(const AsPath& p, size_t as_size, bool skip_confed) {
  size_t n = 0;
  for (const auto& s : p.segments) {
    bool confed = s.type == AsSegmentType::confed_sequence || s.type == AsSegmentType::confed_set;
    if (skip_confed && confed) continue;
    size_t count = s.asns.size();
    n += ((count + 254) / 255) * 2 + count * as_size;
  }
  return n;
}

// Segments longer than 255 ASNs are split (RFC 4271 §4.3: the count is one octet).
void put_as_path(std::vector<uint8_t>& o, const AsPath& p, size_t as_size, bool trans,
                 bool skip_confed) {
  for (const auto& s : p.segments) {
    bool confed = s.type == AsSegmentType::confed_sequence || s.type == AsSegmentType::confed_set;
    if (skip_confed && confed) continue;
    for (size_t i = 0; i < s.asns.size(); i += 255) {
      size_t n = std::min<size_t>(255, s.asns.size() - i);
      put8(o, uint8_t(s.type));
      put8(o, uint8_t(n));
      for (size_t k = i; k < i + n; ++k) {
        uint32_t asn = s.asns[k];
        if (as_size == 4) {
          put32(o, asn);
        } else {
          put16(o, uint16_t(trans && asn > 0xffff ? kAsTrans : asn));
        }
      }
    }
  }
}

bool needs_as4(const AsPath& p) {
  for (const auto& s : p.segments) {
    for (uint32_t a : s.asns) {
      if (a > 0xffff) return true;
    }
  }
  return false;
}

}  // namespace

void put_path_attributes(std::vector<uint8_t>& o, const PathAttributes& a,
                         const SessionContext& ctx) {
  const uint8_t wk = attr::kTransitive;
  const uint8_t ot = attr::kOptional | attr::kTransitive;
  const uint8_t on = attr::kOptional;
  const size_t as_size = ctx.four_octet_as ? 4 : 2;
  if (a.origin) {
    put_attribute(o, wk, attr::kOrigin, 1, [&] { put8(o, uint8_t(*a.origin)); });
  }
  if (a.as_path) {
    put_attribute(o, wk, attr::kAsPath, as_path_size(*a.as_path, as_size, false),
                  [&] { put_as_path(o, *a.as_path, as_size, true, false); });
  }
  if (a.next_hop) {
    put_attribute(o, wk, attr::kNextHop, 4, [&] { put32(o, a.next_hop->value); });
  }
  if (a.med) put_attribute(o, on, attr::kMed, 4, [&] { put32(o, *a.med); });
  if (a.local_pref) put_attribute(o, wk, attr::kLocalPref, 4, [&] { put32(o, *a.local_pref); });
  if (a.atomic_aggregate) put_attribute(o, wk, attr::kAtomicAggregate, 0, [] {});
  if (a.aggregator) {
    put_attribute(o, ot, attr::kAggregator, as_size + 4, [&] {
      if (as_size == 4) {
        put32(o, a.aggregator->asn);
      } else {
        put16(o, uint16_t(a.aggregator->asn > 0xffff ? kAsTrans : a.aggregator->asn));
      }
      put32(o, a.aggregator->address.value);
    });
  }
  if (!a.communities.empty()) {
    put_attribute(o, ot, attr::kCommunities, a.communities.size() * 4, [&] {
      for (auto c : a.communities)
        put32(o, c.value);
    });
  }
  if (a.originator_id) {
    put_attribute(o, on, attr::kOriginatorId, 4, [&] { put32(o, a.originator_id->value); });
  }
  if (!a.cluster_list.empty()) {
    put_attribute(o, on, attr::kClusterList, a.cluster_list.size() * 4, [&] {
      for (auto c : a.cluster_list)
        put32(o, c);
    });
  }
  if (!ctx.four_octet_as) {
    // RFC 6793 §4.2.2: towards an OLD speaker, 4-octet ASNs travel in AS4_PATH/AS4_AGGREGATOR
    // (without confederation segments).
    if (a.as_path && needs_as4(*a.as_path)) {
      put_attribute(o, ot, attr::kAs4Path, as_path_size(*a.as_path, 4, true),
                    [&] { put_as_path(o, *a.as_path, 4, false, true); });
    }
    if (a.aggregator && a.aggregator->asn > 0xffff) {
      put_attribute(o, ot, attr::kAs4Aggregator, 8, [&] {
        put32(o, a.aggregator->asn);
        put32(o, a.aggregator->address.value);
      });
    }
  }
  if (!a.large_communities.empty()) {
    put_attribute(o, ot, attr::kLargeCommunity, a.large_communities.size() * 12, [&] {
      for (const auto& c : a.large_communities) {
        put32(o, c.global);
        put32(o, c.local1);
        put32(o, c.local2);
      }
    });
  }
  for (const auto& r : a.unknown) {
    put_attribute(o, uint8_t(r.flags & ~attr::kExtendedLength), r.type, r.value.size(),
                  [&] { put(o, r.value); });
  }
}

}  // namespace wire

Status encode_update(const UpdateMessage& m, const SessionContext& ctx, std::vector<uint8_t>& out) {
  std::vector<uint8_t> o;
  size_t start = wire::begin_message(o, MessageType::update);
  size_t wlen_at = o.size();
  wire::put16(o, 0);
  for (const auto& p : m.withdrawn)
    wire::put_prefix(o, p);
  wire::set16(o, wlen_at, uint16_t(o.size() - wlen_at - 2));
  size_t alen_at = o.size();
  wire::put16(o, 0);
  // RFC 7606 §5.1: MP_REACH_NLRI / MP_UNREACH_NLRI come first.
  if (m.mp_reach) {
    const MpReach& mp = *m.mp_reach;
    size_t at = wire::put_attribute_begin(o, attr::kOptional, attr::kMpReachNlri, true);
    wire::put16(o, mp.family.afi);
    wire::put8(o, mp.family.safi);
    auto nh = mp.next_hop.bytes();
    size_t nh_len = nh.size() + (mp.link_local_next_hop ? 16 : 0);
    wire::put8(o, uint8_t(nh_len));
    wire::put(o, nh);
    if (mp.link_local_next_hop) wire::put(o, mp.link_local_next_hop->bytes());
    wire::put8(o, 0);  // reserved
    for (const auto& p : mp.nlri)
      wire::put_prefix(o, p);
    wire::put_attribute_end(o, at, true);
  }
  if (m.mp_unreach) {
    size_t at = wire::put_attribute_begin(o, attr::kOptional, attr::kMpUnreachNlri, true);
    wire::put16(o, m.mp_unreach->family.afi);
    wire::put8(o, m.mp_unreach->family.safi);
    for (const auto& p : m.mp_unreach->withdrawn)
      wire::put_prefix(o, p);
    wire::put_attribute_end(o, at, true);
  }
  wire::put_path_attributes(o, m.attributes, ctx);
  wire::set16(o, alen_at, uint16_t(o.size() - alen_at - 2));
  for (const auto& p : m.nlri)
    wire::put_prefix(o, p);
  if (o.size() > kMaxMessageSize) {
    return Error{"UPDATE of " + std::to_string(o.size()) + " bytes exceeds 4096"};
  }
  wire::finish_message(o, start);
  out.insert(out.end(), o.begin(), o.end());
  return {};
}

}  // namespace netagent::bgp
