#pragma once
// Serves GET /metrics (Prometheus text format 0.0.4) over HTTP/1.1 on TCP, on the agent's
// io_context, through the agent's one HTTP server (api/http_server.hpp). Collection runs on that
// thread at scrape time.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>

#include "netagent/api/http_server.hpp"
#include "netagent/api/server.hpp"
#include "netagent/common/result.hpp"
#include "netagent/metrics/registry.hpp"

namespace netagent::metrics {

class MetricsServer {
 public:
  // Default limits: 64 connections (scrapers keep one each), idle 120 s (scrape intervals are
  // 15-60 s), 10 s per request.
  static api::ListenerLimits default_limits();
  MetricsServer(boost::asio::io_context& io, const Registry& registry,
                api::ListenerLimits limits = default_limits());
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Binds and listens on host:port (an IP literal; port 0 picks a free one). Fails with the
  // errno of bind(), e.g. EADDRINUSE.
  Status listen(const std::string& host, uint16_t port);
  boost::asio::ip::tcp::endpoint local_endpoint() const;
  // Closes the listener and every open connection.
  void stop();
  api::HttpServer::Stats stats() const;

 private:
  boost::asio::io_context& io_;
  std::unique_ptr<api::HttpServer> http_;
  boost::asio::ip::tcp::endpoint local_endpoint_;
};

}  // namespace netagent::metrics
