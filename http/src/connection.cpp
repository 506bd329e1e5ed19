#include "netagent/http/connection.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <limits>
#include <optional>

namespace netagent::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

Result<Url> Url::parse(std::string_view url, std::string_view default_port) {
  Url u;
  u.text = std::string(url);
  std::string_view rest;
  if (url.starts_with("https://")) {
    u.tls = true;
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else {
    return Error{"\"" + u.text + "\": scheme must be http:// or https://"};
  }
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    u.path = std::string(rest.substr(slash));
    while (!u.path.empty() && u.path.back() == '/')
      u.path.pop_back();
    rest = rest.substr(0, slash);
  }
  if (u.path.find_first_of("?#") != std::string::npos) {
    return Error{"\"" + u.text + "\": a query or fragment is not supported"};
  }
  if (rest.find('@') != std::string_view::npos) {
    return Error{"\"" + u.text + "\": user information is not supported"};
  }
  if (rest.starts_with("[")) {  // [v6]:port
    auto close = rest.find(']');
    if (close == std::string_view::npos) return Error{"\"" + u.text + "\": bad IPv6 host"};
    u.host = std::string(rest.substr(1, close - 1));
    rest = rest.substr(close + 1);
    if (rest.starts_with(":")) {
      u.port = std::string(rest.substr(1));
    } else if (!rest.empty()) {
      return Error{"\"" + u.text + "\": bad IPv6 host"};
    }
  } else if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    if (rest.find(':') != colon) {
      return Error{"\"" + u.text + "\": an IPv6 host must be in brackets"};
    }
    u.host = std::string(rest.substr(0, colon));
    u.port = std::string(rest.substr(colon + 1));
    if (u.port.empty()) return Error{"\"" + u.text + "\": empty port"};
  } else {
    u.host = std::string(rest);
  }
  if (u.port.empty()) {
    u.port = !default_port.empty() ? std::string(default_port) : u.tls ? "443" : "80";
  }
  if (u.host.empty()) return Error{"\"" + u.text + "\": no host"};
  if (u.port.size() > 5) return Error{"\"" + u.text + "\": bad port"};
  for (char c : u.port) {
    if (c < '0' || c > '9') return Error{"\"" + u.text + "\": bad port"};
  }
  if (std::stoul(u.port) == 0 || std::stoul(u.port) > 65535) {
    return Error{"\"" + u.text + "\": bad port"};
  }
  return u;
}

std::string Url::authority() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + port;
  return host + ":" + port;
}

namespace {

std::string ssl_error_text(const error_code& ec) {
  unsigned long e = ERR_peek_last_error();
  if (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
  }
  return ec.message();
}

}  // namespace

Result<std::shared_ptr<ssl::context>> make_tls_context(const TlsOptions& t) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  error_code ec;
  if (!t.ca_pem.empty()) {
    ERR_clear_error();
    ctx->add_certificate_authority(asio::buffer(t.ca_pem), ec);
    if (ec) return Error{"trusted CA: " + ssl_error_text(ec)};
  } else if (!t.insecure_skip_verify) {
    ctx->set_default_verify_paths(ec);
    if (ec) return Error{"system CA paths: " + ssl_error_text(ec)};
  }
  if (!t.cert_pem.empty() || !t.key_pem.empty()) {
    if (t.cert_pem.empty()) return Error{"client key without a client certificate"};
    if (t.key_pem.empty()) return Error{"client certificate without a client key"};
    ERR_clear_error();
    ctx->use_certificate_chain(asio::buffer(t.cert_pem), ec);
    if (ec) return Error{"client certificate: " + ssl_error_text(ec)};
    ERR_clear_error();
    ctx->use_private_key(asio::buffer(t.key_pem), ssl::context::pem, ec);
    if (ec) return Error{"client key: " + ssl_error_text(ec)};
    if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
      return Error{"client key does not match the client certificate"};
    }
  }
  ctx->set_verify_mode(t.insecure_skip_verify ? ssl::verify_none : ssl::verify_peer);
  return ctx;
}

