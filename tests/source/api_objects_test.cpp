// The API source's object cache and the merged source, without the network: what a sync, a watch
// event and a relist do to the snapshot, bad objects, and which source wins a conflict.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "netagent/source/api_source.hpp"

namespace netagent::source {
namespace {

using json = nlohmann::json;
using kubeapi::WatchEvent;

json service(const std::string& name, int port, const std::string& rv = "1") {
  return json{
      {"apiVersion", "v1"},
      {"kind", "Service"},
      {"metadata", {{"name", name}, {"namespace", "default"}, {"resourceVersion", rv}}},
      {"spec",
       {{"type", "ClusterIP"},
        {"clusterIP", "10.96.0.10"},
        {"ports", json::array({{{"name", "http"}, {"port", port}, {"protocol", "TCP"}}})}}}};
}

std::vector<std::string> service_names(const k8s::Snapshot& s) {
  std::vector<std::string> out;
  for (const auto& svc : s.services)
    out.push_back(svc.meta.name + ":" + std::to_string(svc.ports.at(0).port));
  return out;
}

TEST(JsonToYaml, KeepsStringsStringsAndNumbersNumbers) {
  json j = {{"s", "123"}, {"n", 123}, {"b", true}, {"z", nullptr}, {"a", json::array({1, "x"})}};
  YAML::Node y = json_to_yaml(j);
  EXPECT_EQ(y["s"].Scalar(), "123");
  EXPECT_EQ(y["s"].Tag(), "!");
  EXPECT_EQ(y["n"].as<int>(), 123);
  EXPECT_TRUE(y["b"].as<bool>());
  EXPECT_TRUE(y["z"].IsNull());
  ASSERT_TRUE(y["a"].IsSequence());
  EXPECT_EQ(y["a"][1].Scalar(), "x");
}

TEST(ApiObjectCache, SyncEventsAndRelist) {
  ApiObjectCache cache(nullptr);
  EXPECT_TRUE(cache.replace("Service", "api services", {service("a", 80), service("b", 81)}));
  EXPECT_EQ(service_names(*cache.build()), (std::vector<std::string>{"a:80", "b:81"}));

  // A write that changes only resourceVersion (or managedFields) changes nothing downstream.
  EXPECT_FALSE(
      cache.apply("Service", "api services", WatchEvent::Type::Modified, service("a", 80, "7")));
  EXPECT_TRUE(
      cache.apply("Service", "api services", WatchEvent::Type::Modified, service("a", 8080, "8")));
  EXPECT_TRUE(
      cache.apply("Service", "api services", WatchEvent::Type::Added, service("c", 82, "9")));
  EXPECT_TRUE(cache.apply("Service", "api services", WatchEvent::Type::Deleted, service("b", 81)));
  EXPECT_FALSE(
      cache.apply("Service", "api services", WatchEvent::Type::Deleted, service("gone", 1)));
  EXPECT_EQ(service_names(*cache.build()), (std::vector<std::string>{"a:8080", "c:82"}));

  // A relist (after 410) replaces the kind: what is gone is deleted, and only that; an equal
  // relist changes nothing.
  EXPECT_TRUE(cache.replace("Service", "api services", {service("c", 82, "20")}));
  EXPECT_EQ(service_names(*cache.build()), (std::vector<std::string>{"c:82"}));
  EXPECT_FALSE(cache.replace("Service", "api services", {service("c", 82, "21")}));
  EXPECT_EQ(cache.size(), 1u);
}

TEST(ApiObjectCache, ABadObjectIsReportedAndItsLastGoodVersionStays) {
  ApiObjectCache cache(nullptr);
  ASSERT_TRUE(cache.replace("Service", "api services", {service("a", 80), service("b", 81)}));
  json bad = service("a", 80, "5");
  bad["spec"]["ports"][0]["port"] = 70000;
  EXPECT_TRUE(cache.apply("Service", "api services", WatchEvent::Type::Modified, bad));
  // a keeps its last good version; b is untouched; the error names the object and the field.
  EXPECT_EQ(service_names(*cache.build()), (std::vector<std::string>{"a:80", "b:81"}));
  auto errors = cache.errors();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].str().find("Service default/a"), std::string::npos) << errors[0].str();
  EXPECT_NE(errors[0].str().find("spec.ports[0].port"), std::string::npos) << errors[0].str();
  EXPECT_NE(errors[0].str().find("api services"), std::string::npos) << errors[0].str();
  EXPECT_EQ(cache.build(errors)->refused.size(), 1u);  // carried to the status writer

  // A new object that never decoded is not applied at all.
  json bad_new = service("n", 80);
  bad_new["spec"]["clusterIP"] = "not-an-ip";
  EXPECT_TRUE(cache.apply("Service", "api services", WatchEvent::Type::Added, bad_new));
  EXPECT_EQ(service_names(*cache.build()), (std::vector<std::string>{"a:80", "b:81"}));
  EXPECT_EQ(cache.errors().size(), 2u);

  // Fixed: the error goes, the new version applies.
  EXPECT_TRUE(
      cache.apply("Service", "api services", WatchEvent::Type::Modified, service("a", 90, "6")));
  EXPECT_TRUE(cache.apply("Service", "api services", WatchEvent::Type::Deleted, bad_new));
  EXPECT_TRUE(cache.errors().empty());
  EXPECT_EQ(service_names(*cache.build()), (std::vector<std::string>{"a:90", "b:81"}));
}

