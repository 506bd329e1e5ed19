#include "netagent/mesh/remote_cluster.hpp"

#include "netagent/mesh/kvstore.hpp"

namespace netagent::mesh {

RemoteCluster::RemoteCluster(RemoteClusterConfig config, RemoteOptions opts, ChangeFn on_change)
    : config_(std::move(config)), opts_(opts), on_change_(std::move(on_change)) {}

RemoteCluster::~RemoteCluster() {
  stop();
}

Result<std::unique_ptr<RemoteCluster>> RemoteCluster::create(
    boost::asio::io_context& io, RemoteClusterConfig config, LocalMeshInfo local,
    RemoteOptions opts, ChangeFn on_change, std::shared_ptr<RemoteStateTracker> tracker) {
  auto client = etcd::EtcdClient::create(io, config.etcd);
  if (!client) return client.error().wrap("remote cluster " + config.name);
  std::unique_ptr<RemoteCluster> rc(
      new RemoteCluster(std::move(config), opts, std::move(on_change)));
  rc->client_ = std::move(*client);
  rc->tracker_ = tracker ? std::move(tracker)
                         : std::make_shared<RemoteStateTracker>(rc->config_.name, std::move(local));
  if (rc->tracker_->has_config()) rc->ready_ = true;  // carried-over state counts as known
  rc->stale_ = rc->ready_;
  return rc;
}

void RemoteCluster::start() {
  etcd::WatchOptions wo;
  wo.retry_min = opts_.retry_min;
  wo.retry_max = opts_.retry_max;
  wo.resync_on_reconnect = opts_.resync_on_reconnect;
  std::weak_ptr<bool> alive = alive_;
  watch_ =
      client_->watch(std::string(kvstore::kRoot), wo,
                     etcd::WatchHandler{[this, alive](etcd::WatchUpdate&& u) {
                                          if (alive.lock()) on_update(std::move(u));
                                        },
                                        [this, alive](etcd::WatchState s, const std::string& d) {
                                          if (alive.lock()) on_state(s, d);
                                        }});
}

void RemoteCluster::stop() {
  alive_.reset();
  if (watch_) watch_->cancel();
  if (client_) client_->shutdown();
}

void RemoteCluster::emit(StateChanges&& c) {
  if (c.empty()) return;
  snapshot_.reset();
  if (on_change_) on_change_(std::move(c));
}

void RemoteCluster::on_update(etcd::WatchUpdate&& u) {
  const auto now = std::chrono::system_clock::now();
  StateChanges c;
  if (u.kind == etcd::WatchUpdate::Kind::Resync) {
    c = tracker_->resync(u.kvs);
    ready_ = true;
    stale_ = false;
    last_sync_ = now;
  } else {
    c = tracker_->apply(u.events);
    last_event_ = now;
  }
  emit(std::move(c));
}

void RemoteCluster::on_state(etcd::WatchState s, const std::string& detail) {
  if (s == etcd::WatchState::Connected) {
    connected_ = true;
    // Resuming from a revision (no resync) is as good as a resync once the stream is up.
    if (!opts_.resync_on_reconnect) stale_ = false;
    last_error_.clear();
  } else {
    connected_ = false;
    last_error_ = detail;
    if (ready_) stale_ = true;
  }
}

std::shared_ptr<const ClusterState> RemoteCluster::live() const {
  // Aliasing: shares ownership of the tracker, points at its visible state.
  return std::shared_ptr<const ClusterState>(tracker_, &tracker_->visible());
}

std::shared_ptr<const ClusterState> RemoteCluster::snapshot() const {
  if (!snapshot_) snapshot_ = std::make_shared<const ClusterState>(tracker_->visible());
  return snapshot_;
}

RemoteClusterStatus RemoteCluster::status() const {
  RemoteClusterStatus s;
  s.name = config_.name;
  s.cluster_id = tracker_->cluster_id();
  s.endpoints = config_.etcd.endpoints;
  s.current_endpoint = client_->current_endpoint();
  s.connected = connected_;
  s.ready = ready_;
  s.stale = stale_;
  s.accepted = tracker_->accepted();
  s.refusal = tracker_->refusal();
  s.remote_synced = tracker_->remote_synced();
  s.last_sync = last_sync_;
  s.last_event = last_event_;
  s.last_error = last_error_;
  const ClusterState& v = tracker_->visible();
  s.nodes = v.nodes.size();
  s.endpoints_count = v.endpoints.size();
  s.identities = v.identities.size();
  s.services = v.services.size();
  if (watch_) {
    const auto& wc = watch_->counters();
    s.events = wc.events;
    s.resyncs = wc.resyncs;
    s.reconnects = wc.reconnects;
  }
  s.decode_errors = tracker_->decode_errors();
  s.recent_errors.assign(tracker_->recent_errors().begin(), tracker_->recent_errors().end());
  return s;
}

}  // namespace netagent::mesh
