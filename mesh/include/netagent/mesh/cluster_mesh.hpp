#pragma once
// ClusterMesh for one agent: publishes this cluster's state into its own etcd and watches every
// remote cluster's etcd, all on the caller's io_context (no threads of its own).
//
// The agent's glue:
//   auto mesh = ClusterMesh::create(io, options, [&](const StateChanges& c) { ... });
//   mesh->start();
//   on every snapshot:      mesh->publish(local_state)       (whole state; diffed inside)
//   when the Secret changes: mesh->set_remotes(remotes)      (no flap for unchanged clusters)
//   on every change:        mesh->view()  -> merge_service(), remote_ipcache(), ...
//                           (or apply the StateChanges themselves, incrementally)
//   for netctl / metrics:   mesh->status() -> to_json(), to_prometheus()
// Change callbacks run on the io_context, after the state they report is in view().
#include <boost/asio/io_context.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "netagent/common/ip.hpp"
#include "netagent/mesh/config.hpp"
#include "netagent/mesh/local_state.hpp"
#include "netagent/mesh/mesh_view.hpp"
#include "netagent/mesh/publisher.hpp"
#include "netagent/mesh/remote_cluster.hpp"
#include "netagent/mesh/status.hpp"

namespace netagent::mesh {

struct MeshOptions {
  ClusterInfo local;                           // from cluster-settings CLUSTER / CLUSTER_ID
  std::vector<Ipv4Prefix> pod_cidrs;           // this cluster's, announced and checked for overlap
  std::optional<etcd::EtcdConfig> local_etcd;  // where to publish; nullopt: watch only
  std::vector<RemoteClusterConfig> remotes;
  PublisherOptions publisher;
  RemoteOptions remote;
};

class ClusterMesh {
 public:
  using ChangeFn = std::function<void(const StateChanges&)>;

  // Validates the configuration (names, ids, endpoints, TLS material) without connecting.
  static Result<std::unique_ptr<ClusterMesh>> create(boost::asio::io_context& io, MeshOptions opts,
                                                     ChangeFn on_change);
  ~ClusterMesh();
  ClusterMesh(const ClusterMesh&) = delete;
  ClusterMesh& operator=(const ClusterMesh&) = delete;

  void start();
  // Stops publishing and watching. The published entries stay until the lease expires (a
  // restarting agent takes them over), unless `withdraw` revokes the lease now.
  void stop(bool withdraw = false);

  void publish(const LocalState& state);
  // The remote clusters changed (the Secret was edited): clusters gone are withdrawn (their
  // state reported removed), new ones start, and ones whose configuration changed reconnect
  // keeping their state. Nothing changes if the list is invalid.
  Status set_remotes(std::vector<RemoteClusterConfig> remotes);

  // The accepted remote clusters and their state, live: the states follow every later change
  // (no copy; read them on the io_context's thread, e.g. inside the change callback).
  MeshView view() const;
  // The same frozen: states copied once per change, safe to keep and compare later.
  MeshView snapshot_view() const;
  MeshStatus status() const;
  const ClusterInfo& local() const { return opts_.local; }
  StatePublisher* publisher() { return publisher_.get(); }

 private:
  ClusterMesh(boost::asio::io_context& io, MeshOptions opts, ChangeFn on_change);
  Result<std::unique_ptr<RemoteCluster>> make_remote(RemoteClusterConfig cfg,
                                                     std::shared_ptr<RemoteStateTracker> tracker);
  void on_remote_change(StateChanges&& c);
  // Two remote clusters announcing the same id: the first by name keeps it.
  void check_id_conflicts();

  boost::asio::io_context& io_;
  MeshOptions opts_;
  ChangeFn on_change_;
  std::shared_ptr<StatePublisher> publisher_;
  std::map<std::string, std::unique_ptr<RemoteCluster>> remotes_;
  bool started_ = false;
  bool in_conflict_check_ = false;
};

// Checks remote cluster configurations against this cluster (valid, unique names other than
// ours).
Status validate_remotes(const ClusterInfo& local, const std::vector<RemoteClusterConfig>& remotes);

}  // namespace netagent::mesh
