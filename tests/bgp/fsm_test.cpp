// FSM tests (RFC 4271 §8): transitions, timers with an injected clock, collision detection.
#include <gtest/gtest.h>

#include "netagent/bgp/fsm.hpp"

namespace netagent::bgp {
namespace {

using std::chrono::seconds;

template <typename A>
const A* find_action(const std::vector<FsmAction>& actions) {
  for (const auto& a : actions) {
    if (auto* p = std::get_if<A>(&a)) return p;
  }
  return nullptr;
}

template <typename A>
size_t count_actions(const std::vector<FsmAction>& actions) {
  size_t n = 0;
  for (const auto& a : actions)
    n += std::holds_alternative<A>(a);
  return n;
}

OpenMessage peer_open(uint32_t asn = 64501, const char* id = "10.25.11.1", uint16_t hold = 90) {
  OpenMessage o;
  o.my_as = uint16_t(asn > 0xffff ? kAsTrans : asn);
  o.hold_time = hold;
  o.router_id = *Ipv4Addr::parse(id);
  o.capabilities.four_octet_as = asn;
  o.capabilities.multiprotocol = {kIpv4Unicast};
  o.capabilities.route_refresh = true;
  return o;
}

// Drives one PeerFsm with a manual clock.
struct Harness {
  explicit Harness(FsmConfig c = config()) : fsm(std::move(c)) {}

  static FsmConfig config() {
    FsmConfig c;
    c.local_asn = 64512;
    c.router_id = *Ipv4Addr::parse("10.25.11.11");
    c.peer_asn = 64501;
    c.random = [] { return 0.5; };  // connect retry = 1.5 T
    return c;
  }

  std::vector<FsmAction> on(const FsmEvent& e) { return last = fsm.handle(e, now); }
  std::vector<FsmAction> advance(seconds d) {
    now += d;
    return last = fsm.handle(fsm::TimerTick{}, now);
  }
  // Start, connect and get to OpenSent; returns the connection id.
  ConnectionId to_open_sent() {
    on(fsm::Start{});
    auto* c = find_action<fsm::Connect>(last);
    EXPECT_NE(c, nullptr);
    ConnectionId id = c->conn;
    on(fsm::TcpConnected{id});
    return id;
  }
  ConnectionId to_established(OpenMessage open = peer_open()) {
    ConnectionId id = to_open_sent();
    on(fsm::OpenReceived{id, open});
    on(fsm::KeepaliveReceived{id});
    EXPECT_EQ(fsm.state(), SessionState::established);
    return id;
  }

