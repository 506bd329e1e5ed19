// The /metrics listener over real TCP on loopback.
#include "netagent/metrics/http_server.hpp"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include "netagent/metrics/exposition.hpp"
#include "netagent/testing/sockets.hpp"

namespace netagent::metrics {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

class MetricsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry.counter("netagent_scrape_test_total", "Test.").get().inc(5);
    ASSERT_TRUE(server.listen("127.0.0.1", 0).ok());
    thread = std::thread([this] { io.run(); });
  }
  void TearDown() override {
    asio::post(io, [this] { server.stop(); });
    work.reset();
    thread.join();
  }

  // One request per connection, synchronous: the server side is what is under test.
  http::response<http::string_body> fetch(http::verb verb, const std::string& target,
                                          int requests_on_connection = 1) {
    asio::io_context cio;
    asio::ip::tcp::socket s(cio);
    s.connect(server.local_endpoint());
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    for (int i = 0; i < requests_on_connection; ++i) {
      http::request<http::empty_body> req{verb, target, 11};
      req.set(http::field::host, "localhost");
      http::write(s, req);
      res = {};
      if (verb == http::verb::head) {
        http::response_parser<http::string_body> p;
        p.skip(true);
        http::read(s, buf, p);
        res = p.release();
      } else {
        http::read(s, buf, res);
      }
    }
    return res;
  }

  Registry registry;
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work{
      asio::make_work_guard(io)};
  MetricsServer server{io, registry};
  std::thread thread;
};

TEST_F(MetricsServerTest, ServesPrometheusText) {
  auto res = fetch(http::verb::get, "/metrics");
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res[http::field::content_type], kTextContentType);
  EXPECT_NE(res.body().find("# TYPE netagent_scrape_test_total counter\n"
                            "netagent_scrape_test_total 5\n"),
            std::string::npos)
      << res.body();
}

TEST_F(MetricsServerTest, KeepsTheConnectionAliveBetweenScrapes) {
  auto res = fetch(http::verb::get, "/metrics", 3);
  EXPECT_EQ(res.result(), http::status::ok);
}

TEST_F(MetricsServerTest, OtherPathsAndMethodsAreRejected) {
  EXPECT_EQ(fetch(http::verb::get, "/").result(), http::status::not_found);
  EXPECT_EQ(fetch(http::verb::post, "/metrics").result(), http::status::method_not_allowed);
  EXPECT_EQ(fetch(http::verb::head, "/metrics").result(), http::status::ok);
}

// ---- resource limits: the connection cap, the idle and request timeouts

class MetricsServerLimits : public ::testing::Test {
 protected:
  static api::ListenerLimits limits() {
    api::ListenerLimits l;
    l.max_connections = 4;
    l.idle_timeout = std::chrono::seconds(1);
    l.request_timeout = std::chrono::seconds(1);
    l.warn = [](const std::string&) {};
    return l;
  }
  void SetUp() override {
    ASSERT_TRUE(server.listen("127.0.0.1", 0).ok());
    thread = std::thread([this] { io.run(); });
  }
  void TearDown() override {
    for (int fd : fds)
      ::close(fd);
    asio::post(io, [this] { server.stop(); });
    work.reset();
    thread.join();
  }
  api::HttpServer::Stats stats() {
    std::promise<api::HttpServer::Stats> p;
    asio::post(io, [&] { p.set_value(server.stats()); });
    return p.get_future().get();
  }
  bool wait_open(size_t n) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      if (stats().open == n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  std::string scrape_status_line() {
    int fd = testing::tcp_connect(server.local_endpoint().address().to_string(),
                                  server.local_endpoint().port(), std::chrono::seconds(5));
    if (fd < 0) return "connect failed";
    std::string req = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    char buf[64] = {};
    ssize_t n = ::recv(fd, buf, sizeof(buf) - 1, 0);
    ::close(fd);
    std::string s(buf, n > 0 ? size_t(n) : 0);
    return s.substr(0, s.find('\r'));
  }

  Registry registry;
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work{
      asio::make_work_guard(io)};
  MetricsServer server{io, registry, limits()};
  std::thread thread;
  std::vector<int> fds;
};

TEST_F(MetricsServerLimits, ConnectionsOverTheCapAreClosedAtOnce) {
  for (int i = 0; i < 4; ++i) {
    fds.push_back(testing::tcp_connect(server.local_endpoint().address().to_string(),
                                       server.local_endpoint().port(), std::chrono::seconds(5)));
    ASSERT_GE(fds.back(), 0);
  }
  ASSERT_TRUE(wait_open(4));
  // Twenty more: each is accepted and closed at once (well before any timeout).
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) {
    int fd = testing::tcp_connect(server.local_endpoint().address().to_string(),
                                  server.local_endpoint().port(), std::chrono::milliseconds(800));
    ASSERT_GE(fd, 0);
    EXPECT_TRUE(testing::closed_by_peer(fd)) << "connection " << i << " over the cap stayed open";
    ::close(fd);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(900));
  auto st = stats();
  EXPECT_EQ(st.open, 4u);
  EXPECT_EQ(st.max_connections, 4u);
  EXPECT_EQ(st.rejected, 20u);
  // Once the holders go, scrapes are served again.
  for (int fd : fds)
    ::close(fd);
  fds.clear();
  ASSERT_TRUE(wait_open(0));
  EXPECT_EQ(scrape_status_line(), "HTTP/1.1 200 OK");
}

