// Codec tests: byte vectors written from the RFC message formats for every message type and
// capability, round trips, and the RFC 7606 classification of malformed UPDATEs.
#include <gtest/gtest.h>

#include "bgp_test_util.hpp"
#include "netagent/bgp/codec.hpp"

namespace netagent::bgp {
namespace {

using testing::hex;
using testing::ip;
using testing::message;
using testing::pfx;

const SessionContext kAs4{true, true};
const SessionContext kAs2{false, true};
const SessionContext kIbgp{true, false};

template <typename T>
const T& as(const Parsed<Message>& m) {
  return std::get<T>(m.value());
}

// ---- Header ----

TEST(BgpHeader, KeepaliveBytes) {
  EXPECT_EQ(encode_keepalive(), hex("ffffffffffffffffffffffffffffffff 0013 04"));
  auto m = decode_message(encode_keepalive(), kAs4);
  ASSERT_TRUE(m.ok()) << m.error().str();
  EXPECT_TRUE(std::holds_alternative<KeepaliveMessage>(m.value()));
}

TEST(BgpHeader, BadMarkerIsConnectionNotSynchronized) {
  auto b = encode_keepalive();
  b[3] = 0;
  auto h = decode_header(b);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error().notification.code, err::kHeader);
  EXPECT_EQ(h.error().notification.subcode, err::kConnectionNotSynchronized);
}

TEST(BgpHeader, BadLengthCarriesTheLengthField) {
  auto b = hex("ffffffffffffffffffffffffffffffff 0012 04");
  auto h = decode_header(b);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error().notification.subcode, err::kBadMessageLength);
  EXPECT_EQ(h.error().notification.data, hex("0012"));
  // RFC 4271 §6.1: a KEEPALIVE must be exactly 19 bytes.
  auto k = decode_header(hex("ffffffffffffffffffffffffffffffff 0014 04 00"));
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.error().notification.subcode, err::kBadMessageLength);
  // Above 4096.
  auto big = decode_header(hex("ffffffffffffffffffffffffffffffff 1001 02"));
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().notification.data, hex("1001"));
  // Shorter than the minimum OPEN.
  auto open = decode_header(hex("ffffffffffffffffffffffffffffffff 001c 01"));
  ASSERT_FALSE(open.ok());
  EXPECT_EQ(open.error().notification.subcode, err::kBadMessageLength);
}

TEST(BgpHeader, UnknownTypeCarriesTheType) {
  auto h = decode_header(hex("ffffffffffffffffffffffffffffffff 0013 09"));
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error().notification.code, err::kHeader);
  EXPECT_EQ(h.error().notification.subcode, err::kBadMessageType);
  EXPECT_EQ(h.error().notification.data, hex("09"));
}

// ---- OPEN ----

OpenMessage full_open() {
  return testing::node_open(/*restarted=*/true, /*ipv6_forwarding_kept=*/true);
}

TEST(BgpOpen, AllCapabilitiesBytes) {
  auto expected = message(1,
                          "04 fc00 005a 0a190b0b 24 02 22"
                          " 01 04 0001 00 01"  // MP IPv4 unicast (RFC 4760 §8)
                          " 01 04 0002 00 01"  // MP IPv6 unicast
                          " 02 00"             // route refresh (RFC 2918)
                          " 46 00"             // enhanced route refresh (RFC 7313)
                          " 41 04 0000fc00"    // 4-octet AS (RFC 6793)
                          " 40 0a c078 0001 01 80 0002 01 80");  // GR R+N, 120 s, F per AF
  EXPECT_EQ(encode(full_open()), expected);
  auto m = decode_message(expected, kAs4);
  ASSERT_TRUE(m.ok()) << m.error().str();
  EXPECT_EQ(as<OpenMessage>(m), full_open());
}

TEST(BgpOpen, FourOctetAsUsesAsTrans) {
  OpenMessage o;
  o.my_as = kAsTrans;
  o.hold_time = 0;
  o.router_id = *Ipv4Addr::parse("192.0.2.1");
  o.capabilities.four_octet_as = 4200000000u;
  auto b = encode(o);
  EXPECT_EQ(b, message(1, "04 5ba0 0000 c0000201 08 02 06 41 04 fa56ea00"));
  auto d = decode_open(std::span(b).subspan(19));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->asn(), 4200000000u);
}

