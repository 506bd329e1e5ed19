// The BGP control-plane compiler: which configuration applies to a node, the peers with Cilium's
// defaults, and the routes each peer gets with their attributes.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "bgpcp_fixtures.hpp"
#include "netagent/bgp/control/compile.hpp"

namespace netagent::bgp::control {
namespace {

using testing::compile_for;
using testing::conditions_str;
using testing::has_condition;
using testing::load;
using testing::prefixes;
using testing::route;
using Strings = std::vector<std::string>;

// The infra cluster after cluster-settings substitution: two nodes, the infra pool, the
// ClusterMesh API and Gateway services with their fixed addresses, and the SRX as eBGP peer.
const std::string kCluster = R"(
apiVersion: v1
kind: Node
metadata:
  name: node-1
  labels: {bgp-policy: infra}
status:
  addresses: [{type: InternalIP, address: 10.25.11.11}]
spec:
  podCIDR: 10.244.1.0/24
---
apiVersion: v1
kind: Node
metadata:
  name: node-2
  labels: {bgp-policy: infra}
status:
  addresses: [{type: InternalIP, address: 10.25.11.12}]
spec:
  podCIDRs: [10.244.2.0/24, "fd00:244:2::/64"]
---
apiVersion: cilium.io/v2alpha1
kind: CiliumLoadBalancerIPPool
metadata: {name: infra-pool, labels: {cluster: infra}}
spec:
  disabled: "false"
  blocks: [{start: "10.25.11.100", stop: "10.25.11.119"}]
---
apiVersion: v1
kind: Service
metadata:
  name: clustermesh-apiserver
  namespace: kube-system
  annotations: {io.cilium/lb-ipam-ips: "10.25.11.100"}
spec:
  type: LoadBalancer
  clusterIP: 10.245.0.50
  ports: [{port: 2379}]
---
apiVersion: v1
kind: Service
metadata:
  name: cilium-gateway-main
  namespace: networking
  labels: {gateway: main}
  annotations: {lbipam.cilium.io/ips: "10.25.11.110"}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: {app: gateway}
  ports: [{name: http, port: 80}, {name: https, port: 443}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: cilium-gateway-main-1
  namespace: networking
  labels: {kubernetes.io/service-name: cilium-gateway-main}
addressType: IPv4
endpoints:
- addresses: [10.244.1.5]
  nodeName: node-1
- addresses: [10.244.2.5]
  nodeName: node-2
  conditions: {ready: false}
ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: metallb-owned, namespace: default}
spec:
  type: LoadBalancer
  loadBalancerClass: metallb.io/metallb
  loadBalancerIP: 10.25.11.115
  ports: [{port: 80}]
---
apiVersion: v1
kind: Secret
metadata: {name: bgp-auth, namespace: kube-system}
stringData: {password: s3cret}
)";

const std::string kPolicy = R"(
---
apiVersion: cilium.io/v2alpha1
kind: CiliumBGPPeeringPolicy
metadata: {name: infra}
spec:
  nodeSelector: {matchLabels: {bgp-policy: infra}}
  virtualRouters:
  - localASN: 64512
    exportPodCIDR: true
    serviceSelector: {}
    neighbors:
    - peerAddress: 10.25.11.1/32
      peerASN: 64501
      authSecretRef: bgp-auth
)";

