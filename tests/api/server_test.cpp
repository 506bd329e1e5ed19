// The API server over a real unix socket in a temporary directory, driven by netctl's client.
#include "netagent/api/server.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include "netagent/netctl/client.hpp"
#include "netagent/testing/netns.hpp"
#include "netagent/testing/sockets.hpp"

namespace netagent::api {
namespace {

namespace asio = boost::asio;
using nlohmann::json;
using namespace std::chrono_literals;

// Leaves a socket file nobody listens on, as an agent killed with SIGKILL does.
void make_stale_socket(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, path.size());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ::close(fd);
}

// Streams a handler accepted, for the test to write to and observe.
struct Streams {
  std::mutex mu;
  std::vector<std::shared_ptr<Stream>> open;
  std::atomic<int> closed{0};

  std::shared_ptr<Stream> wait_first() {
    std::shared_ptr<Stream> s;
    testing::wait_until(
        [&] {
          std::lock_guard l(mu);
          if (!open.empty()) s = open.front();
          return s != nullptr;
        },
        5s);
    return s;
  }
};

class ApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router.get("/v1/hello", [](const Request&) { return Reply(json{{"hello", "world"}}); });
    router.post("/v1/echo", [](const Request& r) { return Reply(json{{"echo", r.body}}); });
    router.put("/v1/items/{id}", [](const Request& r) {
      return Reply(json{{"id", r.param("id")}, {"value", r.body.at("value")}});
    });
    router.del("/v1/items/{id}", [](const Request& r) {
      if (r.param("id") != "1") return Reply(not_found("no item " + r.param("id")));
      return Reply(json{{"deleted", "1"}});
    });
    // Holds the stream: writes three lines at once, more come from the test.
    router.stream("/v1/events", [this](const Request& r, std::shared_ptr<Stream> s) {
      if (r.query_value("type") == std::optional<std::string>("bogus")) {
        s->write(json{{"never", "sent"}});
        return std::optional<ApiError>(bad_request("unknown event type bogus"));
      }
      for (int i = 0; i < 3; ++i)
        s->write(json{{"n", i}});
      s->on_close([this] { ++streams.closed; });
      std::lock_guard l(streams.mu);
      streams.open.push_back(std::move(s));
      return std::optional<ApiError>();
    });
    // Writes two lines and ends.
    router.stream("/v1/short", [](const Request&, std::shared_ptr<Stream> s) {
      s->write(json{{"n", 0}});
      s->write(json{{"n", 1}});
      s->close();
      return std::optional<ApiError>();
    });
    server = std::make_unique<ApiServer>(io, router);
    server->on_request(
        [this](const std::string& method, const std::string& route, int status, double) {
          std::lock_guard l(seen_mu);
          seen.push_back(method + " " + route + " " + std::to_string(status));
        });
    auto st = server->listen(path);
    ASSERT_TRUE(st.ok()) << st.error().str();
    thread = std::thread([this] { io.run(); });
  }

  void TearDown() override {
    {
      std::lock_guard l(streams.mu);
      streams.open.clear();
    }
    asio::post(io, [this] { server->stop(); });
    work.reset();
    thread.join();
  }

  netctl::Client client(std::chrono::milliseconds timeout = 5s) {
    return netctl::Client(path, timeout);
  }

  testing::TempDir dir{"api-test"};
  std::string path = dir.path() + "/api.sock";
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work{
      asio::make_work_guard(io)};
  Router router;
  std::unique_ptr<ApiServer> server;
  std::thread thread;
  Streams streams;
  std::mutex seen_mu;
  std::vector<std::string> seen;
};

TEST_F(ApiServerTest, RoundTripsEveryMethod) {
  auto c = client();
  auto hello = c.get("/v1/hello");
  ASSERT_TRUE(hello.ok()) << hello.error().str();
  EXPECT_EQ(*hello, (json{{"hello", "world"}}));

  auto echo = c.post("/v1/echo", json{{"x", {1, 2, 3}}});
  ASSERT_TRUE(echo.ok());
  EXPECT_EQ(*echo, (json{{"echo", {{"x", {1, 2, 3}}}}}));

  auto put = c.put("/v1/items/7", json{{"value", "seven"}});
  ASSERT_TRUE(put.ok());
  EXPECT_EQ(*put, (json{{"id", "7"}, {"value", "seven"}}));

  auto del = c.del("/v1/items/1");
  ASSERT_TRUE(del.ok());
  EXPECT_EQ(*del, (json{{"deleted", "1"}}));

  std::lock_guard l(seen_mu);
  EXPECT_EQ(seen,
            (std::vector<std::string>{"GET /v1/hello 200", "POST /v1/echo 200",
                                      "PUT /v1/items/{id} 200", "DELETE /v1/items/{id} 200"}));
}

