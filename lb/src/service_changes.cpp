#include "netagent/lb/service_changes.hpp"

#include <algorithm>

namespace netagent::lb {
namespace {

// At most this share of the EndpointSlices changed (or 64, whichever is more) is applied per
// service; beyond it, compiling everything at once is as cheap.
constexpr size_t kIncrementalMin = 64;

uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h;
}

uint64_t hash_str(const std::string& s) {
  return std::hash<std::string>{}(s);
}

bool same(const Frontend& a, const Frontend& b) {
  return a.key == b.key && a.type == b.type && a.service == b.service &&
         a.port_name == b.port_name && a.flags == b.flags &&
         a.affinity_timeout == b.affinity_timeout && a.backends == b.backends && a.group == b.group;
}

bool same(const std::vector<Frontend>& a, const std::vector<Frontend>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!same(a[i], b[i])) return false;
  }
  return true;
}

uint64_t hash_ips(const LoadBalancerIps& ips) {
  uint64_t h = 3;
  for (const auto& [k, v] : ips) {
    h = mix(h, hash_str(k));
    for (auto a : v)
      h = mix(h, a.value);
  }
  return h | 1;
}

// "ns/name" of a "ns/name/port-name" key (port names have no '/').
std::string service_of(const std::string& port_key) {
  auto slash = port_key.rfind('/');
  return slash == std::string::npos ? port_key : port_key.substr(0, slash);
}

// Per service: the ClusterMesh backends of its ports and whether they replace the local ones.
std::map<std::string, uint64_t> extra_digests(const ExtraBackends* extra) {
  std::map<std::string, uint64_t> out;
  if (!extra) return out;
  for (const auto& [k, v] : extra->by_service_port) {
    auto& d = out[service_of(k)];
    d = mix(d ? d : 1, hash_str(k));
    for (const auto& b : v) {
      d = mix(d, uint64_t(b.addr.addr.value) << 24 | uint64_t(b.addr.port) << 8 | b.cluster_id);
      d = mix(d, hash_str(b.cluster));
    }
  }
  for (const auto& k : extra->replace_local) {
    auto& d = out[service_of(k)];
    d = mix(d ? d : 1, hash_str(k) ^ 0x5a5a5a5a);
  }
  return out;
}

// Digest of everything but EndpointSlices and ClusterMesh backends (both per service); 0 when
// some Service has no digest (always recompile). No allocation: the Services are one pass over
// their digests, LB IPs come as a generation.
uint64_t global_digest(const k8s::Snapshot& snap, const NodeView& node, uint64_t ips_generation,
                       const ModelOptions& opts) {
  uint64_t h = mix(1, snap.services.size());
  for (const auto& s : snap.services) {
    if (s.source.digest == 0) return 0;
    h = mix(h, s.source.digest);
  }
  h = mix(h, hash_str(node.name));
  for (auto a : node.addresses)
    h = mix(h, a.value);
  h = mix(h, ips_generation);
  h = mix(h, uint64_t(opts.nodeport_min) << 32 | uint64_t(opts.nodeport_max) << 1 | opts.maglev);
  // Finalise (splitmix64) before reserving 0: a change in the last value's low bit must not be
  // lost to the `| 1` below.
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h | 1;
}

std::string slice_service(const k8s::EndpointSlice& es) {
  return es.meta.ns + "/" + es.service_name;
}

}  // namespace

void ServiceChanges::index(const DesiredServices& d) {
  by_service_.clear();
  for (const auto& f : d.frontends)
    by_service_[f.service].push_back(f);
}

int32_t ServiceChanges::intern(const std::string& service_key) {
  auto [it, inserted] = svc_index_.try_emplace(service_key, int32_t(svc_keys_.size()));
  if (inserted) {
    svc_keys_.push_back(service_key);
    svc_pos_.push_back(-1);
  }
  return it->second;
}

