#pragma once
// The Kubernetes API as a source of desired state: one kubeapi::Reflector per watched kind, each
// object decoded once, when it arrives, by the same typed decoders as the manifest tree
// (k8s/decode.hpp and the parts' KindRegistry), and whole snapshots assembled from the decoded
// objects whenever something changed, so every reconciler works unchanged. Objects keep a digest
// of their content (resourceVersion and managedFields left out), so a relist or a status-only
// write of an unchanged object changes nothing downstream.
//
// The rules (docs/kubernetes-api.md):
//  - No snapshot before every kind has synced once: a cache that is not complete is never applied
//    (a half-listed cluster would read as mass deletion).
//  - A relist (after 410 Gone, or a new stream after an error) replaces that kind's objects at
//  once:
//    what disappeared meanwhile is deleted, and only that.
//  - An object that does not decode is reported (stats().last_errors, the log, a metric) and not
//    applied; when an earlier version of it decoded, that version stays, as a manifest tree's last
//    good load stays. Other objects keep flowing: the API server validated them, and one bad
//    custom resource must not freeze a cluster's services.
//  - While any kind's reflector fails (the API server unreachable), the source is stale: the last
//    snapshot stays applied, status and metrics say stale and since when, and when the server
//    returns the reflector resyncs; unchanged objects keep their digests, so nothing flaps.
//  - A custom resource the server does not serve (its CRD not installed) is an empty kind,
//    reported, and looked for again every minute.
#include <yaml-cpp/yaml.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "netagent/k8s/source.hpp"
#include "netagent/kubeapi/client.hpp"
#include "netagent/kubeapi/reflector.hpp"

namespace netagent::source {

// JSON as the API serves it, as a YAML node, so the typed decoders read API objects as they read
// manifests. Strings stay strings (double-quoted), numbers and booleans plain scalars.
YAML::Node json_to_yaml(const nlohmann::json& j);

// One kind the source watches, and the API versions that serve it, preferred first: the first
// one the server serves is watched.
struct ApiKind {
  std::string kind;
  std::vector<kubeapi::Resource> versions;
  std::string ns;       // only this namespace (secrets); empty: every namespace or cluster-scoped
  bool custom = false;  // a CRD: may not be installed, looked up first
};

struct ApiSourceOptions {
  // The CRD kinds the parts registered (decoded on arrival, as the manifest loader does).
  k8s::KindRegistry registry;
  // Secrets are read from this namespace only: the ClusterMesh secret and the BGP peers'
  // authentication secrets live there (Cilium's bgpSecretsNamespace).
  std::string secrets_namespace = "kube-system";
  kubeapi::ReflectorOptions reflector;
  // How often kinds the server does not serve are looked for again.
  std::chrono::seconds rediscover_interval{60};
};

// The kinds watched: the core ones the agent reads (Service, EndpointSlice, Pod, Namespace,
// Node, Secret) and every kind of the registry this source knows the resource of.
// `unknown` receives the registry's kinds it does not know (read from manifests only).
std::vector<ApiKind> api_kinds(const ApiSourceOptions& options, std::vector<std::string>* unknown);

// The objects of every kind, as the reflectors last reported them, each decoded once when it
// arrives. No network: ApiSource feeds it, tests drive it directly.
class ApiObjectCache {
 public:
  explicit ApiObjectCache(const k8s::KindRegistry* registry) : registry_(registry) {}

  // The complete set of one kind (sync or relist) replaces what the cache held of it. Returns
  // whether anything changed (an object added, removed, or of another digest).
  bool replace(const std::string& kind, const std::string& origin,
               const std::vector<nlohmann::json>& items);
  // One watch event. Returns whether anything changed.
  bool apply(const std::string& kind, const std::string& origin, kubeapi::WatchEvent::Type type,
             const nlohmann::json& object);
  // Every kind's objects that decoded (the last good version of each), in a fixed order, with
  // `refused` (errors(), usually) as the snapshot's refused objects. Each decoded object is held
  // once: after a build it lives only in that snapshot (the next build copies it from there), so
  // the cache and the delivered state do not both keep a copy of the cluster.
  std::shared_ptr<const k8s::Snapshot> build(std::vector<k8s::DecodeError> refused = {});
  // The objects whose latest version does not decode, every error of each.
  std::vector<k8s::DecodeError> errors() const;
  size_t objects(const std::string& kind) const;
  size_t size() const;

