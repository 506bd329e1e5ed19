#include "netagent/mesh/status.hpp"

#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>

namespace netagent::mesh {

using json = nlohmann::json;

namespace {

// RFC 3339 UTC, or null for "never".
json time_json(std::chrono::system_clock::time_point t) {
  if (t.time_since_epoch().count() == 0) return nullptr;
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

double seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

}  // namespace

json to_json(const RemoteClusterStatus& s) {
  return json{{"name", s.name},
              {"clusterID", s.cluster_id},
              {"endpoints", s.endpoints},
              {"currentEndpoint", s.current_endpoint},
              {"connected", s.connected},
              {"ready", s.ready},
              {"stale", s.stale},
              {"accepted", s.accepted},
              {"refusal", s.refusal},
              {"remoteSynced", s.remote_synced},
              {"lastSync", time_json(s.last_sync)},
              {"lastEvent", time_json(s.last_event)},
              {"lastError", s.last_error},
              {"nodes", s.nodes},
              {"endpointCount", s.endpoints_count},
              {"identities", s.identities},
              {"services", s.services},
              {"events", s.events},
              {"resyncs", s.resyncs},
              {"reconnects", s.reconnects},
              {"decodeErrors", s.decode_errors},
              {"recentErrors", s.recent_errors}};
}

json to_json(const MeshStatus& s) {
  json remotes = json::array();
  for (const auto& r : s.remotes)
    remotes.push_back(to_json(r));
  const auto& p = s.publisher;
  json pub = nullptr;
  if (s.publishing) {
    pub = json{{"endpoint", p.endpoint},
               {"connected", p.connected},
               {"synced", p.synced},
               {"leaseID", p.lease_id},
               {"leaseTTLSeconds", p.lease.ttl_seconds},
               {"lastLeaseRenewal", time_json(p.lease.last_renewal)},
               {"keys", p.keys},
               {"pending", p.pending},
               {"lastPublish", time_json(p.last_publish)},
               {"lastRoundSeconds", p.last_round_seconds},
               {"lastError", p.last_error.empty() ? p.lease.last_error : p.last_error},
               {"rounds", p.rounds},
               {"txns", p.txns},
               {"puts", p.puts},
               {"deletes", p.deletes},
               {"errors", p.errors},
               {"reconciles", p.reconciles},
               {"leaseGrants", p.lease.grants},
               {"leaseRenewals", p.lease.renewals},
               {"leaseLosses", p.lease.losses},
               {"role", to_string(p.role)},
               {"election", p.election},
               {"lockKey", p.lock_key},
               {"holder", p.holder},
               {"lockAcquisitions", p.acquisitions},
               {"lockLosses", p.lock_losses}};
  }
  return json{{"cluster", {{"name", s.local.name}, {"id", s.local.id}}},
              {"podCIDRs", s.pod_cidrs},
              {"publisher", std::move(pub)},
              {"remoteClusters", std::move(remotes)}};
}

std::string to_prometheus(const MeshStatus& s) {
  std::ostringstream o;
  auto family = [&](const char* name, const char* type, const char* help) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
  };
  auto line = [&](const char* name, const std::string& labels, double v) {
    o << name;
    if (!labels.empty()) o << "{" << labels << "}";
    // Integral values (counts, whole-second timestamps) print exactly; others with precision.
    if (v == double(int64_t(v))) {
      o << " " << int64_t(v) << "\n";
    } else {
      o << " " << std::setprecision(12) << v << "\n";
    }
  };
  auto per_remote = [&](const char* name, const char* type, const char* help, auto get) {
    family(name, type, help);
    for (const auto& r : s.remotes) {
      line(name, "source_cluster=\"" + s.local.name + "\",target_cluster=\"" + r.name + "\"",
           double(get(r)));
    }
  };
  const std::string local = "source_cluster=\"" + s.local.name + "\"";
  family("netagent_clustermesh_remote_clusters", "gauge", "Remote clusters configured.");
  line("netagent_clustermesh_remote_clusters", local, double(s.remotes.size()));
  per_remote("netagent_clustermesh_remote_cluster_connected", "gauge",
             "1 when the watch on the remote cluster's etcd is up.",
             [](const RemoteClusterStatus& r) { return r.connected; });
  per_remote("netagent_clustermesh_remote_cluster_stale", "gauge",
             "1 when the remote cluster is unreachable and its last known state is in use.",
             [](const RemoteClusterStatus& r) { return r.stale; });
  per_remote("netagent_clustermesh_remote_cluster_refused", "gauge",
             "1 when the remote cluster is refused (id conflict, overlapping pod CIDRs).",
             [](const RemoteClusterStatus& r) { return !r.accepted && r.cluster_id != 0; });
  per_remote("netagent_clustermesh_remote_cluster_last_sync_timestamp_seconds", "gauge",
             "When the remote cluster's state was last read completely.",
             [](const RemoteClusterStatus& r) { return seconds(r.last_sync); });
  per_remote("netagent_clustermesh_remote_nodes", "gauge", "Remote nodes in use.",
             [](const RemoteClusterStatus& r) { return r.nodes; });
  per_remote("netagent_clustermesh_remote_endpoints", "gauge", "Remote endpoints in use.",
             [](const RemoteClusterStatus& r) { return r.endpoints_count; });
  per_remote("netagent_clustermesh_remote_identities", "gauge", "Remote identities in use.",
             [](const RemoteClusterStatus& r) { return r.identities; });
  per_remote("netagent_clustermesh_remote_services", "gauge", "Remote global services in use.",
             [](const RemoteClusterStatus& r) { return r.services; });
  per_remote("netagent_clustermesh_remote_events_total", "counter",
             "Changes received from the remote cluster.",
             [](const RemoteClusterStatus& r) { return r.events; });
  per_remote("netagent_clustermesh_remote_resyncs_total", "counter",
             "Complete re-reads of the remote cluster's state.",
             [](const RemoteClusterStatus& r) { return r.resyncs; });
  per_remote("netagent_clustermesh_remote_reconnects_total", "counter",
             "Watch streams re-established after a failure.",
             [](const RemoteClusterStatus& r) { return r.reconnects; });
  per_remote("netagent_clustermesh_remote_decode_errors_total", "counter",
             "Remote keys that did not decode (ignored).",
             [](const RemoteClusterStatus& r) { return r.decode_errors; });
  if (s.publishing) {
    const auto& p = s.publisher;
    auto pub = [&](const char* name, const char* type, const char* help, double v) {
      family(name, type, help);
      line(name, local, v);
    };
    pub("netagent_clustermesh_publish_connected", "gauge",
        "1 when the last operation on this cluster's etcd worked.", p.connected);
    pub("netagent_clustermesh_publisher_leader", "gauge",
        "1 while this agent holds its cluster's publisher lock and writes the cluster's state.",
        p.role == PublisherRole::Leader);
    pub("netagent_clustermesh_publish_synced", "gauge",
        "1 when this cluster's etcd holds exactly the local state.", p.synced);
    pub("netagent_clustermesh_published_keys", "gauge", "Keys published under our lease.",
        double(p.keys));
    pub("netagent_clustermesh_publish_txns_total", "counter", "Transactions written.",
        double(p.txns));
    pub("netagent_clustermesh_publish_puts_total", "counter", "Keys written.", double(p.puts));
    pub("netagent_clustermesh_publish_deletes_total", "counter", "Keys deleted.",
        double(p.deletes));
    pub("netagent_clustermesh_publish_errors_total", "counter", "Failed publish steps.",
        double(p.errors));
    pub("netagent_clustermesh_publish_last_round_seconds", "gauge",
        "Duration of the last publish round.", p.last_round_seconds);
    pub("netagent_clustermesh_lease_renewals_total", "counter", "Lease keep-alives that worked.",
        double(p.lease.renewals));
    pub("netagent_clustermesh_lease_losses_total", "counter", "Leases etcd reported gone.",
        double(p.lease.losses));
  }
  return o.str();
}

}  // namespace netagent::mesh
