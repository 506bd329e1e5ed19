// The remote cluster state machine without a network: acceptance (cluster-config present, id
// unique, pod CIDRs disjoint), incremental events, deletes, resyncs that change nothing (no
// flap), restarts of the remote publisher, bad values that keep the last good record, and the
// publisher's plan (diffs, batching, ordering, lease changes).
#include <gtest/gtest.h>

#include "netagent/mesh/kvstore.hpp"
#include "netagent/mesh/publish_plan.hpp"
#include "netagent/mesh/remote_state.hpp"

namespace netagent::mesh {
namespace {

const LocalMeshInfo kInfra{{"infra", 1}, {*Ipv4Prefix::parse("10.1.0.0/16")}};
constexpr uint32_t kApps = 2;
constexpr uint32_t id_of(uint32_t local) {
  return (kApps << 16) | local;
}

etcd::KeyValue kv(std::string key, std::string value) {
  return etcd::KeyValue{std::move(key), std::move(value)};
}
etcd::WatchEvent put(std::string key, std::string value) {
  return etcd::WatchEvent{etcd::WatchEvent::Type::Put, kv(std::move(key), std::move(value))};
}
etcd::WatchEvent del(std::string key) {
  return etcd::WatchEvent{etcd::WatchEvent::Type::Delete, kv(std::move(key), "")};
}

etcd::KeyValue config_kv(uint32_t id, std::vector<std::string> cidrs = {"10.2.0.0/16"}) {
  return kv(kvstore::cluster_config_key("apps"),
            kvstore::encode(ClusterConfigRecord{id, true, 255, std::move(cidrs)}));
}
etcd::KeyValue node_kv(std::string name, std::string cidr = "10.2.0.0/24") {
  NodeRecord n{name, "apps", kApps, {{"InternalIP", "10.25.11.21"}}, {std::move(cidr)}, {}};
  return kv(kvstore::node_key("apps", name), kvstore::encode(n));
}
etcd::KeyValue ep_kv(std::string ip, uint32_t identity) {
  EndpointRecord e{ip, identity, "10.25.11.21", "apps-1", "default", "pod-" + ip};
  return kv(kvstore::ip_key("apps", ip), kvstore::encode(e));
}
etcd::KeyValue id_kv(uint32_t id, std::string app) {
  return kv(kvstore::identity_key(id), kvstore::encode(IdentityRecord{id, {"k8s:app=" + app}}));
}
etcd::KeyValue svc_kv(std::string name, std::vector<std::string> backends) {
  ServiceRecord s;
  s.cluster = "apps";
  s.cluster_id = kApps;
  s.ns = "default";
  s.name = name;
  for (auto& b : backends)
    s.backends[b] = {{"http", {"TCP", 8080}}};
  return kv(kvstore::service_key("apps", "default", name), kvstore::encode(s));
}
etcd::WatchEvent as_put(const etcd::KeyValue& k) {
  return put(k.key, k.value);
}

std::vector<etcd::KeyValue> apps_state() {
  return {config_kv(kApps),
          node_kv("apps-1"),
          ep_kv("10.2.0.5", id_of(300)),
          ep_kv("10.2.0.6", id_of(301)),
          id_kv(id_of(300), "echo"),
          id_kv(id_of(301), "client"),
          svc_kv("echo", {"10.2.0.5"})};
}

// "+kind:key" for upserts, "-kind:key" for removals, sorted, for compact comparisons.
std::vector<std::string> summary(const StateChanges& c) {
  std::vector<std::string> out;
  for (const auto& n : c.nodes_upserted)
    out.push_back("+node:" + n.name);
  for (const auto& n : c.nodes_removed)
    out.push_back("-node:" + n);
  for (const auto& e : c.endpoints_upserted)
    out.push_back("+ep:" + e.ip);
  for (const auto& e : c.endpoints_removed)
    out.push_back("-ep:" + e);
  for (const auto& i : c.identities_upserted)
    out.push_back("+id:" + std::to_string(i.id & 0xffff));
  for (const auto& i : c.identities_removed)
    out.push_back("-id:" + std::to_string(i & 0xffff));
  for (const auto& s : c.services_upserted)
    out.push_back("+svc:" + s.key());
  for (const auto& s : c.services_removed)
    out.push_back("-svc:" + s);
  std::sort(out.begin(), out.end());
  return out;
}

using Summary = std::vector<std::string>;

TEST(RemoteState, InitialSyncThenEventsAndDeletes) {
  RemoteStateTracker t("apps", kInfra);
  auto c = t.resync(apps_state());
  EXPECT_TRUE(t.accepted()) << t.refusal();
  EXPECT_EQ(c.cluster, "apps");
  EXPECT_EQ(c.cluster_id, kApps);
  EXPECT_EQ(summary(c), (Summary{"+ep:10.2.0.5", "+ep:10.2.0.6", "+id:300", "+id:301",
                                 "+node:apps-1", "+svc:default/echo"}));
  // Identities gain the cluster label that policies select on.
  EXPECT_EQ(t.visible().identities.at(id_of(300)).labels,
            (std::vector<std::string>{"k8s:app=echo", "k8s:io.cilium.k8s.policy.cluster=apps"}));

  c = t.apply({as_put(svc_kv("echo", {"10.2.0.5", "10.2.0.6"})),
               del(kvstore::ip_key("apps", "10.2.0.6")), as_put(ep_kv("10.2.0.7", id_of(302)))});
  EXPECT_EQ(summary(c), (Summary{"+ep:10.2.0.7", "+svc:default/echo", "-ep:10.2.0.6"}));
  EXPECT_EQ(t.visible().services.at("default/echo").backends.size(), 2u);

  // A PUT with the same value changes nothing.
  c = t.apply({as_put(ep_kv("10.2.0.7", id_of(302)))});
  EXPECT_TRUE(c.empty());
  c = t.apply({del(kvstore::service_key("apps", "default", "echo")),
               del(kvstore::node_key("apps", "apps-1")), del(kvstore::identity_key(id_of(301)))});
  EXPECT_EQ(summary(c), (Summary{"-id:301", "-node:apps-1", "-svc:default/echo"}));
}

TEST(RemoteState, ResyncWithoutChangesIsSilentAndOnlyRealChangesShow) {
  RemoteStateTracker t("apps", kInfra);
  t.resync(apps_state());
  // A reconnect that reads everything again: nothing changed, nothing reported (no flap).
  EXPECT_TRUE(t.resync(apps_state()).empty());
  // The remote publisher restarted meanwhile: same entries under a new lease, new revisions.
  auto again = apps_state();
  for (auto& k : again) {
    k.lease = 777;
    k.mod_revision = 99;
  }
  EXPECT_TRUE(t.resync(again).empty());
  // While we were away one endpoint moved and one service was deleted.
  auto moved = apps_state();
  moved[2] = ep_kv("10.2.0.5", id_of(305));
  moved.pop_back();
  auto c = t.resync(moved);
  EXPECT_EQ(summary(c), (Summary{"+ep:10.2.0.5", "-svc:default/echo"}));
}

TEST(RemoteState, WaitsForClusterConfigBeforeUsingAnything) {
  RemoteStateTracker t("apps", kInfra);
  auto state = apps_state();
  state.erase(state.begin());  // no cluster-config
  auto c = t.resync(state);
  EXPECT_TRUE(c.empty());
  EXPECT_FALSE(t.accepted());
  EXPECT_FALSE(t.refused());
  EXPECT_EQ(t.refusal(), "waiting for cilium/cluster-config/apps in the remote kvstore");
  c = t.apply({as_put(config_kv(kApps))});
  EXPECT_TRUE(t.accepted());
  EXPECT_EQ(c.size(), 6u);
  // Once accepted, a vanished cluster-config does not withdraw anything.
  c = t.apply({del(kvstore::cluster_config_key("apps"))});
  EXPECT_TRUE(c.empty());
  EXPECT_TRUE(t.accepted());
}

TEST(RemoteState, RefusesAClusterIdEqualToOurs) {
  RemoteStateTracker t("apps", kInfra);
  auto state = apps_state();
  state[0] = config_kv(1);
  auto c = t.resync(state);
  EXPECT_TRUE(c.empty());
  EXPECT_TRUE(t.refused());
  EXPECT_EQ(t.refusal(),
            "remote cluster apps has cluster id 1, the same as this cluster (infra): cluster ids "
            "must be unique in the mesh");
  EXPECT_TRUE(t.visible().endpoints.empty());
  // Fixed on the remote side: everything comes in.
  c = t.apply({as_put(config_kv(kApps))});
  EXPECT_TRUE(t.accepted());
  EXPECT_EQ(c.size(), 6u);
  // Broken again: everything that was in use is withdrawn.
  c = t.apply({as_put(config_kv(1))});
  EXPECT_EQ(summary(c), (Summary{"-ep:10.2.0.5", "-ep:10.2.0.6", "-id:300", "-id:301",
                                 "-node:apps-1", "-svc:default/echo"}));
}

TEST(RemoteState, RefusesOverlappingPodCidrs) {
  struct Case {
    std::string what;
    std::vector<etcd::KeyValue> kvs;
    std::string refusal;
  } cases[] = {
      {"announced in cluster-config",
       {config_kv(kApps, {"10.1.128.0/17"})},
       "remote cluster apps pod CIDR 10.1.128.0/17 (cluster-config) overlaps this cluster's pod "
       "CIDR 10.1.0.0/16 (infra): pod CIDRs must not overlap in the mesh"},
      {"on a node",
       {config_kv(kApps, {}), node_kv("apps-1", "10.0.0.0/8")},
       "remote cluster apps pod CIDR 10.0.0.0/8 (node apps-1) overlaps this cluster's pod CIDR "
       "10.1.0.0/16 (infra): pod CIDRs must not overlap in the mesh"},
  };
  for (const auto& c : cases) {
    RemoteStateTracker t("apps", kInfra);
    EXPECT_TRUE(t.resync(c.kvs).empty()) << c.what;
    EXPECT_TRUE(t.refused()) << c.what;
    EXPECT_EQ(t.refusal(), c.refusal) << c.what;
  }
  // A node that later appears with an overlapping CIDR withdraws the cluster.
  RemoteStateTracker t("apps", kInfra);
  t.resync(apps_state());
  auto c = t.apply({as_put(node_kv("apps-2", "10.1.5.0/24"))});
  EXPECT_FALSE(t.accepted());
  EXPECT_EQ(c.endpoints_removed.size(), 2u);
}

TEST(RemoteState, ExternalRefusalForAnIdUsedByAnotherRemote) {
  RemoteStateTracker t("apps", kInfra);
  t.resync(apps_state());
  auto c = t.set_external_refusal(
      "remote cluster apps has cluster id 2, the same as remote "
      "cluster apps0");
  EXPECT_EQ(c.size(), 6u);
  EXPECT_FALSE(t.accepted());
  c = t.set_external_refusal("");
  EXPECT_TRUE(t.accepted());
  EXPECT_EQ(c.size(), 6u);
}

TEST(RemoteState, IdentitiesOfOtherClustersAndForeignKeysAreIgnored) {
  RemoteStateTracker t("apps", kInfra);
  auto state = apps_state();
  state.push_back(id_kv((1u << 16) | 300, "infra-thing"));  // claims cluster 1's space
  state.push_back(id_kv(6, "reserved"));
  state.push_back(ep_kv("10.2.0.9", (1u << 16) | 300));         // points at another cluster's id
  state.push_back(kv(kvstore::node_key("zeta", "z-1"), "{}"));  // another cluster's key
  state.push_back(kv("cilium/state/cnpstatuses/v2/x", "y"));
  auto c = t.resync(state);
  EXPECT_EQ(t.visible().identities.size(), 2u);
  EXPECT_EQ(t.visible().endpoints.size(), 2u);
  EXPECT_EQ(t.visible().nodes.size(), 1u);
  EXPECT_EQ(t.decode_errors(), 0u);
}

TEST(RemoteState, BadValuesKeepTheLastGoodRecord) {
  RemoteStateTracker t("apps", kInfra);
  t.resync(apps_state());
  auto c = t.apply({put(kvstore::ip_key("apps", "10.2.0.5"), "{not json")});
  EXPECT_TRUE(c.empty());
  EXPECT_EQ(t.decode_errors(), 1u);
  EXPECT_EQ(t.recent_errors().back(), "cilium/state/ip/v1/apps/10.2.0.5: value is not JSON");
  EXPECT_EQ(t.visible().endpoints.at("10.2.0.5").identity, id_of(300));
  // The same on a resync.
  auto state = apps_state();
  state[2].value = R"({"IP":"10.2.0.5"})";
  c = t.resync(state);
  EXPECT_TRUE(c.empty());
  EXPECT_EQ(t.visible().endpoints.at("10.2.0.5").identity, id_of(300));
  EXPECT_EQ(t.recent_errors().back(), "cilium/state/ip/v1/apps/10.2.0.5: field ID is missing");
  // A record whose content contradicts its key is refused too.
  c = t.apply({put(kvstore::ip_key("apps", "10.2.0.8"), ep_kv("10.2.0.9", id_of(1)).value)});
  EXPECT_TRUE(c.empty());
  EXPECT_EQ(t.recent_errors().back(), "cilium/state/ip/v1/apps/10.2.0.8: record names IP 10.2.0.9");
}

TEST(RemoteState, SyncCanaries) {
  RemoteStateTracker t("apps", kInfra);
  auto state = apps_state();
  t.resync(state);
  EXPECT_FALSE(t.remote_synced());
  for (auto kind : kvstore::kSyncedKinds)
    state.push_back(kv(kvstore::synced_key("apps", kind), "t"));
  EXPECT_TRUE(t.resync(state).empty());
  EXPECT_TRUE(t.remote_synced());
}

// ---- publishing ----

LocalState small_local() {
  LocalState s;
  s.nodes.push_back({"infra-1", "", 0, {{"InternalIP", "10.25.11.11"}}, {"10.1.0.0/24"}, {}});
  s.endpoints.push_back({"10.1.0.5", 300, "10.25.11.11", "infra-1", "default", "echo-0"});
  s.identities.push_back({300, {"k8s:app=echo"}});
  s.identities.push_back({2, {"reserved:world"}});
  ServiceRecord svc;
  svc.ns = "default";
  svc.name = "echo";
  svc.backends["10.1.0.5"] = {{"http", {"TCP", 8080}}};
  s.services.push_back(svc);
  return s;
}

TEST(PublishPlan, EncodesTheLocalStateUnderTheClusterPrefix) {
  auto keys = encode_local_state(small_local(), {"infra", 1}, {*Ipv4Prefix::parse("10.1.0.0/16")});
  std::vector<std::string> names;
  for (const auto& [k, v] : keys)
    names.push_back(k);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "cilium/cluster-config/infra", "cilium/state/identities/v1/id/65836",
                       "cilium/state/ip/v1/infra/10.1.0.5", "cilium/state/nodes/v1/infra/infra-1",
                       "cilium/state/services/v1/infra/default/echo"}));
  // Identity 300 becomes 1<<16|300 = 65836, with the cluster label; reserved ones stay home.
  EXPECT_EQ(keys.at("cilium/state/identities/v1/id/65836"),
            R"(["k8s:app=echo","k8s:io.cilium.k8s.policy.cluster=infra"])");
  auto ep = kvstore::decode_endpoint(keys.at("cilium/state/ip/v1/infra/10.1.0.5"));
  EXPECT_EQ(ep->identity, 65836u);
  auto svc = kvstore::decode_service(keys.at("cilium/state/services/v1/infra/default/echo"));
  EXPECT_EQ(svc->cluster, "infra");
  EXPECT_EQ(svc->cluster_id, 1u);
  EXPECT_TRUE(owns_key("cilium/state/identities/v1/id/65836", {"infra", 1}));
  EXPECT_FALSE(owns_key("cilium/state/identities/v1/id/131372", {"infra", 1}));
  EXPECT_FALSE(owns_key("cilium/state/nodes/v1/infra2/x", {"infra", 1}));
}

