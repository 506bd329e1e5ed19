#pragma once
// The BGP finite state machine of one peer (RFC 4271 §8), pure: events in, actions out, and the
// current time passed with every event. No sockets and no timers live here; the session layer
// performs the actions (connect, send, close), feeds back what happened, and calls handle()
// with TimerTick at next_deadline().
//
// One peer may briefly have two connections (ours and the peer's) until connection collision
// detection (§6.8) keeps one. The peer-level state is that of its most advanced connection.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "netagent/bgp/codec.hpp"
#include "netagent/bgp/negotiation.hpp"

namespace netagent::bgp {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

enum class SessionState : uint8_t { idle, connect, active, open_sent, open_confirm, established };
std::string_view state_name(SessionState s);  // "Idle", "Connect", ... as in RFC 4271 §8.2.2

using ConnectionId = uint64_t;

struct GracefulRestartConfig {
  bool enabled = false;
  std::chrono::seconds restart_time{120};  // Cilium's default
  bool operator==(const GracefulRestartConfig&) const = default;
};

struct FsmConfig {
  uint32_t local_asn = 0;
  Ipv4Addr router_id;
  uint32_t peer_asn = 0;
  std::chrono::seconds hold_time{90};  // defaults as Cilium's
  std::chrono::seconds keepalive_time{30};
  std::chrono::seconds connect_retry{120};  // jittered to [T, 2T) like Cilium/GoBGP
  // First wait in Idle after a session failed before starting again; doubled on each
  // consecutive failure up to connect_retry, reset once Established (RFC 4271 §8.1.1
  // DampPeerOscillations).
  std::chrono::seconds idle_hold_time{5};
  // Hold timer while waiting for the peer's OPEN (RFC 4271 §8.2.2 suggests 4 minutes).
  std::chrono::seconds open_hold_time{240};
  bool passive = false;  // never connect out; wait for the peer
  std::vector<Family> families{kIpv4Unicast, kIpv6Unicast};
  GracefulRestartConfig graceful_restart;
  // Set the Restart State bit in OPENs until the first session is Established: this speaker
  // has restarted and the peer may hold our stale routes (RFC 4724 §4.1).
  bool restarting = false;
  // Uniform random number in [0, 1) for the connect-retry jitter; nullptr = internal PRNG.
  std::function<double()> random;
};

// The OPEN this speaker sends for `config` (4-octet AS, multiprotocol, route refresh, enhanced
// route refresh, graceful restart with the N bit when enabled).
OpenMessage build_open(const FsmConfig& config, bool restarting);

namespace fsm {
// ---- Events ----
struct Start {};  // ManualStart / AutomaticStart (passive per config)
// ManualStop: NOTIFICATION to send on every opened connection; nullopt closes the connections
// without one (what a crashing speaker looks like, so that a Graceful Restart peer keeps routes).
struct Stop {
  std::optional<NotificationMessage> notification;
};
struct TimerTick {};  // time passed; deadlines are checked against now
struct TcpConnected {
  ConnectionId conn;
};  // our connect succeeded (Event 16)
struct TcpAccepted {
  ConnectionId conn;
};                  // the peer's connection arrived (Event 17)
struct TcpFailed {  // connect failed or connection lost (Event 18)
  ConnectionId conn;
  std::string reason;
};
struct OpenReceived {
  ConnectionId conn;
  OpenMessage open;
};
struct KeepaliveReceived {
  ConnectionId conn;
};
struct UpdateReceived {
  ConnectionId conn;
};
struct RouteRefreshReceived {
  ConnectionId conn;
};
struct NotificationReceived {
  ConnectionId conn;
  NotificationMessage notification;
};
// A received message could not be decoded (or an UPDATE needs session reset, RFC 7606).
struct MessageInvalid {
  ConnectionId conn;
  MessageError error;
};
// The session layer sent an UPDATE: restarts the keepalive timer (RFC 4271 §10).
struct UpdateSent {
  ConnectionId conn;
};
// The peer sent more prefixes than it may (RFC 4486 §4): send `notification` (Cease / Maximum
// Number of Prefixes Reached), close every connection, and stay Idle for `idle_hold` (incoming
// connections are refused meanwhile, passive peers included) before starting again.
struct PrefixLimitExceeded {
  ConnectionId conn;
  NotificationMessage notification;
  std::string reason;
  std::chrono::seconds idle_hold{60};
};

// ---- Actions ----
struct Connect {
  ConnectionId conn;
};  // open a TCP connection to the peer
struct SendOpen {
  ConnectionId conn;
  OpenMessage open;
};
struct SendKeepalive {
  ConnectionId conn;
};
struct SendNotification {
  ConnectionId conn;
  NotificationMessage notification;
};
struct Close {
  ConnectionId conn;
};  // close once queued data has been written
struct Established {
  ConnectionId conn;
  Negotiated negotiated;
};
struct SessionDown {
  ConnectionId conn;
  std::string reason;
};
struct StateChanged {
  SessionState from;
  SessionState to;
};
}  // namespace fsm

using FsmEvent =
    std::variant<fsm::Start, fsm::Stop, fsm::TimerTick, fsm::TcpConnected, fsm::TcpAccepted,
                 fsm::TcpFailed, fsm::OpenReceived, fsm::KeepaliveReceived, fsm::UpdateReceived,
                 fsm::RouteRefreshReceived, fsm::NotificationReceived, fsm::MessageInvalid,
                 fsm::UpdateSent, fsm::PrefixLimitExceeded>;
using FsmAction =
    std::variant<fsm::Connect, fsm::SendOpen, fsm::SendKeepalive, fsm::SendNotification, fsm::Close,
                 fsm::Established, fsm::SessionDown, fsm::StateChanged>;

// Why the last session ended or could not start, for status displays.
struct LastError {
  std::string reason;
  std::optional<NotificationMessage> sent;
  std::optional<NotificationMessage> received;
  TimePoint at{};
};

class PeerFsm {
 public:
  explicit PeerFsm(FsmConfig config);

