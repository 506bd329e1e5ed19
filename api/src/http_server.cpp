#include "netagent/api/http_server.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

namespace netagent::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
// Unix and TCP connections are served by the same code: an accepted socket of either protocol
// becomes a generic stream socket.
using generic_stream = asio::generic::stream_protocol;

namespace {
class Connection;

// How long the accept loop pauses after accept() failed.
constexpr auto kAcceptRetry = std::chrono::milliseconds(100);
// Bytes read at a time while waiting for a request to start.
constexpr size_t kFirstRead = 4096;

int open_spare_fd() {
  return ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

}  // namespace

struct HttpServer::State : std::enable_shared_from_this<HttpServer::State> {
  State(asio::io_context& io, Options options, Handler handler)
      : io(io), options(std::move(options)), handler(std::move(handler)) {}
  ~State() {
    if (spare_fd >= 0) ::close(spare_fd);
  }
  asio::io_context& io;
  const Options options;
  const Handler handler;
  bool stopped = false;
  std::set<Connection*> connections;
  std::vector<std::function<void()>> close_acceptors;
  Stats stats;
  // The cap was reached and not left since (one log line per episode).
  bool at_cap = false;
  uint64_t rejected_at_cap_start = 0;
  bool accept_failing = false;
  // Held so that a listener out of descriptors can still accept (and close) the pending
  // connection instead of leaving it to make accept() fail again at once.
  int spare_fd = -1;

  void warn(const std::string& line) const {
    if (options.warn) options.warn(line);
  }

  template <class Acceptor>
  void serve(Acceptor acceptor) {
    if (spare_fd < 0) spare_fd = open_spare_fd();
    auto a = std::make_shared<Acceptor>(std::move(acceptor));
    close_acceptors.push_back([a] {
      beast::error_code ec;
      a->close(ec);
    });
    accept(std::move(a));
  }
  template <class Acceptor>
  void accept(std::shared_ptr<Acceptor> a);
  template <class Acceptor>
  void accept_failed(std::shared_ptr<Acceptor> a, const beast::error_code& ec);
  template <class Socket>
  void admit(Socket socket);
  void connection_closed();
};

namespace {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(generic_stream::socket socket, std::shared_ptr<HttpServer::State> server)
      : stream_(std::move(socket)), server_(std::move(server)) {
    server_->connections.insert(this);
  }
  ~Connection() {
    server_->connections.erase(this);
    server_->connection_closed();
  }

  void start() { read_request(); }

  // Ends the connection (and any stream on it) now.
  void shutdown() {
    if (closed_.exchange(true)) return;
    beast::error_code ec;
    stream_.socket().shutdown(generic_stream::socket::shutdown_both, ec);
    stream_.socket().close(ec);
    run_close_callbacks();
  }

  // ---- the streaming side, called by ConnectionStream (any thread) ----
  bool stream_write(std::string chunk) {
    if (closed_.load() || stream_state_.load() == kRejected) return false;
    {
      std::lock_guard lock(mu_);
      if (queue_.size() >= server_->options.max_queued_chunks) {
        dropped_.fetch_add(1);
        return true;
      }
      queue_.push_back(std::move(chunk));
    }
    asio::post(stream_.get_executor(), [self = shared_from_this()] { self->flush(); });
    return true;
  }
  void stream_end(bool abort = false) {
    asio::post(stream_.get_executor(), [self = shared_from_this(), abort] {
      if (self->stream_state_.load() != kStreaming) return;
      self->ending_ = true;
      if (abort) self->aborting_ = true;
      self->flush();
    });
  }
  bool stream_closed() const { return closed_.load(); }
  uint64_t stream_dropped() const { return dropped_.load(); }
  void stream_on_close(std::function<void()> fn) {
    asio::post(stream_.get_executor(), [self = shared_from_this(), fn = std::move(fn)]() mutable {
      if (self->closed_.load()) {
        fn();
      } else {
        self->on_close_.push_back(std::move(fn));
      }
    });
  }

 private:
  // Waits (at most idle_timeout) for the first bytes of the next request, unless they are here.
  void read_request() {
    parser_.emplace();
    parser_->body_limit(server_->options.max_body);
    parser_->header_limit(server_->options.max_header);
    if (buffer_.size() > 0) return read_rest();  // pipelined: the request has started
    stream_.expires_after(server_->options.idle_timeout);
    stream_.async_read_some(buffer_.prepare(kFirstRead),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              if (ec == beast::error::timeout) ++self->server_->stats.idle_closed;
                              if (ec || self->server_->stopped) return self->shutdown();
                              self->buffer_.commit(n);
                              self->read_rest();
                            });
  }