TEST(BgpOpen, UnknownCapabilitiesAreKept) {
  // Extended message (6), FQDN (73) and an unassigned code 200, spread over two parameters
  // (RFC 5492 §4 allows either).
  auto b = message(1,
                   "04 fc00 00b4 01020304 14"
                   " 02 08 0600 41 04 0000fc01"
                   " 02 08 49 04 02 6e 31 00 c8 00");
  auto d = decode_message(b, kAs4);
  ASSERT_TRUE(d.ok()) << d.error().str();
  const auto& o = as<OpenMessage>(d);
  EXPECT_EQ(o.asn(), 64513u);
  ASSERT_EQ(o.capabilities.unknown.size(), 3u);
  EXPECT_EQ(o.capabilities.unknown[0], (RawCapability{6, {}}));
  EXPECT_EQ(o.capabilities.unknown[1], (RawCapability{73, hex("026e3100")}));
  EXPECT_EQ(o.capabilities.unknown[2], (RawCapability{200, {}}));
  // Re-encoding keeps them.
  auto bytes = encode(o);
  auto again = decode_open(std::span(bytes).subspan(19));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.value(), o);
}

TEST(BgpOpen, ExtendedOptionalParametersLength) {
  // RFC 9072 §2: 255, 255, then a 2-octet length and 2-octet parameter lengths.
  auto b = message(1, "04 fc00 005a 01020304 ff ff 0009 02 0006 41 04 0000fc00");
  auto d = decode_message(b, kAs4);
  ASSERT_TRUE(d.ok()) << d.error().str();
  EXPECT_EQ(as<OpenMessage>(d).capabilities.four_octet_as, 64512u);
}

struct OpenErrorCase {
  const char* name;
  const char* body;
  uint8_t subcode;
};

TEST(BgpOpen, ErrorsCarryTheRightSubcode) {
  const OpenErrorCase cases[] = {
      {"version 3", "03 fc00 005a 01020304 00", err::kUnsupportedVersion},
      {"AS 0 (RFC 7607)", "04 0000 005a 01020304 00", err::kBadPeerAs},
      {"hold 2", "04 fc00 0002 01020304 00", err::kUnacceptableHoldTime},
      {"hold 1", "04 fc00 0001 01020304 00", err::kUnacceptableHoldTime},
      {"identifier 0", "04 fc00 005a 00000000 00", err::kBadBgpIdentifier},
      {"parameter type 1", "04 fc00 005a 01020304 04 01 02 0000",
       err::kUnsupportedOptionalParameter},
      {"parameter overrun", "04 fc00 005a 01020304 04 02 05 0200", 0},
      {"capability overrun", "04 fc00 005a 01020304 04 02 02 4104", 0},
      {"bad MP length", "04 fc00 005a 01020304 05 02 03 010100", 0},
      {"4-octet AS 0", "04 fc00 005a 01020304 08 02 06 4104 00000000", err::kBadPeerAs},
      {"opt length mismatch", "04 fc00 005a 01020304 02 0200 00", 0},
  };
  for (const auto& c : cases) {
    auto d = decode_message(message(1, c.body), kAs4);
    ASSERT_FALSE(d.ok()) << c.name;
    EXPECT_EQ(d.error().notification.code, err::kOpen) << c.name;
    EXPECT_EQ(d.error().notification.subcode, c.subcode) << c.name << ": " << d.error().str();
  }
  auto v = decode_message(message(1, "03 fc00 005a 01020304 00"), kAs4);
  EXPECT_EQ(v.error().notification.data, hex("0004"));  // largest supported version
}

// ---- UPDATE ----

PathAttributes v4_attrs() {
  PathAttributes a;
  a.origin = Origin::igp;
  a.as_path = AsPath::sequence({64512});
  a.next_hop = *Ipv4Addr::parse("10.25.11.11");
  a.med = 10;
  a.communities = {*Community::parse("64512:100"), *Community::parse("no-export")};
  a.large_communities = {{64512, 1, 2}};
  return a;
}

TEST(BgpUpdate, Ipv4AnnouncementBytes) {
  UpdateMessage u;
  u.attributes = v4_attrs();
  u.nlri = {pfx("10.25.11.100/32")};
  auto expected = message(2,
                          "0000 0035"
                          " 40 01 01 00"                          // ORIGIN igp
                          " 40 02 06 02 01 0000fc00"              // AS_PATH (64512)
                          " 40 03 04 0a190b0b"                    // NEXT_HOP
                          " 80 04 04 0000000a"                    // MED 10
                          " c0 08 08 fc000064 ffffff01"           // COMMUNITIES
                          " c0 20 0c 0000fc00 00000001 00000002"  // LARGE_COMMUNITY
                          " 20 0a190b64");                        // 10.25.11.100/32
  std::vector<uint8_t> b;
  ASSERT_TRUE(encode_update(u, kAs4, b).ok());
  EXPECT_EQ(b, expected);
  auto d = decode_message(expected, kAs4);
  ASSERT_TRUE(d.ok()) << d.error().str();
  const auto& du = as<DecodedUpdate>(d);
  EXPECT_EQ(du.action, ErrorAction::none);
  EXPECT_TRUE(du.errors.empty());
  EXPECT_EQ(du.update, u);
  EXPECT_EQ(du.announced_prefixes(), std::vector<Prefix>{pfx("10.25.11.100/32")});
}

