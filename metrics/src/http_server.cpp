#include "netagent/metrics/http_server.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <set>

#include "netagent/metrics/exposition.hpp"

namespace netagent::metrics {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// Scrapers keep connections alive between scrapes (default interval 15-60 s); an idle
// connection is closed after this so a stuck client cannot hold a socket forever.
constexpr auto kIdleTimeout = std::chrono::seconds(120);

class Connection;

}  // namespace

struct MetricsServer::State : std::enable_shared_from_this<MetricsServer::State> {
  State(asio::io_context& io, const Registry& r) : io(io), registry(r), acceptor(io) {}
  asio::io_context& io;
  const Registry& registry;
  tcp::acceptor acceptor;
  std::set<std::shared_ptr<Connection>> connections;
  bool stopped = false;

  void accept();
};

namespace {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, std::shared_ptr<MetricsServer::State> server)
      : stream_(std::move(socket)), server_(std::move(server)) {}

  void start() { read(); }
  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

 private:
  void read() {
    request_ = {};
    stream_.expires_after(kIdleTimeout);
    http::async_read(stream_, buffer_, request_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->finish();
                       self->respond();
                     });
  }

  void respond() {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(request_.version());
    res->keep_alive(request_.keep_alive());
    res->set(http::field::server, "netagent");
    std::string target(request_.target());
    if (auto q = target.find('?'); q != std::string::npos) target.resize(q);
    if (target != "/metrics") {
      res->result(http::status::not_found);
      res->set(http::field::content_type, "text/plain; charset=utf-8");
      res->body() = "not found: this server serves GET /metrics\n";
    } else if (request_.method() != http::verb::get && request_.method() != http::verb::head) {
      res->result(http::status::method_not_allowed);
      res->set(http::field::allow, "GET, HEAD");
      res->set(http::field::content_type, "text/plain; charset=utf-8");
      res->body() = "method not allowed: use GET\n";
    } else {
      res->result(http::status::ok);
      res->set(http::field::content_type, kTextContentType);
      res->body() = to_text(server_->registry.collect());
    }
    res->prepare_payload();
    if (request_.method() == http::verb::head) res->body().clear();
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, size_t) {
                        if (ec || !res->keep_alive()) return self->finish();
                        self->read();
                      });
  }

  void finish() {
    close();
    server_->connections.erase(shared_from_this());
  }

  beast::tcp_stream stream_;
  std::shared_ptr<MetricsServer::State> server_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
};

}  // namespace

void MetricsServer::State::accept() {
  acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    if (self->stopped) return;
    if (!ec) {
      auto c = std::make_shared<Connection>(std::move(socket), self);
      self->connections.insert(c);
      c->start();
    }
    self->accept();
  });
}

MetricsServer::MetricsServer(asio::io_context& io, const Registry& registry)
    : state_(std::make_shared<State>(io, registry)) {}

MetricsServer::~MetricsServer() {
  stop();
}

Status MetricsServer::listen(const std::string& host, uint16_t port) {
  beast::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return Error{"metrics address '" + host + "' is not an IP address", EINVAL};
  tcp::endpoint ep(addr, port);
  auto& a = state_->acceptor;
  std::string where =
      "listen for metrics on " + ep.address().to_string() + ":" + std::to_string(port);
  if (a.open(ep.protocol(), ec); ec) return Error{where, ec.value()};
  if (a.set_option(asio::socket_base::reuse_address(true), ec); ec) return Error{where, ec.value()};
  if (a.bind(ep, ec); ec) return Error{where, ec.value()};
  if (a.listen(asio::socket_base::max_listen_connections, ec); ec) {
    return Error{where, ec.value()};
  }
  state_->accept();
  return {};
}

tcp::endpoint MetricsServer::local_endpoint() const {
  beast::error_code ec;
  return state_->acceptor.local_endpoint(ec);
}

void MetricsServer::stop() {
  if (state_->stopped) return;
  state_->stopped = true;
  beast::error_code ec;
  state_->acceptor.close(ec);
  auto connections = std::move(state_->connections);
  for (const auto& c : connections)
    c->close();
}

}  // namespace netagent::metrics
