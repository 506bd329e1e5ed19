#pragma once
// What `netctl clustermesh status` shows and what Prometheus scrapes: this cluster, its
// publisher, and each remote cluster (connected or not, stale, last sync, counts, refusal).
#include <chrono>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "netagent/mesh/cluster.hpp"
#include "netagent/mesh/publisher.hpp"

namespace netagent::mesh {

struct RemoteClusterStatus {
  std::string name;
  uint32_t cluster_id = 0;  // as announced in its cluster-config; 0 until seen
  std::vector<std::string> endpoints;
  std::string current_endpoint;
  bool connected = false;      // the watch stream is up
  bool ready = false;          // its state was read completely at least once
  bool stale = false;          // unreachable now; the last known state is still in use
  bool accepted = false;       // its state is in use (not refused, cluster-config seen)
  std::string refusal;         // why not accepted (refused, or waiting for its cluster-config)
  bool remote_synced = false;  // its publisher finished its first complete write
  std::chrono::system_clock::time_point last_sync{};   // last complete read (resync)
  std::chrono::system_clock::time_point last_event{};  // last change seen
  std::string last_error;
  size_t nodes = 0, endpoints_count = 0, identities = 0, services = 0;  // in use
  uint64_t events = 0, resyncs = 0, reconnects = 0, decode_errors = 0;
  std::vector<std::string> recent_errors;
};

struct MeshStatus {
  ClusterInfo local;
  std::vector<std::string> pod_cidrs;
  bool publishing = false;  // a local etcd is configured
  PublisherStatus publisher;
  std::vector<RemoteClusterStatus> remotes;  // by name
};

nlohmann::json to_json(const RemoteClusterStatus& s);
nlohmann::json to_json(const MeshStatus& s);

// Prometheus text exposition (version 0.0.4) of the same figures, metric names
// netagent_clustermesh_*; see docs/clustermesh.md.
std::string to_prometheus(const MeshStatus& s);

}  // namespace netagent::mesh
