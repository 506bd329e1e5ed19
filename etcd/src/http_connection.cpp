#include "http_connection.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <limits>
#include <optional>

namespace netagent::etcd::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

Result<EndpointUrl> EndpointUrl::parse(std::string_view url) {
  EndpointUrl ep;
  ep.text = std::string(url);
  std::string_view rest;
  if (url.starts_with("https://")) {
    ep.tls = true;
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else {
    return Error{"endpoint \"" + ep.text + "\": scheme must be http:// or https://"};
  }
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    if (rest.substr(slash) != "/") {
      return Error{"endpoint \"" + ep.text + "\": a path is not supported"};
    }
    rest = rest.substr(0, slash);
  }
  if (rest.starts_with("[")) {  // [v6]:port
    auto close = rest.find(']');
    if (close == std::string_view::npos) return Error{"endpoint \"" + ep.text + "\": bad IPv6"};
    ep.host = std::string(rest.substr(1, close - 1));
    rest = rest.substr(close + 1);
    if (rest.starts_with(":")) ep.port = std::string(rest.substr(1));
  } else if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    ep.host = std::string(rest.substr(0, colon));
    ep.port = std::string(rest.substr(colon + 1));
  } else {
    ep.host = std::string(rest);
  }
  if (ep.port.empty()) ep.port = "2379";
  if (ep.host.empty()) return Error{"endpoint \"" + ep.text + "\": no host"};
  for (char c : ep.port) {
    if (c < '0' || c > '9') return Error{"endpoint \"" + ep.text + "\": bad port"};
  }
  return ep;
}

struct HttpConnection::Impl {
  asio::any_io_executor ex;
  ssl::context* tls = nullptr;
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;
  std::optional<http::response_parser<http::buffer_body>> stream_parser;
  std::string pending;       // streamed bytes not yet returned as messages
  std::string verify_error;  // why the server certificate was rejected, if it was
  bool open = false;
  bool fresh_tls = false;  // handshake done, no reply read yet

  beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
};

namespace {

std::string describe(const error_code& ec, std::chrono::milliseconds timeout) {
  if (ec == beast::error::timeout) {
    return "timed out after " + std::to_string(timeout.count()) + " ms";
  }
  if (ec == asio::error::operation_aborted) return "cancelled";
  if (ec == http::error::end_of_stream || ec == asio::error::eof) {
    return "connection closed by the server";
  }
  return ec.message();
}

// In TLS 1.3 the server checks our certificate after the client considers the handshake done, so
// a rejected client certificate shows up as a reset on the first request; say so.
std::string first_use_hint(bool fresh_tls, const error_code& ec) {
  if (!fresh_tls) return "";
  if (ec != asio::error::connection_reset && ec != asio::error::eof &&
      ec != http::error::end_of_stream && ec != asio::ssl::error::stream_truncated &&
      ec != asio::error::broken_pipe)
    return "";
  return " (right after the TLS handshake: the server probably rejected our client certificate;"
         " check cert-file, key-file and the CA the server trusts)";
}

// Keep-alive probes notice a peer that vanished without a FIN or RST (a partition, a host that
// died); TCP_USER_TIMEOUT bounds how long unacknowledged writes may wait.
void tune_socket(tcp::socket& s) {
  error_code ignored;
  s.set_option(tcp::no_delay(true), ignored);
  s.set_option(asio::socket_base::keep_alive(true), ignored);
  int fd = s.native_handle();
  int idle = 5, interval = 2, count = 3;
  unsigned user_timeout_ms = 15000;
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof user_timeout_ms);
}

template <typename Stream>
asio::awaitable<error_code> write_post(Stream& s, const EndpointUrl& ep, std::string target,
                                       std::string body) {
  http::request<http::string_body> req{http::verb::post, target, 11};
  req.set(http::field::host, ep.host + ":" + ep.port);
  req.set(http::field::content_type, "application/json");
  req.keep_alive(true);
  req.body() = std::move(body);
  req.prepare_payload();
  error_code ec;
  co_await http::async_write(s, req, asio::redirect_error(asio::use_awaitable, ec));
  co_return ec;
}

