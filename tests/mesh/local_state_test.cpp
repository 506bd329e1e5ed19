// Building what a cluster publishes from a k8s Snapshot (global shared services with ready
// backends, nodes, endpoints with their identities), the incremental encoder, and the status
// as JSON and Prometheus text.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "netagent/mesh/kvstore.hpp"
#include "netagent/mesh/local_state.hpp"
#include "netagent/mesh/publish_plan.hpp"
#include "netagent/mesh/status.hpp"

namespace netagent::mesh {
namespace {

IpAddress ip(const std::string& s) {
  return *IpAddress::parse(s);
}

k8s::Service service(const std::string& name, std::map<std::string, std::string> annotations) {
  k8s::Service s;
  s.meta.ns = "default";
  s.meta.name = name;
  s.meta.annotations = std::move(annotations);
  s.meta.labels = {{"app", name}};
  s.cluster_ips = {ip("10.96.0.10")};
  s.status_ingress_ips = {ip("10.25.11.105")};
  s.ports.push_back({"http", k8s::Protocol::TCP, 80, {8080, ""}, 0});
  s.selector = k8s::Labels{{"app", name}};
  return s;
}

k8s::EndpointSlice slice(const std::string& svc, std::vector<std::pair<std::string, bool>> eps) {
  k8s::EndpointSlice sl;
  sl.meta.ns = "default";
  sl.meta.name = svc + "-abc";
  sl.service_name = svc;
  sl.ports.push_back({"http", k8s::Protocol::TCP, 8080});
  for (auto& [addr, ready] : eps) {
    k8s::Endpoint e;
    e.addresses = {ip(addr)};
    e.conditions.ready = ready;
    e.node_name = "infra-1";
    sl.endpoints.push_back(e);
  }
  return sl;
}

k8s::Snapshot snapshot() {
  k8s::Snapshot s;
  s.services.push_back(service("echo", {{"service.cilium.io/global", "true"}}));
  s.services.push_back(service(
      "private", {{"service.cilium.io/global", "true"}, {"service.cilium.io/shared", "false"}}));
  s.services.push_back(service("plain", {}));
  s.services.push_back(service("broken", {{"service.cilium.io/global", "maybe"}}));
  s.endpoint_slices.push_back(slice("echo", {{"10.1.0.5", true}, {"10.1.0.6", false}}));
  s.endpoint_slices.push_back(slice("private", {{"10.1.0.7", true}}));
  k8s::Node n;
  n.meta.name = "infra-1";
  n.meta.labels = {{"kubernetes.io/hostname", "infra-1"}};
  n.addresses = {{"InternalIP", "10.25.11.11", ip("10.25.11.11")}, {"Hostname", "infra-1", {}}};
  n.pod_cidrs = {*IpPrefix::parse("10.1.0.0/24"), *IpPrefix::parse("fd00::/64")};
  s.nodes.push_back(n);
  k8s::Pod p;
  p.meta.ns = "default";
  p.meta.name = "echo-0";
  p.node_name = "infra-1";
  p.pod_ips = {ip("10.1.0.5"), ip("fd00::5")};
  s.pods.push_back(p);
  k8s::Pod host = p;
  host.meta.name = "agent";
  host.host_network = true;
  host.pod_ips = {ip("10.25.11.11")};
  s.pods.push_back(host);
  return s;
}

TEST(LocalState, ExportsGlobalSharedServicesWithReadyBackends) {
  auto snap = snapshot();
  std::vector<Error> errors;
  auto svcs = export_global_services(snap, {"infra", 1}, &errors);
  ASSERT_EQ(svcs.size(), 1u) << "plain is not global; private is not shared; broken is bad";
  const auto& echo = svcs[0];
  EXPECT_EQ(echo.key(), "default/echo");
  EXPECT_EQ(echo.cluster, "infra");
  EXPECT_EQ(echo.cluster_id, 1u);
  EXPECT_EQ(echo.backends.size(), 1u) << "only the ready backend";
  EXPECT_EQ(echo.backends.at("10.1.0.5").at("http"), (L4Port{"TCP", 8080}));
  EXPECT_EQ(echo.frontends.at("10.96.0.10").at("http"), (L4Port{"TCP", 80}));
  EXPECT_TRUE(echo.frontends.contains("10.25.11.105"));
  EXPECT_EQ(echo.selector.at("app"), "echo");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message,
            "Service default/broken: annotation service.cilium.io/global: \"maybe\" is not "
            "\"true\" or \"false\"");