TEST(ApiObjectCache, RegisteredKindsAreDecodedOnArrival) {
  k8s::KindRegistry registry;
  int decoded = 0;
  registry.add("CiliumNetworkPolicy", {"cilium.io/v2"}, [&decoded](const k8s::Object& o) {
    ++decoded;
    return o.meta.name;
  });
  ApiObjectCache cache(&registry);
  json cnp = {{"apiVersion", "cilium.io/v2"},
              {"kind", "CiliumNetworkPolicy"},
              {"metadata", {{"name", "p"}, {"namespace", "apps"}}},
              {"spec", json::object()}};
  ASSERT_TRUE(cache.replace("CiliumNetworkPolicy", "api cnp", {cnp}));
  auto snap = cache.build();
  ASSERT_EQ(snap->objects.size(), 1u);
  ASSERT_NE(snap->objects[0].as<std::string>(), nullptr);
  EXPECT_EQ(*snap->objects[0].as<std::string>(), "p");
  // Building again, or a resourceVersion-only change, decodes nothing again.
  cnp["metadata"]["resourceVersion"] = "2";
  EXPECT_FALSE(cache.apply("CiliumNetworkPolicy", "api cnp", WatchEvent::Type::Modified, cnp));
  (void)cache.build();
  EXPECT_EQ(decoded, 1);
  // An object of a version the kind's decoder does not accept is an error for that object.
  json old = cnp;
  old["apiVersion"] = "cilium.io/v1";
  old["metadata"]["name"] = "q";
  EXPECT_TRUE(cache.apply("CiliumNetworkPolicy", "api cnp", WatchEvent::Type::Added, old));
  EXPECT_EQ(cache.errors().size(), 1u);
  EXPECT_EQ(cache.build()->objects.size(), 1u);
}

TEST(ApiKinds, CoreKindsAndTheRegistrysKnownKinds) {
  ApiSourceOptions o;
  o.registry.add("CiliumLoadBalancerIPPool", {"cilium.io/v2alpha1", "cilium.io/v2"}, nullptr);
  o.registry.add("CiliumBGPPeeringPolicy", {"cilium.io/v2alpha1"}, nullptr);
  o.registry.add("SomethingElse", {"example.com/v1"}, nullptr);
  std::vector<std::string> unknown;
  auto kinds = api_kinds(o, &unknown);
  EXPECT_EQ(unknown, (std::vector<std::string>{"SomethingElse"}));
  const ApiKind* pool = nullptr;
  const ApiKind* secret = nullptr;
  for (const auto& k : kinds) {
    if (k.kind == "CiliumLoadBalancerIPPool") pool = &k;
    if (k.kind == "Secret") secret = &k;
  }
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(pool->versions.size(), 2u);
  EXPECT_EQ(pool->versions[0].api_version(), "cilium.io/v2");  // the newest first
  EXPECT_EQ(pool->versions[0].resource, "ciliumloadbalancerippools");
  EXPECT_FALSE(pool->versions[0].namespaced);
  EXPECT_TRUE(pool->custom);
  ASSERT_NE(secret, nullptr);
  EXPECT_EQ(secret->ns, "kube-system");  // secrets of one namespace only
}

// A source that delivers what the test gives it.
class FakeSource : public k8s::Source {
 public:
  explicit FakeSource(std::string name) : name_(std::move(name)) {}
  void start(SnapshotFn on_snapshot, ErrorFn) override { fn_ = std::move(on_snapshot); }
  void stop() override {}
  k8s::SourceStats stats() const override { return {}; }
  std::string describe() const override { return name_; }
  std::shared_ptr<const k8s::Snapshot> deliver(std::vector<json> services) {
    ApiObjectCache c(nullptr);
    (void)c.replace("Service", name_, services);
    auto snap = c.build();
    fn_(snap);
    return snap;
  }

 private:
  std::string name_;
  SnapshotFn fn_;
};

TEST(MergedSource, WaitsForEverySourceAndTheFirstWinsAConflict) {
  auto api = std::make_unique<FakeSource>("api");
  auto manifests = std::make_unique<FakeSource>("manifests");
  FakeSource* a = api.get();
  FakeSource* m = manifests.get();
  std::vector<std::unique_ptr<k8s::Source>> v;
  v.push_back(std::move(api));
  v.push_back(std::move(manifests));
  MergedSource merged(std::move(v));
  std::vector<std::shared_ptr<const k8s::Snapshot>> got;
  merged.start([&](std::shared_ptr<const k8s::Snapshot> s) { got.push_back(std::move(s)); },
               [](const std::vector<k8s::DecodeError>&) {});
  m->deliver({service("shared", 1), service("only-manifest", 2)});
  EXPECT_TRUE(got.empty());  // not before the API's first complete set
  a->deliver({service("shared", 3), service("only-api", 4)});
  ASSERT_EQ(got.size(), 1u);
  auto names = service_names(*got[0]);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"only-api:4", "only-manifest:2", "shared:3"}));
  auto st = merged.stats();
  ASSERT_EQ(st.warnings.size(), 1u);
  EXPECT_NE(st.warnings[0].find("Service/default/shared"), std::string::npos) << st.warnings[0];
  EXPECT_EQ(st.loads_ok, 1u);
  // The manifest copy is used again once the API no longer has the object.
  a->deliver({service("only-api", 4)});
  names = service_names(*got.back());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"only-api:4", "only-manifest:2", "shared:1"}));
  EXPECT_TRUE(merged.stats().warnings.empty());
  // An empty second source: the first's snapshot is delivered as it is, not copied.
  m->deliver({});
  auto api_snap = a->deliver({service("only-api", 5)});
  EXPECT_EQ(got.back(), api_snap);
}

}  // namespace
}  // namespace netagent::source