TEST(BgpUpdate, TwoOctetAsPathAndAs4Path) {
  UpdateMessage u;
  u.attributes.origin = Origin::igp;
  u.attributes.as_path = AsPath::sequence({64512, 4200000000u});
  u.attributes.next_hop = *Ipv4Addr::parse("192.0.2.1");
  u.nlri = {pfx("10.0.0.0/8")};
  std::vector<uint8_t> b;
  ASSERT_TRUE(encode_update(u, kAs2, b).ok());
  // RFC 6793 §4.2.2: AS_TRANS in AS_PATH, the real path in AS4_PATH.
  EXPECT_EQ(b, message(2,
                       "0000 0021 40 01 01 00 40 02 06 02 02 fc00 5ba0 40 03 04 c0000201"
                       " c0 11 0a 02 02 0000fc00 fa56ea00 08 0a"));
  auto d = decode_message(b, kAs2);
  ASSERT_TRUE(d.ok()) << d.error().str();
  EXPECT_EQ(as<DecodedUpdate>(d).update.attributes.as_path, u.attributes.as_path);
  // The same path on a 4-octet session has no AS4_PATH.
  std::vector<uint8_t> b4;
  ASSERT_TRUE(encode_update(u, kAs4, b4).ok());
  EXPECT_EQ(b4, message(2,
                        "0000 0018 40 01 01 00 40 02 0a 02 02 0000fc00 fa56ea00"
                        " 40 03 04 c0000201 08 0a"));
}

TEST(BgpUpdate, As4PathShorterThanAsPathKeepsLeadingAsns) {
  // RFC 6793 §4.2.3: AS_PATH (65001 AS_TRANS AS_TRANS) with AS4_PATH (4200000001 4200000002)
  // becomes 65001 4200000001 4200000002.
  auto b = message(2,
                   "0000 0023 40 01 01 00 40 02 08 02 03 fde9 5ba0 5ba0 40 03 04 c0000201"
                   " c0 11 0a 02 02 fa56ea01 fa56ea02 08 0a");
  auto d = decode_message(b, kAs2);
  ASSERT_TRUE(d.ok()) << d.error().str();
  EXPECT_EQ(as<DecodedUpdate>(d).update.attributes.as_path->str(), "65001 4200000001 4200000002");
}

TEST(BgpUpdate, Ipv6MpReachBytes) {
  UpdateMessage u;
  u.attributes.origin = Origin::igp;
  u.attributes.as_path = AsPath::sequence({64512});
  u.mp_reach = MpReach{kIpv6Unicast, ip("2001:db8::1"), std::nullopt, {pfx("2001:db8::/64")}};
  auto expected = message(2,
                          "0000 002f"
                          " 90 0e 001e 0002 01 10 20010db8000000000000000000000001 00"
                          "   40 20010db800000000"
                          " 40 01 01 00 40 02 06 02 01 0000fc00");
  std::vector<uint8_t> b;
  ASSERT_TRUE(encode_update(u, kAs4, b).ok());
  EXPECT_EQ(b, expected);
  auto d = decode_message(expected, kAs4);
  ASSERT_TRUE(d.ok()) << d.error().str();
  EXPECT_EQ(as<DecodedUpdate>(d).update, u);
}

TEST(BgpUpdate, Ipv6LinkLocalNextHop) {
  UpdateMessage u;
  u.attributes.origin = Origin::igp;
  u.attributes.as_path = AsPath::sequence({64512});
  u.mp_reach = MpReach{kIpv6Unicast, ip("2001:db8::1"), ip("fe80::1"), {pfx("2001:db8:1::/48")}};
  std::vector<uint8_t> b;
  ASSERT_TRUE(encode_update(u, kAs4, b).ok());
  auto d = decode_message(b, kAs4);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(as<DecodedUpdate>(d).update.mp_reach->link_local_next_hop, ip("fe80::1"));
}

TEST(BgpUpdate, WithdrawalsBytes) {
  UpdateMessage u;
  u.withdrawn = {pfx("10.25.11.100/32")};
  u.mp_unreach = MpUnreach{kIpv6Unicast, {pfx("2001:db8::/64")}};
  auto expected = message(2,
                          "0005 20 0a190b64 0010"
                          " 90 0f 000c 0002 01 40 20010db800000000");
  std::vector<uint8_t> b;
  ASSERT_TRUE(encode_update(u, kAs4, b).ok());
  EXPECT_EQ(b, expected);
  auto d = decode_message(expected, kAs4);
  ASSERT_TRUE(d.ok());
  auto w = as<DecodedUpdate>(d).withdrawn_prefixes();
  EXPECT_EQ(w, (std::vector<Prefix>{pfx("10.25.11.100/32"), pfx("2001:db8::/64")}));
}