TEST(Compile, PeeringPolicyWithCiliumDefaults) {
  auto d = compile_for(load(kCluster + kPolicy), "node-1");
  EXPECT_EQ(d.source, "CiliumBGPPeeringPolicy infra");
  EXPECT_TRUE(d.conditions.empty()) << conditions_str(d);
  ASSERT_EQ(d.instances.size(), 1u);
  const auto& inst = d.instances[0];
  EXPECT_EQ(inst.name, "vrouter-64512");
  EXPECT_EQ(inst.local_asn, 64512u);
  EXPECT_EQ(inst.router_id.str(), "10.25.11.11");
  EXPECT_EQ(inst.listen_port, 0) << "connects out only unless told to listen";
  ASSERT_EQ(inst.peers.size(), 1u);
  const auto& p = inst.peers[0];
  EXPECT_EQ(p.address.str(), "10.25.11.1");
  EXPECT_EQ(p.port, 179);
  EXPECT_EQ(p.peer_asn, 64501u);
  EXPECT_FALSE(p.ibgp);
  EXPECT_EQ(p.timers, (Timers{120, 90, 30}));
  EXPECT_EQ(p.ebgp_multihop_ttl, 1);
  EXPECT_EQ(p.graceful_restart, (GracefulRestart{false, 120}));
  EXPECT_EQ(p.families, (std::vector<Family>{{"ipv4", "unicast"}, {"ipv6", "unicast"}}));
  EXPECT_EQ(p.auth_secret, "bgp-auth");
  EXPECT_EQ(p.password, "s3cret");
}

TEST(Compile, RoutesFollowAllocationAndLocalEndpoints) {
  auto snap = load(kCluster + kPolicy);
  auto one = compile_for(snap, "node-1");
  // node-1 has a ready gateway endpoint: the eTP Local gateway address is announced.
  EXPECT_EQ(prefixes(one.instances.at(0).peers.at(0)),
            (Strings{"10.25.11.100/32", "10.25.11.110/32", "10.244.1.0/24"}));
  const auto* mesh = route(one.instances[0].peers[0], "10.25.11.100/32");
  ASSERT_TRUE(mesh);
  EXPECT_EQ(mesh->origin, Origin::Igp);
  EXPECT_FALSE(mesh->local_pref) << "no LOCAL_PREF towards an eBGP peer";
  EXPECT_EQ(mesh->sources, Strings{"Service kube-system/clustermesh-apiserver LoadBalancerIP"});
  // node-2's gateway endpoint is not ready: no announcement from node-2. The other class's
  // service is never announced, and node-2 announces both its pod CIDRs.
  auto two = compile_for(snap, "node-2");
  EXPECT_EQ(prefixes(two.instances.at(0).peers.at(0)),
            (Strings{"10.25.11.100/32", "10.244.2.0/24", "fd00:244:2::/64"}));
  EXPECT_EQ(two.instances[0].router_id.str(), "10.25.11.12");
}

TEST(Compile, WithoutAllocationNothingIsAnnounced) {
  auto snap = load(kCluster + kPolicy);
  ipam::Allocation none;  // LB IPAM has not allocated (or was not run)
  auto d = compile(snap, "node-1", none, ready_local_services(snap, "node-1"));
  EXPECT_EQ(prefixes(d.instances.at(0).peers.at(0)), Strings{"10.244.1.0/24"});
}

TEST(Compile, ServiceSelectorAndAdvertisementKinds) {
  const std::string extra = R"(
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: default, labels: {announce: "yes"}}
spec:
  clusterIP: 10.245.1.1
  externalIPs: [198.51.100.7]
  ports: [{port: 443}]
---
apiVersion: v1
kind: Service
metadata: {name: local-only, namespace: default, labels: {announce: "yes"}}
spec:
  clusterIP: 10.245.1.2
  internalTrafficPolicy: Local
  ports: [{port: 443}]
---
apiVersion: v1
kind: Service
metadata: {name: headless, namespace: default, labels: {announce: "yes"}}
spec:
  clusterIP: None
  ports: [{port: 443}]
---
apiVersion: cilium.io/v2alpha1
kind: CiliumBGPPeeringPolicy
metadata: {name: infra}
spec:
  virtualRouters:
  - localASN: 64512
    serviceSelector: {matchLabels: {announce: "yes"}}
    serviceAdvertisements: [ClusterIP, ExternalIP]
    neighbors: [{peerAddress: 10.25.11.1/32, peerASN: 64501}]
)";
  auto d = compile_for(load(kCluster + extra), "node-1");
  // exportPodCIDR is off; local-only has internalTrafficPolicy Local and no local endpoint.
  EXPECT_EQ(prefixes(d.instances.at(0).peers.at(0)), (Strings{"10.245.1.1/32", "198.51.100.7/32"}));
  // The synthetic service-name label selects too.
  auto by_name = load(kCluster + R"(
---
apiVersion: cilium.io/v2alpha1
kind: CiliumBGPPeeringPolicy
metadata: {name: infra}
spec:
  virtualRouters:
  - localASN: 64512
    serviceSelector: {matchLabels: {io.kubernetes.service.name: clustermesh-apiserver}}
    neighbors: [{peerAddress: 10.25.11.1/32, peerASN: 64501}]
)");
  EXPECT_EQ(prefixes(compile_for(by_name, "node-1").instances.at(0).peers.at(0)),
            Strings{"10.25.11.100/32"});
}

