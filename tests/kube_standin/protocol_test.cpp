// The stand-in API server's protocol, spoken directly: the parts of the kube-apiserver's
// behaviour the agent's client depends on (docs/kubernetes-api.md).
#include <gtest/gtest.h>

#include <chrono>
#include <set>

#include "netagent/testing/kube_standin.hpp"
#include "netagent/testing/privileged.hpp"
#include "watch_reader.hpp"

namespace netagent::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

json service(const std::string& name, const std::string& ns = "default",
             const json& labels = json::object()) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"labels", labels}}},
          {"spec", {{"ports", {{{"port", 80}}}}}}};
}

std::string rv_of(const json& o) {
  return o["metadata"]["resourceVersion"].get<std::string>();
}

TEST(KubeStandinProtocol, CreateGetUpdateDeleteAndErrors) {
  KubeStandin api;
  auto created = api.apply(service("web"));
  EXPECT_EQ(created["kind"], "Service");
  EXPECT_FALSE(created["metadata"]["uid"].get<std::string>().empty());
  EXPECT_EQ(created["metadata"]["generation"], 1);
  EXPECT_FALSE(created["spec"]["clusterIP"].get<std::string>().empty());  // defaulted

  // Again: AlreadyExists.
  auto again = api.request("POST", "/api/v1/namespaces/default/services", service("web").dump());
  EXPECT_EQ(again.status, 409u);
  EXPECT_EQ(again.json()["reason"], "AlreadyExists");
  EXPECT_EQ(again.json()["kind"], "Status");

  // A stale resourceVersion on update: Conflict.
  json stale = created;
  stale["metadata"]["labels"] = {{"a", "b"}};
  auto ok = api.request("PUT", "/api/v1/namespaces/default/services/web", stale.dump());
  ASSERT_EQ(ok.status, 200u) << ok.body;
  EXPECT_NE(rv_of(ok.json()), rv_of(created));
  auto conflict = api.request("PUT", "/api/v1/namespaces/default/services/web", stale.dump());
  EXPECT_EQ(conflict.status, 409u);
  EXPECT_EQ(conflict.json()["reason"], "Conflict");

  // Status changes on the main resource are ignored; the status subresource takes them.
  json with_status = ok.json();
  with_status["status"] = {{"loadBalancer", {{"ingress", {{{"ip", "192.0.2.1"}}}}}}};
  with_status["metadata"].erase("resourceVersion");
  auto main = api.request("PUT", "/api/v1/namespaces/default/services/web", with_status.dump());
  EXPECT_FALSE(main.json().contains("status") && main.json()["status"].contains("loadBalancer"));
  auto st = api.request("PATCH", "/api/v1/namespaces/default/services/web/status",
                        R"({"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.1"}]}}})",
                        "application/merge-patch+json");
  ASSERT_EQ(st.status, 200u) << st.body;
  EXPECT_EQ(st.json()["status"]["loadBalancer"]["ingress"][0]["ip"], "192.0.2.1");

  // Patches: JSON patch and strategic merge (lists merged by key), apply-patch refused.
  auto jp = api.request("PATCH", "/api/v1/namespaces/default/services/web",
                        R"([{"op":"add","path":"/metadata/labels/x","value":"y"}])",
                        "application/json-patch+json");
  ASSERT_EQ(jp.status, 200u) << jp.body;
  EXPECT_EQ(jp.json()["metadata"]["labels"]["x"], "y");
  auto smp = api.request("PATCH", "/api/v1/namespaces/default/services/web",
                         R"({"spec":{"$setElementOrder/ports":[{"port":80},{"port":443}],
                             "ports":[{"port":443}]}})",
                         "application/strategic-merge-patch+json");
  ASSERT_EQ(smp.status, 200u) << smp.body;
  EXPECT_EQ(smp.json()["spec"]["ports"].size(), 2u) << smp.body;
  auto apply = api.request("PATCH", "/api/v1/namespaces/default/services/web", "{}",
                           "application/apply-patch+yaml");
  EXPECT_EQ(apply.status, 415u);

  // Bodies that are not JSON, or not the right kind.
  auto bad = api.request("POST", "/api/v1/namespaces/default/services", "{not json");
  EXPECT_EQ(bad.status, 400u);
  EXPECT_EQ(bad.json()["reason"], "BadRequest");
  json lease = service("x");
  lease["kind"] = "Lease";
  auto wrong = api.request("POST", "/api/v1/namespaces/default/services", lease.dump());
  EXPECT_EQ(wrong.status, 400u);
  EXPECT_NE(wrong.json()["message"].get<std::string>().find("Lease"), std::string::npos);

  // JSON only: protobuf is refused as the real server refuses it for a type without one.
  auto proto = api.request("POST", "/api/v1/namespaces/default/services", "\x0a\x02",
                           "application/vnd.kubernetes.protobuf");
  EXPECT_EQ(proto.status, 415u);

  // A namespace that does not exist.
  auto nons = api.request("POST", "/api/v1/namespaces/nope/services", service("a", "nope").dump());
  EXPECT_EQ(nons.status, 404u);
  EXPECT_EQ(nons.json()["details"]["kind"], "namespaces");

  // Delete answers the object; then it is gone.
  auto del = api.request("DELETE", "/api/v1/namespaces/default/services/web");
  ASSERT_EQ(del.status, 200u);
  EXPECT_EQ(del.json()["metadata"]["name"], "web");
  EXPECT_EQ(api.request("GET", "/api/v1/namespaces/default/services/web").status, 404u);

  // generateName.
  json gen = service("");
  gen["metadata"].erase("name");
  gen["metadata"]["generateName"] = "web-";
  auto g = api.request("POST", "/api/v1/namespaces/default/services", gen.dump());
  ASSERT_EQ(g.status, 201u) << g.body;
  EXPECT_EQ(g.json()["metadata"]["name"].get<std::string>().rfind("web-", 0), 0u);
}

