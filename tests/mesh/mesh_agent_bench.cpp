// ClusterMesh end to end through the agent, measured (not part of ctest; run as root):
//   sudo build/bin/mesh_agent_bench
// A real etcd (mutual TLS) for cluster apps; cluster apps' state is published into it by the
// mesh library's publisher (what the apps agent runs); a real netagent for cluster infra, on its
// node namespace, with 1,000 global Services of its own (no local backends) watches apps.
//  1. Initial sync: from publish() of 10,000 endpoints (1,000 identities) and 1,000 global
//     services with 10 backends each until the infra agent has every remote endpoint in its mesh
//     state and all 10,000 remote backends programmed in its LB maps (GET /v1/status: the LB
//     reconciler's count of backends in the maps).
//     The endpoints must also be in the infra agent's policy ipcache map (policy status).
//  2. Single change: one backend added to (then removed from) one global service in apps; time
//     from publish() until the infra agent's LB maps hold it (removed: no longer hold it). p50/p99.
//  3. Single endpoint: one pod IP added to (then removed from) apps' endpoints; time from
//     publish() until the infra agent's policy ipcache map holds it (no longer holds it).
// MESH_BENCH_CHANGES=<n> sets the number of single changes (default 200).
#include <signal.h>

#include <algorithm>
#include <cstdio>

#include "netagent/mesh/cluster_mesh.hpp"
#include "netagent/netctl/client.hpp"
#include "netagent/testing/agent_node.hpp"
#include "netagent/testing/etcd_fixture.hpp"
#include "netagent/testing/topology.hpp"

using namespace netagent;
using namespace netagent::testing;
using namespace std::chrono_literals;
using netagent::testing::EnterNetns;
using netagent::testing::EtcdServer;
using netagent::testing::TestPki;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kServices = 1000;
constexpr int kBackendsPerService = 10;
constexpr int kEndpoints = kServices * kBackendsPerService;
constexpr int kIdentities = 1000;

std::string endpoint_ip(int e) {
  return Ipv4Addr{Ipv4Addr::parse("10.2.0.1")->value + uint32_t(e)}.str();
}

mesh::LocalState apps_state() {
  mesh::LocalState s;
  s.nodes.push_back({"apps-1", "", 0, {{"InternalIP", "10.25.11.21"}}, {"10.2.0.0/16"}, {}});
  for (int i = 0; i < kIdentities; ++i) {
    s.identities.push_back(
        {uint32_t(256 + i),
         {"k8s:app=app" + std::to_string(i), "k8s:io.kubernetes.pod.namespace=bench"}});
  }
  for (int e = 0; e < kEndpoints; ++e) {
    s.endpoints.push_back({endpoint_ip(e), uint32_t(256 + e % kIdentities), "10.25.11.21", "apps-1",
                           "bench", "pod-" + std::to_string(e)});
  }
  for (int i = 0; i < kServices; ++i) {
    mesh::ServiceRecord r;
    r.cluster = "apps";
    r.cluster_id = 2;
    r.ns = "bench";
    r.name = "svc-" + std::to_string(i);
    for (int b = 0; b < kBackendsPerService; ++b)
      r.backends[endpoint_ip(i * kBackendsPerService + b)] = {{"http", {"TCP", 8080}}};
    s.services.push_back(std::move(r));
  }
  return s;
}

std::string infra_manifests(const TestPki& pki) {
  std::string y =
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cluster-settings, namespace: "
      "flux-system}\ndata: {CLUSTER: infra, CLUSTER_ID: \"1\"}\n---\napiVersion: v1\nkind: "
      "Node\nmetadata: {name: infra-1}\nspec: {podCIDRs: [10.1.0.0/24]}\nstatus: {addresses: "
      "[{type: InternalIP, address: 10.25.11.11}]}\n---\napiVersion: v1\nkind: Secret\nmetadata: "
      "{name: cilium-clustermesh, namespace: kube-system}\nstringData:\n" +
      clustermesh_secret_entries(pki, "apps", "10.25.11.120", "");
  for (int i = 0; i < kServices; ++i) {
    y += "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: svc-" + std::to_string(i) +
         "\n  namespace: bench\n  annotations: {service.cilium.io/global: \"true\"}\nspec:\n"
         "  clusterIP: " +
         Ipv4Addr{Ipv4Addr::parse("10.96.16.0")->value + uint32_t(i)}.str() +
         "\n  ports: [{name: http, port: 80, targetPort: 8080}]\n";
  }
  return y;
}

struct Counts {
  size_t lb_backends = 0;
  size_t remote_endpoints = 0;
  size_t ipcache = 0;  // entries in the policy ipcache map
};

Counts counts(netctl::Client& c) {
  Counts out;
  auto r = c.get("/v1/status");
  if (!r.ok()) return out;
  for (const auto& rec : (*r)["reconcilers"]) {
    const auto& s = rec["status"];
    if (rec["name"] == "lb") out.lb_backends = s.value("backends", 0u);
    if (rec["name"] == "clustermesh") out.remote_endpoints = s.value("remote_endpoints", 0u);
    if (rec["name"] == "policy") out.ipcache = s.value("ipcache_entries", 0u);
  }
  return out;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, size_t(p * double(v.size())))];
}

}  // namespace