  // The rest of a started request: header and body within request_timeout.
  void read_rest() {
    stream_.expires_after(server_->options.request_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_request(ec); });
  }

  void on_request(beast::error_code ec) {
    if (ec == http::error::body_limit && server_->options.body_too_large) {
      auto res = server_->options.body_too_large();
      res.keep_alive(false);
      return write_response(std::move(res));
    }
    if (ec == beast::error::timeout) ++server_->stats.timed_out;
    // End of stream, timeout, a request that does not parse, or a server that stopped (whose
    // handler may be gone).
    if (ec || server_->stopped) return shutdown();
    auto req = parser_->release();
    HttpServer::OpenStream open_stream = [this] { return open_chunk_stream(); };
    HttpServer::Answer answer = server_->handler(req, open_stream);
    if (answer.stream) return start_stream(std::move(answer.response));
    if (stream_opened_) {
      // The handler refused the stream it had opened: nothing was sent yet, and what it wrote
      // is discarded with the queue.
      stream_state_.store(kRejected);
      std::lock_guard lock(mu_);
      queue_.clear();
    }
    write_response(std::move(answer.response));
  }

  void write_response(HttpResponse response) {
    auto res = std::make_shared<HttpResponse>(std::move(response));
    stream_.expires_after(server_->options.request_timeout);
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, size_t) {
                        if (ec == beast::error::timeout) ++self->server_->stats.timed_out;
                        if (ec || !res->keep_alive()) return self->shutdown();
                        self->read_request();
                      });
  }

  std::shared_ptr<ChunkStream> open_chunk_stream();

  void start_stream(HttpResponse head) {
    stream_state_.store(kStreaming);
    stream_.expires_never();
    stream_head_ = std::make_shared<HttpResponse>(std::move(head));
    stream_head_->keep_alive(false);
    stream_head_->chunked(true);
    stream_serializer_ =
        std::make_shared<http::response_serializer<http::string_body>>(*stream_head_);
    writing_ = true;
    http::async_write_header(stream_, *stream_serializer_,
                             [self = shared_from_this()](beast::error_code ec, size_t) {
                               self->writing_ = false;
                               if (ec) return self->shutdown();
                               self->watch_client();
                               self->flush();
                             });
  }

  void watch_client() {
    // The client sends nothing while it reads a stream: readability means it closed the
    // connection (EOF) or broke protocol; either way the stream is over.
    stream_.socket().async_wait(
        generic_stream::socket::wait_read,
        [self = shared_from_this()](beast::error_code) { self->shutdown(); });
  }

  void flush() {
    if (writing_ || closed_.load() || stream_state_.load() != kStreaming) return;
    std::string batch;
    {
      std::lock_guard lock(mu_);
      for (auto& chunk : queue_)
        batch += chunk;
      queue_.clear();
    }
    if (batch.empty()) {
      if (ending_ && aborting_) return shutdown();
      if (ending_) finish_stream();
      return;
    }
    writing_ = true;
    auto buf = std::make_shared<std::string>(std::move(batch));
    asio::async_write(stream_, http::make_chunk(asio::buffer(*buf)),
                      [self = shared_from_this(), buf](beast::error_code ec, size_t) {
                        self->writing_ = false;
                        if (ec) return self->shutdown();
                        self->flush();
                      });
  }

  void finish_stream() {
    writing_ = true;
    asio::async_write(stream_, http::make_chunk_last(),
                      [self = shared_from_this()](beast::error_code, size_t) { self->shutdown(); });
  }

  void run_close_callbacks() {
    auto callbacks = std::move(on_close_);
    on_close_.clear();
    for (auto& fn : callbacks)
      fn();
  }

  beast::basic_stream<generic_stream> stream_;
  std::shared_ptr<HttpServer::State> server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;

  // Streaming state. queue_ is shared with producer threads; the rest lives on the io_context.
  std::mutex mu_;
  std::deque<std::string> queue_;
  std::atomic<bool> closed_{false};
  // A handler may queue chunks before it returns; they are sent only once it answered with the
  // stream's head (kStreaming), and discarded when it answered with a response (kRejected).
  static constexpr int kPending = 0, kStreaming = 1, kRejected = 2;
  std::atomic<int> stream_state_{kPending};
  std::atomic<uint64_t> dropped_{0};
  bool stream_opened_ = false;
  bool writing_ = false;
  bool ending_ = false;
  bool aborting_ = false;  // ending without the last chunk
  std::vector<std::function<void()>> on_close_;
  std::shared_ptr<HttpResponse> stream_head_;
  std::shared_ptr<http::response_serializer<http::string_body>> stream_serializer_;
};

// What a streaming handler holds. Letting go of it ends the stream.
class ConnectionStream : public ChunkStream {
 public:
  explicit ConnectionStream(std::shared_ptr<Connection> c) : c_(std::move(c)) {}
  ~ConnectionStream() override { c_->stream_end(); }