ServiceChangeSet ServiceChanges::full(const k8s::Snapshot& snap, const NodeView& node,
                                      const LoadBalancerIpsSource& lb_ips, const ModelOptions& opts,
                                      const ExtraBackends* extra) {
  ServiceChangeSet out;
  out.full = true;
  out.compiled = snap.services.size();
  current_stale_ = false;
  auto old = std::move(by_service_);
  lb_ips_ = lb_ips.build ? lb_ips.build() : LoadBalancerIps{};
  current_ = compile_services(snap, node, lb_ips_, opts, extra);
  index(current_);
  for (const auto& [svc, fronts] : by_service_) {
    auto it = old.find(svc);
    if (it == old.end() || !same(it->second, fronts)) out.services[svc] = fronts;
  }
  for (const auto& [svc, fronts] : old) {
    if (!by_service_.count(svc)) out.services[svc];  // removed
  }
  out.backends = current_.backends;

  // The indexes the incremental path works from.
  extra_digests_ = extra_digests(extra);
  svc_index_.clear();
  svc_keys_.clear();
  svc_pos_.clear();
  for (size_t i = 0; i < snap.services.size(); ++i) {
    const int32_t id = intern(snap.services[i].meta.key());
    svc_pos_[size_t(id)] = int32_t(i);
  }
  slice_digests_.clear();
  slice_svc_.clear();
  for (const auto& es : snap.endpoint_slices) {
    slice_digests_.push_back(es.source.digest);
    slice_svc_.push_back(intern(slice_service(es)));
  }
  return out;
}

ServiceChangeSet ServiceChanges::update(const k8s::Snapshot& snap, const NodeView& node,
                                        const LoadBalancerIps& lb_ips, const ModelOptions& opts,
                                        const ExtraBackends* extra) {
  LoadBalancerIpsSource src{hash_ips(lb_ips), [&lb_ips] { return lb_ips; }};
  return update(snap, node, src, opts, extra, 0);
}

