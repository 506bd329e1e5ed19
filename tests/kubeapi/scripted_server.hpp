#pragma once
// A scripted HTTP/1.1 server for the Kubernetes API client's tests, in the test process on
// 127.0.0.1 with a kernel-chosen port, on the test's io_context: each request goes to the
// test's handler, which answers with a whole JSON response or a chunked stream whose chunks are
// written exactly as given (so a line can be split across chunks) and which then ends cleanly,
// is cut (closed without the last chunk) or held open until stop(). Plain or TLS.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "netagent/common/url.hpp"

namespace netagent::kubeapi::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;

struct Req {
  std::string method;
  std::string target;
  std::string path;
  std::map<std::string, std::string> query;
  std::string authorization;
  std::string accept;
  std::string content_type;
  std::string body;

  std::string q(const std::string& key) const {
    auto it = query.find(key);
    return it == query.end() ? "" : it->second;
  }
  bool has(const std::string& key) const { return query.count(key) != 0; }
};

struct Response {
  unsigned status = 200;
  std::string body;
  bool stream = false;
  std::vector<std::string> chunks;
  enum class End { Clean, Cut, Hold } end = End::Clean;

  static Response json_body(unsigned status, std::string body) {
    Response r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
  static Response streamed(std::vector<std::string> chunks, End end = End::Clean) {
    Response r;
    r.stream = true;
    r.chunks = std::move(chunks);
    r.end = end;
    return r;
  }
};

class ScriptedServer {
 public:
  using Handler = std::function<Response(const Req&)>;

  ScriptedServer(asio::io_context& io, Handler handler, asio::ssl::context* tls = nullptr)
      : state_(std::make_shared<State>(io)) {
    state_->handler = std::move(handler);
    state_->tls = tls;
    asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    state_->acceptor.open(ep.protocol());
    state_->acceptor.set_option(asio::socket_base::reuse_address(true));
    state_->acceptor.bind(ep);
    state_->acceptor.listen();
    port_ = state_->acceptor.local_endpoint().port();
    asio::co_spawn(io, accept_loop(state_), asio::detached);
  }
  ~ScriptedServer() { stop(); }