int main() {
  if (geteuid() != 0) {
    std::fprintf(stderr, "mesh_agent_bench needs root (network namespaces, BPF)\n");
    return 1;
  }
  const int changes =
      std::getenv("MESH_BENCH_CHANGES") ? std::atoi(std::getenv("MESH_BENCH_CHANGES")) : 200;
  TestPki pki;
  pki.make_ca("apps-ca");
  pki.make_cert("apps-ca", "etcd-apps", {"10.25.11.120"}, true);
  pki.make_cert("apps-ca", "apps-client", {}, false);
  Lan lan("mab");
  auto etcd_host = lan.host("etcda", "10.25.11.120/24");
  auto node = lan.host("infra", "10.25.11.11/24");
  EtcdServer etcd(etcd_host->ns(), "etcd-apps", "10.25.11.120", &pki, "apps-ca", "etcd-apps");
  etcd.start();
  AgentNode infra(
      {.tag = "mab",
       .node_name = "infra-1",
       .log_level = std::getenv("MESH_BENCH_LOG") ? std::getenv("MESH_BENCH_LOG") : "warn"});
  infra.write_manifest("infra.yaml", infra_manifests(pki));
  auto agent = infra.start(node->ns());
  netctl::Client api(infra.socket(), 2s);
  if (!infra.wait_api("/v1/status", nullptr, 20s)) {
    std::fprintf(stderr, "agent did not start:\n%s\n", agent->log().c_str());
    return 1;
  }

  // The apps cluster's publisher, in the etcd's namespace.
  EnterNetns in(etcd_host->ns());
  boost::asio::io_context io;
  mesh::MeshOptions o;
  o.local = {"apps", 2};
  o.pod_cidrs = {*Ipv4Prefix::parse("10.2.0.0/16")};
  etcd::EtcdConfig ec;
  ec.endpoints = {etcd.url()};
  ec.tls = pki.client_tls("apps-ca", "apps-client");
  o.local_etcd = ec;
  auto m = mesh::ClusterMesh::create(io, o, nullptr);
  if (!m.ok()) {
    std::fprintf(stderr, "%s\n", m.error().str().c_str());
    return 1;
  }
  auto& cm = **m;
  cm.start();
  auto state = apps_state();
  // Wait until the agent is watching (it reports the remote cluster, waiting for its config).
  wait_until([&] { return api.get("/v1/clustermesh").ok(); }, 10s);
  netagent::testing::run_for(io, 500ms);

  auto run_until = [&](const std::function<bool(const Counts&)>& done,
                       std::chrono::milliseconds timeout) -> double {
    auto t0 = Clock::now();
    while (Clock::now() - t0 < timeout) {
      io.run_for(2ms);
      if (io.stopped()) io.restart();
      if (done(counts(api))) return std::chrono::duration<double>(Clock::now() - t0).count();
    }
    return -1;
  };

  auto t0 = Clock::now();
  cm.publish(state);
  double t_all = run_until(
      [](const Counts& c) {
        return c.lb_backends >= size_t(kEndpoints) && c.remote_endpoints >= size_t(kEndpoints) &&
               c.ipcache >= size_t(kEndpoints);
      },
      60s);
  (void)t0;
  auto c = counts(api);
  std::printf(
      "initial sync: %d endpoints, %d identities, %d global services x %d backends: "
      "%.3f s until the infra agent had %zu entries in its policy ipcache map and %zu backends "
      "in its LB maps\n",
      kEndpoints, kIdentities, kServices, kBackendsPerService, t_all, c.ipcache, c.lb_backends);
  if (t_all < 0) {
    std::fprintf(stderr, "timed out; agent log:\n%s\n", agent->log().c_str());
    return 1;
  }

  std::vector<double> lat;
  for (int i = 0; i < changes; ++i) {
    auto& svc = state.services[size_t(i % kServices)];
    const std::string extra = Ipv4Addr{Ipv4Addr::parse("10.2.200.1")->value + uint32_t(i)}.str();
    svc.backends[extra] = {{"http", {"TCP", 8080}}};
    cm.publish(state);
    double t =
        run_until([](const Counts& c) { return c.lb_backends == size_t(kEndpoints) + 1; }, 5s);
    if (t >= 0) lat.push_back(t * 1000);
    svc.backends.erase(extra);
    cm.publish(state);
    t = run_until([](const Counts& c) { return c.lb_backends == size_t(kEndpoints); }, 5s);
    if (t >= 0) lat.push_back(t * 1000);
  }
  std::printf(
      "single backend change (add or remove) to the infra agent's LB maps, %zu samples: "
      "p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
      lat.size(), percentile(lat, 0.5), percentile(lat, 0.99), percentile(lat, 1.0));
  if (std::getenv("MESH_BENCH_LOG")) std::printf("%s\n", agent->log().c_str());

  // One endpoint (a new pod) appears in apps, then goes: until the infra agent's policy
  // ipcache map holds it (no longer holds it).
  std::vector<double> ep_lat;
  const size_t base = counts(api).ipcache;
  for (int i = 0; i < changes; ++i) {
    state.endpoints.push_back({Ipv4Addr{Ipv4Addr::parse("10.2.210.1")->value + uint32_t(i)}.str(),
                               256, "10.25.11.21", "apps-1", "bench", "new-pod"});
    cm.publish(state);
    double t = run_until([&](const Counts& c) { return c.ipcache == base + 1; }, 5s);
    if (t >= 0) ep_lat.push_back(t * 1000);
    state.endpoints.pop_back();
    cm.publish(state);
    t = run_until([&](const Counts& c) { return c.ipcache == base; }, 5s);
    if (t >= 0) ep_lat.push_back(t * 1000);
  }
  std::printf(
      "single endpoint change (add or remove) to the infra agent's policy ipcache map, "
      "%zu samples: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
      ep_lat.size(), percentile(ep_lat, 0.5), percentile(ep_lat, 0.99), percentile(ep_lat, 1.0));
  cm.stop(true);
  netagent::testing::run_for(io, 200ms);
  return 0;
}