  PeerFsm fsm;
  TimePoint now = TimePoint{} + std::chrono::hours(1);
  std::vector<FsmAction> last;
};

TEST(BgpFsm, StartsIdleAndConnectsOut) {
  Harness h;
  EXPECT_EQ(h.fsm.state(), SessionState::idle);
  EXPECT_FALSE(h.fsm.next_deadline());
  h.on(fsm::Start{});
  EXPECT_EQ(h.fsm.state(), SessionState::connect);
  ASSERT_NE(find_action<fsm::Connect>(h.last), nullptr);
  // Connect retry jitter [T, 2T): 120 s * 1.5 with the injected random 0.5.
  EXPECT_EQ(*h.fsm.next_deadline(), h.now + seconds(180));
  auto* sc = find_action<fsm::StateChanged>(h.last);
  ASSERT_NE(sc, nullptr);
  EXPECT_EQ(sc->from, SessionState::idle);
  EXPECT_EQ(sc->to, SessionState::connect);
}

TEST(BgpFsm, ConnectRetryJitterStaysWithinTTo2T) {
  for (double r : {0.0, 0.25, 0.999}) {
    auto c = Harness::config();
    c.random = [r] { return r; };
    Harness h(c);
    h.on(fsm::Start{});
    auto wait = *h.fsm.next_deadline() - h.now;
    EXPECT_GE(wait, seconds(120));
    EXPECT_LT(wait, seconds(240));
  }
}

TEST(BgpFsm, PassiveWaitsInActive) {
  auto c = Harness::config();
  c.passive = true;
  Harness h(c);
  h.on(fsm::Start{});
  EXPECT_EQ(h.fsm.state(), SessionState::active);
  EXPECT_EQ(find_action<fsm::Connect>(h.last), nullptr);
  EXPECT_FALSE(h.fsm.next_deadline());
  ConnectionId in = h.fsm.new_connection_id();
  h.on(fsm::TcpAccepted{in});
  EXPECT_EQ(h.fsm.state(), SessionState::open_sent);
  ASSERT_NE(find_action<fsm::SendOpen>(h.last), nullptr);
}

TEST(BgpFsm, PassivePeerAcceptsAgainRightAfterFailure) {
  auto c = Harness::config();
  c.passive = true;
  Harness h(c);
  h.on(fsm::Start{});
  ConnectionId in = h.fsm.new_connection_id();
  h.on(fsm::TcpAccepted{in});
  h.on(fsm::OpenReceived{in, peer_open()});
  h.on(fsm::KeepaliveReceived{in});
  ASSERT_EQ(h.fsm.state(), SessionState::established);
  h.on(fsm::NotificationReceived{in, NotificationMessage::cease(err::kOtherConfigurationChange)});
  EXPECT_EQ(h.fsm.state(), SessionState::active);
  ConnectionId again = h.fsm.new_connection_id();
  h.on(fsm::TcpAccepted{again});
  EXPECT_EQ(h.fsm.state(), SessionState::open_sent);
  EXPECT_EQ(find_action<fsm::SendNotification>(h.last), nullptr);
}

TEST(BgpFsm, TcpConnectedSendsOpenWithCapabilities) {
  auto c = Harness::config();
  c.graceful_restart = {true, seconds(120)};
  c.restarting = true;
  Harness h(c);
  ConnectionId id = h.to_open_sent();
  EXPECT_EQ(h.fsm.state(), SessionState::open_sent);
  auto* o = find_action<fsm::SendOpen>(h.last);
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->conn, id);
  EXPECT_EQ(o->open.my_as, 64512);
  EXPECT_EQ(o->open.hold_time, 90);
  EXPECT_EQ(o->open.capabilities.four_octet_as, 64512u);
  EXPECT_TRUE(o->open.capabilities.route_refresh);
  EXPECT_EQ(o->open.capabilities.multiprotocol, (std::vector<Family>{kIpv4Unicast, kIpv6Unicast}));
  ASSERT_TRUE(o->open.capabilities.graceful_restart);
  EXPECT_TRUE(o->open.capabilities.graceful_restart->restart_state);  // RFC 4724 §4.1
  EXPECT_TRUE(o->open.capabilities.graceful_restart->notification);   // RFC 8538
  EXPECT_EQ(o->open.capabilities.graceful_restart->restart_time, 120);
  // The connect-retry timer stops; the hold timer waits 4 minutes for the OPEN.
  EXPECT_EQ(*h.fsm.next_deadline(), h.now + seconds(240));
}

TEST(BgpFsm, FourOctetLocalAsnUsesAsTrans) {
  auto c = Harness::config();
  c.local_asn = 4200000000u;
  auto o = build_open(c, false);
  EXPECT_EQ(o.my_as, kAsTrans);
  EXPECT_EQ(o.capabilities.four_octet_as, 4200000000u);
  EXPECT_FALSE(o.capabilities.graceful_restart);
}

TEST(BgpFsm, ConnectFailureWaitsForConnectRetry) {
  Harness h;
  h.on(fsm::Start{});
  ConnectionId first = find_action<fsm::Connect>(h.last)->conn;
  h.on(fsm::TcpFailed{first, "Connection refused"});
  EXPECT_EQ(h.fsm.state(), SessionState::active);
  EXPECT_EQ(h.fsm.last_error()->reason, "connect: Connection refused");
  h.advance(seconds(179));
  EXPECT_EQ(find_action<fsm::Connect>(h.last), nullptr);
  h.advance(seconds(1));
  auto* again = find_action<fsm::Connect>(h.last);
  ASSERT_NE(again, nullptr);
  EXPECT_NE(again->conn, first);
  EXPECT_EQ(h.fsm.state(), SessionState::connect);
}

TEST(BgpFsm, ConnectRetryExpiryAbortsAndRetries) {
  // A SYN that is never answered (e.g. wrong TCP MD5 key on the router).
  Harness h;
  h.on(fsm::Start{});
  ConnectionId first = find_action<fsm::Connect>(h.last)->conn;
  h.advance(seconds(180));
  auto* close = find_action<fsm::Close>(h.last);
  ASSERT_NE(close, nullptr);
  EXPECT_EQ(close->conn, first);
  ASSERT_NE(find_action<fsm::Connect>(h.last), nullptr);
  EXPECT_FALSE(h.fsm.owns(first));
  // A late success of the abandoned attempt is closed.
  h.on(fsm::TcpConnected{first});
  EXPECT_EQ(find_action<fsm::Close>(h.last)->conn, first);
  EXPECT_EQ(h.fsm.state(), SessionState::connect);
}

TEST(BgpFsm, OpenThenKeepaliveEstablishes) {
  Harness h;
  ConnectionId id = h.to_open_sent();
  h.on(fsm::OpenReceived{id, peer_open(64501, "10.25.11.1", 180)});
  EXPECT_EQ(h.fsm.state(), SessionState::open_confirm);
  ASSERT_NE(find_action<fsm::SendKeepalive>(h.last), nullptr);
  h.on(fsm::KeepaliveReceived{id});
  EXPECT_EQ(h.fsm.state(), SessionState::established);
  auto* e = find_action<fsm::Established>(h.last);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->conn, id);
  EXPECT_EQ(e->negotiated.hold_time, 90);  // min(90, 180)
  EXPECT_EQ(e->negotiated.keepalive_time, 30);
  EXPECT_TRUE(e->negotiated.four_octet_as);
  EXPECT_EQ(e->negotiated.families, std::vector<Family>{kIpv4Unicast});
  EXPECT_EQ(h.fsm.established_connection(), id);
  EXPECT_EQ(h.fsm.established_since(), h.now);
  EXPECT_EQ(h.fsm.established_count(), 1u);
  // Idle -> Connect -> OpenSent -> OpenConfirm -> Established.
  EXPECT_EQ(h.fsm.transitions(), 4u);
}

