#include "peer_session.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "asio_address.hpp"
#include "netagent/common/overloaded.hpp"
#include "socket_options.hpp"

namespace netagent::bgp {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr auto kDrainTime = std::chrono::seconds(2);

FsmConfig fsm_config(const InstanceConfig& in, const PeerConfig& p, bool restarting) {
  FsmConfig c;
  c.local_asn = in.local_asn;
  c.router_id = in.router_id;
  c.peer_asn = p.peer_asn;
  c.hold_time = p.hold_time;
  c.keepalive_time = p.keepalive_time;
  c.connect_retry = p.connect_retry;
  c.passive = p.passive;
  c.families = p.families;
  c.graceful_restart = p.graceful_restart;
  c.restarting = restarting && p.graceful_restart.enabled;
  return c;
}

// Number of messages in a buffer of back-to-back messages (for the counters).
size_t count_messages(std::span<const uint8_t> b) {
  size_t n = 0;
  for (size_t i = 0; i + kHeaderSize <= b.size(); ++n)
    i += size_t(b[i + 16]) << 8 | b[i + 17];
  return n;
}

}  // namespace

struct PeerSession::Connection {
  Connection(asio::io_context& io, ConnectionId id) : id(id), socket(io), drain_timer(io) {}
  ConnectionId id;
  tcp::socket socket;
  asio::steady_timer drain_timer;
  bool connecting = false;
  bool closing = false;   // close once the write queue is empty
  bool draining = false;  // FIN sent; reading until the peer closes or the drain timer fires
  bool closed = false;
  bool broken = false;  // the socket failed: nothing more can be sent or drained
  std::vector<uint8_t> rbuf;
  size_t rlen = 0;
  std::vector<uint8_t> pending;  // to write next
  std::vector<uint8_t> writing;  // being written
  SessionContext ctx;
};

PeerSession::PeerSession(asio::io_context& io, const InstanceConfig& instance, PeerConfig peer,
                         bool restarting, Events events)
    : io_(io),
      instance_(instance.name),
      local_asn_(instance.local_asn),
      peer_(std::move(peer)),
      events_(std::move(events)),
      fsm_(fsm_config(instance, peer_, restarting)),
      timer_(io),
      rib_in_(peer_.prefix_limit.max) {}

PeerSession::~PeerSession() {
  for (auto& [id, c] : conns_) {
    boost::system::error_code ec;
    c->socket.close(ec);
  }
}

std::string PeerSession::label() const {
  return instance_ + "/" + peer_.name;
}

void PeerSession::start() {
  feed(fsm::Start{});
}

void PeerSession::stop(std::optional<NotificationMessage> notification,
                       std::function<void()> done) {
  stopping_ = true;
  stopped_ = std::move(done);
  feed(fsm::Stop{std::move(notification)});
  timer_.cancel();
  if (conns_.empty() && stopped_) {
    auto cb = std::move(stopped_);
    stopped_ = nullptr;
    asio::post(io_, std::move(cb));
  }
}

void PeerSession::accept(tcp::socket socket) {
  if (stopping_) return;
  ConnectionId id = fsm_.new_connection_id();
  auto c = std::make_shared<Connection>(io_, id);
  c->socket = std::move(socket);
  c->ctx = SessionContext{true, peer_.ebgp(local_asn_)};
  boost::system::error_code ec;
  c->socket.set_option(tcp::no_delay(true), ec);
  bool v6 = c->socket.local_endpoint(ec).address().is_v6();
  int ttl = peer_.ebgp_multihop_ttl.value_or(peer_.ebgp(local_asn_) ? 1 : 0);
  if (ttl > 0) {
    // For an IPv4 peer on a dual-stack socket both options apply; one may fail.
    auto st = set_ttl(c->socket.native_handle(), v6, ttl);
    if (v6 && peer_.address.is_v4()) st = set_ttl(c->socket.native_handle(), false, ttl);
    if (!st) spdlog::warn("bgp {}: {}", label(), st.error().str());
  }
  conns_[id] = c;
  feed(fsm::TcpAccepted{id});
  if (!c->closed) read(c);
}

