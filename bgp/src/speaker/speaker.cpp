#include "netagent/bgp/speaker.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <set>

#include "asio_address.hpp"
#include "peer_session.hpp"
#include "socket_options.hpp"

namespace netagent::bgp {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

const InstanceConfig* find_instance(const SpeakerConfig& c, std::string_view name) {
  for (const auto& i : c.instances) {
    if (i.name == name) return &i;
  }
  return nullptr;
}

const PeerConfig* find_peer(const InstanceConfig& in, std::string_view name) {
  for (const auto& p : in.peers) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

IpAddress remote_ip(const tcp::socket& s) {
  boost::system::error_code ec;
  auto a = s.remote_endpoint(ec).address();
  if (ec) return IpAddress{};
  return to_ip(a);
}

// With the N bit negotiated a NOTIFICATION keeps the peer's copy of our routes unless it is a
// Hard Reset (RFC 8538 §3); wrap `n` when the routes must go.
NotificationMessage final_notification(const PeerSession& s, NotificationMessage n) {
  bool nbit = s.negotiated() && s.negotiated()->graceful_notification;
  return nbit ? NotificationMessage::hard_reset(n) : n;
}

}  // namespace

struct Speaker::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& io, SpeakerOptions options) : io(io), options(std::move(options)) {}

  struct Listener {
    explicit Listener(asio::io_context& io) : acceptor(io) {}
    tcp::acceptor acceptor;
    bool v6 = false;
    std::optional<uint16_t> port_config;
    std::optional<IpAddress> address_config;
    std::set<IpAddress> md5_peers;  // peers with a key installed on the listening socket
  };

  asio::io_context& io;
  SpeakerOptions options;
  SpeakerConfig config;
  bool stopped = false;
  std::map<std::string, std::shared_ptr<Listener>> listeners;
  std::map<std::string, std::map<std::string, std::shared_ptr<PeerSession>>> sessions;
  std::set<std::shared_ptr<PeerSession>> retiring;
  std::map<std::string, std::shared_ptr<const RouteTable>> instance_routes;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<const RouteTable>> peer_routes;
  std::set<std::pair<std::string, std::string>> established_once;

  std::shared_ptr<PeerSession> session(std::string_view instance, std::string_view peer) const {
    auto it = sessions.find(std::string(instance));
    if (it == sessions.end()) return nullptr;
    auto p = it->second.find(std::string(peer));
    return p == it->second.end() ? nullptr : p->second;
  }

  void push_routes(const std::string& instance, PeerSession& s) {
    auto base = instance_routes.count(instance) ? instance_routes[instance] : nullptr;
    auto key = std::make_pair(instance, s.config().name);
    auto overlay = peer_routes.count(key) ? peer_routes[key] : nullptr;
    s.set_routes(base, overlay);
  }

  std::shared_ptr<PeerSession> make_session(const InstanceConfig& in, const PeerConfig& p) {
    bool restarting = options.restarted && !established_once.count({in.name, p.name});
    PeerSession::Events ev;
    std::weak_ptr<Impl> weak = shared_from_this();
    ev.state_changed = [weak](const PeerSession& s, SessionState from, SessionState to) {
      auto self = weak.lock();
      if (self && self->options.on_state_change) {
        self->options.on_state_change(PeerEvent{s.instance(), s.config().name, from, to});
      }
    };
    ev.established = [weak](const PeerSession& s) {
      if (auto self = weak.lock()) self->established_once.insert({s.instance(), s.config().name});
    };
    auto s = std::make_shared<PeerSession>(io, in, p, restarting, std::move(ev));
    push_routes(in.name, *s);
    return s;
  }

  void retire(const std::shared_ptr<PeerSession>& s, std::optional<NotificationMessage> n) {
    retiring.insert(s);
    std::weak_ptr<Impl> weak = shared_from_this();
    s->stop(std::move(n), [weak, s] {
      if (auto self = weak.lock()) self->retiring.erase(s);
    });
  }

  Status open_listener(const InstanceConfig& in) {
    auto l = std::make_shared<Listener>(io);
    l->port_config = in.listen_port;
    l->address_config = in.listen_address;
    bool any_v6 = false;
    for (const auto& p : in.peers)
      any_v6 = any_v6 || p.address.is_v6();
    asio::ip::address addr;
    if (in.listen_address) {
      addr = to_asio(*in.listen_address);
    } else {
      addr = any_v6 ? asio::ip::address(asio::ip::address_v6::any())
                    : asio::ip::address(asio::ip::address_v4::any());
    }
    tcp::endpoint ep(addr, *in.listen_port);
    l->v6 = addr.is_v6();
    boost::system::error_code ec;
    l->acceptor.open(ep.protocol(), ec);
    if (!ec) l->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec && l->v6 && !in.listen_address) l->acceptor.set_option(asio::ip::v6_only(false), ec);
    if (!ec) l->acceptor.bind(ep, ec);
    if (!ec) l->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return Error{"instance " + in.name + ": listen on " + addr.to_string() + " port " +
                       std::to_string(*in.listen_port) + ": " + ec.message(),
                   ec.value()};
    }
    listeners[in.name] = l;
    install_md5(in, *l);
    accept(in.name, l);
    spdlog::info("bgp {}: listening on {} port {}", in.name, addr.to_string(),
                 l->acceptor.local_endpoint(ec).port());
    return {};
  }

  // Keys on the listening socket authenticate incoming connections (RFC 2385).
  void install_md5(const InstanceConfig& in, Listener& l) {
    std::set<IpAddress> want;
    int fd = l.acceptor.native_handle();
    for (const auto& p : in.peers) {
      if (p.md5_password.empty()) continue;
      want.insert(p.address);
      auto st = set_tcp_md5(fd, l.v6, p.address, p.md5_password);
      if (!st) spdlog::warn("bgp {}: {}", in.name, st.error().str());
    }
    for (const auto& a : l.md5_peers) {
      if (!want.count(a)) (void)set_tcp_md5(fd, l.v6, a, "");
    }
    l.md5_peers = std::move(want);
  }

  void accept(const std::string& instance, const std::shared_ptr<Listener>& l) {
    std::weak_ptr<Impl> weak = shared_from_this();
    l->acceptor.async_accept(
        [weak, instance, l](const boost::system::error_code& ec, tcp::socket socket) {
          auto self = weak.lock();
          if (!self || ec == asio::error::operation_aborted || !l->acceptor.is_open()) return;
          if (!ec) self->route_incoming(instance, std::move(socket));
          self->accept(instance, l);
        });
  }

  void route_incoming(const std::string& instance, tcp::socket socket) {
    IpAddress from = remote_ip(socket);
    auto it = sessions.find(instance);
    if (it != sessions.end()) {
      for (auto& [name, s] : it->second) {
        if (s->config().address == from) {
          s->accept(std::move(socket));
          return;
        }
      }
    }
    spdlog::warn("bgp {}: refusing connection from {}: not a configured peer", instance,
                 from.str());
    boost::system::error_code ec;
    socket.close(ec);
  }
};

