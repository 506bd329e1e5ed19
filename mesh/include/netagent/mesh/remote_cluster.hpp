#pragma once
// One remote cluster: a client for its etcd, a list-and-watch on its `cilium/` prefix, and the
// RemoteStateTracker that turns what arrives into changes for the agent. While its etcd is
// unreachable the last known state stays (marked stale); on reconnect the whole prefix is read
// again and only the difference is reported.
#include <functional>
#include <memory>

#include "netagent/etcd/watch.hpp"
#include "netagent/mesh/config.hpp"
#include "netagent/mesh/remote_state.hpp"
#include "netagent/mesh/status.hpp"

namespace netagent::mesh {

struct RemoteOptions {
  std::chrono::milliseconds retry_min{100};
  std::chrono::milliseconds retry_max{5000};
  // Read everything again after a reconnect (clustermesh etcds are often ephemeral, so the
  // history may differ); the diff keeps it free of flaps.
  bool resync_on_reconnect = true;
};

class RemoteCluster {
 public:
  using ChangeFn = std::function<void(StateChanges&&)>;

  // Takes over `tracker` (the state of a previous instance, when only the configuration
  // changed) so that reconfiguring does not flap.
  static Result<std::unique_ptr<RemoteCluster>> create(
      boost::asio::io_context& io, RemoteClusterConfig config, LocalMeshInfo local,
      RemoteOptions opts, ChangeFn on_change,
      std::shared_ptr<RemoteStateTracker> tracker = nullptr);
  ~RemoteCluster();

  void start();
  void stop();

  const std::string& name() const { return config_.name; }
  const RemoteClusterConfig& config() const { return config_; }
  RemoteStateTracker& tracker() { return *tracker_; }
  const RemoteStateTracker& tracker() const { return *tracker_; }
  std::shared_ptr<RemoteStateTracker> release_tracker() { return std::move(tracker_); }

  bool stale() const { return stale_; }
  bool accepted() const { return tracker_ && tracker_->accepted(); }
  // The visible state, live: it follows every change (read it on the io_context's thread).
  std::shared_ptr<const ClusterState> live() const;
  // A copy that never changes (taken once per change and shared until the next one).
  std::shared_ptr<const ClusterState> snapshot() const;
  RemoteClusterStatus status() const;

  // Delivers changes decided outside (see RemoteStateTracker::set_external_refusal).
  void emit(StateChanges&& c);

 private:
  RemoteCluster(RemoteClusterConfig config, RemoteOptions opts, ChangeFn on_change);
  void on_update(etcd::WatchUpdate&& u);
  void on_state(etcd::WatchState s, const std::string& detail);

  RemoteClusterConfig config_;
  RemoteOptions opts_;
  ChangeFn on_change_;
  std::shared_ptr<etcd::EtcdClient> client_;
  std::shared_ptr<etcd::Watch> watch_;
  std::shared_ptr<RemoteStateTracker> tracker_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  mutable std::shared_ptr<const ClusterState> snapshot_;
  bool connected_ = false;
  bool ready_ = false;
  bool stale_ = false;
  std::chrono::system_clock::time_point last_sync_{}, last_event_{};
  std::string last_error_;
};

}  // namespace netagent::mesh
