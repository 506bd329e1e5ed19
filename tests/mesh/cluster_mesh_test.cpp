// Two "clusters" meshed through two real etcd servers with mutual TLS, inside a test network
// namespace: each ClusterMesh publishes into its own etcd and watches the other's. Publish,
// watch and delete; lease expiry of a publisher that died; a restarting publisher that takes its
// lease over and rewrites only what changed; stale marking while the remote etcd is down and a
// resync without flap when it comes back; refusal on a cluster id conflict and on overlapping
// pod CIDRs; reconfiguration without flap.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "netagent/mesh/cluster_mesh.hpp"
#include "netagent/mesh/merge.hpp"
#include "netagent/testing/etcd_fixture.hpp"
#include "netagent/testing/privileged.hpp"

namespace netagent::mesh {
namespace {

using namespace std::chrono_literals;
using testing::EnterNetns;
using testing::EtcdServer;
using testing::run_for;
using testing::run_until;
using testing::TestPki;

struct Recorder {
  std::vector<StateChanges> changes;
  ClusterMesh::ChangeFn fn() {
    return [this](const StateChanges& c) { changes.push_back(c); };
  }
  size_t total() const {
    size_t n = 0;
    for (const auto& c : changes)
      n += c.size();
    return n;
  }
};

// 10.1.0.10, 10.1.0.11, ... (200 per /24).
std::string endpoint_ip(int i) {
  return "10.1." + std::to_string(i / 200) + "." + std::to_string(10 + i % 200);
}

LocalState infra_state(int endpoints = 3) {
  LocalState s;
  s.nodes.push_back({"infra-1", "", 0, {{"InternalIP", "10.25.11.11"}}, {"10.1.0.0/24"}, {}});
  for (int i = 0; i < endpoints; ++i) {
    s.endpoints.push_back(
        {endpoint_ip(i), 300, "10.25.11.11", "infra-1", "default", "echo-" + std::to_string(i)});
  }
  s.identities.push_back({300, {"k8s:app=echo", "k8s:io.kubernetes.pod.namespace=default"}});
  ServiceRecord echo;
  echo.ns = "default";
  echo.name = "echo";
  echo.frontends["10.96.0.10"] = {{"http", {"TCP", 80}}};
  for (int i = 0; i < endpoints; ++i) {
    echo.backends[endpoint_ip(i)] = {{"http", {"TCP", 8080}}};
  }
  s.services.push_back(echo);
  return s;
}

class ClusterMeshTest : public testing::EtcdNetnsTest {
 protected:
  ClusterMeshTest() : EtcdNetnsTest("mesh") {}

  static void SetUpTestSuite() {
    make_pki({{"etcd-infra", "127.0.0.11"}, {"etcd-apps", "127.0.0.12"}});
  }

  void SetUp() override {
    EtcdNetnsTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    etcd_infra_ = start_etcd("etcd-infra", "127.0.0.11");
    etcd_apps_ = start_etcd("etcd-apps", "127.0.0.12");
    state_dir_ = std::make_unique<netagent::testing::TempDir>("mesh-state");
    for (auto* e : {etcd_infra_.get(), etcd_apps_.get()}) {
      auto c = etcd::EtcdClient::create(io_, etcd_config(e->url(), "probe"));
      ASSERT_TRUE(c.ok());
      ASSERT_TRUE(testing::wait_ready(io_, *c)) << e->log();
      (*c)->shutdown();
    }
  }

  void TearDown() override {
    infra_.reset();
    apps_.reset();
    run_for(io_, 20ms);
    etcd_infra_.reset();
    etcd_apps_.reset();
    EtcdNetnsTest::TearDown();
  }

  etcd::EtcdConfig etcd_config(const std::string& url, const std::string& name,
                               const std::string& ca = "ca") {
    etcd::EtcdConfig c;
    c.name = "etcd of cluster " + name;
    c.endpoints = {url};
    c.tls = pki_->client_tls(ca, "client");
    c.connect_timeout = 1s;
    c.request_timeout = 2s;
    return c;
  }