TEST_F(ApiServerTest, ErrorsComeBackAsJsonWithTheirStatus) {
  auto c = client();
  auto r = c.request("DELETE", "/v1/items/9");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->content_type, "application/json");
  EXPECT_EQ(r->body,
            (json{{"error", {{"status", 404}, {"code", "not_found"}, {"message", "no item 9"}}}}));

  auto g = c.get("/v1/missing");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().errnum, 0);  // the agent answered
  EXPECT_EQ(g.error().message,
            "no API endpoint GET /v1/missing (GET /v1/routes lists them) (HTTP 404 not_found)");

  auto bad = c.request("PUT", "/v1/items/1");  // no body: .at("value") fails
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(bad->body["error"]["code"], "bad_request");

  auto patch = c.request("PATCH", "/v1/hello");
  ASSERT_TRUE(patch.ok());
  EXPECT_EQ(patch->status, 405);
  EXPECT_EQ(patch->body["error"]["code"], "method_not_allowed");
}

TEST_F(ApiServerTest, OversizedBodiesAreRefused) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  // The server refuses as soon as it sees the Content-Length, before any body arrives.
  asio::io_context cio;
  asio::local::stream_protocol::socket s(cio);
  s.connect(asio::local::stream_protocol::endpoint(path));
  const std::string head =
      "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 2000000\r\n\r\n";
  asio::write(s, asio::buffer(head));
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(s, buf, res);
  EXPECT_EQ(res.result_int(), 413u);
  EXPECT_EQ(json::parse(res.body())["error"]["code"], "payload_too_large");
}

TEST_F(ApiServerTest, KeepsConnectionsAlive) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  asio::io_context cio;
  asio::local::stream_protocol::socket s(cio);
  s.connect(asio::local::stream_protocol::endpoint(path));
  beast::flat_buffer buf;
  for (int i = 0; i < 3; ++i) {
    http::request<http::empty_body> req{http::verb::get, "/v1/hello", 11};
    http::write(s, req);
    http::response<http::string_body> res;
    http::read(s, buf, res);
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_TRUE(res.keep_alive());
  }
}

TEST_F(ApiServerTest, SocketIsOnlyForRoot) {
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(ApiServerTest, ASecondServerOnALiveSocketRefuses) {
  asio::io_context other;
  ApiServer second(other, router);
  auto st = second.listen(path);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().errnum, EADDRINUSE);
  EXPECT_NE(st.error().message.find("in use by a running netagent"), std::string::npos);
  EXPECT_TRUE(client().get("/v1/hello").ok());  // the first one is untouched
}

TEST_F(ApiServerTest, StreamDeliversLinesUntilTheClientLeaves) {
  std::vector<json> got;
  auto st = client().stream("/v1/events", [&](const json& line) {
    got.push_back(line);
    return got.size() < 3;  // leave after three lines
  });
  ASSERT_TRUE(st.ok()) << st.error().str();
  EXPECT_EQ(got, (std::vector<json>{{{"n", 0}}, {{"n", 1}}, {{"n", 2}}}));
  // The server notices the client went away and tells the producer.
  ASSERT_TRUE(testing::wait_until([&] { return streams.closed.load() == 1; }, 5s));
  auto s = streams.wait_first();
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->closed());
  EXPECT_FALSE(s->write(json{{"late", true}}));
}

TEST_F(ApiServerTest, StreamLinesCanComeFromAnotherThreadUntilTheProducerCloses) {
  std::vector<json> got;
  Status result;
  std::thread reader([&] {
    result = client().stream("/v1/events?type=all", [&](const json& line) {
      got.push_back(line);
      return true;
    });
  });
  auto s = streams.wait_first();
  ASSERT_TRUE(s);
  for (int i = 3; i < 6; ++i)
    EXPECT_TRUE(s->write(json{{"n", i}}));
  s->close();
  reader.join();
  ASSERT_TRUE(result.ok()) << result.error().str();
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(got.back(), (json{{"n", 5}}));
  EXPECT_EQ(s->dropped(), 0u);
}

TEST_F(ApiServerTest, StreamThatEndsByItself) {
  std::vector<json> got;
  auto st = client().stream("/v1/short", [&](const json& l) {
    got.push_back(l);
    return true;
  });
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(got.size(), 2u);
}

TEST_F(ApiServerTest, StreamHandlerCanRefuseWithAnError) {
  bool called = false;
  auto st = client().stream("/v1/events?type=bogus", [&](const json&) {
    called = true;
    return true;
  });
  ASSERT_FALSE(st.ok());
  EXPECT_FALSE(called);  // the line written before refusing is never sent
  EXPECT_EQ(st.error().errnum, 0);
  EXPECT_EQ(st.error().message, "unknown event type bogus (HTTP 400 bad_request)");
}

TEST_F(ApiServerTest, StopEndsOpenStreamsAndRemovesTheSocket) {
  std::atomic<bool> done{false};
  std::thread reader([&] {
    (void)client().stream("/v1/events", [](const json&) { return true; });
    done = true;
  });
  ASSERT_TRUE(streams.wait_first());
  asio::post(io, [this] { server->stop(); });
  ASSERT_TRUE(testing::wait_until([&] { return done.load(); }, 5s));
  reader.join();
  EXPECT_EQ(streams.closed.load(), 1);
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
}

