// Speaker and session layer over loopback: two Speakers in one io_context peer with each other
// (one connects out, one listens), so the Asio layer, RIB-out diffing and status are exercised
// end to end without privileges. Interop with real routers is in interop_test.cpp.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "bgp_test_util.hpp"
#include "netagent/bgp/speaker.hpp"

namespace netagent::bgp {
namespace {

using namespace std::chrono_literals;
using testing::ip;
using testing::pfx;

bool run_until(boost::asio::io_context& io, const std::function<bool()>& pred,
               std::chrono::milliseconds timeout = 5s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    io.run_for(5ms);
  }
  return true;
}

InstanceConfig instance(const std::string& name, uint32_t asn, const char* id) {
  InstanceConfig in;
  in.name = name;
  in.local_asn = asn;
  in.router_id = *Ipv4Addr::parse(id);
  return in;
}

PeerConfig peer(const std::string& name, uint32_t asn, uint16_t port = 179) {
  PeerConfig p;
  p.name = name;
  p.address = ip("127.0.0.1");
  p.port = port;
  p.peer_asn = asn;
  p.connect_retry = 1s;
  return p;
}

Route route(const std::string& text) {
  auto r = parse_route(text);
  EXPECT_TRUE(r.ok()) << r.error().str();
  return *r;
}

// "router": listens (passive); "node": connects out, like the agent towards the SRX.
struct Pair {
  explicit Pair(uint32_t router_asn = 64501, uint32_t node_asn = 64512) {
    auto r = instance("lab", router_asn, "10.25.11.1");
    r.listen_port = 0;  // kernel's choice
    r.listen_address = ip("127.0.0.1");
    auto rp = peer("node", node_asn);
    rp.passive = true;
    r.peers = {rp};
    router_cfg.instances = {r};
    EXPECT_TRUE(router.set_config(router_cfg).ok());
    port = *router.listening_port("lab");

    auto n = instance("infra", node_asn, "10.25.11.11");
    n.peers = {peer("srx", router_asn, port)};
    node_cfg.instances = {n};
  }
  bool start_node() { return node.set_config(node_cfg).ok(); }
  bool established() {
    return run_until(io, [&] {
      return node.peer("infra", "srx")->state == SessionState::established &&
             router.peer("lab", "node")->state == SessionState::established;
    });
  }
  std::vector<ReceivedRoute> at_router() { return *router.received("lab", "node"); }

  boost::asio::io_context io;
  Speaker router{io, SpeakerOptions{false, {}}};
  Speaker node{io};
  SpeakerConfig router_cfg;
  SpeakerConfig node_cfg;
  uint16_t port = 0;
};

TEST(BgpSpeaker, EstablishesAndAdvertisesRoutesWithAttributes) {
  Pair p;
  ASSERT_TRUE(p.start_node());
  ASSERT_TRUE(p.node
                  .set_routes("infra", {route("10.25.11.100/32 community 64512:100 "
                                              "large-community 64512:1:2 med 50"),
                                        route("10.25.11.101/32 origin incomplete"),
                                        route("2001:db8::100/128 community no-export"),
                                        route("2001:db8::101/128 next-hop 2001:db8::11")})
                  .ok());
  ASSERT_TRUE(p.established());
  ASSERT_TRUE(run_until(p.io, [&] { return p.at_router().size() == 3; }));
  run_until(
      p.io, [] { return false; }, 50ms);
  auto got = p.at_router();
  EXPECT_EQ(got[0].prefix, pfx("10.25.11.100/32"));
  EXPECT_EQ(got[0].next_hop, ip("127.0.0.1"));  // the session's local address
  EXPECT_EQ(got[0].attributes.as_path->str(), "64512");
  EXPECT_EQ(got[0].attributes.origin, Origin::igp);
  EXPECT_EQ(got[0].attributes.med, 50u);
  EXPECT_FALSE(got[0].attributes.local_pref);  // eBGP
  EXPECT_EQ(got[0].attributes.communities, std::vector<Community>{*Community::parse("64512:100")});
  EXPECT_EQ(got[0].attributes.large_communities, (std::vector<LargeCommunity>{{64512, 1, 2}}));
  EXPECT_EQ(got[1].attributes.origin, Origin::incomplete);
  // IPv6 routes over an IPv4 session go out only with an IPv6 next hop.
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].prefix, pfx("2001:db8::101/128"));
  EXPECT_EQ(got[2].next_hop, ip("2001:db8::11"));

  auto st = *p.node.peer("infra", "srx");
  EXPECT_EQ(st.prefixes_out, 3u);
  EXPECT_EQ(st.negotiated->hold_time, 90);
  EXPECT_EQ(st.negotiated->peer_router_id.str(), "10.25.11.1");
  EXPECT_EQ(st.messages_out.open, 1u);
  EXPECT_GE(st.messages_out.update, 3u);  // routes + End-of-RIB for both families
  EXPECT_EQ(st.established_count, 1u);
  auto adv = *p.node.advertised("infra", "srx");
  ASSERT_EQ(adv.size(), 3u);
  EXPECT_EQ(adv[0].prefix, pfx("10.25.11.100/32"));
  // Status as JSON for netctl.
  nlohmann::json j = st;
  EXPECT_EQ(j["state"], "Established");
  EXPECT_EQ(j["prefixes_out"], 3);
  EXPECT_NE(std::find(j["capabilities"].begin(), j["capabilities"].end(), "4-octet-as"),
            j["capabilities"].end());
  nlohmann::json r = adv[0];
  EXPECT_EQ(r["attributes"]["communities"][0], "64512:100");
}