TEST(Compile, AbsentServiceSelectorAnnouncesNoService) {
  auto d = compile_for(load(kCluster + R"(
---
apiVersion: cilium.io/v2alpha1
kind: CiliumBGPPeeringPolicy
metadata: {name: infra}
spec:
  virtualRouters:
  - localASN: 64512
    neighbors: [{peerAddress: 10.25.11.1/32, peerASN: 64501}]
)"),
                       "node-1");
  EXPECT_TRUE(d.instances.at(0).peers.at(0).routes.empty());
}

TEST(Compile, OnlyOnePeeringPolicyMayMatchANode) {
  const std::string second = R"(
---
apiVersion: cilium.io/v2alpha1
kind: CiliumBGPPeeringPolicy
metadata: {name: node-2-only}
spec:
  nodeSelector: {matchLabels: {kubernetes.io/hostname: node-2}}
  virtualRouters:
  - localASN: 64999
    neighbors: [{peerAddress: 10.25.11.2/32, peerASN: 64501}]
)";
  auto snap = load(kCluster + kPolicy + second);
  auto one = compile_for(snap, "node-1");
  ASSERT_EQ(one.instances.size(), 1u) << conditions_str(one);
  EXPECT_EQ(one.instances[0].local_asn, 64512u);
  auto two = compile_for(snap, "node-2");
  EXPECT_TRUE(two.instances.empty()) << "two policies select node-2: none applies";
  EXPECT_TRUE(has_condition(two, "netagent.io/ConflictingPeeringPolicies", "Node node-2"))
      << conditions_str(two);
  EXPECT_NE(two.conditions.at(0).message.find("infra, node-2-only"), std::string::npos);
  EXPECT_EQ(two.source, "");
}

const std::string kNewApi = R"(
---
apiVersion: cilium.io/v2
kind: CiliumBGPClusterConfig
metadata: {name: bgp-cluster-config}
spec:
  nodeSelector: {matchLabels: {}}
  bgpInstances:
  - name: instance-64512
    localASN: 64512
    peers:
    - name: srx
      peerAddress: 10.25.11.1
      peerASN: 64501
      peerConfigRef: {name: bgp-peer-config}
---
apiVersion: cilium.io/v2
kind: CiliumBGPPeerConfig
metadata: {name: bgp-peer-config}
spec:
  timers: {holdTimeSeconds: 9, keepAliveTimeSeconds: 3}
  gracefulRestart: {enabled: true, restartTimeSeconds: 120}
  families:
  - afi: ipv4
    safi: unicast
    advertisements: {matchLabels: {advertise: bgp}}
)";

const std::string kLbAdvert = R"(
---
apiVersion: cilium.io/v2
kind: CiliumBGPAdvertisement
metadata: {name: bgp-loadbalancer-ips, labels: {advertise: bgp}}
spec:
  advertisements:
  - advertisementType: Service
    service: {addresses: [LoadBalancerIP]}
    selector:
      matchExpressions: [{key: somekey, operator: NotIn, values: [never-used-value]}]
)";