  MeshOptions options(ClusterInfo self, const char* pod_cidr, EtcdServer& own,
                      const std::string& remote, EtcdServer& theirs) {
    MeshOptions o;
    o.local = self;
    o.pod_cidrs = {*Ipv4Prefix::parse(pod_cidr)};
    o.local_etcd = etcd_config(own.url(), self.name);
    o.remotes.push_back({remote, etcd_config(theirs.url(), remote)});
    o.publisher.lease_ttl = 2s;
    o.publisher.retry_min = 50ms;
    o.publisher.retry_max = 300ms;
    o.publisher.lease_file = state_dir_->path() + "/" + self.name + ".lease";
    o.remote.retry_min = 50ms;
    o.remote.retry_max = 300ms;
    return o;
  }

  std::unique_ptr<ClusterMesh> make(MeshOptions o, Recorder& rec) {
    auto m = ClusterMesh::create(io_, std::move(o), rec.fn());
    EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message);
    return m.ok() ? std::move(*m) : nullptr;
  }

  void make_both() {
    infra_ =
        make(options({"infra", 1}, "10.1.0.0/16", *etcd_infra_, "apps", *etcd_apps_), rec_infra_);
    apps_ =
        make(options({"apps", 2}, "10.2.0.0/16", *etcd_apps_, "infra", *etcd_infra_), rec_apps_);
    infra_->start();
    apps_->start();
  }

  // The state `mesh` holds for remote `cluster` (empty when not in view).
  ClusterState remote_of(ClusterMesh& mesh, const std::string& cluster) {
    auto v = mesh.view();
    const auto* c = v.find(cluster);
    return c && c->state ? *c->state : ClusterState{};
  }
  RemoteClusterStatus remote_status(ClusterMesh& mesh, const std::string& cluster) {
    for (auto& r : mesh.status().remotes) {
      if (r.name == cluster) return r;
    }
    return {};
  }