TEST(BgpSpeaker, ChangesGoOutAsDiffs) {
  Pair p;
  ASSERT_TRUE(p.start_node());
  ASSERT_TRUE(p.node.set_routes("infra", {route("10.0.0.1/32"), route("10.0.0.2/32")}).ok());
  ASSERT_TRUE(p.established());
  ASSERT_TRUE(run_until(p.io, [&] { return p.at_router().size() == 2; }));
  auto before = p.node.peer("infra", "srx")->messages_out.update;
  // Withdraw one, change the other's attributes, add a third.
  ASSERT_TRUE(p.node
                  .set_routes("infra", {route("10.0.0.2/32 community 64512:7"),
                                        route("10.0.0.3/32 community 64512:7")})
                  .ok());
  ASSERT_TRUE(run_until(p.io, [&] {
    auto r = p.at_router();
    return r.size() == 2 && r[0].prefix == pfx("10.0.0.2/32") &&
           !r[0].attributes.communities.empty();
  }));
  // One withdrawal UPDATE plus one UPDATE carrying both prefixes with the same attributes.
  EXPECT_EQ(p.node.peer("infra", "srx")->messages_out.update - before, 2u);
  // Setting the same routes again sends nothing.
  before = p.node.peer("infra", "srx")->messages_out.update;
  ASSERT_TRUE(p.node
                  .set_routes("infra", {route("10.0.0.3/32 community 64512:7"),
                                        route("10.0.0.2/32 community 64512:7")})
                  .ok());
  run_until(
      p.io, [] { return false; }, 100ms);
  EXPECT_EQ(p.node.peer("infra", "srx")->messages_out.update, before);
}

TEST(BgpSpeaker, PeerOverlayRoutes) {
  Pair p;
  ASSERT_TRUE(p.start_node());
  ASSERT_TRUE(p.node.set_routes("infra", {route("10.0.0.1/32"), route("10.0.0.2/32")}).ok());
  ASSERT_TRUE(p.node.set_peer_routes("infra", "srx", {route("10.0.0.2/32 med 5")}).ok());
  ASSERT_TRUE(p.established());
  ASSERT_TRUE(run_until(p.io, [&] {
    auto r = p.at_router();
    return r.size() == 2 && r[1].attributes.med == 5u;
  }));
  EXPECT_FALSE(p.node.set_peer_routes("infra", "nobody", {}).ok());
}

TEST(BgpSpeaker, InternalPeerGetsLocalPreference) {
  Pair p(64512, 64512);
  ASSERT_TRUE(p.start_node());
  ASSERT_TRUE(
      p.node.set_routes("infra", {route("10.0.0.1/32 local-preference 300"), route("10.0.0.2/32")})
          .ok());
  ASSERT_TRUE(p.established());
  ASSERT_TRUE(run_until(p.io, [&] { return p.at_router().size() == 2; }));
  auto r = p.at_router();
  EXPECT_EQ(r[0].attributes.local_pref, 300u);
  EXPECT_EQ(r[1].attributes.local_pref, 100u);  // default
  EXPECT_TRUE(r[0].attributes.as_path->empty());
}

