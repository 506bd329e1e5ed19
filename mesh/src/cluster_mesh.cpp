#include "netagent/mesh/cluster_mesh.hpp"

#include <set>

namespace netagent::mesh {

Status validate_remotes(const ClusterInfo& local, const std::vector<RemoteClusterConfig>& remotes) {
  std::set<std::string> seen;
  for (const auto& r : remotes) {
    if (auto st = validate_cluster_name(r.name); !st) return st.error().wrap("remote cluster");
    if (r.name == local.name) {
      return Error{"remote cluster " + r.name + " has this cluster's own name"};
    }
    if (!seen.insert(r.name).second) return Error{"remote cluster " + r.name + " listed twice"};
  }
  return Status{};
}

ClusterMesh::ClusterMesh(boost::asio::io_context& io, MeshOptions opts, ChangeFn on_change)
    : io_(io), opts_(std::move(opts)), on_change_(std::move(on_change)) {}

ClusterMesh::~ClusterMesh() {
  stop();
}

Result<std::unique_ptr<ClusterMesh>> ClusterMesh::create(boost::asio::io_context& io,
                                                         MeshOptions opts, ChangeFn on_change) {
  if (auto st = validate_cluster_name(opts.local.name); !st) return st.error().wrap("clustermesh");
  if (auto st = validate_cluster_id(opts.local.id); !st) return st.error().wrap("clustermesh");
  if (auto st = validate_remotes(opts.local, opts.remotes); !st) {
    return st.error().wrap("clustermesh");
  }
  std::unique_ptr<ClusterMesh> m(new ClusterMesh(io, std::move(opts), std::move(on_change)));
  if (m->opts_.local_etcd) {
    etcd::EtcdConfig cfg = *m->opts_.local_etcd;
    if (cfg.name.empty() || cfg.name == "etcd") cfg.name = "etcd of cluster " + m->opts_.local.name;
    auto client = etcd::EtcdClient::create(io, cfg);
    if (!client) return client.error().wrap("clustermesh local etcd");
    m->publisher_ = std::make_shared<StatePublisher>(*client, m->opts_.local, m->opts_.pod_cidrs,
                                                     m->opts_.publisher);
  }
  for (auto& r : m->opts_.remotes) {
    auto rc = m->make_remote(r, nullptr);
    if (!rc) return rc.error().wrap("clustermesh");
    m->remotes_[r.name] = std::move(*rc);
  }
  return m;
}

Result<std::unique_ptr<RemoteCluster>> ClusterMesh::make_remote(
    RemoteClusterConfig cfg, std::shared_ptr<RemoteStateTracker> tracker) {
  return RemoteCluster::create(
      io_, std::move(cfg), LocalMeshInfo{opts_.local, opts_.pod_cidrs}, opts_.remote,
      [this](StateChanges&& c) { on_remote_change(std::move(c)); }, std::move(tracker));
}

void ClusterMesh::start() {
  if (started_) return;
  started_ = true;
  if (publisher_) publisher_->start();
  for (auto& [name, r] : remotes_)
    r->start();
}

void ClusterMesh::stop(bool withdraw) {
  if (!started_) return;
  started_ = false;
  if (publisher_) publisher_->stop(withdraw);
  for (auto& [name, r] : remotes_)
    r->stop();
}

void ClusterMesh::publish(const LocalState& state) {
  if (publisher_) publisher_->publish(state);
}

void ClusterMesh::on_remote_change(StateChanges&& c) {
  if (on_change_ && !c.empty()) on_change_(c);
  check_id_conflicts();
}

void ClusterMesh::check_id_conflicts() {
  if (in_conflict_check_) return;
  in_conflict_check_ = true;
  std::map<uint32_t, std::string> owner;  // id -> first remote (by name) announcing it
  for (auto& [name, r] : remotes_) {
    auto cfg = r->tracker().config();
    if (!cfg || cfg->id == 0 || cfg->id == opts_.local.id) continue;
    auto [it, inserted] = owner.emplace(cfg->id, name);
    std::string reason;
    if (!inserted) {
      reason = "remote cluster " + name + " has cluster id " + std::to_string(cfg->id) +
               ", the same as remote cluster " + it->second +
               ": cluster ids must be unique in the mesh";
    }
    r->emit(r->tracker().set_external_refusal(reason));
  }
  in_conflict_check_ = false;
}

Status ClusterMesh::set_remotes(std::vector<RemoteClusterConfig> remotes) {
  if (auto st = validate_remotes(opts_.local, remotes); !st) return st.error().wrap("clustermesh");
  // Build every new client first so that an invalid entry changes nothing.
  std::map<std::string, RemoteClusterConfig> wanted;
  for (auto& r : remotes) {
    if (auto c = etcd::EtcdClient::create(io_, r.etcd); !c) {
      return c.error().wrap("clustermesh remote cluster " + r.name);
    }
    wanted.emplace(r.name, std::move(r));
  }
  for (auto it = remotes_.begin(); it != remotes_.end();) {
    if (wanted.contains(it->first)) {
      ++it;
      continue;
    }
    // Withdraw a cluster that left the mesh: report its whole visible state removed.
    auto& rc = it->second;
    StateChanges gone = diff_state(rc->tracker().visible(), ClusterState{});
    gone.cluster = it->first;
    gone.cluster_id = rc->tracker().cluster_id();
    rc->stop();
    remotes_.erase(it++);
    if (on_change_ && !gone.empty()) on_change_(gone);
  }
  for (auto& [name, cfg] : wanted) {
    auto it = remotes_.find(name);
    if (it != remotes_.end() && it->second->config().etcd == cfg.etcd) continue;
    std::shared_ptr<RemoteStateTracker> tracker;
    if (it != remotes_.end()) {
      it->second->stop();
      tracker = it->second->release_tracker();
    }
    auto rc = make_remote(cfg, std::move(tracker));
    if (!rc) return rc.error();  // validated above; not expected
    remotes_[name] = std::move(*rc);
    if (started_) remotes_[name]->start();
  }
  opts_.remotes.clear();
  for (auto& [name, r] : remotes_)
    opts_.remotes.push_back(r->config());
  check_id_conflicts();
  return Status{};
}

MeshView ClusterMesh::view() const {
  MeshView v;
  for (const auto& [name, r] : remotes_) {
    if (!r->accepted()) continue;
    v.clusters.push_back(RemoteClusterView{name, r->tracker().cluster_id(), r->stale(), r->live()});
  }
  return v;
}

MeshView ClusterMesh::snapshot_view() const {
  MeshView v;
  for (const auto& [name, r] : remotes_) {
    if (!r->accepted()) continue;
    v.clusters.push_back(
        RemoteClusterView{name, r->tracker().cluster_id(), r->stale(), r->snapshot()});
  }
  return v;
}

MeshStatus ClusterMesh::status() const {
  MeshStatus s;
  s.local = opts_.local;
  for (const auto& p : opts_.pod_cidrs)
    s.pod_cidrs.push_back(p.str());
  s.publishing = publisher_ != nullptr;
  if (publisher_) s.publisher = publisher_->status();
  for (const auto& [name, r] : remotes_)
    s.remotes.push_back(r->status());
  return s;
}

}  // namespace netagent::mesh