TEST(Compile, NewApiAdvertisesOnlyWhatAnAdvertisementSelects) {
  auto bare = compile_for(load(kCluster + kNewApi), "node-1");
  EXPECT_EQ(bare.source, "CiliumBGPClusterConfig bgp-cluster-config");
  ASSERT_EQ(bare.instances.size(), 1u) << conditions_str(bare);
  const auto& inst = bare.instances[0];
  EXPECT_EQ(inst.name, "instance-64512");
  ASSERT_EQ(inst.peers.size(), 1u);
  const auto& p = inst.peers[0];
  EXPECT_EQ(p.name, "srx");
  EXPECT_EQ(p.timers, (Timers{120, 9, 3}));
  EXPECT_TRUE(p.graceful_restart.enabled);
  EXPECT_EQ(p.families, (std::vector<Family>{{"ipv4", "unicast"}}));
  EXPECT_TRUE(p.routes.empty()) << "no CiliumBGPAdvertisement: nothing is advertised";

  auto full = compile_for(load(kCluster + kNewApi + kLbAdvert), "node-1");
  EXPECT_EQ(prefixes(full.instances.at(0).peers.at(0)),
            (Strings{"10.25.11.100/32", "10.25.11.110/32"}));
  // An advertisement whose labels the peer's family does not select contributes nothing, and
  // a Service advertisement without a selector selects no service.
  auto other = compile_for(load(kCluster + kNewApi + R"(
---
apiVersion: cilium.io/v2
kind: CiliumBGPAdvertisement
metadata: {name: unselected, labels: {advertise: elsewhere}}
spec:
  advertisements: [{advertisementType: PodCIDR}]
---
apiVersion: cilium.io/v2
kind: CiliumBGPAdvertisement
metadata: {name: no-selector, labels: {advertise: bgp}}
spec:
  advertisements: [{advertisementType: Service, service: {addresses: [LoadBalancerIP]}}]
)"),
                           "node-1");
  EXPECT_TRUE(other.instances.at(0).peers.at(0).routes.empty());
}

TEST(Compile, NewApiFamiliesFilterPodCidrs) {
  const std::string v6 = R"(
---
apiVersion: cilium.io/v2
kind: CiliumBGPClusterConfig
metadata: {name: dual}
spec:
  bgpInstances:
  - name: main
    localASN: 64512
    peers: [{name: srx, peerAddress: 10.25.11.1, peerASN: 64501, peerConfigRef: {name: dual}}]
---
apiVersion: cilium.io/v2
kind: CiliumBGPPeerConfig
metadata: {name: dual}
spec:
  families:
  - {afi: ipv4, safi: unicast, advertisements: {matchLabels: {advertise: pods}}}
  - {afi: ipv6, safi: unicast, advertisements: {matchLabels: {advertise: pods}}}
---
apiVersion: cilium.io/v2
kind: CiliumBGPAdvertisement
metadata: {name: pods, labels: {advertise: pods}}
spec:
  advertisements: [{advertisementType: PodCIDR}]
)";
  auto d = compile_for(load(kCluster + v6), "node-2");
  const auto& p = d.instances.at(0).peers.at(0);
  EXPECT_EQ(prefixes(p), (Strings{"10.244.2.0/24", "fd00:244:2::/64"}));
  EXPECT_EQ(route(p, "fd00:244:2::/64")->afi, Afi::Ipv6);
}

TEST(Compile, PeeringPolicyWinsOverClusterConfig) {
  auto d = compile_for(load(kCluster + kPolicy + kNewApi + kLbAdvert), "node-1");
  EXPECT_EQ(d.source, "CiliumBGPPeeringPolicy infra");
  ASSERT_EQ(d.instances.size(), 1u);
  EXPECT_EQ(d.instances[0].name, "vrouter-64512");
  EXPECT_TRUE(has_condition(d, "netagent.io/PeeringPolicyPrecedence",
                            "CiliumBGPClusterConfig bgp-cluster-config"))
      << conditions_str(d);
}