  std::unique_ptr<EtcdServer> etcd_infra_, etcd_apps_;
  std::unique_ptr<netagent::testing::TempDir> state_dir_;
  Recorder rec_infra_, rec_apps_;
  std::unique_ptr<ClusterMesh> infra_, apps_;
};

TEST_F(ClusterMeshTest, PublishWatchAndDeleteAcrossTwoClusters) {
  make_both();
  infra_->publish(infra_state(3));
  LocalState apps_local;
  apps_local.nodes.push_back(
      {"apps-1", "", 0, {{"InternalIP", "10.25.11.21"}}, {"10.2.0.0/24"}, {}});
  apps_->publish(apps_local);

  ASSERT_TRUE(run_until(
      io_, [&] { return remote_of(*apps_, "infra").endpoints.size() == 3; }, 5s))
      << to_json(apps_->status()).dump(2);
  auto infra_seen = remote_of(*apps_, "infra");
  EXPECT_EQ(infra_seen.nodes.at("infra-1").primary_ip(), "10.25.11.11");
  EXPECT_EQ(infra_seen.endpoints.at("10.1.0.10").identity, (1u << 16) | 300);
  EXPECT_EQ(infra_seen.identities.at((1u << 16) | 300).labels,
            (std::vector<std::string>{"k8s:app=echo", "k8s:io.cilium.k8s.policy.cluster=infra",
                                      "k8s:io.kubernetes.pod.namespace=default"}));
  EXPECT_EQ(infra_seen.services.at("default/echo").backends.size(), 3u);
  ASSERT_TRUE(run_until(
      io_, [&] { return remote_of(*infra_, "apps").nodes.size() == 1; }, 5s));

  auto st = remote_status(*apps_, "infra");
  EXPECT_TRUE(st.connected);
  EXPECT_TRUE(st.ready);
  EXPECT_FALSE(st.stale);
  EXPECT_TRUE(st.accepted);
  EXPECT_EQ(st.cluster_id, 1u);
  EXPECT_EQ(st.endpoints_count, 3u);
  EXPECT_EQ(st.identities, 1u);
  EXPECT_EQ(st.services, 1u);
  EXPECT_TRUE(run_until(
      io_, [&] { return remote_status(*apps_, "infra").remote_synced; }, 3s));
  EXPECT_TRUE(run_until(
      io_, [&] { return infra_->status().publisher.synced; }, 3s));

  // apps' own global service "echo" (scaled to zero there) balances to infra's backends.
  LocalService echo;
  echo.ns = "default";
  echo.name = "echo";
  echo.spec = {true, true, Affinity::Local};
  auto merged = merge_service(echo, apps_->local(), apps_->view());
  ASSERT_EQ(merged.active_backends().size(), 3u);
  EXPECT_EQ(merged.active_backends()[0].cluster, "infra");
  EXPECT_EQ(remote_ipcache(apps_->view()).size(), 1u + 3u + 0u)
      << "infra's node and three endpoints";

  // Scale infra to one endpoint and drop the service: apps sees exactly that.
  rec_apps_.changes.clear();
  auto smaller = infra_state(1);
  smaller.services.clear();
  infra_->publish(smaller);
  ASSERT_TRUE(run_until(
      io_, [&] { return remote_of(*apps_, "infra").endpoints.size() == 1; }, 5s));
  ASSERT_TRUE(run_until(
      io_, [&] { return remote_of(*apps_, "infra").services.empty(); }, 5s));
  StateChanges all;
  for (auto c : rec_apps_.changes)
    all.append(std::move(c));
  EXPECT_EQ(all.endpoints_removed.size(), 2u);
  EXPECT_EQ(all.services_removed, std::vector<std::string>{"default/echo"});
  EXPECT_TRUE(all.endpoints_upserted.empty());
  EXPECT_TRUE(all.nodes_upserted.empty());
  EXPECT_TRUE(all.identities_upserted.empty());
  // Only the changed keys were written: 2 deletes (endpoints) + 1 delete (service).
  ASSERT_TRUE(run_until(
      io_, [&] { return infra_->status().publisher.synced; }, 3s));
  EXPECT_EQ(infra_->status().publisher.deletes, 3u);
}

TEST_F(ClusterMeshTest, OnePublisherPerClusterByLockAndTakeoverOnRevoke) {
  // Two agents of infra (infra-1, infra-2) with the same state; apps watches infra.
  auto opts = [&](const std::string& node) {
    auto o = options({"infra", 1}, "10.1.0.0/16", *etcd_infra_, "apps", *etcd_apps_);
    o.publisher.lock_holder = node;
    o.publisher.lock_retry = 200ms;
    o.publisher.lease_file = state_dir_->path() + "/" + node + ".lease";
    return o;
  };
  Recorder rec2;
  infra_ = make(opts("infra-1"), rec_infra_);
  auto infra2 = make(opts("infra-2"), rec2);
  apps_ = make(options({"apps", 2}, "10.2.0.0/16", *etcd_apps_, "infra", *etcd_infra_), rec_apps_);
  infra_->start();
  apps_->start();
  infra_->publish(infra_state(3));
  ASSERT_TRUE(run_until(
      io_, [&] { return infra_->status().publisher.role == PublisherRole::Leader; }, 5s))
      << to_json(infra_->status()).dump(2);
  infra2->start();
  infra2->publish(infra_state(3));
  ASSERT_TRUE(run_until(
      io_, [&] { return infra2->status().publisher.role == PublisherRole::Standby; }, 5s))
      << to_json(infra2->status()).dump(2);
  ASSERT_TRUE(run_until(
      io_, [&] { return remote_of(*apps_, "infra").endpoints.size() == 3; }, 5s));
  EXPECT_EQ(infra2->status().publisher.holder, "infra-1");
  EXPECT_EQ(infra2->status().publisher.puts, 0u);
  // A change published by both: only the leader writes it.
  infra_->publish(infra_state(4));
  infra2->publish(infra_state(4));
  ASSERT_TRUE(run_until(
      io_, [&] { return remote_of(*apps_, "infra").endpoints.size() == 4; }, 5s));
  run_for(io_, 300ms);
  EXPECT_EQ(infra2->status().publisher.puts, 0u);
  auto j = to_json(infra2->status());
  EXPECT_EQ(j["publisher"]["role"], "standby");
  EXPECT_EQ(j["publisher"]["lockKey"], "cilium/.publisher/infra");
  EXPECT_NE(to_prometheus(infra_->status())
                .find("netagent_clustermesh_publisher_leader{"
                      "source_cluster=\"infra\"} 1"),
            std::string::npos);

  // Decommissioned (lease revoked): the lock and the keys go at once and infra-2 takes over
  // within the lock retry; apps sees infra's state complete again.
  const auto t0 = std::chrono::steady_clock::now();
  infra_->stop(/*withdraw=*/true);
  ASSERT_TRUE(run_until(
      io_, [&] { return infra2->status().publisher.role == PublisherRole::Leader; }, 3s))
      << to_json(infra2->status()).dump(2);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);
  ASSERT_TRUE(run_until(
      io_,
      [&] {
        auto st = remote_of(*apps_, "infra");
        return st.endpoints.size() == 4 && st.services.size() == 1 && st.nodes.size() == 1;
      },
      3s))
      << to_json(apps_->status()).dump(2);
  EXPECT_EQ(infra2->status().publisher.holder, "infra-2");
  EXPECT_EQ(infra2->status().publisher.acquisitions, 1u);
  infra2->stop();
}