TEST(BgpUpdate, EndOfRib) {
  // RFC 4724 §2.
  std::vector<uint8_t> v4, v6;
  append_end_of_rib(v4, kIpv4Unicast);
  append_end_of_rib(v6, kIpv6Unicast);
  EXPECT_EQ(v4, message(2, "0000 0000"));
  EXPECT_EQ(v6, message(2, "0000 0007 90 0f 0003 0002 01"));
  EXPECT_EQ(as<DecodedUpdate>(decode_message(v4, kAs4)).update.end_of_rib(), kIpv4Unicast);
  EXPECT_EQ(as<DecodedUpdate>(decode_message(v6, kAs4)).update.end_of_rib(), kIpv6Unicast);
  // The non-extended-length form other speakers send.
  auto short_form = message(2, "0000 0006 80 0f 03 0002 01");
  EXPECT_EQ(as<DecodedUpdate>(decode_message(short_form, kAs4)).update.end_of_rib(), kIpv6Unicast);
  // An update with a route is not an End-of-RIB.
  UpdateMessage u;
  u.withdrawn = {pfx("10.0.0.0/8")};
  EXPECT_FALSE(u.end_of_rib());
}

TEST(BgpUpdate, HostBitsAreCleared) {
  // RFC 4271 §4.3: trailing bits beyond the length are irrelevant.
  auto b = message(2, "0000 000e 40 01 01 00 40 02 00 40 03 04 0a000001 17 0a0101");
  auto d = decode_message(b, kAs4);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(as<DecodedUpdate>(d).update.nlri[0], pfx("10.1.0.0/23"));
}

TEST(BgpUpdate, UnknownOptionalTransitiveKeptNonTransitiveDropped) {
  auto b = message(2,
                   "0000 0017 40 01 01 00 40 02 00 40 03 04 0a000001"
                   " c0 fa 02 abcd 80 fb 01 ee 20 0a000002");
  auto d = decode_message(b, kAs4);
  ASSERT_TRUE(d.ok()) << d.error().str();
  const auto& du = as<DecodedUpdate>(d);
  EXPECT_EQ(du.action, ErrorAction::none);
  ASSERT_EQ(du.update.attributes.unknown.size(), 1u);
  EXPECT_EQ(du.update.attributes.unknown[0], (RawAttribute{0xc0, 0xfa, hex("abcd")}));
  EXPECT_EQ(du.announced_prefixes().size(), 1u);
}

TEST(BgpUpdate, LocalPrefOnlyFromInternalPeers) {
  auto b =
      message(2, "0000 0015 40 01 01 00 40 02 00 40 03 04 0a000001 40 05 04 000000c8 20 0a000002");
  auto e = decode_message(b, kAs4);  // eBGP: discarded (RFC 7606 §7.5)
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(as<DecodedUpdate>(e).action, ErrorAction::attribute_discard);
  EXPECT_FALSE(as<DecodedUpdate>(e).update.attributes.local_pref);
  EXPECT_EQ(as<DecodedUpdate>(e).announced_prefixes().size(), 1u);
  auto i = decode_message(b, kIbgp);
  ASSERT_TRUE(i.ok());
  EXPECT_EQ(as<DecodedUpdate>(i).action, ErrorAction::none);
  EXPECT_EQ(as<DecodedUpdate>(i).update.attributes.local_pref, 200u);
}

// ---- RFC 7606 ----

struct RevisedCase {
  const char* name;
  std::string attrs;  // hex of the path attributes; NLRI 10.0.0.2/32 follows
  ErrorAction action;
  uint8_t type;  // attribute the first error is about
};

// Well-formed mandatory attributes to combine with one malformed one.
constexpr const char* kOrigin = "40 01 01 00 ";
constexpr const char* kPath = "40 02 00 ";
constexpr const char* kNextHop = "40 03 04 0a000001 ";

std::vector<uint8_t> update_with(const std::string& attrs_hex, const char* nlri = "20 0a000002") {
  auto attrs = hex(attrs_hex);
  std::string body =
      testing::to_hex({uint8_t(0), uint8_t(0), uint8_t(attrs.size() >> 8), uint8_t(attrs.size())}) +
      attrs_hex + " " + nlri;
  return message(2, body);
}

