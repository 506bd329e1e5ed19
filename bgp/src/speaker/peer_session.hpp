#pragma once
// One configured peer on Boost.Asio: performs the actions of its PeerFsm (connect, send, close),
// feeds socket events and timer expiries back into it, and keeps the peer's Adj-RIB-Out and
// Adj-RIB-In. No thread of its own: everything runs on the Speaker's io_context.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "netagent/bgp/config.hpp"
#include "netagent/bgp/fsm.hpp"
#include "netagent/bgp/rib.hpp"
#include "netagent/bgp/status.hpp"

namespace netagent::bgp {

class PeerSession : public std::enable_shared_from_this<PeerSession> {
 public:
  struct Events {
    std::function<void(const PeerSession&, SessionState from, SessionState to)> state_changed;
    std::function<void(const PeerSession&)> established;
  };

  PeerSession(boost::asio::io_context& io, const InstanceConfig& instance, PeerConfig peer,
              bool restarting, Events events);
  ~PeerSession();
  PeerSession(const PeerSession&) = delete;
  PeerSession& operator=(const PeerSession&) = delete;

  void start();
  // Ends the session: sends `notification` (or none), closes, and calls `done` once every
  // connection is closed. The session never starts again.
  void stop(std::optional<NotificationMessage> notification, std::function<void()> done);
  // An incoming connection from this peer's address.
  void accept(boost::asio::ip::tcp::socket socket);
  // The desired routes: `base` overlaid with `overlay` (either may be null). Sent once the
  // session is Established, as the minimal difference to what was sent before.
  void set_routes(std::shared_ptr<const RouteTable> base,
                  std::shared_ptr<const RouteTable> overlay);

  const std::string& instance() const { return instance_; }
  const PeerConfig& config() const { return peer_; }
  uint32_t local_asn() const { return local_asn_; }
  SessionState state() const { return fsm_.state(); }
  const std::optional<Negotiated>& negotiated() const { return fsm_.negotiated(); }
  PeerStatus status() const;
  std::vector<AdvertisedRoute> advertised() const;
  std::vector<ReceivedRoute> received() const;

 private:
  struct Connection;
  using ConnPtr = std::shared_ptr<Connection>;

  void feed(const FsmEvent& event);
  void execute(const std::vector<FsmAction>& actions);
  void arm_timer();
  void connect(ConnectionId id);
  void read(const ConnPtr& c);
  void process_input(const ConnPtr& c);
  void dispatch(const ConnPtr& c, std::span<const uint8_t> message);
  void send(ConnectionId id, std::vector<uint8_t> bytes, MessageType type, size_t count = 1);
  void write(const ConnPtr& c);
  void close(const ConnPtr& c);
  void finish_close(const ConnPtr& c);
  void on_established(ConnectionId id, const Negotiated& n);
  void schedule_sync();
  void sync_routes();
  void answer_route_refresh(const RouteRefreshMessage& r);
  // After an UPDATE was stored: the warning threshold, or ending the session over the limit.
  void check_prefix_limit(const ConnPtr& c, const AdjRibIn::Applied& applied);
  ConnPtr find(ConnectionId id) const;
  void log_state(SessionState from, SessionState to) const;
  std::string label() const;

  boost::asio::io_context& io_;
  std::string instance_;
  uint32_t local_asn_;
  PeerConfig peer_;
  Events events_;
  PeerFsm fsm_;
  boost::asio::steady_timer timer_;
  uint64_t timer_generation_ = 0;
  std::map<ConnectionId, ConnPtr> conns_;
  bool stopping_ = false;
  std::function<void()> stopped_;

  std::shared_ptr<const RouteTable> base_routes_;
  std::shared_ptr<const RouteTable> overlay_routes_;
  bool sync_scheduled_ = false;
  std::optional<ConnectionId> established_;
  std::optional<AdjRibOut> rib_out_;
  AdjRibIn rib_in_;
  std::optional<IpAddress> local_address_;

  MessageCounters in_;
  MessageCounters out_;
  uint64_t update_errors_ = 0;
  bool prefix_warning_ = false;  // logged for this session; cleared below the threshold
  uint64_t prefix_limit_ceases_ = 0;
  std::optional<std::string> prefix_limit_exceeded_;  // until Established again
  std::map<std::string, uint64_t> notifications_sent_;
};

}  // namespace netagent::bgp