TEST(BgpFsm, KeepaliveIntervalIsAtMostAThirdOfHold) {
  Harness h;
  ConnectionId id = h.to_open_sent();
  h.on(fsm::OpenReceived{id, peer_open(64501, "10.25.11.1", 9)});
  h.on(fsm::KeepaliveReceived{id});
  EXPECT_EQ(h.fsm.negotiated()->hold_time, 9);
  EXPECT_EQ(h.fsm.negotiated()->keepalive_time, 3);
}

struct OpenRejectCase {
  const char* name;
  OpenMessage open;
  uint8_t subcode;
};

TEST(BgpFsm, BadOpenIsRejectedWithNotification) {
  const OpenRejectCase cases[] = {
      {"wrong peer AS", peer_open(64999), err::kBadPeerAs},
      {"AS_TRANS without capability",
       [] {
         auto o = peer_open(4200000000u);
         o.capabilities.four_octet_as.reset();
         return o;
       }(),
       err::kBadPeerAs},
  };
  for (const auto& c : cases) {
    Harness h;
    ConnectionId id = h.to_open_sent();
    h.on(fsm::OpenReceived{id, c.open});
    auto* n = find_action<fsm::SendNotification>(h.last);
    ASSERT_NE(n, nullptr) << c.name;
    EXPECT_EQ(n->notification.code, err::kOpen) << c.name;
    EXPECT_EQ(n->notification.subcode, c.subcode) << c.name;
    EXPECT_NE(find_action<fsm::Close>(h.last), nullptr) << c.name;
    // §8.2.2 OpenSent error: back to Active, retry after the connect-retry timer.
    EXPECT_EQ(h.fsm.state(), SessionState::active) << c.name;
    EXPECT_EQ(h.fsm.last_error()->sent->subcode, c.subcode) << c.name;
  }
}