Speaker::Speaker(asio::io_context& io, SpeakerOptions options)
    : impl_(std::make_shared<Impl>(io, std::move(options))) {}

Speaker::~Speaker() {
  for (auto& [name, l] : impl_->listeners) {
    boost::system::error_code ec;
    l->acceptor.close(ec);
  }
  // Without stop() the sessions just close (their pending handlers hold them, so they must be
  // told, or they would reconnect on their own).
  if (!impl_->stopped) {
    for (auto& [instance, peers] : impl_->sessions) {
      for (auto& [name, s] : peers)
        s->stop(std::nullopt, nullptr);
    }
  }
}

Status Speaker::set_config(const SpeakerConfig& next) {
  auto& im = *impl_;
  if (im.stopped) return Error{"bgp speaker is stopped"};
  if (auto st = validate(next); !st) return st;
  const SpeakerConfig prev = im.config;

  // Instances that are gone: every peer is de-configured.
  for (const auto& old : prev.instances) {
    if (find_instance(next, old.name)) continue;
    for (auto& [name, s] : im.sessions[old.name]) {
      im.retire(s, final_notification(*s, NotificationMessage::cease(err::kPeerDeconfigured)));
    }
    im.sessions.erase(old.name);
    if (auto l = im.listeners[old.name]) {
      boost::system::error_code ec;
      l->acceptor.close(ec);
    }
    im.listeners.erase(old.name);
    im.instance_routes.erase(old.name);
    std::erase_if(im.peer_routes, [&](const auto& kv) { return kv.first.first == old.name; });
  }

  for (const auto& in : next.instances) {
    const InstanceConfig* old = find_instance(prev, in.name);
    bool identity_changed =
        old && (old->local_asn != in.local_asn || old->router_id != in.router_id);
    auto& sessions = im.sessions[in.name];

    // Peers that are gone.
    if (old) {
      for (const auto& op : old->peers) {
        if (find_peer(in, op.name)) continue;
        if (auto s = sessions[op.name]) {
          im.retire(s, final_notification(*s, NotificationMessage::cease(err::kPeerDeconfigured)));
        }
        sessions.erase(op.name);
        im.peer_routes.erase({in.name, op.name});
      }
    }
    // New and changed peers.
    std::vector<std::shared_ptr<PeerSession>> to_start;
    for (const auto& p : in.peers) {
      const PeerConfig* op = old ? find_peer(*old, p.name) : nullptr;
      auto it = sessions.find(p.name);
      if (op && it != sessions.end() && !identity_changed && op->same_session(p)) continue;
      if (it != sessions.end()) {
        spdlog::info("bgp {}/{}: session parameters changed, resetting", in.name, p.name);
        im.retire(it->second, NotificationMessage::cease(err::kOtherConfigurationChange));
      }
      auto s = im.make_session(in, p);
      sessions[p.name] = s;
      to_start.push_back(s);
    }

    // Listener: (re)open when its port or address changed, close when no longer wanted.
    auto lit = im.listeners.find(in.name);
    bool have = lit != im.listeners.end();
    bool want = in.listen_port.has_value();
    bool same = have && lit->second->port_config == in.listen_port &&
                lit->second->address_config == in.listen_address;
    if (have && (!want || !same)) {
      boost::system::error_code ec;
      lit->second->acceptor.close(ec);
      im.listeners.erase(lit);
    }
    if (want && !same) {
      if (auto st = im.open_listener(in); !st) spdlog::error("bgp {}", st.error().str());
    } else if (want) {
      im.install_md5(in, *im.listeners[in.name]);
    }
    for (auto& s : to_start)
      s->start();
  }
  im.config = next;
  return {};
}

