// RIB tests: route tables, export of attributes per peer type, Adj-RIB-Out diffs and packing,
// Adj-RIB-In with RFC 7606 treat-as-withdraw.
// GCC 12 false positive: destroying a Result<RouteTable> whose inlined variant destructor it
// misreads as freeing a non-heap std::string (-Wfree-nonheap-object, GCC PR 105651 family).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wfree-nonheap-object"
#endif
#include <gtest/gtest.h>

#include "bgp_test_util.hpp"
#include "netagent/bgp/rib.hpp"

namespace netagent::bgp {
namespace {

using testing::ip;
using testing::pfx;

Route route(const std::string& text) {
  return *parse_route(text);
}

// A table that must build. Not inlined: GCC 12 reports a bogus -Wfree-nonheap-object when the
// Result temporary's destructor is inlined into the test bodies.
[[gnu::noinline]] RouteTable must_table(const std::vector<Route>& routes) {
  auto t = make_route_table(routes);
  EXPECT_TRUE(t.ok()) << t.error().str();
  return t.ok() ? std::move(t).value() : RouteTable{};
}

ExportContext ebgp_ctx() {
  ExportContext c;
  c.ebgp = true;
  c.local_asn = 64512;
  c.local_address = ip("10.25.11.11");
  c.session = SessionContext{true, true};
  c.families = {kIpv4Unicast, kIpv6Unicast};
  return c;
}

// Decodes a buffer of back-to-back UPDATEs.
std::vector<DecodedUpdate> decode_all(const std::vector<uint8_t>& buf) {
  std::vector<DecodedUpdate> out;
  size_t i = 0;
  while (i < buf.size()) {
    auto h = decode_header(std::span(buf).subspan(i));
    EXPECT_TRUE(h.ok());
    if (!h.ok()) break;
    auto m = decode_message(std::span(buf).subspan(i, h->length), SessionContext{});
    EXPECT_TRUE(m.ok());
    out.push_back(std::get<DecodedUpdate>(m.value()));
    i += h->length;
  }
  return out;
}

TEST(BgpRouteTable, SharesEqualAttributesAndRejectsDuplicates) {
  auto t = make_route_table({route("10.0.0.1/32 community 64512:2 community 64512:1"),
                             route("10.0.0.2/32 community 64512:1 community 64512:2"),
                             route("10.0.0.3/32")});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->at(pfx("10.0.0.1/32")), t->at(pfx("10.0.0.2/32")));  // one object
  EXPECT_NE(t->at(pfx("10.0.0.1/32")), t->at(pfx("10.0.0.3/32")));
  EXPECT_FALSE(make_route_table({route("10.0.0.1/32"), route("10.0.0.1/32 med 3")}).ok());
  EXPECT_FALSE(make_route_table({route("10.0.0.1/32 next-hop 2001:db8::1")}).ok());
  EXPECT_FALSE(make_route_table({route("2001:db8::/64 next-hop 10.0.0.1")}).ok());
}

TEST(BgpRouteSyntax, ParsesAndReportsErrors) {
  auto r = parse_route(
      "10.25.11.100/32 next-hop 10.25.11.12 origin egp med 7 local-preference 200 "
      "community no-export large-community 64512:1:2");
  ASSERT_TRUE(r.ok()) << r.error().str();
  EXPECT_EQ(r->str(),
            "10.25.11.100/32 next-hop 10.25.11.12 origin egp med 7 local-preference 200 "
            "community no-export large-community 64512:1:2");
  EXPECT_EQ(parse_route("10.0.0.1/24").error().message, "route: bad prefix '10.0.0.1/24'");
  EXPECT_EQ(parse_route("10.0.0.0/24 colour red").error().message,
            "route 10.0.0.0/24: unknown keyword 'colour'");
  EXPECT_FALSE(parse_route("10.0.0.0/24 med x").ok());
}

TEST(BgpExport, ExternalAndInternalPeers) {
  RouteAttributes a;
  a.med = 5;
  a.local_preference = 250;
  auto e = export_attributes(a, kIpv4Unicast, ebgp_ctx());
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)->attributes.as_path->str(), "64512");
  EXPECT_FALSE((*e)->attributes.local_pref);  // never to external peers
  EXPECT_EQ((*e)->next_hop, ip("10.25.11.11"));
  auto ctx = ebgp_ctx();
  ctx.ebgp = false;
  auto i = export_attributes(a, kIpv4Unicast, ctx);
  ASSERT_TRUE(i.ok());
  EXPECT_TRUE((*i)->attributes.as_path->empty());
  EXPECT_EQ((*i)->attributes.local_pref, 250u);
  // An explicit next hop wins; an IPv6 route over an IPv4 session needs one.
  a.next_hop = ip("10.25.11.12");
  EXPECT_EQ((*export_attributes(a, kIpv4Unicast, ebgp_ctx()))->next_hop, ip("10.25.11.12"));
  RouteAttributes v6;
  EXPECT_FALSE(export_attributes(v6, kIpv6Unicast, ebgp_ctx()).ok());
  v6.next_hop = ip("2001:db8::11");
  EXPECT_EQ((*export_attributes(v6, kIpv6Unicast, ebgp_ctx()))->next_hop, ip("2001:db8::11"));
}

