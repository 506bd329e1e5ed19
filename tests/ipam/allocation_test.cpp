// LB IPAM allocation semantics: requests, selectors, sharing, conflicts, disabled and exhausted
// pools, reserved addresses, load balancer classes, and the example clusters' fixed addresses.
#include <gtest/gtest.h>

#include "ipam_fixtures.hpp"
#include "netagent/ipam/allocation.hpp"

namespace netagent::ipam {
namespace {

using testing::ip_strings;
using testing::lb;
using testing::load;
using testing::range_pool;
using testing::svc;
using Strings = std::vector<std::string>;

const AllocationState kFresh;

Allocation run(const std::string& yaml, const AllocationState& prev = kFresh) {
  return allocate(load(yaml), prev);
}

const char* kPool = R"(
apiVersion: cilium.io/v2alpha1
kind: CiliumLoadBalancerIPPool
metadata: {name: pool}
spec:
  blocks: [{start: 10.0.0.10, stop: 10.0.0.29}]
)";

std::string service(const std::string& ns, const std::string& name, const std::string& extra_meta,
                    const std::string& extra_spec = "",
                    const std::string& ports = "[{name: http, port: 80}]") {
  return "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: " + name + "\n  namespace: " + ns +
         "\n" + extra_meta + "spec:\n  type: LoadBalancer\n  ports: " + ports + "\n" + extra_spec;
}

std::string ann(const std::string& k, const std::string& v) {
  return "  annotations: {\"" + k + "\": \"" + v + "\"}\n";
}

TEST(Allocate, DormantWithoutPools) {
  auto a = run(service("default", "web", ""));
  EXPECT_TRUE(a.dormant);
  EXPECT_TRUE(a.services.empty());
  EXPECT_TRUE(a.pools.empty());
}

TEST(Allocate, DynamicAddressIsInsideThePool) {
  auto a = run(kPool + service("default", "web", ""));
  EXPECT_FALSE(a.dormant);
  const auto& s = svc(a, "default/web");
  ASSERT_EQ(s.ips.size(), 1u);
  EXPECT_TRUE(s.satisfied);
  EXPECT_EQ(s.reason, Reason::Satisfied);
  EXPECT_EQ(s.ips[0].pool, "pool");
  EXPECT_EQ(s.ips[0].placement, Placement::Home);
  EXPECT_GE(s.ips[0].ip, *Ipv4Addr::parse("10.0.0.10"));
  EXPECT_LE(s.ips[0].ip, *Ipv4Addr::parse("10.0.0.29"));
  ASSERT_EQ(a.pools.size(), 1u);
  EXPECT_EQ(a.pools[0].total, 20u);
  EXPECT_EQ(a.pools[0].used, 1u);
  EXPECT_EQ(a.pools[0].available, 19u);
  EXPECT_EQ(a.pools[0].services, 1u);
}

TEST(Allocate, RequestedAddressBySpellings) {
  struct Case {
    std::string name, meta, spec;
    Strings want;
  } cases[] = {
      {"annotation", ann("lbipam.cilium.io/ips", "10.0.0.15"), "", {"10.0.0.15"}},
      {"alias", ann("io.cilium/lb-ipam-ips", "10.0.0.16"), "", {"10.0.0.16"}},
      {"list", ann("lbipam.cilium.io/ips", "10.0.0.17, 10.0.0.12"), "", {"10.0.0.12", "10.0.0.17"}},
      {"spec", "", "  loadBalancerIP: 10.0.0.18\n", {"10.0.0.18"}},
  };
  for (const auto& c : cases) {
    auto a = run(kPool + service("default", c.name, c.meta, c.spec));
    const auto& s = svc(a, "default/" + c.name);
    EXPECT_EQ(ip_strings(a, "default/" + c.name), c.want) << c.name;
    EXPECT_TRUE(s.satisfied) << c.name;
    for (const auto& ip : s.ips)
      EXPECT_EQ(ip.placement, Placement::Requested) << c.name;
  }
}

TEST(Allocate, UnsatisfiableRequestsCarryCiliumReasons) {
  const std::string selective = R"(
---
apiVersion: cilium.io/v2
kind: CiliumLoadBalancerIPPool
metadata: {name: selective}
spec:
  blocks: [{cidr: 10.1.0.0/24}]
  serviceSelector: {matchLabels: {color: blue}}
---
apiVersion: cilium.io/v2
kind: CiliumLoadBalancerIPPool
metadata: {name: off}
spec:
  disabled: "true"
  blocks: [{cidr: 10.2.0.0/24}]
)";
  struct Case {
    std::string name, meta;
    Reason reason;
    std::string message_part;
  } cases[] = {
      {"outside", ann("lbipam.cilium.io/ips", "192.0.2.1"), Reason::NoPool,
       "No pool exists with a CIDR containing '192.0.2.1'"},
      {"unselected", ann("lbipam.cilium.io/ips", "10.1.0.5"), Reason::PoolSelectorMismatch,
       "doesn't select this service"},
      {"disabled", ann("lbipam.cilium.io/ips", "10.2.0.5"), Reason::PoolDisabled, "is disabled"},
      {"typo", ann("lbipam.cilium.io/ips", "10.0.0.x"), Reason::InvalidRequest, "10.0.0.x"},
  };
  for (const auto& c : cases) {
    auto a = run(kPool + selective + service("default", c.name, c.meta));
    const auto& s = svc(a, "default/" + c.name);
    EXPECT_FALSE(s.satisfied) << c.name;
    EXPECT_TRUE(s.ips.empty()) << c.name << ": a failed request gets no other address";
    EXPECT_EQ(s.reason, c.reason) << c.name << ": " << to_string(s.reason) << " " << s.message;
    EXPECT_NE(s.message.find(c.message_part), std::string::npos) << c.name << ": " << s.message;
  }
}