Status Speaker::set_routes(std::string_view instance, const std::vector<Route>& routes) {
  auto& im = *impl_;
  if (!find_instance(im.config, instance)) {
    return Error{"set_routes: unknown instance '" + std::string(instance) + "'"};
  }
  auto table = make_route_table(routes);
  if (!table) return table.error().wrap("set_routes " + std::string(instance));
  std::string name(instance);
  im.instance_routes[name] = std::make_shared<const RouteTable>(std::move(table).value());
  for (auto& [peer, s] : im.sessions[name])
    im.push_routes(name, *s);
  return {};
}

Status Speaker::set_peer_routes(std::string_view instance, std::string_view peer,
                                const std::vector<Route>& routes) {
  auto& im = *impl_;
  auto s = im.session(instance, peer);
  if (!s) {
    return Error{"set_peer_routes: unknown peer '" + std::string(peer) + "' of instance '" +
                 std::string(instance) + "'"};
  }
  auto key = std::make_pair(std::string(instance), std::string(peer));
  if (routes.empty()) {
    im.peer_routes.erase(key);
  } else {
    auto table = make_route_table(routes);
    if (!table) return table.error().wrap("set_peer_routes " + key.first + "/" + key.second);
    im.peer_routes[key] = std::make_shared<const RouteTable>(std::move(table).value());
  }
  im.push_routes(key.first, *s);
  return {};
}