void PeerSession::set_routes(std::shared_ptr<const RouteTable> base,
                             std::shared_ptr<const RouteTable> overlay) {
  base_routes_ = std::move(base);
  overlay_routes_ = std::move(overlay);
  schedule_sync();
}

PeerSession::ConnPtr PeerSession::find(ConnectionId id) const {
  auto it = conns_.find(id);
  return it == conns_.end() ? nullptr : it->second;
}

void PeerSession::feed(const FsmEvent& event) {
  execute(fsm_.handle(event, Clock::now()));
  arm_timer();
}

void PeerSession::arm_timer() {
  auto next = fsm_.next_deadline();
  ++timer_generation_;
  if (!next) {
    timer_.cancel();
    return;
  }
  timer_.expires_at(*next);
  timer_.async_wait(
      [self = shared_from_this(), gen = timer_generation_](const boost::system::error_code& ec) {
        if (ec || gen != self->timer_generation_) return;
        self->feed(fsm::TimerTick{});
      });
}

void PeerSession::execute(const std::vector<FsmAction>& actions) {
  for (const auto& action : actions) {
    std::visit(Overloaded{
                   [&](const fsm::Connect& a) { connect(a.conn); },
                   [&](const fsm::SendOpen& a) { send(a.conn, encode(a.open), MessageType::open); },
                   [&](const fsm::SendKeepalive& a) {
                     send(a.conn, encode_keepalive(), MessageType::keepalive);
                   },
                   [&](const fsm::SendNotification& a) {
                     auto info = describe(a.notification);
                     spdlog::warn("bgp {}: sending NOTIFICATION {}{}", label(), info.description,
                                  info.communication ? " \"" + *info.communication + "\"" : "");
                     ++notifications_sent_[info.description];
                     send(a.conn, encode(a.notification), MessageType::notification);
                   },
                   [&](const fsm::Close& a) {
                     if (auto c = find(a.conn)) close(c);
                   },
                   [&](const fsm::Established& a) { on_established(a.conn, a.negotiated); },
                   [&](const fsm::SessionDown& a) {
                     spdlog::info("bgp {}: session down: {}", label(), a.reason);
                     established_.reset();
                     rib_out_.reset();
                     rib_in_.clear();
                     prefix_warning_ = false;
                     local_address_.reset();
                   },
                   [&](const fsm::StateChanged& a) {
                     log_state(a.from, a.to);
                     if (events_.state_changed) events_.state_changed(*this, a.from, a.to);
                   },
               },
               action);
  }
}

void PeerSession::log_state(SessionState from, SessionState to) const {
  spdlog::info("bgp {} ({} AS{}): {} -> {}", label(), peer_.address.str(), peer_.peer_asn,
               state_name(from), state_name(to));
}