TEST(KubeStandinProtocol, DryRunAndProtectedNamespaces) {
  KubeStandin api;
  auto dry =
      api.request("POST", "/api/v1/namespaces/default/services?dryRun=All", service("a").dump());
  EXPECT_EQ(dry.status, 201u) << dry.body;
  EXPECT_TRUE(api.get(service("a")).is_null());
  auto del = api.request("DELETE", "/api/v1/namespaces/default");
  EXPECT_EQ(del.status, 403u);
  EXPECT_EQ(del.json()["reason"], "Forbidden");
  // A namespace that may go takes its objects with it.
  api.create_namespace("gone");
  api.apply(service("a", "gone"));
  EXPECT_EQ(api.request("DELETE", "/api/v1/namespaces/gone").status, 200u);
  EXPECT_TRUE(api.get(service("a", "gone")).is_null());
}

TEST(KubeStandinProtocol, TokenAndDiscovery) {
  KubeStandin::Options o;
  o.token = "s3cret";
  KubeStandin api(o);
  // The fixture sends the token; a request without one is refused.
  EXPECT_EQ(api.request("GET", "/api/v1/services").status, 200u);
  WatchReader anon(api.address(), "/api/v1/services");
  EXPECT_EQ(anon.status(), 401u);
  WatchReader health(api.address(), "/healthz");
  EXPECT_EQ(health.status(), 200u);
  auto apis = api.request("GET", "/apis").json();
  std::set<std::string> names;
  for (auto& g : apis["groups"])
    names.insert(g["name"]);
  EXPECT_TRUE(names.count("cilium.io") && names.count("discovery.k8s.io"));
  auto cilium = api.request("GET", "/apis/cilium.io/v2alpha1").json();
  bool pools = false;
  for (auto& r : cilium["resources"])
    pools = pools || (r["name"] == "ciliumloadbalancerippools" && r["namespaced"] == false);
  EXPECT_TRUE(pools);
}

