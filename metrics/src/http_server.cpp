#include "netagent/metrics/http_server.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/verb.hpp>
#include <chrono>

#include "netagent/api/http_server.hpp"
#include "netagent/metrics/exposition.hpp"

namespace netagent::metrics {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

api::HttpServer::Options scrape_options(api::ListenerLimits limits) {
  api::HttpServer::Options o;
  // Scrapers keep connections alive between scrapes (default interval 15-60 s); an idle
  // connection is closed after this so a stuck client cannot hold a socket forever.
  o.idle_timeout = limits.idle_timeout;
  o.request_timeout = limits.request_timeout;
  o.max_connections = limits.max_connections;
  o.name = "metrics";
  o.warn = std::move(limits.warn);
  // Beast's defaults for a request: scrapes carry no body.
  o.max_body = 1 << 20;
  o.max_header = 8 << 10;
  return o;
}

api::HttpResponse scrape(const Registry& registry, const api::HttpRequest& req) {
  api::HttpResponse res;
  res.version(req.version());
  res.keep_alive(req.keep_alive());
  res.set(http::field::server, "netagent");
  std::string target(req.target());
  if (auto q = target.find('?'); q != std::string::npos) target.resize(q);
  if (target != "/metrics") {
    res.result(http::status::not_found);
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.body() = "not found: this server serves GET /metrics\n";
  } else if (req.method() != http::verb::get && req.method() != http::verb::head) {
    res.result(http::status::method_not_allowed);
    res.set(http::field::allow, "GET, HEAD");
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.body() = "method not allowed: use GET\n";
  } else {
    res.result(http::status::ok);
    res.set(http::field::content_type, kTextContentType);
    res.body() = to_text(registry.collect());
  }
  res.prepare_payload();
  if (req.method() == http::verb::head) res.body().clear();
  return res;
}

}  // namespace

api::ListenerLimits MetricsServer::default_limits() {
  api::ListenerLimits l;
  l.max_connections = 64;
  l.idle_timeout = std::chrono::seconds(120);
  l.request_timeout = std::chrono::seconds(10);
  return l;
}

MetricsServer::MetricsServer(asio::io_context& io, const Registry& registry,
                             api::ListenerLimits limits)
    : io_(io),
      http_(std::make_unique<api::HttpServer>(
          io, scrape_options(std::move(limits)),
          [&registry](const api::HttpRequest& req, const api::HttpServer::OpenStream&) {
            return scrape(registry, req);
          })) {}

MetricsServer::~MetricsServer() {
  stop();
}

Status MetricsServer::listen(const std::string& host, uint16_t port) {
  beast::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return Error{"metrics address '" + host + "' is not an IP address", EINVAL};
  tcp::endpoint ep(addr, port);
  tcp::acceptor a(io_);
  std::string where =
      "listen for metrics on " + ep.address().to_string() + ":" + std::to_string(port);
  if (a.open(ep.protocol(), ec); ec) return Error{where, ec.value()};
  if (a.set_option(asio::socket_base::reuse_address(true), ec); ec) return Error{where, ec.value()};
  if (a.bind(ep, ec); ec) return Error{where, ec.value()};
  if (a.listen(asio::socket_base::max_listen_connections, ec); ec) {
    return Error{where, ec.value()};
  }
  local_endpoint_ = a.local_endpoint(ec);
  http_->serve(std::move(a));
  return {};
}

tcp::endpoint MetricsServer::local_endpoint() const {
  return local_endpoint_;
}

void MetricsServer::stop() {
  http_->stop();
}

api::HttpServer::Stats MetricsServer::stats() const {
  return http_->stats();
}

}  // namespace netagent::metrics