TEST_F(MetricsServerLimits, IdleConnectionsAreClosedAfterTheIdleTimeout) {
  int fd = testing::tcp_connect(server.local_endpoint().address().to_string(),
                                server.local_endpoint().port(), std::chrono::seconds(5));
  ASSERT_GE(fd, 0);
  fds.push_back(fd);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(testing::closed_by_peer(fd));
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, std::chrono::milliseconds(900));
  EXPECT_LT(took, std::chrono::milliseconds(2500));
  EXPECT_EQ(stats().idle_closed, 1u);
}

TEST_F(MetricsServerLimits, SlowRequestsAreClosedAfterTheRequestTimeout) {
  // A client that trickles its header a byte at a time (slowloris): it is never idle, but the
  // request does not complete within the request timeout.
  int fd = testing::tcp_connect(server.local_endpoint().address().to_string(),
                                server.local_endpoint().port(), std::chrono::milliseconds(100));
  ASSERT_GE(fd, 0);
  fds.push_back(fd);
  const std::string head = "GET /metrics HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
  auto t0 = std::chrono::steady_clock::now();
  bool closed = false;
  for (size_t i = 0; i < head.size() && !closed; ++i) {
    if (::send(fd, &head[i], 1, MSG_NOSIGNAL) < 0) {
      closed = true;
      break;
    }
    char c;
    ssize_t n = ::recv(fd, &c, 1, 0);  // waits up to 100 ms
    if (n == 0 || (n < 0 && errno == ECONNRESET)) closed = true;
  }
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(closed) << "a request trickled over " << head.size() * 100 << " ms was not cut";
  EXPECT_LT(took, std::chrono::milliseconds(2000));
  EXPECT_EQ(stats().timed_out, 1u);
}

size_t open_fds() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd"))
    ++n;
  return n;
}

// Out of descriptors (no cap, a low RLIMIT_NOFILE): accept() fails with EMFILE while a
// connection waits in the backlog. The listener must not spin on it: it closes the pending
// connection with its spare descriptor, counts the error and retries after a pause; once
// descriptors are free it serves again.
TEST(MetricsServer, OutOfDescriptorsTheListenerNeitherSpinsNorStops) {
  Registry registry;
  asio::io_context io;
  api::ListenerLimits l;
  l.max_connections = 0;  // no cap: the descriptor limit is what runs out
  std::vector<std::string> warnings;
  std::mutex mu;
  l.warn = [&](const std::string& w) {
    std::lock_guard lock(mu);
    warnings.push_back(w);
  };
  MetricsServer server(io, registry, l);
  ASSERT_TRUE(server.listen("127.0.0.1", 0).ok());
  auto work = asio::make_work_guard(io);
  std::thread thread([&] { io.run(); });
  auto stats = [&] {
    std::promise<api::HttpServer::Stats> p;
    asio::post(io, [&] { p.set_value(server.stats()); });
    return p.get_future().get();
  };

  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = open_fds() + 24;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> clients;
  for (int i = 0; i < 64; ++i) {
    int fd = testing::tcp_connect(server.local_endpoint().address().to_string(),
                                  server.local_endpoint().port(), std::chrono::milliseconds(200));
    if (fd < 0) break;
    clients.push_back(fd);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  rusage r0{}, r1{};
  ::getrusage(RUSAGE_SELF, &r0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  ::getrusage(RUSAGE_SELF, &r1);
  auto cpu_ms = [](const rusage& r) {
    return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1000 +
           (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1000;
  };
  const long spent = cpu_ms(r1) - cpu_ms(r0);
  auto st = stats();
  // Free the descriptors again before asserting (gtest itself needs some).
  for (int fd : clients)
    ::close(fd);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);

  EXPECT_GE(st.accept_errors, 1u) << "the descriptor limit was never reached";
  EXPECT_LT(spent, 250) << "the listener used " << spent << " ms of CPU in 1 s while out of "
                        << "descriptors (spinning on accept)";
  {
    std::lock_guard lock(mu);
    ASSERT_FALSE(warnings.empty());
    EXPECT_NE(warnings[0].find("metrics listener: accept failed: Too many open files"),
              std::string::npos)
        << warnings[0];
  }
  // Serves again (the retry picks up within 100 ms).
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto ep = server.local_endpoint();
  int fd = testing::tcp_connect(ep.address().to_string(), ep.port(), std::chrono::seconds(5));
  ASSERT_GE(fd, 0);
  std::string req = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  char buf[32] = {};
  ssize_t n = ::recv(fd, buf, sizeof(buf) - 1, 0);
  ::close(fd);
  EXPECT_EQ(std::string(buf, n > 0 ? size_t(n) : 0).substr(0, 15), "HTTP/1.1 200 OK");

  asio::post(io, [&] { server.stop(); });
  work.reset();
  thread.join();
}

TEST(MetricsServer, ListenFailsClearlyWhenThePortIsTaken) {
  Registry r;
  asio::io_context io;
  MetricsServer a(io, r), b(io, r);
  ASSERT_TRUE(a.listen("127.0.0.1", 0).ok());
  auto st = b.listen("127.0.0.1", a.local_endpoint().port());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().errnum, EADDRINUSE);
  EXPECT_NE(st.error().str().find("listen for metrics on 127.0.0.1:"), std::string::npos);
  EXPECT_FALSE(MetricsServer(io, r).listen("localhost", 0).ok());  // IP literals only
}

}  // namespace
}  // namespace netagent::metrics