  // The local view keeps not-ready backends (the merge decides).
  auto ls = local_service(snap, snap.services[0]);
  ASSERT_TRUE(ls.ok());
  EXPECT_EQ(ls->backends.size(), 2u);
  EXPECT_FALSE(ls->backends[1].ready);
  EXPECT_EQ(ls->backends[0].node, "infra-1");
}

TEST(LocalState, ExportsNodesAndEndpoints) {
  auto snap = snapshot();
  auto nodes = export_nodes(snap, {"infra", 1});
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0].addresses, (std::vector<NodeAddress>{{"InternalIP", "10.25.11.11"}}));
  EXPECT_EQ(nodes[0].pod_cidrs, std::vector<std::string>{"10.1.0.0/24"});
  auto eps = export_endpoints(snap, [](const k8s::Pod& p) -> std::optional<uint32_t> {
    if (p.meta.name == "echo-0") return 300;
    return std::nullopt;
  });
  ASSERT_EQ(eps.size(), 1u) << "IPv4 only, no hostNetwork pods";
  EXPECT_EQ(eps[0],
            (EndpointRecord{"10.1.0.5", 300, "10.25.11.11", "infra-1", "default", "echo-0"}));
  EXPECT_EQ(pod_cidrs_of(snap), std::vector<Ipv4Prefix>{*Ipv4Prefix::parse("10.1.0.0/24")});
}

TEST(LocalStateEncoder, EncodesOnlyWhatChangedAndMatchesTheFullEncoding) {
  LocalState s;
  for (int i = 0; i < 50; ++i) {
    s.endpoints.push_back({"10.1.0." + std::to_string(i), 300, "10.25.11.11", "n", "d", "p"});
  }
  s.identities.push_back({300, {"k8s:app=a"}});
  LocalStateEncoder enc({"infra", 1}, {}, "t0");
  std::set<std::string> changed;
  enc.update(s, changed);
  EXPECT_EQ(changed.size(), 51u);
  EXPECT_EQ(enc.desired(), encode_local_state(s, {"infra", 1}, {}, "t0"));
  changed.clear();
  enc.update(s, changed);
  EXPECT_TRUE(changed.empty());
  s.endpoints[3].identity = 301;
  s.endpoints.pop_back();
  changed.clear();
  enc.update(s, changed);
  EXPECT_EQ(changed, (std::set<std::string>{"cilium/state/ip/v1/infra/10.1.0.3",
                                            "cilium/state/ip/v1/infra/10.1.0.49"}));
  EXPECT_EQ(enc.desired(), encode_local_state(s, {"infra", 1}, {}, "t0"));
}

TEST(MeshStatus, JsonAndPrometheus) {
  MeshStatus st;
  st.local = {"infra", 1};
  st.pod_cidrs = {"10.1.0.0/16"};
  st.publishing = true;
  st.publisher.connected = true;
  st.publisher.synced = true;
  st.publisher.keys = 12;
  st.publisher.lease_id = 42;
  RemoteClusterStatus r;
  r.name = "apps";
  r.cluster_id = 2;
  r.connected = false;
  r.ready = true;
  r.stale = true;
  r.accepted = true;
  r.nodes = 1;
  r.endpoints_count = 3;
  r.identities = 2;
  r.services = 1;
  r.last_sync = std::chrono::system_clock::from_time_t(1700000000);
  r.last_error =
      "etcd of cluster apps unreachable: https://10.25.11.120:2379: connect: Connection "
      "refused";
  st.remotes.push_back(r);
  auto j = to_json(st);
  EXPECT_EQ(j["cluster"]["name"], "infra");
  EXPECT_EQ(j["publisher"]["keys"], 12);
  const auto& apps = j["remoteClusters"][0];
  EXPECT_EQ(apps["name"], "apps");
  EXPECT_EQ(apps["stale"], true);
  EXPECT_EQ(apps["connected"], false);
  EXPECT_EQ(apps["endpointCount"], 3);
  EXPECT_EQ(apps["lastSync"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(apps["lastError"], r.last_error);
  auto prom = to_prometheus(st);
  for (const char* line :
       {"netagent_clustermesh_remote_clusters{source_cluster=\"infra\"} 1\n",
        "netagent_clustermesh_remote_cluster_stale{source_cluster=\"infra\",target_cluster="
        "\"apps\"} 1\n",
        "netagent_clustermesh_remote_cluster_connected{source_cluster=\"infra\",target_cluster="
        "\"apps\"} 0\n",
        "netagent_clustermesh_remote_endpoints{source_cluster=\"infra\",target_cluster=\"apps\"} "
        "3\n",
        "netagent_clustermesh_remote_cluster_last_sync_timestamp_seconds{source_cluster=\"infra\","
        "target_cluster=\"apps\"} 1700000000\n",
        "netagent_clustermesh_published_keys{source_cluster=\"infra\"} 12\n",
        "# TYPE netagent_clustermesh_publish_txns_total counter\n"}) {
    EXPECT_NE(prom.find(line), std::string::npos) << line << "\n" << prom;
  }
}

}  // namespace
}  // namespace netagent::mesh