TEST(BgpSpeaker, BadInputIsRejectedAndChangesNothing) {
  Pair p;
  ASSERT_TRUE(p.start_node());
  ASSERT_TRUE(p.established());
  auto cfg = p.node_cfg;
  cfg.instances[0].peers[0].hold_time = 2s;
  auto st = p.node.set_config(cfg);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message,
            "instances[infra].peers[srx].hold_time: 2 s is not 0 or in [3, 65535]");
  EXPECT_EQ(p.node.config(), p.node_cfg);
  EXPECT_EQ(p.node.peer("infra", "srx")->established_count, 1u);

  ASSERT_TRUE(p.node.set_routes("infra", {route("10.0.0.1/32")}).ok());
  auto dup = p.node.set_routes("infra", {route("10.0.0.9/32"), route("10.0.0.9/32 med 1")});
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.error().message.find("10.0.0.9/32: prefix listed twice"), std::string::npos);
  EXPECT_FALSE(p.node.set_routes("nope", {}).ok());
  ASSERT_TRUE(run_until(p.io, [&] { return p.at_router().size() == 1; }));
  EXPECT_EQ(p.at_router()[0].prefix, pfx("10.0.0.1/32"));
}

TEST(BgpSpeaker, ChangingOnePeerResetsOnlyThatPeer) {
  Pair p;
  // A second router instance on another port; the node peers with both.
  auto r2 = instance("lab2", 64502, "10.25.11.2");
  r2.listen_port = 0;
  r2.listen_address = ip("127.0.0.1");
  auto rp = peer("node", 64512);
  rp.passive = true;
  r2.peers = {rp};
  p.router_cfg.instances.push_back(r2);
  ASSERT_TRUE(p.router.set_config(p.router_cfg).ok());
  p.node_cfg.instances[0].peers.push_back(peer("srx2", 64502, *p.router.listening_port("lab2")));
  ASSERT_TRUE(p.start_node());
  ASSERT_TRUE(p.established());
  ASSERT_TRUE(run_until(
      p.io, [&] { return p.node.peer("infra", "srx2")->state == SessionState::established; }));
  // Change srx2's hold time: srx2 restarts, srx keeps its session.
  auto cfg = p.node_cfg;
  cfg.instances[0].peers[1].hold_time = 60s;
  ASSERT_TRUE(p.node.set_config(cfg).ok());
  ASSERT_TRUE(run_until(p.io, [&] {
    auto s = p.node.peer("infra", "srx2");
    return s->state == SessionState::established;
  }));
  EXPECT_EQ(p.node.peer("infra", "srx2")->negotiated->hold_time, 60);
  EXPECT_EQ(p.node.peer("infra", "srx")->established_count, 1u);
  EXPECT_EQ(p.router.peer("lab", "node")->established_count, 1u);
  // The router saw srx2's old session end with Cease / Other Configuration Change.
  ASSERT_TRUE(run_until(p.io, [&] {
    auto e = p.router.peer("lab2", "node")->last_error;
    return e && e->received;
  }));
  auto e = p.router.peer("lab2", "node")->last_error;
  EXPECT_EQ(e->received->code, err::kCease);
  EXPECT_EQ(e->received->subcode, err::kOtherConfigurationChange);
}

TEST(BgpSpeaker, RemovedPeerIsDeconfiguredAndWithdrawn) {
  Pair p;
  ASSERT_TRUE(p.start_node());
  ASSERT_TRUE(p.node.set_routes("infra", {route("10.0.0.1/32")}).ok());
  ASSERT_TRUE(p.established());
  ASSERT_TRUE(run_until(p.io, [&] { return p.at_router().size() == 1; }));
  auto cfg = p.node_cfg;
  cfg.instances[0].peers.clear();
  ASSERT_TRUE(p.node.set_config(cfg).ok());
  ASSERT_TRUE(run_until(p.io, [&] {
    auto s = p.router.peer("lab", "node");
    return s->state != SessionState::established && s->last_error && s->last_error->received;
  }));
  auto e = p.router.peer("lab", "node")->last_error;
  EXPECT_EQ(e->received->subcode, err::kPeerDeconfigured);
  EXPECT_TRUE(p.at_router().empty());
  EXPECT_FALSE(p.node.peer("infra", "srx").ok());
}

