// The agent's global-service merge as the LB receives it: which remote backends are added per
// service port, and when the local backends stand by (affinity), for tables of local and remote
// states. No network.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include "netagent/mesh/global_backends.hpp"

namespace netagent::mesh {
namespace {

mesh::PortMap http(uint16_t port) {
  return {{"http", mesh::L4Port{"TCP", port}}};
}

LocalGlobalServices local(mesh::Affinity affinity, std::vector<std::string> ready,
                          bool global = true) {
  mesh::LocalService s;
  s.ns = "demo";
  s.name = "web";
  s.spec.global = global;
  s.spec.affinity = affinity;
  for (const auto& ip : ready)
    s.backends.push_back({ip, http(8080), true, "infra-1"});
  return {{s}, {}};
}

std::shared_ptr<mesh::ClusterState> remote_state(std::vector<std::string> backends,
                                                 bool shared = true) {
  auto st = std::make_shared<mesh::ClusterState>();
  mesh::ServiceRecord r;
  r.cluster = "apps";
  r.cluster_id = 2;
  r.ns = "demo";
  r.name = "web";
  r.shared = shared;
  for (const auto& ip : backends)
    r.backends[ip] = http(8081);
  st->services[r.key()] = r;
  return st;
}

mesh::MeshView view(std::shared_ptr<mesh::ClusterState> st, bool stale = false) {
  mesh::MeshView v;
  v.clusters.push_back({"apps", 2, stale, std::move(st)});
  return v;
}

std::vector<std::string> extra(const GlobalBackends& g) {
  std::vector<std::string> out;
  auto it = g.extra.by_service_port.find("demo/web/http");
  if (it == g.extra.by_service_port.end()) return out;
  for (const auto& b : it->second)
    out.push_back(b.addr.str() + "@" + b.cluster);
  return out;
}

const mesh::ClusterInfo kInfra{"infra", 1};
using V = std::vector<std::string>;

TEST(GlobalBackends, AffinityTable) {
  struct Case {
    const char* name;
    mesh::Affinity affinity;
    V local_ready;
    V remote;
    V want_extra;
    bool want_replace;
  };
  const Case cases[] = {
      {"none: both sides",
       mesh::Affinity::None,
       {"10.1.0.5"},
       {"10.2.0.5"},
       {"10.2.0.5:8081/TCP@apps"},
       false},
      {"local with a local backend: remote stands by",
       mesh::Affinity::Local,
       {"10.1.0.5"},
       {"10.2.0.5"},
       {},
       false},
      {"local without local backends: remote",
       mesh::Affinity::Local,
       {},
       {"10.2.0.5"},
       {"10.2.0.5:8081/TCP@apps"},
       false},
      {"remote with a remote backend: local stands by",
       mesh::Affinity::Remote,
       {"10.1.0.5"},
       {"10.2.0.5"},
       {"10.2.0.5:8081/TCP@apps"},
       true},
      {"remote without remote backends: local",
       mesh::Affinity::Remote,
       {"10.1.0.5"},
       {},
       {},
       false},
      {"nothing anywhere", mesh::Affinity::None, {}, {}, {}, false},
  };
  for (const auto& c : cases) {
    auto g =
        global_backends(local(c.affinity, c.local_ready), kInfra, view(remote_state(c.remote)));
    EXPECT_EQ(extra(g), c.want_extra) << c.name;
    EXPECT_EQ(g.replace_local.count("demo/web/http") == 1, c.want_replace) << c.name;
    ASSERT_EQ(g.merged.size(), 1u) << c.name;
  }
}

TEST(GlobalBackends, SharedFalseAndNotGlobalAndStale) {
  // The remote does not share: nothing from it.
  auto g = global_backends(local(mesh::Affinity::None, {}), kInfra,
                           view(remote_state({"10.2.0.5"}, false)));
  EXPECT_TRUE(extra(g).empty());
  // Not global here: remote backends are ignored.
  g = global_backends(local(mesh::Affinity::None, {}, false), kInfra,
                      view(remote_state({"10.2.0.5"})));
  EXPECT_TRUE(extra(g).empty());
  // A stale cluster still counts with its last known backends.
  g = global_backends(local(mesh::Affinity::None, {}), kInfra,
                      view(remote_state({"10.2.0.5"}), true));
  EXPECT_EQ(extra(g), V{"10.2.0.5:8081/TCP@apps"});
  // Removal: the remote service gone, its backends go.
  g = global_backends(local(mesh::Affinity::None, {}), kInfra,
                      view(std::make_shared<mesh::ClusterState>()));
  EXPECT_TRUE(extra(g).empty());
}

TEST(GlobalBackends, SameBackendsDetectsChanges) {
  auto a =
      global_backends(local(mesh::Affinity::None, {}), kInfra, view(remote_state({"10.2.0.5"})));
  auto b =
      global_backends(local(mesh::Affinity::None, {}), kInfra, view(remote_state({"10.2.0.5"})));
  auto c =
      global_backends(local(mesh::Affinity::None, {}), kInfra, view(remote_state({"10.2.0.6"})));
  EXPECT_TRUE(same_backends(a, b));
  EXPECT_FALSE(same_backends(a, c));
}

TEST(GlobalBackends, IncrementalUpdateMatchesFullMerge) {
  auto loc = local(mesh::Affinity::None, {"10.1.0.5"});
  mesh::LocalService other = loc.services[0];
  other.name = "api";
  loc.services.insert(loc.services.begin(), other);  // "demo/api" < "demo/web"
  auto before = remote_state({"10.2.0.5"});
  before->services["demo/api"] = before->services["demo/web"];
  before->services["demo/api"].name = "api";
  auto g = global_backends(loc, kInfra, view(before));
  // Only demo/web changes remotely; the update names it.
  auto after = std::make_shared<mesh::ClusterState>(*before);
  after->services["demo/web"].backends["10.2.0.7"] = http(8081);
  const std::set<std::string> only = {"demo/web", "demo/gone"};
  EXPECT_TRUE(update_global_backends(g, loc, kInfra, view(after), &only));
  EXPECT_TRUE(same_backends(g, global_backends(loc, kInfra, view(after))));
  EXPECT_EQ(g.extra.by_service_port.at("demo/api/http").size(), 1u);
  // Nothing changed: false.
  EXPECT_FALSE(update_global_backends(g, loc, kInfra, view(after), &only));
}

}  // namespace
}  // namespace netagent::mesh