TEST(Compile, ConflictingClusterConfigsFirstByNameApplies) {
  auto d = compile_for(load(kCluster + kNewApi + R"(
---
apiVersion: cilium.io/v2
kind: CiliumBGPClusterConfig
metadata: {name: another}
spec:
  bgpInstances:
  - {name: other, localASN: 65001, peers: [{name: p, peerAddress: 10.25.11.9, peerASN: 1}]}
)"),
                       "node-1");
  ASSERT_EQ(d.instances.size(), 1u);
  EXPECT_EQ(d.instances[0].name, "other");  // "another" < "bgp-cluster-config"
  EXPECT_TRUE(has_condition(d, "cilium.io/ConflictingClusterConfig",
                            "CiliumBGPClusterConfig bgp-cluster-config"))
      << conditions_str(d);
}

TEST(Compile, CommunitiesMergeAndLocalPreferenceOnlyForIbgp) {
  // Two advertisements select the gateway: communities are united, the largest local-pref wins
  // (Cilium 1.18). The same peers once as iBGP (peerASN = localASN) and once as eBGP.
  auto make = [&](uint32_t peer_asn) {
    return load(kCluster + R"(
---
apiVersion: cilium.io/v2
kind: CiliumBGPClusterConfig
metadata: {name: cc}
spec:
  bgpInstances:
  - name: main
    localASN: 64512
    peers:
    - {name: p, peerAddress: 10.25.11.1, peerASN: )" +
                std::to_string(peer_asn) +
                R"(, peerConfigRef: {name: pc}}
---
apiVersion: cilium.io/v2
kind: CiliumBGPPeerConfig
metadata: {name: pc}
spec:
  families: [{afi: ipv4, safi: unicast, advertisements: {matchLabels: {advertise: bgp}}}]
---
apiVersion: cilium.io/v2
kind: CiliumBGPAdvertisement
metadata: {name: vpc1, labels: {advertise: bgp}}
spec:
  advertisements:
  - advertisementType: Service
    service: {addresses: [LoadBalancerIP]}
    selector: {matchLabels: {gateway: main}}
    attributes:
      communities: {large: ["1111:1111:1111"], wellKnown: [no-export]}
      localPreference: 150
  - advertisementType: Service
    service: {addresses: [LoadBalancerIP]}
    selector: {matchLabels: {io.kubernetes.service.namespace: kube-system}}
---
apiVersion: cilium.io/v2
kind: CiliumBGPAdvertisement
metadata: {name: vpc2, labels: {advertise: bgp}}
spec:
  advertisements:
  - advertisementType: Service
    service: {addresses: [LoadBalancerIP]}
    selector: {matchLabels: {gateway: main}}
    attributes:
      communities: {large: ["2222:2222:2222"], standard: ["64512:110"], wellKnown: [no-export]}
      localPreference: 120
)");
  };
  auto ibgp = compile_for(make(64512), "node-1");
  const auto& ip = ibgp.instances.at(0).peers.at(0);
  EXPECT_TRUE(ip.ibgp);
  const auto* gw = route(ip, "10.25.11.110/32");
  ASSERT_TRUE(gw) << conditions_str(ibgp);
  EXPECT_EQ(gw->communities, (std::vector<uint32_t>{0xfc00006e, 0xffffff01}));
  ASSERT_EQ(gw->large_communities.size(), 2u);
  EXPECT_EQ(gw->large_communities[0].str(), "1111:1111:1111");
  EXPECT_EQ(gw->large_communities[1].str(), "2222:2222:2222");
  EXPECT_EQ(gw->local_pref, 150u);
  const auto* mesh = route(ip, "10.25.11.100/32");
  ASSERT_TRUE(mesh);
  EXPECT_TRUE(mesh->communities.empty());
  EXPECT_EQ(mesh->local_pref, 100u) << "iBGP without a configured value: the default 100";

  auto ebgp = compile_for(make(64501), "node-1");
  const auto* egw = route(ebgp.instances.at(0).peers.at(0), "10.25.11.110/32");
  ASSERT_TRUE(egw);
  EXPECT_FALSE(egw->local_pref) << "LOCAL_PREF is never sent to an eBGP peer";
  EXPECT_EQ(egw->large_communities.size(), 2u) << "communities go to every peer";
}

