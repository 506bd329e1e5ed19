// The Kubernetes API client against a scripted server on 127.0.0.1:0 in the test process:
// lists and paging, metav1.Status errors, watch streams (lines split over chunks, cut streams,
// lines that are not events), the token re-read on 401, and TLS with a throwaway CA.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "netagent/http/connection.hpp"
#include "netagent/kubeapi/client.hpp"
#include "scripted_server.hpp"

using namespace netagent;
using namespace netagent::kubeapi;
using namespace netagent::kubeapi::testing;
using End = Response::End;

namespace {

const Resource kServices{"", "v1", "services", "Service", true};
const Resource kSlices{"discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true};

json svc(const std::string& name, const std::string& rv) {
  return {{"metadata", {{"name", name}, {"namespace", "default"}, {"resourceVersion", rv}}}};
}

std::string event(const std::string& type, const json& object) {
  return json{{"type", type}, {"object", object}}.dump() + "\n";
}

std::string status(unsigned code, const std::string& reason, const std::string& message) {
  return json{{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"},
              {"code", code},     {"reason", reason},   {"message", message}}
      .dump();
}

std::shared_ptr<Client> make_client(asio::io_context& io, const std::string& url,
                                    ClientConfig cfg = {}) {
  cfg.server = url;
  if (cfg.token.empty() && cfg.token_file.empty()) cfg.token = "tok";
  auto c = Client::create(io, cfg);
  EXPECT_TRUE(c) << c.error().str();
  return *c;
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/kubeapi-client-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string write(const std::string& name, const std::string& text) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
  std::string read(const std::string& name) const {
    std::ifstream in(path_ + "/" + name);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  std::string path_;
};

}  // namespace

TEST(KubeClientTest, ResourcePaths) {
  EXPECT_EQ(kServices.path(), "/api/v1/services");
  EXPECT_EQ(kServices.path("kube-system"), "/api/v1/namespaces/kube-system/services");
  EXPECT_EQ(kSlices.path("ns"), "/apis/discovery.k8s.io/v1/namespaces/ns/endpointslices");
  EXPECT_EQ(kSlices.str(), "endpointslices.discovery.k8s.io");
  Resource nodes{"", "v1", "nodes", "Node", false};
  EXPECT_EQ(nodes.path("ignored"), "/api/v1/nodes");
}

TEST(KubeClientTest, ListAllFollowsContinueAndFillsKind) {
  asio::io_context io;
  ScriptedServer server(io, [](const Req& r) {
    EXPECT_EQ(r.path, "/apis/discovery.k8s.io/v1/namespaces/apps/endpointslices");
    EXPECT_EQ(r.q("limit"), "2");
    EXPECT_EQ(r.q("labelSelector"), "app=web,tier in (a,b)");
    json page;
    if (r.q("continue").empty()) {
      page = {{"kind", "EndpointSliceList"},
              {"metadata",
               {{"resourceVersion", "100"}, {"continue", "tok/1"}, {"remainingItemCount", 1}}},
              {"items", {svc("a", "90"), svc("b", "91")}}};
    } else {
      EXPECT_EQ(r.q("continue"), "tok/1");
      page = {{"metadata", {{"resourceVersion", "100"}}}, {"items", {svc("c", "95")}}};
    }
    return Response::json_body(200, page.dump());
  });
  auto c = make_client(io, server.url());
  ListOptions o;
  o.limit = 2;
  o.label_selector = "app=web,tier in (a,b)";
  auto first = run_co(io, c->list(kSlices, "apps", o));
  ASSERT_TRUE(ok(first)) << error(first).error.str();
  EXPECT_EQ(value(first).continue_token, "tok/1");
  EXPECT_EQ(value(first).remaining_item_count, 1);
  auto all = run_co(io, c->list_all(kSlices, "apps", o));
  ASSERT_TRUE(ok(all)) << error(all).error.str();
  ListPage& p = value(all);
  ASSERT_EQ(p.items.size(), 3u);
  EXPECT_EQ(p.resource_version, "100");
  EXPECT_TRUE(p.continue_token.empty());
  for (auto& item : p.items) {
    EXPECT_EQ(item["apiVersion"], "discovery.k8s.io/v1");
    EXPECT_EQ(item["kind"], "EndpointSlice");
  }
  EXPECT_EQ(p.items[2]["metadata"]["name"], "c");
  // Every request on one kept-alive connection, with the client's headers.
  EXPECT_EQ(server.connections(), 1u);
  ASSERT_EQ(server.requests().size(), 3u);
  for (auto& r : server.requests()) {
    EXPECT_EQ(r.method, "GET");
    EXPECT_EQ(r.authorization, "Bearer tok");
    EXPECT_EQ(r.accept, "application/json");
  }
}

TEST(KubeClientTest, GoneOnContinueIsReturnedAsIs) {
  asio::io_context io;
  ScriptedServer server(io, [](const Req& r) {
    if (r.q("continue").empty()) {
      return Response::json_body(200,
                                 json{{"metadata", {{"resourceVersion", "5"}, {"continue", "x"}}},
                                      {"items", {svc("a", "1")}}}
                                     .dump());
    }
    return Response::json_body(
        410, status(410, "Expired", "The provided continue parameter is too old"));
  });
  auto c = make_client(io, server.url());
  auto all = run_co(io, c->list_all(kServices, "", {}));
  ASSERT_FALSE(ok(all));
  const ApiError& e = error(all);
  EXPECT_TRUE(e.gone());
  EXPECT_EQ(e.reason, "Expired");
  EXPECT_EQ(e.message, "The provided continue parameter is too old");
  EXPECT_NE(e.error.str().find("410 Gone: Expired: The provided continue"), std::string::npos)
      << e.error.str();
}

TEST(KubeClientTest, ErrorsDecodeStatusAndWritesUseTheirMethods) {
  asio::io_context io;
  ScriptedServer server(io, [](const Req& r) {
    if (r.method == "GET" && r.path == "/api/v1/namespaces/default/services/missing") {
      return Response::json_body(404, status(404, "NotFound", "services \"missing\" not found"));
    }
    if (r.method == "PUT") {
      return Response::json_body(409, status(409, "Conflict", "the object has been modified"));
    }
    if (r.method == "GET" && r.path == "/version") {
      return Response::json_body(200, R"({"gitVersion":"v1.31.0"})");
    }
    if (r.method == "GET") return Response::json_body(500, "plain text failure\n");
    return Response::json_body(
        200, json{{"echo", r.method}, {"ct", r.content_type}, {"path", r.path}, {"body", r.body}}
                 .dump());
  });
  auto c = make_client(io, server.url());
  auto v = run_co(io, c->version());
  ASSERT_TRUE(ok(v));
  EXPECT_EQ(value(v)["gitVersion"], "v1.31.0");

  auto g = run_co(io, c->get(kServices, "default", "missing"));
  ASSERT_FALSE(ok(g));
  EXPECT_TRUE(error(g).not_found());
  EXPECT_EQ(error(g).reason, "NotFound");
  EXPECT_EQ(error(g).error.str(),
            "GET /api/v1/namespaces/default/services/missing: 404 Not Found: NotFound: services "
            "\"missing\" not found");
  auto g2 = run_co(io, c->get(kServices, "default", "boom"));
  ASSERT_FALSE(ok(g2));
  EXPECT_EQ(error(g2).http_status, 500u);
  EXPECT_EQ(error(g2).message, "plain text failure");

  json obj = svc("web", "7");
  auto u = run_co(io, c->update(kServices, "default", obj));
  ASSERT_FALSE(ok(u));
  EXPECT_TRUE(error(u).conflict());

  auto p = run_co(io, c->merge_patch(kServices, "default", "web",
                                     {{"metadata", {{"labels", {{"a", "b"}}}}}}, true));
  ASSERT_TRUE(ok(p)) << error(p).error.str();
  EXPECT_EQ(value(p)["echo"], "PATCH");
  EXPECT_EQ(value(p)["ct"], "application/merge-patch+json");
  EXPECT_EQ(value(p)["path"], "/api/v1/namespaces/default/services/web/status");

  auto cr = run_co(io, c->create(kServices, "default", svc("new", "")));
  ASSERT_TRUE(ok(cr));
  EXPECT_EQ(value(cr)["echo"], "POST");
  EXPECT_EQ(value(cr)["path"], "/api/v1/namespaces/default/services");
  auto body = json::parse(value(cr)["body"].get<std::string>());
  EXPECT_EQ(body["kind"], "Service");
  EXPECT_EQ(body["apiVersion"], "v1");

  auto d = run_co(io, c->remove(kServices, "default", "web"));
  ASSERT_TRUE(ok(d));
  EXPECT_EQ(value(d)["echo"], "DELETE");
}

TEST(KubeClientTest, UnreachableServerIsStatusZero) {
  asio::io_context io;
  unsigned short port;
  {
    ScriptedServer gone(io, [](const Req&) { return Response{}; });
    port = gone.port();
  }
  auto c = make_client(io, "http://127.0.0.1:" + std::to_string(port));
  auto v = run_co(io, c->version());
  ASSERT_FALSE(ok(v));
  EXPECT_EQ(error(v).http_status, 0u);
  EXPECT_NE(error(v).error.str().find("connect"), std::string::npos) << error(v).error.str();
}

TEST(KubeClientTest, WatchEventsAcrossSplitChunks) {
  asio::io_context io;
  std::string added = event("ADDED", svc("a", "11"));
  std::string modified = event("MODIFIED", svc("a", "12"));
  json bm = {{"kind", "Service"}, {"metadata", {{"resourceVersion", "13"}}}};
  ScriptedServer server(io, [&](const Req& r) {
    EXPECT_EQ(r.q("watch"), "1");
    EXPECT_EQ(r.q("resourceVersion"), "10");
    EXPECT_EQ(r.q("allowWatchBookmarks"), "true");
    EXPECT_EQ(r.q("timeoutSeconds"), "30");
    EXPECT_FALSE(r.has("sendInitialEvents"));
    // One event over three chunks, then two in one chunk.
    return Response::streamed({added.substr(0, 5), added.substr(5, 20), added.substr(25),
                               modified + event("BOOKMARK", bm)});
  });
  auto c = make_client(io, server.url());
  WatchOptions o;
  o.resource_version = "10";
  o.timeout = std::chrono::seconds(30);
  auto w = run_co(io, c->watch(kServices, "", o));
  ASSERT_TRUE(ok(w)) << error(w).error.str();
  auto& s = value(w);
  auto e1 = run_co(io, s->next());
  ASSERT_TRUE(ok(e1)) << error(e1).error.str();
  EXPECT_EQ(value(e1).type, WatchEvent::Type::Added);
  EXPECT_EQ(value(e1).object["metadata"]["resourceVersion"], "11");
  auto e2 = run_co(io, s->next());
  ASSERT_TRUE(ok(e2));
  EXPECT_EQ(value(e2).type, WatchEvent::Type::Modified);
  auto e3 = run_co(io, s->next());
  ASSERT_TRUE(ok(e3));
  EXPECT_EQ(value(e3).type, WatchEvent::Type::Bookmark);
  EXPECT_EQ(value(e3).object["metadata"]["resourceVersion"], "13");
  auto end = run_co(io, s->next());
  ASSERT_FALSE(ok(end));
  EXPECT_EQ(error(end).message, "stream ended by the server");
}

TEST(KubeClientTest, WatchCutMidLineIsAnErrorNamingIt) {
  asio::io_context io;
  int n = 0;
  ScriptedServer server(io, [&](const Req&) {
    std::string line = event("ADDED", svc("a", "2"));
    // First: cut without the last chunk; then: ended cleanly but mid-line.
    return Response::streamed({event("ADDED", svc("z", "1")), line.substr(0, 10)},
                              ++n == 1 ? End::Cut : End::Clean);
  });
  auto c = make_client(io, server.url());
  for (int i = 0; i < 2; ++i) {
    auto w = run_co(io, c->watch(kServices, "", {}));
    ASSERT_TRUE(ok(w));
    auto e1 = run_co(io, value(w)->next());
    ASSERT_TRUE(ok(e1));
    auto e2 = run_co(io, value(w)->next());
    ASSERT_FALSE(ok(e2));
    EXPECT_EQ(error(e2).http_status, 0u);
    EXPECT_NE(error(e2).error.str().find("mid-line"), std::string::npos) << error(e2).error.str();
    EXPECT_NE(error(e2).error.str().find("{\"object\""), std::string::npos)
        << error(e2).error.str();
  }
}

TEST(KubeClientTest, WatchLinesThatAreNotEventsAreErrors) {
  asio::io_context io;
  std::vector<std::string> lines = {"this is not json\n",
                                    R"({"type":"SHRUG","object":{}})"
                                    "\n",
                                    R"({"type":"ADDED"})"
                                    "\n",
                                    "[1,2]\n"};
  size_t n = 0;
  ScriptedServer server(
      io, [&](const Req&) { return Response::streamed({lines[n++ % lines.size()]}, End::Hold); });
  auto c = make_client(io, server.url());
  const char* expect[] = {"not a JSON watch event: this is not json",
                          "unknown event type \"SHRUG\"", "without type or object",
                          "not a JSON watch event: [1,2]"};
  for (const char* want : expect) {
    auto w = run_co(io, c->watch(kServices, "", {}));
    ASSERT_TRUE(ok(w));
    auto e = run_co(io, value(w)->next());
    ASSERT_FALSE(ok(e));
    EXPECT_NE(error(e).error.str().find(want), std::string::npos) << error(e).error.str();
    EXPECT_NE(error(e).error.str().find("watch services"), std::string::npos);
  }
  server.stop();
}

TEST(KubeClientTest, WatchAnsweredWithStatusAndShutdownEndsAWatch) {
  asio::io_context io;
  ScriptedServer server(io, [&](const Req& r) {
    if (r.q("resourceVersion") == "1") {
      return Response::json_body(410, status(410, "Expired", "too old resource version: 1 (50)"));
    }
    return Response::streamed({}, End::Hold);
  });
  auto c = make_client(io, server.url());
  WatchOptions o;
  o.resource_version = "1";
  auto w = run_co(io, c->watch(kServices, "", o));
  ASSERT_FALSE(ok(w));
  EXPECT_TRUE(error(w).gone()) << error(w).error.str();
  EXPECT_EQ(error(w).reason, "Expired");

  o.resource_version = "60";
  auto held = run_co(io, c->watch(kServices, "", o));
  ASSERT_TRUE(ok(held));
  std::optional<ApiResult<WatchEvent>> got;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { got.emplace(co_await value(held)->next()); },
      asio::detached);
  run_until(
      io, [] { return false; }, std::chrono::milliseconds(100));
  EXPECT_FALSE(got);
  c->shutdown();
  ASSERT_TRUE(run_until(io, [&] { return got.has_value(); }));
  EXPECT_FALSE(ok(*got));
  auto after = run_co(io, c->version());
  ASSERT_FALSE(ok(after));
  EXPECT_NE(error(after).error.str().find("shut down"), std::string::npos);
}

TEST(KubeClientTest, TokenFileIsReReadOn401) {
  asio::io_context io;
  TempDir d;
  std::string token_file = d.write("token", "old\n");
  ScriptedServer server(io, [&](const Req& r) {
    if (r.authorization != "Bearer new") {
      return Response::json_body(401, status(401, "Unauthorized", "Unauthorized"));
    }
    if (r.q("watch") == "1") return Response::streamed({event("ADDED", svc("a", "3"))});
    return Response::json_body(200, R"({"gitVersion":"v1.30.2"})");
  });
  ClientConfig cfg;
  cfg.token_file = token_file;
  cfg.token_reread_interval = std::chrono::seconds(3600);
  auto c = make_client(io, server.url(), cfg);
  auto first = run_co(io, c->version());
  ASSERT_FALSE(ok(first));  // the old token, re-read, still old: 401 after one retry
  EXPECT_EQ(error(first).http_status, 401u);
  EXPECT_EQ(server.requests().size(), 2u);

  d.write("token", "new\n");  // kubelet rotated the projected token
  auto second = run_co(io, c->version());
  ASSERT_TRUE(ok(second)) << error(second).error.str();
  EXPECT_EQ(server.requests().size(), 4u);  // 401 with the cached token, then the new one
  EXPECT_EQ(server.requests()[3].authorization, "Bearer new");

  d.write("token", "old\n");
  auto w = run_co(io, c->watch(kServices, "", {}));  // cached "new" still works
  ASSERT_TRUE(ok(w)) << error(w).error.str();
  d.write("token", "new\n");
  cfg.token_reread_interval = std::chrono::seconds(0);
  auto c2 = make_client(io, server.url(), cfg);
  auto w2 = run_co(io, c2->watch(kServices, "", {}));
  ASSERT_TRUE(ok(w2)) << error(w2).error.str();
  auto e = run_co(io, value(w2)->next());
  ASSERT_TRUE(ok(e));
}

namespace {

bool sh(const std::string& cmd) {
  return system((cmd + " >/dev/null 2>&1").c_str()) == 0;
}

// A throwaway CA and a server certificate for 127.0.0.1 and kubernetes.default.
bool make_pki(const std::string& dir, const std::string& ca_name) {
  std::string d = dir + "/";
  std::ofstream(d + "ext") << "subjectAltName=IP:127.0.0.1,DNS:kubernetes.default\n";
  return sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
            "-subj /CN=" +
            ca_name + " -keyout " + d + ca_name + ".key -out " + d + ca_name + ".crt") &&
         sh("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "
            "/CN=apiserver -keyout " +
            d + "server.key -out " + d + "server.csr") &&
         sh("openssl x509 -req -in " + d + "server.csr -CA " + d + ca_name + ".crt -CAkey " + d +
            ca_name + ".key -CAcreateserial -days 1 -extfile " + d + "ext -out " + d +
            "server.crt");
}

}  // namespace

TEST(KubeClientTest, TlsVerifiesTheServerAgainstTheCa) {
  TempDir d;
  ASSERT_TRUE(make_pki(d.path(), "ca")) << "openssl failed";
  TempDir other;
  ASSERT_TRUE(make_pki(other.path(), "other-ca"));
  asio::io_context io;
  asio::ssl::context server_tls(asio::ssl::context::tls_server);
  server_tls.use_certificate_chain_file(d.path() + "/server.crt");
  server_tls.use_private_key_file(d.path() + "/server.key", asio::ssl::context::pem);
  ScriptedServer server(
      io, [](const Req&) { return Response::json_body(200, R"({"gitVersion":"v1.31.1"})"); },
      &server_tls);
  ClientConfig cfg;
  cfg.ca_pem = d.read("ca.crt");
  auto good = make_client(io, server.url(), cfg);
  auto v = run_co(io, good->version());
  ASSERT_TRUE(ok(v)) << error(v).error.str();
  EXPECT_EQ(value(v)["gitVersion"], "v1.31.1");

  cfg.tls_server_name = "kubernetes.default";
  auto named = run_co(io, make_client(io, server.url(), cfg)->version());
  EXPECT_TRUE(ok(named)) << error(named).error.str();

  cfg.tls_server_name = "wrong.example";
  auto wrong_name = run_co(io, make_client(io, server.url(), cfg)->version());
  ASSERT_FALSE(ok(wrong_name));
  EXPECT_NE(error(wrong_name).error.str().find("does not name host wrong.example"),
            std::string::npos)
      << error(wrong_name).error.str();

  ClientConfig bad;
  bad.ca_pem = other.read("other-ca.crt");
  auto wrong_ca = run_co(io, make_client(io, server.url(), bad)->version());
  ASSERT_FALSE(ok(wrong_ca));
  EXPECT_EQ(error(wrong_ca).http_status, 0u);
  EXPECT_NE(error(wrong_ca).error.str().find("server certificate rejected"), std::string::npos)
      << error(wrong_ca).error.str();

  ClientConfig insecure;
  insecure.insecure_skip_tls_verify = true;
  auto skip = run_co(io, make_client(io, server.url(), insecure)->version());
  EXPECT_TRUE(ok(skip)) << error(skip).error.str();

  // Mutual TLS: a server that wants a client certificate signed by the CA.
  ASSERT_TRUE(sh("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "
                 "/CN=netagent -keyout " +
                 d.path() + "/client.key -out " + d.path() + "/client.csr") &&
              sh("openssl x509 -req -in " + d.path() + "/client.csr -CA " + d.path() +
                 "/ca.crt -CAkey " + d.path() + "/ca.key -CAcreateserial -days 1 -out " + d.path() +
                 "/client.crt"));
  asio::ssl::context mtls(asio::ssl::context::tls_server);
  mtls.set_options(asio::ssl::context::no_tlsv1_3);  // the rejection shows in the handshake
  mtls.use_certificate_chain_file(d.path() + "/server.crt");
  mtls.use_private_key_file(d.path() + "/server.key", asio::ssl::context::pem);
  mtls.load_verify_file(d.path() + "/ca.crt");
  mtls.set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
  ScriptedServer mserver(
      io, [](const Req&) { return Response::json_body(200, R"({"gitVersion":"mtls"})"); }, &mtls);
  ClientConfig with_cert;
  with_cert.server = mserver.url();
  with_cert.ca_pem = d.read("ca.crt");
  auto anonymous = run_co(io, make_client(io, mserver.url(), with_cert)->version());
  EXPECT_FALSE(ok(anonymous));
  with_cert.client_cert_pem = d.read("client.crt");
  with_cert.client_key_pem = d.read("client.key");
  auto m = run_co(io, make_client(io, mserver.url(), with_cert)->version());
  ASSERT_TRUE(ok(m)) << error(m).error.str();
  EXPECT_EQ(value(m)["gitVersion"], "mtls");
  with_cert.client_key_pem = d.read("server.key");
  auto mismatch = Client::create(io, with_cert);
  ASSERT_FALSE(mismatch);
  EXPECT_NE(mismatch.error().str().find("client key"), std::string::npos) << mismatch.error().str();
  mserver.stop();

  ClientConfig garbage;
  garbage.server = server.url();
  garbage.ca_pem = "not a pem";
  auto g = Client::create(io, garbage);
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().str().find("trusted CA"), std::string::npos) << g.error().str();
  server.stop();
}

