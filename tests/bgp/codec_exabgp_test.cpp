// Cross-check of the codec against an independent decoder: every message type and capability
// this speaker sends is encoded here, decoded by ExaBGP's own parser (exabgp_decode.py, Debian's
// exabgp 4.2.21), and the two readings are compared field by field.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "bgp_test_util.hpp"
#include "netagent/bgp/codec.hpp"
#include "netagent/testing/netns.hpp"
#include "netagent/testing/privileged.hpp"

namespace netagent::bgp {
namespace {

using nlohmann::json;
using testing::hex;
using testing::ip;
using testing::pfx;
using testing::to_hex;

struct Sample {
  std::string name;
  bool four_octet_as = true;
  std::vector<uint8_t> bytes;
};

// Runs every sample through ExaBGP in one process; one JSON object per sample.
std::vector<json> exabgp_decode(const std::vector<Sample>& samples) {
  netagent::testing::TempDir dir("bgp-exabgp");
  std::string in = dir.path() + "/in.txt";
  {
    std::ofstream f(in);
    for (const auto& s : samples)
      f << (s.four_octet_as ? "asn4 " : "asn2 ") << to_hex(s.bytes) << "\n";
  }
  std::string out = netagent::testing::sh_ok("python3 " NETAGENT_EXABGP_DECODE " < " + in);
  std::vector<json> res;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line[0] == '{') res.push_back(json::parse(line));
  }
  return res;
}

bool exabgp_available() {
  return netagent::testing::sh(
             "python3 -c 'import sys; sys.path.insert(0, \"/usr/lib/python3/"
             "dist-packages\"); import exabgp'") == 0;
}

std::vector<uint8_t> update_bytes(const UpdateMessage& u, bool as4) {
  std::vector<uint8_t> b;
  EXPECT_TRUE(encode_update(u, SessionContext{as4, true}, b).ok());
  return b;
}

OpenMessage node_open(bool restarted) {
  return testing::node_open(restarted, /*ipv6_forwarding_kept=*/false);
}

PathAttributes rich_attrs(uint32_t second_as) {
  PathAttributes a;
  a.origin = Origin::egp;
  a.as_path = AsPath::sequence({64512, second_as});
  a.next_hop = *Ipv4Addr::parse("10.25.11.11");
  a.med = 77;
  a.local_pref = 300;
  a.atomic_aggregate = true;
  a.aggregator = Aggregator{64512, *Ipv4Addr::parse("10.25.11.11")};
  a.communities = {*Community::parse("64512:100"), *Community::parse("no-export"),
                   *Community::parse("blackhole")};
  a.large_communities = {{64512, 1, 2}, {4200000000u, 3, 4}};
  return a;
}

// ExaBGP 4.2 keeps one list of ASNs per segment type.
json expected_path(const AsPath& p) {
  std::vector<uint32_t> seq, set;
  for (const auto& s : p.segments) {
    auto& to = s.type == AsSegmentType::set ? set : seq;
    to.insert(to.end(), s.asns.begin(), s.asns.end());
  }
  return json{{"sequence", seq}, {"set", set}};
}

