// The bundled example clusters (deploy/examples/{infra,apps}) load cleanly and say what the design
// says: cluster ids, pools, BGP, ClusterMesh, and services whose slices point at real pods.
#include <gtest/gtest.h>

#include <set>

#include "netagent/common/ip.hpp"
#include "netagent/source/manifest_loader.hpp"

namespace netagent::source {
namespace {

std::string tree(const std::string& cluster) {
  return std::string(NETAGENT_SOURCE_DIR) + "/deploy/examples/" + cluster;
}

std::string all_errors(const TreeLoad& r) {
  std::string s;
  for (auto& e : r.errors)
    s += e.str() + "\n";
  return s;
}

// Stand-in validators for the CRD kinds other parts own (the agent registers the real ones):
// enough to see that substitution produced the types those parts will read.
k8s::KindRegistry crd_registry() {
  k8s::KindRegistry reg;
  reg.add("CiliumLoadBalancerIPPool", {"cilium.io/v2alpha1", "cilium.io/v2"},
          [](const k8s::Object& o) {
            k8s::Field spec(o.raw.node()["spec"], "spec");
            spec["disabled"].boolean();
            for (auto& b : spec["blocks"].items()) {
              k8s::decode_ipv4(b["start"]);
              k8s::decode_ipv4(b["stop"]);
            }
          });
  reg.add("CiliumBGPPeeringPolicy", {"cilium.io/v2alpha1"}, [](const k8s::Object& o) {
    k8s::Field spec(o.raw.node()["spec"], "spec");
    for (auto& vr : spec["virtualRouters"].items()) {
      vr["localASN"].integer(1, 4294967295);
      for (auto& n : vr["neighbors"].items()) {
        k8s::decode_cidr(n["peerAddress"]);
        n["peerASN"].integer(1, 4294967295);
      }
    }
  });
  reg.add("CiliumNetworkPolicy", {"cilium.io/v2"}, nullptr);
  reg.add("NetworkPolicy", {"networking.k8s.io/v1"}, nullptr);
  return reg;
}

struct Expect {
  std::string cluster, cluster_id, remote, pool_start, pool_end, mesh_ip, gateway_ip, asn;
  std::string pod_cidr, remote_mesh_ip;
};

class ExampleTree : public ::testing::TestWithParam<Expect> {};

TEST_P(ExampleTree, LoadsWithAnEmptyRegistry) {
  const auto& x = GetParam();
  auto r = load_manifest_tree(tree(x.cluster));
  ASSERT_TRUE(r.ok()) << all_errors(r);
  const auto& s = *r.snapshot;
  // CRDs count as ignored until their owners register them.
  for (const char* k : {"CiliumLoadBalancerIPPool", "CiliumBGPPeeringPolicy", "CiliumNetworkPolicy",
                        "NetworkPolicy", "Kustomization"}) {
    EXPECT_TRUE(s.ignored_kinds.count(k)) << k;
  }
  EXPECT_EQ(s.nodes.size(), 2u);
  EXPECT_GE(s.services.size(), 6u);
  EXPECT_TRUE(s.secret("kube-system", "cilium-clustermesh"));
}

TEST_P(ExampleTree, SaysWhatTheDesignSays) {
  const auto& x = GetParam();
  ManifestOptions opts;
  opts.registry = crd_registry();
  auto r = load_manifest_tree(tree(x.cluster), opts);
  ASSERT_TRUE(r.ok()) << all_errors(r);
  const auto& s = *r.snapshot;
  EXPECT_TRUE(s.ignored_kinds.count("Kustomization"));

  // cluster-settings
  EXPECT_EQ(s.settings.at("CLUSTER"), x.cluster);
  EXPECT_EQ(s.settings.at("CLUSTER_ID"), x.cluster_id);
  EXPECT_EQ(s.settings.at("CILIUM_LB_POOL_START"), x.pool_start);
  EXPECT_EQ(s.settings.at("CILIUM_LB_POOL_END"), x.pool_end);
  EXPECT_EQ(s.settings.at("POD_CIDR"), x.pod_cidr);

  // The pool, typed by substitution.
  auto pools = s.of_kind("CiliumLoadBalancerIPPool");
  ASSERT_EQ(pools.size(), 1u);
  EXPECT_EQ(pools[0]->meta.name, x.cluster + "-pool");
  EXPECT_EQ(pools[0]->raw.node()["spec"]["disabled"].as<bool>(), false);
  EXPECT_EQ(pools[0]->raw.node()["spec"]["blocks"][0]["start"].Scalar(), x.pool_start);
  EXPECT_EQ(pools[0]->raw.node()["spec"]["blocks"][0]["stop"].Scalar(), x.pool_end);

  // BGP towards the SRX.
  auto bgp = s.of_kind("CiliumBGPPeeringPolicy");
  ASSERT_EQ(bgp.size(), 1u);
  auto vr = bgp[0]->raw.node()["spec"]["virtualRouters"][0];
  EXPECT_EQ(vr["localASN"].as<int64_t>(), std::stoll(x.asn));
  EXPECT_EQ(vr["neighbors"][0]["peerAddress"].Scalar(), "10.25.11.1/32");
  EXPECT_EQ(vr["neighbors"][0]["peerASN"].as<int64_t>(), 64501);

  // Fixed LoadBalancer IPs: ClusterMesh API and Gateway.
  auto* mesh = s.service("kube-system", "clustermesh-apiserver");
  ASSERT_TRUE(mesh);
  EXPECT_EQ(mesh->type, "LoadBalancer");
  EXPECT_EQ(*mesh->meta.annotation("lbipam.cilium.io/ips"), x.mesh_ip);
  auto* gw = s.service("gateway", "gateway");
  ASSERT_TRUE(gw);
  EXPECT_EQ(*gw->meta.annotation("lbipam.cilium.io/ips"), x.gateway_ip);

  // Service types, protocols and the global service.
  std::set<std::string> types;
  bool udp = false;
  for (auto& svc : s.services) {
    types.insert(svc.type);
    for (auto& p : svc.ports)
      udp |= p.protocol == k8s::Protocol::UDP;
  }
  EXPECT_EQ(types, (std::set<std::string>{"ClusterIP", "NodePort", "LoadBalancer"}));
  EXPECT_TRUE(udp);
  auto* web = s.service("demo", "web");
  ASSERT_TRUE(web);
  EXPECT_EQ(*web->meta.annotation("service.cilium.io/global"), "true");

  // ClusterMesh: the Secret names the other cluster, laid out as Cilium's.
  auto* cm = s.secret("kube-system", "cilium-clustermesh");
  ASSERT_TRUE(cm);
  const auto& cfg = cm->data.at(x.remote);
  EXPECT_NE(cfg.find("https://" + x.remote_mesh_ip + ":2379"), std::string::npos) << cfg;
  for (const char* suffix : {".etcd-client-ca.crt", ".etcd-client.crt", ".etcd-client.key"}) {
    EXPECT_TRUE(cm->data.count(x.remote + suffix)) << suffix;
    EXPECT_NE(cfg.find("/var/lib/cilium/clustermesh/" + x.remote + suffix), std::string::npos);
  }

  // Nodes: an InternalIP in 10.25.11.0/24, a pod CIDR inside the cluster's, labels substituted.
  auto node_net = *Ipv4Prefix::parse("10.25.11.0/24");
  auto cluster_pods = *Ipv4Prefix::parse(x.pod_cidr);
  std::map<std::string, Ipv4Prefix> node_cidr;
  for (auto& n : s.nodes) {
    auto primary = n.primary_ip();
    auto ip = primary && primary->is_v4() ? std::optional(primary->as_v4()) : std::nullopt;
    ASSERT_TRUE(ip) << n.meta.name;
    EXPECT_TRUE(node_net.contains(*ip)) << n.meta.name;
    ASSERT_EQ(n.pod_cidrs.size(), 1u);
    auto cidr = n.pod_cidrs[0].as_v4();
    EXPECT_TRUE(cluster_pods.contains(cidr)) << n.meta.name;
    node_cidr.emplace(n.meta.name, cidr);
    EXPECT_EQ(n.meta.labels.at("topology.kubernetes.io/region"), x.cluster);
  }

  // Pods: on a known node, in its pod CIDR (host-network pods on the node's address), unique IPs.
  std::set<std::string> ips;
  for (auto& p : s.pods) {
    ASSERT_TRUE(node_cidr.count(p.node_name)) << p.meta.key();
    ASSERT_EQ(p.pod_ips.size(), 1u) << p.meta.key();
    auto ip = p.pod_ips[0].as_v4();
    if (p.host_network) {
      EXPECT_EQ(p.pod_ips[0], s.node(p.node_name)->primary_ip());
    } else {
      EXPECT_TRUE(node_cidr.at(p.node_name).contains(ip)) << p.meta.key();
      EXPECT_TRUE(ips.insert(p.pod_ips[0].str()).second)
          << "duplicate pod IP " << p.pod_ips[0].str();
    }
  }

  // Every service that selects pods has slices whose endpoints are those pods, with its ports.
  for (auto& svc : s.services) {
    auto slices = s.slices_for(svc.meta.ns, svc.meta.name);
    ASSERT_FALSE(slices.empty()) << svc.meta.key();
    std::set<std::string> svc_ports, slice_ports;
    for (auto& p : svc.ports)
      svc_ports.insert(p.name);
    for (auto* es : slices) {
      for (auto& p : es->ports)
        slice_ports.insert(p.name);
      for (auto& e : es->endpoints) {
        if (!svc.selector) continue;  // default/kubernetes points at the API server's address
        const auto* pod = s.pod(svc.meta.ns, e.target_pod);
        ASSERT_TRUE(pod) << svc.meta.key() << " -> " << e.target_pod;
        EXPECT_EQ(pod->pod_ips[0], e.addresses[0]);
        EXPECT_EQ(pod->node_name, e.node_name);
        for (auto& [k, v] : *svc.selector)
          EXPECT_EQ(pod->meta.labels.at(k), v);
      }
    }
    EXPECT_EQ(svc_ports, slice_ports) << svc.meta.key();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Clusters, ExampleTree,
    ::testing::Values(Expect{"infra", "1", "apps", "10.25.11.100", "10.25.11.119", "10.25.11.100",
                             "10.25.11.110", "64512", "10.1.0.0/16", "10.25.11.120"},
                      Expect{"apps", "2", "infra", "10.25.11.120", "10.25.11.139", "10.25.11.120",
                             "10.25.11.121", "64513", "10.2.0.0/16", "10.25.11.100"}),
    [](const auto& info) { return info.param.cluster; });

TEST(ExampleTrees, ClustersCanMesh) {
  auto infra = load_manifest_tree(tree("infra"));
  auto apps = load_manifest_tree(tree("apps"));
  ASSERT_TRUE(infra.ok() && apps.ok());
  EXPECT_NE(infra.snapshot->settings.at("CLUSTER_ID"), apps.snapshot->settings.at("CLUSTER_ID"));
  auto a = *Ipv4Prefix::parse(infra.snapshot->settings.at("POD_CIDR"));
  auto b = *Ipv4Prefix::parse(apps.snapshot->settings.at("POD_CIDR"));
  EXPECT_FALSE(a.overlaps(b)) << "pod CIDRs overlap";
  // The same global service in both.
  EXPECT_TRUE(infra.snapshot->service("demo", "web"));
  EXPECT_TRUE(apps.snapshot->service("demo", "web"));
}

}  // namespace
}  // namespace netagent::source

namespace netagent::source {
namespace {

TEST(DeployManifests, DaemonSetTreeLoads) {
  auto r = load_manifest_tree(std::string(NETAGENT_SOURCE_DIR) + "/deploy/netagent");
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_EQ(r.snapshot->ignored_kinds.at("DaemonSet"), 1);
  EXPECT_TRUE(r.snapshot->find_namespace("netagent"));
  ASSERT_EQ(r.snapshot->config_maps.size(), 1u);
}

}  // namespace
}  // namespace netagent::source