void PeerSession::connect(ConnectionId id) {
  auto c = std::make_shared<Connection>(io_, id);
  c->connecting = true;
  c->ctx = SessionContext{true, peer_.ebgp(local_asn_)};
  conns_[id] = c;
  tcp::endpoint remote(to_asio(peer_.address), peer_.port);
  boost::system::error_code ec;
  auto fail = [&](const std::string& what) {
    spdlog::warn("bgp {}: {}", label(), what);
    asio::post(io_, [self = shared_from_this(), id, what] {
      auto c = self->find(id);
      if (!c || c->closed) return;
      c->broken = true;
      self->feed(fsm::TcpFailed{id, what});
      self->finish_close(c);
    });
  };
  c->socket.open(remote.protocol(), ec);
  if (ec) return fail("socket: " + ec.message());
  int fd = c->socket.native_handle();
  bool v6 = remote.protocol() == tcp::v6();
  c->socket.set_option(tcp::no_delay(true), ec);
  if (peer_.local_address) {
    c->socket.bind(tcp::endpoint(to_asio(*peer_.local_address), 0), ec);
    if (ec) return fail("bind " + peer_.local_address->str() + ": " + ec.message());
  }
  // RFC 2385: the key must be in place before the SYN.
  if (!peer_.md5_password.empty()) {
    auto st = set_tcp_md5(fd, v6, peer_.address, peer_.md5_password);
    if (!st) return fail(st.error().str());
  }
  // Directly connected eBGP uses TTL 1 (Cilium's eBGPMultihopTTL default), multihop the
  // configured TTL; internal sessions keep the system default.
  int ttl = peer_.ebgp_multihop_ttl.value_or(peer_.ebgp(local_asn_) ? 1 : 0);
  if (ttl > 0) {
    auto st = set_ttl(fd, v6, ttl);
    if (!st) return fail(st.error().str());
  }
  c->socket.async_connect(remote,
                          [self = shared_from_this(), c](const boost::system::error_code& ec) {
                            if (c->closed) return;
                            c->connecting = false;
                            if (ec) {
                              c->broken = true;
                              self->feed(fsm::TcpFailed{c->id, ec.message()});
                              self->finish_close(c);
                              return;
                            }
                            self->feed(fsm::TcpConnected{c->id});
                            if (!c->closed) self->read(c);
                          });
}

void PeerSession::read(const ConnPtr& c) {
  if (c->rbuf.size() - c->rlen < kMaxMessageSize) {
    c->rbuf.resize(std::max<size_t>(c->rbuf.size() * 2, 64 * 1024));
  }
  c->socket.async_read_some(
      asio::buffer(c->rbuf.data() + c->rlen, c->rbuf.size() - c->rlen),
      [self = shared_from_this(), c](const boost::system::error_code& ec, size_t n) {
        if (c->closed) return;
        if (c->draining) {
          // Waiting for the peer to close after our NOTIFICATION; its data no longer matters.
          if (ec) {
            self->finish_close(c);
          } else {
            self->read(c);
          }
          return;
        }
        if (ec) {
          std::string why = ec == asio::error::eof ? "closed by peer" : ec.message();
          c->broken = true;
          self->feed(fsm::TcpFailed{c->id, why});
          self->finish_close(c);
          return;
        }
        c->rlen += n;
        self->process_input(c);
        if (!c->closed && !c->draining) self->read(c);
      });
}

void PeerSession::process_input(const ConnPtr& c) {
  size_t off = 0;
  while (c->rlen - off >= kHeaderSize && !c->closing && !c->closed) {
    std::span<const uint8_t> avail(c->rbuf.data() + off, c->rlen - off);
    auto h = decode_header(avail);
    if (!h) {
      feed(fsm::MessageInvalid{c->id, h.error()});
      return;
    }
    if (avail.size() < h->length) break;
    dispatch(c, avail.first(h->length));
    off += h->length;
  }
  if (off > 0) {
    std::memmove(c->rbuf.data(), c->rbuf.data() + off, c->rlen - off);
    c->rlen -= off;
  }
}

