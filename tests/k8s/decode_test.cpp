#include "netagent/k8s/decode.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "netagent/common/base64.hpp"
#include "netagent/k8s/snapshot.hpp"

namespace netagent::k8s {
namespace {

Object obj(const std::string& yaml) {
  return read_object(YAML::Load(yaml), SourceRef{"t.yaml", 0});
}

TEST(Decode, ServiceWithDefaults) {
  auto o = obj(R"(
apiVersion: v1
kind: Service
metadata: {name: web, namespace: apps}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.10
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080}
  - {name: dns, port: 53, protocol: UDP, targetPort: dns}
)");
  auto s = decode_service(o);
  EXPECT_EQ(s.meta.key(), "apps/web");
  EXPECT_EQ(s.type, "LoadBalancer");
  ASSERT_EQ(s.cluster_ips.size(), 1u);
  ASSERT_EQ(s.ports.size(), 2u);
  EXPECT_EQ(s.ports[0].target_port.number, 8080);
  EXPECT_EQ(s.ports[1].protocol, Protocol::UDP);
  EXPECT_EQ(s.ports[1].target_port.name, "dns");
  EXPECT_FALSE(s.external_traffic_local);
  EXPECT_EQ(s.session_affinity_timeout, 10800u);
}

TEST(Decode, BadFieldIsReportedWithPath) {
  auto o = obj(R"(
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  ports:
  - {port: 70000}
)");
  auto err = guard(o, [&] { decode_service(o); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->field, "spec.ports[0].port");
  EXPECT_EQ(err->object, "Service web");
  EXPECT_NE(err->str().find("t.yaml (document 0)"), std::string::npos) << err->str();
  EXPECT_NE(err->message.find("out of range"), std::string::npos);
}

TEST(Decode, EndpointSliceConditionsFollowDiscoveryV1) {
  auto o = obj(R"(
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: apps, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- addresses: [10.1.0.5]
- addresses: [10.1.0.6]
  conditions: {ready: false, serving: true, terminating: true}
)");
  auto es = decode_endpoint_slice(o);
  EXPECT_EQ(es.service_name, "web");
  ASSERT_EQ(es.endpoints.size(), 2u);
  EXPECT_TRUE(es.endpoints[0].conditions.is_ready());
  EXPECT_FALSE(es.endpoints[0].conditions.is_terminating());
  EXPECT_FALSE(es.endpoints[1].conditions.is_ready());
  EXPECT_TRUE(es.endpoints[1].conditions.is_serving());
}

TEST(Decode, SecretDataIsBase64Decoded) {
  auto s = decode_secret(obj(R"(
apiVersion: v1
kind: Secret
metadata: {name: bgp-auth, namespace: kube-system}
data: {password: c2VjcmV0}
stringData: {user: admin}
)"));
  EXPECT_EQ(s.data.at("password"), "secret");
  EXPECT_EQ(s.data.at("user"), "admin");
  EXPECT_FALSE(base64_decode("abc"));
  EXPECT_EQ(*base64_decode("YQ=="), "a");
}

TEST(Snapshot, DuplicatesAndUnknownKinds) {
  SnapshotBuilder b;
  auto svc =
      obj("{apiVersion: v1, kind: Service, metadata: {name: a}, spec: {ports: [{port: 1}]}}");
  EXPECT_FALSE(b.add(svc));
  auto dup = b.add(svc);
  ASSERT_TRUE(dup);
  EXPECT_NE(dup->message.find("duplicate"), std::string::npos);
  EXPECT_FALSE(b.add(obj("{apiVersion: apps/v1, kind: Deployment, metadata: {name: d}}")));
  auto snap = b.take();
  EXPECT_EQ(snap.services.size(), 1u);
  EXPECT_EQ(snap.ignored_kinds["Deployment"], 1);
}

TEST(Snapshot, ObjectsCanBeReorderedWithoutCorruptingTheirDocuments) {
  std::vector<Object> v = {obj("{apiVersion: v1, kind: Namespace, metadata: {name: b}}"),
                           obj("{apiVersion: v1, kind: Namespace, metadata: {name: a}}")};
  auto copy = v;
  std::sort(v.begin(), v.end(),
            [](const Object& x, const Object& y) { return x.meta.name < y.meta.name; });
  EXPECT_EQ(v[0].raw.node()["metadata"]["name"].as<std::string>(), "a");
  EXPECT_EQ(v[1].raw.node()["metadata"]["name"].as<std::string>(), "b");
  // The copies taken before sorting still see their own documents.
  EXPECT_EQ(copy[0].raw.node()["metadata"]["name"].as<std::string>(), "b");
  EXPECT_EQ(copy[1].raw.node()["metadata"]["name"].as<std::string>(), "a");
}

TEST(Snapshot, RegisteredKindIsValidated) {
  KindRegistry reg;
  reg.add("CiliumLoadBalancerIPPool", {"cilium.io/v2alpha1", "cilium.io/v2"},
          [](const Object& o) { Field(o.raw, "")["spec"]["blocks"].items().at(0)["cidr"].str(); });
  SnapshotBuilder b(&reg);
  auto bad =
      b.add(obj("{apiVersion: cilium.io/v2, kind: CiliumLoadBalancerIPPool, metadata: {name: p}, "
                "spec: {blocks: [{start: 1.2.3.4}]}}"));
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->field, "spec.blocks[0].cidr");
  auto badver =
      b.add(obj("{apiVersion: cilium.io/v1, kind: CiliumLoadBalancerIPPool, metadata: {name: q}}"));
  ASSERT_TRUE(badver);
  EXPECT_EQ(badver->field, "apiVersion");
  EXPECT_FALSE(
      b.add(obj("{apiVersion: cilium.io/v2, kind: CiliumLoadBalancerIPPool, metadata: {name: p}, "
                "spec: {blocks: [{cidr: 10.0.0.0/24}]}}")));
  EXPECT_EQ(b.take().of_kind("CiliumLoadBalancerIPPool").size(), 1u);
}

}  // namespace
}  // namespace netagent::k8s