TEST_F(ClusterMeshTest, APublisherThatLostTheLockStepsDownAtItsNextWrite) {
  auto opts = [&](const std::string& node) {
    auto o = options({"infra", 1}, "10.1.0.0/16", *etcd_infra_, "apps", *etcd_apps_);
    o.publisher.lock_holder = node;
    o.publisher.lease_file = state_dir_->path() + "/" + node + ".lease";
    return o;
  };
  Recorder rec2;
  infra_ = make(opts("infra-1"), rec_infra_);
  auto infra2 = make(opts("infra-2"), rec2);
  apps_ = make(options({"apps", 2}, "10.2.0.0/16", *etcd_apps_, "infra", *etcd_infra_), rec_apps_);
  infra_->start();
  apps_->start();
  infra_->publish(infra_state(3));
  ASSERT_TRUE(run_until(
      io_, [&] { return infra_->status().publisher.synced; }, 5s));
  infra2->start();
  infra2->publish(infra_state(3));
  ASSERT_TRUE(run_until(
      io_, [&] { return infra2->status().publisher.role == PublisherRole::Standby; }, 5s));
  // An operator deletes the lock: infra-2 (watching it) takes it and rewrites the keys under its
  // lease; infra-1 still believes it leads until its next write is refused by the fence.
  auto c = etcd::EtcdClient::create(io_, etcd_config(etcd_infra_->url(), "infra"));
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(testing::run_co(io_, (*c)->del("cilium/.publisher/infra")).ok());
  ASSERT_TRUE(run_until(
      io_,
      [&] {
        auto p = infra2->status().publisher;
        return p.role == PublisherRole::Leader && p.synced;
      },
      3s))
      << to_json(infra2->status()).dump(2);
  infra_->publish(infra_state(5));
  ASSERT_TRUE(run_until(
      io_,
      [&] {
        auto p = infra_->status().publisher;
        return p.role == PublisherRole::Standby && p.holder == "infra-2";
      },
      3s))
      << to_json(infra_->status()).dump(2);
  EXPECT_EQ(infra_->status().publisher.lock_losses, 1u);
  EXPECT_EQ(infra_->status().publisher.holder, "infra-2");
  // Nothing of infra-1's refused write reached etcd; the leader's does.
  run_for(io_, 300ms);
  EXPECT_EQ(remote_of(*apps_, "infra").endpoints.size(), 3u);
  infra2->publish(infra_state(5));
  EXPECT_TRUE(run_until(
      io_, [&] { return remote_of(*apps_, "infra").endpoints.size() == 5; }, 3s));
  auto keys = testing::run_co(io_, (*c)->range_all("cilium/"));
  ASSERT_TRUE(keys.ok());
  for (const auto& kv : keys->kvs)
    EXPECT_EQ(kv.lease, infra2->status().publisher.lease_id) << kv.key;
  (*c)->shutdown();
  infra2->stop();
}

TEST_F(ClusterMeshTest, EntriesOfAPublisherThatDiedExpireWithItsLease) {
  make_both();
  infra_->publish(infra_state(3));
  ASSERT_TRUE(run_until(
      io_, [&] { return remote_of(*apps_, "infra").endpoints.size() == 3; }, 5s));
  // The agent dies: no cleanup, no more keep-alives.
  infra_->stop();
  infra_.reset();
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(run_until(
      io_, [&] { return remote_of(*apps_, "infra").endpoints.empty(); }, 6s))
      << to_json(apps_->status()).dump(2);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 500ms) << "not before the lease ran out";
  auto seen = remote_of(*apps_, "infra");
  EXPECT_TRUE(seen.nodes.empty());
  EXPECT_TRUE(seen.services.empty());
  EXPECT_TRUE(seen.identities.empty());
}