TEST(BgpAdjRibOut, SyncSendsOnlyChangesAndPacksByAttributes) {
  AdjRibOut rib(ebgp_ctx());
  std::vector<Route> routes;
  for (int i = 0; i < 2000; ++i) {
    routes.push_back(route("10.1." + std::to_string(i / 256) + "." + std::to_string(i % 256) +
                           "/32" + (i % 2 ? " community 64512:1" : "")));
  }
  auto table = must_table(routes);
  std::vector<uint8_t> out;
  auto r = rib.sync(table, nullptr, out);
  EXPECT_EQ(r.announced, 2000u);
  EXPECT_EQ(r.withdrawn, 0u);
  auto updates = decode_all(out);
  // Two attribute sets of 1000 prefixes each; ~800 /32 fit one UPDATE: 2 + 2 messages.
  EXPECT_EQ(updates.size(), 4u);
  size_t total = 0;
  for (const auto& u : updates)
    total += u.update.nlri.size();
  EXPECT_EQ(total, 2000u);
  EXPECT_EQ(rib.size(), 2000u);

  // Nothing changed: nothing sent.
  out.clear();
  auto same = must_table(routes);  // new objects, equal attributes
  r = rib.sync(same, nullptr, out);
  EXPECT_TRUE(out.empty());

  // Remove 10 routes and change the attributes of one.
  routes.erase(routes.begin(), routes.begin() + 10);
  routes.back() = route(routes.back().prefix.str() + " med 9");
  out.clear();
  r = rib.sync(must_table(routes), nullptr, out);
  EXPECT_EQ(r.withdrawn, 10u);
  EXPECT_EQ(r.announced, 1u);
  updates = decode_all(out);
  ASSERT_EQ(updates.size(), 2u);
  EXPECT_EQ(updates[0].update.withdrawn.size(), 10u);
  EXPECT_EQ(updates[1].update.attributes.med, 9u);
}

TEST(BgpAdjRibOut, OverlayWinsAndFamiliesAreFiltered) {
  auto ctx = ebgp_ctx();
  ctx.families = {kIpv4Unicast};
  AdjRibOut rib(ctx);
  auto base = must_table({route("10.0.0.1/32"), route("2001:db8::1/128")});
  auto overlay = must_table({route("10.0.0.1/32 med 1")});
  std::vector<uint8_t> out;
  rib.sync(base, &overlay, out);
  auto sent = rib.routes();
  ASSERT_EQ(sent.size(), 1u);  // IPv6 not negotiated
  EXPECT_EQ(sent[0].attributes.med, 1u);
  // ROUTE-REFRESH: everything again.
  std::vector<uint8_t> again;
  EXPECT_EQ(rib.resend(kIpv4Unicast, again), 1u);
  EXPECT_EQ(decode_all(again)[0].update.nlri, std::vector<Prefix>{pfx("10.0.0.1/32")});
}

TEST(BgpAdjRibIn, TreatAsWithdrawRemovesRoutes) {
  AdjRibIn rib;
  DecodedUpdate u;
  u.update.attributes.origin = Origin::igp;
  u.update.attributes.as_path = AsPath::sequence({64501});
  u.update.attributes.next_hop = *Ipv4Addr::parse("10.25.11.1");
  u.update.nlri = {pfx("0.0.0.0/0"), pfx("10.0.0.0/8")};
  rib.apply(u);
  ASSERT_EQ(rib.size(), 2u);
  EXPECT_EQ(rib.routes()[0].next_hop, ip("10.25.11.1"));
  DecodedUpdate bad = u;
  bad.update.nlri = {pfx("10.0.0.0/8")};
  bad.action = ErrorAction::treat_as_withdraw;
  rib.apply(bad);
  ASSERT_EQ(rib.size(), 1u);
  EXPECT_EQ(rib.routes()[0].prefix, pfx("0.0.0.0/0"));
}

