#pragma once
// One HTTP/1.1 connection to one etcd endpoint, plain or TLS (Boost.Beast), used by EtcdClient for
// the gRPC-gateway JSON API: unary POSTs on keep-alive connections, and long-lived streaming
// responses (watch) read one newline-delimited JSON message at a time. Internal to netagent_mesh.
#include <boost/asio/any_io_executor.hpp>
// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "netagent/common/result.hpp"

namespace netagent::etcd::detail {

// "https://10.25.11.100:2379" split into its parts. Only http and https; port defaults to 2379.
struct EndpointUrl {
  bool tls = false;
  std::string host;
  std::string port;
  std::string text;  // as configured, for messages

  static Result<EndpointUrl> parse(std::string_view url);
};

struct HttpReply {
  unsigned status = 0;
  std::string body;
};

class HttpConnection {
 public:
  // `tls` must outlive the connection; nullptr for http endpoints.
  HttpConnection(boost::asio::any_io_executor ex, boost::asio::ssl::context* tls,
                 EndpointUrl endpoint);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  const EndpointUrl& endpoint() const { return endpoint_; }
  bool is_open() const;

  // Resolves, connects and (for https) completes the TLS handshake, verifying the server's
  // certificate chain against the trusted CA and its name against the endpoint's host (RFC 6125).
  boost::asio::awaitable<Status> connect(std::chrono::milliseconds timeout);

  // POST `body` (JSON) to `target` and read the whole response, all within `timeout`.
  boost::asio::awaitable<Result<HttpReply>> post(std::string target, std::string body,
                                                 std::chrono::milliseconds timeout);

  // Streaming: POST and read the response header within `timeout`; returns the HTTP status.
  // Then read_message() returns each newline-delimited message of the body as it arrives
  // (grpc-gateway writes one JSON object per line and flushes). No timeout on stream reads;
  // TCP keep-alive notices a dead peer, and close() ends a pending read.
  boost::asio::awaitable<Result<unsigned>> open_stream(std::string target, std::string body,
                                                       std::chrono::milliseconds timeout);
  boost::asio::awaitable<Result<std::string>> read_message();

  void close();

 private:
  // The request half of post() and open_stream(), the timer set to `timeout`.
  boost::asio::awaitable<Status> send(const std::string& target, std::string body,
                                      std::chrono::milliseconds timeout);
  // A failed exchange: closes the connection (its state is unknown) and says what failed.
  Error failed(const std::string& what, const boost::system::error_code& ec,
               std::chrono::milliseconds timeout);

  struct Impl;
  std::unique_ptr<Impl> impl_;
  EndpointUrl endpoint_;
};

}  // namespace netagent::etcd::detail
