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

TEST(Decode, EveryBadFieldOfAnObjectIsReported) {
  // A bad item does not hide the next one, nor the fields after the list.
  auto o = obj(R"(
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: Balanced
  ports:
  - {name: a, port: 70000}
  - not-a-map
  - {name: c, port: 80, protocol: ICMP}
  externalTrafficPolicy: Nearest
)");
  auto errs = guard_all(o, [&] { decode_service(o); });
  std::vector<std::string> fields;
  for (const auto& e : errs)
    fields.push_back(e.field);
  EXPECT_EQ(fields,
            (std::vector<std::string>{"spec.type", "spec.ports[0].port", "spec.ports[1]",
                                      "spec.ports[2].protocol", "spec.externalTrafficPolicy"}));
  // guard() keeps its contract: the first one.
  auto first = guard(o, [&] { decode_service(o); });
  ASSERT_TRUE(first);
  EXPECT_EQ(first->field, "spec.type");
  // A wrong apiVersion comes with the body's errors, not instead of them.
  SnapshotBuilder b;
  auto all =
      b.add_all(obj("{apiVersion: v2, kind: Service, metadata: {name: x}, "
                    "spec: {ports: [{port: 0}]}}"));
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].field, "apiVersion");
  EXPECT_EQ(all[1].field, "spec.ports[0].port");
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

TEST(Decode, AddressesAndCidrsAreTypedOnce) {
  auto s = decode_service(obj(R"(
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: LoadBalancer
  clusterIPs: [10.96.0.10]
  externalIPs: [192.0.2.7]
  loadBalancerIP: 10.25.11.100
  loadBalancerSourceRanges: [10.0.0.0/8, "fd00::/8"]
  ports: [{port: 80}]
status: {loadBalancer: {ingress: [{ip: 10.25.11.101}]}}
)"));
  EXPECT_EQ(s.cluster_ips, std::vector<IpAddress>{*IpAddress::parse("10.96.0.10")});
  EXPECT_FALSE(s.headless());
  EXPECT_EQ(s.external_ips.at(0).str(), "192.0.2.7");
  EXPECT_EQ(s.load_balancer_ip, IpAddress::parse("10.25.11.100"));
  ASSERT_EQ(s.load_balancer_source_ranges.size(), 2u);
  EXPECT_TRUE(s.load_balancer_source_ranges[1].is_v6());
  EXPECT_EQ(s.status_ingress_ips.at(0).str(), "10.25.11.101");

  auto headless = decode_service(
      obj("{apiVersion: v1, kind: Service, metadata: {name: h}, spec: {clusterIP: None, ports: "
          "[{port: 80}]}}"));
  EXPECT_TRUE(headless.headless());
  EXPECT_TRUE(headless.cluster_ips.empty());

  auto n = decode_node(obj(R"(
apiVersion: v1
kind: Node
metadata: {name: n1}
spec: {podCIDRs: [10.244.1.0/24, "fd00:244:1::/64"]}
status: {addresses: [{type: Hostname, address: n1}, {type: ExternalIP, address: 192.0.2.1},
                     {type: InternalIP, address: 10.25.11.11}]}
)"));
  EXPECT_EQ(n.primary_ip(), IpAddress::parse("10.25.11.11"));
  EXPECT_FALSE(n.addresses[0].ip);
  EXPECT_EQ(n.addresses[0].address, "n1");
  ASSERT_EQ(n.pod_cidrs.size(), 2u);
  EXPECT_EQ(n.pod_cidrs[1].str(), "fd00:244:1::/64");

  auto es = decode_endpoint_slice(obj(R"(
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: s6, labels: {kubernetes.io/service-name: web}}
addressType: IPv6
endpoints: [{addresses: ["fd00::5"]}]
)"));
  EXPECT_EQ(es.endpoints.at(0).addresses.at(0), IpAddress::parse("fd00::5"));
}

TEST(Decode, ABadAddressOrCidrIsAFieldError) {
  struct Case {
    const char* yaml;
    const char* field;
    const char* message;
  };
  const Case cases[] = {
      {"{apiVersion: v1, kind: Service, metadata: {name: a}, spec: {clusterIPs: [10.96.0.10, "
       "10.96.0.300], ports: [{port: 1}]}}",
       "spec.clusterIPs[1]", "\"10.96.0.300\" is not an IPv4 address"},
      {"{apiVersion: v1, kind: Service, metadata: {name: a}, spec: {externalIPs: [\"fd00::1\"], "
       "ports: [{port: 1}]}}",
       "spec.externalIPs[0]", "is not an IPv4 address"},
      {"{apiVersion: v1, kind: Service, metadata: {name: a}, spec: {loadBalancerSourceRanges: "
       "[10.0.0.0/33], ports: [{port: 1}]}}",
       "spec.loadBalancerSourceRanges[0]", "is not a valid CIDR"},
      {"{apiVersion: v1, kind: Node, metadata: {name: n}, status: {addresses: [{type: InternalIP, "
       "address: node-1}]}}",
       "status.addresses[0].address", "\"node-1\" is not an IP address"},
      {"{apiVersion: v1, kind: Node, metadata: {name: n}, spec: {podCIDR: 10.244.1.0}}",
       "spec.podCIDR", "missing /prefix"},
      {"{apiVersion: discovery.k8s.io/v1, kind: EndpointSlice, metadata: {name: s, labels: "
       "{kubernetes.io/service-name: web}}, addressType: IPv6, endpoints: [{addresses: "
       "[10.0.0.1]}]}",
       "endpoints[0].addresses[0]", "is not an IPv6 address"},
  };
  for (const auto& c : cases) {
    SnapshotBuilder b;
    auto err = b.add(obj(c.yaml));
    ASSERT_TRUE(err) << c.yaml;
    EXPECT_EQ(err->field, c.field) << c.yaml;
    EXPECT_NE(err->message.find(c.message), std::string::npos) << err->str();
    EXPECT_NE(err->str().find("t.yaml (document 0)"), std::string::npos) << err->str();
  }
}

}  // namespace
}  // namespace netagent::k8s