TEST_F(ClusterMeshTest, RestartingPublisherRewritesOnlyWhatChanged) {
  make_both();
  infra_->publish(infra_state(3));
  ASSERT_TRUE(run_until(
      io_, [&] { return remote_of(*apps_, "infra").endpoints.size() == 3; }, 5s));
  ASSERT_TRUE(run_until(
      io_, [&] { return infra_->status().publisher.synced; }, 3s));
  const int64_t lease = infra_->status().publisher.lease_id;
  infra_->stop();
  infra_.reset();
  rec_apps_.changes.clear();

  // Restart with a state where one endpoint is gone and one is new.
  Recorder rec;
  infra_ = make(options({"infra", 1}, "10.1.0.0/16", *etcd_infra_, "apps", *etcd_apps_), rec);
  infra_->start();
  auto next = infra_state(3);
  next.endpoints.erase(next.endpoints.begin() + 1);  // 10.1.0.11 gone
  next.endpoints.push_back({"10.1.0.99", 300, "10.25.11.11", "infra-1", "default", "echo-9"});
  next.services.clear();
  infra_->publish(next);
  ASSERT_TRUE(run_until(
      io_, [&] { return infra_->status().publisher.synced; }, 5s));
  auto pub = infra_->status().publisher;
  EXPECT_EQ(pub.lease_id, lease) << "took the remembered lease over";
  EXPECT_EQ(pub.puts, 1u) << "only the new endpoint";
  EXPECT_EQ(pub.deletes, 2u) << "the endpoint and the service no longer true";
  ASSERT_TRUE(run_until(
      io_, [&] { return remote_of(*apps_, "infra").endpoints.contains("10.1.0.99"); }, 5s));
  run_for(io_, 200ms);
  StateChanges all;
  for (auto c : rec_apps_.changes)
    all.append(std::move(c));
  EXPECT_EQ(all.endpoints_upserted.size(), 1u);
  EXPECT_EQ(all.endpoints_removed, std::vector<std::string>{"10.1.0.11"});
  EXPECT_EQ(all.services_removed, std::vector<std::string>{"default/echo"});
  EXPECT_TRUE(all.nodes_upserted.empty()) << "unchanged records do not flap";
  EXPECT_TRUE(all.nodes_removed.empty());
}

TEST_F(ClusterMeshTest, RestartWithoutTheLeaseRewritesButRemotesSeeNoFlap) {
  make_both();
  infra_->publish(infra_state(3));
  ASSERT_TRUE(run_until(
      io_, [&] { return remote_of(*apps_, "infra").endpoints.size() == 3; }, 5s));
  infra_->stop();
  infra_.reset();
  std::remove((state_dir_->path() + "/infra.lease").c_str());
  rec_apps_.changes.clear();
  Recorder rec;
  infra_ = make(options({"infra", 1}, "10.1.0.0/16", *etcd_infra_, "apps", *etcd_apps_), rec);
  infra_->start();
  infra_->publish(infra_state(3));
  ASSERT_TRUE(run_until(
      io_, [&] { return infra_->status().publisher.synced; }, 5s));
  EXPECT_GT(infra_->status().publisher.puts, 5u) << "every key again, under the new lease";
  // The old lease expires: the keys are under the new one now, so nothing disappears.
  run_for(io_, 2500ms);
  EXPECT_EQ(rec_apps_.total(), 0u);
  EXPECT_EQ(remote_of(*apps_, "infra").endpoints.size(), 3u);
}

