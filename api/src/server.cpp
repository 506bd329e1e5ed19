#include "netagent/api/server.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <deque>
#include <mutex>
#include <set>

namespace netagent::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using local = asio::local::stream_protocol;

namespace {

constexpr size_t kMaxBody = 1 << 20;  // requests carry small JSON documents
constexpr size_t kMaxHeader = 16 << 10;
constexpr auto kIdleTimeout = std::chrono::seconds(300);
// Lines queued for a slow stream reader before new lines are dropped.
constexpr size_t kMaxQueuedLines = 4096;

std::string dump(const nlohmann::json& j) {
  // Replace invalid UTF-8 (which could come from manifests) instead of throwing.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<Method> to_method(http::verb v) {
  switch (v) {
    case http::verb::get:
      return Method::Get;
    case http::verb::post:
      return Method::Post;
    case http::verb::put:
      return Method::Put;
    case http::verb::delete_:
      return Method::Delete;
    default:
      return std::nullopt;
  }
}

class Session;

}  // namespace

struct ApiServer::State : std::enable_shared_from_this<ApiServer::State> {
  State(asio::io_context& io, const Router& router) : io(io), router(router), acceptor(io) {}
  asio::io_context& io;
  const Router& router;
  local::acceptor acceptor;
  std::string path;
  bool bound = false;
  bool stopped = false;
  std::set<Session*> sessions;
  RequestObserver observer;

  void accept();
  void observe(const std::string& method, const std::string& route, int status,
               std::chrono::steady_clock::time_point start) {
    if (!observer) return;
    observer(method, route, status,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(local::socket socket, std::shared_ptr<ApiServer::State> server)
      : stream_(std::move(socket)), server_(std::move(server)) {
    server_->sessions.insert(this);
  }
  ~Session() { server_->sessions.erase(this); }

  void start() { read_request(); }

  // Ends the connection (and any stream on it) now.
  void shutdown() {
    if (closed_.exchange(true)) return;
    beast::error_code ec;
    stream_.socket().shutdown(local::socket::shutdown_both, ec);
    stream_.socket().close(ec);
    run_close_callbacks();
  }

  // ---- the streaming side, called by StreamHandle (any thread) ----
  bool stream_write(std::string line) {
    if (closed_.load() || stream_state_.load() == kRejected) return false;
    {
      std::lock_guard lock(mu_);
      if (queue_.size() >= kMaxQueuedLines) {
        dropped_.fetch_add(1);
        return true;
      }
      queue_.push_back(std::move(line));
    }
    asio::post(stream_.get_executor(), [self = shared_from_this()] { self->flush(); });
    return true;
  }
  void stream_end() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->stream_state_.load() != kStreaming) return;
      self->ending_ = true;
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
  void read_request() {
    parser_.emplace();
    parser_->body_limit(kMaxBody);
    parser_->header_limit(kMaxHeader);
    stream_.expires_after(kIdleTimeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_request(ec); });
  }

  void on_request(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return reply(ApiError{413, "payload_too_large",
                            "request body exceeds " + std::to_string(kMaxBody) + " bytes"},
                   11, false, "", "?");
    }
    if (ec) return shutdown();  // end of stream, timeout, or a request that does not parse
    auto start = std::chrono::steady_clock::now();
    auto req = parser_->release();
    const bool keep_alive = req.keep_alive();
    const unsigned version = req.version();
    const std::string verb(req.method_string());
    auto method = to_method(req.method());
    if (!method) {
      return reply(
          ApiError{405, "method_not_allowed", "HTTP method " + verb + " is not used by this API"},
          version, keep_alive, "", verb, start);
    }
    const std::string target(req.target());
    auto matched = server_->router.match(*method, target);
    if (auto* err = std::get_if<ApiError>(&matched)) {
      return reply(*err, version, keep_alive, "", verb, start);
    }
    auto& m = std::get<Router::Match>(matched);
    if (m.stream) return start_stream(std::move(m), version, verb, start);
    Reply r = server_->router.handle(*method, target, req.body());
    reply(r, version, keep_alive, m.pattern, verb, start);
  }

  void reply(const Reply& r, unsigned version, bool keep_alive, const std::string& route,
             const std::string& verb,
             std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now()) {
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(r.status()), version);
    res->set(http::field::server, "netagent");
    res->set(http::field::content_type, "application/json");
    res->keep_alive(keep_alive);
    res->body() = dump(r.body()) + "\n";
    res->prepare_payload();
    server_->observe(verb, route, r.status(), start);
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, size_t) {
                        if (ec || !res->keep_alive()) return self->shutdown();
                        self->read_request();
                      });
  }

  void start_stream(Router::Match m, unsigned version, const std::string& verb,
                    std::chrono::steady_clock::time_point start);

  void watch_client() {
    // The client sends nothing while it reads a stream: readability means it closed the
    // connection (EOF) or broke protocol; either way the stream is over.
    stream_.socket().async_wait(
        local::socket::wait_read,
        [self = shared_from_this()](beast::error_code) { self->shutdown(); });
  }

  void flush() {
    if (writing_ || closed_.load() || stream_state_.load() != kStreaming) return;
    std::string batch;
    {
      std::lock_guard lock(mu_);
      for (auto& line : queue_)
        batch += line;
      queue_.clear();
    }
    if (batch.empty()) {
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

  friend class StreamHandle;

  beast::basic_stream<local> stream_;
  std::shared_ptr<ApiServer::State> server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;

  // Streaming state. queue_ is shared with producer threads; the rest lives on the io_context.
  std::mutex mu_;
  std::deque<std::string> queue_;
  std::atomic<bool> closed_{false};
  // A streaming handler may queue lines before it returns; they are sent only once it accepted
  // the request (kStreaming), and discarded when it returned an error instead (kRejected).
  static constexpr int kPending = 0, kStreaming = 1, kRejected = 2;
  std::atomic<int> stream_state_{kPending};
  std::atomic<uint64_t> dropped_{0};
  bool writing_ = false;
  bool ending_ = false;
  std::vector<std::function<void()>> on_close_;
  std::shared_ptr<http::response<http::empty_body>> stream_header_;
  std::shared_ptr<http::response_serializer<http::empty_body>> stream_serializer_;
};

// What a streaming handler holds. Letting go of it ends the stream.
class StreamHandle : public Stream {
 public:
  explicit StreamHandle(std::shared_ptr<Session> s) : s_(std::move(s)) {}
  ~StreamHandle() override { s_->stream_end(); }

  bool write(const nlohmann::json& line) override { return s_->stream_write(dump(line) + "\n"); }
  void close() override { s_->stream_end(); }
  bool closed() const override { return s_->stream_closed(); }
  void on_close(std::function<void()> fn) override { s_->stream_on_close(std::move(fn)); }
  uint64_t dropped() const override { return s_->stream_dropped(); }

 private:
  std::shared_ptr<Session> s_;
};

void Session::start_stream(Router::Match m, unsigned version, const std::string& verb,
                           std::chrono::steady_clock::time_point start) {
  auto stream = std::make_shared<StreamHandle>(shared_from_this());
  std::optional<ApiError> err;
  try {
    err = (*m.stream)(m.request, stream);
  } catch (const std::exception& e) {
    err = internal("stream handler for " + m.pattern + " failed: " + e.what());
  }
  if (err) {
    // Nothing was sent yet: answer with a normal error reply. Lines the handler wrote are
    // discarded with the queue.
    stream_state_.store(kRejected);
    {
      std::lock_guard lock(mu_);
      queue_.clear();
    }
    return reply(*err, version, false, m.pattern, verb, start);
  }
  server_->observe(verb, m.pattern, 200, start);
  stream_state_.store(kStreaming);
  stream_.expires_never();
  stream_header_ = std::make_shared<http::response<http::empty_body>>(http::status::ok, version);
  stream_header_->set(http::field::server, "netagent");
  stream_header_->set(http::field::content_type, "application/x-ndjson");
  stream_header_->keep_alive(false);
  stream_header_->chunked(true);
  stream_serializer_ =
      std::make_shared<http::response_serializer<http::empty_body>>(*stream_header_);
  writing_ = true;
  http::async_write_header(stream_, *stream_serializer_,
                           [self = shared_from_this()](beast::error_code ec, size_t) {
                             self->writing_ = false;
                             if (ec) return self->shutdown();
                             self->watch_client();
                             self->flush();
                           });
}

}  // namespace

