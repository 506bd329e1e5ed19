#include "netagent/mesh/mesh_reconciler.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <fstream>
#include <sstream>

#include "netagent/mesh/config.hpp"
#include "netagent/policy/identity.hpp"

namespace netagent::mesh {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

Result<std::string> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Error{"cannot read " + path};
  std::ostringstream o;
  o << f.rdbuf();
  return o.str();
}

// "k8s:app=web" -> {k8s, app, web}; "reserved:host" -> {reserved, host, ""}.
policy::Label parse_label(const std::string& s) {
  policy::Label l;
  auto colon = s.find(':');
  std::string rest = s;
  if (colon != std::string::npos) {
    l.source = s.substr(0, colon);
    rest = s.substr(colon + 1);
  }
  auto eq = rest.find('=');
  l.key = rest.substr(0, eq);
  if (eq != std::string::npos) l.value = rest.substr(eq + 1);
  return l;
}

// The identity of every pod, as the policy part numbers them (policy::compile without policies:
// identities depend on the label sets only).
std::map<std::pair<std::string, std::string>, policy::Identity> pod_identities(
    const k8s::Snapshot& snap, const mesh::ClusterInfo& cluster,
    std::map<policy::Identity, policy::LabelSet>& labels, std::string& error) {
  policy::CompileInput in = policy::workloads_from_snapshot(snap);
  policy::CompileOptions o;
  o.cluster_name = cluster.name;
  o.cluster_id = uint8_t(cluster.id);
  // Endpoint policies are not needed here: compute them for no node.
  o.policies_for_node = "\x01-none";
  std::map<std::pair<std::string, std::string>, policy::Identity> out;
  auto c = policy::compile(in, o);
  if (!c) {
    error = c.error().message;
    return out;
  }
  for (const auto& e : c->endpoints)
    out[{e.ns, e.name}] = e.identity;
  labels = c->identities;
  return out;
}

}  // namespace

MeshReconciler::MeshReconciler(boost::asio::io_context& io, store::Store& store, Options options)
    : io_(io), store_(store), opts_(std::move(options)), watchdog_(io) {}

MeshReconciler::~MeshReconciler() {
  *alive_ = false;
}

Status MeshReconciler::start() {
  if (!opts_.etcd_config_file.empty()) {
    auto text = read_file(opts_.etcd_config_file);
    if (!text) return text.error().wrap("--clustermesh-etcd-config");
    auto etcd = mesh::parse_etcd_config(
        "local", *text,
        [&](const std::string& field, const std::string& file) -> Result<std::string> {
          auto f = read_file(file);
          if (!f) return Error{field + ": " + f.error().message};
          return f;
        });
    if (!etcd) {
      return etcd.error().wrap("--clustermesh-etcd-config " + opts_.etcd_config_file);
    }
    flag_etcd_ = std::move(*etcd);
  }
  schedule_watchdog();
  return {};
}

void MeshReconciler::schedule_watchdog() {
  watchdog_.expires_after(std::chrono::seconds(1));
  watchdog_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    log_transitions();
    schedule_watchdog();
  });
}

void MeshReconciler::log_transitions() {
  std::map<std::string, std::string> now;
  if (mesh_) {
    for (const auto& r : mesh_->status().remotes) {
      std::string state;
      if (!r.accepted && r.cluster_id != 0 && !r.refusal.empty()) {
        state = "refused: " + r.refusal;
      } else if (r.stale) {
        state = "stale";
      } else if (r.connected && r.ready) {
        state = "connected";
      } else {
        state = "connecting";
      }
      now[r.name] = state;
      auto it = remote_states_.find(r.name);
      if (it != remote_states_.end() && it->second == state) continue;
      if (state.starts_with("refused")) {
        spdlog::error("clustermesh: remote cluster {} {}", r.name, state);
      } else if (state == "stale") {
        spdlog::warn(
            "clustermesh: remote cluster {} is unreachable ({}): its last known state stays "
            "programmed (stale) until it is back",
            r.name, r.last_error);
      } else if (state == "connected") {
        spdlog::info(
            "clustermesh: remote cluster {} (id {}) connected at {}: {} nodes, {} "
            "endpoints, {} identities, {} services",
            r.name, r.cluster_id, r.current_endpoint, r.nodes, r.endpoints_count, r.identities,
            r.services);
      }
    }
  }
  remote_states_ = std::move(now);
}