// Compares what ExaBGP read with what our own decoder reads from the same bytes.
void compare_update(const Sample& s, const json& x) {
  auto d = decode_message(s.bytes, SessionContext{s.four_octet_as, false});
  ASSERT_TRUE(d.ok()) << s.name << ": " << d.error().str();
  const auto& du = std::get<DecodedUpdate>(d.value());
  const auto& u = du.update;
  ASSERT_EQ(x.value("type", ""), "update") << s.name << ": " << x.dump();
  if (auto eor = u.end_of_rib()) {
    EXPECT_EQ(x["eor"], json({eor->afi, eor->safi})) << s.name;
    return;
  }
  std::vector<std::string> ann, wd;
  for (const auto& p : du.announced_prefixes())
    ann.push_back(p.str());
  for (const auto& p : du.withdrawn_prefixes())
    wd.push_back(p.str());
  std::sort(ann.begin(), ann.end());
  std::sort(wd.begin(), wd.end());
  if (du.action == ErrorAction::treat_as_withdraw) {
    // ExaBGP keeps the NLRI as announcements and flags the whole update instead.
    EXPECT_EQ(x.value("error", ""), "treat-as-withdraw") << s.name << ": " << x.dump();
    return;
  }
  EXPECT_EQ(x["announce"].get<std::vector<std::string>>(), ann) << s.name;
  EXPECT_EQ(x["withdraw"].get<std::vector<std::string>>(), wd) << s.name;
  const auto& a = u.attributes;
  if (a.origin) {
    EXPECT_EQ(x["origin"], int(*a.origin)) << s.name;
  }
  if (a.as_path) {
    EXPECT_EQ(x["as_path"], expected_path(*a.as_path)) << s.name;
  }
  if (a.med) {
    EXPECT_EQ(x["med"], *a.med) << s.name;
  }
  if (a.local_pref) {
    EXPECT_EQ(x["local_pref"], *a.local_pref) << s.name;
  }
  EXPECT_EQ(x.contains("atomic_aggregate"), a.atomic_aggregate) << s.name;
  if (a.aggregator) {
    EXPECT_EQ(x["aggregator"], json({a.aggregator->asn, a.aggregator->address.str()})) << s.name;
  }
  if (!a.communities.empty()) {
    std::vector<uint32_t> c;
    for (auto v : a.communities)
      c.push_back(v.value);
    EXPECT_EQ(x["communities"], json(c)) << s.name;
  }
  if (!a.large_communities.empty()) {
    json l = json::array();
    for (const auto& v : a.large_communities)
      l.push_back({v.global, v.local1, v.local2});
    EXPECT_EQ(x["large_communities"], l) << s.name;
  }
  if (!ann.empty()) {
    std::vector<std::string> nh;
    if (u.mp_reach) {
      nh.push_back(u.mp_reach->next_hop.str());
      if (u.mp_reach->link_local_next_hop) nh.push_back(u.mp_reach->link_local_next_hop->str());
    } else {
      nh.push_back(a.next_hop->str());
    }
    EXPECT_EQ(x["next_hops"], json(nh)) << s.name;
  }
  if (!a.unknown.empty()) {
    std::vector<int> codes;
    for (const auto& r : a.unknown)
      codes.push_back(r.type);
    EXPECT_EQ(x["unknown"], json(codes)) << s.name;
  }
  if (du.action == ErrorAction::attribute_discard) {
    EXPECT_EQ(x.value("error", ""), "attribute-discard") << s.name << ": " << x.dump();
  }
}

void compare_open(const Sample& s, const json& x) {
  auto d = decode_message(s.bytes, SessionContext{});
  ASSERT_TRUE(d.ok()) << s.name;
  const auto& o = std::get<OpenMessage>(d.value());
  ASSERT_EQ(x.value("type", ""), "open") << s.name << ": " << x.dump();
  EXPECT_EQ(x["version"], o.version);
  EXPECT_EQ(x["asn"], o.my_as) << s.name;
  EXPECT_EQ(x["hold"], o.hold_time) << s.name;
  EXPECT_EQ(x["router_id"], o.router_id.str()) << s.name;
  const auto& c = o.capabilities;
  json mp = json::array();
  auto fams = c.multiprotocol;
  std::sort(fams.begin(), fams.end());
  for (const auto& f : fams)
    mp.push_back({f.afi, f.safi});
  EXPECT_EQ(x["caps"]["mp"], mp) << s.name;
  EXPECT_EQ(x["caps"]["route_refresh"], c.route_refresh) << s.name;
  EXPECT_EQ(x["caps"]["enhanced_route_refresh"], c.enhanced_route_refresh) << s.name;
  if (c.four_octet_as) {
    EXPECT_EQ(x["caps"]["asn4"], *c.four_octet_as) << s.name;
  }
  if (c.graceful_restart) {
    const auto& gr = *c.graceful_restart;
    json g = x["caps"]["graceful"];
    EXPECT_EQ(g["flags"], (gr.restart_state ? 8 : 0) | (gr.notification ? 4 : 0)) << s.name;
    EXPECT_EQ(g["time"], gr.restart_time) << s.name;
    json fams_json = json::array();
    auto gf = gr.families;
    std::sort(gf.begin(), gf.end(),
              [](const auto& a, const auto& b) { return a.family < b.family; });
    for (const auto& f : gf) {
      fams_json.push_back({f.family.afi, f.family.safi, f.forwarding_preserved ? 0x80 : 0});
    }
    EXPECT_EQ(g["families"], fams_json) << s.name;
  }
  std::vector<int> unknown;
  for (const auto& u : c.unknown)
    unknown.push_back(u.code);
  std::sort(unknown.begin(), unknown.end());
  EXPECT_EQ(x["caps"]["unknown"], json(unknown)) << s.name;
}