TEST(KubeStandinProtocol, PagingIsConsistentAndContinueExpires) {
  KubeStandin api;
  for (int i = 0; i < 25; ++i)
    api.apply(service("s" + std::to_string(100 + i)));
  auto p1 = api.request("GET", "/api/v1/services?limit=10").json();
  EXPECT_EQ(p1["kind"], "ServiceList");
  ASSERT_EQ(p1["items"].size(), 10u);
  EXPECT_FALSE(p1["items"][0].contains("kind"));  // list items carry no kind, as the real server
  EXPECT_EQ(p1["metadata"]["remainingItemCount"], 15);
  std::string cont = p1["metadata"]["continue"];
  // A change after the first page is not in the next pages: they are pinned to its version.
  api.remove(service("s124"));
  auto p2 = api.request("GET", "/api/v1/services?limit=10&continue=" + cont).json();
  ASSERT_EQ(p2["items"].size(), 10u) << p2.dump().substr(0, 400) << " cont " << cont;
  EXPECT_EQ(p2["metadata"]["resourceVersion"], p1["metadata"]["resourceVersion"]);
  auto p3 = api.request("GET", "/api/v1/services?limit=10&continue=" +
                                   p2["metadata"]["continue"].get<std::string>())
                .json();
  ASSERT_EQ(p3["items"].size(), 5u);
  EXPECT_EQ(p3["items"][4]["metadata"]["name"], "s124");
  EXPECT_FALSE(p3["metadata"].contains("continue"));
  // Exact list at an old version, and selectors.
  auto exact = api.request("GET", "/api/v1/services?resourceVersion=" +
                                      p1["metadata"]["resourceVersion"].get<std::string>() +
                                      "&resourceVersionMatch=Exact")
                   .json();
  EXPECT_EQ(exact["items"].size(), 25u);
  auto sel = api.request("GET", "/api/v1/services?fieldSelector=metadata.name%3Ds101").json();
  EXPECT_EQ(sel["items"].size(), 1u);
  // After compaction the token is too old: 410 Expired.
  api.compact();
  auto gone = api.request("GET", "/api/v1/services?limit=10&continue=" + cont);
  EXPECT_EQ(gone.status, 410u);
  EXPECT_EQ(gone.json()["reason"], "Expired");
}

TEST(KubeStandinProtocol, LabelSelectors) {
  KubeStandin api;
  api.apply(service("a", "default", {{"app", "web"}, {"tier", "fe"}}));
  api.apply(service("b", "default", {{"app", "db"}}));
  api.apply(service("c", "default", json::object()));
  auto names = [&](const std::string& sel) {
    std::set<std::string> out;
    json list = api.request("GET", "/api/v1/services?labelSelector=" + sel).json();
    for (auto& i : list["items"])
      out.insert(i["metadata"]["name"]);
    return out;
  };
  EXPECT_EQ(names("app%3Dweb"), (std::set<std::string>{"a"}));
  EXPECT_EQ(names("app!%3Dweb"), (std::set<std::string>{"b", "c"}));
  EXPECT_EQ(names("app%20in%20(web,db)"), (std::set<std::string>{"a", "b"}));
  EXPECT_EQ(names("app%20notin%20(web)"), (std::set<std::string>{"b", "c"}));
  EXPECT_EQ(names("tier"), (std::set<std::string>{"a"}));
  EXPECT_EQ(names("!app"), (std::set<std::string>{"c"}));
  EXPECT_EQ(api.request("GET", "/api/v1/services?labelSelector=a%20b%20c").status, 400u);
}

TEST(KubeStandinProtocol, WatchListInitialEventsThenBookmark) {
  KubeStandin api;
  for (auto n : {"a", "b", "c"})
    api.apply(service(n));
  std::string rv = api.request("GET", "/api/v1/services").json()["metadata"]["resourceVersion"];
  WatchReader w(api.address(),
                "/api/v1/services?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&"
                "resourceVersionMatch=NotOlderThan");
  ASSERT_EQ(w.status(), 200u);
  EXPECT_TRUE(w.chunked());
  for (int i = 0; i < 3; ++i) {
    auto e = w.next();
    ASSERT_TRUE(e);
    EXPECT_EQ((*e)["type"], "ADDED");
    EXPECT_EQ((*e)["object"]["kind"], "Service");
  }
  auto bm = w.next();
  ASSERT_TRUE(bm);
  EXPECT_EQ((*bm)["type"], "BOOKMARK");
  EXPECT_EQ((*bm)["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");
  EXPECT_EQ((*bm)["object"]["metadata"]["resourceVersion"], rv);
  // Then live events.
  api.apply(service("d"));
  auto e = w.next();
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["type"], "ADDED");
  EXPECT_EQ((*e)["object"]["metadata"]["name"], "d");
}

TEST(KubeStandinProtocol, NoWatchListIsRefusedAsOldServersDo) {
  KubeStandin::Options o;
  o.watch_list = false;
  KubeStandin api(o);
  auto r = api.request("GET",
                       "/api/v1/services?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&"
                       "resourceVersionMatch=NotOlderThan");
  EXPECT_EQ(r.status, 422u);
  EXPECT_EQ(r.json()["reason"], "Invalid");
}

