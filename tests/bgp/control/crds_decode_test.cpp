// Decoding the BGP CRDs: the examples of Cilium's documentation load with Cilium's defaults, and
// bad objects are rejected at load with the exact field path.
#include <gtest/gtest.h>

#include "bgpcp_fixtures.hpp"
#include "netagent/bgp/control/crds.hpp"
#include "netagent/k8s/decode.hpp"

namespace netagent::bgp::control {
namespace {

using testing::load;
using testing::load_error;

TEST(BgpDecode, PeeringPolicyDefaults) {
  auto snap = load(R"(
apiVersion: "cilium.io/v2alpha1"
kind: CiliumBGPPeeringPolicy
metadata:
  name: rack0
spec:
  nodeSelector:
    matchLabels:
      rack: rack0
  virtualRouters:
  - localASN: 64512
    neighbors:
    - peerAddress: '10.0.0.1/32'
      peerASN: 64512
)");
  auto objs = decode_bgp_objects(snap);
  ASSERT_EQ(objs.peering_policies.size(), 1u);
  const auto& p = objs.peering_policies[0];
  EXPECT_EQ(p.name, "rack0");
  EXPECT_TRUE(p.node_selector.matches({{"rack", "rack0"}}));
  ASSERT_EQ(p.virtual_routers.size(), 1u);
  const auto& vr = p.virtual_routers[0];
  EXPECT_EQ(vr.local_asn, 64512u);
  EXPECT_FALSE(vr.export_pod_cidr);
  EXPECT_FALSE(vr.service_selector) << "absent serviceSelector announces no service";
  ASSERT_EQ(vr.service_advertisements.size(), 1u);
  EXPECT_EQ(vr.service_advertisements[0], ServiceAddress::LoadBalancerIP);
  const auto& n = vr.neighbors.at(0);
  EXPECT_EQ(n.address.str(), "10.0.0.1");
  EXPECT_EQ(n.port, 179);
  EXPECT_EQ(n.timers, (Timers{120, 90, 30}));
  EXPECT_EQ(n.ebgp_multihop_ttl, 1);
  EXPECT_FALSE(n.graceful_restart.enabled);
  EXPECT_EQ(n.graceful_restart.restart_time, 120u);
  EXPECT_EQ(n.families, (std::vector<Family>{{"ipv4", "unicast"}, {"ipv6", "unicast"}}));
  EXPECT_FALSE(n.auth_secret);
}

TEST(BgpDecode, PeeringPolicyEveryField) {
  auto snap = load(R"(
apiVersion: cilium.io/v2alpha1
kind: CiliumBGPPeeringPolicy
metadata: {name: infra}
spec:
  virtualRouters:
  - localASN: "64512"
    exportPodCIDR: "true"
    serviceSelector: {}
    serviceAdvertisements: [LoadBalancerIP, ClusterIP, ExternalIP]
    podIPPoolSelector: {matchLabels: {pool: blue}}
    neighbors:
    - peerAddress: 10.25.11.1/32
      peerASN: 64501
      peerPort: 1179
      authSecretRef: bgp-password
      eBGPMultihopTTL: 4
      connectRetryTimeSeconds: 5
      holdTimeSeconds: 9
      keepAliveTimeSeconds: 3
      gracefulRestart: {enabled: true}
      families: [{afi: ipv4, safi: unicast}]
      advertisedPathAttributes:
      - selectorType: CiliumLoadBalancerIPPool
        selector: {matchLabels: {environment: production}}
        communities:
          standard: ["64512:100"]
          wellKnown: [no-export]
          large: ["64512:1:2"]
      - selectorType: PodCIDR
        localPreference: 150
)");
  auto objs = decode_bgp_objects(snap);
  ASSERT_EQ(objs.peering_policies.size(), 1u);
  const auto& vr = objs.peering_policies[0].virtual_routers[0];
  EXPECT_TRUE(vr.export_pod_cidr);
  ASSERT_TRUE(vr.service_selector);
  EXPECT_TRUE(vr.service_selector->empty());
  EXPECT_EQ(vr.service_advertisements.size(), 3u);
  const auto& n = vr.neighbors[0];
  EXPECT_EQ(n.port, 1179);
  EXPECT_EQ(n.auth_secret, "bgp-password");
  EXPECT_EQ(n.ebgp_multihop_ttl, 4);
  EXPECT_EQ(n.timers, (Timers{5, 9, 3}));
  EXPECT_TRUE(n.graceful_restart.enabled);
  EXPECT_EQ(n.graceful_restart.restart_time, 120u) << "default restart time";
  EXPECT_EQ(n.families.size(), 1u);
  ASSERT_EQ(n.path_attributes.size(), 2u);
  EXPECT_EQ(n.path_attributes[0].type, PathSelectorType::LoadBalancerIPPool);
  EXPECT_EQ(n.path_attributes[0].attributes.communities,
            (std::vector<uint32_t>{0xfc000064, 0xffffff01}));
  EXPECT_EQ(n.path_attributes[0].attributes.large_communities.size(), 1u);
  EXPECT_FALSE(n.path_attributes[1].selector);
  EXPECT_EQ(n.path_attributes[1].attributes.local_preference, 150u);
}

TEST(BgpDecode, NewApiAsDocumented) {
  // The examples of bgp-control-plane-v2.rst.
  auto snap = load(R"(
apiVersion: cilium.io/v2
kind: CiliumBGPClusterConfig
metadata:
  name: cilium-bgp
spec:
  nodeSelector:
    matchLabels:
      rack: rack0
  bgpInstances:
  - name: "instance-65000"
    localASN: 65000
    peers:
    - name: "peer-65000-tor1"
      peerASN: 65000
      peerAddress: fd00:10:0:0::1
      peerConfigRef:
        name: "cilium-peer"
    - name: "peer-65000-tor2"
      peerASN: 65000
      peerAddress: fd00:11:0:0::1
      peerConfigRef:
        name: "cilium-peer"
---
apiVersion: cilium.io/v2
kind: CiliumBGPPeerConfig
metadata:
  name: cilium-peer
spec:
  timers:
    holdTimeSeconds: 9
    keepAliveTimeSeconds: 3
  authSecretRef: bgp-auth-secret
  ebgpMultihop: 4
  gracefulRestart:
    enabled: true
    restartTimeSeconds: 15
  families:
    - afi: ipv4
      safi: unicast
      advertisements:
        matchLabels:
          advertise: "bgp"
---
apiVersion: cilium.io/v2
kind: CiliumBGPAdvertisement
metadata:
  name: bgp-advertisements
  labels:
    advertise: bgp
spec:
  advertisements:
    - advertisementType: "PodCIDR"
      attributes:
        communities:
          standard: [ "65000:99" ]
        localPreference: 99
    - advertisementType: "Service"
      service:
        addresses:
          - ClusterIP
          - ExternalIP
          - LoadBalancerIP
      selector:
        matchExpressions:
          - { key: bgp, operator: In, values: [ blue ] }
---
apiVersion: cilium.io/v2
kind: CiliumBGPNodeConfigOverride
metadata:
  name: bgpv2-cplane-dev-multi-homing-worker
spec:
  bgpInstances:
    - name: "instance-65000"
      routerID: "192.168.10.1"
      localPort: 1790
      localASN: 65010
      peers:
        - name: "peer-65000-tor1"
          localAddress: fd00:10:0:2::2
)");
  auto o = decode_bgp_objects(snap);
  EXPECT_TRUE(o.errors.empty());
  ASSERT_EQ(o.cluster_configs.size(), 1u);
  const auto& in = o.cluster_configs[0].instances.at(0);
  EXPECT_EQ(in.local_asn, 65000u);
  ASSERT_EQ(in.peers.size(), 2u);
  EXPECT_EQ(in.peers[0].address, IpAddress::parse("fd00:10:0:0::1"));
  EXPECT_EQ(in.peers[0].peer_config, "cilium-peer");
  ASSERT_EQ(o.peer_configs.size(), 1u);
  const auto& pc = o.peer_configs[0];
  EXPECT_EQ(pc.timers, (Timers{120, 9, 3}));
  EXPECT_EQ(pc.ebgp_multihop_ttl, 4);
  EXPECT_EQ(pc.graceful_restart, (GracefulRestart{true, 15}));
  EXPECT_EQ(pc.peer_port, 179);
  ASSERT_EQ(pc.families.size(), 1u);
  EXPECT_TRUE(pc.families[0].advertisements->matches({{"advertise", "bgp"}}));
  ASSERT_EQ(o.advertisements.size(), 1u);
  EXPECT_EQ(o.advertisements[0].advertisements.size(), 2u);
  EXPECT_EQ(o.advertisements[0].advertisements[1].addresses.size(), 3u);
  ASSERT_EQ(o.node_overrides.size(), 1u);
  EXPECT_EQ(o.node_overrides[0].instances[0].router_id->str(), "192.168.10.1");
  EXPECT_EQ(o.node_overrides[0].instances[0].local_asn, 65010u);
  EXPECT_EQ(o.node_overrides[0].instances[0].peers[0].local_address,
            IpAddress::parse("fd00:10:0:2::2"));
}

TEST(BgpDecode, PeerConfigDefaults) {
  auto o = decode_bgp_objects(load(R"(
apiVersion: cilium.io/v2alpha1
kind: CiliumBGPPeerConfig
metadata: {name: plain}
spec: {}
)"));
  ASSERT_EQ(o.peer_configs.size(), 1u);
  const auto& pc = o.peer_configs[0];
  EXPECT_EQ(pc.timers, (Timers{120, 90, 30}));
  EXPECT_EQ(pc.ebgp_multihop_ttl, 1);
  EXPECT_EQ(pc.graceful_restart, (GracefulRestart{false, 120}));
  ASSERT_EQ(pc.families.size(), 2u);
  EXPECT_FALSE(pc.families[0].advertisements) << "no advertisements by default";
}

TEST(BgpDecode, BadObjectsAreRejectedWithTheFieldPath) {
  const std::string policy =
      "apiVersion: cilium.io/v2alpha1\nkind: CiliumBGPPeeringPolicy\n"
      "metadata: {name: bad}\nspec:\n";
  const std::string router = policy + "  virtualRouters:\n  - localASN: 64512\n    neighbors:\n";
  const std::string cluster =
      "apiVersion: cilium.io/v2\nkind: CiliumBGPClusterConfig\n"
      "metadata: {name: bad}\nspec:\n";
  const std::string peer =
      "apiVersion: cilium.io/v2\nkind: CiliumBGPPeerConfig\n"
      "metadata: {name: bad}\nspec:\n";
  const std::string advert =
      "apiVersion: cilium.io/v2\nkind: CiliumBGPAdvertisement\n"
      "metadata: {name: bad}\nspec:\n";
  struct Case {
    std::string yaml, field, what;
  } cases[] = {
      {policy + "  virtualRouters: []\n", "spec.virtualRouters", "at least one"},
      {policy + "  virtualRouters: [{localASN: 0, neighbors: [{peerAddress: 10.0.0.1/32, "
                "peerASN: 1}]}]\n",
       "spec.virtualRouters[0].localASN", "RFC 7607"},
      {policy + "  virtualRouters: [{localASN: 4294967296, neighbors: [{peerAddress: "
                "10.0.0.1/32, peerASN: 1}]}]\n",
       "spec.virtualRouters[0].localASN", "out of range"},
      {policy + "  virtualRouters: [{localASN: 64512, neighbors: []}]\n",
       "spec.virtualRouters[0].neighbors", "at least one"},
      {router + "    - {peerAddress: 10.0.0.1, peerASN: 64501}\n",
       "spec.virtualRouters[0].neighbors[0].peerAddress", "CIDR notation with /32"},
      {router + "    - {peerAddress: 10.0.0.0/24, peerASN: 64501}\n",
       "spec.virtualRouters[0].neighbors[0].peerAddress", "/32"},
      {router + "    - {peerAddress: 10.0.0.1/32}\n", "spec.virtualRouters[0].neighbors[0].peerASN",
       "required"},
      {router + "    - {peerAddress: 10.0.0.1/32, peerASN: 1, peerPort: 70000}\n",
       "spec.virtualRouters[0].neighbors[0].peerPort", "out of range"},
      {router + "    - {peerAddress: 10.0.0.1/32, peerASN: 1, holdTimeSeconds: 9, "
                "keepAliveTimeSeconds: 10}\n",
       "spec.virtualRouters[0].neighbors[0].keepAliveTimeSeconds", "must not be larger"},
      {router + "    - {peerAddress: 10.0.0.1/32, peerASN: 1, holdTimeSeconds: 2}\n",
       "spec.virtualRouters[0].neighbors[0].holdTimeSeconds", "out of range"},
      {router + "    - {peerAddress: 10.0.0.1/32, peerASN: 1, eBGPMultihopTTL: 0}\n",
       "spec.virtualRouters[0].neighbors[0].eBGPMultihopTTL", "out of range"},
      {router + "    - {peerAddress: 10.0.0.1/32, peerASN: 1, gracefulRestart: "
                "{restartTimeSeconds: 5000, enabled: true}}\n",
       "spec.virtualRouters[0].neighbors[0].gracefulRestart.restartTimeSeconds", "out of range"},
      {router + "    - {peerAddress: 10.0.0.1/32, peerASN: 1, gracefulRestart: {}}\n",
       "spec.virtualRouters[0].neighbors[0].gracefulRestart.enabled", "required"},
      {router + "    - {peerAddress: 10.0.0.1/32, peerASN: 1, families: [{afi: l2vpn, safi: "
                "evpn}]}\n",
       "spec.virtualRouters[0].neighbors[0].families[0].afi", "only ipv4 and ipv6"},
      {router + "    - {peerAddress: 10.0.0.1/32, peerASN: 1, advertisedPathAttributes: "
                "[{selectorType: Nodes}]}\n",
       "spec.virtualRouters[0].neighbors[0].advertisedPathAttributes[0].selectorType",
       "unsupported value"},
      {router + "    - {peerAddress: 10.0.0.1/32, peerASN: 1, advertisedPathAttributes: "
                "[{selectorType: PodCIDR, communities: {standard: ['65536:1']}}]}\n",
       "spec.virtualRouters[0].neighbors[0].advertisedPathAttributes[0].communities.standard[0]",
       "not a standard community"},
      {router + "    - {peerAddress: 10.0.0.1/32, peerASN: 1, advertisedPathAttributes: "
                "[{selectorType: PodCIDR, communities: {wellKnown: [no-exports]}}]}\n",
       "spec.virtualRouters[0].neighbors[0].advertisedPathAttributes[0].communities.wellKnown[0]",
       "unknown well-known community"},
      {router + "    - {peerAddress: 10.0.0.1/32, peerASN: 1, advertisedPathAttributes: "
                "[{selectorType: PodCIDR, communities: {large: ['1:2']}}]}\n",
       "spec.virtualRouters[0].neighbors[0].advertisedPathAttributes[0].communities.large[0]",
       "not a large community"},
      {router + "    - {peerAddress: 10.0.0.1/32, peerASN: 1}\n    - {peerAddress: 10.0.0.1/32, "
                "peerASN: 2}\n",
       "spec.virtualRouters[0].neighbors[1].peerAddress", "duplicate"},
      {policy + "  virtualRouters:\n  - {localASN: 1, neighbors: [{peerAddress: 10.0.0.1/32, "
                "peerASN: 2}]}\n  - {localASN: 1, neighbors: [{peerAddress: 10.0.0.2/32, "
                "peerASN: 2}]}\n",
       "spec.virtualRouters[1].localASN", "duplicate"},
      {policy + "  virtualRouters: [{localASN: 1, serviceAdvertisements: [NodePort], neighbors: "
                "[{peerAddress: 10.0.0.1/32, peerASN: 2}]}]\n",
       "spec.virtualRouters[0].serviceAdvertisements[0]", "unsupported value"},
      {cluster + "  bgpInstances: []\n", "spec.bgpInstances", "at least one"},
      {cluster + "  bgpInstances: [{localASN: 65000}]\n", "spec.bgpInstances[0].name", "required"},
      {cluster + "  bgpInstances: [{name: a, peers: [{name: p, peerAddress: 10.0.0.1/32}]}]\n",
       "spec.bgpInstances[0].peers[0].peerAddress", "not an IP address"},
      {cluster + "  bgpInstances: [{name: a, peers: [{name: p}]}]\n",
       "spec.bgpInstances[0].peers[0].peerAddress", "required"},
      {cluster + "  bgpInstances: [{name: a, peers: [{name: p, peerAddress: 10.0.0.1}, {name: p, "
                 "peerAddress: 10.0.0.2}]}]\n",
       "spec.bgpInstances[0].peers[1].name", "duplicate"},
      {cluster + "  bgpInstances: [{name: a, peers: [{name: p, peerAddress: 10.0.0.1, "
                 "peerConfigRef: {name: x, kind: Secret}}]}]\n",
       "spec.bgpInstances[0].peers[0].peerConfigRef.kind", "CiliumBGPPeerConfig"},
      {peer + "  timers: {keepAliveTimeSeconds: 100}\n", "spec.timers.keepAliveTimeSeconds",
       "must not be larger"},
      {peer + "  families: [{afi: ipv4, safi: multicast}]\n", "spec.families[0].safi",
       "only unicast"},
      {peer + "  families: [{afi: ipv4, safi: unicast, advertisements: {matchLabels: a}}]\n",
       "spec.families[0].advertisements.matchLabels", "expected a map"},
      {peer + "  ebgpMultihop: 256\n", "spec.ebgpMultihop", "out of range"},
      {advert + "  advertisements: [{advertisementType: Service}]\n",
       "spec.advertisements[0].service", "required for the 'Service'"},
      {advert + "  advertisements: [{advertisementType: Service, service: {addresses: []}}]\n",
       "spec.advertisements[0].service.addresses", "at least one"},
      {advert + "  advertisements: [{advertisementType: Routes}]\n",
       "spec.advertisements[0].advertisementType", "unsupported value"},
      {advert + "  advertisements: [{advertisementType: PodCIDR, attributes: {localPreference: "
                "-1}}]\n",
       "spec.advertisements[0].attributes.localPreference", "out of range"},
      {advert + "  {}\n", "spec.advertisements", "required"},
      {"apiVersion: cilium.io/v2\nkind: CiliumBGPNodeConfigOverride\nmetadata: {name: n1}\nspec:\n"
       "  bgpInstances: [{name: a, routerID: fd00::1}]\n",
       "spec.bgpInstances[0].routerID", "not an IPv4 address"},
      {"apiVersion: cilium.io/v2\nkind: CiliumBGPPeeringPolicy\nmetadata: {name: x}\nspec: {}\n",
       "apiVersion", "unsupported apiVersion"},
  };
  for (const auto& c : cases) {
    auto err = load_error(c.yaml);
    ASSERT_TRUE(err) << c.yaml;
    EXPECT_EQ(err->field, c.field) << c.yaml << "-> " << err->str();
    EXPECT_NE(err->message.find(c.what), std::string::npos) << c.yaml << "-> " << err->str();
    EXPECT_NE(err->str().find("bgp/bad.yaml (document 1)"), std::string::npos) << err->str();
  }
}

// Every bad field of a BGP object is reported at load, not only the first.
std::vector<std::string> error_fields(const std::string& yaml) {
  k8s::KindRegistry reg;
  register_kinds(reg);
  k8s::SnapshotBuilder b(&reg);
  std::vector<std::string> fields;
  for (const auto& e : b.add_all(k8s::read_object(YAML::Load(yaml), {"bgp/bad.yaml", 0})))
    fields.push_back(e.field);
  return fields;
}

TEST(BgpDecode, EveryBadFieldOfAnObjectIsReported) {
  EXPECT_EQ(error_fields(R"(apiVersion: cilium.io/v2alpha1
kind: CiliumBGPPeeringPolicy
metadata: {name: bad}
spec:
  virtualRouters:
  - localASN: 0
    neighbors:
    - {peerAddress: 10.0.0.1, peerASN: 1}
    - {peerAddress: 10.0.0.2/32, peerASN: 1, holdTimeSeconds: 1}
  - localASN: 64512
    neighbors: []
)"),
            (std::vector<std::string>{"spec.virtualRouters[0].localASN",
                                      "spec.virtualRouters[0].neighbors[0].peerAddress",
                                      "spec.virtualRouters[0].neighbors[1].holdTimeSeconds",
                                      "spec.virtualRouters[1].neighbors"}));
  EXPECT_EQ(error_fields(R"(apiVersion: cilium.io/v2
kind: CiliumBGPClusterConfig
metadata: {name: bad}
spec:
  bgpInstances:
  - name: a
    localASN: 0
    peers:
    - {name: p, peerConfigRef: {name: c, kind: Other}}
    - {name: p, peerAddress: 10.0.0.1}
  - name: a
)"),
            (std::vector<std::string>{
                "spec.bgpInstances[0].localASN", "spec.bgpInstances[0].peers[0].peerAddress",
                "spec.bgpInstances[0].peers[0].peerConfigRef.kind",
                "spec.bgpInstances[0].peers[1].name", "spec.bgpInstances[1].name"}));
  EXPECT_EQ(error_fields(R"(apiVersion: cilium.io/v2
kind: CiliumBGPAdvertisement
metadata: {name: bad}
spec:
  advertisements:
  - advertisementType: Routes
  - advertisementType: Service
    service: {addresses: [Nowhere], aggregationLengthIPv4: 40}
    attributes: {localPreference: -1}
)"),
            (std::vector<std::string>{"spec.advertisements[0].advertisementType",
                                      "spec.advertisements[1].service.addresses[0]",
                                      "spec.advertisements[1].service.aggregationLengthIPv4",
                                      "spec.advertisements[1].attributes.localPreference"}));
}

}  // namespace
}  // namespace netagent::bgp::control
