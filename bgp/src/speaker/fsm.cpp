// RFC 4271 §8.2.2 as a pure state machine. Deviations from the letter of the RFC, each the
// common practice of BIRD/GoBGP: a failed connect attempt waits in Active for the connect-retry
// timer (jittered to [T, 2T) like GoBGP/Cilium) instead of dropping to Idle; a session that
// fails after OpenSent waits an idle-hold time that doubles per consecutive failure
// (DampPeerOscillations, §8.1.1) before starting again.
#include "netagent/bgp/fsm.hpp"

#include <algorithm>

#include "netagent/common/overloaded.hpp"

namespace netagent::bgp {
namespace {

bool is_collision(const std::optional<NotificationMessage>& n) {
  return n && n->code == err::kCease && n->subcode == err::kConnectionCollisionResolution;
}

}  // namespace

std::string_view state_name(SessionState s) {
  switch (s) {
    case SessionState::idle:
      return "Idle";
    case SessionState::connect:
      return "Connect";
    case SessionState::active:
      return "Active";
    case SessionState::open_sent:
      return "OpenSent";
    case SessionState::open_confirm:
      return "OpenConfirm";
    case SessionState::established:
      return "Established";
  }
  return "?";
}

OpenMessage build_open(const FsmConfig& c, bool restarting) {
  OpenMessage o;
  // RFC 6793 §4.1: AS_TRANS in the 2-octet field when the ASN needs 4 octets.
  o.my_as = uint16_t(c.local_asn > 0xffff ? kAsTrans : c.local_asn);
  o.hold_time = uint16_t(std::min<int64_t>(c.hold_time.count(), 0xffff));
  o.router_id = c.router_id;
  auto& caps = o.capabilities;
  caps.multiprotocol = c.families;
  caps.route_refresh = true;
  caps.enhanced_route_refresh = true;
  caps.four_octet_as = c.local_asn;
  if (c.graceful_restart.enabled) {
    // RFC 4724 §3 with the N bit of RFC 8538 §2. The data plane keeps forwarding while the
    // agent restarts, so every family is marked as having its forwarding state preserved.
    GracefulRestartCapability gr;
    gr.restart_state = restarting;
    gr.notification = true;
    gr.restart_time = uint16_t(std::min<int64_t>(c.graceful_restart.restart_time.count(), 0xfff));
    for (const auto& f : c.families)
      gr.families.push_back({f, true});
    caps.graceful_restart = gr;
  }
  return o;
}

PeerFsm::PeerFsm(FsmConfig config)
    : config_(std::move(config)), rng_(std::random_device{}()), restarting_(config_.restarting) {}

bool PeerFsm::owns(ConnectionId conn) const {
  return std::any_of(conns_.begin(), conns_.end(), [&](const Conn& c) { return c.id == conn; });
}

PeerFsm::Conn* PeerFsm::find(ConnectionId id) {
  for (auto& c : conns_) {
    if (c.id == id) return &c;
  }
  return nullptr;
}

std::optional<ConnectionId> PeerFsm::established_connection() const {
  for (const auto& c : conns_) {
    if (c.state == ConnState::established) return c.id;
  }
  return std::nullopt;
}

std::optional<TimePoint> PeerFsm::next_deadline() const {
  std::optional<TimePoint> next;
  auto consider = [&](const std::optional<TimePoint>& t) {
    if (t && (!next || *t < *next)) next = t;
  };
  consider(connect_retry_deadline_);
  consider(idle_hold_deadline_);
  for (const auto& c : conns_) {
    consider(c.hold_deadline);
    consider(c.keepalive_deadline);
  }
  return next;
}

std::chrono::seconds PeerFsm::jittered(std::chrono::seconds t) {
  // Cilium (through GoBGP's connect loop) waits a random time in [T, 2T).
  double r = config_.random ? config_.random() : std::uniform_real_distribution<double>(0, 1)(rng_);
  r = std::clamp(r, 0.0, 0.999);
  return t + std::chrono::seconds(int64_t(double(t.count()) * r));
}

void PeerFsm::arm_connect_retry(TimePoint now) {
  connect_retry_deadline_ = now + jittered(config_.connect_retry);
}

void PeerFsm::start_connect(TimePoint now, Actions& out) {
  Conn c;
  c.id = new_connection_id();
  c.outgoing = true;
  conns_.push_back(c);
  out.push_back(fsm::Connect{c.id});
  arm_connect_retry(now);
}

std::vector<FsmAction> PeerFsm::handle(const FsmEvent& event, TimePoint now) {
  Actions out;
  std::visit(
      Overloaded{
          [&](const fsm::Start&) { on_start(now, out); },
          [&](const fsm::Stop& e) { on_stop(e, now, out); },
          [&](const fsm::TimerTick&) { on_timers(now, out); },
          [&](const fsm::TcpConnected& e) { on_tcp_connected(e, now, out); },
          [&](const fsm::TcpAccepted& e) { on_tcp_accepted(e, now, out); },
          [&](const fsm::TcpFailed& e) { on_tcp_failed(e, now, out); },
          [&](const fsm::OpenReceived& e) {
            Conn* c = find(e.conn);
            if (!c || c->state == ConnState::connecting) return;
            if (c->state != ConnState::open_sent) {
              fsm_error(*c, now, out);
              return;
            }
            on_open(*c, e.open, now, out);
          },
          [&](const fsm::KeepaliveReceived& e) {
            Conn* c = find(e.conn);
            if (c) on_keepalive(*c, now, out);
          },
          [&](const fsm::UpdateReceived& e) { on_established_message(e.conn, now, out); },
          [&](const fsm::RouteRefreshReceived& e) { on_established_message(e.conn, now, out); },
          [&](const fsm::NotificationReceived& e) {
            drop(e.conn, std::nullopt, e.notification,
                 "received NOTIFICATION " + e.notification.description(), now, out);
          },
          [&](const fsm::MessageInvalid& e) {
            drop(e.conn, e.error.notification, std::nullopt, e.error.reason, now, out);
          },
          [&](const fsm::PrefixLimitExceeded& e) { on_prefix_limit(e, now, out); },
          [&](const fsm::UpdateSent& e) {
            Conn* c = find(e.conn);
            if (c && c->state == ConnState::established && c->keepalive_deadline) {
              c->keepalive_deadline = now + std::chrono::seconds(c->negotiated->keepalive_time);
            }
          },
      },
      event);
  update_state(out);
  return out;
}

void PeerFsm::on_start(TimePoint now, Actions& out) {
  if (started_) return;
  started_ = true;
  idle_hold_deadline_.reset();
  // Passive peers wait in Active for the peer's connection (§8.2.2, Event 4).
  if (!config_.passive) start_connect(now, out);
}

void PeerFsm::on_stop(const fsm::Stop& e, TimePoint now, Actions& out) {
  started_ = false;
  connect_retry_deadline_.reset();
  idle_hold_deadline_.reset();
  for (const auto& c : conns_) {
    if (c.state != ConnState::connecting && e.notification) {
      out.push_back(fsm::SendNotification{c.id, *e.notification});
    }
    out.push_back(fsm::Close{c.id});
    if (c.state == ConnState::established) {
      out.push_back(fsm::SessionDown{c.id, "stopped"});
    }
  }
  if (!conns_.empty() && e.notification) {
    last_error_ = LastError{"stopped: sent " + e.notification->description(), e.notification,
                            std::nullopt, now};
  }
  conns_.clear();
  negotiated_.reset();
  established_since_.reset();
}

void PeerFsm::on_tcp_connected(const fsm::TcpConnected& e, TimePoint now, Actions& out) {
  Conn* c = find(e.conn);
  if (!c || c->state != ConnState::connecting) {
    out.push_back(fsm::Close{e.conn});  // an attempt we gave up on
    return;
  }
  // §8.2.2 Connect, Event 16: stop ConnectRetryTimer, send OPEN, large hold timer.
  c->state = ConnState::open_sent;
  c->hold_deadline = now + config_.open_hold_time;
  connect_retry_deadline_.reset();
  out.push_back(fsm::SendOpen{c->id, build_open(config_, restarting_)});
}

void PeerFsm::on_tcp_accepted(const fsm::TcpAccepted& e, TimePoint now, Actions& out) {
  bool established = established_connection().has_value();
  bool idle = !started_ || (conns_.empty() && idle_hold_deadline_);
  if (idle || established || conns_.size() >= 2) {
    // RFC 4486 §4: Connection Rejected when we do not take the connection; §6.8: a collision
    // with an Established session closes the new connection.
    uint8_t sub = established ? err::kConnectionCollisionResolution : err::kConnectionRejected;
    out.push_back(fsm::SendNotification{e.conn, NotificationMessage::cease(sub)});
    out.push_back(fsm::Close{e.conn});
    return;
  }
  Conn c;
  c.id = e.conn;
  c.outgoing = false;
  c.state = ConnState::open_sent;
  c.hold_deadline = now + config_.open_hold_time;
  conns_.push_back(c);
  out.push_back(fsm::SendOpen{c.id, build_open(config_, restarting_)});
}

void PeerFsm::on_tcp_failed(const fsm::TcpFailed& e, TimePoint now, Actions& out) {
  Conn* c = find(e.conn);
  if (!c) return;
  if (c->state == ConnState::connecting) {
    // Connect failed: wait in Active for the connect-retry timer.
    last_error_ = LastError{"connect: " + e.reason, std::nullopt, std::nullopt, now};
    conns_.erase(conns_.begin() + (c - conns_.data()));
    if (started_ && !connect_retry_deadline_ && !config_.passive) arm_connect_retry(now);
    return;
  }
  drop(e.conn, std::nullopt, std::nullopt, "connection lost: " + e.reason, now, out);
}

void PeerFsm::on_established_message(ConnectionId id, TimePoint now, Actions& out) {
  Conn* c = find(id);
  if (!c || c->state == ConnState::connecting) return;
  if (c->state != ConnState::established) {
    fsm_error(*c, now, out);  // RFC 6608: UPDATE or ROUTE-REFRESH before Established
    return;
  }
  if (c->hold_deadline) c->hold_deadline = now + std::chrono::seconds(c->negotiated->hold_time);
}

void PeerFsm::on_timers(TimePoint now, Actions& out) {
  if (idle_hold_deadline_ && now >= *idle_hold_deadline_) {
    // AutomaticStart after the idle hold time.
    idle_hold_deadline_.reset();
    if (started_ && conns_.empty() && !config_.passive) start_connect(now, out);
  }
  if (connect_retry_deadline_ && now >= *connect_retry_deadline_) {
    // §8.2.2 Connect/Active, Event 9: drop the attempt in progress and try again.
    connect_retry_deadline_.reset();
    bool opened = std::any_of(conns_.begin(), conns_.end(),
                              [](const Conn& c) { return c.state != ConnState::connecting; });
    for (auto it = conns_.begin(); it != conns_.end();) {
      if (it->state == ConnState::connecting) {
        out.push_back(fsm::Close{it->id});
        it = conns_.erase(it);
      } else {
        ++it;
      }
    }
    if (started_ && !opened && !config_.passive) start_connect(now, out);
  }
  std::vector<ConnectionId> ids;
  for (const auto& c : conns_)
    ids.push_back(c.id);
  for (ConnectionId id : ids) {
    Conn* c = find(id);
    if (!c) continue;
    if (c->hold_deadline && now >= *c->hold_deadline) {
      // §6.5: Hold Timer Expired.
      drop(id, NotificationMessage{err::kHoldTimerExpired, 0, {}}, std::nullopt,
           "hold timer expired", now, out);
      continue;
    }
    if (c->keepalive_deadline && now >= *c->keepalive_deadline) {
      out.push_back(fsm::SendKeepalive{id});
      c->keepalive_deadline = now + std::chrono::seconds(c->negotiated->keepalive_time);
    }
  }
}

void PeerFsm::on_open(Conn& conn, const OpenMessage& open, TimePoint now, Actions& out) {
  ConnectionId id = conn.id;
  bool conn_outgoing = conn.outgoing;
  if (auto e = check_open(open, config_.peer_asn, config_.local_asn, config_.router_id)) {
    drop(id, e->notification, std::nullopt, e->reason, now, out);
    return;
  }
  Negotiated n = negotiate(build_open(config_, restarting_), open, config_.keepalive_time);
  conn.remote_open = open;
  conn.negotiated = n;
  conn.state = ConnState::open_confirm;
  out.push_back(fsm::SendKeepalive{id});
  if (n.hold_time != 0) {
    conn.hold_deadline = now + std::chrono::seconds(n.hold_time);
    conn.keepalive_deadline = now + std::chrono::seconds(n.keepalive_time);
  } else {
    conn.hold_deadline.reset();
    conn.keepalive_deadline.reset();
  }

  // §6.8 connection collision detection, now that the peer's BGP Identifier is known.
  std::vector<Conn> others;
  for (const auto& o : conns_) {
    if (o.id != id) others.push_back(o);
  }
  for (const auto& o : others) {
    if (o.state == ConnState::connecting) {
      out.push_back(fsm::Close{o.id});  // our own attempt is no longer needed
      conns_.erase(
          std::find_if(conns_.begin(), conns_.end(), [&](const Conn& c) { return c.id == o.id; }));
    } else if (o.state == ConnState::established) {
      drop(id, NotificationMessage::cease(err::kConnectionCollisionResolution), std::nullopt,
           "connection collision with the established session", now, out);
      return;
    } else if (o.state == ConnState::open_confirm) {
      // Keep the connection opened by the speaker with the higher BGP Identifier.
      bool keep_outgoing = config_.router_id.value > open.router_id.value;
      ConnectionId loser;
      if (o.outgoing == conn_outgoing) {
        loser = std::min(o.id, id);  // both from one side: keep the newer
      } else {
        loser = (o.outgoing == keep_outgoing) ? id : o.id;
      }
      drop(loser, NotificationMessage::cease(err::kConnectionCollisionResolution), std::nullopt,
           "connection collision resolution", now, out);
      if (loser == id) return;
    }
  }
}

void PeerFsm::on_keepalive(Conn& conn, TimePoint now, Actions& out) {
  switch (conn.state) {
    case ConnState::connecting:
      return;
    case ConnState::open_sent:
      fsm_error(conn, now, out);  // RFC 6608: KEEPALIVE before OPEN
      return;
    case ConnState::established:
      if (conn.hold_deadline) {
        conn.hold_deadline = now + std::chrono::seconds(conn.negotiated->hold_time);
      }
      return;
    case ConnState::open_confirm:
      break;
  }
  // §8.2.2 OpenConfirm, Event 26: Established.
  ConnectionId id = conn.id;
  conn.state = ConnState::established;
  if (conn.hold_deadline)
    conn.hold_deadline = now + std::chrono::seconds(conn.negotiated->hold_time);
  negotiated_ = conn.negotiated;
  established_since_ = now;
  ++established_count_;
  consecutive_failures_ = 0;
  restarting_ = false;
  connect_retry_deadline_.reset();
  Negotiated n = *conn.negotiated;
  // Any other connection loses (§6.8).
  for (auto it = conns_.begin(); it != conns_.end();) {
    if (it->id == id) {
      ++it;
      continue;
    }
    if (it->state != ConnState::connecting) {
      out.push_back(fsm::SendNotification{
          it->id, NotificationMessage::cease(err::kConnectionCollisionResolution)});
    }
    out.push_back(fsm::Close{it->id});
    it = conns_.erase(it);
  }
  out.push_back(fsm::Established{id, std::move(n)});
}

void PeerFsm::on_prefix_limit(const fsm::PrefixLimitExceeded& e, TimePoint now, Actions& out) {
  if (!find(e.conn)) return;
  // Any other connection (a collision being resolved) goes too: the peer is held Idle.
  for (auto it = conns_.begin(); it != conns_.end();) {
    if (it->id == e.conn) {
      ++it;
      continue;
    }
    if (it->state != ConnState::connecting) {
      out.push_back(
          fsm::SendNotification{it->id, NotificationMessage::cease(err::kConnectionRejected)});
    }
    out.push_back(fsm::Close{it->id});
    it = conns_.erase(it);
  }
  connect_retry_deadline_.reset();
  drop(e.conn, e.notification, std::nullopt, e.reason, now, out, e.idle_hold);
}

void PeerFsm::fsm_error(Conn& c, TimePoint now, Actions& out) {
  // RFC 6608 §4 subcodes name the state the unexpected message arrived in.
  uint8_t sub = c.state == ConnState::open_sent      ? err::kUnexpectedInOpenSent
                : c.state == ConnState::open_confirm ? err::kUnexpectedInOpenConfirm
                                                     : err::kUnexpectedInEstablished;
  NotificationMessage n{err::kFsm, sub, {}};
  drop(c.id, n, std::nullopt, "unexpected message: " + n.description(), now, out);
}

void PeerFsm::drop(ConnectionId id, std::optional<NotificationMessage> sent,
                   std::optional<NotificationMessage> received, const std::string& reason,
                   TimePoint now, Actions& out, std::optional<std::chrono::seconds> idle_hold) {
  Conn* c = find(id);
  if (!c) return;
  bool was_established = c->state == ConnState::established;
  bool was_open_sent = c->state == ConnState::open_sent;
  if (sent && c->state != ConnState::connecting) {
    out.push_back(fsm::SendNotification{id, *sent});
  }
  out.push_back(fsm::Close{id});
  if (was_established) {
    out.push_back(fsm::SessionDown{id, reason});
    negotiated_.reset();
    established_since_.reset();
  }
  if (!is_collision(sent)) last_error_ = LastError{reason, sent, received, now};
  conns_.erase(conns_.begin() + (c - conns_.data()));
  if (!conns_.empty() || !started_) return;
  if (idle_hold) {
    ++consecutive_failures_;
    connect_retry_deadline_.reset();
    idle_hold_deadline_ = now + *idle_hold;
    return;
  }
  if (was_open_sent && !received) {
    // §8.2.2 OpenSent, Event 18: back to Active with the connect-retry timer.
    if (!config_.passive) arm_connect_retry(now);
    return;
  }
  // A passive peer only waits for the peer: it accepts a new connection right away (damping a
  // passive side would only refuse the peer's reconnects).
  if (config_.passive) return;
  // Idle, then AutomaticStart after an idle hold time that grows with each failure.
  auto hold = config_.idle_hold_time * (1 << std::min(consecutive_failures_, 10u));
  hold = std::min(std::max(hold, std::chrono::seconds(1)),
                  std::max(config_.connect_retry, config_.idle_hold_time));
  ++consecutive_failures_;
  idle_hold_deadline_ = now + hold;
}

void PeerFsm::update_state(Actions& out) {
  SessionState s = SessionState::idle;
  if (started_) {
    if (conns_.empty()) {
      s = idle_hold_deadline_ ? SessionState::idle : SessionState::active;
    } else {
      ConnState best = ConnState::connecting;
      for (const auto& c : conns_)
        best = std::max(best, c.state);
      switch (best) {
        case ConnState::connecting:
          s = SessionState::connect;
          break;
        case ConnState::open_sent:
          s = SessionState::open_sent;
          break;
        case ConnState::open_confirm:
          s = SessionState::open_confirm;
          break;
        case ConnState::established:
          s = SessionState::established;
          break;
      }
    }
  }
  if (s != state_) {
    out.push_back(fsm::StateChanged{state_, s});
    state_ = s;
    ++transitions_;
  }
}

}  // namespace netagent::bgp