TEST(Allocate, RequestedAddressTakenByAnotherService) {
  auto a = run(kPool + service("default", "a", ann("lbipam.cilium.io/ips", "10.0.0.20")) +
               service("default", "b", ann("lbipam.cilium.io/ips", "10.0.0.20")));
  EXPECT_EQ(ip_strings(a, "default/a"), Strings{"10.0.0.20"});  // first in canonical order
  const auto& b = svc(a, "default/b");
  EXPECT_FALSE(b.satisfied);
  EXPECT_EQ(b.reason, Reason::AlreadyAllocated);
  EXPECT_NE(b.message.find("default/a"), std::string::npos) << b.message;
}

TEST(Allocate, Ipv6RequestsAreIgnoredWithANote) {
  auto a =
      run(kPool + service("default", "dual", ann("lbipam.cilium.io/ips", "10.0.0.21,fd00::1")));
  const auto& s = svc(a, "default/dual");
  EXPECT_EQ(ip_strings(a, "default/dual"), Strings{"10.0.0.21"});
  EXPECT_TRUE(s.satisfied);
  EXPECT_NE(s.message.find("fd00::1"), std::string::npos) << s.message;
}

TEST(Allocate, FirstAndLastAddressOfCidrsAreReserved) {
  struct Case {
    std::string block;
    std::string allow;
    uint64_t total;
  } cases[] = {
      {"cidr: 10.3.0.0/30", "", 2},     {"cidr: 10.3.0.0/30", "Yes", 4},
      {"cidr: 10.3.0.0/31", "", 2},     {"cidr: 10.3.0.7/32", "", 1},
      {"cidr: 10.3.0.0/24", "No", 254}, {"{start: 10.3.0.0, stop: 10.3.0.3}", "", 4},
  };
  for (const auto& c : cases) {
    std::string yaml =
        "apiVersion: cilium.io/v2\nkind: CiliumLoadBalancerIPPool\nmetadata: "
        "{name: p}\nspec:\n  blocks:\n  - " +
        c.block + "\n" + (c.allow.empty() ? "" : "  allowFirstLastIPs: " + c.allow + "\n");
    auto a = run(yaml);
    ASSERT_EQ(a.pools.size(), 1u);
    EXPECT_EQ(a.pools[0].total, c.total) << c.block << " allow=" << c.allow;
  }
  // Requesting a reserved address is refused with its own reason; a range reserves nothing.
  auto a = run(std::string("apiVersion: cilium.io/v2\nkind: CiliumLoadBalancerIPPool\nmetadata: "
                           "{name: p}\nspec:\n  blocks: [{cidr: 10.3.0.0/29}, {start: 10.3.1.0, "
                           "stop: 10.3.1.7}]\n") +
               service("default", "net", ann("lbipam.cilium.io/ips", "10.3.0.0")) +
               service("default", "bcast", ann("lbipam.cilium.io/ips", "10.3.0.7")) +
               service("default", "range", ann("lbipam.cilium.io/ips", "10.3.1.0")));
  EXPECT_EQ(svc(a, "default/net").reason, Reason::ReservedIp);
  EXPECT_EQ(svc(a, "default/bcast").reason, Reason::ReservedIp);
  EXPECT_TRUE(svc(a, "default/range").satisfied);
  // Dynamic allocation never lands on a reserved address: fill the /29 (6 usable) completely.
  std::vector<k8s::Service> services;
  for (int i = 0; i < 6; ++i)
    services.push_back(lb("default", "s" + std::to_string(i)));
  auto filled = allocate({testing::pool_from("apiVersion: cilium.io/v2\nkind: "
                                             "CiliumLoadBalancerIPPool\nmetadata: {name: p}\nspec: "
                                             "{blocks: [{cidr: 10.3.0.0/29}]}\n")},
                         services, {});
  std::set<std::string> got;
  for (const auto& [k, s] : filled.services) {
    ASSERT_EQ(s.ips.size(), 1u) << k;
    got.insert(s.ips[0].ip.str());
  }
  EXPECT_EQ(got, (std::set<std::string>{"10.3.0.1", "10.3.0.2", "10.3.0.3", "10.3.0.4", "10.3.0.5",
                                        "10.3.0.6"}));
}