TEST(PublishPlan, WritesOnlyWhatDiffersInOrderedBatches) {
  DesiredKeys desired;
  desired["cilium/cluster-config/infra"] = "cfg";
  for (int i = 0; i < 300; ++i)
    desired["cilium/state/ip/v1/infra/10.1.1." + std::to_string(i)] = "v";
  desired["cilium/synced/infra/cilium/state/ip/v1"] = "t";
  auto plan = plan_publish(desired, {}, 5, 128);
  EXPECT_EQ(plan.puts, 302u);
  ASSERT_EQ(plan.first.size(), 1u);
  EXPECT_EQ(plan.first[0].key, "cilium/cluster-config/infra");
  ASSERT_EQ(plan.batches.size(), 3u);
  EXPECT_EQ(plan.batches[0].size(), 128u);
  EXPECT_EQ(plan.batches[2].size(), 44u);
  ASSERT_EQ(plan.last.size(), 1u);
  EXPECT_EQ(plan.last[0].key, "cilium/synced/infra/cilium/state/ip/v1");
  EXPECT_EQ(plan.first[0].lease, 5);

  // Written as desired under the same lease: nothing to do.
  WrittenKeys written;
  for (const auto& [k, v] : desired)
    written[k] = {v, 5};
  EXPECT_TRUE(plan_publish(desired, written, 5, 128).empty());
  // One value changed, one key gone, one added.
  auto d2 = desired;
  d2["cilium/state/ip/v1/infra/10.1.1.7"] = "changed";
  d2.erase("cilium/state/ip/v1/infra/10.1.1.8");
  d2["cilium/state/ip/v1/infra/10.1.2.1"] = "new";
  plan = plan_publish(d2, written, 5, 128);
  EXPECT_EQ(plan.puts, 2u);
  EXPECT_EQ(plan.deletes, 1u);
  ASSERT_EQ(plan.batches.size(), 1u);
  // A restart under a new lease rewrites everything (same values, new lease).
  plan = plan_publish(desired, written, 6, 128);
  EXPECT_EQ(plan.puts, desired.size());
}

}  // namespace
}  // namespace netagent::mesh