void PeerSession::dispatch(const ConnPtr& c, std::span<const uint8_t> bytes) {
  if (!fsm_.owns(c->id)) return;
  auto m = decode_message(bytes, c->ctx);
  if (!m) {
    in_.count(MessageType(bytes[18]));
    spdlog::warn("bgp {}: {}", label(), m.error().str());
    feed(fsm::MessageInvalid{c->id, m.error()});
    return;
  }
  std::visit(Overloaded{
                 [&](const OpenMessage& o) {
                   in_.count(MessageType::open);
                   // RFC 6793: AS_PATH carries 4-octet ASNs when both sides sent the capability
                   // (this speaker always does).
                   c->ctx.four_octet_as = o.capabilities.four_octet_as.has_value();
                   feed(fsm::OpenReceived{c->id, o});
                 },
                 [&](const DecodedUpdate& u) {
                   in_.count(MessageType::update);
                   feed(fsm::UpdateReceived{c->id});
                   if (established_ != c->id) return;
                   if (u.action != ErrorAction::none) {
                     ++update_errors_;
                     for (const auto& e : u.errors) {
                       spdlog::warn("bgp {}: RFC 7606 {}: {}", label(), error_action_name(e.action),
                                    e.reason);
                     }
                   }
                   check_prefix_limit(c, rib_in_.apply(u));
                 },
                 [&](const NotificationMessage& n) {
                   in_.count(MessageType::notification);
                   auto info = describe(n);
                   spdlog::warn("bgp {}: received NOTIFICATION {}{}", label(), info.description,
                                info.communication ? " \"" + *info.communication + "\"" : "");
                   feed(fsm::NotificationReceived{c->id, n});
                 },
                 [&](const KeepaliveMessage&) {
                   in_.count(MessageType::keepalive);
                   feed(fsm::KeepaliveReceived{c->id});
                 },
                 [&](const RouteRefreshMessage& r) {
                   in_.count(MessageType::route_refresh);
                   feed(fsm::RouteRefreshReceived{c->id});
                   if (established_ == c->id) answer_route_refresh(r);
                 },
             },
             m.value());
}

void PeerSession::check_prefix_limit(const ConnPtr& c, const AdjRibIn::Applied& applied) {
  const auto& limit = peer_.prefix_limit;
  if (limit.max == 0) return;
  if (applied.over_limit) {
    const Family f = *applied.over_limit;
    ++prefix_limit_ceases_;
    const std::string reason = "sent more than " + std::to_string(limit.max) + " " + f.str() +
                               " prefixes (the limit per family)";
    spdlog::error(
        "bgp {} ({}): {}: ending the session with Cease / Maximum Number of Prefixes Reached, "
        "dropping its {} routes; the session may start again in {} s",
        label(), peer_.address.str(), reason, rib_in_.size(), limit.restart.count());
    // RFC 8538 §5.1: with the N bit negotiated the Cease goes as a Hard Reset, so that the peer
    // does not keep our routes as stale.
    auto n = NotificationMessage::max_prefixes(f, limit.max);
    if (fsm_.negotiated() && fsm_.negotiated()->graceful_notification) {
      n = NotificationMessage::hard_reset(n);
    }
    prefix_limit_exceeded_ = reason;
    feed(fsm::PrefixLimitExceeded{c->id, std::move(n), reason, limit.restart});
    return;
  }
  const uint64_t at = limit.warning_at();
  const bool over = rib_in_.max_count() >= at;
  if (over && !prefix_warning_) {
    spdlog::warn(
        "bgp {} ({}): {} prefixes received (ipv4 {}, ipv6 {}), {}% or more of the limit of {} "
        "per family; over the limit the session ends",
        label(), peer_.address.str(), rib_in_.size(), rib_in_.count(kIpv4Unicast),
        rib_in_.count(kIpv6Unicast), limit.warning_percent, limit.max);
  } else if (!over && prefix_warning_) {
    spdlog::info("bgp {}: prefixes received back under {}% of the limit ({} of {})", label(),
                 limit.warning_percent, rib_in_.max_count(), limit.max);
  }
  prefix_warning_ = over;
}

void PeerSession::send(ConnectionId id, std::vector<uint8_t> bytes, MessageType type,
                       size_t count) {
  auto c = find(id);
  if (!c || c->closed || c->closing || bytes.empty()) return;
  for (size_t i = 0; i < count; ++i)
    out_.count(type);
  if (c->pending.empty()) {
    c->pending = std::move(bytes);
  } else {
    c->pending.insert(c->pending.end(), bytes.begin(), bytes.end());
  }
  if (c->writing.empty()) write(c);
}

