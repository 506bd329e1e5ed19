#include "netagent/k8s/snapshot.hpp"

#include <algorithm>

namespace netagent::k8s {
namespace {

template <typename T>
const T* find_named(const std::vector<T>& v, std::string_view ns, std::string_view name) {
  for (const auto& o : v) {
    if (o.meta.name == name && o.meta.ns == ns) return &o;
  }
  return nullptr;
}

bool api_version_ok(const std::vector<std::string>& accepted, const std::string& v) {
  return accepted.empty() || std::find(accepted.begin(), accepted.end(), v) != accepted.end();
}

template <typename T>
void append(std::vector<T>& to, const std::vector<T>& from) {
  to.insert(to.end(), from.begin(), from.end());
}

}  // namespace

// Every field of Snapshot that holds objects must be merged below: a new field makes this
// assertion fail so that it is not silently dropped from assembled snapshots.
static_assert(sizeof(Snapshot) ==
                  9 * sizeof(std::vector<int>) + 2 * sizeof(std::map<std::string, std::string>),
              "k8s::Snapshot changed: update merge_into()");

void merge_into(Snapshot& to, const Snapshot& from) {
  append(to.services, from.services);
  append(to.endpoint_slices, from.endpoint_slices);
  append(to.pods, from.pods);
  append(to.namespaces, from.namespaces);
  append(to.nodes, from.nodes);
  append(to.config_maps, from.config_maps);
  append(to.secrets, from.secrets);
  append(to.objects, from.objects);
  for (const auto& [k, n] : from.ignored_kinds)
    to.ignored_kinds[k] += n;
  append(to.refused, from.refused);
}

std::vector<const Object*> Snapshot::of_kind(std::string_view kind) const {
  std::vector<const Object*> out;
  for (const auto& o : objects) {
    if (o.kind == kind) out.push_back(&o);
  }
  return out;
}

const Node* Snapshot::node(std::string_view name) const {
  return find_named(nodes, "", name);
}
const Namespace* Snapshot::find_namespace(std::string_view name) const {
  return find_named(namespaces, "", name);
}
const Service* Snapshot::service(std::string_view ns, std::string_view name) const {
  return find_named(services, ns, name);
}
const Secret* Snapshot::secret(std::string_view ns, std::string_view name) const {
  return find_named(secrets, ns, name);
}
const Pod* Snapshot::pod(std::string_view ns, std::string_view name) const {
  return find_named(pods, ns, name);
}

std::vector<const EndpointSlice*> Snapshot::slices_for(std::string_view ns,
                                                       std::string_view svc) const {
  std::vector<const EndpointSlice*> out;
  for (const auto& es : endpoint_slices) {
    if (es.meta.ns == ns && es.service_name == svc) out.push_back(&es);
  }
  return out;
}

std::optional<DecodeError> SnapshotBuilder::add(const Object& obj) {
  auto all = add_all(obj);
  if (all.empty()) return std::nullopt;
  return std::move(all.front());
}

std::vector<DecodeError> SnapshotBuilder::add_all(const Object& obj) {
  const auto& k = obj.kind;
  const auto& v = obj.api_version;
  // A wrong apiVersion of a core kind is reported with the errors of the body (decoded as the
  // one version these kinds have), not instead of them.
  FieldErrors version_errors;
  auto core = [&](const char* want_version) {
    if (v != want_version) {
      version_errors.add(FieldError("apiVersion", "unsupported apiVersion \"" + v + "\" for kind " +
                                                      k + " (expected " + want_version + ")"));
    }
  };
  // Identity for duplicate detection: namespaced objects without a namespace live in "default".
  std::string ns =
      (k == "Namespace" || k == "Node") ? "" : (obj.meta.ns.empty() ? "default" : obj.meta.ns);
  std::string key = k + "/" + ns + "/" + obj.meta.name;
  if (seen_.count(key)) {
    return {DecodeError{obj.source, obj.display(), "metadata.name",
                        "duplicate object: " + obj.display() + " is defined more than once"}};
  }
  bool ignored = false;
  // Decodes, then adds only when the apiVersion was right too.
  auto decode_core = [&](const char* version, auto decode, auto& into) {
    core(version);
    auto typed = decode(obj);
    version_errors.raise();
    into.push_back(std::move(typed));
  };
  auto errs = guard_all(obj, [&] {
    if (k == "Service") {
      decode_core("v1", decode_service, snap_.services);
    } else if (k == "EndpointSlice") {
      decode_core("discovery.k8s.io/v1", decode_endpoint_slice, snap_.endpoint_slices);
    } else if (k == "Pod") {
      decode_core("v1", decode_pod, snap_.pods);
    } else if (k == "Namespace") {
      decode_core("v1", decode_namespace, snap_.namespaces);
    } else if (k == "Node") {
      decode_core("v1", decode_node, snap_.nodes);
    } else if (k == "ConfigMap") {
      decode_core("v1", decode_config_map, snap_.config_maps);
    } else if (k == "Secret") {
      decode_core("v1", decode_secret, snap_.secrets);
    } else if (auto it = registry_ ? registry_->kinds.find(k) : decltype(registry_->kinds.end()){};
               registry_ && it != registry_->kinds.end()) {
      if (!api_version_ok(it->second.api_versions, v)) {
        std::string list;
        for (const auto& a : it->second.api_versions)
          list += (list.empty() ? "" : ", ") + a;
        // Not decoded: the part's decoder knows the body of the versions it accepts only.
        throw FieldError("apiVersion", "unsupported apiVersion \"" + v + "\" for kind " + k +
                                           " (expected " + list + ")");
      }
      Object typed = obj;
      if (it->second.decode) {
        typed.decoded = it->second.decode(obj);
        typed.decoded_type = it->second.type;
      }
      snap_.objects.push_back(std::move(typed));
    } else {
      ignored = true;
    }
  });
  if (!errs.empty()) {
    // The apiVersion first when the body failed too: it is what the errors below depend on.
    if (!version_errors.empty() && errs.front().field != "apiVersion") {
      auto v = guard_all(obj, [&] { version_errors.raise(); });
      errs.insert(errs.begin(), v.begin(), v.end());
    }
    return errs;
  }
  if (ignored) {
    snap_.ignored_kinds[k]++;
    return {};
  }
  seen_.insert(std::move(key));
  return {};
}

Snapshot SnapshotBuilder::take() {
  Snapshot out = std::move(snap_);
  snap_ = Snapshot{};
  seen_.clear();
  return out;
}

}  // namespace netagent::k8s