void Speaker::stop(StopMode mode, std::function<void()> done) {
  auto& im = *impl_;
  im.stopped = true;
  for (auto& [name, l] : im.listeners) {
    boost::system::error_code ec;
    l->acceptor.close(ec);
  }
  im.listeners.clear();
  std::vector<std::shared_ptr<PeerSession>> all(im.retiring.begin(), im.retiring.end());
  for (auto& [instance, peers] : im.sessions) {
    for (auto& [name, s] : peers)
      all.push_back(s);
  }
  im.sessions.clear();
  auto pending = std::make_shared<size_t>(all.size());
  auto cb = std::make_shared<std::function<void()>>(std::move(done));
  auto one_done = [pending, cb] {
    if (--*pending == 0 && *cb) (*cb)();
  };
  if (all.empty()) {
    asio::post(im.io, [cb] {
      if (*cb) (*cb)();
    });
    return;
  }
  for (auto& s : all) {
    std::optional<NotificationMessage> n;
    // RFC 8203 text: "graceful restart" only where the peer keeps our routes.
    const bool gr = mode == StopMode::graceful && s->config().graceful_restart.enabled;
    auto cease = NotificationMessage::cease(err::kAdministrativeShutdown,
                                            gr ? "graceful restart" : "speaker shutting down");
    bool nbit = s->negotiated() && s->negotiated()->graceful_notification;
    if (mode == StopMode::graceful && s->config().graceful_restart.enabled) {
      // RFC 8538: with the N bit a plain Cease keeps our routes; without it only a TCP close
      // does (RFC 4724 §4.2).
      if (nbit) n = cease;
    } else {
      n = nbit ? NotificationMessage::hard_reset(cease) : cease;
    }
    im.retiring.erase(s);
    s->stop(n, one_done);
  }
}

std::vector<PeerStatus> Speaker::peers() const {
  std::vector<PeerStatus> out;
  for (const auto& in : impl_->config.instances) {
    for (const auto& p : in.peers) {
      if (auto s = impl_->session(in.name, p.name)) out.push_back(s->status());
    }
  }
  return out;
}

Result<PeerStatus> Speaker::peer(std::string_view instance, std::string_view peer) const {
  auto s = impl_->session(instance, peer);
  if (!s) return Error{"unknown peer " + std::string(instance) + "/" + std::string(peer)};
  return s->status();
}

Result<std::vector<AdvertisedRoute>> Speaker::advertised(std::string_view instance,
                                                         std::string_view peer) const {
  auto s = impl_->session(instance, peer);
  if (!s) return Error{"unknown peer " + std::string(instance) + "/" + std::string(peer)};
  return s->advertised();
}

Result<std::vector<ReceivedRoute>> Speaker::received(std::string_view instance,
                                                     std::string_view peer) const {
  auto s = impl_->session(instance, peer);
  if (!s) return Error{"unknown peer " + std::string(instance) + "/" + std::string(peer)};
  return s->received();
}

const SpeakerConfig& Speaker::config() const {
  return impl_->config;
}

std::optional<uint16_t> Speaker::listening_port(std::string_view instance) const {
  auto it = impl_->listeners.find(std::string(instance));
  if (it == impl_->listeners.end()) return std::nullopt;
  boost::system::error_code ec;
  auto ep = it->second->acceptor.local_endpoint(ec);
  if (ec) return std::nullopt;
  return ep.port();
}

}  // namespace netagent::bgp