TEST(Compile, PeeringPolicyPathAttributesByPoolAndPodCidr) {
  auto d = compile_for(load(kCluster + R"(
---
apiVersion: cilium.io/v2alpha1
kind: CiliumBGPPeeringPolicy
metadata: {name: infra}
spec:
  virtualRouters:
  - localASN: 64512
    exportPodCIDR: true
    serviceSelector: {}
    neighbors:
    - peerAddress: 10.25.11.21/32
      peerASN: 64512
      advertisedPathAttributes:
      - selectorType: CiliumLoadBalancerIPPool
        selector: {matchLabels: {cluster: infra}}
        communities: {standard: ["64512:100"]}
      - selectorType: CiliumLoadBalancerIPPool
        communities: {large: ["64512:0:1"]}
        localPreference: 200
      - selectorType: CiliumLoadBalancerIPPool
        selector: {matchLabels: {cluster: apps}}
        communities: {standard: ["64513:100"]}
      - selectorType: PodCIDR
        selector: {matchLabels: {bgp-policy: infra}}
        localPreference: 150
        communities: {standard: ["64512:150"]}
)"),
                       "node-1");
  const auto& p = d.instances.at(0).peers.at(0);
  EXPECT_TRUE(p.ibgp);
  const auto* lb = route(p, "10.25.11.100/32");
  ASSERT_TRUE(lb);
  EXPECT_EQ(lb->communities, (std::vector<uint32_t>{0xfc000064}));
  EXPECT_EQ(lb->large_communities.size(), 1u);
  EXPECT_EQ(lb->local_pref, 200u);
  const auto* pods = route(p, "10.244.1.0/24");
  ASSERT_TRUE(pods);
  EXPECT_EQ(pods->communities, (std::vector<uint32_t>{0xfc000096}));
  EXPECT_EQ(pods->local_pref, 150u);
}

TEST(Compile, MissingAuthSecretGivesAnEmptyPasswordAndACondition) {
  auto without_secret = kCluster.substr(0, kCluster.find("---\napiVersion: v1\nkind: Secret"));
  auto d = compile_for(load(without_secret + kPolicy), "node-1");
  const auto& p = d.instances.at(0).peers.at(0);
  EXPECT_EQ(p.auth_secret, "bgp-auth");
  EXPECT_EQ(p.password, "");
  EXPECT_TRUE(has_condition(d, "cilium.io/MissingAuthSecret", "CiliumBGPPeeringPolicy infra"))
      << conditions_str(d);
  EXPECT_FALSE(p.routes.empty()) << "the session still comes up and announces";
  // A Secret without a "password" key is reported the same way; another namespace is honoured.
  auto other_ns = load(without_secret + kPolicy + R"(
---
apiVersion: v1
kind: Secret
metadata: {name: bgp-auth, namespace: bgp-secrets}
data: {pass: c2VjcmV0}
)");
  CompileOptions opts;
  opts.secret_namespace = "bgp-secrets";
  auto e = compile_for(other_ns, "node-1", opts);
  EXPECT_TRUE(has_condition(e, "cilium.io/MissingAuthSecret")) << conditions_str(e);
  EXPECT_NE(e.conditions.at(0).message.find("no \"password\" key"), std::string::npos);
}

TEST(Compile, MissingPeerConfigUsesDefaultsAndAdvertisesNothing) {
  auto yaml = kCluster + kNewApi + kLbAdvert;
  yaml.replace(yaml.find("peerConfigRef: {name: bgp-peer-config}"),
               std::string("peerConfigRef: {name: bgp-peer-config}").size(),
               "peerConfigRef: {name: typo-config}");
  auto d = compile_for(load(yaml), "node-1");
  const auto& p = d.instances.at(0).peers.at(0);
  EXPECT_EQ(p.timers, (Timers{120, 90, 30}));
  EXPECT_TRUE(p.routes.empty());
  EXPECT_TRUE(
      has_condition(d, "cilium.io/MissingPeerConfigs", "CiliumBGPClusterConfig bgp-cluster-config"))
      << conditions_str(d);
}