void PeerSession::write(const ConnPtr& c) {
  if (c->pending.empty()) {
    if (c->closing && !c->draining) finish_close(c);
    return;
  }
  std::swap(c->writing, c->pending);
  asio::async_write(c->socket, asio::buffer(c->writing),
                    [self = shared_from_this(), c](const boost::system::error_code& ec, size_t) {
                      c->writing.clear();
                      if (c->closed) return;
                      if (ec) {
                        c->broken = true;
                        if (!c->closing) self->feed(fsm::TcpFailed{c->id, ec.message()});
                        self->finish_close(c);
                        return;
                      }
                      self->write(c);
                    });
}

void PeerSession::close(const ConnPtr& c) {
  if (c->closed || c->closing) return;
  c->closing = true;
  if (c->connecting || (c->writing.empty() && c->pending.empty())) {
    finish_close(c);
  }
  // Otherwise write() calls finish_close() once the queue (e.g. a NOTIFICATION) is out.
}

void PeerSession::finish_close(const ConnPtr& c) {
  if (c->closed) return;
  boost::system::error_code ec;
  if (!c->draining && !c->connecting && !c->broken && c->socket.is_open() && c->closing) {
    // Send FIN and keep reading until the peer closes, so that unread input does not turn our
    // close into a RST that could discard the NOTIFICATION at the peer.
    c->draining = true;
    c->socket.shutdown(tcp::socket::shutdown_send, ec);
    if (!ec) {
      c->drain_timer.expires_after(kDrainTime);
      c->drain_timer.async_wait([self = shared_from_this(), c](const boost::system::error_code&) {
        self->finish_close(c);
      });
      return;
    }
  }
  c->closed = true;
  c->drain_timer.cancel();
  c->socket.close(ec);
  conns_.erase(c->id);
  if (conns_.empty() && stopped_) {
    auto cb = std::move(stopped_);
    stopped_ = nullptr;
    cb();
  }
}

void PeerSession::on_established(ConnectionId id, const Negotiated& n) {
  auto c = find(id);
  if (!c) return;
  boost::system::error_code ec;
  auto local = c->socket.local_endpoint(ec);
  ExportContext ctx;
  ctx.ebgp = peer_.ebgp(local_asn_);
  ctx.local_asn = local_asn_;
  ctx.local_address = ec ? peer_.local_address.value_or(IpAddress{}) : to_ip(local.address());
  ctx.session = n.context(ctx.ebgp);
  for (const auto& f : peer_.families) {
    if (n.has_family(f)) ctx.families.push_back(f);
  }
  c->ctx = ctx.session;
  established_ = id;
  prefix_limit_exceeded_.reset();
  local_address_ = ctx.local_address;
  rib_in_.clear();
  rib_out_.emplace(ctx);
  spdlog::info("bgp {}: established with {} (router id {}), hold {} s, capabilities: {}", label(),
               peer_.address.str(), n.peer_router_id.str(), n.hold_time, [&] {
                 std::string s;
                 for (const auto& name : capability_names(n))
                   s += (s.empty() ? "" : ", ") + name;
                 return s;
               }());
  if (events_.established) events_.established(*this);
  // The initial table, then End-of-RIB for each family (RFC 4724 §2).
  sync_routes();
  std::vector<uint8_t> eor;
  for (const auto& f : rib_out_->context().families)
    append_end_of_rib(eor, f);
  send(id, std::move(eor), MessageType::update, rib_out_->context().families.size());
}

void PeerSession::schedule_sync() {
  if (sync_scheduled_ || !established_) return;
  sync_scheduled_ = true;
  // Coalesces a burst of route changes into one diff.
  asio::post(io_, [self = shared_from_this()] {
    self->sync_scheduled_ = false;
    self->sync_routes();
  });
}