TEST(BgpFsm, InternalPeerWithOurIdentifierIsRejected) {
  auto c = Harness::config();
  c.peer_asn = 64512;
  Harness h(c);
  ConnectionId id = h.to_open_sent();
  h.on(fsm::OpenReceived{id, peer_open(64512, "10.25.11.11")});
  auto* n = find_action<fsm::SendNotification>(h.last);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->notification.subcode, err::kBadBgpIdentifier);
}

struct UnexpectedCase {
  const char* name;
  SessionState state;
  int message;  // 0 OPEN, 1 KEEPALIVE, 2 UPDATE, 3 ROUTE-REFRESH
  uint8_t subcode;
};

TEST(BgpFsm, UnexpectedMessagesAreFsmErrors) {
  // RFC 6608 §4: the subcode names the state.
  const UnexpectedCase cases[] = {
      {"KEEPALIVE in OpenSent", SessionState::open_sent, 1, err::kUnexpectedInOpenSent},
      {"UPDATE in OpenSent", SessionState::open_sent, 2, err::kUnexpectedInOpenSent},
      {"ROUTE-REFRESH in OpenSent", SessionState::open_sent, 3, err::kUnexpectedInOpenSent},
      {"OPEN in OpenConfirm", SessionState::open_confirm, 0, err::kUnexpectedInOpenConfirm},
      {"UPDATE in OpenConfirm", SessionState::open_confirm, 2, err::kUnexpectedInOpenConfirm},
      {"OPEN in Established", SessionState::established, 0, err::kUnexpectedInEstablished},
  };
  for (const auto& c : cases) {
    Harness h;
    ConnectionId id = h.to_open_sent();
    if (c.state != SessionState::open_sent) h.on(fsm::OpenReceived{id, peer_open()});
    if (c.state == SessionState::established) h.on(fsm::KeepaliveReceived{id});
    ASSERT_EQ(h.fsm.state(), c.state) << c.name;
    switch (c.message) {
      case 0:
        h.on(fsm::OpenReceived{id, peer_open()});
        break;
      case 1:
        h.on(fsm::KeepaliveReceived{id});
        break;
      case 2:
        h.on(fsm::UpdateReceived{id});
        break;
      case 3:
        h.on(fsm::RouteRefreshReceived{id});
        break;
    }
    auto* n = find_action<fsm::SendNotification>(h.last);
    ASSERT_NE(n, nullptr) << c.name;
    EXPECT_EQ(n->notification.code, err::kFsm) << c.name;
    EXPECT_EQ(n->notification.subcode, c.subcode) << c.name;
    EXPECT_NE(find_action<fsm::Close>(h.last), nullptr) << c.name;
    EXPECT_EQ(c.state == SessionState::established,
              find_action<fsm::SessionDown>(h.last) != nullptr)
        << c.name;
  }
}

TEST(BgpFsm, HoldTimerExpiresInOpenSent) {
  Harness h;
  ConnectionId id = h.to_open_sent();
  h.advance(seconds(239));
  EXPECT_EQ(h.fsm.state(), SessionState::open_sent);
  h.advance(seconds(1));
  auto* n = find_action<fsm::SendNotification>(h.last);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->conn, id);
  EXPECT_EQ(n->notification.code, err::kHoldTimerExpired);
}

