// ClusterMesh backends in the service model: added to the local ones, replacing them
// (replace_local), and recompiled per service by ServiceChanges (a remote change touches only
// its service).
#include <gtest/gtest.h>
#include <netinet/in.h>

#include "netagent/k8s/decode.hpp"
#include "netagent/lb/service_changes.hpp"
#include "netagent/testing/manifests.hpp"

namespace netagent::lb {
namespace {

k8s::Snapshot two_services() {
  const char* yaml = R"(
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec:
  clusterIP: 10.96.0.10
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: demo}
spec:
  clusterIP: 10.96.0.11
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: demo, labels: {kubernetes.io/service-name: web}}
ports: [{name: http, port: 8080}]
endpoints:
- {addresses: [10.1.0.5], nodeName: node-a}
)";
  auto snap = netagent::testing::snapshot_from_yaml(yaml);
  // Digests as the manifest source gives them.
  uint64_t d = 100;
  for (auto& s : snap.services)
    s.source.digest = ++d;
  for (auto& es : snap.endpoint_slices)
    es.source.digest = ++d;
  return snap;
}

BackendInfo remote(const char* ip) {
  BackendInfo b;
  b.addr = {*Ipv4Addr::parse(ip), 8080, IPPROTO_TCP};
  b.cluster = "apps";
  b.cluster_id = 2;
  return b;
}

std::vector<std::string> backends_of(const DesiredServices& d, const std::string& svc) {
  std::vector<std::string> out;
  for (const auto& f : d.frontends) {
    if (f.service != svc) continue;
    for (const auto& b : f.backends)
      out.push_back(b.str());
  }
  return out;
}

TEST(ServiceModelMesh, ExtraBackendsAddToOrReplaceTheLocalOnes) {
  auto snap = two_services();
  ExtraBackends extra;
  extra.by_service_port["demo/web/http"] = {remote("10.2.0.5")};
  auto d = compile_services(snap, {"node-a", {}}, {}, {}, &extra);
  EXPECT_EQ(backends_of(d, "demo/web"),
            (std::vector<std::string>{"10.1.0.5:8080/TCP", "10.2.0.5:8080/TCP"}));
  EXPECT_EQ(d.backends.at(remote("10.2.0.5").addr).cluster, "apps");
  extra.replace_local.insert("demo/web/http");
  d = compile_services(snap, {"node-a", {}}, {}, {}, &extra);
  EXPECT_EQ(backends_of(d, "demo/web"), (std::vector<std::string>{"10.2.0.5:8080/TCP"}));
}

TEST(ServiceModelMesh, RemoteChangeRecompilesOnlyItsService) {
  auto snap = two_services();
  ServiceChanges changes;
  ExtraBackends extra;
  extra.by_service_port["demo/api/http"] = {remote("10.2.0.7")};
  auto first = changes.update(snap, {"node-a", {}}, {}, {}, &extra);
  EXPECT_TRUE(first.full);
  EXPECT_EQ(backends_of(changes.current(), "demo/api"),
            (std::vector<std::string>{"10.2.0.7:8080/TCP"}));

  // A remote backend of demo/web arrives: only demo/web is compiled and changed.
  extra.by_service_port["demo/web/http"] = {remote("10.2.0.5")};
  auto c = changes.update(snap, {"node-a", {}}, {}, {}, &extra);
  EXPECT_FALSE(c.full);
  EXPECT_EQ(c.compiled, 1u);
  ASSERT_EQ(c.services.size(), 1u);
  EXPECT_TRUE(c.services.count("demo/web"));
  EXPECT_EQ(backends_of(changes.current(), "demo/web"),
            (std::vector<std::string>{"10.1.0.5:8080/TCP", "10.2.0.5:8080/TCP"}));

  // Nothing changed: nothing compiled.
  c = changes.update(snap, {"node-a", {}}, {}, {}, &extra);
  EXPECT_EQ(c.compiled, 0u);
  EXPECT_TRUE(c.services.empty());

  // The remote backend of demo/api goes (affinity remote flips demo/web too).
  extra.by_service_port.erase("demo/api/http");
  extra.replace_local.insert("demo/web/http");
  c = changes.update(snap, {"node-a", {}}, {}, {}, &extra);
  EXPECT_FALSE(c.full);
  EXPECT_EQ(c.compiled, 2u);
  EXPECT_TRUE(backends_of(changes.current(), "demo/api").empty());
  EXPECT_EQ(backends_of(changes.current(), "demo/web"),
            (std::vector<std::string>{"10.2.0.5:8080/TCP"}));
}

}  // namespace
}  // namespace netagent::lb