void PeerSession::sync_routes() {
  if (!established_ || !rib_out_) return;
  static const RouteTable kEmpty;
  std::vector<uint8_t> out;
  auto started = Clock::now();
  auto res = rib_out_->sync(base_routes_ ? *base_routes_ : kEmpty, overlay_routes_.get(), out);
  spdlog::debug(
      "bgp {}: diff of {} routes took {} us", label(), rib_out_->size(),
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count());
  for (const auto& e : res.errors)
    spdlog::warn("bgp {}: route not exported: {}", label(), e);
  if (out.empty()) return;
  spdlog::debug("bgp {}: {} announced, {} withdrawn", label(), res.announced, res.withdrawn);
  size_t n = count_messages(out);
  send(*established_, std::move(out), MessageType::update, n);
  feed(fsm::UpdateSent{*established_});
}

void PeerSession::answer_route_refresh(const RouteRefreshMessage& r) {
  // Subtypes 1 and 2 (BoRR/EoRR) mark the peer's own re-advertisement (RFC 7313 §4); only a
  // plain request asks for our routes.
  if (r.subtype != RouteRefreshMessage::kNormal || !rib_out_) return;
  if (!rib_out_->context().has_family(r.family)) return;
  bool enhanced = fsm_.negotiated() && fsm_.negotiated()->enhanced_route_refresh;
  std::vector<uint8_t> out;
  if (enhanced) encode_route_refresh({r.family, RouteRefreshMessage::kBeginning}, out);
  size_t before = out.size();
  rib_out_->resend(r.family, out);
  size_t updates = count_messages(std::span(out).subspan(before));
  if (enhanced) encode_route_refresh({r.family, RouteRefreshMessage::kEnd}, out);
  if (enhanced) {
    out_.count(MessageType::route_refresh);
    out_.count(MessageType::route_refresh);
  }
  send(*established_, std::move(out), MessageType::update, updates);
}

PeerStatus PeerSession::status() const {
  PeerStatus s;
  s.instance = instance_;
  s.name = peer_.name;
  s.address = peer_.address;
  s.port = peer_.port;
  s.local_asn = local_asn_;
  s.peer_asn = peer_.peer_asn;
  s.state = fsm_.state();
  auto now = Clock::now();
  if (auto since = fsm_.established_since()) {
    s.uptime_seconds = std::chrono::duration_cast<std::chrono::seconds>(now - *since).count();
  }
  s.local_address = local_address_;
  s.negotiated = fsm_.negotiated();
  s.messages_in = in_;
  s.messages_out = out_;
  s.prefixes_in = rib_in_.size();
  s.prefixes_out = rib_out_ ? rib_out_->size() : 0;
  s.transitions = fsm_.transitions();
  s.established_count = fsm_.established_count();
  s.update_errors = update_errors_;
  s.max_prefixes = peer_.prefix_limit.max;
  s.prefixes_in_v4 = rib_in_.count(kIpv4Unicast);
  s.prefixes_in_v6 = rib_in_.count(kIpv6Unicast);
  s.prefix_warning_at = peer_.prefix_limit.warning_at();
  s.prefix_limit_warning = prefix_warning_;
  s.prefix_limit_ceases = prefix_limit_ceases_;
  s.prefix_limit_exceeded = prefix_limit_exceeded_;
  s.notifications_sent = notifications_sent_;
  if (const auto& hold = fsm_.idle_hold_until(); hold && *hold > now) {
    s.idle_hold_seconds = std::chrono::duration_cast<std::chrono::seconds>(*hold - now).count() + 1;
  }
  if (const auto& e = fsm_.last_error()) {
    PeerStatus::Error err;
    err.reason = e->reason;
    if (e->sent) err.sent = describe(*e->sent);
    if (e->received) err.received = describe(*e->received);
    err.age_seconds = std::chrono::duration_cast<std::chrono::seconds>(now - e->at).count();
    s.last_error = err;
  }
  return s;
}

std::vector<AdvertisedRoute> PeerSession::advertised() const {
  return rib_out_ ? rib_out_->routes() : std::vector<AdvertisedRoute>{};
}

std::vector<ReceivedRoute> PeerSession::received() const {
  return rib_in_.routes();
}

}  // namespace netagent::bgp