TEST(BgpRfc7606, ClassifiesEachMalformedAttribute) {
  const std::string base = std::string(kOrigin) + kPath + kNextHop;
  const RevisedCase cases[] = {
      // §7.1 ORIGIN: bad length or undefined value.
      {"origin length 2", "40 01 02 0000 40 02 00 40 03 04 0a000001",
       ErrorAction::treat_as_withdraw, attr::kOrigin},
      {"origin value 3", "40 01 01 03 40 02 00 40 03 04 0a000001", ErrorAction::treat_as_withdraw,
       attr::kOrigin},
      // §7.2 AS_PATH: zero-length segment, overrun, bad segment type, one trailing octet.
      {"as_path zero segment", "40 01 01 00 40 02 02 0200 40 03 04 0a000001",
       ErrorAction::treat_as_withdraw, attr::kAsPath},
      {"as_path overrun", "40 01 01 00 40 02 06 0202 0000fc00 40 03 04 0a000001",
       ErrorAction::treat_as_withdraw, attr::kAsPath},
      {"as_path segment type 9", "40 01 01 00 40 02 06 0901 0000fc00 40 03 04 0a000001",
       ErrorAction::treat_as_withdraw, attr::kAsPath},
      {"as_path trailing octet", "40 01 01 00 40 02 07 0201 0000fc00 02 40 03 04 0a000001",
       ErrorAction::treat_as_withdraw, attr::kAsPath},
      // §7.3 NEXT_HOP length.
      {"next_hop length 5", "40 01 01 00 40 02 00 40 03 05 0a00000100",
       ErrorAction::treat_as_withdraw, attr::kNextHop},
      // §7.4 MED length.
      {"med length 3", (base + "80 04 03 000001"), ErrorAction::treat_as_withdraw, attr::kMed},
      // §7.6 ATOMIC_AGGREGATE length: discard.
      {"atomic_aggregate length 1", (base + "40 06 01 00"), ErrorAction::attribute_discard,
       attr::kAtomicAggregate},
      // §7.7 AGGREGATOR length: discard.
      {"aggregator length 5", (base + "c0 07 05 0000fc0001"), ErrorAction::attribute_discard,
       attr::kAggregator},
      // §7.8 COMMUNITIES not a non-zero multiple of 4.
      {"communities length 3", (base + "c0 08 03 fc0000"), ErrorAction::treat_as_withdraw,
       attr::kCommunities},
      {"communities length 0", (base + "c0 08 00"), ErrorAction::treat_as_withdraw,
       attr::kCommunities},
      // RFC 8092 §6: LARGE_COMMUNITY not a non-zero multiple of 12.
      {"large community length 8", (base + "c0 20 08 0000fc00 00000001"),
       ErrorAction::treat_as_withdraw, attr::kLargeCommunity},
      // §3 c: Optional/Transitive bits in conflict.
      {"origin marked optional", "c0 01 01 00 40 02 00 40 03 04 0a000001",
       ErrorAction::treat_as_withdraw, attr::kOrigin},
      {"med marked transitive", (base + "c0 04 04 00000001"), ErrorAction::treat_as_withdraw,
       attr::kMed},
      // §3 d: missing well-known mandatory attributes.
      {"missing origin", "40 02 00 40 03 04 0a000001", ErrorAction::treat_as_withdraw,
       attr::kOrigin},
      {"missing next_hop", "40 01 01 00 40 02 00", ErrorAction::treat_as_withdraw, attr::kNextHop},
      // §3 g: a repeated attribute keeps its first occurrence.
      {"med twice", (base + "80 04 04 00000001 80 04 04 00000002"), ErrorAction::attribute_discard,
       attr::kMed},
      // §4: an attribute overrunning the total attribute length.
      {"attribute overrun", (base + "c0 08 08 fc000064"), ErrorAction::treat_as_withdraw, 0},
      {"truncated attribute header", (base + "c0 08"), ErrorAction::treat_as_withdraw, 0},
      // RFC 6793 §6: malformed AS4_PATH on a 4-octet session is ignored (discarded).
      {"as4_path on 4-octet session", (base + "c0 11 06 0201 0000fc00"),
       ErrorAction::attribute_discard, attr::kAs4Path},
  };
  for (const auto& c : cases) {
    auto d = decode_message(update_with(c.attrs), kAs4);
    ASSERT_TRUE(d.ok()) << c.name << ": " << d.error().str();
    const auto& du = as<DecodedUpdate>(d);
    EXPECT_EQ(du.action, c.action) << c.name;
    ASSERT_FALSE(du.errors.empty()) << c.name;
    EXPECT_EQ(du.errors.front().type, c.type) << c.name << ": " << du.errors.front().reason;
    if (c.action == ErrorAction::treat_as_withdraw) {
      EXPECT_TRUE(du.announced_prefixes().empty()) << c.name;
      EXPECT_EQ(du.withdrawn_prefixes(), std::vector<Prefix>{pfx("10.0.0.2/32")}) << c.name;
    } else {
      EXPECT_EQ(du.announced_prefixes(), std::vector<Prefix>{pfx("10.0.0.2/32")}) << c.name;
    }
  }
}

TEST(BgpRfc7606, DiscardedAttributeIsGoneButRouteStays) {
  auto d =
      decode_message(update_with(std::string(kOrigin) + kPath + kNextHop + "40 06 01 00"), kAs4);
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(as<DecodedUpdate>(d).update.attributes.atomic_aggregate);
}