ServiceChangeSet ServiceChanges::update(const k8s::Snapshot& snap, const NodeView& node,
                                        const LoadBalancerIpsSource& lb_ips,
                                        const ModelOptions& opts, const ExtraBackends* extra,
                                        uint64_t extra_generation) {
  const uint64_t g = global_digest(snap, node, lb_ips.generation, opts);
  const bool everything = !initialised_ || g == 0 || g != global_digest_;
  const bool extra_changed = extra_generation == 0 || extra_generation != extra_generation_;
  initialised_ = true;
  global_digest_ = g;
  extra_generation_ = extra_generation;
  if (everything) return full(snap, node, lb_ips, opts, extra);

  // Services whose ClusterMesh backends changed (only looked at for a new generation).
  std::vector<int32_t> dirty;
  if (extra_changed) {
    auto now = extra_digests(extra);
    auto a = extra_digests_.begin();
    auto b = now.begin();
    while (a != extra_digests_.end() || b != now.end()) {
      if (b == now.end() || (a != extra_digests_.end() && a->first < b->first)) {
        dirty.push_back(intern(a->first));  // lost its remote backends
        ++a;
      } else if (a == extra_digests_.end() || b->first < a->first) {
        dirty.push_back(intern(b->first));  // got remote backends
        ++b;
      } else {
        if (a->second != b->second) dirty.push_back(intern(a->first));
        ++a;
        ++b;
      }
    }
    extra_digests_ = std::move(now);
  }

  // Which EndpointSlices changed: what lies between the common prefix and suffix of the old and
  // new digest sequences. Both sequences hold no 0 here: a slice without a digest made the last
  // update compile everything and leaves a 0 that no new slice matches below.
  const auto& slices = snap.endpoint_slices;
  const size_t n_new = slices.size(), n_old = slice_digests_.size();
  size_t pre = 0;
  while (pre < n_new && pre < n_old && slices[pre].source.digest == slice_digests_[pre] &&
         slice_digests_[pre] != 0)
    ++pre;
  size_t suf = 0;
  while (suf < n_new - pre && suf < n_old - pre &&
         slices[n_new - 1 - suf].source.digest == slice_digests_[n_old - 1 - suf] &&
         slice_digests_[n_old - 1 - suf] != 0)
    ++suf;
  const size_t old_end = n_old - suf, new_end = n_new - suf;
  if (pre == n_new && pre == n_old && dirty.empty()) return {};  // nothing changed

  const size_t changed = (old_end - pre) + (new_end - pre);
  bool digests_known = true;
  for (size_t i = pre; i < new_end; ++i) {
    if (slices[i].source.digest == 0) digests_known = false;
  }
  if (!digests_known || changed + dirty.size() > std::max(kIncrementalMin, (n_new + n_old) / 4)) {
    return full(snap, node, lb_ips, opts, extra);
  }

  // The services of the slices that went away and of those that came.
  dirty.insert(dirty.end(), slice_svc_.begin() + long(pre), slice_svc_.begin() + long(old_end));
  std::vector<uint64_t> new_digests;
  std::vector<int32_t> new_svc;
  for (size_t i = pre; i < new_end; ++i) {
    new_digests.push_back(slices[i].source.digest);
    new_svc.push_back(intern(slice_service(slices[i])));
    dirty.push_back(new_svc.back());
  }
  slice_digests_.erase(slice_digests_.begin() + long(pre), slice_digests_.begin() + long(old_end));
  slice_digests_.insert(slice_digests_.begin() + long(pre), new_digests.begin(), new_digests.end());
  slice_svc_.erase(slice_svc_.begin() + long(pre), slice_svc_.begin() + long(old_end));
  slice_svc_.insert(slice_svc_.begin() + long(pre), new_svc.begin(), new_svc.end());
  std::sort(dirty.begin(), dirty.end());
  dirty.erase(std::unique(dirty.begin(), dirty.end()), dirty.end());

  // Compile just those services (the ones that exist).
  ServiceChangeSet out;
  for (int32_t id : dirty) {
    const int32_t pos = svc_pos_[size_t(id)];
    if (pos < 0) continue;  // slices of a service that does not exist
    const auto& svc = snap.services[size_t(pos)];
    const auto& key = svc_keys_[size_t(id)];
    // The service alone, with its slices. Its frontends (addresses, ports, NodePorts) cannot
    // have changed, since no Service did: only their backends are taken from this compile.
    k8s::Snapshot one;
    one.services.push_back(svc);
    for (size_t i = 0; i < slice_svc_.size(); ++i) {
      if (slice_svc_[i] == id) one.endpoint_slices.push_back(slices[i]);
    }
    LoadBalancerIps ips;
    if (auto it = lb_ips_.find(key); it != lb_ips_.end()) ips.insert(*it);
    auto d = compile_services(one, node, ips, opts, extra);
    out.compiled++;
    std::map<std::string, const std::vector<BackendAddr>*> by_group;
    for (const auto& f : d.frontends)
      by_group[f.group] = &f.backends;
    auto bs = by_service_.find(key);
    if (bs == by_service_.end()) continue;  // the service has no frontends
    bool fronts_changed = false;
    for (auto& f : bs->second) {
      auto it = by_group.find(f.group);
      static const std::vector<BackendAddr> kNone;
      const auto& backends = it == by_group.end() ? kNone : *it->second;
      if (f.backends != backends) {
        f.backends = backends;
        fronts_changed = true;
        // current_ (sorted by key) follows at once: frontends' keys cannot have changed here.
        auto c =
            std::lower_bound(current_.frontends.begin(), current_.frontends.end(), f.key,
                             [](const Frontend& x, const FrontendKey& k) { return x.key < k; });
        if (c != current_.frontends.end() && c->key == f.key && c->service == f.service) {
          c->backends = backends;
        } else {
          current_stale_ = true;
        }
      }
    }
    for (const auto& [addr, info] : d.backends) {
      current_.backends[addr] = info;
      out.backends[addr] = info;
    }
    if (fronts_changed) out.services[key] = bs->second;
  }
  return out;
}

const DesiredServices& ServiceChanges::current() const {
  if (current_stale_) {
    current_.frontends.clear();
    for (const auto& [svc, fronts] : by_service_) {
      current_.frontends.insert(current_.frontends.end(), fronts.begin(), fronts.end());
    }
    std::sort(current_.frontends.begin(), current_.frontends.end(),
              [](const Frontend& x, const Frontend& y) { return x.key < y.key; });
    current_stale_ = false;
  }
  return current_;
}

}  // namespace netagent::lb