template <typename Stream>
asio::awaitable<error_code> read_reply(Stream& s, beast::flat_buffer& buffer, HttpReply& out,
                                       bool& keep_alive) {
  http::response_parser<http::string_body> parser;
  parser.body_limit(std::numeric_limits<uint64_t>::max());
  error_code ec;
  co_await http::async_read(s, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  if (!ec) {
    out.status = parser.get().result_int();
    keep_alive = parser.get().keep_alive();
    out.body = std::move(parser.get().body());
  }
  co_return ec;
}

}  // namespace

HttpConnection::HttpConnection(asio::any_io_executor ex, ssl::context* tls, EndpointUrl endpoint)
    : impl_(std::make_unique<Impl>()), endpoint_(std::move(endpoint)) {
  impl_->ex = std::move(ex);
  impl_->tls = tls;
}

HttpConnection::~HttpConnection() {
  close();
}

bool HttpConnection::is_open() const {
  return impl_->open;
}

void HttpConnection::close() {
  if (!impl_->plain && !impl_->secure) return;
  error_code ignored;
  impl_->lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
  impl_->lowest().socket().close(ignored);
  impl_->open = false;
}

asio::awaitable<Status> HttpConnection::connect(std::chrono::milliseconds timeout) {
  Impl& m = *impl_;
  error_code ec;
  tcp::resolver resolver(m.ex);
  auto results = co_await resolver.async_resolve(endpoint_.host, endpoint_.port,
                                                 asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return Error{"resolve " + endpoint_.host + ": " + ec.message()};

  m.plain.reset();
  m.secure.reset();
  m.buffer.clear();
  m.pending.clear();
  m.stream_parser.reset();
  m.verify_error.clear();
  if (endpoint_.tls) {
    if (!m.tls) co_return Error{"https endpoint but no TLS configuration"};
    m.secure = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(m.ex, *m.tls);
  } else {
    m.plain = std::make_unique<beast::tcp_stream>(m.ex);
  }
  m.lowest().expires_after(timeout);
  co_await m.lowest().async_connect(results, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return Error{"connect: " + describe(ec, timeout)};
  tune_socket(m.lowest().socket());

  if (m.secure) {
    SSL* ssl_handle = m.secure->native_handle();
    error_code addr_ec;
    asio::ip::make_address(endpoint_.host, addr_ec);
    if (addr_ec) SSL_set_tlsext_host_name(ssl_handle, endpoint_.host.c_str());  // SNI: names only
    m.secure->set_verify_mode(ssl::verify_peer);
    // Chain against the trusted CA (OpenSSL's preverify), then the leaf's name against the host
    // we dialled (RFC 6125 via Asio). Remember why it failed: OpenSSL only says "verify failed".
    m.secure->set_verify_callback([host = endpoint_.host, &m](bool preverified,
                                                              ssl::verify_context& ctx) {
      X509_STORE_CTX* store = ctx.native_handle();
      if (!preverified) {
        int err = X509_STORE_CTX_get_error(store);
        char subject[256] = "?";
        if (X509* cert = X509_STORE_CTX_get_current_cert(store)) {
          X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
        }
        if (m.verify_error.empty()) {
          m.verify_error =
              std::string(X509_verify_cert_error_string(err)) + " (certificate " + subject + ")";
        }
        return false;
      }
      bool ok = ssl::host_name_verification(host)(preverified, ctx);
      if (!ok && m.verify_error.empty()) {
        m.verify_error = "certificate does not name host " + host;
      }
      return ok;
    });
    co_await m.secure->async_handshake(ssl::stream_base::client,
                                       asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      std::string why = m.verify_error.empty() ? describe(ec, timeout)
                                               : "server certificate rejected: " + m.verify_error;
      close();
      co_return Error{"TLS handshake: " + why};
    }
  }
  m.lowest().expires_never();
  m.open = true;
  m.fresh_tls = m.secure != nullptr;
  co_return Status{};
}

asio::awaitable<Status> HttpConnection::send(const std::string& target, std::string body,
                                             std::chrono::milliseconds timeout) {
  Impl& m = *impl_;
  if (!m.open) co_return Error{"not connected"};
  m.lowest().expires_after(timeout);
  // (GCC 12 miscompiles co_await inside ?:, hence the if/else.)
  error_code ec;
  if (m.secure) {
    ec = co_await write_post(*m.secure, endpoint_, target, std::move(body));
  } else {
    ec = co_await write_post(*m.plain, endpoint_, target, std::move(body));
  }
  if (ec) co_return failed("send " + target, ec, timeout);
  co_return Status{};
}

Error HttpConnection::failed(const std::string& what, const error_code& ec,
                             std::chrono::milliseconds timeout) {
  close();
  return Error{what + ": " + describe(ec, timeout) + first_use_hint(impl_->fresh_tls, ec)};
}

asio::awaitable<Result<HttpReply>> HttpConnection::post(std::string target, std::string body,
                                                        std::chrono::milliseconds timeout) {
  Impl& m = *impl_;
  Status sent = co_await send(target, std::move(body), timeout);
  if (!sent) co_return sent.error();
  error_code ec;
  HttpReply reply;
  bool keep_alive = true;
  if (m.secure) {
    ec = co_await read_reply(*m.secure, m.buffer, reply, keep_alive);
  } else {
    ec = co_await read_reply(*m.plain, m.buffer, reply, keep_alive);
  }
  if (ec) co_return failed("read reply to " + target, ec, timeout);
  m.lowest().expires_never();
  m.fresh_tls = false;
  if (!keep_alive) close();
  co_return reply;
}

asio::awaitable<Result<unsigned>> HttpConnection::open_stream(std::string target, std::string body,
                                                              std::chrono::milliseconds timeout) {
  Impl& m = *impl_;
  Status sent = co_await send(target, std::move(body), timeout);
  if (!sent) co_return sent.error();
  error_code ec;
  m.stream_parser.emplace();
  m.stream_parser->body_limit(std::numeric_limits<uint64_t>::max());
  m.pending.clear();
  if (m.secure) {
    co_await http::async_read_header(*m.secure, m.buffer, *m.stream_parser,
                                     asio::redirect_error(asio::use_awaitable, ec));
  } else {
    co_await http::async_read_header(*m.plain, m.buffer, *m.stream_parser,
                                     asio::redirect_error(asio::use_awaitable, ec));
  }
  if (ec) co_return failed("read reply to " + target, ec, timeout);
  m.lowest().expires_never();
  m.fresh_tls = false;
  co_return m.stream_parser->get().result_int();
}

asio::awaitable<Result<std::string>> HttpConnection::read_message() {
  Impl& m = *impl_;
  if (!m.stream_parser) co_return Error{"no stream open"};
  char chunk[16384];
  for (;;) {
    auto nl = m.pending.find('\n');
    while (nl != std::string::npos) {
      std::string msg = m.pending.substr(0, nl);
      m.pending.erase(0, nl + 1);
      if (msg.find_first_not_of(" \r\t") != std::string::npos) co_return msg;
      nl = m.pending.find('\n');
    }
    if (m.stream_parser->is_done()) {
      if (m.pending.find_first_not_of(" \r\t\n") != std::string::npos) {
        std::string msg = std::move(m.pending);
        m.pending.clear();
        co_return msg;
      }
      co_return Error{"stream ended by the server"};
    }
    if (!m.open) co_return Error{"connection closed"};
    m.stream_parser->get().body().data = chunk;
    m.stream_parser->get().body().size = sizeof chunk;
    error_code ec;
    if (m.secure) {
      co_await http::async_read_some(*m.secure, m.buffer, *m.stream_parser,
                                     asio::redirect_error(asio::use_awaitable, ec));
    } else {
      co_await http::async_read_some(*m.plain, m.buffer, *m.stream_parser,
                                     asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      close();
      co_return Error{"stream: " + describe(ec, std::chrono::milliseconds(0))};
    }
    m.pending.append(chunk, sizeof chunk - m.stream_parser->get().body().size);
  }
}

}  // namespace netagent::etcd::detail