TEST(BgpRfc7606, StrongestActionWins) {
  // §3 h: a discard and a treat-as-withdraw in one UPDATE give treat-as-withdraw.
  auto d = decode_message(
      update_with(std::string(kOrigin) + kPath + kNextHop + "40 06 01 00 c0 08 03 000000"), kAs4);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(as<DecodedUpdate>(d).action, ErrorAction::treat_as_withdraw);
  EXPECT_EQ(as<DecodedUpdate>(d).errors.size(), 2u);
}

TEST(BgpRfc7606, MpReachNextHopLengthIsTreatAsWithdraw) {
  // §7.11: the NLRI can still be found, so they are withdrawn.
  auto d = decode_message(
      update_with(std::string(kOrigin) + kPath + "80 0e 10 0002 01 04 0a000001 00 30 20010db80001",
                  ""),
      kAs4);
  ASSERT_TRUE(d.ok()) << d.error().str();
  const auto& du = as<DecodedUpdate>(d);
  EXPECT_EQ(du.action, ErrorAction::treat_as_withdraw);
  EXPECT_EQ(du.withdrawn_prefixes(), std::vector<Prefix>{pfx("2001:db8:1::/48")});
}

TEST(BgpRfc7606, MpOnlyUpdateNeedsNoNextHop) {
  auto d = decode_message(
      update_with(std::string(kOrigin) + kPath +
                      "80 0e 1c 0002 01 10 20010db8000000000000000000000001 00 30 20010db80001",
                  ""),
      kAs4);
  ASSERT_TRUE(d.ok()) << d.error().str();
  EXPECT_EQ(as<DecodedUpdate>(d).action, ErrorAction::none);
  EXPECT_EQ(as<DecodedUpdate>(d).announced_prefixes(), std::vector<Prefix>{pfx("2001:db8:1::/48")});
}

struct ResetCase {
  const char* name;
  std::vector<uint8_t> msg;
  uint8_t subcode;
};

TEST(BgpRfc7606, SessionResetCases) {
  const std::string base = std::string(kOrigin) + kPath + kNextHop;
  const ResetCase cases[] = {
      // RFC 4271 §6.3: lengths overrunning the message.
      {"withdrawn length overrun", message(2, "0010 20 0a000002 0000"),
       err::kMalformedAttributeList},
      {"attribute length overrun", message(2, "0000 0040 40 01 01 00"),
       err::kMalformedAttributeList},
      // §5.3: NLRI that cannot be parsed.
      {"nlri length 33", update_with(base, "21 0a00000200"), err::kInvalidNetworkField},
      {"nlri truncated", update_with(base, "20 0a00"), err::kInvalidNetworkField},
      {"withdrawn length 40", message(2, "0006 28 0a00000201 0000"), err::kInvalidNetworkField},
      // §3 g: MP_REACH_NLRI twice.
      {"mp_reach twice", update_with(base + "80 0e 05 0002 01 00 00 80 0e 05 0002 01 00 00", ""),
       err::kMalformedAttributeList},
      // §7.11 / RFC 4760 §7: MP_REACH whose NLRI cannot be located or parsed.
      {"mp_reach truncated", update_with(base + "80 0e 02 0002", ""), err::kOptionalAttributeError},
      {"mp_reach nlri length 129",
       update_with(base + "80 0e 16 0002 01 10 20010db8000000000000000000000001 00 81", ""),
       err::kOptionalAttributeError},
      {"mp_unreach nlri overrun", update_with(base + "80 0f 05 0002 01 40 20", ""),
       err::kOptionalAttributeError},
      // RFC 4271 §6.3: an unrecognised well-known attribute.
      {"unknown well-known", update_with(base + "40 fa 01 00"),
       err::kUnrecognizedWellKnownAttribute},
  };
  for (const auto& c : cases) {
    auto d = decode_message(c.msg, kAs4);
    ASSERT_FALSE(d.ok()) << c.name;
    EXPECT_EQ(d.error().notification.code, err::kUpdate) << c.name;
    EXPECT_EQ(d.error().notification.subcode, c.subcode) << c.name << ": " << d.error().str();
  }
  // The NOTIFICATION data of an attribute error is the attribute itself (RFC 4271 §6.3).
  auto d = decode_message(update_with(base + "40 fa 01 07"), kAs4);
  EXPECT_EQ(d.error().notification.data, hex("40 fa 01 07"));
}

// ---- NOTIFICATION, ROUTE-REFRESH ----