struct Connection::Impl {
  asio::any_io_executor ex;
  ssl::context* tls = nullptr;
  ConnectionOptions options;
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;
  std::optional<bhttp::response_parser<bhttp::buffer_body>> stream_parser;
  std::string pending;       // streamed bytes not yet returned as lines
  size_t scanned = 0;        // bytes of `pending` known to hold no newline
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
  if (ec == bhttp::error::end_of_stream || ec == asio::error::eof) {
    return "connection closed by the server";
  }
  if (ec == bhttp::error::partial_message) return "connection closed mid-response";
  return ec.message();
}

// In TLS 1.3 the server checks our certificate after the client considers the handshake done, so
// a rejected client certificate shows up as a reset on the first request; say so.
std::string first_use_hint(bool fresh_tls, const error_code& ec) {
  if (!fresh_tls) return "";
  if (ec != asio::error::connection_reset && ec != asio::error::eof &&
      ec != bhttp::error::end_of_stream && ec != asio::ssl::error::stream_truncated &&
      ec != asio::error::broken_pipe)
    return "";
  return " (right after the TLS handshake: the server probably rejected our client certificate;"
         " check the client certificate and key and the CA the server trusts)";
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

bhttp::request<bhttp::string_body> build(const Url& ep, Request r) {
  bhttp::request<bhttp::string_body> req;
  req.version(11);
  bhttp::verb v = bhttp::string_to_verb(r.method);
  if (v == bhttp::verb::unknown) {
    req.method_string(r.method);
  } else {
    req.method(v);
  }
  req.target(ep.path + r.target);
  req.set(bhttp::field::host, ep.authority());
  for (auto& [name, value] : r.headers)
    req.set(name, value);
  req.keep_alive(true);
  req.body() = std::move(r.body);
  req.prepare_payload();
  return req;
}

template <typename Stream>
asio::awaitable<error_code> write_request(Stream& s, bhttp::request<bhttp::string_body>& req) {
  error_code ec;
  co_await bhttp::async_write(s, req, asio::redirect_error(asio::use_awaitable, ec));
  co_return ec;
}

template <typename Stream>
asio::awaitable<error_code> read_reply(Stream& s, beast::flat_buffer& buffer, size_t limit,
                                       Reply& out, bool& keep_alive) {
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(limit);
  error_code ec;
  co_await bhttp::async_read_header(s, buffer, parser,
                                    asio::redirect_error(asio::use_awaitable, ec));
  // Boost 1.74's parser compares Content-Length with its optional limit the wrong way round
  // (any length passes); check it here. Chunked bodies are counted by the parser itself.
  if (!ec && parser.content_length() && *parser.content_length() > limit) {
    ec = bhttp::error::body_limit;
  }
  if (!ec) {
    co_await bhttp::async_read(s, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  }
  if (!ec) {
    out.status = parser.get().result_int();
    keep_alive = parser.get().keep_alive();
    out.content_type = std::string(parser.get()[bhttp::field::content_type]);
    out.body = std::move(parser.get().body());
  }
  co_return ec;
}

template <typename Stream>
asio::awaitable<error_code> read_some(Stream& s, beast::flat_buffer& buffer,
                                      bhttp::response_parser<bhttp::buffer_body>& parser) {
  error_code ec;
  co_await bhttp::async_read_some(s, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  co_return ec;
}

template <typename Stream>
asio::awaitable<error_code> read_header(Stream& s, beast::flat_buffer& buffer,
                                        bhttp::response_parser<bhttp::buffer_body>& parser) {
  error_code ec;
  co_await bhttp::async_read_header(s, buffer, parser,
                                    asio::redirect_error(asio::use_awaitable, ec));
  co_return ec;
}

std::string excerpt(std::string_view s) {
  constexpr size_t kMax = 80;
  if (s.size() <= kMax) return std::string(s);
  return std::string(s.substr(0, kMax)) + "...";
}

}  // namespace

Connection::Connection(asio::any_io_executor ex, ssl::context* tls, Url endpoint,
                       ConnectionOptions options)
    : impl_(std::make_unique<Impl>()), endpoint_(std::move(endpoint)) {
  impl_->ex = std::move(ex);
  impl_->tls = tls;
  impl_->options = std::move(options);
}

Connection::~Connection() {
  close();
}

bool Connection::is_open() const {
  return impl_->open;
}

void Connection::close() {
  if (!impl_->plain && !impl_->secure) return;
  error_code ignored;
  impl_->lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
  impl_->lowest().socket().close(ignored);
  impl_->open = false;
}

asio::awaitable<Status> Connection::connect(std::chrono::milliseconds timeout) {
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
  m.scanned = 0;
  m.stream_parser.reset();
  m.verify_error.clear();
  if (endpoint_.tls) {
    if (!m.tls) co_return Error{"https URL but no TLS configuration"};
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
    const std::string name = m.options.server_name.empty() ? endpoint_.host : m.options.server_name;
    error_code addr_ec;
    asio::ip::make_address(name, addr_ec);
    if (addr_ec) SSL_set_tlsext_host_name(ssl_handle, name.c_str());  // SNI: names only
    if (m.options.insecure_skip_verify) {
      m.secure->set_verify_mode(ssl::verify_none);
    } else {
      m.secure->set_verify_mode(ssl::verify_peer);
      // Chain against the trusted CA (OpenSSL's preverify), then the leaf's name against the
      // host we dialled or the configured name (RFC 6125 via Asio). Remember why it failed:
      // OpenSSL only says "verify failed".
      m.secure->set_verify_callback([name, &m](bool preverified, ssl::verify_context& ctx) {
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
        bool ok = ssl::host_name_verification(name)(preverified, ctx);
        if (!ok && m.verify_error.empty()) {
          m.verify_error = "certificate does not name host " + name;
        }
        return ok;
      });
    }
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

asio::awaitable<Status> Connection::send(Request request, std::chrono::milliseconds timeout) {
  Impl& m = *impl_;
  if (!m.open) co_return Error{"not connected"};
  const std::string what = "send " + request.method + " " + request.target;
  auto req = build(endpoint_, std::move(request));
  m.lowest().expires_after(timeout);
  // (GCC 12 miscompiles co_await inside ?:, hence the if/else.)
  error_code ec;
  if (m.secure) {
    ec = co_await write_request(*m.secure, req);
  } else {
    ec = co_await write_request(*m.plain, req);
  }
  if (ec) co_return failed(what, ec, timeout);
  co_return Status{};
}

Error Connection::failed(const std::string& what, const error_code& ec,
                         std::chrono::milliseconds timeout) {
  close();
  return Error{what + ": " + describe(ec, timeout) + first_use_hint(impl_->fresh_tls, ec)};
}

asio::awaitable<Result<Reply>> Connection::request(Request request,
                                                   std::chrono::milliseconds timeout,
                                                   size_t body_limit) {
  Impl& m = *impl_;
  m.stream_parser.reset();
  const std::string target = request.target;
  Status sent = co_await send(std::move(request), timeout);
  if (!sent) co_return sent.error();
  error_code ec;
  Reply reply;
  bool keep_alive = true;
  if (m.secure) {
    ec = co_await read_reply(*m.secure, m.buffer, body_limit, reply, keep_alive);
  } else {
    ec = co_await read_reply(*m.plain, m.buffer, body_limit, reply, keep_alive);
  }
  if (ec == bhttp::error::body_limit) {
    close();
    co_return Error{"read reply to " + target + ": body over " + std::to_string(body_limit) +
                    " bytes"};
  }
  if (ec) co_return failed("read reply to " + target, ec, timeout);
  m.lowest().expires_never();
  m.fresh_tls = false;
  if (!keep_alive) close();
  co_return reply;
}

asio::awaitable<Result<Reply>> Connection::open_stream(Request request,
                                                       std::chrono::milliseconds timeout) {
  Impl& m = *impl_;
  const std::string target = request.target;
  Status sent = co_await send(std::move(request), timeout);
  if (!sent) co_return sent.error();
  error_code ec;
  m.stream_parser.emplace();
  m.stream_parser->body_limit(std::numeric_limits<uint64_t>::max());
  m.pending.clear();
  m.scanned = 0;
  if (m.secure) {
    ec = co_await read_header(*m.secure, m.buffer, *m.stream_parser);
  } else {
    ec = co_await read_header(*m.plain, m.buffer, *m.stream_parser);
  }
  if (ec) co_return failed("read reply to " + target, ec, timeout);
  m.lowest().expires_never();
  m.fresh_tls = false;
  Reply reply;
  reply.status = m.stream_parser->get().result_int();
  reply.content_type = std::string(m.stream_parser->get()[bhttp::field::content_type]);
  co_return reply;
}

asio::awaitable<Result<std::string>> Connection::read_line(size_t line_limit) {
  Impl& m = *impl_;
  if (!m.stream_parser) co_return Error{"no stream open"};
  char chunk[16384];
  for (;;) {
    auto nl = m.pending.find('\n', m.scanned);
    while (nl != std::string::npos) {
      std::string line = m.pending.substr(0, nl);
      m.pending.erase(0, nl + 1);
      m.scanned = 0;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") != std::string::npos) co_return line;
      nl = m.pending.find('\n');
    }
    m.scanned = m.pending.size();
    if (m.pending.size() > line_limit) {
      close();
      co_return Error{"stream: a line over " + std::to_string(line_limit) + " bytes"};
    }
    if (m.stream_parser->is_done()) {
      if (m.pending.find_first_not_of(" \r\t") != std::string::npos) {
        std::string rest = std::move(m.pending);
        m.pending.clear();
        m.scanned = 0;
        co_return Error{"stream ended mid-line (" + std::to_string(rest.size()) +
                        " bytes without a newline: " + excerpt(rest) + ")"};
      }
      co_return Error{"stream ended by the server"};
    }
    if (!m.open) co_return Error{"connection closed"};
    m.stream_parser->get().body().data = chunk;
    m.stream_parser->get().body().size = sizeof chunk;
    error_code ec;
    if (m.secure) {
      ec = co_await read_some(*m.secure, m.buffer, *m.stream_parser);
    } else {
      ec = co_await read_some(*m.plain, m.buffer, *m.stream_parser);
    }
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) {
      close();
      std::string what = describe(ec, std::chrono::milliseconds(0));
      if (m.pending.find_first_not_of(" \r\t") != std::string::npos) {
        what += ", mid-line (" + std::to_string(m.pending.size()) +
                " bytes without a newline: " + excerpt(m.pending) + ")";
      }
      m.pending.clear();
      m.scanned = 0;
      co_return Error{"stream: " + what};
    }
    m.pending.append(chunk, sizeof chunk - m.stream_parser->get().body().size);
  }
}

asio::awaitable<Result<std::string>> Connection::read_body(std::chrono::milliseconds timeout,
                                                           size_t body_limit) {
  Impl& m = *impl_;
  if (!m.stream_parser) co_return Error{"no stream open"};
  std::string body = std::move(m.pending);
  m.pending.clear();
  m.scanned = 0;
  char chunk[16384];
  m.lowest().expires_after(timeout);
  while (!m.stream_parser->is_done()) {
    if (!m.open) co_return Error{"connection closed"};
    m.stream_parser->get().body().data = chunk;
    m.stream_parser->get().body().size = sizeof chunk;
    error_code ec;
    if (m.secure) {
      ec = co_await read_some(*m.secure, m.buffer, *m.stream_parser);
    } else {
      ec = co_await read_some(*m.plain, m.buffer, *m.stream_parser);
    }
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) co_return failed("read body", ec, timeout);
    body.append(chunk, sizeof chunk - m.stream_parser->get().body().size);
    if (body.size() > body_limit) {
      close();
      co_return Error{"read body: over " + std::to_string(body_limit) + " bytes"};
    }
  }
  m.lowest().expires_never();
  co_return body;
}

}  // namespace netagent::http
