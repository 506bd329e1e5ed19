#pragma once
// One HTTP/1.1 client connection to one server, plain or TLS (Boost.Beast): unary requests on
// keep-alive connections, read whole within a size cap, and long-lived streamed responses read
// one newline-delimited message at a time (etcd's JSON gateway watch, Kubernetes watches).
// Pooling, retries and what the bodies mean are the caller's.
#include <boost/asio/any_io_executor.hpp>
// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "netagent/common/result.hpp"

namespace boost::asio::ssl {
class context;
}

namespace netagent::http {

// "https://10.25.11.100:2379" split into its parts. Only http and https. An IPv6 host is written
// in brackets ("https://[fd00::1]:6443") and kept without them in `host`.
struct Url {
  bool tls = false;
  std::string host;
  std::string port;
  std::string path;  // a base path without the trailing '/' ("" for none): "/k8s/clusters/c-1"
  std::string text;  // as configured, for messages

  // `default_port` when the URL has none (a scheme's own default when empty: 80 / 443). Errors
  // start with the quoted URL; the caller says what it is ("endpoint", "API server").
  static Result<Url> parse(std::string_view url, std::string_view default_port = "");
  // "host:port", "[v6]:port": the Host header.
  std::string authority() const;
};

// What a TLS client context trusts and presents. PEM contents, not file names.
struct TlsOptions {
  std::string ca_pem;  // the CA bundle that signs the server's certificate
  std::string cert_pem;
  std::string key_pem;
  // Accept any server certificate (kubeconfig's insecure-skip-tls-verify); never the default.
  bool insecure_skip_verify = false;
};
// Builds a TLS 1.2+ client context; errors name the part that is wrong (CA, certificate, key,
// key not matching the certificate). With neither a CA nor insecure_skip_verify it trusts the
// system's default CA paths.
Result<std::shared_ptr<boost::asio::ssl::context>> make_tls_context(const TlsOptions& options);

struct Request {
  std::string method = "GET";  // any HTTP method: GET, POST, PUT, PATCH, DELETE
  std::string target;          // "/api/v1/services?limit=500"
  std::vector<std::pair<std::string, std::string>> headers;  // Authorization, Accept, ...
  std::string body;  // sent with Content-Length when not empty (set Content-Type in headers)
};

struct Reply {
  unsigned status = 0;
  std::string body;
  std::string content_type;
};

struct ConnectionOptions {
  // SNI and the name the server certificate must carry, when not the URL's host.
  std::string server_name;
  // No certificate verification at all (set with TlsOptions::insecure_skip_verify).
  bool insecure_skip_verify = false;
};

class Connection {
 public:
  // `tls` must outlive the connection; nullptr for http endpoints.
  Connection(boost::asio::any_io_executor ex, boost::asio::ssl::context* tls, Url endpoint,
             ConnectionOptions options = {});
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  const Url& endpoint() const { return endpoint_; }
  bool is_open() const;

  // Resolves, connects and (for https) completes the TLS handshake, verifying the server's
  // certificate chain against the trusted CA and its name against the endpoint's host or
  // server_name (RFC 6125), unless insecure_skip_verify.
  boost::asio::awaitable<Status> connect(std::chrono::milliseconds timeout);

  // Sends `request` and reads the whole response, all within `timeout`; a body over
  // `body_limit` bytes is an error (and closes the connection).
  boost::asio::awaitable<Result<Reply>> request(Request request, std::chrono::milliseconds timeout,
                                                size_t body_limit = size_t{256} << 20);

  // Streaming: sends `request` and reads the response header within `timeout`; returns the
  // status and content type (body empty). Then read_line() returns each newline-delimited
  // message of the body as it arrives (a message split across chunks is put together), or
  // read_body() the rest at once (an error reply). No timeout on stream reads: TCP keep-alive
  // notices a dead peer, and close() ends a pending read.
  boost::asio::awaitable<Result<Reply>> open_stream(Request request,
                                                    std::chrono::milliseconds timeout);
  // The next non-empty line (without "\n" or "\r"). An error when the stream ends: "stream ended
  // by the server" after a complete last line, "stream ended mid-line (...)" when the last line
  // has no newline, or what failed on the connection.
  boost::asio::awaitable<Result<std::string>> read_line(size_t line_limit = size_t{64} << 20);
  boost::asio::awaitable<Result<std::string>> read_body(std::chrono::milliseconds timeout,
                                                        size_t body_limit = size_t{1} << 20);

  void close();

 private:
  boost::asio::awaitable<Status> send(Request request, std::chrono::milliseconds timeout);
  // A failed exchange: closes the connection (its state is unknown) and says what failed.
  Error failed(const std::string& what, const boost::system::error_code& ec,
               std::chrono::milliseconds timeout);

  struct Impl;
  std::unique_ptr<Impl> impl_;
  Url endpoint_;
};

}  // namespace netagent::http