TEST(BgpNotification, ShutdownCommunicationBytes) {
  auto n = NotificationMessage::cease(err::kAdministrativeShutdown, "maintenance");
  auto expected = message(3, "06 02 0b 6d61696e74656e616e6365");
  EXPECT_EQ(encode(n), expected);
  auto d = decode_message(expected, kAs4);
  ASSERT_TRUE(d.ok());
  const auto& got = as<NotificationMessage>(d);
  EXPECT_EQ(got.shutdown_communication(), "maintenance");
  EXPECT_EQ(got.description(), "Cease / Administrative Shutdown");
}

TEST(BgpNotification, ShutdownCommunicationLimits) {
  // RFC 8203 §2: at most 128 octets, cut at a UTF-8 boundary ("é" is two octets).
  std::string text(127, 'a');
  text += "\xc3\xa9";
  auto n = NotificationMessage::cease(err::kAdministrativeReset, text);
  EXPECT_EQ(n.data[0], 127);
  EXPECT_EQ(n.shutdown_communication(), std::string(127, 'a'));
  // A length that overruns the data is not a communication.
  NotificationMessage bad{err::kCease, err::kAdministrativeShutdown, hex("05 6162")};
  EXPECT_FALSE(bad.shutdown_communication());
  // Other subcodes carry none.
  auto other = NotificationMessage::cease(err::kPeerDeconfigured, "ignored");
  EXPECT_TRUE(other.data.empty());
}

TEST(BgpNotification, MaximumNumberOfPrefixesReachedBytes) {
  // RFC 4486 §4: AFI (2 octets), SAFI (1 octet), upper bound (4 octets).
  auto n = NotificationMessage::max_prefixes(kIpv6Unicast, 100000);
  auto expected = message(3, "06 01 0002 01 000186a0");
  EXPECT_EQ(encode(n), expected);
  auto d = decode_message(expected, kAs4);
  ASSERT_TRUE(d.ok());
  const auto& got = as<NotificationMessage>(d);
  EXPECT_EQ(got, n);
  EXPECT_EQ(got.description(), "Cease / Maximum Number of Prefixes Reached");
  // With the N bit it goes wrapped in a Hard Reset (RFC 8538 §3).
  EXPECT_EQ(encode(NotificationMessage::hard_reset(n)), message(3, "06 09 06 01 0002 01 000186a0"));
}

TEST(BgpNotification, HoldTimerExpired) {
  NotificationMessage n{err::kHoldTimerExpired, 0, {}};
  EXPECT_EQ(encode(n), message(3, "04 00"));
  EXPECT_EQ(n.description(), "Hold Timer Expired");
  EXPECT_EQ(notification_name(3, 11), "UPDATE Message Error / Malformed AS_PATH");
}

TEST(BgpRouteRefresh, Bytes) {
  RouteRefreshMessage r{kIpv6Unicast, RouteRefreshMessage::kNormal};
  auto expected = message(5, "0002 00 01");
  EXPECT_EQ(encode(r), expected);
  EXPECT_EQ(as<RouteRefreshMessage>(decode_message(expected, kAs4)), r);
  // RFC 7313 §4 subtypes.
  RouteRefreshMessage borr{kIpv4Unicast, RouteRefreshMessage::kBeginning};
  EXPECT_EQ(encode(borr), message(5, "0001 01 01"));
}

TEST(BgpRouteRefresh, WrongLengthIsRouteRefreshError) {
  auto d = decode_message(message(5, "0001 00 01 00"), kAs4);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().notification.code, err::kRouteRefresh);
  EXPECT_EQ(d.error().notification.subcode, err::kInvalidMessageLength);
}

// ---- Packing ----

std::vector<Prefix> many_v4(size_t n) {
  std::vector<Prefix> out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(*Prefix::make(IpAddress::v4(Ipv4Addr{uint32_t(0x0a000000u + i)}), 32));
  }
  return out;
}

// Splits a buffer of back-to-back messages.
std::vector<std::vector<uint8_t>> split(const std::vector<uint8_t>& buf) {
  std::vector<std::vector<uint8_t>> out;
  size_t i = 0;
  while (i < buf.size()) {
    auto h = decode_header(std::span(buf).subspan(i));
    EXPECT_TRUE(h.ok());
    if (!h.ok()) break;
    out.emplace_back(buf.begin() + long(i), buf.begin() + long(i + h->length));
    i += h->length;
  }
  return out;
}

TEST(BgpPacking, ManyIpv4PrefixesFillFullMessages) {
  auto prefixes = many_v4(10000);
  auto ea =
      EncodedAttributes::make(v4_attrs(), kIpv4Unicast, ip("10.25.11.11"), std::nullopt, kAs4);
  ASSERT_TRUE(ea.ok()) << ea.error().str();
  std::vector<uint8_t> buf;
  append_announcements(buf, *ea, prefixes);
  auto msgs = split(buf);
  // 5 bytes per /32 and 76 bytes of fixed overhead: 804 prefixes per 4096-byte UPDATE.
  EXPECT_EQ(msgs.size(), (10000 + 803) / 804);
  std::vector<Prefix> got;
  for (const auto& m : msgs) {
    EXPECT_LE(m.size(), kMaxMessageSize);
    auto d = decode_message(m, kAs4);
    ASSERT_TRUE(d.ok()) << d.error().str();
    const auto& du = as<DecodedUpdate>(d);
    EXPECT_EQ(du.update.attributes, v4_attrs());
    for (const auto& p : du.update.nlri)
      got.push_back(p);
  }
  EXPECT_EQ(got, prefixes);
}

