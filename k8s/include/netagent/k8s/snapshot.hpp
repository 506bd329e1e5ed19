#pragma once
// Snapshot: one consistent view of desired state, built from a whole manifest tree (or an API
// list) at once. Consumers (reconcilers) only ever see complete snapshots: a tree with one bad
// document produces no snapshot at all, so bad input never half-applies.
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "netagent/k8s/decode.hpp"
#include "netagent/k8s/objects.hpp"

namespace netagent::k8s {

struct Snapshot {
  std::vector<Service> services;
  std::vector<EndpointSlice> endpoint_slices;
  std::vector<Pod> pods;
  std::vector<Namespace> namespaces;
  std::vector<Node> nodes;
  std::vector<ConfigMap> config_maps;
  std::vector<Secret> secrets;
  // Objects of the other kinds some part of the agent consumes (Cilium CRDs, NetworkPolicy, ...),
  // validated by that part's decoder and kept raw; in source order.
  std::vector<Object> objects;
  // The cluster-settings values used for ${VAR} substitution.
  std::map<std::string, std::string> settings;
  // Kinds seen and ignored (nobody consumes them), with counts, for status output.
  std::map<std::string, int> ignored_kinds;

  std::vector<const Object*> of_kind(std::string_view kind) const;
  const Node* node(std::string_view name) const;
  const Namespace* find_namespace(std::string_view name) const;
  const Service* service(std::string_view ns, std::string_view name) const;
  const Secret* secret(std::string_view ns, std::string_view name) const;
  const Pod* pod(std::string_view ns, std::string_view name) const;
  std::vector<const EndpointSlice*> slices_for(std::string_view ns, std::string_view svc) const;
};

// Kinds beyond the core ones, registered by the parts that consume them. The validator decodes
// the object fully (throwing FieldError on a bad field) so that errors surface at load time.
struct KindRegistry {
  using Validator = std::function<void(const Object&)>;
  // key: kind (e.g. "CiliumLoadBalancerIPPool"); value: accepted apiVersions and the validator.
  struct Entry {
    std::vector<std::string> api_versions;
    Validator validate;
  };
  std::map<std::string, Entry> kinds;

  void add(const std::string& kind, std::vector<std::string> api_versions, Validator v) {
    kinds[kind] = Entry{std::move(api_versions), std::move(v)};
  }
};

// Accumulates objects into a Snapshot, decoding core kinds and validating registered ones.
class SnapshotBuilder {
 public:
  explicit SnapshotBuilder(const KindRegistry* registry = nullptr) : registry_(registry) {}

  // Decodes obj into the snapshot; returns the error (and adds nothing) if it does not decode or
  // duplicates an object already added.
  std::optional<DecodeError> add(const Object& obj);
  void set_settings(std::map<std::string, std::string> s) { snap_.settings = std::move(s); }
  Snapshot take();

 private:
  const KindRegistry* registry_;
  Snapshot snap_;
  std::set<std::string> seen_;  // "kind/ns/name"
};

}  // namespace netagent::k8s