TEST(KubeStandinProtocol, NoWatchListIgnoredAsServersOlderThanItDo) {
  KubeStandin::Options o;
  o.watch_list = false;
  o.watch_list_ignored = true;
  KubeStandin api(o);
  api.apply(service("a"));
  WatchReader w(api.address(),
                "/api/v1/services?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&"
                "resourceVersionMatch=NotOlderThan");
  ASSERT_EQ(w.status(), 200u);
  auto e = w.next();
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["type"], "ADDED");
  api.apply(service("b"));
  // The next change, and no initial-events-end bookmark before it (a periodic one may come).
  auto next = w.next();
  while (next && (*next)["type"] == "BOOKMARK") {
    EXPECT_FALSE((*next)["object"]["metadata"].contains("annotations"));
    next = w.next();
  }
  ASSERT_TRUE(next);
  EXPECT_EQ((*next)["type"], "ADDED");
  EXPECT_EQ((*next)["object"]["metadata"]["name"], "b");
}

TEST(KubeStandinProtocol, BookmarksCarryOnlyTheVersion) {
  KubeStandin::Options o;
  o.bookmark_interval = 0.2;
  KubeStandin api(o);
  auto created = api.apply(service("a"));
  WatchReader w(api.address(), "/api/v1/namespaces/default/services?watch=true&resourceVersion=" +
                                   rv_of(created) + "&allowWatchBookmarks=true");
  auto bm = w.next(2s);
  ASSERT_TRUE(bm);
  EXPECT_EQ((*bm)["type"], "BOOKMARK");
  EXPECT_EQ((*bm)["object"]["metadata"]["resourceVersion"], rv_of(created));
  EXPECT_FALSE((*bm)["object"]["metadata"].contains("name"));
}

TEST(KubeStandinProtocol, ResumeFromVersionAndExpiredAfterCompaction) {
  KubeStandin api;
  auto a = api.apply(service("a"));
  api.apply(service("b"));
  api.remove(service("a"));
  // Resuming after a's creation: b ADDED, a DELETED (nothing before).
  WatchReader w(api.address(), "/api/v1/services?watch=1&resourceVersion=" + rv_of(a));
  auto e1 = w.next();
  auto e2 = w.next();
  ASSERT_TRUE(e1 && e2);
  EXPECT_EQ((*e1)["type"], "ADDED");
  EXPECT_EQ((*e1)["object"]["metadata"]["name"], "b");
  EXPECT_EQ((*e2)["type"], "DELETED");
  EXPECT_EQ((*e2)["object"]["metadata"]["name"], "a");

  api.compact();
  WatchReader old(api.address(), "/api/v1/services?watch=1&resourceVersion=" + rv_of(a));
  EXPECT_EQ(old.status(), 200u);  // as the real server: 200, then an ERROR event
  auto err = old.next();
  ASSERT_TRUE(err);
  EXPECT_EQ((*err)["type"], "ERROR");
  EXPECT_EQ((*err)["object"]["code"], 410);
  EXPECT_EQ((*err)["object"]["reason"], "Expired");
  EXPECT_TRUE(old.wait_end());
}

TEST(KubeStandinProtocol, HistoryBoundExpiresOldVersions) {
  KubeStandin::Options o;
  o.history = 5;
  KubeStandin api(o);
  auto first = api.apply(service("s0"));
  for (int i = 1; i < 10; ++i)
    api.apply(service("s" + std::to_string(i)));
  WatchReader w(api.address(), "/api/v1/services?watch=1&resourceVersion=" + rv_of(first));
  auto err = w.next();
  ASSERT_TRUE(err);
  EXPECT_EQ((*err)["object"]["code"], 410);
}

TEST(KubeStandinProtocol, SelectorWatchSendsDeletedWhenAnObjectStopsMatching) {
  KubeStandin api;
  auto a = api.apply(service("a", "default", {{"app", "web"}}));
  WatchReader w(api.address(),
                "/api/v1/services?watch=1&labelSelector=app%3Dweb&resourceVersion=" + rv_of(a));
  json moved = service("a", "default", {{"app", "db"}});
  api.apply(moved);
  auto e = w.next();
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["type"], "DELETED");
  EXPECT_EQ((*e)["object"]["metadata"]["labels"]["app"], "web");  // its last matching state
  api.apply(service("a", "default", {{"app", "web"}}));
  auto back = w.next();
  ASSERT_TRUE(back);
  EXPECT_EQ((*back)["type"], "ADDED");
}