TEST(HttpConnectionTest, AnyMethodHeadersAndABodyCap) {
  asio::io_context io;
  ScriptedServer server(io, [](const Req& r) {
    if (r.path == "/big") return Response::json_body(200, std::string(1000, 'x'));
    if (r.path == "/big-chunked")
      return Response::streamed({std::string(600, 'x'), std::string(400, 'y')});
    return Response::json_body(
        200,
        json{{"m", r.method}, {"ct", r.content_type}, {"auth", r.authorization}, {"body", r.body}}
            .dump());
  });
  auto url = http::Url::parse(server.url());
  ASSERT_TRUE(url);
  http::Connection conn(io.get_executor(), nullptr, *url);
  ASSERT_TRUE(run_co(io, conn.connect(std::chrono::seconds(2))));
  http::Request req{.method = "OPTIONS",
                    .target = "/x",
                    .headers = {{"Authorization", "Bearer t"}, {"Content-Type", "text/plain"}},
                    .body = "hello"};
  auto reply = run_co(io, conn.request(std::move(req), std::chrono::seconds(2)));
  ASSERT_TRUE(reply) << reply.error().str();
  auto j = json::parse(reply->body);
  EXPECT_EQ(j["m"], "OPTIONS");
  EXPECT_EQ(j["ct"], "text/plain");
  EXPECT_EQ(j["auth"], "Bearer t");
  EXPECT_EQ(j["body"], "hello");
  http::Request big{.target = "/big"};
  auto capped = run_co(io, conn.request(std::move(big), std::chrono::seconds(2), 999));
  ASSERT_FALSE(capped);
  EXPECT_NE(capped.error().str().find("body over 999 bytes"), std::string::npos)
      << capped.error().str();
  EXPECT_FALSE(conn.is_open());
  ASSERT_TRUE(run_co(io, conn.connect(std::chrono::seconds(2))));
  http::Request chunked{.target = "/big-chunked"};
  auto capped2 = run_co(io, conn.request(std::move(chunked), std::chrono::seconds(2), 999));
  ASSERT_FALSE(capped2);
  EXPECT_NE(capped2.error().str().find("body over 999 bytes"), std::string::npos)
      << capped2.error().str();

  auto v6 = http::Url::parse("https://[fd00::1]:6443/k8s/clusters/c-1/");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "fd00::1");
  EXPECT_EQ(v6->authority(), "[fd00::1]:6443");
  EXPECT_EQ(v6->path, "/k8s/clusters/c-1");
  EXPECT_EQ(http::Url::parse("http://h")->port, "80");
  EXPECT_EQ(http::Url::parse("https://h", "2379")->port, "2379");
  EXPECT_FALSE(http::Url::parse("https://fd00::1:6443"));
  EXPECT_FALSE(http::Url::parse("https://h:99999"));
  server.stop();
}