TEST(BgpSpeaker, StopSendsShutdownCommunication) {
  Pair p;
  ASSERT_TRUE(p.start_node());
  ASSERT_TRUE(p.established());
  bool done = false;
  p.node.stop(StopMode::withdraw, [&] { done = true; });
  ASSERT_TRUE(run_until(p.io, [&] { return done; }));
  ASSERT_TRUE(run_until(p.io, [&] {
    auto e = p.router.peer("lab", "node")->last_error;
    return e && e->received;
  }));
  auto e = p.router.peer("lab", "node")->last_error;
  EXPECT_EQ(e->received->description, "Cease / Administrative Shutdown");
  EXPECT_EQ(e->received->communication, "speaker shutting down");
  EXPECT_FALSE(p.node.set_config(p.node_cfg).ok());
}

TEST(BgpSpeaker, GracefulStopWithGracefulRestartClosesWithoutNotification) {
  Pair p;
  p.node_cfg.instances[0].peers[0].graceful_restart = {true, 120s};
  p.router_cfg.instances[0].peers[0].graceful_restart = {true, 120s};
  ASSERT_TRUE(p.router.set_config(p.router_cfg).ok());
  ASSERT_TRUE(p.start_node());
  ASSERT_TRUE(p.established());
  auto n = p.node.peer("infra", "srx")->negotiated;
  ASSERT_TRUE(n->peer_graceful_restart);
  EXPECT_TRUE(n->graceful_notification);  // both sides set N
  // The node's first OPEN carried the Restart State bit (it may have restarted).
  EXPECT_TRUE(p.router.peer("lab", "node")->negotiated->peer_graceful_restart->restart_state);
  bool done = false;
  p.node.stop(StopMode::graceful, [&] { done = true; });
  ASSERT_TRUE(run_until(p.io, [&] { return done; }));
  ASSERT_TRUE(run_until(
      p.io, [&] { return p.router.peer("lab", "node")->state != SessionState::established; }));
  // With N negotiated a plain Cease (not a Hard Reset) tells the router to keep our routes.
  auto e = p.router.peer("lab", "node")->last_error;
  ASSERT_TRUE(e && e->received);
  EXPECT_EQ(e->received->subcode, err::kAdministrativeShutdown);
}

TEST(BgpSpeaker, CollisionLeavesOneSession) {
  // Both sides connect out and listen.
  boost::asio::io_context io;
  Speaker a(io), b(io);
  auto ia = instance("a", 64512, "10.0.0.1");
  auto ib = instance("b", 64513, "10.0.0.2");
  ia.listen_port = 0;
  ia.listen_address = ip("127.0.0.1");
  ib.listen_port = 0;
  ib.listen_address = ip("127.0.0.2");
  SpeakerConfig ca{{ia}}, cb{{ib}};
  ASSERT_TRUE(a.set_config(ca).ok());
  ASSERT_TRUE(b.set_config(cb).ok());
  auto pa = peer("b", 64513, *b.listening_port("b"));
  pa.address = ip("127.0.0.2");
  pa.local_address = ip("127.0.0.1");
  auto pb = peer("a", 64512, *a.listening_port("a"));
  pb.local_address = ip("127.0.0.2");
  ca.instances[0].peers = {pa};
  cb.instances[0].peers = {pb};
  ASSERT_TRUE(a.set_config(ca).ok());
  ASSERT_TRUE(b.set_config(cb).ok());
  ASSERT_TRUE(run_until(io, [&] {
    return a.peer("a", "b")->state == SessionState::established &&
           b.peer("b", "a")->state == SessionState::established;
  }));
  run_until(
      io, [] { return false; }, 300ms);
  EXPECT_EQ(a.peer("a", "b")->state, SessionState::established);
  EXPECT_EQ(b.peer("b", "a")->state, SessionState::established);
  EXPECT_EQ(a.peer("a", "b")->established_count, 1u);
}

}  // namespace
}  // namespace netagent::bgp
