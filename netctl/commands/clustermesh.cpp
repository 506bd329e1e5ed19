// netctl clustermesh status: this cluster, its publisher, each remote cluster (connected, stale,
// refused and why, last sync, counts) and the global services with the cluster of each backend.
#include <ostream>

#include "netagent/netctl/command.hpp"

namespace netctl = netagent::netctl;
using nlohmann::json;

namespace {

std::string state_of(const json& r) {
  if (!r.value("accepted", false) && r.value("clusterID", 0) != 0 &&
      !r.value("refusal", "").empty()) {
    return "refused";
  }
  if (r.value("stale", false)) return "stale";
  if (r.value("connected", false) && r.value("ready", false)) return "connected";
  return "connecting";
}

std::string str_or(const json& j, const char* key, const std::string& dflt) {
  auto it = j.find(key);
  return it == j.end() || !it->is_string() ? dflt : it->get<std::string>();
}

}  // namespace

NETCTL_COMMANDS(clustermesh) {
  commands.get(
      "clustermesh status",
      "ClusterMesh: this cluster, its publisher, the remote clusters and the global services",
      "/v1/clustermesh", {.custom = [](const json& body, std::ostream& out) {
        if (!body.value("enabled", false)) {
          out << "ClusterMesh is not configured (no kube-system/cilium-clustermesh Secret)\n";
          if (!body.value("configError", "").empty())
            out << "configuration error: " << body.value("configError", "") << "\n";
          return;
        }
        const json& c = body["cluster"];
        out << "cluster " << c.value("name", "") << " (id " << c.value("id", 0) << "), pod CIDRs "
            << body.value("podCIDRs", json::array()).dump() << "\n";
        if (!body.value("configError", "").empty())
          out << "configuration error (the last good configuration stays): "
              << body.value("configError", "") << "\n";
        const json& p = body["publisher"];
        if (p.is_null()) {
          out << "publishing: no (no etcd configured for this cluster)\n";
        } else {
          out << "publishing to " << p.value("endpoint", "") << ": "
              << (str_or(p, "role", "") == "standby" ? "standby"
                  : p.value("synced", false)         ? "synced"
                  : p.value("connected", false)      ? "syncing"
                                                     : "disconnected")
              << ", " << p.value("keys", 0) << " keys, lease " << p.value("leaseID", 0) << " (TTL "
              << p.value("leaseTTLSeconds", 0) << "s)";
          if (!str_or(p, "lastError", "").empty()) out << ", last error: " << p["lastError"];
          out << "\n";
          if (p.value("election", false)) {
            const std::string role = str_or(p, "role", "pending");
            const std::string holder = str_or(p, "holder", "");
            out << "publisher: " << role << " (lock " << str_or(p, "lockKey", "") << " held by "
                << (holder.empty() ? "nobody" : holder) << ")\n";
          }
        }
        json rows = json::array();
        for (const auto& r : body.value("remoteClusters", json::array())) {
          json row = r;
          row["state"] = state_of(r);
          row["last_sync"] = str_or(r, "lastSync", "never");
          row["why"] = state_of(r) == "refused" ? r.value("refusal", "") : r.value("lastError", "");
          rows.push_back(row);
        }
        out << "\n";
        if (rows.empty()) {
          out << "no remote clusters\n";
        } else {
          out << netctl::render_table(rows, {{"CLUSTER", "name"},
                                             {"ID", "clusterID"},
                                             {"STATE", "state"},
                                             {"ENDPOINT", "currentEndpoint"},
                                             {"LAST SYNC", "last_sync"},
                                             {"NODES", "nodes"},
                                             {"ENDPOINTS", "endpointCount"},
                                             {"IDENTITIES", "identities"},
                                             {"SERVICES", "services"},
                                             {"DETAIL", "why"}});
        }
        json svcs = json::array();
        for (const auto& s : body.value("globalServices", json::array())) {
          std::string backends;
          for (const auto& b : s.value("backends", json::array())) {
            backends += (backends.empty() ? "" : "\n") + b.value("ip", "") + " (" +
                        b.value("cluster", "") +
                        (b.value("active", false) ? ", active" : ", standby") + ")";
          }
          json row = s;
          row["backends_text"] = backends.empty() ? "(none)" : backends;
          svcs.push_back(row);
        }
        if (!svcs.empty()) {
          out << "\n"
              << netctl::render_table(svcs, {{"GLOBAL SERVICE", "service"},
                                             {"AFFINITY", "affinity"},
                                             {"SHARED", "shared"},
                                             {"BACKENDS", "backends_text"}});
        }
      }});
}
