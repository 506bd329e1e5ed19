#include "netagent/api/server.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <optional>

#include "netagent/api/http_server.hpp"

namespace netagent::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using local = asio::local::stream_protocol;

namespace {

constexpr size_t kMaxBody = 1 << 20;  // requests carry small JSON documents
constexpr size_t kMaxHeader = 16 << 10;
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

// A streaming handler's Stream: one JSON value a line, each line written as it comes.
class JsonLines : public Stream {
 public:
  explicit JsonLines(std::shared_ptr<ChunkStream> chunks) : chunks_(std::move(chunks)) {}

  bool write(const nlohmann::json& line) override { return chunks_->write(dump(line) + "\n"); }
  void close() override { chunks_->end(); }
  bool closed() const override { return chunks_->closed(); }
  void on_close(std::function<void()> fn) override { chunks_->on_close(std::move(fn)); }
  uint64_t dropped() const override { return chunks_->dropped(); }

 private:
  std::shared_ptr<ChunkStream> chunks_;
};

using Clock = std::chrono::steady_clock;

}  // namespace

struct ApiServer::State {
  State(asio::io_context& io, const Router& router) : io(io), router(router) {}
  asio::io_context& io;
  const Router& router;
  std::string path;
  bool bound = false;
  RequestObserver observer;

  HttpServer::Answer handle(const HttpRequest& req, const HttpServer::OpenStream& open_stream) {
    const auto start = Clock::now();
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
    auto matched = router.match(*method, target);
    if (auto* err = std::get_if<ApiError>(&matched)) {
      return reply(*err, version, keep_alive, "", verb, start);
    }
    auto& m = std::get<Router::Match>(matched);
    if (m.stream) return start_stream(m, open_stream, version, verb, start);
    Reply r = router.handle(*method, target, req.body());
    return reply(r, version, keep_alive, m.pattern, verb, start);
  }

  HttpResponse reply(const Reply& r, unsigned version, bool keep_alive, const std::string& route,
                     const std::string& verb, Clock::time_point start = Clock::now()) {
    HttpResponse res(static_cast<http::status>(r.status()), version);
    res.set(http::field::server, "netagent");
    res.set(http::field::content_type, "application/json");
    res.keep_alive(keep_alive);
    res.body() = dump(r.body()) + "\n";
    res.prepare_payload();
    observe(verb, route, r.status(), start);
    return res;
  }

  HttpServer::Answer start_stream(const Router::Match& m, const HttpServer::OpenStream& open_stream,
                                  unsigned version, const std::string& verb,
                                  Clock::time_point start) {
    auto stream = std::make_shared<JsonLines>(open_stream());
    std::optional<ApiError> err;
    try {
      err = (*m.stream)(m.request, stream);
    } catch (const std::exception& e) {
      err = internal("stream handler for " + m.pattern + " failed: " + e.what());
    }
    // Nothing was sent yet: an error is a normal error reply (and the lines the handler wrote
    // are discarded).
    if (err) return reply(*err, version, false, m.pattern, verb, start);
    observe(verb, m.pattern, 200, start);
    HttpResponse head(http::status::ok, version);
    head.set(http::field::server, "netagent");
    head.set(http::field::content_type, "application/x-ndjson");
    return HttpServer::Answer(std::move(head), true);
  }

  void observe(const std::string& method, const std::string& route, int status,
               Clock::time_point start) {
    if (!observer) return;
    observer(method, route, status, std::chrono::duration<double>(Clock::now() - start).count());
  }
};

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

ApiServer::ApiServer(asio::io_context& io, const Router& router, ListenerLimits limits)
    : state_(std::make_shared<State>(io, router)) {
  HttpServer::Options o;
  o.max_body = kMaxBody;
  o.max_header = kMaxHeader;
  o.idle_timeout = limits.idle_timeout;
  o.request_timeout = limits.request_timeout;
  o.max_connections = limits.max_connections;
  o.name = "API";
  o.warn = std::move(limits.warn);
  o.max_queued_chunks = kMaxQueuedLines;
  o.body_too_large = [state = state_] {
    return state->reply(ApiError{413, "payload_too_large",
                                 "request body exceeds " + std::to_string(kMaxBody) + " bytes"},
                        11, false, "", "?");
  };
  http_ = std::make_unique<HttpServer>(
      io, std::move(o), [state = state_](const HttpRequest& req, const HttpServer::OpenStream& s) {
        return state->handle(req, s);
      });
}

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
  local::acceptor a(state_->io);
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
  http_->serve(std::move(a));
  return {};
}

void ApiServer::stop() {
  http_->stop();
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
  return http_->connections();
}

HttpServer::Stats ApiServer::stats() const {
  return http_->stats();
}

}  // namespace netagent::api