Status MeshReconciler::configure(const k8s::Snapshot& snap) {
  const auto* secret = snap.secret(mesh::kClusterMeshSecretNamespace, mesh::kClusterMeshSecretName);
  if (!secret && !flag_etcd_) {
    if (mesh_) {
      spdlog::info("clustermesh: the {}/{} Secret is gone: leaving the mesh",
                   mesh::kClusterMeshSecretNamespace, mesh::kClusterMeshSecretName);
      mesh_->stop(false);
      mesh_.reset();
      key_.reset();
    }
    return {};
  }
  auto ci = mesh::cluster_from_settings(snap.settings);
  if (!ci) {
    return ci.error().wrap(
        "clustermesh: this cluster's name and id (CLUSTER, CLUSTER_ID in cluster-settings)");
  }
  auto cfg = mesh::clustermesh_from_snapshot(snap, ci->name);
  if (!cfg) return cfg.error().wrap("clustermesh");
  MeshKey k{*ci, mesh::pod_cidrs_of(snap), flag_etcd_ ? flag_etcd_ : cfg->local};
  if (mesh_ && key_ && *key_ == k) {
    if (auto st = mesh_->set_remotes(cfg->remotes); !st) return st;
    return {};
  }
  mesh::MeshOptions o;
  o.local = k.local;
  o.pod_cidrs = k.pod_cidrs;
  o.local_etcd = k.local_etcd;
  o.remotes = cfg->remotes;
  o.publisher.lease_ttl = opts_.lease_ttl;
  o.publisher.lease_file = opts_.state_dir + "/clustermesh-lease";
  // One writer per cluster: the agent holding the cluster's publisher lock (see
  // docs/clustermesh.md, "Publishing").
  o.publisher.lock_holder = opts_.node_name;
  auto m = mesh::ClusterMesh::create(io_, std::move(o),
                                     [this, alive = alive_](const mesh::StateChanges& c) {
                                       if (*alive) on_remote_change(c);
                                     });
  if (!m) return m.error();
  if (mesh_) {
    spdlog::info("clustermesh: this cluster's name, id, pod CIDRs or etcd changed: restarting");
    mesh_->stop(false);
  }
  mesh_ = std::move(*m);
  key_ = std::move(k);
  if (auto* pub = mesh_->publisher()) {
    pub->on_role([cluster = key_->local.name, me = opts_.node_name](mesh::PublisherRole role,
                                                                    const std::string& holder) {
      if (role == mesh::PublisherRole::Leader) {
        spdlog::info("clustermesh: {} holds the publisher lock of cluster {}: publishing", me,
                     cluster);
      } else if (role == mesh::PublisherRole::Standby) {
        spdlog::info("clustermesh: standby: {} publishes cluster {}",
                     holder.empty() ? std::string("nobody") : holder, cluster);
      }
    });
  }
  std::vector<std::string> names;
  for (const auto& r : cfg->remotes)
    names.push_back(r.name);
  std::string cidrs;
  for (const auto& p : key_->pod_cidrs)
    cidrs += (cidrs.empty() ? "" : ",") + p.str();
  spdlog::info(
      "clustermesh: cluster {} (id {}), pod CIDRs [{}], publishing {}, remote clusters [{}]",
      key_->local.name, key_->local.id, cidrs,
      key_->local_etcd ? fmt::format("to {}", fmt::join(key_->local_etcd->endpoints, ","))
                       : std::string("nowhere (no etcd for this cluster)"),
      fmt::join(names, ", "));
  mesh_->start();
  return {};
}

