// Global service merge and the remote ipcache as tables of cases: affinity local/remote/none
// with and without ready backends, shared false on either side, deleted and stale remote
// services, several remote clusters, and the annotations with their older aliases.
#include <gtest/gtest.h>

#include "netagent/mesh/merge.hpp"

namespace netagent::mesh {
namespace {

const ClusterInfo kInfra{"infra", 1};
const PortMap kHttp{{"http", {"TCP", 8080}}};

struct RemoteSvc {
  std::string cluster;
  uint32_t id;
  std::vector<std::string> backends;
  bool shared = true;
  bool stale = false;
  std::string ns = "default";
  std::string name = "echo";
};

MeshView make_view(const std::vector<RemoteSvc>& remotes) {
  std::map<std::string, std::pair<uint32_t, std::shared_ptr<ClusterState>>> states;
  std::map<std::string, bool> stale;
  for (const auto& r : remotes) {
    auto& [id, st] = states[r.cluster];
    id = r.id;
    if (!st) st = std::make_shared<ClusterState>();
    stale[r.cluster] = r.stale;
    if (r.backends.empty() && r.name.empty()) continue;  // cluster without the service
    ServiceRecord s;
    s.cluster = r.cluster;
    s.cluster_id = r.id;
    s.ns = r.ns;
    s.name = r.name;
    s.shared = r.shared;
    for (const auto& ip : r.backends)
      s.backends[ip] = kHttp;
    st->services[s.key()] = s;
  }
  MeshView v;
  for (auto& [name, p] : states)
    v.clusters.push_back({name, p.first, stale[name], p.second});
  return v;
}

struct LocalBackend {
  std::string ip;
  bool ready = true;
};

LocalService make_local(GlobalServiceSpec spec, const std::vector<LocalBackend>& backends) {
  LocalService ls;
  ls.ns = "default";
  ls.name = "echo";
  ls.spec = spec;
  ls.frontends["10.96.0.10"] = {{"http", {"TCP", 80}}};
  for (const auto& b : backends)
    ls.backends.push_back({b.ip, kHttp, b.ready, "infra-1"});
  return ls;
}

// "cluster/ip" of each active backend, in merge order.
std::vector<std::string> active_of(const MergedService& m) {
  std::vector<std::string> out;
  for (const auto& b : m.active_backends())
    out.push_back(b.cluster + "/" + b.ip);
  return out;
}

constexpr GlobalServiceSpec kNotGlobal{false, true, Affinity::None};
constexpr GlobalServiceSpec kGlobal{true, true, Affinity::None};
constexpr GlobalServiceSpec kGlobalLocal{true, true, Affinity::Local};
constexpr GlobalServiceSpec kGlobalRemote{true, true, Affinity::Remote};
constexpr GlobalServiceSpec kGlobalNotShared{true, false, Affinity::None};

TEST(GlobalServiceMerge, Table) {
  const std::vector<LocalBackend> local_ready = {{"10.1.0.5"}, {"10.1.0.6"}};
  const std::vector<LocalBackend> local_down = {{"10.1.0.5", false}, {"10.1.0.6", false}};
  const RemoteSvc apps{"apps", 2, {"10.2.0.7", "10.2.0.8"}};
  struct Case {
    std::string name;
    GlobalServiceSpec spec;
    std::vector<LocalBackend> local;
    std::vector<RemoteSvc> remotes;
    std::vector<std::string> active;
  } cases[] = {
      {"not global: remote backends are ignored",
       kNotGlobal,
       local_ready,
       {apps},
       {"infra/10.1.0.5", "infra/10.1.0.6"}},
      {"global, affinity none: every ready backend of both clusters",
       kGlobal,
       local_ready,
       {apps},
       {"infra/10.1.0.5", "infra/10.1.0.6", "apps/10.2.0.7", "apps/10.2.0.8"}},
      {"global, local backends not ready: only remote ones",
       kGlobal,
       local_down,
       {apps},
       {"apps/10.2.0.7", "apps/10.2.0.8"}},
      {"affinity local with a ready local backend: local only",
       kGlobalLocal,
       {{"10.1.0.5"}, {"10.1.0.6", false}},
       {apps},
       {"infra/10.1.0.5"}},
      {"affinity local, no ready local backend: falls over to remote",
       kGlobalLocal,
       local_down,
       {apps},
       {"apps/10.2.0.7", "apps/10.2.0.8"}},
      {"affinity local, local scaled to zero: remote",
       kGlobalLocal,
       {},
       {apps},
       {"apps/10.2.0.7", "apps/10.2.0.8"}},
      {"affinity remote with remote backends: remote only",
       kGlobalRemote,
       local_ready,
       {apps},
       {"apps/10.2.0.7", "apps/10.2.0.8"}},
      {"affinity remote, no remote backends: falls back to local",
       kGlobalRemote,
       local_ready,
       {{"apps", 2, {}}},
       {"infra/10.1.0.5", "infra/10.1.0.6"}},
      {"affinity remote, remote service deleted: local",
       kGlobalRemote,
       local_ready,
       {{"apps", 2, {}, true, false, "default", ""}},
       {"infra/10.1.0.5", "infra/10.1.0.6"}},
      {"remote shared false: its backends stay there",
       kGlobal,
       local_ready,
       {{"apps", 2, {"10.2.0.7"}, /*shared=*/false}},
       {"infra/10.1.0.5", "infra/10.1.0.6"}},
      {"local shared false: still uses remote backends",
       kGlobalNotShared,
       local_ready,
       {apps},
       {"infra/10.1.0.5", "infra/10.1.0.6", "apps/10.2.0.7", "apps/10.2.0.8"}},
      {"only the same namespace and name match",
       kGlobal,
       local_ready,
       {{"apps", 2, {"10.2.0.7"}, true, false, "other", "echo"},
        {"apps", 2, {"10.2.0.8"}, true, false, "default", "echo2"}},
       {"infra/10.1.0.5", "infra/10.1.0.6"}},
      {"several remote clusters, by cluster id",
       kGlobal,
       {{"10.1.0.5"}},
       {{"zeta", 3, {"10.3.0.9"}}, apps},
       {"infra/10.1.0.5", "apps/10.2.0.7", "apps/10.2.0.8", "zeta/10.3.0.9"}},
      {"a stale remote cluster keeps its last known backends",
       kGlobalLocal,
       local_down,
       {{"apps", 2, {"10.2.0.7"}, true, /*stale=*/true}},
       {"apps/10.2.0.7"}},
      {"no backends anywhere: nothing active", kGlobalLocal, {}, {{"apps", 2, {}}}, {}},
  };
  for (const auto& c : cases) {
    auto m = merge_service(make_local(c.spec, c.local), kInfra, make_view(c.remotes));
    EXPECT_EQ(active_of(m), c.active) << c.name;
  }
}

TEST(GlobalServiceMerge, BackendsCarryClusterAndPreference) {
  auto m = merge_service(make_local(kGlobalLocal, {{"10.1.0.5", false}}), kInfra,
                         make_view({{"apps", 2, {"10.2.0.7"}}}));
  ASSERT_EQ(m.backends.size(), 2u);
  const auto& local = m.backends[0];
  EXPECT_EQ(local.cluster, "infra");
  EXPECT_EQ(local.cluster_id, 1u);
  EXPECT_TRUE(local.local);
  EXPECT_TRUE(local.preferred);
  EXPECT_FALSE(local.active) << "not ready";
  EXPECT_EQ(local.node, "infra-1");
  const auto& remote = m.backends[1];
  EXPECT_EQ(remote.cluster, "apps");
  EXPECT_EQ(remote.cluster_id, 2u);
  EXPECT_FALSE(remote.local);
  EXPECT_FALSE(remote.preferred);
  EXPECT_TRUE(remote.active) << "fallover: no ready local backend";
  EXPECT_EQ(remote.ports, kHttp);
  EXPECT_EQ(m.remote_clusters(), std::vector<std::string>{"apps"});
  EXPECT_EQ(m.frontends.at("10.96.0.10").at("http").port, 80);
}

TEST(GlobalServiceMerge, RecomputingFromTheSameInputsIsStable) {
  // A restart (or a resync that changed nothing) recomputes the same backends in the same order.
  auto view = make_view({{"zeta", 3, {"10.3.0.9", "10.3.0.1"}}, {"apps", 2, {"10.2.0.7"}}});
  auto a = merge_service(make_local(kGlobal, {{"10.1.0.6"}, {"10.1.0.5"}}), kInfra, view);
  auto b = merge_service(make_local(kGlobal, {{"10.1.0.6"}, {"10.1.0.5"}}), kInfra, view);
  EXPECT_EQ(a.backends, b.backends);
}

TEST(GlobalServiceAnnotations, Table) {
  struct Case {
    std::map<std::string, std::string> annotations;
    GlobalServiceSpec want;
    std::string error;
  } cases[] = {
      {{}, {false, true, Affinity::None}, ""},
      {{{"service.cilium.io/global", "true"}}, {true, true, Affinity::None}, ""},
      {{{"io.cilium/global-service", "true"}}, {true, true, Affinity::None}, ""},
      {{{"service.cilium.io/global", "True"}, {"service.cilium.io/shared", "false"}},
       {true, false, Affinity::None},
       ""},
      {{{"io.cilium/global-service", "true"}, {"io.cilium/shared-service", "false"}},
       {true, false, Affinity::None},
       ""},
      {{{"service.cilium.io/global", "true"}, {"service.cilium.io/affinity", "local"}},
       {true, true, Affinity::Local},
       ""},
      {{{"service.cilium.io/global", "true"}, {"io.cilium/service-affinity", "Remote"}},
       {true, true, Affinity::Remote},
       ""},
      // The current annotation wins over the older alias.
      {{{"service.cilium.io/global", "false"}, {"io.cilium/global-service", "true"}},
       {false, true, Affinity::None},
       ""},
      {{{"service.cilium.io/global", "yes"}},
       {},
       "Service default/echo: annotation service.cilium.io/global: \"yes\" is not \"true\" or "
       "\"false\""},
      {{{"service.cilium.io/global", "true"}, {"service.cilium.io/affinity", "nearest"}},
       {},
       "Service default/echo: annotation service.cilium.io/affinity: \"nearest\" is not local, "
       "remote or none"},
  };
  for (const auto& c : cases) {
    k8s::ObjectMeta meta;
    meta.ns = "default";
    meta.name = "echo";
    meta.annotations = c.annotations;
    auto spec = global_service_spec(meta);
    if (c.error.empty()) {
      ASSERT_TRUE(spec.ok()) << spec.error().message;
      EXPECT_EQ(*spec, c.want);
    } else {
      ASSERT_FALSE(spec.ok());
      EXPECT_EQ(spec.error().message, c.error);
    }
  }
}

TEST(RemoteIpcache, EndpointsWithTheirIdentitiesAndNodesAsRemoteNode) {
  auto apps = std::make_shared<ClusterState>();
  apps->endpoints["10.2.0.5"] = {"10.2.0.5", (2u << 16) | 300, "10.25.11.21", "apps-1", "d", "p"};
  apps->nodes["apps-1"] = {"apps-1", "apps", 2, {{"InternalIP", "10.25.11.21"}}, {}, {}};
  apps->identities[(2u << 16) | 300] = {(2u << 16) | 300, {"k8s:app=echo"}};
  auto zeta = std::make_shared<ClusterState>();
  zeta->endpoints["10.3.0.5"] = {"10.3.0.5", (3u << 16) | 300, "10.25.11.31", "z-1", "d", "q"};
  MeshView v{{{"apps", 2, false, apps}, {"zeta", 3, true, zeta}}};
  auto ipc = remote_ipcache(v);
  std::vector<RemoteIpcacheEntry> want = {
      {"10.2.0.5", (2u << 16) | 300, "10.25.11.21", "apps", 2, false},
      {"10.3.0.5", (3u << 16) | 300, "10.25.11.31", "zeta", 3, false},
      {"10.25.11.21", kIdentityRemoteNode, "10.25.11.21", "apps", 2, true},
  };
  EXPECT_EQ(ipc, want);
  // The same local identity number in two clusters stays two identities.
  EXPECT_NE(ipc[0].identity, ipc[1].identity);
  EXPECT_EQ(remote_identities(v).size(), 1u);
}

}  // namespace
}  // namespace netagent::mesh
