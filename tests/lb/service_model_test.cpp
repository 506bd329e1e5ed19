#include "netagent/lb/service_model.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>

#include <set>

#include "netagent/k8s/decode.hpp"
#include "netagent/testing/manifests.hpp"

extern "C" {
#include "netagent/lb.h"
}

namespace netagent::lb {
namespace {

k8s::Snapshot snapshot(const std::string& yaml) {
  return netagent::testing::snapshot_from_yaml(yaml);
}

const Frontend* find(const DesiredServices& d, const char* addr, uint16_t port, uint8_t scope = 0) {
  for (const auto& f : d.frontends) {
    if (f.key.addr == *Ipv4Addr::parse(addr) && f.key.port == port && f.key.scope == scope)
      return &f;
  }
  return nullptr;
}

std::vector<std::string> addrs(const Frontend* f) {
  std::vector<std::string> out;
  if (f) {
    for (const auto& b : f->backends)
      out.push_back(b.addr.str());
  }
  return out;
}

const char* kWeb = R"(
apiVersion: v1
kind: Service
metadata: {name: web, namespace: apps}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.10
  externalTrafficPolicy: ETP
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: apps, labels: {kubernetes.io/service-name: web}}
ports: [{name: http, port: 8080}]
endpoints:
- {addresses: [10.1.0.5], nodeName: node-a}
- {addresses: [10.1.1.5], nodeName: node-b}
- {addresses: [10.1.0.6], nodeName: node-a, conditions: {ready: false, serving: true, terminating: true}}
- {addresses: [10.1.0.7], nodeName: node-a, conditions: {ready: false}}
)";

std::string web(const char* etp) {
  std::string s = kWeb;
  s.replace(s.find("ETP"), 3, etp);
  return s;
}

TEST(ServiceModel, FrontendsOfEveryType) {
  auto snap = snapshot(web("Cluster"));
  NodeView node{"node-a", {*Ipv4Addr::parse("10.25.11.11")}};
  LoadBalancerIps lb{{"apps/web", {*Ipv4Addr::parse("10.25.11.100")}}};
  auto d = compile_services(snap, node, lb, {});
  const auto* cip = find(d, "10.96.0.10", 80);
  const auto* lbf = find(d, "10.25.11.100", 80);
  const auto* np = find(d, "10.25.11.11", 30080);
  ASSERT_TRUE(cip && lbf && np);
  EXPECT_TRUE(cip->flags & LB_SVC_F_CLUSTER_IP);
  EXPECT_FALSE(cip->flags & LB_SVC_F_MAGLEV);
  EXPECT_TRUE(lbf->flags & LB_SVC_F_LOAD_BALANCER);
  EXPECT_TRUE(lbf->flags & LB_SVC_F_MAGLEV);
  EXPECT_TRUE(np->flags & LB_SVC_F_NODE_PORT);
  // Ready endpoints only: the terminating and the unready ones are left out.
  std::vector<std::string> ready = {"10.1.0.5", "10.1.1.5"};
  EXPECT_EQ(addrs(cip), ready);
  EXPECT_EQ(addrs(lbf), ready);
  EXPECT_EQ(lbf->backends.front().port, 8080);
  EXPECT_EQ(lbf->group, np->group);  // one Maglev table for both
}

TEST(ServiceModel, ExternalTrafficPolicyLocal) {
  auto snap = snapshot(web("Local"));
  LoadBalancerIps lb{{"apps/web", {*Ipv4Addr::parse("10.25.11.100")}}};
  // node-a has a ready local backend: north-south goes to it only; east-west reaches all.
  auto d = compile_services(snap, {"node-a", {}}, lb, {});
  EXPECT_EQ(addrs(find(d, "10.25.11.100", 80)), std::vector<std::string>{"10.1.0.5"});
  EXPECT_TRUE(find(d, "10.25.11.100", 80)->flags & LB_SVC_F_TWO_SCOPES);
  EXPECT_EQ(addrs(find(d, "10.25.11.100", 80, LB_SCOPE_INTERNAL)),
            (std::vector<std::string>{"10.1.0.5", "10.1.1.5"}));
  EXPECT_EQ(addrs(find(d, "10.96.0.10", 80)), (std::vector<std::string>{"10.1.0.5", "10.1.1.5"}));
  // node-c has no local endpoint: the north-south set is empty (traffic is dropped there).
  auto dc = compile_services(snap, {"node-c", {}}, lb, {});
  EXPECT_TRUE(find(dc, "10.25.11.100", 80)->backends.empty());
}

