#pragma once
// Snapshot: one consistent view of desired state, built from a whole manifest tree (or an API
// list) at once. Consumers (reconcilers) only ever see complete snapshots: a tree with one bad
// document produces no snapshot at all, so bad input never half-applies.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeindex>
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
  // Objects the source refused (they do not decode) while delivering the rest: the Kubernetes
  // API source, whose other objects keep flowing; each with its errors. A manifest tree never
  // has any (one bad file rejects the whole load). The status writer reports them as Events.
  std::vector<DecodeError> refused;

  std::vector<const Object*> of_kind(std::string_view kind) const;
  const Node* node(std::string_view name) const;
  const Namespace* find_namespace(std::string_view name) const;
  const Service* service(std::string_view ns, std::string_view name) const;
  const Secret* secret(std::string_view ns, std::string_view name) const;
  const Pod* pod(std::string_view ns, std::string_view name) const;
  std::vector<const EndpointSlice*> slices_for(std::string_view ns, std::string_view svc) const;
};

// Appends every object of `from` to `to` (and adds its ignored-kind counts): how a snapshot is
// assembled from parts (a manifest tree's files, the API source's objects, two sources).
void merge_into(Snapshot& to, const Snapshot& from);

// Kinds beyond the core ones, registered by the parts that consume them with their decoder. The
// snapshot builder decodes every such object once, at load (a bad field is an error with file,
// document and field, and the snapshot is rejected), and keeps the typed result on the Object
// (Object::as<T>()), so consumers never decode the YAML again.
struct KindRegistry {
  using Decoder = std::function<std::shared_ptr<const void>(const Object&)>;
  struct Entry {
    std::vector<std::string> api_versions;
    Decoder decode;
    std::type_index type = typeid(void);
  };
  // key: kind (e.g. "CiliumLoadBalancerIPPool").
  std::map<std::string, Entry> kinds;

  // `decode(const Object&)` returns the typed object (kept on the Object) or nothing (a
  // validator: the object is checked and kept raw); it throws FieldError on a bad field
  // (k8s::Field does).
  template <typename Fn>
  void add(const std::string& kind, std::vector<std::string> api_versions, Fn decode) {
    using T = std::invoke_result_t<Fn, const Object&>;
    Entry e{std::move(api_versions), nullptr, typeid(void)};
    if constexpr (std::is_void_v<T>) {
      e.decode = [decode](const Object& o) -> std::shared_ptr<const void> {
        decode(o);
        return nullptr;
      };
    } else {
      e.decode = [decode](const Object& o) -> std::shared_ptr<const void> {
        return std::make_shared<const T>(decode(o));
      };
      e.type = typeid(T);
    }
    kinds[kind] = std::move(e);
  }
  // A kind accepted as it is (no decoding at load).
  void add(const std::string& kind, std::vector<std::string> api_versions, std::nullptr_t) {
    kinds[kind] = Entry{std::move(api_versions), nullptr, typeid(void)};
  }
};

// Accumulates objects into a Snapshot, decoding core kinds and validating registered ones.
class SnapshotBuilder {
 public:
  explicit SnapshotBuilder(const KindRegistry* registry = nullptr) : registry_(registry) {}

  // Decodes obj into the snapshot; returns the error (and adds nothing) if it does not decode or
  // duplicates an object already added.
  std::optional<DecodeError> add(const Object& obj);
  // The same, with every error of the object (all its bad fields, a wrong apiVersion and the
  // body's errors together): empty when it was added (or ignored).
  std::vector<DecodeError> add_all(const Object& obj);
  void set_settings(std::map<std::string, std::string> s) { snap_.settings = std::move(s); }
  Snapshot take();

 private:
  const KindRegistry* registry_;
  Snapshot snap_;
  std::set<std::string> seen_;  // "kind/ns/name"
};

}  // namespace netagent::k8s