TEST(ApiServer, ReplacesAStaleSocketButNotOtherFiles) {
  testing::TempDir dir("api-stale");
  const std::string path = dir.path() + "/api.sock";
  make_stale_socket(path);
  ASSERT_EQ(::access(path.c_str(), F_OK), 0);
  EXPECT_FALSE(socket_answers(path));

  Router router;
  router.get("/v1/x", [](const Request&) { return Reply(json{{"ok", true}}); });
  asio::io_context io;
  ApiServer server(io, router);
  auto st = server.listen(path);
  ASSERT_TRUE(st.ok()) << st.error().str();
  EXPECT_TRUE(socket_answers(path));

  const std::string file = dir.path() + "/regular";
  std::ofstream(file) << "not a socket";
  ApiServer other(io, router);
  auto st2 = other.listen(file);
  ASSERT_FALSE(st2.ok());
  EXPECT_EQ(st2.error().errnum, EEXIST);
  EXPECT_NE(st2.error().message.find("exists and is not a socket"), std::string::npos);
}

// The API socket's limits: connections over the cap are closed at once while the ones in the
// cap are served; an idle connection is closed after the idle timeout.
TEST(ApiServer, CapsConnectionsAndClosesIdleOnes) {
  testing::TempDir dir("api-limits");
  const std::string path = dir.path() + "/api.sock";
  Router router;
  router.get("/v1/x", [](const Request&) { return Reply(json{{"ok", true}}); });
  asio::io_context io;
  ListenerLimits limits;
  limits.max_connections = 3;
  limits.idle_timeout = 1s;
  limits.request_timeout = 1s;
  std::vector<std::string> warnings;
  std::mutex mu;
  limits.warn = [&](const std::string& w) {
    std::lock_guard l(mu);
    warnings.push_back(w);
  };
  ApiServer server(io, router, limits);
  ASSERT_TRUE(server.listen(path).ok());
  auto work = asio::make_work_guard(io);
  std::thread thread([&] { io.run(); });
  auto stats = [&] {
    std::promise<HttpServer::Stats> p;
    asio::post(io, [&] { p.set_value(server.stats()); });
    return p.get_future().get();
  };

  std::vector<int> held;
  for (int i = 0; i < 3; ++i)
    held.push_back(testing::unix_connect(path, 5s));
  ASSERT_TRUE(testing::wait_until([&] { return stats().open == 3; }, 5s));
  for (int i = 0; i < 5; ++i) {
    int fd = testing::unix_connect(path, 500ms);
    ASSERT_GE(fd, 0);
    EXPECT_TRUE(testing::closed_by_peer(fd)) << "connection " << i << " over the cap stayed open";
    ::close(fd);
  }
  EXPECT_EQ(stats().rejected, 5u);
  {
    std::lock_guard l(mu);
    ASSERT_FALSE(warnings.empty());
    EXPECT_NE(warnings[0].find("API listener: 3 connections open, the cap"), std::string::npos)
        << warnings[0];
  }
  // The held connections say nothing: closed after the idle timeout, then requests are served.
  for (int fd : held) {
    EXPECT_TRUE(testing::closed_by_peer(fd));
    ::close(fd);
  }
  EXPECT_GE(stats().idle_closed, 3u);
  auto r = netctl::Client(path, 5s).get("/v1/x");
  ASSERT_TRUE(r.ok()) << r.error().str();
  EXPECT_EQ((*r)["ok"], true);

  asio::post(io, [&] { server.stop(); });
  work.reset();
  thread.join();
}

TEST(Client, SaysClearlyWhenTheAgentIsNotRunning) {
  testing::TempDir dir("api-client");
  const std::string missing = dir.path() + "/none.sock";
  auto r = netctl::Client(missing).get("/v1/status");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().errnum, ENOENT);
  EXPECT_EQ(r.error().message, "cannot reach netagent at " + missing +
                                   ": no such file or directory — is the agent running? "
                                   "(--socket/NETCTL_SOCKET)");

  const std::string stale = dir.path() + "/api.sock";
  make_stale_socket(stale);
  auto r2 = netctl::Client(stale).get("/v1/status");
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().errnum, ECONNREFUSED);
  EXPECT_EQ(r2.error().message, "cannot reach netagent at " + stale +
                                    ": connection refused — is the agent running? "
                                    "(--socket/NETCTL_SOCKET)");
}

TEST(Client, GivesUpOnAnAgentThatDoesNotAnswer) {
  testing::TempDir dir("api-client");
  const std::string path = dir.path() + "/mute.sock";
  // Accepts connections (the kernel does, via the backlog) but never answers.
  asio::io_context io;
  asio::local::stream_protocol::acceptor mute(io, asio::local::stream_protocol::endpoint(path));
  auto r = netctl::Client(path, 200ms).get("/v1/status");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().errnum, ETIMEDOUT);
  EXPECT_EQ(r.error().message,
            "netagent at " + path + " did not answer within 200ms (use --timeout to wait longer)");
}

}  // namespace
}  // namespace netagent::api