TEST(BgpFsm, KeepalivesAndHoldTimerInEstablished) {
  Harness h;
  ConnectionId id = h.to_established();
  // KEEPALIVE every 30 s.
  h.advance(seconds(30));
  EXPECT_EQ(count_actions<fsm::SendKeepalive>(h.last), 1u);
  // The peer's KEEPALIVE at 60 s restarts the hold timer (90 s).
  h.advance(seconds(30));
  h.on(fsm::KeepaliveReceived{id});
  h.advance(seconds(30));
  h.advance(seconds(30));
  h.advance(seconds(29));
  EXPECT_EQ(h.fsm.state(), SessionState::established);
  // Nothing received for 90 s: Hold Timer Expired (RFC 4271 §6.5).
  h.advance(seconds(1));
  auto* n = find_action<fsm::SendNotification>(h.last);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->notification.code, err::kHoldTimerExpired);
  ASSERT_NE(find_action<fsm::SessionDown>(h.last), nullptr);
  EXPECT_EQ(h.fsm.state(), SessionState::idle);
  EXPECT_EQ(h.fsm.last_error()->reason, "hold timer expired");
  EXPECT_FALSE(h.fsm.negotiated());
  // AutomaticStart after the idle hold time (5 s).
  h.advance(seconds(4));
  EXPECT_EQ(find_action<fsm::Connect>(h.last), nullptr);
  h.advance(seconds(1));
  EXPECT_NE(find_action<fsm::Connect>(h.last), nullptr);
  EXPECT_EQ(h.fsm.state(), SessionState::connect);
}

TEST(BgpFsm, UpdatesResetHoldAndSentUpdatesDelayKeepalive) {
  Harness h;
  ConnectionId id = h.to_established();
  h.advance(seconds(20));
  h.on(fsm::UpdateSent{id});  // keepalive now due at 50 s
  h.advance(seconds(10));
  EXPECT_EQ(find_action<fsm::SendKeepalive>(h.last), nullptr);
  h.advance(seconds(20));
  EXPECT_NE(find_action<fsm::SendKeepalive>(h.last), nullptr);
  h.on(fsm::UpdateReceived{id});
  h.on(fsm::RouteRefreshReceived{id});
  h.advance(seconds(89));
  EXPECT_EQ(h.fsm.state(), SessionState::established);
}

TEST(BgpFsm, ZeroHoldTimeMeansNoKeepalives) {
  Harness h;
  ConnectionId id = h.to_open_sent();
  h.on(fsm::OpenReceived{id, peer_open(64501, "10.25.11.1", 0)});
  h.on(fsm::KeepaliveReceived{id});
  EXPECT_EQ(h.fsm.negotiated()->hold_time, 0);
  EXPECT_FALSE(h.fsm.next_deadline());
  h.advance(seconds(3600));
  EXPECT_EQ(h.fsm.state(), SessionState::established);
}

TEST(BgpFsm, NotificationFromPeerEndsSession) {
  Harness h;
  ConnectionId id = h.to_established();
  auto n = NotificationMessage::cease(err::kAdministrativeShutdown, "router maintenance");
  h.on(fsm::NotificationReceived{id, n});
  EXPECT_EQ(find_action<fsm::SendNotification>(h.last), nullptr);  // never answered
  EXPECT_NE(find_action<fsm::Close>(h.last), nullptr);
  EXPECT_NE(find_action<fsm::SessionDown>(h.last), nullptr);
  EXPECT_EQ(h.fsm.state(), SessionState::idle);
  ASSERT_TRUE(h.fsm.last_error()->received);
  EXPECT_EQ(h.fsm.last_error()->received->shutdown_communication(), "router maintenance");
}

TEST(BgpFsm, ConnectionLossInEstablishedGoesIdleThenRestarts) {
  Harness h;
  ConnectionId id = h.to_established();
  h.on(fsm::TcpFailed{id, "Connection reset by peer"});
  EXPECT_NE(find_action<fsm::SessionDown>(h.last), nullptr);
  EXPECT_EQ(h.fsm.state(), SessionState::idle);
  h.advance(seconds(5));
  EXPECT_NE(find_action<fsm::Connect>(h.last), nullptr);
}