mesh::LocalState MeshReconciler::local_state(const k8s::Snapshot& snap) {
  mesh::LocalState st;
  st.nodes = mesh::export_nodes(snap, key_->local);
  std::map<policy::Identity, policy::LabelSet> labels;
  std::string err;
  auto ids = pod_identities(snap, key_->local, labels, err);
  if (!err.empty()) spdlog::warn("clustermesh: identities: {}", err);
  std::set<uint32_t> used;
  st.endpoints = mesh::export_endpoints(snap, [&](const k8s::Pod& p) -> std::optional<uint32_t> {
    auto it = ids.find({p.meta.ns.empty() ? "default" : p.meta.ns, p.meta.name});
    if (it == ids.end()) return std::nullopt;
    used.insert(it->second);
    return it->second;
  });
  for (auto id : used) {
    auto it = labels.find(id);
    if (it == labels.end()) continue;
    mesh::IdentityRecord r;
    r.id = id;
    for (const auto& l : it->second.labels())
      r.labels.push_back(l.str());
    std::sort(r.labels.begin(), r.labels.end());
    st.identities.push_back(std::move(r));
  }
  std::vector<Error> errors;
  st.services = mesh::export_global_services(snap, key_->local, &errors);
  return st;
}

Status MeshReconciler::apply(const store::Store& in) {
  const auto& snapshot = *in.snapshot();
  // A bad configuration keeps the mesh as it was (and says why); the local state is still
  // published and merged with what the mesh knows.
  auto st = configure(snapshot);
  config_error_ = st ? "" : st.error().str();
  local_services_ = mesh_ ? local_global_services(snapshot) : LocalGlobalServices{};
  for (const auto& e : local_services_.errors)
    spdlog::warn("clustermesh: {}", e);
  merge_global_services();
  // The mesh may have been created, restarted or stopped: what policy reads follows.
  publish_workloads();
  if (mesh_) mesh_->publish(local_state(snapshot));
  return st;
}

void MeshReconciler::on_remote_change(const mesh::StateChanges& c) {
  ++remote_changes_;
  last_change_at_ = Clock::now();
  const bool workloads = !c.endpoints_upserted.empty() || !c.endpoints_removed.empty() ||
                         !c.identities_upserted.empty() || !c.identities_removed.empty() ||
                         !c.nodes_upserted.empty() || !c.nodes_removed.empty();
  for (const auto& s : c.services_upserted)
    pending_services_.insert(s.key());
  for (const auto& s : c.services_removed)
    pending_services_.insert(s);
  const bool services = !pending_services_.empty();
  workloads_pending_ = workloads_pending_ || workloads;
  if (!workloads && !services) return;
  if (flush_pending_) return;
  flush_pending_ = true;
  // Coalesce: a burst of changes delivered in one turn of the control loop is merged and
  // published once (the merge only for the services the changes name).
  boost::asio::post(io_, [this, alive = alive_] {
    if (!*alive) return;
    flush_pending_ = false;
    if (!pending_services_.empty()) {
      auto only = std::move(pending_services_);
      pending_services_.clear();
      merge_global_services(&only);
    }
    if (workloads_pending_) {
      workloads_pending_ = false;
      publish_workloads();
    }
  });
}

