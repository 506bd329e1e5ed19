#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "netagent/testing/kube_standin.hpp"

namespace netagent::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using json = nlohmann::json;

// A keep-alive connection for the requests of a test (thousands of objects would otherwise
// leave as many sockets in TIME_WAIT).
struct KubeStandin::Connection {
  asio::io_context io;
  beast::tcp_stream stream{io};
  bool open = false;
};

KubeStandin::KubeStandin() : KubeStandin(Options{}) {}

KubeStandin::KubeStandin(Options options) : opt_(std::move(options)) {
  dir_ = std::make_unique<TempDir>("kube-standin");
  log_ = dir_->path() + "/standin.log";
  start();
  if (!opt_.tls_cert.empty()) start_tls_front();
}

void KubeStandin::start_tls_front() {
  std::string host = address_.substr(0, address_.rfind(':'));
  std::string bind = host;
  if (bind.size() > 2 && bind.front() == '[') bind = bind.substr(1, bind.size() - 2);
  std::string log = dir_->path() + "/tls-front.log";
  // -d -d: socat logs the address it listens on ("listening on AF=2 127.0.0.1:PORT").
  tls_front_ = std::make_unique<Process>(
      std::vector<std::string>{
          "socat", "-d", "-d",
          (host.front() == '[' ? "OPENSSL-LISTEN:0,pf=ip6,bind=" : "OPENSSL-LISTEN:0,bind=") +
              bind + ",reuseaddr,fork,cert=" + opt_.tls_cert + ",key=" + opt_.tls_key + ",verify=0",
          "TCP:" + address_},
      opt_.netns, log);
  std::string port;
  bool ok = wait_until(
      [&] {
        std::ifstream in(log);
        std::string line;
        while (std::getline(in, line)) {
          auto p = line.find("listening on AF=");
          if (p != std::string::npos) {
            port = line.substr(line.rfind(':') + 1);
            return true;
          }
        }
        return !tls_front_->alive();
      },
      std::chrono::seconds(10), std::chrono::milliseconds(10));
  if (!ok || port.empty()) {
    std::ifstream in(log);
    throw std::runtime_error("socat (the TLS front) did not start: " +
                             std::string(std::istreambuf_iterator<char>(in), {}));
  }
  tls_address_ = host + ":" + port;
}

KubeStandin::~KubeStandin() {
  conn_.reset();
  if (tls_front_) tls_front_->stop(SIGKILL, std::chrono::seconds(2));
  if (process_) process_->stop(SIGKILL, std::chrono::seconds(2));
}

pid_t KubeStandin::pid() const {
  return process_ ? process_->pid() : -1;
}

std::string KubeStandin::log() const {
  std::ifstream in(log_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void KubeStandin::start() {
  std::vector<std::string> argv = {NETAGENT_KUBE_STANDIN_BIN, "--listen",
                                   address_.empty() ? opt_.listen : address_,
                                   // A test that dies (its timeout) leaves no server behind.
                                   "--exit-with-parent"};
  if (!opt_.token.empty()) argv.insert(argv.end(), {"--token", opt_.token});
  if (!opt_.watch_list) argv.push_back("--no-watch-list");
  if (!opt_.watch_list && opt_.watch_list_ignored) argv.push_back("--watch-list-ignored");
  argv.insert(argv.end(), {"--bookmark-interval", std::to_string(opt_.bookmark_interval)});
  if (opt_.history) argv.insert(argv.end(), {"--history", std::to_string(opt_.history)});
  if (opt_.snapshot) argv.insert(argv.end(), {"--snapshot", dir_->path() + "/state.json"});
  argv.insert(argv.end(), opt_.extra_args.begin(), opt_.extra_args.end());
  // A fresh log for each start: its first line is this run's address.
  std::ofstream(log_, std::ios::trunc).close();
  process_ = std::make_unique<Process>(argv, opt_.netns, log_);
  std::string line;
  bool ok = wait_until(
      [&] {
        std::ifstream in(log_);
        if (!std::getline(in, line)) return false;
        return line.rfind("listening on ", 0) == 0 || !process_->alive();
      },
      std::chrono::seconds(10), std::chrono::milliseconds(10));
  if (!ok || line.rfind("listening on ", 0) != 0)
    throw std::runtime_error("netagent-kube-standin did not start: " + log());
  address_ = line.substr(std::string("listening on ").size());
}

void KubeStandin::kill(int sig) {
  if (process_) process_->stop(sig, std::chrono::seconds(5));
}

void KubeStandin::restart(bool keep_state) {
  if (keep_state && !opt_.snapshot)
    throw std::logic_error("KubeStandin::restart(true) needs Options::snapshot");
  conn_.reset();
  kill(keep_state ? SIGTERM : SIGKILL);
  if (!keep_state) std::remove((dir_->path() + "/state.json").c_str());
  process_.reset();
  start();
}

namespace {

http::request<http::string_body> make_request(const std::string& address, const std::string& token,
                                              const std::string& method, const std::string& target,
                                              const std::string& body,
                                              const std::string& content_type) {
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, address);
  req.set(http::field::accept, "application/json");
  req.set(http::field::user_agent, "netagent-tests");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  if (!body.empty()) {
    req.set(http::field::content_type, content_type);
    req.body() = body;
  }
  req.keep_alive(true);
  req.prepare_payload();
  return req;
}

asio::ip::tcp::endpoint endpoint_of(const std::string& address) {
  auto colon = address.rfind(':');
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  return {asio::ip::make_address(host),
          static_cast<uint16_t>(std::stoi(address.substr(colon + 1)))};
}

KubeResponse round_trip(beast::tcp_stream& stream, const http::request<http::string_body>& req) {
  stream.expires_after(std::chrono::seconds(60));
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(256 << 20);
  http::read(stream, buffer, parser);
  return KubeResponse{parser.get().result_int(), parser.get().body()};
}

std::string plural(const std::string& kind) {
  std::string s;
  for (char c : kind)
    s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s == "endpoints") return s;
  if (s.back() == 'y') return s.substr(0, s.size() - 1) + "ies";
  return s + "s";
}

bool cluster_scoped(const std::string& kind) {
  static const std::set<std::string> kinds = {"Namespace",
                                              "Node",
                                              "CiliumClusterwideNetworkPolicy",
                                              "CiliumLoadBalancerIPPool",
                                              "CiliumBGPPeeringPolicy",
                                              "CiliumBGPClusterConfig",
                                              "CiliumBGPPeerConfig",
                                              "CiliumBGPAdvertisement",
                                              "CiliumBGPNodeConfigOverride"};
  return kinds.count(kind) > 0;
}

void expect(const KubeResponse& r, std::initializer_list<unsigned> ok, const std::string& what) {
  for (unsigned c : ok)
    if (r.status == c) return;
  throw std::runtime_error(what + ": " + std::to_string(r.status) + " " + r.body);
}

}  // namespace