TEST(BgpFsm, IdleHoldDoublesOnConsecutiveFailuresAndResetsWhenEstablished) {
  Harness h;
  ConnectionId id = h.to_established();
  std::vector<int64_t> waits;
  for (int i = 0; i < 7; ++i) {
    h.on(fsm::TcpFailed{id, "reset"});
    auto wait = std::chrono::duration_cast<seconds>(*h.fsm.next_deadline() - h.now).count();
    waits.push_back(wait);
    h.advance(seconds(wait));
    id = find_action<fsm::Connect>(h.last)->conn;
    h.on(fsm::TcpConnected{id});
    h.on(fsm::OpenReceived{id, peer_open()});
  }
  // Failing from OpenConfirm: 5, 10, 20, 40, 80, then capped at connect-retry (120).
  EXPECT_EQ(waits, (std::vector<int64_t>{5, 10, 20, 40, 80, 120, 120}));
  h.on(fsm::KeepaliveReceived{id});
  EXPECT_EQ(h.fsm.state(), SessionState::established);
  h.on(fsm::TcpFailed{id, "reset"});
  EXPECT_EQ(*h.fsm.next_deadline() - h.now, seconds(5));
}

TEST(BgpFsm, MessageInvalidSendsItsNotification) {
  Harness h;
  ConnectionId id = h.to_established();
  MessageError e{NotificationMessage{err::kUpdate, err::kMalformedAttributeList, {}}, "bad"};
  h.on(fsm::MessageInvalid{id, e});
  auto* n = find_action<fsm::SendNotification>(h.last);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->notification, e.notification);
  EXPECT_EQ(h.fsm.last_error()->reason, "bad");
}

TEST(BgpFsm, StopSendsCeaseAndStaysIdle) {
  Harness h;
  ConnectionId id = h.to_established();
  h.on(fsm::Stop{NotificationMessage::cease(err::kAdministrativeShutdown, "bye")});
  auto* n = find_action<fsm::SendNotification>(h.last);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->conn, id);
  EXPECT_EQ(n->notification.shutdown_communication(), "bye");
  EXPECT_NE(find_action<fsm::SessionDown>(h.last), nullptr);
  EXPECT_EQ(h.fsm.state(), SessionState::idle);
  EXPECT_FALSE(h.fsm.next_deadline());
  h.advance(seconds(3600));
  EXPECT_EQ(find_action<fsm::Connect>(h.last), nullptr);
}

TEST(BgpFsm, StopWithoutNotificationOnlyCloses) {
  // What a graceful restart looks like to the peer: the TCP connection just goes away.
  Harness h;
  h.to_established();
  h.on(fsm::Stop{std::nullopt});
  EXPECT_EQ(find_action<fsm::SendNotification>(h.last), nullptr);
  EXPECT_NE(find_action<fsm::Close>(h.last), nullptr);
}

TEST(BgpFsm, RestartStateBitOnlyUntilFirstEstablished) {
  auto c = Harness::config();
  c.graceful_restart = {true, seconds(120)};
  c.restarting = true;
  Harness h(c);
  ConnectionId id = h.to_established();
  h.on(fsm::TcpFailed{id, "reset"});
  h.advance(seconds(5));
  id = find_action<fsm::Connect>(h.last)->conn;
  h.on(fsm::TcpConnected{id});
  auto* o = find_action<fsm::SendOpen>(h.last);
  ASSERT_NE(o, nullptr);
  EXPECT_FALSE(o->open.capabilities.graceful_restart->restart_state);
}

TEST(BgpFsm, IncomingConnectionRejectedWhenIdleOrEstablished) {
  Harness idle;
  ConnectionId in = idle.fsm.new_connection_id();
  idle.on(fsm::TcpAccepted{in});
  auto* n = find_action<fsm::SendNotification>(idle.last);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->notification.subcode, err::kConnectionRejected);  // RFC 4486
  EXPECT_EQ(idle.fsm.state(), SessionState::idle);

  Harness h;
  ConnectionId out = h.to_established();
  ConnectionId in2 = h.fsm.new_connection_id();
  h.on(fsm::TcpAccepted{in2});
  n = find_action<fsm::SendNotification>(h.last);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->conn, in2);
  EXPECT_EQ(n->notification.subcode, err::kConnectionCollisionResolution);
  EXPECT_EQ(h.fsm.established_connection(), out);
}