TEST(KubeStandinProtocol, TimeoutSecondsEndsTheStreamCleanly) {
  KubeStandin api;
  auto start = std::chrono::steady_clock::now();
  WatchReader w(api.address(), "/api/v1/services?watch=1&resourceVersion=1&timeoutSeconds=1");
  EXPECT_TRUE(w.wait_end(5s));
  EXPECT_TRUE(w.ended_cleanly());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST(KubeStandinProtocol, CutWatchesEndsStreamsMidLine) {
  KubeStandin api;
  WatchReader w(api.address(), "/api/v1/services?watch=1&resourceVersion=1");
  ASSERT_TRUE(wait_until([&] { return api.stats()["watches"] == 1; }, 5s));
  api.cut_watches();
  EXPECT_FALSE(w.wait_end(5s));
  EXPECT_TRUE(w.cut());
  EXPECT_FALSE(w.rest().empty());  // half a line
  EXPECT_EQ(api.stats()["watches"], 0);
}

TEST(KubeStandinProtocol, RestartStartsEmptyOnTheSameAddress) {
  KubeStandin api;
  api.apply(service("a"));
  std::string addr = api.address();
  pid_t before = api.pid();
  api.restart();
  EXPECT_EQ(api.address(), addr);
  EXPECT_NE(api.pid(), before);
  EXPECT_TRUE(api.get(service("a")).is_null());
  EXPECT_FALSE(
      api.get({{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "default"}}}})
          .is_null());
}

TEST(KubeStandinProtocol, RestartWithSnapshotKeepsObjectsAndCompactsHistory) {
  KubeStandin::Options o;
  o.snapshot = true;
  KubeStandin api(o);
  auto a = api.apply(service("a"));
  api.apply(service("c"));
  std::string rv = api.request("GET", "/api/v1/services").json()["metadata"]["resourceVersion"];
  api.restart(true);
  auto back = api.get(service("a"));
  ASSERT_FALSE(back.is_null());
  EXPECT_EQ(back["metadata"]["uid"], a["metadata"]["uid"]);
  EXPECT_EQ(rv_of(back), rv_of(a));
  // The version counter goes on from where it was; older versions are compacted.
  EXPECT_EQ(api.stats()["resourceVersion"], rv);
  WatchReader old(api.address(), "/api/v1/services?watch=1&resourceVersion=" + rv_of(a));
  EXPECT_EQ(std::stoull(rv_of(api.apply(service("b")))), std::stoull(rv) + 1);
  auto err = old.next();
  ASSERT_TRUE(err);
  EXPECT_EQ((*err)["object"]["code"], 410);
  // Killed instead: empty.
  api.restart();
  EXPECT_TRUE(api.get(service("a")).is_null());
}

// The agent tests run the API server in a namespace of its own (a "control plane" host).
TEST(KubeStandinProtocol, InsideANetworkNamespace) {
  NETAGENT_REQUIRE_ROOT();
  NetNs ns("kapi");
  KubeStandin::Options o;
  o.netns = &ns;
  KubeStandin api(o);
  EXPECT_EQ(api.address().rfind("127.0.0.1:", 0), 0u);
  api.apply(service("a"));
  EXPECT_FALSE(api.get(service("a")).is_null());
  // Not reachable from the root namespace's loopback.
  std::string out;
  sh("curl -s --max-time 2 " + api.url() + "/version", &out);
  EXPECT_EQ(out.find("netagent-standin"), std::string::npos) << out;
}

TEST(KubeStandinProtocol, TwentyThousandObjects) {
  KubeStandin api;
  // Bodies written as text: the test's own code is unoptimised, and JSON at -O0 would be most
  // of the time.
  for (int i = 0; i < 20000; ++i) {
    auto r = api.request("POST", "/api/v1/namespaces/default/configmaps",
                         R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm)" +
                             std::to_string(i) + R"("},"data":{"k":"v"}})");
    ASSERT_EQ(r.status, 201u) << r.body;
  }
  auto all = api.request("GET", "/api/v1/configmaps").json();
  EXPECT_EQ(all["items"].size(), 20000u);
  WatchReader w(api.address(),
                "/api/v1/configmaps?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&"
                "resourceVersionMatch=NotOlderThan");
  int added = 0;
  while (auto e = w.next()) {
    if ((*e)["type"] == "BOOKMARK") break;
    ++added;
  }
  EXPECT_EQ(added, 20000);
}

}  // namespace
}  // namespace netagent::testing