TEST(Allocate, ExhaustedPoolLeavesServiceUnallocated) {
  std::vector<k8s::Service> services = {lb("default", "a"), lb("default", "b"), lb("default", "c")};
  auto a = allocate({range_pool("tiny", "10.4.0.1", "10.4.0.2")}, services, {});
  int allocated = 0;
  for (const auto& [k, s] : a.services)
    allocated += !s.ips.empty();
  EXPECT_EQ(allocated, 2);
  const auto& c = svc(a, "default/c");  // canonical order: a and b first
  EXPECT_FALSE(c.satisfied);
  EXPECT_EQ(c.reason, Reason::OutOfIps);
  EXPECT_NE(c.message.find("ran out of allocatable IPs"), std::string::npos);
  EXPECT_EQ(a.pools[0].available, 0u);
  auto n = counters(a);
  EXPECT_EQ(n.services_unsatisfied, 1u);
  EXPECT_EQ(n.services_satisfied, 2u);
}

TEST(Allocate, SecondPoolTakesOverWhenTheFirstIsFull) {
  std::vector<k8s::Service> services = {lb("default", "a"), lb("default", "b")};
  auto a = allocate(
      {range_pool("first", "10.4.0.1", "10.4.0.1"), range_pool("second", "10.4.1.1", "10.4.1.1")},
      services, {});
  EXPECT_EQ(ip_strings(a, "default/a"), Strings{"10.4.0.1"});
  EXPECT_EQ(ip_strings(a, "default/b"), Strings{"10.4.1.1"});
  EXPECT_EQ(svc(a, "default/b").ips[0].pool, "second");
}

