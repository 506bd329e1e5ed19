#include "netagent/api/router.hpp"

#include <gtest/gtest.h>

namespace netagent::api {
namespace {

using nlohmann::json;

Router sample_router() {
  Router r;
  r.get("/v1/services", [](const Request&) { return Reply(json::array({"a", "b"})); });
  r.get("/v1/services/{ns}/{name}", [](const Request& req) {
    return Reply(json{{"ns", req.param("ns")}, {"name", req.param("name")}});
  });
  r.get("/v1/endpoints/summary", [](const Request&) { return Reply(json{{"literal", true}}); });
  r.get("/v1/endpoints/{id}", [](const Request& req) {
    return Reply(json{{"id", req.param("id")}});
  });
  r.post("/v1/echo", [](const Request& req) { return Reply(req.body, 201); });
  r.del("/v1/things/{id}", [](const Request& req) {
    if (req.param("id") == "missing") return Reply(not_found("no thing missing"));
    return Reply(json{{"deleted", req.param("id")}});
  });
  r.get("/v1/query", [](const Request& req) { return Reply(json(req.query)); });
  r.post("/v1/needs-field", [](const Request& req) {
    return Reply(json{{"got", req.body.at("name").get<std::string>()}});
  });
  r.get("/v1/throws", [](const Request&) -> Reply { throw std::runtime_error("boom"); });
  return r;
}

TEST(Router, MatchesLiteralAndParameterSegments) {
  Router r = sample_router();
  EXPECT_EQ(r.handle(Method::Get, "/v1/services", "").body(), json::array({"a", "b"}));
  auto rep = r.handle(Method::Get, "/v1/services/kube-system/dns", "");
  EXPECT_EQ(rep.status(), 200);
  EXPECT_EQ(rep.body(), (json{{"ns", "kube-system"}, {"name", "dns"}}));
  // Trailing and doubled slashes do not matter; percent-encoding is decoded.
  EXPECT_EQ(r.handle(Method::Get, "//v1/services/a%2Fb/x%20y/", "").body(),
            (json{{"ns", "a/b"}, {"name", "x y"}}));
}

TEST(Router, LiteralSegmentsWinOverParameters) {
  Router r = sample_router();
  EXPECT_EQ(r.handle(Method::Get, "/v1/endpoints/summary", "").body(), (json{{"literal", true}}));
  EXPECT_EQ(r.handle(Method::Get, "/v1/endpoints/42", "").body(), (json{{"id", "42"}}));
}

TEST(Router, QueryParametersAreDecoded) {
  Router r = sample_router();
  auto rep = r.handle(Method::Get, "/v1/query?type=drop&to-ip=10.0.0.1&q=a+b%21&flag", "");
  EXPECT_EQ(rep.body(),
            (json{{"type", "drop"}, {"to-ip", "10.0.0.1"}, {"q", "a b!"}, {"flag", ""}}));
}

TEST(Router, ErrorsCarryStatusCodeAndMessage) {
  Router r = sample_router();
  struct Case {
    Method method;
    std::string target;
    std::string body;
    int status;
    std::string code;
    std::string message_part;
  };
  const Case cases[] = {
      {Method::Get, "/v1/nothing", "", 404, "not_found", "no API endpoint GET /v1/nothing"},
      {Method::Put, "/v1/services", "", 405, "method_not_allowed", "allowed: GET"},
      {Method::Delete, "/v1/things/missing", "", 404, "not_found", "no thing missing"},
      {Method::Post, "/v1/echo", "{bad json", 400, "bad_request", "not valid JSON"},
      {Method::Post, "/v1/needs-field", "{}", 400, "bad_request", "request body:"},
      {Method::Post, "/v1/needs-field", "{\"name\": 3}", 400, "bad_request", "request body:"},
      {Method::Get, "/v1/throws", "", 500, "internal", "boom"},
      {Method::Get, "/v1/services/%zz/x", "", 400, "bad_request", "percent-encoding"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.target);
    Reply rep = r.handle(c.method, c.target, c.body);
    EXPECT_TRUE(rep.is_error());
    EXPECT_EQ(rep.status(), c.status);
    EXPECT_EQ(rep.body()["error"]["status"], c.status);
    EXPECT_EQ(rep.body()["error"]["code"], c.code);
    EXPECT_NE(rep.body()["error"]["message"].get<std::string>().find(c.message_part),
              std::string::npos)
        << rep.body().dump();
  }
}

TEST(Router, BodiesAreParsedAsJson) {
  Router r = sample_router();
  auto rep = r.handle(Method::Post, "/v1/echo", R"({"a": [1, 2]})");
  EXPECT_EQ(rep.status(), 201);
  EXPECT_EQ(rep.body(), (json{{"a", {1, 2}}}));
  EXPECT_TRUE(r.handle(Method::Post, "/v1/echo", "  \n").body().is_null());
}

TEST(Router, DuplicateRoutesAreAProgrammingError) {
  Router r = sample_router();
  EXPECT_THROW(r.get("/v1/services", nullptr), std::logic_error);
  EXPECT_THROW(r.get("/v1/services/{a}/{b}", nullptr), std::logic_error);  // same shape
  EXPECT_THROW(r.get("relative", nullptr), std::logic_error);
  EXPECT_NO_THROW(r.post("/v1/services", [](const Request&) { return Reply(nullptr); }));
}

TEST(Router, StreamRoutesAreFoundButNotCalledAsPlainHandlers) {
  Router r;
  r.stream("/v1/monitor",
           [](const Request&, std::shared_ptr<Stream>) { return std::optional<ApiError>(); });
  auto m = r.match(Method::Get, "/v1/monitor?type=drop");
  ASSERT_TRUE(std::holds_alternative<Router::Match>(m));
  EXPECT_NE(std::get<Router::Match>(m).stream, nullptr);
  EXPECT_EQ(std::get<Router::Match>(m).request.query.at("type"), "drop");
  EXPECT_EQ(r.handle(Method::Get, "/v1/monitor", "").status(), 400);
  auto routes = r.routes();
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_TRUE(routes[0].streaming);
}

}  // namespace
}  // namespace netagent::api