  bool write(std::string chunk) override { return c_->stream_write(std::move(chunk)); }
  void end() override { c_->stream_end(); }
  void abort() override { c_->stream_end(true); }
  bool closed() const override { return c_->stream_closed(); }
  void on_close(std::function<void()> fn) override { c_->stream_on_close(std::move(fn)); }
  uint64_t dropped() const override { return c_->stream_dropped(); }

 private:
  std::shared_ptr<Connection> c_;
};

std::shared_ptr<ChunkStream> Connection::open_chunk_stream() {
  stream_opened_ = true;
  return std::make_shared<ConnectionStream>(shared_from_this());
}

}  // namespace

template <class Acceptor>
void HttpServer::State::accept(std::shared_ptr<Acceptor> a) {
  a->async_accept([self = shared_from_this(), a](beast::error_code ec,
                                                 typename Acceptor::protocol_type::socket socket) {
    if (self->stopped || ec == asio::error::operation_aborted) return;
    if (ec) return self->accept_failed(a, ec);
    if (self->accept_failing) {
      self->accept_failing = false;
      self->warn(self->options.name + " listener: accepting connections again");
    }
    self->admit(std::move(socket));
    self->accept(a);
  });
}

template <class Socket>
void HttpServer::State::admit(Socket socket) {
  const size_t cap = options.max_connections;
  if (cap != 0 && connections.size() >= cap) {
    // Over the cap: close at once. The client sees its connection closed, the listener goes on.
    beast::error_code ignored;
    socket.close(ignored);
    ++stats.rejected;
    if (!at_cap) {
      at_cap = true;
      rejected_at_cap_start = stats.rejected - 1;
      warn(options.name + " listener: " + std::to_string(cap) +
           " connections open, the cap: closing new connections at once until some end");
    }
    return;
  }
  ++stats.accepted;
  std::make_shared<Connection>(generic_stream::socket(std::move(socket)), shared_from_this())
      ->start();
}

void HttpServer::State::connection_closed() {
  if (!at_cap || stopped) return;
  // Some slack, so that a client at the cap does not make a log line per connection.
  if (connections.size() > options.max_connections * 3 / 4) return;
  at_cap = false;
  warn(options.name + " listener: under the cap of " + std::to_string(options.max_connections) +
       " connections again; " + std::to_string(stats.rejected - rejected_at_cap_start) +
       " connection(s) were closed at once meanwhile");
}

template <class Acceptor>
void HttpServer::State::accept_failed(std::shared_ptr<Acceptor> a, const beast::error_code& ec) {
  ++stats.accept_errors;
  if (ec == asio::error::no_descriptors || ec.value() == ENFILE) {
    // Out of descriptors: give back the spare, take the pending connection and close it, so
    // that it does not make the next accept() fail again; then hold the spare again.
    if (spare_fd >= 0) {
      ::close(spare_fd);
      spare_fd = -1;
    }
    beast::error_code nb;
    a->non_blocking(true, nb);
    int fd = ::accept4(a->native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) {
      ::close(fd);
      ++stats.rejected;
    }
    spare_fd = open_spare_fd();
  }
  if (!accept_failing) {
    accept_failing = true;
    warn(options.name + " listener: accept failed: " + ec.message() + " (" +
         std::to_string(connections.size()) + " connections open); retrying every " +
         std::to_string(kAcceptRetry.count()) + " ms");
  }
  // Never spin on an error: try again after a pause.
  auto timer = std::make_shared<asio::steady_timer>(io, kAcceptRetry);
  timer->async_wait([self = shared_from_this(), a, timer](const beast::error_code& e) {
    if (e || self->stopped) return;
    self->accept(a);
  });
}

HttpServer::HttpServer(asio::io_context& io, Options options, Handler handler)
    : state_(std::make_shared<State>(io, std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() {
  stop();
}

void HttpServer::serve(asio::local::stream_protocol::acceptor acceptor) {
  state_->serve(std::move(acceptor));
}

void HttpServer::serve(asio::ip::tcp::acceptor acceptor) {
  state_->serve(std::move(acceptor));
}

void HttpServer::stop() {
  if (state_->stopped) return;
  state_->stopped = true;
  for (auto& close : state_->close_acceptors)
    close();
  state_->close_acceptors.clear();
  // shutdown() may drop the last reference to a connection, which erases it from the set.
  std::vector<Connection*> connections(state_->connections.begin(), state_->connections.end());
  std::vector<std::shared_ptr<Connection>> keep;
  for (Connection* c : connections)
    keep.push_back(c->shared_from_this());
  for (auto& c : keep)
    c->shutdown();
}

size_t HttpServer::connections() const {
  return state_->connections.size();
}

HttpServer::Stats HttpServer::stats() const {
  Stats s = state_->stats;
  s.open = state_->connections.size();
  s.max_connections = state_->options.max_connections;
  return s;
}

}  // namespace netagent::api