  unsigned short port() const { return port_; }
  std::string url() const {
    return std::string(state_->tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
  }
  const std::vector<Req>& requests() const { return state_->requests; }
  size_t connections() const { return state_->accepted; }
  // Ends every held stream (cleanly, with the last chunk) without stopping the server.
  void release_held() {
    for (auto* t : state_->holds)
      t->cancel();
  }
  void stop() {
    if (state_->stopped) return;
    state_->stopped = true;
    boost::system::error_code ignored;
    state_->acceptor.close(ignored);
    for (auto* s : state_->sockets)
      s->close(ignored);
    for (auto* t : state_->holds)
      t->cancel();
  }

 private:
  struct State {
    explicit State(asio::io_context& io) : io(io), acceptor(io) {}
    asio::io_context& io;
    asio::ip::tcp::acceptor acceptor;
    Handler handler;
    asio::ssl::context* tls = nullptr;
    std::vector<Req> requests;
    std::set<asio::ip::tcp::socket*> sockets;
    std::set<asio::steady_timer*> holds;
    size_t accepted = 0;
    bool stopped = false;
  };

  static Req parse(const beast::http::request<beast::http::string_body>& r) {
    Req q;
    q.method = std::string(r.method_string());
    q.target = std::string(r.target());
    q.authorization = std::string(r[beast::http::field::authorization]);
    q.accept = std::string(r[beast::http::field::accept]);
    q.content_type = std::string(r[beast::http::field::content_type]);
    q.body = r.body();
    auto qm = q.target.find('?');
    q.path = q.target.substr(0, qm);
    if (qm != std::string::npos) {
      std::string rest = q.target.substr(qm + 1);
      size_t pos = 0;
      while (pos <= rest.size()) {
        auto amp = rest.find('&', pos);
        std::string kv = rest.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
        auto eq = kv.find('=');
        std::string k = kv.substr(0, eq);
        std::string v = eq == std::string::npos ? "" : kv.substr(eq + 1);
        q.query[k] = url_decode(v, true).value_or(v);
        if (amp == std::string::npos) break;
        pos = amp + 1;
      }
    }
    return q;
  }

  template <typename Stream>
  static asio::awaitable<void> serve(std::shared_ptr<State> st, Stream& s) {
    beast::flat_buffer buffer;
    for (;;) {
      beast::http::request<beast::http::string_body> req;
      boost::system::error_code ec;
      co_await beast::http::async_read(s, buffer, req,
                                       asio::redirect_error(asio::use_awaitable, ec));
      if (ec || st->stopped) co_return;
      Req q = parse(req);
      st->requests.push_back(q);
      Response r = st->handler(q);
      if (!r.stream) {
        beast::http::response<beast::http::string_body> res{
            static_cast<beast::http::status>(r.status), 11};
        res.set(beast::http::field::content_type, "application/json");
        res.body() = r.body;
        res.keep_alive(req.keep_alive());
        res.prepare_payload();
        co_await beast::http::async_write(s, res, asio::redirect_error(asio::use_awaitable, ec));
        if (ec || !req.keep_alive()) co_return;
        continue;
      }
      std::string head = "HTTP/1.1 " + std::to_string(r.status) +
                         " OK\r\nContent-Type: application/json\r\nTransfer-Encoding: "
                         "chunked\r\nConnection: close\r\n\r\n";
      co_await asio::async_write(s, asio::buffer(head),
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      for (const auto& c : r.chunks) {
        char len[32];
        snprintf(len, sizeof len, "%zx\r\n", c.size());
        std::string piece = std::string(len) + c + "\r\n";
        co_await asio::async_write(s, asio::buffer(piece),
                                   asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
        // Apart in time too, so that the client reads them one by one.
        asio::steady_timer pause(st->io, std::chrono::milliseconds(2));
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
      if (r.end == Response::End::Hold) {
        asio::steady_timer hold(st->io, std::chrono::hours(1));
        st->holds.insert(&hold);
        co_await hold.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        st->holds.erase(&hold);
        if (st->stopped) co_return;
        r.end = Response::End::Clean;
      }
      if (r.end == Response::End::Clean) {
        co_await asio::async_write(s, asio::buffer(std::string("0\r\n\r\n")),
                                   asio::redirect_error(asio::use_awaitable, ec));
      }
      co_return;  // Cut: close without the last chunk
    }
  }

  static asio::awaitable<void> connection(std::shared_ptr<State> st, asio::ip::tcp::socket sock) {
    boost::system::error_code ec;
    if (st->tls) {
      beast::ssl_stream<asio::ip::tcp::socket> s(std::move(sock), *st->tls);
      auto* raw = &s.next_layer();
      st->sockets.insert(raw);
      co_await s.async_handshake(asio::ssl::stream_base::server,
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (!ec) co_await serve(st, s);
      st->sockets.erase(raw);
      raw->close(ec);
    } else {
      st->sockets.insert(&sock);
      co_await serve(st, sock);
      st->sockets.erase(&sock);
      sock.close(ec);
    }
  }

  static asio::awaitable<void> accept_loop(std::shared_ptr<State> st) {
    for (;;) {
      boost::system::error_code ec;
      auto sock = co_await st->acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec || st->stopped) co_return;
      ++st->accepted;
      asio::co_spawn(st->io, connection(st, std::move(sock)), asio::detached);
    }
  }

  std::shared_ptr<State> state_;
  unsigned short port_ = 0;
};

// Runs `io` until `done()` or `timeout`; true when done.
template <typename Pred>
bool run_until(asio::io_context& io, Pred done,
               std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  io.restart();
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    io.run_one_for(std::chrono::milliseconds(20));
    io.restart();
  }
  return true;
}

// Runs one coroutine on `io` to its end and returns what it returned.
template <typename T>
T run_co(asio::io_context& io, asio::awaitable<T> aw,
         std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  std::optional<T> out;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { out.emplace(co_await std::move(aw)); }, asio::detached);
  if (!run_until(
          io, [&] { return out.has_value(); }, timeout)) {
    throw std::runtime_error("coroutine did not finish in time");
  }
  return std::move(*out);
}

}  // namespace netagent::kubeapi::testing