// RFC 4486 §4: over the prefix limit the session ends with Cease / Maximum Number of Prefixes
// Reached and the peer stays Idle for the configured time, refusing its connections, before it
// connects again.
TEST(BgpFsm, PrefixLimitCeasesAndHoldsThePeerIdle) {
  Harness h;
  ConnectionId id = h.to_established();
  auto cease = NotificationMessage::max_prefixes(kIpv4Unicast, 1000);
  h.on(fsm::PrefixLimitExceeded{id, cease, "sent more than 1000 ipv4-unicast prefixes",
                                seconds(30)});
  auto* n = find_action<fsm::SendNotification>(h.last);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->conn, id);
  EXPECT_EQ(n->notification, cease);
  EXPECT_NE(find_action<fsm::Close>(h.last), nullptr);
  EXPECT_NE(find_action<fsm::SessionDown>(h.last), nullptr);
  EXPECT_EQ(h.fsm.state(), SessionState::idle);
  ASSERT_TRUE(h.fsm.idle_hold_until());
  EXPECT_EQ(*h.fsm.idle_hold_until(), h.now + seconds(30));
  ASSERT_TRUE(h.fsm.last_error());
  EXPECT_EQ(h.fsm.last_error()->sent, cease);

  // The peer's own reconnect is refused while held.
  ConnectionId in = h.fsm.new_connection_id();
  h.on(fsm::TcpAccepted{in});
  n = find_action<fsm::SendNotification>(h.last);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->notification.subcode, err::kConnectionRejected);
  EXPECT_EQ(h.fsm.state(), SessionState::idle);
  h.advance(seconds(29));
  EXPECT_EQ(find_action<fsm::Connect>(h.last), nullptr);
  h.advance(seconds(1));
  EXPECT_NE(find_action<fsm::Connect>(h.last), nullptr);
  EXPECT_EQ(h.fsm.state(), SessionState::connect);
}

TEST(BgpFsm, PrefixLimitHoldsAPassivePeerToo) {
  auto c = Harness::config();
  c.passive = true;
  Harness h(c);
  h.on(fsm::Start{});
  ConnectionId in = h.fsm.new_connection_id();
  h.on(fsm::TcpAccepted{in});
  h.on(fsm::OpenReceived{in, peer_open()});
  h.on(fsm::KeepaliveReceived{in});
  ASSERT_EQ(h.fsm.state(), SessionState::established);
  h.on(fsm::PrefixLimitExceeded{in, NotificationMessage::max_prefixes(kIpv4Unicast, 10), "over",
                                seconds(5)});
  EXPECT_EQ(h.fsm.state(), SessionState::idle);
  ConnectionId again = h.fsm.new_connection_id();
  h.on(fsm::TcpAccepted{again});
  auto* n = find_action<fsm::SendNotification>(h.last);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->notification.subcode, err::kConnectionRejected);
  h.advance(seconds(5));
  EXPECT_EQ(h.fsm.state(), SessionState::active);
  EXPECT_EQ(find_action<fsm::Connect>(h.last), nullptr);  // passive: waits for the peer
  ConnectionId later = h.fsm.new_connection_id();
  h.on(fsm::TcpAccepted{later});
  EXPECT_EQ(h.fsm.state(), SessionState::open_sent);
}

// §6.8: both sides connected at once; the connection opened by the speaker with the higher BGP
// Identifier survives.
struct CollisionCase {
  const char* name;
  const char* local_id;
  const char* remote_id;
  bool outgoing_survives;
};