TEST(BgpPacking, Ipv6AnnouncementsAndWithdrawals) {
  std::vector<Prefix> prefixes;
  for (unsigned i = 0; i < 1000; ++i) {
    auto a = ip("2001:db8::").as_v6();
    a.bytes[14] = uint8_t(i >> 8);
    a.bytes[15] = uint8_t(i);
    prefixes.push_back(*Prefix::make(IpAddress::v6(a), 128));
  }
  PathAttributes attrs;
  attrs.origin = Origin::igp;
  attrs.as_path = AsPath::sequence({64512});
  auto ea = EncodedAttributes::make(attrs, kIpv6Unicast, ip("2001:db8::11"), std::nullopt, kAs4);
  ASSERT_TRUE(ea.ok());
  std::vector<uint8_t> buf;
  append_announcements(buf, *ea, prefixes);
  std::vector<Prefix> got;
  for (const auto& m : split(buf)) {
    auto d = decode_message(m, kAs4);
    ASSERT_TRUE(d.ok()) << d.error().str();
    const auto& du = as<DecodedUpdate>(d);
    EXPECT_EQ(du.update.mp_reach->next_hop, ip("2001:db8::11"));
    EXPECT_EQ(du.update.attributes.as_path, attrs.as_path);
    for (const auto& p : du.announced_prefixes())
      got.push_back(p);
  }
  EXPECT_EQ(got, prefixes);

  std::vector<uint8_t> wbuf;
  append_withdrawals(wbuf, kIpv6Unicast, prefixes);
  std::vector<Prefix> withdrawn;
  for (const auto& m : split(wbuf)) {
    auto d = decode_message(m, kAs4);
    ASSERT_TRUE(d.ok());
    for (const auto& p : as<DecodedUpdate>(d).withdrawn_prefixes())
      withdrawn.push_back(p);
  }
  EXPECT_EQ(withdrawn, prefixes);
}

TEST(BgpPacking, Ipv4Withdrawals) {
  auto prefixes = many_v4(2000);
  std::vector<uint8_t> buf;
  append_withdrawals(buf, kIpv4Unicast, prefixes);
  std::vector<Prefix> got;
  for (const auto& m : split(buf)) {
    EXPECT_LE(m.size(), kMaxMessageSize);
    auto d = decode_message(m, kAs4);
    ASSERT_TRUE(d.ok());
    for (const auto& p : as<DecodedUpdate>(d).withdrawn_prefixes())
      got.push_back(p);
  }
  EXPECT_EQ(got, prefixes);
}

TEST(BgpPacking, RejectsMismatchedNextHop) {
  EXPECT_FALSE(
      EncodedAttributes::make(v4_attrs(), kIpv4Unicast, ip("2001:db8::1"), std::nullopt, kAs4)
          .ok());
  EXPECT_FALSE(
      EncodedAttributes::make(v4_attrs(), kIpv6Unicast, ip("10.0.0.1"), std::nullopt, kAs4).ok());
}

// ---- Types ----

TEST(BgpTypes, ParseAndPrint) {
  EXPECT_EQ(pfx("10.25.11.100").str(), "10.25.11.100/32");
  EXPECT_EQ(pfx("10.25.11.7/24").str(), "10.25.11.0/24");
  EXPECT_FALSE(Prefix::parse("10.25.11.7/24", true));
  EXPECT_FALSE(Prefix::parse("10.0.0.0/33"));
  EXPECT_EQ(pfx("2001:db8::1/64").str(), "2001:db8::/64");
  EXPECT_EQ(Community::parse("64512:100")->value, 0xfc000064u);
  EXPECT_EQ(Community::parse("no-export")->value, Community::kNoExport);
  EXPECT_EQ(Community{Community::kBlackhole}.str(), "blackhole");
  EXPECT_EQ(Community{0xfc000064u}.str(), "64512:100");
  EXPECT_FALSE(Community::parse("70000:1"));
  EXPECT_EQ(LargeCommunity::parse("64512:1:2")->str(), "64512:1:2");
  EXPECT_FALSE(LargeCommunity::parse("64512:1"));
  EXPECT_EQ(AsPath::sequence({64512, 64501}).str(), "64512 64501");
}

}  // namespace
}  // namespace netagent::bgp