TEST(ServiceModel, TerminatingFallback) {
  auto snap = snapshot(R"(
apiVersion: v1
kind: Service
metadata: {name: s, namespace: d}
spec: {clusterIP: 10.96.0.11, ports: [{port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: s-1, namespace: d, labels: {kubernetes.io/service-name: s}}
ports: [{port: 80}]
endpoints:
- {addresses: [10.1.0.1], conditions: {ready: false, serving: true, terminating: true}}
- {addresses: [10.1.0.2], conditions: {ready: false, serving: false, terminating: true}}
)");
  auto d = compile_services(snap, {"n", {}}, {}, {});
  EXPECT_EQ(addrs(find(d, "10.96.0.11", 80)), std::vector<std::string>{"10.1.0.1"});
}

TEST(ServiceModel, NodePortOutsideRangeIsAProblem) {
  auto snap = snapshot(R"(
apiVersion: v1
kind: Service
metadata: {name: s, namespace: d}
spec: {type: NodePort, clusterIP: 10.96.0.12, ports: [{name: a, port: 80, nodePort: 20000}]}
)");
  auto d = compile_services(snap, {"n", {*Ipv4Addr::parse("10.25.11.11")}}, {}, {});
  ASSERT_EQ(d.problems.size(), 1u);
  EXPECT_NE(d.problems[0].message.find("outside the NodePort range"), std::string::npos);
  EXPECT_EQ(d.frontends.size(), 1u);  // the ClusterIP only
}

TEST(ServiceModel, MissingNodePortIsDerivedTheSameOnEveryNode) {
  const char* y = R"(
apiVersion: v1
kind: Service
metadata: {name: s, namespace: d}
spec: {type: NodePort, clusterIP: 10.96.0.12, ports: [{name: a, port: 80}]}
)";
  auto d1 = compile_services(snapshot(y), {"n1", {*Ipv4Addr::parse("10.25.11.11")}}, {}, {});
  auto d2 = compile_services(snapshot(y), {"n2", {*Ipv4Addr::parse("10.25.11.12")}}, {}, {});
  ASSERT_EQ(d1.frontends.size(), 2u);
  ASSERT_EQ(d2.frontends.size(), 2u);
  auto nodeport = [](const DesiredServices& d) {
    for (const auto& f : d.frontends) {
      if (f.type == FrontendType::NodePort) return f.key.port;
    }
    return uint16_t(0);
  };
  EXPECT_EQ(nodeport(d1), nodeport(d2));
  EXPECT_GE(nodeport(d1), 30000);
}

// A service with more ports than the NodePort range has: every port that got no NodePort is a
// problem of its own (kind NodePortRangeExhausted), none is left out silently.
TEST(ServiceModel, EveryPortLeftWithoutANodePortIsAProblem) {
  std::string y = R"(
apiVersion: v1
kind: Service
metadata: {name: many, namespace: d}
spec:
  type: NodePort
  clusterIP: 10.96.0.12
  ports:
)";
  for (int i = 0; i < 30; ++i) {
    y += "  - {name: p" + std::to_string(i) + ", port: " + std::to_string(1000 + i) + "}\n";
  }
  ModelOptions opts;
  opts.nodeport_min = 30000;
  opts.nodeport_max = 30019;  // 20 ports for 30
  auto d = compile_services(snapshot(y), {"n", {*Ipv4Addr::parse("10.25.11.11")}}, {}, opts);
  std::set<uint16_t> nodeports;
  for (const auto& f : d.frontends) {
    if (f.type == FrontendType::NodePort) nodeports.insert(f.key.port);
  }
  EXPECT_EQ(nodeports.size(), 20u);
  size_t exhausted = 0;
  for (const auto& p : d.problems) {
    if (p.kind != ProblemKind::NodePortRangeExhausted) continue;
    exhausted++;
    EXPECT_EQ(p.service, "d/many");
    EXPECT_NE(p.message.find("no NodePort left"), std::string::npos) << p.message;
    EXPECT_NE(p.message.find("30000-30019"), std::string::npos) << p.message;
  }
  EXPECT_EQ(exhausted, 10u);
  EXPECT_EQ(d.problems.size(), 10u);
}

}  // namespace
}  // namespace netagent::lb
