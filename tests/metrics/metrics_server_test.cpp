// The /metrics listener over real TCP on loopback.
#include "netagent/metrics/http_server.hpp"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <thread>

#include "netagent/metrics/exposition.hpp"

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