KubeResponse KubeStandin::request(const std::string& method, const std::string& target,
                                  const std::string& body, const std::string& content_type) const {
  auto req = make_request(address_, opt_.token, method, target, body, content_type);
  if (!opt_.netns) {
    if (!conn_) conn_ = std::make_unique<Connection>();
    // Once more on a new connection when the kept one fails (the server closed it).
    for (int attempt = 0;; ++attempt) {
      try {
        if (!conn_->open) {
          conn_->stream.expires_after(std::chrono::seconds(10));
          conn_->stream.connect(endpoint_of(address_));
          conn_->open = true;
        }
        return round_trip(conn_->stream, req);
      } catch (const std::exception&) {
        beast::error_code ec;
        conn_->stream.socket().close(ec);
        conn_->open = false;
        if (attempt > 0) throw;
      }
    }
  }
  // The server listens inside a namespace: connect from a thread that entered it (setns moves
  // only the calling thread), one connection per request.
  KubeResponse out;
  std::exception_ptr error;
  std::thread t([&] {
    try {
      int fd = ::open(opt_.netns->path().c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
        if (fd >= 0) ::close(fd);
        throw std::runtime_error("setns " + opt_.netns->path());
      }
      ::close(fd);
      asio::io_context io;
      beast::tcp_stream stream(io);
      stream.expires_after(std::chrono::seconds(10));
      stream.connect(endpoint_of(address_));
      out = round_trip(stream, req);
    } catch (...) {
      error = std::current_exception();
    }
  });
  t.join();
  if (error) std::rethrow_exception(error);
  return out;
}

std::string KubeStandin::collection_path(const json& object) {
  std::string av = object.value("apiVersion", "");
  std::string kind = object.value("kind", "");
  if (av.empty() || kind.empty()) throw std::runtime_error("object without apiVersion/kind");
  std::string path = av.find('/') == std::string::npos ? "/api/" + av : "/apis/" + av;
  if (!cluster_scoped(kind)) {
    std::string ns = "default";
    if (object.contains("metadata") && object["metadata"].contains("namespace"))
      ns = object["metadata"]["namespace"];
    path += "/namespaces/" + ns;
  }
  return path + "/" + plural(kind);
}

std::string KubeStandin::object_path(const json& object) {
  return collection_path(object) + "/" + object["metadata"]["name"].get<std::string>();
}

json KubeStandin::apply(const json& object) {
  auto r = request("POST", collection_path(object), object.dump());
  if (r.status == 409) {
    auto cur = request("GET", object_path(object));
    expect(cur, {200}, "GET " + object_path(object));
    json next = object;
    next["metadata"]["resourceVersion"] = cur.json()["metadata"]["resourceVersion"];
    r = request("PUT", object_path(object), next.dump());
    expect(r, {200}, "PUT " + object_path(object));
  } else {
    expect(r, {201}, "POST " + collection_path(object));
  }
  return r.json();
}

json KubeStandin::apply_status(const json& object) {
  auto cur = request("GET", object_path(object));
  expect(cur, {200}, "GET " + object_path(object));
  json next = cur.json();
  next["status"] = object.value("status", json::object());
  auto r = request("PUT", object_path(object) + "/status", next.dump());
  expect(r, {200}, "PUT " + object_path(object) + "/status");
  return r.json();
}

json KubeStandin::get(const json& object) {
  auto r = request("GET", object_path(object));
  if (r.status == 404) return nullptr;
  expect(r, {200}, "GET " + object_path(object));
  return r.json();
}

void KubeStandin::remove(const json& object) {
  auto r = request("DELETE", object_path(object));
  expect(r, {200, 404}, "DELETE " + object_path(object));
}

void KubeStandin::create_namespace(const std::string& name) {
  apply({{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}}}});
}

void KubeStandin::compact() {
  expect(request("POST", "/standin/compact"), {200}, "compact");
}

void KubeStandin::cut_watches() {
  expect(request("POST", "/standin/cut-watches"), {200}, "cut-watches");
}

json KubeStandin::stats() {
  auto r = request("GET", "/standin/stats");
  expect(r, {200}, "stats");
  return r.json();
}

}  // namespace netagent::testing