TEST_F(ClusterMeshTest, StaleWhileTheRemoteEtcdIsDownThenResyncWithoutFlap) {
  make_both();
  infra_->publish(infra_state(3));
  ASSERT_TRUE(run_until(
      io_, [&] { return remote_of(*apps_, "infra").endpoints.size() == 3; }, 5s));
  rec_apps_.changes.clear();

  etcd_infra_->stop();
  ASSERT_TRUE(run_until(
      io_, [&] { return remote_status(*apps_, "infra").stale; }, 3s));
  auto st = remote_status(*apps_, "infra");
  EXPECT_FALSE(st.connected);
  EXPECT_NE(st.last_error.find("127.0.0.11"), std::string::npos) << st.last_error;
  // The last known state stays in use, marked stale.
  auto v = apps_->view();
  ASSERT_NE(v.find("infra"), nullptr);
  EXPECT_TRUE(v.find("infra")->stale);
  EXPECT_EQ(v.find("infra")->state->endpoints.size(), 3u);
  // Meanwhile infra changes one endpoint (its publisher retries until etcd is back).
  auto changed = infra_state(3);
  changed.endpoints[2].identity = 301;
  changed.identities.push_back({301, {"k8s:app=other"}});
  infra_->publish(changed);
  run_for(io_, 300ms);
  EXPECT_EQ(rec_apps_.total(), 0u) << "nothing withdrawn while unreachable";

  etcd_infra_->start();
  ASSERT_TRUE(run_until(
      io_, [&] { return !remote_status(*apps_, "infra").stale; }, 8s))
      << to_json(apps_->status()).dump(2);
  ASSERT_TRUE(run_until(
      io_,
      [&] {
        return remote_of(*apps_, "infra").endpoints.at("10.1.0.12").identity == ((1u << 16) | 301);
      },
      8s));
  run_for(io_, 200ms);
  StateChanges all;
  for (auto c : rec_apps_.changes)
    all.append(std::move(c));
  EXPECT_EQ(all.endpoints_upserted.size(), 1u) << "only the endpoint that changed";
  EXPECT_EQ(all.identities_upserted.size(), 1u);
  EXPECT_TRUE(all.endpoints_removed.empty()) << "no gap";
  EXPECT_TRUE(all.nodes_removed.empty());
  EXPECT_TRUE(all.services_removed.empty());
  EXPECT_GE(remote_status(*apps_, "infra").resyncs, 2u);
}

TEST_F(ClusterMeshTest, RefusesAClusterWithOurIdAndSaysWhy) {
  infra_ =
      make(options({"infra", 1}, "10.1.0.0/16", *etcd_infra_, "apps", *etcd_apps_), rec_infra_);
  apps_ = make(options({"apps", 1}, "10.2.0.0/16", *etcd_apps_, "infra", *etcd_infra_), rec_apps_);
  infra_->start();
  apps_->start();
  infra_->publish(infra_state(2));
  apps_->publish(LocalState{});
  const std::string want =
      "remote cluster apps has cluster id 1, the same as this cluster (infra): cluster ids must "
      "be unique in the mesh";
  ASSERT_TRUE(run_until(
      io_, [&] { return remote_status(*infra_, "apps").refusal == want; }, 5s))
      << to_json(infra_->status()).dump(2);
  EXPECT_FALSE(remote_status(*infra_, "apps").accepted);
  EXPECT_EQ(infra_->view().find("apps"), nullptr);
  const std::string theirs =
      "remote cluster infra has cluster id 1, the same as this cluster (apps): cluster ids must "
      "be unique in the mesh";
  EXPECT_TRUE(run_until(
      io_, [&] { return remote_status(*apps_, "infra").refusal == theirs; }, 5s))
      << remote_status(*apps_, "infra").refusal;
  run_for(io_, 200ms);
  EXPECT_EQ(rec_apps_.total(), 0u) << "nothing of the refused cluster was used";
  // Visible in status JSON and metrics.
  auto j = to_json(infra_->status());
  EXPECT_EQ(j["remoteClusters"][0]["refusal"], want);
  EXPECT_NE(to_prometheus(infra_->status())
                .find("netagent_clustermesh_remote_cluster_refused{source_cluster=\"infra\","
                      "target_cluster=\"apps\"} 1"),
            std::string::npos);
}

TEST_F(ClusterMeshTest, RefusesOverlappingPodCidrs) {
  infra_ =
      make(options({"infra", 1}, "10.1.0.0/16", *etcd_infra_, "apps", *etcd_apps_), rec_infra_);
  apps_ =
      make(options({"apps", 2}, "10.1.128.0/17", *etcd_apps_, "infra", *etcd_infra_), rec_apps_);
  infra_->start();
  apps_->start();
  infra_->publish(infra_state(2));
  apps_->publish(LocalState{});
  const std::string want =
      "remote cluster apps pod CIDR 10.1.128.0/17 (cluster-config) overlaps this cluster's pod "
      "CIDR 10.1.0.0/16 (infra): pod CIDRs must not overlap in the mesh";
  ASSERT_TRUE(run_until(
      io_, [&] { return remote_status(*infra_, "apps").refusal == want; }, 5s))
      << to_json(infra_->status()).dump(2);
  ASSERT_TRUE(run_until(
      io_,
      [&] { return remote_status(*apps_, "infra").refusal.find("overlaps") != std::string::npos; },
      5s));
  EXPECT_EQ(apps_->view().find("infra"), nullptr);
  EXPECT_EQ(rec_apps_.total(), 0u);
}