void MeshReconciler::merge_global_services(const std::set<std::string>* only) {
  auto t0 = Clock::now();
  bool changed = false;
  if (mesh_ && key_) {
    changed = update_global_backends(global_, local_services_, key_->local, mesh_->view(), only);
  } else {
    changed = !same_backends(GlobalBackends{}, global_);
    global_ = {};
  }
  ++merges_;
  if (merge_seconds_) {
    merge_seconds_->observe(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  // Published once at the first merge even when empty, so that the LB knows there are none.
  if (!changed && store_.generation<lb::ExtraBackends>() != 0) return;
  lb::ExtraBackends extra = global_.extra;
  extra.replace_local = global_.replace_local;
  store_.publish(std::move(extra), name());
}

void MeshReconciler::publish_workloads() {
  policy::RemoteWorkloads w;
  if (mesh_) {
    for (const auto& r : mesh::remote_identities(mesh_->view())) {
      std::vector<policy::Label> ls;
      for (const auto& s : r.labels)
        ls.push_back(parse_label(s));
      w.identities.push_back({r.id, policy::LabelSet(std::move(ls))});
    }
    for (const auto& e : mesh::remote_ipcache(mesh_->view())) {
      auto ip = Ipv4Addr::parse(e.ip);
      if (!ip) continue;
      w.addresses.push_back({Ipv4Prefix{*ip, 32}, e.identity, uint8_t(e.cluster_id)});
    }
  }
  if (workloads_ && *workloads_ == w) return;
  workloads_ = std::make_shared<const policy::RemoteWorkloads>(std::move(w));
  store_.publish<policy::RemoteWorkloads>(workloads_, name());
}

json MeshReconciler::status_json() const {
  json j;
  if (mesh_) {
    j = mesh::to_json(mesh_->status());
  } else {
    j = {{"cluster", nullptr}, {"publisher", nullptr}, {"remoteClusters", json::array()}};
  }
  j["enabled"] = mesh_ != nullptr;
  j["configError"] = config_error_;
  json svcs = json::array();
  for (const auto& [key, m] : global_.merged) {
    json backends = json::array();
    for (const auto& b : m.backends) {
      backends.push_back({{"ip", b.ip},
                          {"cluster", b.cluster},
                          {"clusterID", b.cluster_id},
                          {"local", b.local},
                          {"ready", b.ready},
                          {"preferred", b.preferred},
                          {"active", b.active}});
    }
    svcs.push_back({{"service", m.ns + "/" + m.name},
                    {"shared", m.spec.shared},
                    {"affinity", mesh::to_string(m.spec.affinity)},
                    {"remoteClusters", m.remote_clusters()},
                    {"backends", backends}});
  }
  j["globalServices"] = svcs;
  j["remoteChanges"] = remote_changes_;
  j["merges"] = merges_;
  return j;
}

nlohmann::json MeshReconciler::status() const {
  json j = {{"enabled", mesh_ != nullptr}, {"global_services", global_.merged.size()}};
  if (!config_error_.empty()) j["config_error"] = config_error_;
  if (mesh_) {
    auto s = mesh_->status();
    size_t connected = 0, stale = 0, refused = 0, endpoints = 0, services = 0;
    for (const auto& r : s.remotes) {
      endpoints += r.endpoints_count;
      services += r.services;
      connected += r.connected;
      stale += r.stale;
      refused += !r.accepted && !r.refusal.empty() && r.cluster_id != 0;
    }
    j["cluster"] = s.local.name;
    j["remote_clusters"] = s.remotes.size();
    j["connected"] = connected;
    j["stale"] = stale;
    j["refused"] = refused;
    j["remote_endpoints"] = endpoints;
    j["remote_services"] = services;
    j["publisher_synced"] = s.publishing && s.publisher.synced;
    j["publisher_role"] = s.publishing ? mesh::to_string(s.publisher.role) : "none";
    j["publisher_holder"] = s.publishing ? s.publisher.holder : "";
  }
  return j;
}

void MeshReconciler::register_api(api::Router& router) {
  router.get("/v1/clustermesh",
             [this](const api::Request&) -> api::Reply { return status_json(); });
}

void MeshReconciler::register_metrics(metrics::Registry& registry) {
  merge_seconds_ = &registry
                        .histogram("netagent_clustermesh_merge_seconds",
                                   "Time to merge the global services with the remote clusters'",
                                   {}, {0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1})
                        .get();
  registry.add_collector("clustermesh", [this](metrics::Collection& c) {
    c.gauge("netagent_clustermesh_enabled", "1 when ClusterMesh is configured", {}, mesh_ ? 1 : 0);
    c.gauge("netagent_clustermesh_global_services", "Global services of this cluster", {},
            double(global_.merged.size()));
    c.counter("netagent_clustermesh_remote_changes_total",
              "Change batches received from remote clusters", {}, double(remote_changes_));
    if (!mesh_) return;
    auto s = mesh_->status();
    c.gauge("netagent_clustermesh_remote_clusters", "Remote clusters configured", {},
            double(s.remotes.size()));
    for (const auto& r : s.remotes) {
      metrics::Labels l = {{"target_cluster", r.name}};
      c.gauge("netagent_clustermesh_remote_cluster_connected",
              "1 when the watch on the remote cluster's etcd is up", l, r.connected);
      c.gauge("netagent_clustermesh_remote_cluster_stale",
              "1 when the remote cluster is unreachable and its last known state is in use", l,
              r.stale);
      c.gauge("netagent_clustermesh_remote_cluster_refused",
              "1 when the remote cluster is refused (cluster id conflict, overlapping pod CIDRs)",
              l, !r.accepted && r.cluster_id != 0);
      c.gauge("netagent_clustermesh_remote_cluster_last_sync_timestamp_seconds",
              "When the remote cluster's state was last read completely", l,
              r.last_sync.time_since_epoch().count() == 0
                  ? 0
                  : std::chrono::duration<double>(r.last_sync.time_since_epoch()).count());
      c.gauge("netagent_clustermesh_remote_nodes", "Remote nodes in use", l, double(r.nodes));
      c.gauge("netagent_clustermesh_remote_endpoints", "Remote endpoints in use", l,
              double(r.endpoints_count));
      c.gauge("netagent_clustermesh_remote_identities", "Remote identities in use", l,
              double(r.identities));
      c.gauge("netagent_clustermesh_remote_services", "Remote global services in use", l,
              double(r.services));
      c.counter("netagent_clustermesh_remote_events_total",
                "Changes received from the remote cluster", l, double(r.events));
      c.counter("netagent_clustermesh_remote_resyncs_total",
                "Complete re-reads of the remote cluster's state", l, double(r.resyncs));
      c.counter("netagent_clustermesh_remote_reconnects_total",
                "Watch streams re-established after a failure", l, double(r.reconnects));
    }
    if (s.publishing) {
      const auto& p = s.publisher;
      c.gauge("netagent_clustermesh_publish_connected",
              "1 when the last operation on this cluster's etcd worked", {}, p.connected);
      c.gauge("netagent_clustermesh_publish_synced",
              "1 when this cluster's etcd holds exactly the local state", {}, p.synced);
      c.gauge("netagent_clustermesh_publisher_leader",
              "1 while this agent holds its cluster's publisher lock and writes the cluster's "
              "state (0: standby, another agent of the cluster publishes)",
              {}, p.role == mesh::PublisherRole::Leader);
      c.counter("netagent_clustermesh_publisher_acquisitions_total",
                "Times this agent took its cluster's publisher lock", {}, double(p.acquisitions));
      c.gauge("netagent_clustermesh_published_keys", "Keys published under the agent's lease", {},
              double(p.keys));
      c.counter("netagent_clustermesh_publish_puts_total", "Keys written", {}, double(p.puts));
      c.counter("netagent_clustermesh_publish_deletes_total", "Keys deleted", {},
                double(p.deletes));
      c.counter("netagent_clustermesh_publish_errors_total", "Failed publish steps", {},
                double(p.errors));
      c.counter("netagent_clustermesh_lease_losses_total", "Leases etcd reported gone", {},
                double(p.lease.losses));
    }
  });
}

void MeshReconciler::stop() {
  watchdog_.cancel();
  if (mesh_) mesh_->stop(false);
}

}  // namespace netagent::mesh
