#pragma once
// The ClusterMesh part of the agent.
//
// Configuration (as Cilium's): this cluster's name and id from cluster-settings (CLUSTER,
// CLUSTER_ID); the remote clusters from the kube-system/cilium-clustermesh Secret (a key per
// cluster with its etcd configuration, and the TLS material in <cluster>.etcd-client-*.{crt,key}
// keys that the configuration's file names refer to; read from the Secret in memory, never
// written to disk). This cluster's own etcd, where the agent publishes, is
// --clustermesh-etcd-config FILE (Cilium's kvstore etcd.config format, files on disk) when given,
// else the Secret's entry named after this cluster; with neither the agent only watches.
//
// Apply order: after LB IPAM and before the LB, so that the remote backends of a snapshot feed
// the LB in the same apply. Changes from remote clusters arrive between snapshots; they are
// merged (coalesced per turn of the control loop) and the LB (and policy, when present) is
// re-applied with the current snapshot through Agent::request_apply.
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "netagent/mesh/global_backends.hpp"
#include "netagent/agent/agent.hpp"
#include "netagent/agent/reconciler.hpp"
#include "netagent/mesh/cluster_mesh.hpp"
#include "netagent/policy/compiler.hpp"
#include "netagent/policy/remote_source.hpp"
#include "netagent/lb/service_reconciler.hpp"

namespace netagent::mesh {

// What the policy part consumes from ClusterMesh (policy::RemoteSource): the remote clusters'
// identities and the remote endpoints' and nodes' addresses. Remote state that changed makes the
// agent re-apply the part named "policy" (Agent::request_apply).
using RemotePolicySource = policy::RemoteSource;

class MeshReconciler : public agent::Reconciler, public RemotePolicySource {
 public:
  // `lb` may be null (no global services then).
  MeshReconciler(agent::Agent& agent, lb::ServiceReconciler* lb);
  ~MeshReconciler() override;

  std::string name() const override { return "clustermesh"; }
  Status start() override;
  Status apply(const k8s::Snapshot& snapshot) override;
  nlohmann::json status() const override;
  void register_api(api::Router& router) override;
  void register_metrics(metrics::Registry& registry) override;
  void stop() override;

  std::vector<policy::RemoteIdentity> remote_identities() const override;
  std::vector<policy::RemoteAddress> remote_addresses() const override;
  uint64_t remote_generation() const override { return remote_generation_; }

  // For tests and netctl: the mesh, if configured.
  const mesh::ClusterMesh* mesh() const { return mesh_.get(); }

 private:
  struct MeshKey {
    mesh::ClusterInfo local;
    std::vector<Ipv4Prefix> pod_cidrs;
    std::optional<etcd::EtcdConfig> local_etcd;
    bool operator==(const MeshKey&) const = default;
  };
  Status configure(const k8s::Snapshot& snap);
  mesh::LocalState local_state(const k8s::Snapshot& snap);
  void on_remote_change(const mesh::StateChanges& c);
  // Every global service, or only those named in `only`.
  void merge_global_services(bool reapply, const std::set<std::string>* only = nullptr);
  nlohmann::json status_json() const;
  // Every second: logs remote clusters that connect, go stale, resync or are refused.
  void schedule_watchdog();
  void log_transitions();

  agent::Agent& agent_;
  lb::ServiceReconciler* lb_;
  std::unique_ptr<mesh::ClusterMesh> mesh_;
  std::optional<MeshKey> key_;
  std::optional<etcd::EtcdConfig> flag_etcd_;  // --clustermesh-etcd-config, read at start
  std::string config_error_;                   // why the last configuration was not used
  LocalGlobalServices local_services_;
  GlobalBackends global_;
  bool merge_pending_ = false;
  std::set<std::string> pending_services_;  // named by remote changes since the last merge
  uint64_t remote_generation_ = 0;
  uint64_t remote_changes_ = 0;
  uint64_t merges_ = 0;
  std::chrono::steady_clock::time_point last_change_at_{};
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  metrics::Histogram* merge_seconds_ = nullptr;
  boost::asio::steady_timer watchdog_;
  std::map<std::string, std::string> remote_states_;  // last logged, by remote cluster
};

}  // namespace netagent::mesh