TEST_F(ClusterMeshTest, ReconfiguringARemoteKeepsItsStateWithoutFlap) {
  make_both();
  infra_->publish(infra_state(3));
  ASSERT_TRUE(run_until(
      io_, [&] { return remote_of(*apps_, "infra").endpoints.size() == 3; }, 5s));
  rec_apps_.changes.clear();
  // The Secret changes: a dead endpoint comes first now.
  auto cfg = etcd_config(etcd_infra_->url(), "infra");
  cfg.endpoints.insert(cfg.endpoints.begin(), "https://127.0.0.19:2379");
  ASSERT_TRUE(apps_->set_remotes({{"infra", cfg}}).ok());
  ASSERT_TRUE(run_until(
      io_, [&] { return remote_status(*apps_, "infra").connected; }, 5s));
  run_for(io_, 300ms);
  EXPECT_EQ(rec_apps_.total(), 0u);
  EXPECT_EQ(remote_status(*apps_, "infra").current_endpoint, etcd_infra_->url());
  // A bad configuration is refused and changes nothing.
  auto bad = cfg;
  bad.endpoints = {"ftp://x"};
  EXPECT_FALSE(apps_->set_remotes({{"infra", bad}}).ok());
  EXPECT_EQ(remote_of(*apps_, "infra").endpoints.size(), 3u);
  // Removing the cluster from the mesh withdraws its state.
  ASSERT_TRUE(apps_->set_remotes({}).ok());
  EXPECT_EQ(rec_apps_.total(), 3u + 1u + 1u + 1u);
  EXPECT_EQ(apps_->view().clusters.size(), 0u);
}

TEST_F(ClusterMeshTest, WrongTrustedCaShowsInStatus) {
  MeshOptions o = options({"apps", 2}, "10.2.0.0/16", *etcd_apps_, "infra", *etcd_infra_);
  o.remotes[0].etcd = etcd_config(etcd_infra_->url(), "infra", "other-ca");
  apps_ = make(std::move(o), rec_apps_);
  apps_->start();
  ASSERT_TRUE(run_until(
      io_, [&] { return !remote_status(*apps_, "infra").last_error.empty(); }, 5s));
  auto st = remote_status(*apps_, "infra");
  EXPECT_FALSE(st.connected);
  EXPECT_FALSE(st.ready);
  EXPECT_NE(st.last_error.find("https://127.0.0.11:2379: TLS handshake: server certificate "
                               "rejected: unable to get local issuer certificate"),
            std::string::npos)
      << st.last_error;
}

}  // namespace
}  // namespace netagent::mesh

namespace netagent::mesh {
namespace {

TEST_F(ClusterMeshTest, TransactionSizeAdaptsToTheServersLimit) {
  // Configured for 1,000 ops per txn against etcd's default --max-txn-ops of 128.
  auto o = options({"infra", 1}, "10.1.0.0/16", *etcd_infra_, "apps", *etcd_apps_);
  o.publisher.max_txn_ops = 1000;
  infra_ = make(std::move(o), rec_infra_);
  apps_ = make(options({"apps", 2}, "10.2.0.0/16", *etcd_apps_, "infra", *etcd_infra_), rec_apps_);
  infra_->start();
  apps_->start();
  infra_->publish(infra_state(250));
  ASSERT_TRUE(run_until(
      io_, [&] { return remote_of(*apps_, "infra").endpoints.size() == 250; }, 10s))
      << to_json(infra_->status()).dump(2) << to_json(apps_->status()).dump(2);
  EXPECT_GE(infra_->status().publisher.errors, 1u);
  EXPECT_TRUE(run_until(
      io_, [&] { return infra_->status().publisher.synced; }, 3s));
}

}  // namespace
}  // namespace netagent::mesh