void ApiServer::State::accept() {
  acceptor.async_accept([self = shared_from_this()](beast::error_code ec, local::socket socket) {
    if (self->stopped) return;
    if (!ec) std::make_shared<Session>(std::move(socket), self)->start();
    self->accept();
  });
}

bool socket_answers(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) return false;
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, path.size());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  // connect() on a unix socket completes at once: ECONNREFUSED when nobody listens (a stale
  // file), success (or EAGAIN with a full backlog) when a process accepts on it.
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  int err = errno;
  ::close(fd);
  return rc == 0 || err == EAGAIN;
}

ApiServer::ApiServer(asio::io_context& io, const Router& router)
    : state_(std::make_shared<State>(io, router)) {}

ApiServer::~ApiServer() {
  stop();
}

Status ApiServer::listen(const std::string& path) {
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return Error{"API socket path " + path + " is too long (max " +
                     std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes)",
                 ENAMETOOLONG};
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return Error{"API socket path " + path +
                       " exists and is not a socket; remove it or choose another --api-socket",
                   EEXIST};
    }
    if (socket_answers(path)) {
      return Error{"API socket " + path +
                       " is in use by a running netagent; stop it first, or give this agent its "
                       "own --api-socket",
                   EADDRINUSE};
    }
    if (::unlink(path.c_str()) != 0) {
      return sys_error("remove stale API socket " + path);
    }
  }

  beast::error_code ec;
  auto& a = state_->acceptor;
  a.open(local(), ec);
  if (ec) return Error{"create API socket", ec.value()};
  // The socket file takes its mode from the umask at bind(): create it 0600 directly so that
  // there is no window in which others could connect.
  mode_t old = ::umask(0177);
  a.bind(local::endpoint(path), ec);
  ::umask(old);
  if (ec) return Error{"bind API socket " + path, ec.value()};
  state_->bound = true;
  state_->path = path;
  if (::chmod(path.c_str(), 0600) != 0) return sys_error("chmod 0600 " + path);
  a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Error{"listen on API socket " + path, ec.value()};
  state_->accept();
  return {};
}

void ApiServer::stop() {
  if (state_->stopped) return;
  state_->stopped = true;
  beast::error_code ec;
  state_->acceptor.close(ec);
  // shutdown() may drop the last reference to a session, which erases it from the set.
  std::vector<Session*> sessions(state_->sessions.begin(), state_->sessions.end());
  std::vector<std::shared_ptr<Session>> keep;
  for (Session* s : sessions)
    keep.push_back(s->shared_from_this());
  for (auto& s : keep)
    s->shutdown();
  if (state_->bound) {
    ::unlink(state_->path.c_str());
    state_->bound = false;
  }
}

void ApiServer::on_request(RequestObserver observer) {
  state_->observer = std::move(observer);
}

const std::string& ApiServer::path() const {
  return state_->path;
}

size_t ApiServer::connections() const {
  return state_->sessions.size();
}

}  // namespace netagent::api