 private:
  // Where an object's last good version is in the last built snapshot: which of its vectors
  // (services, endpoint_slices, ...; -1: not in it) and the index there.
  struct Slot {
    int8_t field = -1;
    size_t index = 0;
  };
  struct Entry {
    uint64_t digest = 0;
    // The last good version, decoded since the last build (a one-object snapshot), or null when
    // it is the one at `slot` (or there is none).
    std::shared_ptr<const k8s::Snapshot> fresh;
    Slot slot;
    std::vector<k8s::DecodeError> errors;  // of the latest version
    bool good() const { return fresh || slot.field >= 0; }
  };
  using Objects = std::map<std::string, Entry>;  // by "ns/name"
  // Decodes one object into an entry; returns false when it equals `previous` (same digest).
  Entry decode(const std::string& origin, const nlohmann::json& object,
               const Entry* previous) const;

  const k8s::KindRegistry* registry_;
  std::map<std::string, Objects> kinds_;
  std::shared_ptr<const k8s::Snapshot> built_;  // the last build(): where slots point
};

class ApiSource : public k8s::Source {
 public:
  ApiSource(boost::asio::io_context& io, std::shared_ptr<kubeapi::Client> client,
            ApiSourceOptions options);
  ~ApiSource() override;

  // Starts the reflectors and returns: the first snapshot is delivered, on the io_context, once
  // every kind has synced.
  void start(SnapshotFn on_snapshot, ErrorFn on_error) override;
  void stop() override;
  k8s::SourceStats stats() const override;
  std::string describe() const override;

  // The latest snapshot delivered (null before the first).
  std::shared_ptr<const k8s::Snapshot> current() const;

 private:
  struct Watched;
  void discover(size_t index);
  void run_reflector(size_t index, const kubeapi::Resource& resource);
  void on_state(size_t index, kubeapi::ReflectorState state, const std::string& detail);
  void changed();
  void build();
  void update_stats();

  boost::asio::io_context& io_;
  std::shared_ptr<kubeapi::Client> client_;
  ApiSourceOptions options_;
  ApiObjectCache cache_;
  std::vector<std::unique_ptr<Watched>> watched_;
  std::vector<std::string> unknown_kinds_;
  SnapshotFn on_snapshot_;
  bool stopped_ = false;
  bool build_posted_ = false;
  bool dirty_ = false;
  std::chrono::steady_clock::duration last_build_cost_{};
  std::chrono::steady_clock::time_point last_build_{};
  boost::asio::steady_timer build_timer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

  mutable std::mutex mu_;  // guards what stats() and current() read from other threads
  k8s::SourceStats stats_;
  std::shared_ptr<const k8s::Snapshot> current_;
};

// Several sources as one: a snapshot of all of them, delivered once each has delivered one. When
// two name the same object (kind, namespace, name), the earlier source's copy is used and the
// later one's is reported as shadowed (the agent puts the API first: the cluster's live object
// wins over a manifest copy of it).
class MergedSource : public k8s::Source {
 public:
  explicit MergedSource(std::vector<std::unique_ptr<k8s::Source>> sources);
  ~MergedSource() override;
  void start(SnapshotFn on_snapshot, ErrorFn on_error) override;
  void stop() override;
  k8s::SourceStats stats() const override;
  std::string describe() const override;

 private:
  void deliver();

  std::vector<std::unique_ptr<k8s::Source>> sources_;
  std::vector<std::shared_ptr<const k8s::Snapshot>> latest_;
  SnapshotFn on_snapshot_;
  mutable std::mutex mu_;
  uint64_t delivered_ = 0;
  std::chrono::system_clock::time_point last_ok_{};
  std::vector<std::string> shadowed_;
};

}  // namespace netagent::source
