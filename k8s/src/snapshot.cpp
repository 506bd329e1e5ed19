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

}  // namespace

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
  const auto& k = obj.kind;
  const auto& v = obj.api_version;
  auto core = [&](const char* want_version) {
    if (v != want_version) {
      throw FieldError("apiVersion", "unsupported apiVersion \"" + v + "\" for kind " + k +
                                         " (expected " + want_version + ")");
    }
  };
  // Identity for duplicate detection: namespaced objects without a namespace live in "default".
  std::string ns =
      (k == "Namespace" || k == "Node") ? "" : (obj.meta.ns.empty() ? "default" : obj.meta.ns);
  std::string key = k + "/" + ns + "/" + obj.meta.name;
  if (seen_.count(key)) {
    return DecodeError{obj.source, obj.display(), "metadata.name",
                       "duplicate object: " + obj.display() + " is defined more than once"};
  }
  bool ignored = false;
  auto err = guard(obj, [&] {
    if (k == "Service") {
      core("v1");
      snap_.services.push_back(decode_service(obj));
    } else if (k == "EndpointSlice") {
      core("discovery.k8s.io/v1");
      snap_.endpoint_slices.push_back(decode_endpoint_slice(obj));
    } else if (k == "Pod") {
      core("v1");
      snap_.pods.push_back(decode_pod(obj));
    } else if (k == "Namespace") {
      core("v1");
      snap_.namespaces.push_back(decode_namespace(obj));
    } else if (k == "Node") {
      core("v1");
      snap_.nodes.push_back(decode_node(obj));
    } else if (k == "ConfigMap") {
      core("v1");
      snap_.config_maps.push_back(decode_config_map(obj));
    } else if (k == "Secret") {
      core("v1");
      snap_.secrets.push_back(decode_secret(obj));
    } else if (auto it = registry_ ? registry_->kinds.find(k) : decltype(registry_->kinds.end()){};
               registry_ && it != registry_->kinds.end()) {
      if (!api_version_ok(it->second.api_versions, v)) {
        std::string list;
        for (const auto& a : it->second.api_versions)
          list += (list.empty() ? "" : ", ") + a;
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
  if (err) return err;
  if (ignored) {
    snap_.ignored_kinds[k]++;
    return std::nullopt;
  }
  seen_.insert(std::move(key));
  return std::nullopt;
}

Snapshot SnapshotBuilder::take() {
  Snapshot out = std::move(snap_);
  snap_ = Snapshot{};
  seen_.clear();
  return out;
}

}  // namespace netagent::k8s