TEST(BgpCodecVsExaBgp, EveryMessageTypeAndCapability) {
  NETAGENT_REQUIRE(exabgp_available(), "exabgp (Debian package) is not installed");
  std::vector<Sample> samples;

  samples.push_back({"open restarted", true, encode(node_open(true))});
  samples.push_back({"open fresh", true, encode(node_open(false))});
  OpenMessage minimal;
  minimal.my_as = kAsTrans;
  minimal.hold_time = 0;
  minimal.router_id = *Ipv4Addr::parse("192.0.2.1");
  minimal.capabilities.four_octet_as = 4200000000u;
  minimal.capabilities.unknown = {{cap::kExtendedMessage, {}}, {cap::kFqdn, hex("026e3100")}};
  samples.push_back({"open 4-octet with unknown caps", true, encode(minimal)});

  for (bool as4 : {true, false}) {
    UpdateMessage u;
    u.attributes = rich_attrs(as4 ? 4200000000u : 64501);
    u.nlri = {pfx("10.25.11.100/32"), pfx("10.25.11.101/32"), pfx("10.25.0.0/16")};
    samples.push_back(
        {std::string("ipv4 rich ") + (as4 ? "asn4" : "asn2"), as4, update_bytes(u, as4)});
  }
  {
    // A 4-octet ASN towards an OLD speaker: AS_TRANS plus AS4_PATH, merged again on receipt.
    UpdateMessage u;
    u.attributes.origin = Origin::igp;
    u.attributes.as_path = AsPath::sequence({64512, 4200000000u, 64501});
    u.attributes.next_hop = *Ipv4Addr::parse("10.25.11.11");
    u.nlri = {pfx("10.1.0.0/24")};
    samples.push_back({"as4_path on 2-octet session", false, update_bytes(u, false)});
  }
  {
    UpdateMessage u;
    u.attributes.origin = Origin::incomplete;
    u.attributes.as_path = AsPath::sequence({64512});
    u.attributes.communities = {*Community::parse("64512:200")};
    u.mp_reach = MpReach{kIpv6Unicast,
                         ip("2001:db8::11"),
                         std::nullopt,
                         {pfx("2001:db8:100::/48"), pfx("2001:db8::100/128")}};
    samples.push_back({"ipv6 mp_reach", true, update_bytes(u, true)});
    u.mp_reach->link_local_next_hop = ip("fe80::11");
    samples.push_back({"ipv6 mp_reach link-local", true, update_bytes(u, true)});
  }
  {
    UpdateMessage u;
    u.withdrawn = {pfx("10.25.11.100/32"), pfx("10.25.11.101/32")};
    samples.push_back({"ipv4 withdraw", true, update_bytes(u, true)});
    UpdateMessage v;
    v.mp_unreach = MpUnreach{kIpv6Unicast, {pfx("2001:db8:100::/48")}};
    samples.push_back({"ipv6 withdraw", true, update_bytes(v, true)});
  }
  {
    std::vector<uint8_t> v4, v6;
    append_end_of_rib(v4, kIpv4Unicast);
    append_end_of_rib(v6, kIpv6Unicast);
    samples.push_back({"eor ipv4", true, v4});
    samples.push_back({"eor ipv6", true, v6});
  }
  {
    // A full packed UPDATE: 810 /32s sharing one attribute set (43 + 810 * 5 bytes).
    std::vector<Prefix> many;
    for (uint32_t i = 0; i < 810; ++i) {
      many.push_back(*Prefix::make(IpAddress::v4(Ipv4Addr{0x0a640000u + i}), 32));
    }
    PathAttributes a;
    a.origin = Origin::igp;
    a.as_path = AsPath::sequence({64512});
    auto ea =
        EncodedAttributes::make(a, kIpv4Unicast, ip("10.25.11.11"), std::nullopt, SessionContext{});
    ASSERT_TRUE(ea.ok());
    std::vector<uint8_t> buf;
    append_announcements(buf, *ea, many);
    ASSERT_EQ(buf.size(), 4093u);  // one message, no room for another /32
    samples.push_back({"packed 810 prefixes", true, buf});
  }
  {
    // Malformed attributes both decoders classify (ExaBGP implements part of RFC 7606).
    const char* base = "40 01 01 00 40 02 06 02 01 0000fc00 40 03 04 0a000001 ";
    auto malformed = [&](const std::string& name, const std::string& extra) {
      auto attrs = hex(std::string(base) + extra);
      std::string body = to_hex({0, 0, uint8_t(attrs.size() >> 8), uint8_t(attrs.size())}) +
                         to_hex(attrs) + "200a000002";
      samples.push_back({name, true, testing::message(2, body)});
    };
    malformed("large community length 8", "c0 20 08 0000fc00 00000001");
    malformed("atomic aggregate length 1", "40 06 01 00");
    samples.push_back(
        {"as_path overrun", true,
         testing::message(2,
                          "0000 0014 40 01 01 00 40 02 06 02 02 0000fc00 40 03 04 0a000001 "
                          "20 0a000002")});
    malformed("unknown optional transitive", "c0 f0 03 010203");
  }
  samples.push_back(
      {"notification shutdown", true,
       encode(NotificationMessage::cease(err::kAdministrativeShutdown, "node drained"))});
  samples.push_back({"notification hold", true, encode(NotificationMessage{4, 0, {}})});
  samples.push_back({"notification max prefixes", true,
                     encode(NotificationMessage::max_prefixes(kIpv4Unicast, 1000))});
  samples.push_back({"keepalive", true, encode_keepalive()});
  samples.push_back({"route refresh", true,
                     encode(RouteRefreshMessage{kIpv6Unicast, RouteRefreshMessage::kNormal})});

  auto got = exabgp_decode(samples);
  ASSERT_EQ(got.size(), samples.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    const auto& s = samples[i];
    const auto& x = got[i];
    SCOPED_TRACE(s.name);
    ASSERT_FALSE(x.contains("error") && !x.contains("type")) << x.dump();
    switch (MessageType(s.bytes[18])) {
      case MessageType::open:
        compare_open(s, x);
        break;
      case MessageType::update:
        compare_update(s, x);
        break;
      case MessageType::notification: {
        auto n = std::get<NotificationMessage>(decode_message(s.bytes, SessionContext{}).value());
        EXPECT_EQ(x["code"], n.code);
        EXPECT_EQ(x["subcode"], n.subcode);
        EXPECT_EQ(x["data"], to_hex(n.data));
        if (s.name == std::string("notification max prefixes")) {
          // RFC 4486 §4: AFI 1, SAFI 1, upper bound 1000.
          EXPECT_EQ(x["code"], 6);
          EXPECT_EQ(x["subcode"], 1);
          EXPECT_EQ(x["data"], "000101000003e8");
        }
        if (auto text = n.shutdown_communication(); text && x["text"].is_string()) {
          EXPECT_EQ(x["text"], "Shutdown Communication: \"" + *text + "\"");
        }
        break;
      }
      case MessageType::keepalive:
        EXPECT_EQ(x["type"], "keepalive");
        break;
      case MessageType::route_refresh:
        EXPECT_EQ(x["type"], "route_refresh");
        EXPECT_EQ(x["afi"], kAfiIpv6);
        EXPECT_EQ(x["safi"], kSafiUnicast);
        EXPECT_EQ(x["subtype"], 0);
        break;
    }
  }
}

}  // namespace
}  // namespace netagent::bgp