TEST(Compile, RouterIdAndPortOverrides) {
  // v1: the node annotation.
  auto annotated = kCluster;
  annotated.replace(annotated.find("  labels: {bgp-policy: infra}\n"), 30,
                    "  labels: {bgp-policy: infra}\n  annotations: {cilium.io/bgp-virtual-router."
                    "64512: \"router-id=192.0.2.1,local-port=1790\"}\n");
  auto v1 = compile_for(load(annotated + kPolicy), "node-1");
  ASSERT_EQ(v1.instances.size(), 1u) << conditions_str(v1);
  EXPECT_EQ(v1.instances[0].router_id.str(), "192.0.2.1");
  EXPECT_EQ(v1.instances[0].listen_port, 1790);
  // v2: CiliumBGPNodeConfigOverride named after the node.
  auto v2 = compile_for(load(kCluster + kNewApi + R"(
---
apiVersion: cilium.io/v2
kind: CiliumBGPNodeConfigOverride
metadata: {name: node-1}
spec:
  bgpInstances:
  - name: instance-64512
    routerID: 192.0.2.9
    localPort: 179
    localASN: 64600
    peers: [{name: srx, localAddress: 10.25.11.11}]
)"),
                        "node-1");
  ASSERT_EQ(v2.instances.size(), 1u) << conditions_str(v2);
  EXPECT_EQ(v2.instances[0].router_id.str(), "192.0.2.9");
  EXPECT_EQ(v2.instances[0].listen_port, 179);
  EXPECT_EQ(v2.instances[0].local_asn, 64600u);
  EXPECT_EQ(v2.instances[0].peers.at(0).local_address, IpAddress::parse("10.25.11.11"));
}

TEST(Compile, NodeWithoutAddressHasNoRouterId) {
  auto snap = load(R"(
apiVersion: cilium.io/v2alpha1
kind: CiliumBGPPeeringPolicy
metadata: {name: everywhere}
spec:
  virtualRouters:
  - localASN: 64512
    neighbors: [{peerAddress: 10.25.11.1/32, peerASN: 64501}]
)");  // no Node objects at all
  auto d = compile_for(snap, "node-9");
  EXPECT_TRUE(d.instances.empty());
  EXPECT_TRUE(has_condition(d, "netagent.io/NoRouterID", "CiliumBGPPeeringPolicy everywhere"))
      << conditions_str(d);
  // The agent can supply the address itself (from its own configuration).
  auto node = local_node(snap, "node-9");
  node.ipv4 = Ipv4Addr::parse("10.25.11.19");
  auto e = compile(snap, node, ipam::allocate(snap, {}), {});
  ASSERT_EQ(e.instances.size(), 1u) << conditions_str(e);
  EXPECT_EQ(e.instances[0].router_id.str(), "10.25.11.19");
}

TEST(Compile, UnsupportedFeaturesAreReported) {
  auto d = compile_for(load(kCluster + R"(
---
apiVersion: cilium.io/v2
kind: CiliumBGPClusterConfig
metadata: {name: cc}
spec:
  bgpInstances:
  - name: main
    localASN: 64512
    peers:
    - {name: auto, autoDiscovery: {mode: DefaultGateway, defaultGateway: {addressFamily: ipv4}}}
    - {name: srx, peerAddress: 10.25.11.1, peerASN: 64501, peerConfigRef: {name: pc}}
---
apiVersion: cilium.io/v2
kind: CiliumBGPPeerConfig
metadata: {name: pc}
spec:
  families: [{afi: ipv4, safi: unicast, advertisements: {matchLabels: {advertise: bgp}}}]
---
apiVersion: cilium.io/v2
kind: CiliumBGPAdvertisement
metadata: {name: adv, labels: {advertise: bgp}}
spec:
  advertisements:
  - advertisementType: CiliumPodIPPool
    selector: {matchLabels: {pool: blue}}
  - advertisementType: Service
    service: {addresses: [LoadBalancerIP], aggregationLengthIPv4: 24}
    selector: {matchLabels: {io.kubernetes.service.namespace: kube-system}}
)"),
                       "node-1");
  ASSERT_EQ(d.instances.at(0).peers.size(), 1u);
  EXPECT_EQ(d.instances[0].peers[0].name, "srx");
  EXPECT_EQ(prefixes(d.instances[0].peers[0]), Strings{"10.25.11.100/32"})
      << "aggregation is not applied: exact /32s";
  int unsupported = 0;
  for (const auto& c : d.conditions)
    unsupported += c.type == "netagent.io/Unsupported";
  EXPECT_EQ(unsupported, 3) << conditions_str(d);
}