TEST(BgpFsm, CollisionKeepsConnectionOfHigherIdentifier) {
  const CollisionCase cases[] = {
      {"local higher", "10.25.11.11", "10.25.11.1", true},
      {"local lower", "10.25.11.11", "10.25.11.200", false},
  };
  for (const auto& c : cases) {
    for (bool incoming_open_first : {false, true}) {
      auto cfg = Harness::config();
      cfg.router_id = *Ipv4Addr::parse(c.local_id);
      Harness h(cfg);
      ConnectionId out = h.to_open_sent();
      ConnectionId in = h.fsm.new_connection_id();
      h.on(fsm::TcpAccepted{in});
      ASSERT_NE(find_action<fsm::SendOpen>(h.last), nullptr) << c.name;
      auto open = peer_open(64501, c.remote_id);
      ConnectionId first = incoming_open_first ? in : out;
      ConnectionId second = incoming_open_first ? out : in;
      h.on(fsm::OpenReceived{first, open});
      EXPECT_EQ(find_action<fsm::Close>(h.last), nullptr) << c.name;  // other still OpenSent
      h.on(fsm::OpenReceived{second, open});
      auto* n = find_action<fsm::SendNotification>(h.last);
      ASSERT_NE(n, nullptr) << c.name;
      EXPECT_EQ(n->notification.subcode, err::kConnectionCollisionResolution) << c.name;
      ConnectionId loser = c.outgoing_survives ? in : out;
      ConnectionId winner = c.outgoing_survives ? out : in;
      EXPECT_EQ(n->conn, loser) << c.name;
      EXPECT_TRUE(h.fsm.owns(winner)) << c.name;
      EXPECT_FALSE(h.fsm.owns(loser)) << c.name;
      EXPECT_EQ(h.fsm.state(), SessionState::open_confirm) << c.name;
      // A collision is not an error worth reporting.
      EXPECT_FALSE(h.fsm.last_error()) << c.name;
      h.on(fsm::KeepaliveReceived{winner});
      EXPECT_EQ(h.fsm.established_connection(), winner) << c.name;
    }
  }
}

TEST(BgpFsm, EstablishedClosesOtherConnections) {
  Harness h;
  ConnectionId out = h.to_open_sent();
  ConnectionId in = h.fsm.new_connection_id();
  h.on(fsm::TcpAccepted{in});
  h.on(fsm::OpenReceived{out, peer_open()});
  h.on(fsm::KeepaliveReceived{out});
  EXPECT_EQ(h.fsm.established_connection(), out);
  auto* n = find_action<fsm::SendNotification>(h.last);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->conn, in);
  EXPECT_FALSE(h.fsm.owns(in));
}

TEST(BgpNegotiation, FamiliesAndCapabilities) {
  auto c = Harness::config();
  c.graceful_restart = {true, seconds(90)};
  auto local = build_open(c, false);
  auto remote = peer_open();
  remote.capabilities.multiprotocol = {kIpv6Unicast, Family{25, 70}};
  GracefulRestartCapability gr;
  gr.notification = true;
  gr.restart_time = 120;
  remote.capabilities.graceful_restart = gr;
  auto n = negotiate(local, remote, seconds(30));
  EXPECT_EQ(n.families, std::vector<Family>{kIpv6Unicast});
  EXPECT_TRUE(n.graceful_notification);
  EXPECT_TRUE(n.local_graceful_restart);
  EXPECT_FALSE(n.enhanced_route_refresh);  // the peer did not send it
  // No multiprotocol capability at all means IPv4 unicast only (RFC 4760 §8).
  remote.capabilities.multiprotocol.clear();
  EXPECT_EQ(negotiate(local, remote, seconds(30)).families, std::vector<Family>{kIpv4Unicast});
  // Without the peer's 4-octet capability, AS_PATH is 2-octet.
  remote.capabilities.four_octet_as.reset();
  EXPECT_FALSE(negotiate(local, remote, seconds(30)).four_octet_as);
}

}  // namespace
}  // namespace netagent::bgp
