// The API source's objects, without the network: JSON to the decoders' YAML, the kinds watched,
// the object cache, and several sources merged into one.
#include "netagent/source/api_source.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <thread>
#include <tuple>

#include "netagent/common/parallel.hpp"
#include "netagent/k8s/decode.hpp"

namespace netagent::source {

using json = nlohmann::json;
using kubeapi::Resource;
using kubeapi::WatchEvent;
using SysClock = std::chrono::system_clock;

namespace {

// Fills `node` (already part of its document) with `j`, top-down: every child is created through
// its parent, so it lives in the document's memory from the start. Built bottom-up, each insert
// merges the child's memory into the parent's (yaml-cpp keeps a set of every node per document),
// which made the conversion most of an initial list's cost.
void fill(YAML::Node node, const json& j) {
  switch (j.type()) {
    case json::value_t::object:
      if (j.empty()) node = YAML::Node(YAML::NodeType::Map);
      for (const auto& [k, v] : j.items())
        fill(node[k], v);  // node[k] on a new node makes it a map
      return;
    case json::value_t::array:
      if (j.empty()) node = YAML::Node(YAML::NodeType::Sequence);
      for (size_t i = 0; i < j.size(); ++i) {
        node.push_back(YAML::Null);
        fill(node[i], j[i]);
      }
      return;
    case json::value_t::string:
      node = j.get_ref<const std::string&>();
      node.SetTag("!");  // as yaml-cpp tags a quoted scalar: a string, whatever it reads like
      return;
    case json::value_t::null:
    case json::value_t::discarded:
      node = YAML::Null;
      return;
    default:  // numbers and booleans, in JSON's own spelling (also YAML's)
      node = j.dump();
      return;
  }
}

}  // namespace

YAML::Node json_to_yaml(const json& j) {
  // With a node of its own from the start: a default-constructed Node has none until first
  // written, so writes through a copy of it (fill's parameter) would not reach it.
  YAML::Node root(YAML::NodeType::Null);
  fill(root, j);
  return root;
}

namespace {

// The resource of every CRD kind a part may register: plural and scope as Cilium's and
// Kubernetes' CRDs define them.
struct KnownKind {
  const char* kind;
  const char* plural;
  bool namespaced;
};
constexpr KnownKind kKnownKinds[] = {
    {"NetworkPolicy", "networkpolicies", true},
    {"CiliumNetworkPolicy", "ciliumnetworkpolicies", true},
    {"CiliumClusterwideNetworkPolicy", "ciliumclusterwidenetworkpolicies", false},
    {"CiliumLoadBalancerIPPool", "ciliumloadbalancerippools", false},
    {"CiliumBGPPeeringPolicy", "ciliumbgppeeringpolicies", false},
    {"CiliumBGPClusterConfig", "ciliumbgpclusterconfigs", false},
    {"CiliumBGPPeerConfig", "ciliumbgppeerconfigs", false},
    {"CiliumBGPAdvertisement", "ciliumbgpadvertisements", false},
    {"CiliumBGPNodeConfigOverride", "ciliumbgpnodeconfigoverrides", false},
};

// Kubernetes' version priority (the order discovery lists them in): GA before beta before alpha,
// then the higher number: v2 > v1 > v2beta1 > v1beta1 > v2alpha1. Returns a key that sorts so.
std::tuple<int, int, int> version_rank(const std::string& v) {
  int major = 0, minor = 0;
  int stage = 3;  // GA
  size_t i = v.size() > 1 && v[0] == 'v' ? 1 : v.size();
  while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i])))
    major = major * 10 + (v[i++] - '0');
  if (v.compare(i, 5, "alpha") == 0) {
    stage = 1;
    i += 5;
  } else if (v.compare(i, 4, "beta") == 0) {
    stage = 2;
    i += 4;
  }
  while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i])))
    minor = minor * 10 + (v[i++] - '0');
  return {stage, major, minor};
}

Resource core(const char* resource, const char* kind, bool namespaced) {
  return Resource{"", "v1", resource, kind, namespaced};
}

