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
// What it learns from the remote clusters goes into the desired-state store: the backends of the
// global services (lb::ExtraBackends, read by the LB) and the remote identities and addresses
// (policy::RemoteWorkloads, read by policy). Registered before the LB and policy, so that one
// pass carries a snapshot's remote backends into the LB. Changes from remote clusters arrive
// between snapshots; they are merged (coalesced per turn of the control loop) and published,
// and the runtime re-applies the readers.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "netagent/lb/service_model.hpp"
#include "netagent/mesh/cluster_mesh.hpp"
#include "netagent/mesh/global_backends.hpp"
#include "netagent/policy/compiler.hpp"
#include "netagent/policy/remote_workloads.hpp"
#include "netagent/store/reconciler.hpp"

namespace netagent::mesh {

class MeshReconciler : public store::Reconciler {
 public:
  struct Options {
    std::string node_name;  // this agent's name as the holder of the cluster's publisher lock
    std::string state_dir;  // where the lease id is remembered across restarts
    std::chrono::seconds lease_ttl{60};  // a dead agent's entries expire after this
    std::string etcd_config_file;        // this cluster's etcd (Cilium etcd.config); "" = Secret
  };
  MeshReconciler(boost::asio::io_context& io, store::Store& store, Options options);
  ~MeshReconciler() override;

  std::string name() const override { return "clustermesh"; }
  std::vector<store::Topic> outputs() const override {
    return {store::topic<lb::ExtraBackends>(), store::topic<policy::RemoteWorkloads>()};
  }
  Status start() override;
  Status apply(const store::Store& store) override;
  nlohmann::json status() const override;
  void register_api(api::Router& router) override;
  void register_metrics(metrics::Registry& registry) override;
  void stop() override;

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
  // Every global service, or only those named in `only`; publishes the LB's extra backends
  // when they changed.
  void merge_global_services(const std::set<std::string>* only = nullptr);
  // The remote identities and addresses policy uses, published when they changed.
  void publish_workloads();
  nlohmann::json status_json() const;
  // Every second: logs remote clusters that connect, go stale, resync or are refused.
  void schedule_watchdog();
  void log_transitions();

  boost::asio::io_context& io_;
  store::Store& store_;
  Options opts_;
  std::unique_ptr<mesh::ClusterMesh> mesh_;
  std::optional<MeshKey> key_;
  std::optional<etcd::EtcdConfig> flag_etcd_;  // --clustermesh-etcd-config, read at start
  std::string config_error_;                   // why the last configuration was not used
  LocalGlobalServices local_services_;
  GlobalBackends global_;
  bool flush_pending_ = false;              // a merge/publish of remote changes is posted
  bool workloads_pending_ = false;          // remote endpoints, identities or nodes changed
  std::set<std::string> pending_services_;  // named by remote changes since the last merge
  std::shared_ptr<const policy::RemoteWorkloads> workloads_;  // as last published
  uint64_t remote_changes_ = 0;
  uint64_t merges_ = 0;
  std::chrono::steady_clock::time_point last_change_at_{};
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  metrics::Histogram* merge_seconds_ = nullptr;
  boost::asio::steady_timer watchdog_;
  std::map<std::string, std::string> remote_states_;  // last logged, by remote cluster
};

}  // namespace netagent::mesh