TEST(Compile, ReadyLocalServicesFromEndpointSlices) {
  auto snap = load(kCluster + R"(
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: apps, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints:
- {addresses: [10.244.1.9], nodeName: node-1, conditions: {ready: false, serving: true}}
- {addresses: [10.244.2.9], nodeName: node-2, conditions: {ready: true}}
)");
  EXPECT_EQ(ready_local_services(snap, "node-1"),
            (std::set<std::string>{"networking/cilium-gateway-main"}));
  EXPECT_EQ(ready_local_services(snap, "node-2"), (std::set<std::string>{"apps/web"}));
  EXPECT_TRUE(ready_local_services(snap, "node-3").empty());
}

TEST(Compile, LocalNodeFromTheSnapshot) {
  auto snap = load(kCluster);
  auto n = local_node(snap, "node-2");
  EXPECT_EQ(n.ipv4->str(), "10.25.11.12");
  EXPECT_EQ(testing::texts(n.pod_cidrs), (Strings{"10.244.2.0/24", "fd00:244:2::/64"}));
  EXPECT_EQ(n.labels.at("bgp-policy"), "infra");
  EXPECT_EQ(n.labels.at("kubernetes.io/hostname"), "node-2");
  auto missing = local_node(snap, "ghost");
  EXPECT_FALSE(missing.ipv4);
  EXPECT_EQ(missing.labels.at("kubernetes.io/hostname"), "ghost");
}

TEST(Compile, JsonNeverContainsThePassword) {
  auto d = compile_for(load(kCluster + kPolicy), "node-1");
  auto j = to_json(d);
  EXPECT_EQ(j.dump().find("s3cret"), std::string::npos);
  const auto& peer = j["instances"][0]["peers"][0];
  EXPECT_EQ(peer["auth"]["secret"], "bgp-auth");
  EXPECT_EQ(peer["auth"]["password_set"], true);
  EXPECT_EQ(peer["timers"]["hold_seconds"], 90);
  EXPECT_EQ(peer["routes"][0]["prefix"], "10.25.11.100/32");
  EXPECT_EQ(peer["routes"][0]["origin"], "igp");
  EXPECT_EQ(j["instances"][0]["router_id"], "10.25.11.11");
  EXPECT_EQ(j["source"], "CiliumBGPPeeringPolicy infra");
}

TEST(Compile, OutputDoesNotDependOnObjectOrder) {
  // The same manifests in other document orders. (Documents are shuffled as text: k8s::Object
  // holds a YAML::Node, whose assignment rebinds shared nodes, so objects are never reordered in
  // place.)
  auto yaml = kCluster + kPolicy + kNewApi + kLbAdvert;
  std::vector<std::string> docs;
  for (size_t start = 0;;) {
    auto next = yaml.find("\n---\n", start);
    docs.push_back(
        yaml.substr(start, next == std::string::npos ? std::string::npos : next - start));
    if (next == std::string::npos) break;
    start = next + 5;
  }
  auto reference = to_json(compile_for(load(yaml), "node-1"));
  EXPECT_EQ(reference["instances"].size(), 1u);
  std::mt19937 rng(3);
  for (int i = 0; i < 4; ++i) {
    std::shuffle(docs.begin(), docs.end(), rng);
    std::string shuffled;
    for (const auto& d : docs)
      shuffled += d + "\n---\n";
    EXPECT_EQ(to_json(compile_for(load(shuffled), "node-1")), reference) << "round " << i;
  }
}

}  // namespace
}  // namespace netagent::bgp::control