// An UPDATE announcing `n` /32s from 10.<base>.0.0 (IPv4 NLRI) or 2001:db8:<base>:: (MP_REACH).
DecodedUpdate announce(int base, int n, bool v6 = false) {
  DecodedUpdate u;
  u.update.attributes.origin = Origin::igp;
  u.update.attributes.as_path = AsPath::sequence({64501});
  std::vector<Prefix> prefixes;
  for (int i = 0; i < n; ++i) {
    prefixes.push_back(
        v6 ? pfx("2001:db8:" + std::to_string(base) + "::" + std::to_string(i + 1) + "/128")
           : pfx("10." + std::to_string(base) + "." + std::to_string(i / 256) + "." +
                 std::to_string(i % 256) + "/32"));
  }
  if (v6) {
    u.update.mp_reach = MpReach{kIpv6Unicast, ip("2001:db8::1"), {}, prefixes};
  } else {
    u.update.attributes.next_hop = *Ipv4Addr::parse("10.25.11.1");
    u.update.nlri = prefixes;
  }
  return u;
}

TEST(BgpAdjRibIn, PrefixLimitIsPerFamilyAndStoresNoMoreThanIt) {
  AdjRibIn rib(100);
  EXPECT_FALSE(rib.apply(announce(1, 100)).over_limit);  // exactly the limit is allowed
  EXPECT_EQ(rib.count(kIpv4Unicast), 100u);
  // The other family has a limit of its own.
  EXPECT_FALSE(rib.apply(announce(2, 60, true)).over_limit);
  EXPECT_EQ(rib.count(kIpv6Unicast), 60u);
  // Re-announcing known prefixes (new attributes) does not count twice.
  EXPECT_FALSE(rib.apply(announce(1, 100)).over_limit);
  EXPECT_EQ(rib.count(kIpv4Unicast), 100u);
  // One more IPv4 prefix is over: it and the rest of the UPDATE are not stored.
  auto r = rib.apply(announce(3, 50));
  ASSERT_TRUE(r.over_limit);
  EXPECT_EQ(*r.over_limit, kIpv4Unicast);
  EXPECT_EQ(rib.count(kIpv4Unicast), 100u);
  EXPECT_EQ(rib.size(), 160u);
  EXPECT_EQ(rib.max_count(), 100u);
  rib.clear();
  EXPECT_EQ(rib.size(), 0u);
  EXPECT_EQ(rib.count(kIpv4Unicast), 0u);
  EXPECT_EQ(rib.count(kIpv6Unicast), 0u);
}

TEST(BgpAdjRibIn, WithdrawalsMakeRoomUnderTheLimit) {
  AdjRibIn rib(10);
  EXPECT_FALSE(rib.apply(announce(1, 10)).over_limit);
  DecodedUpdate w;
  w.update.withdrawn = {pfx("10.1.0.0/32"), pfx("10.1.0.1/32"), pfx("10.9.9.9/32")};
  EXPECT_FALSE(rib.apply(w).over_limit);
  EXPECT_EQ(rib.count(kIpv4Unicast), 8u);
  EXPECT_FALSE(rib.apply(announce(5, 2)).over_limit);
  EXPECT_EQ(rib.count(kIpv4Unicast), 10u);
  EXPECT_TRUE(rib.apply(announce(6, 1)).over_limit);
}

TEST(BgpAdjRibIn, NoLimitKeepsEverything) {
  AdjRibIn rib;
  EXPECT_FALSE(rib.apply(announce(1, 5000)).over_limit);
  EXPECT_EQ(rib.size(), 5000u);
}

TEST(BgpPrefixLimit, WarningThresholdRoundsUp) {
  PrefixLimit l;
  EXPECT_EQ(l.warning_at(), 0u);  // no limit
  l.max = 1000;
  EXPECT_EQ(l.warning_at(), 750u);
  l.max = 3;
  l.warning_percent = 50;
  EXPECT_EQ(l.warning_at(), 2u);
}

}  // namespace
}  // namespace netagent::bgp