TEST(Allocate, PoolSelectorsIncludingTheSyntheticServiceKeys) {
  const std::string pools = R"(
apiVersion: cilium.io/v2
kind: CiliumLoadBalancerIPPool
metadata: {name: tenant-a}
spec:
  blocks: [{cidr: 10.5.0.0/24}]
  serviceSelector: {matchLabels: {io.kubernetes.service.namespace: tenant-a}}
---
apiVersion: cilium.io/v2
kind: CiliumLoadBalancerIPPool
metadata: {name: by-name}
spec:
  blocks: [{cidr: 10.6.0.0/24}]
  serviceSelector:
    matchExpressions: [{key: io.kubernetes.service.name, operator: In, values: [special]}]
---
apiVersion: cilium.io/v2
kind: CiliumLoadBalancerIPPool
metadata: {name: blue}
spec:
  blocks: [{cidr: 10.7.0.0/24}]
  serviceSelector: {matchExpressions: [{key: color, operator: In, values: [blue, cyan]}]}
)";
  auto a = run(pools + service("tenant-a", "web", "") + service("tenant-b", "special", "") +
               service("tenant-b", "cyan", "  labels: {color: cyan}\n") +
               service("tenant-b", "plain", ""));
  ASSERT_EQ(svc(a, "tenant-a/web").ips.size(), 1u);
  EXPECT_EQ(svc(a, "tenant-a/web").ips[0].pool, "tenant-a");
  ASSERT_EQ(svc(a, "tenant-b/special").ips.size(), 1u);
  EXPECT_EQ(svc(a, "tenant-b/special").ips[0].pool, "by-name");
  ASSERT_EQ(svc(a, "tenant-b/cyan").ips.size(), 1u);
  EXPECT_EQ(svc(a, "tenant-b/cyan").ips[0].pool, "blue");
  EXPECT_EQ(svc(a, "tenant-b/plain").reason, Reason::NoPool);
  EXPECT_NE(svc(a, "tenant-b/plain").message.find("no enabled CiliumLoadBalancerIPPools"),
            std::string::npos);
}

TEST(Allocate, OverlappingPoolsTheLaterByNameConflicts) {
  auto a = run(R"(
apiVersion: cilium.io/v2
kind: CiliumLoadBalancerIPPool
metadata: {name: red-pool}
spec: {blocks: [{cidr: 20.0.10.0/24}]}
---
apiVersion: cilium.io/v2
kind: CiliumLoadBalancerIPPool
metadata: {name: blue-pool}
spec: {blocks: [{cidr: 20.0.10.0/24}]}
---
apiVersion: cilium.io/v2
kind: CiliumLoadBalancerIPPool
metadata: {name: self-overlap}
spec: {blocks: [{cidr: 20.0.20.0/24}, {start: 20.0.20.5, stop: 20.0.20.9}]}
---
apiVersion: cilium.io/v2
kind: CiliumLoadBalancerIPPool
metadata: {name: green-pool}
spec: {blocks: [{cidr: 20.0.30.0/28}]}
)" + service("default", "web", "") +
               service("default", "in-conflicting", ann("lbipam.cilium.io/ips", "20.0.20.7")));
  ASSERT_EQ(a.pools.size(), 4u);
  std::map<std::string, PoolStatus> by;
  for (const auto& p : a.pools)
    by[p.name] = p;
  EXPECT_FALSE(by["blue-pool"].conflicting);  // earlier by name wins
  EXPECT_TRUE(by["red-pool"].conflicting);
  EXPECT_EQ(by["red-pool"].conflict_reason, "cidr_overlap");
  EXPECT_EQ(by["red-pool"].conflict_message,
            "Pool conflicts since CIDR '20.0.10.0/24' overlaps CIDR '20.0.10.0/24' from IP Pool "
            "'blue-pool'");
  EXPECT_TRUE(by["self-overlap"].conflicting);
  EXPECT_EQ(by["red-pool"].total, 0u) << "a conflicting pool allocates nothing";
  EXPECT_EQ(counters(a).pools_conflicting, 2u);
  // Names in order: blue-pool, green-pool, red-pool, self-overlap; web lands in blue-pool.
  EXPECT_EQ(svc(a, "default/web").ips.at(0).pool, "blue-pool");
  const auto& c = svc(a, "default/in-conflicting");
  EXPECT_EQ(c.reason, Reason::NoPool);
  EXPECT_NE(c.message.find("conflicts with another pool"), std::string::npos) << c.message;
}