  // Ids for connections: the session layer takes one for each accepted socket; the FSM takes
  // them for its own Connect actions.
  ConnectionId new_connection_id() { return next_id_++; }

  std::vector<FsmAction> handle(const FsmEvent& event, TimePoint now);

  SessionState state() const { return state_; }
  // When handle(TimerTick) must next be called; nullopt when no timer runs.
  std::optional<TimePoint> next_deadline() const;
  std::optional<ConnectionId> established_connection() const;
  const std::optional<Negotiated>& negotiated() const { return negotiated_; }
  std::optional<TimePoint> established_since() const { return established_since_; }
  uint64_t transitions() const { return transitions_; }
  uint64_t established_count() const { return established_count_; }
  const std::optional<LastError>& last_error() const { return last_error_; }
  // While Idle after a failure: when the session may start again (and accept connections).
  const std::optional<TimePoint>& idle_hold_until() const { return idle_hold_deadline_; }
  const FsmConfig& config() const { return config_; }
  // Whether `conn` is a connection this FSM currently tracks (stale socket events are dropped).
  bool owns(ConnectionId conn) const;

 private:
  enum class ConnState : uint8_t { connecting, open_sent, open_confirm, established };
  struct Conn {
    ConnectionId id = 0;
    bool outgoing = false;
    ConnState state = ConnState::connecting;
    std::optional<OpenMessage> remote_open;
    std::optional<Negotiated> negotiated;
    std::optional<TimePoint> hold_deadline;
    std::optional<TimePoint> keepalive_deadline;
  };
  using Actions = std::vector<FsmAction>;

  Conn* find(ConnectionId id);
  void start_connect(TimePoint now, Actions& out);
  void arm_connect_retry(TimePoint now);
  // One handler per event (handle() dispatches).
  void on_start(TimePoint now, Actions& out);
  void on_stop(const fsm::Stop& e, TimePoint now, Actions& out);
  void on_tcp_connected(const fsm::TcpConnected& e, TimePoint now, Actions& out);
  void on_tcp_accepted(const fsm::TcpAccepted& e, TimePoint now, Actions& out);
  void on_tcp_failed(const fsm::TcpFailed& e, TimePoint now, Actions& out);
  // An UPDATE or ROUTE-REFRESH: only valid once Established; restarts the hold timer.
  void on_established_message(ConnectionId id, TimePoint now, Actions& out);
  void on_timers(TimePoint now, Actions& out);
  void on_open(Conn& c, const OpenMessage& open, TimePoint now, Actions& out);
  void on_keepalive(Conn& c, TimePoint now, Actions& out);
  void on_prefix_limit(const fsm::PrefixLimitExceeded& e, TimePoint now, Actions& out);
  // Ends one connection: optionally sends a NOTIFICATION, closes, and if nothing is left,
  // decides where the peer goes next (Active or Idle with automatic restart).
  // `idle_hold`, when given, replaces the damped idle hold time (and applies to passive peers).
  void drop(ConnectionId id, std::optional<NotificationMessage> sent,
            std::optional<NotificationMessage> received, const std::string& reason, TimePoint now,
            Actions& out, std::optional<std::chrono::seconds> idle_hold = std::nullopt);
  void fsm_error(Conn& c, TimePoint now, Actions& out);
  void update_state(Actions& out);
  std::chrono::seconds jittered(std::chrono::seconds t);

  FsmConfig config_;
  std::mt19937_64 rng_;
  ConnectionId next_id_ = 1;
  bool started_ = false;
  bool restarting_;
  SessionState state_ = SessionState::idle;
  std::vector<Conn> conns_;
  std::optional<TimePoint> connect_retry_deadline_;
  std::optional<TimePoint> idle_hold_deadline_;
  unsigned consecutive_failures_ = 0;
  std::optional<Negotiated> negotiated_;
  std::optional<TimePoint> established_since_;
  uint64_t transitions_ = 0;
  uint64_t established_count_ = 0;
  std::optional<LastError> last_error_;
};

}  // namespace netagent::bgp