// "ns/name", or "name" for cluster-scoped objects.
std::string object_key(const json& o) {
  const json* md = o.contains("metadata") ? &o["metadata"] : nullptr;
  std::string name, ns;
  if (md && md->is_object()) {
    name = md->value("name", "");
    ns = md->value("namespace", "");
  }
  return ns.empty() ? name : ns + "/" + name;
}

// The object's content without what changes on every write of it (resourceVersion,
// managedFields): equal digests mean consumers have nothing to do. Each member is serialized and
// hashed in place (nlohmann's objects iterate in key order), never the object copied.
uint64_t content_digest(const json& o) {
  uint64_t h = 0xcbf29ce484222325ull;
  auto mix = [&h](std::string_view s) {
    h ^= std::hash<std::string_view>{}(s) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  };
  if (!o.is_object()) {
    mix(o.dump());
    return h | 1;
  }
  for (const auto& [k, v] : o.items()) {
    mix(k);
    if (k == "metadata" && v.is_object()) {
      for (const auto& [mk, mv] : v.items()) {
        if (mk == "resourceVersion" || mk == "managedFields") continue;
        mix(mk);
        mix(mv.dump());
      }
    } else {
      mix(v.dump());
    }
  }
  return h | 1;
}

}  // namespace

std::vector<ApiKind> api_kinds(const ApiSourceOptions& options, std::vector<std::string>* unknown) {
  std::vector<ApiKind> kinds{
      {"Service", {core("services", "Service", true)}, "", false},
      {"EndpointSlice",
       {Resource{"discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true}},
       "",
       false},
      {"Pod", {core("pods", "Pod", true)}, "", false},
      {"Namespace", {core("namespaces", "Namespace", false)}, "", false},
      {"Node", {core("nodes", "Node", false)}, "", false},
      {"Secret", {core("secrets", "Secret", true)}, options.secrets_namespace, false},
  };
  for (const auto& [kind, entry] : options.registry.kinds) {
    const KnownKind* known = nullptr;
    for (const auto& k : kKnownKinds) {
      if (kind == k.kind) known = &k;
    }
    if (!known) {
      if (unknown) unknown->push_back(kind);
      continue;
    }
    ApiKind ak{kind, {}, "", true};
    for (const auto& av : entry.api_versions) {
      auto slash = av.find('/');
      if (slash == std::string::npos) continue;
      ak.versions.push_back(Resource{av.substr(0, slash), av.substr(slash + 1), known->plural, kind,
                                     known->namespaced});
    }
    // The preferred version first: cilium.io/v2 before cilium.io/v2alpha1.
    std::stable_sort(ak.versions.begin(), ak.versions.end(),
                     [](const Resource& a, const Resource& b) {
                       return version_rank(a.version) > version_rank(b.version);
                     });
    if (!ak.versions.empty()) kinds.push_back(std::move(ak));
  }
  return kinds;
}

// ---- ApiObjectCache ----

ApiObjectCache::Entry ApiObjectCache::decode(const std::string& origin, const json& object,
                                             const Entry* previous) const {
  Entry e;
  e.digest = content_digest(object);
  if (previous && previous->digest == e.digest) return *previous;
  k8s::SourceRef ref{origin, -1, e.digest};
  try {
    k8s::Object obj = k8s::read_object(json_to_yaml(object), ref);
    k8s::SnapshotBuilder builder(registry_);
    e.errors = builder.add_all(obj);
    if (e.errors.empty()) e.fresh = std::make_shared<const k8s::Snapshot>(builder.take());
  } catch (const k8s::FieldError& fe) {
    e.errors = k8s::decode_errors(
        ref, object.value("kind", std::string("object")) + " " + object_key(object), fe);
  } catch (const std::exception& ex) {
    e.errors.push_back({ref, object_key(object), "", ex.what()});
  }
  // A version that does not decode keeps the last one that did: that object's last good state.
  if (!e.errors.empty() && previous) {
    e.fresh = previous->fresh;
    e.slot = previous->slot;
  }
  return e;
}

bool ApiObjectCache::replace(const std::string& kind, const std::string& origin,
                             const std::vector<json>& items) {
  Objects& old = kinds_[kind];
  // A complete set is decoded on every core (at most 4; a cluster's initial list is the one
  // large decode the source does): decode() reads only its item, the previous entry and the
  // registry, whose decoders may run on several threads at once (manifest_loader.hpp says so).
  std::vector<std::string> keys(items.size());
  std::vector<Entry> entries(items.size());
  const size_t threads = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 4);
  parallel_for(items.size(), threads, 64, [&](size_t i) {
    keys[i] = object_key(items[i]);
    auto prev = old.find(keys[i]);
    entries[i] = decode(origin, items[i], prev == old.end() ? nullptr : &prev->second);
  });
  Objects fresh;
  bool changed = false;
  for (size_t i = 0; i < items.size(); ++i) {
    auto prev = old.find(keys[i]);
    if (prev == old.end() || prev->second.digest != entries[i].digest) changed = true;
    fresh[keys[i]] = std::move(entries[i]);
  }
  if (fresh.size() != old.size()) changed = true;
  old = std::move(fresh);
  return changed;
}

bool ApiObjectCache::apply(const std::string& kind, const std::string& origin,
                           WatchEvent::Type type, const json& object) {
  Objects& objs = kinds_[kind];
  std::string key = object_key(object);
  auto it = objs.find(key);
  if (type == WatchEvent::Type::Deleted) {
    if (it == objs.end()) return false;
    objs.erase(it);
    return true;
  }
  if (type != WatchEvent::Type::Added && type != WatchEvent::Type::Modified) return false;
  Entry e = decode(origin, object, it == objs.end() ? nullptr : &it->second);
  if (it != objs.end() && it->second.digest == e.digest) return false;
  objs[key] = std::move(e);
  return true;
}

namespace {

// The vectors of a snapshot that hold objects, by Slot::field.
template <typename Fn>
auto with_field(const k8s::Snapshot& s, int8_t field, Fn&& fn) {
  switch (field) {
    case 0:
      return fn(s.services);
    case 1:
      return fn(s.endpoint_slices);
    case 2:
      return fn(s.pods);
    case 3:
      return fn(s.namespaces);
    case 4:
      return fn(s.nodes);
    case 5:
      return fn(s.config_maps);
    case 6:
      return fn(s.secrets);
    default:
      return fn(s.objects);
  }
}
constexpr int8_t kFields = 8;
static_assert(sizeof(k8s::Snapshot) ==
                  9 * sizeof(std::vector<int>) + 2 * sizeof(std::map<std::string, std::string>),
              "k8s::Snapshot changed: update with_field() and copy_slot()");

// The field of a one-object snapshot's object (-1 when it holds none: an ignored kind).
int8_t field_of(const k8s::Snapshot& part) {
  for (int8_t f = 0; f < kFields; ++f) {
    if (with_field(part, f, [](const auto& v) { return !v.empty(); })) return f;
  }
  return -1;
}

// Appends element `index` of field `field` of `from` to the same field of `to`; returns its index
// there.
size_t copy_slot(k8s::Snapshot& to, const k8s::Snapshot& from, int8_t field, size_t index) {
  auto copy = [index](auto& dst, const auto& src) {
    dst.push_back(src.at(index));
    return dst.size() - 1;
  };
  switch (field) {
    case 0:
      return copy(to.services, from.services);
    case 1:
      return copy(to.endpoint_slices, from.endpoint_slices);
    case 2:
      return copy(to.pods, from.pods);
    case 3:
      return copy(to.namespaces, from.namespaces);
    case 4:
      return copy(to.nodes, from.nodes);
    case 5:
      return copy(to.config_maps, from.config_maps);
    case 6:
      return copy(to.secrets, from.secrets);
    default:
      return copy(to.objects, from.objects);
  }
}

}  // namespace

std::shared_ptr<const k8s::Snapshot> ApiObjectCache::build(std::vector<k8s::DecodeError> refused) {
  auto snap = std::make_shared<k8s::Snapshot>();
  snap->refused = std::move(refused);
  for (auto& [kind, objs] : kinds_) {
    for (auto& [key, e] : objs) {
      if (e.fresh) {
        const int8_t f = field_of(*e.fresh);
        if (f < 0) {
          e.slot = Slot{};
          continue;
        }
        const size_t at = with_field(*snap, f, [](const auto& v) { return v.size(); });
        k8s::merge_into(*snap, *e.fresh);
        e.slot = Slot{f, at};
      } else if (e.slot.field >= 0 && built_) {
        e.slot.index = copy_slot(*snap, *built_, e.slot.field, e.slot.index);
      }
      e.fresh.reset();
    }
  }
  built_ = snap;
  return snap;
}

std::vector<k8s::DecodeError> ApiObjectCache::errors() const {
  std::vector<k8s::DecodeError> out;
  for (const auto& [kind, objs] : kinds_) {
    for (const auto& [key, e] : objs)
      out.insert(out.end(), e.errors.begin(), e.errors.end());
  }
  return out;
}

size_t ApiObjectCache::objects(const std::string& kind) const {
  auto it = kinds_.find(kind);
  return it == kinds_.end() ? 0 : it->second.size();
}

size_t ApiObjectCache::size() const {
  size_t n = 0;
  for (const auto& [kind, objs] : kinds_)
    n += objs.size();
  return n;
}

// ---- MergedSource ----

namespace {

std::string identity(const std::string& kind, const k8s::ObjectMeta& m) {
  return kind + "/" + m.ns + "/" + m.name;
}

// Every object's identity in `s`.
std::set<std::string> identities(const k8s::Snapshot& s) {
  std::set<std::string> out;
  for (const auto& o : s.services)
    out.insert(identity("Service", o.meta));
  for (const auto& o : s.endpoint_slices)
    out.insert(identity("EndpointSlice", o.meta));
  for (const auto& o : s.pods)
    out.insert(identity("Pod", o.meta));
  for (const auto& o : s.namespaces)
    out.insert(identity("Namespace", o.meta));
  for (const auto& o : s.nodes)
    out.insert(identity("Node", o.meta));
  for (const auto& o : s.config_maps)
    out.insert(identity("ConfigMap", o.meta));
  for (const auto& o : s.secrets)
    out.insert(identity("Secret", o.meta));
  for (const auto& o : s.objects)
    out.insert(identity(o.kind, o.meta));
  return out;
}

// Appends the objects of `from` that `taken` does not name; the names of those it leaves out go
// to `shadowed`.
template <typename T>
void append_unshadowed(std::vector<T>& to, const std::vector<T>& from, const char* kind,
                       const std::set<std::string>& taken, std::vector<std::string>& shadowed) {
  for (const auto& o : from) {
    std::string id;
    if constexpr (std::is_same_v<T, k8s::Object>) {
      id = identity(o.kind, o.meta);
    } else {
      id = identity(kind, o.meta);
    }
    if (taken.count(id)) {
      shadowed.push_back(id);
    } else {
      to.push_back(o);
    }
  }
}

}  // namespace

MergedSource::MergedSource(std::vector<std::unique_ptr<k8s::Source>> sources)
    : sources_(std::move(sources)), latest_(sources_.size()) {}

MergedSource::~MergedSource() {
  stop();
}

std::string MergedSource::describe() const {
  std::string s;
  for (const auto& src : sources_)
    s += (s.empty() ? "" : " + ") + src->describe();
  return s;
}

void MergedSource::start(SnapshotFn on_snapshot, ErrorFn on_error) {
  on_snapshot_ = std::move(on_snapshot);
  for (size_t i = 0; i < sources_.size(); ++i) {
    sources_[i]->start(
        [this, i](std::shared_ptr<const k8s::Snapshot> s) {
          latest_[i] = std::move(s);
          deliver();
        },
        on_error);
  }
}

void MergedSource::stop() {
  for (auto& s : sources_)
    s->stop();
}

void MergedSource::deliver() {
  for (const auto& s : latest_) {
    if (!s) return;  // each source's first snapshot before any merged one
  }
  // The usual case of an empty second source (no manifests beside the API): the first source's
  // snapshot is delivered as it is, shared, not copied (at 10,000 services the copy is tens of
  // MiB and tens of ms per change).
  bool others_empty = true;
  for (size_t i = 1; i < latest_.size(); ++i)
    others_empty = others_empty && identities(*latest_[i]).empty() &&
                   latest_[i]->settings.empty() && latest_[i]->ignored_kinds.empty() &&
                   latest_[i]->refused.empty();
  if (others_empty) {
    {
      std::lock_guard lock(mu_);
      shadowed_.clear();
      delivered_++;
      last_ok_ = SysClock::now();
    }
    if (on_snapshot_) on_snapshot_(latest_[0]);
    return;
  }
  auto merged = std::make_shared<k8s::Snapshot>(*latest_[0]);
  std::set<std::string> taken = identities(*merged);
  std::vector<std::string> shadowed;
  for (size_t i = 1; i < latest_.size(); ++i) {
    const auto& s = *latest_[i];
    append_unshadowed(merged->services, s.services, "Service", taken, shadowed);
    append_unshadowed(merged->endpoint_slices, s.endpoint_slices, "EndpointSlice", taken, shadowed);
    append_unshadowed(merged->pods, s.pods, "Pod", taken, shadowed);
    append_unshadowed(merged->namespaces, s.namespaces, "Namespace", taken, shadowed);
    append_unshadowed(merged->nodes, s.nodes, "Node", taken, shadowed);
    append_unshadowed(merged->config_maps, s.config_maps, "ConfigMap", taken, shadowed);
    append_unshadowed(merged->secrets, s.secrets, "Secret", taken, shadowed);
    append_unshadowed(merged->objects, s.objects, "", taken, shadowed);
    for (const auto& [k, n] : s.ignored_kinds)
      merged->ignored_kinds[k] += n;
    merged->refused.insert(merged->refused.end(), s.refused.begin(), s.refused.end());
    for (const auto& [k, v] : s.settings)
      merged->settings.emplace(k, v);
    auto more = identities(s);
    taken.insert(more.begin(), more.end());
  }
  {
    std::lock_guard lock(mu_);
    if (shadowed != shadowed_) {
      for (const auto& id : shadowed) {
        if (std::find(shadowed_.begin(), shadowed_.end(), id) == shadowed_.end())
          spdlog::warn("{} is named by more than one source: {}'s copy is used", id,
                       sources_[0]->describe());
      }
    }
    shadowed_ = std::move(shadowed);
    delivered_++;
    last_ok_ = SysClock::now();
  }
  if (on_snapshot_) on_snapshot_(std::move(merged));
}

k8s::SourceStats MergedSource::stats() const {
  k8s::SourceStats out;
  for (const auto& src : sources_) {
    auto st = src->stats();
    out.loads_failed += st.loads_failed;
    out.last_attempt = std::max(out.last_attempt, st.last_attempt);
    out.last_errors.insert(out.last_errors.end(), st.last_errors.begin(), st.last_errors.end());
    out.warnings.insert(out.warnings.end(), st.warnings.begin(), st.warnings.end());
    if (!st.pending.empty()) out.pending += (out.pending.empty() ? "" : "; ") + st.pending;
    if (st.stale) {
      if (!out.stale || st.stale_since < out.stale_since) out.stale_since = st.stale_since;
      out.stale = true;
      out.stale_reason += (out.stale_reason.empty() ? "" : "; ") + st.stale_reason;
    }
    out.parts.insert(out.parts.end(), st.parts.begin(), st.parts.end());
  }
  std::lock_guard lock(mu_);
  out.loads_ok = delivered_;
  out.last_ok = last_ok_;
  for (const auto& id : shadowed_)
    out.warnings.push_back(id + ": named by more than one source; " + sources_[0]->describe() +
                           "'s copy is used");
  return out;
}

}  // namespace netagent::source