TEST(Allocate, DisabledPoolStopsNewAllocationsButKeepsExistingOnes) {
  const std::string pool = R"(
apiVersion: cilium.io/v2
kind: CiliumLoadBalancerIPPool
metadata: {name: draining}
spec:
  disabled: true
  blocks: [{cidr: 10.8.0.0/24}]
)";
  auto a = run(pool + service("default", "old", "") + service("default", "new", ""));
  EXPECT_EQ(svc(a, "default/new").reason, Reason::PoolDisabled);
  EXPECT_NE(svc(a, "default/new").message.find("'draining'"), std::string::npos);
  // "old" got 10.8.0.7 before the pool was disabled: this node remembers it.
  AllocationState prev;
  prev.services["default/old"] = {*Ipv4Addr::parse("10.8.0.7")};
  auto b = run(pool + service("default", "old", "") + service("default", "new", ""), prev);
  EXPECT_EQ(ip_strings(b, "default/old"), Strings{"10.8.0.7"});
  EXPECT_EQ(svc(b, "default/old").ips[0].placement, Placement::Previous);
  EXPECT_FALSE(svc(b, "default/new").satisfied);
  EXPECT_TRUE(b.pools[0].disabled);
  EXPECT_EQ(b.pools[0].used, 1u);
}

TEST(Allocate, StatusIngressIsHonouredAsAnExistingAllocation) {
  auto a = run(kPool + service("default", "web", "", R"(status:
  loadBalancer:
    ingress: [{ip: 10.0.0.25}]
)"));
  EXPECT_EQ(ip_strings(a, "default/web"), Strings{"10.0.0.25"});
  EXPECT_EQ(svc(a, "default/web").ips[0].placement, Placement::Status);
  EXPECT_TRUE(svc(a, "default/web").canonical) << "status is visible to every node";
  // A status address outside every pool is not kept: the service is allocated normally.
  auto b = run(kPool + service("default", "web", "", R"(status:
  loadBalancer:
    ingress: [{ip: 192.0.2.9}]
)"));
  ASSERT_EQ(svc(b, "default/web").ips.size(), 1u);
  EXPECT_EQ(svc(b, "default/web").ips[0].placement, Placement::Home);
}

TEST(Allocate, OnlyLoadBalancerServicesOfOurClassesAreHandled) {
  auto a = run(kPool +
               service("default", "bgp", "", "  loadBalancerClass: io.cilium/bgp-control-plane\n") +
               service("default", "other", "", "  loadBalancerClass: example.com/metallb\n") +
               "---\napiVersion: v1\nkind: Service\nmetadata: {name: cip, namespace: default}\n"
               "spec: {ports: [{port: 80}]}\n");
  EXPECT_TRUE(svc(a, "default/bgp").satisfied);
  EXPECT_EQ(a.services.count("default/other"), 0u);
  EXPECT_EQ(a.services.count("default/cip"), 0u);
}

// Sharing keys: services with distinct port+protocol share one address; clashing ones get
// another address added to the key's set.
TEST(Allocate, SharingKeys) {
  struct Member {
    std::string ns, name, ports, extra;
  };
  struct Case {
    std::string name;
    std::vector<Member> members;
    bool shared;
  } cases[] = {
      {"distinct ports",
       {{"default", "http", "[{port: 80}]", ""}, {"default", "https", "[{port: 443}]", ""}},
       true},
      {"same port",
       {{"default", "a", "[{port: 80}]", ""}, {"default", "b", "[{port: 80}]", ""}},
       false},
      {"same port other protocol",
       {{"default", "dns-tcp", "[{port: 53, protocol: TCP}]", ""},
        {"default", "dns-udp", "[{port: 53, protocol: UDP}]", ""}},
       true},
      {"other namespace, not allowed",
       {{"ns-a", "a", "[{port: 80}]", ""}, {"ns-b", "b", "[{port: 81}]", ""}},
       false},
      {"other namespace, allowed on one side only",
       {{"ns-a", "a", "[{port: 80}]", "*"}, {"ns-b", "b", "[{port: 81}]", ""}},
       false},
      {"other namespace, allowed on both",
       {{"ns-a", "a", "[{port: 80}]", "ns-b"}, {"ns-b", "b", "[{port: 81}]", "*"}},
       true},
  };
  for (const auto& c : cases) {
    std::string yaml = kPool;
    for (const auto& m : c.members) {
      std::string meta = "  annotations:\n    lbipam.cilium.io/sharing-key: web\n";
      if (!m.extra.empty()) {
        meta += "    lbipam.cilium.io/sharing-cross-namespace: \"" + m.extra + "\"\n";
      }
      yaml += service(m.ns, m.name, meta, "", m.ports);
    }
    auto a = run(yaml);
    auto first = ip_strings(a, c.members[0].ns + "/" + c.members[0].name);
    auto second = ip_strings(a, c.members[1].ns + "/" + c.members[1].name);
    ASSERT_EQ(first.size(), 1u) << c.name;
    ASSERT_EQ(second.size(), 1u) << c.name;
    EXPECT_EQ(first == second, c.shared) << c.name << ": " << first[0] << " vs " << second[0];
    EXPECT_TRUE(svc(a, c.members[1].ns + "/" + c.members[1].name).satisfied) << c.name;
    if (c.shared) {
      EXPECT_EQ(a.pools[0].used, 1u) << c.name << ": one address, two services";
      EXPECT_EQ(a.pools[0].services, 2u) << c.name;
    }
  }
}

TEST(Allocate, SharingKeyAliasesAndExternalTrafficPolicy) {
  const std::string meta = "  annotations: {io.cilium/lb-ipam-sharing-key: k}\n";
  auto a = run(kPool + service("default", "a", meta, "", "[{port: 80}]") +
               service("default", "b", meta, "", "[{port: 81}]") +
               service("default", "c", meta,
                       "  externalTrafficPolicy: Local\n  selector: {app: c}\n", "[{port: 82}]"));
  EXPECT_EQ(ip_strings(a, "default/a"), ip_strings(a, "default/b"));
  EXPECT_NE(ip_strings(a, "default/a"), ip_strings(a, "default/c"))
      << "services with different externalTrafficPolicy never share";
}

TEST(Allocate, RequestedAddressWithSharingKey) {
  const std::string k = "    lbipam.cilium.io/sharing-key: gw\n";
  const std::string ip = "    lbipam.cilium.io/ips: 10.0.0.11\n";
  auto a = run(kPool + service("default", "a", "  annotations:\n" + k + ip, "", "[{port: 80}]") +
               service("default", "b", "  annotations:\n" + k + ip, "", "[{port: 443}]") +
               service("default", "c", "  annotations:\n" + k + ip, "", "[{port: 80}]") +
               service("default", "d", "  annotations:\n" + ip, "", "[{port: 8080}]") +
               service("default", "e", "  annotations:\n" + k, "", "[{port: 9090}]"));
  EXPECT_EQ(ip_strings(a, "default/a"), Strings{"10.0.0.11"});
  EXPECT_EQ(ip_strings(a, "default/b"), Strings{"10.0.0.11"});
  EXPECT_EQ(svc(a, "default/c").reason, Reason::AlreadyAllocatedIncompatible);
  EXPECT_NE(svc(a, "default/c").message.find("same port 80/TCP"), std::string::npos)
      << svc(a, "default/c").message;
  EXPECT_EQ(svc(a, "default/d").reason, Reason::AlreadyAllocated);
  // A dynamic member of the key joins the key's existing address.
  EXPECT_EQ(ip_strings(a, "default/e"), Strings{"10.0.0.11"});
  EXPECT_EQ(svc(a, "default/e").ips[0].placement, Placement::Shared);
}

// The example clusters: infra owns 10.25.11.100-119, apps 10.25.11.120-139; the ClusterMesh API
// (.100/.120) and the Gateway (.110/.121) request their fixed addresses; both pools are defined
// in both clusters and cluster-settings disables the other cluster's pool.
std::string example_cluster(const std::string& start, const std::string& end,
                            const std::string& infra_disabled, const std::string& apps_disabled,
                            const std::string& mesh_ip, const std::string& gw_ip) {
  return R"(
apiVersion: cilium.io/v2alpha1
kind: CiliumLoadBalancerIPPool
metadata: {name: infra-pool, namespace: kube-system}
spec:
  disabled: ")" +
         infra_disabled + R"("
  blocks:
  - start: ")" +
         start + R"("
    stop: ")" +
         end + R"("
---
apiVersion: cilium.io/v2alpha1
kind: CiliumLoadBalancerIPPool
metadata: {name: apps-pool, namespace: kube-system}
spec:
  disabled: ")" +
         apps_disabled + R"("
  blocks:
  - start: "10.25.11.120"
    stop: "10.25.11.139"
---
apiVersion: v1
kind: Service
metadata:
  name: clustermesh-apiserver
  namespace: kube-system
  annotations: {io.cilium/lb-ipam-ips: ")" +
         mesh_ip + R"("}
spec:
  type: LoadBalancer
  ports: [{port: 2379}]
---
apiVersion: v1
kind: Service
metadata:
  name: cilium-gateway-main
  namespace: networking
  annotations: {lbipam.cilium.io/ips: ")" +
         gw_ip + R"("}
spec:
  type: LoadBalancer
  ports: [{name: http, port: 80}, {name: https, port: 443}]
---
apiVersion: v1
kind: Service
metadata: {name: grafana, namespace: observability}
spec:
  type: LoadBalancer
  ports: [{port: 3000}]
---
apiVersion: v1
kind: Service
metadata: {name: registry, namespace: tools}
spec:
  type: LoadBalancer
  ports: [{port: 5000}]
)";
}

TEST(Allocate, ExampleInfraClusterFixedAddresses) {
  auto a = run(example_cluster("10.25.11.100", "10.25.11.119", "false", "true", "10.25.11.100",
                               "10.25.11.110"));
  EXPECT_EQ(ip_strings(a, "kube-system/clustermesh-apiserver"), Strings{"10.25.11.100"});
  EXPECT_EQ(ip_strings(a, "networking/cilium-gateway-main"), Strings{"10.25.11.110"});
  for (const char* key : {"observability/grafana", "tools/registry"}) {
    const auto& s = svc(a, key);
    ASSERT_EQ(s.ips.size(), 1u) << key;
    EXPECT_EQ(s.ips[0].pool, "infra-pool") << key;
    EXPECT_NE(s.ips[0].ip.str(), "10.25.11.100");
    EXPECT_NE(s.ips[0].ip.str(), "10.25.11.110");
  }
  EXPECT_NE(ip_strings(a, "observability/grafana"), ip_strings(a, "tools/registry"));
  auto n = counters(a);
  EXPECT_EQ(n.services_unsatisfied, 0u);
  EXPECT_EQ(n.pools_disabled, 1u);
  for (const auto& p : a.pools) {
    EXPECT_EQ(p.used, p.name == "infra-pool" ? 4u : 0u) << p.name;
  }
}

TEST(Allocate, ExampleAppsClusterFixedAddresses) {
  // In the apps cluster the infra pool is disabled and START/END name the apps range; the infra
  // pool then overlaps the apps pool and, being later by name, is the conflicting one.
  auto a = run(example_cluster("10.25.11.120", "10.25.11.139", "true", "false", "10.25.11.120",
                               "10.25.11.121"));
  EXPECT_EQ(ip_strings(a, "kube-system/clustermesh-apiserver"), Strings{"10.25.11.120"});
  EXPECT_EQ(ip_strings(a, "networking/cilium-gateway-main"), Strings{"10.25.11.121"});
  for (const char* key : {"observability/grafana", "tools/registry"}) {
    ASSERT_EQ(svc(a, key).ips.size(), 1u) << key;
    EXPECT_EQ(svc(a, key).ips[0].pool, "apps-pool") << key;
  }
  EXPECT_EQ(counters(a).services_unsatisfied, 0u);
}

}  // namespace
}  // namespace netagent::ipam
