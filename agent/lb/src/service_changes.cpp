#include "netagent/lb/service_changes.hpp"

#include <algorithm>

namespace netagent::lb {
namespace {

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

// Digest of everything but EndpointSlices; 0 when some object has no digest (always recompile).
uint64_t global_digest(const k8s::Snapshot& snap, const NodeView& node, const LoadBalancerIps& ips,
                       const ModelOptions& opts, const ExtraBackends* extra) {
  uint64_t h = 1;
  for (const auto& s : snap.services) {
    if (s.source.digest == 0) return 0;
    h = mix(h, s.source.digest);
  }
  h = mix(h, hash_str(node.name));
  for (auto a : node.addresses)
    h = mix(h, a.value);
  for (const auto& [k, v] : ips) {
    h = mix(h, hash_str(k));
    for (auto a : v)
      h = mix(h, a.value);
  }
  h = mix(h, uint64_t(opts.nodeport_min) << 32 | uint64_t(opts.nodeport_max) << 1 | opts.maglev);
  // ClusterMesh backends are per service (extra_digests): a remote change recompiles only the
  // services it touches.
  (void)extra;
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

}  // namespace

void ServiceChanges::index(const DesiredServices& d) {
  by_service_.clear();
  for (const auto& f : d.frontends)
    by_service_[f.service].push_back(f);
}

ServiceChangeSet ServiceChanges::full(const k8s::Snapshot& snap, const NodeView& node,
                                      const LoadBalancerIps& lb_ips, const ModelOptions& opts,
                                      const ExtraBackends* extra) {
  ServiceChangeSet out;
  out.full = true;
  out.compiled = snap.services.size();
  current_stale_ = false;
  auto old = std::move(by_service_);
  current_ = compile_services(snap, node, lb_ips, opts, extra);
  index(current_);
  for (const auto& [svc, fronts] : by_service_) {
    auto it = old.find(svc);
    if (it == old.end() || !same(it->second, fronts)) out.services[svc] = fronts;
  }
  for (const auto& [svc, fronts] : old) {
    if (!by_service_.count(svc)) out.services[svc];  // removed
  }
  out.backends = current_.backends;
  return out;
}

ServiceChangeSet ServiceChanges::update(const k8s::Snapshot& snap, const NodeView& node,
                                        const LoadBalancerIps& lb_ips, const ModelOptions& opts,
                                        const ExtraBackends* extra) {
  // EndpointSlices per service, and their digests.
  std::map<std::string, std::vector<const k8s::EndpointSlice*>> slices;
  std::map<std::string, uint64_t> slice_digests;
  bool digests_known = true;
  for (const auto& es : snap.endpoint_slices) {
    auto key = es.meta.ns + "/" + es.service_name;
    slices[key].push_back(&es);
    if (es.source.digest == 0) digests_known = false;
    auto& d = slice_digests[key];
    d = mix(d ? d : 1, es.source.digest);
  }
  // A service's ClusterMesh backends count as its slices do.
  for (const auto& [key, x] : extra_digests(extra)) {
    auto& d = slice_digests[key];
    d = mix(d ? d : 1, x);
  }
  const uint64_t g = global_digest(snap, node, lb_ips, opts, extra);
  if (!initialised_ || g == 0 || g != global_digest_ || !digests_known) {
    initialised_ = true;
    global_digest_ = g;
    slices_digest_ = std::move(slice_digests);
    return full(snap, node, lb_ips, opts, extra);
  }

  // Only EndpointSlices changed: compile just the services whose slices did.
  ServiceChangeSet out;
  for (const auto& svc : snap.services) {
    const auto key = svc.meta.key();
    auto now = slice_digests.find(key);
    auto before = slices_digest_.find(key);
    uint64_t a = now == slice_digests.end() ? 0 : now->second;
    uint64_t b = before == slices_digest_.end() ? 0 : before->second;
    if (a == b) continue;
    // The service alone, with its slices. Its frontends (addresses, ports, NodePorts) cannot
    // have changed, since no Service did: only their backends are taken from this compile.
    k8s::Snapshot one;
    one.services.push_back(svc);
    if (now != slice_digests.end()) {
      for (const auto* es : slices[key])
        one.endpoint_slices.push_back(*es);
    }
    auto d = compile_services(one, node, lb_ips, opts, extra);
    out.compiled++;
    std::map<std::string, const std::vector<BackendAddr>*> by_group;
    for (const auto& f : d.frontends)
      by_group[f.group] = &f.backends;
    auto& fronts = by_service_[key];
    bool changed = false;
    for (auto& f : fronts) {
      auto it = by_group.find(f.group);
      static const std::vector<BackendAddr> kNone;
      const auto& backends = it == by_group.end() ? kNone : *it->second;
      if (f.backends != backends) {
        f.backends = backends;
        changed = true;
      }
    }
    for (const auto& [addr, info] : d.backends) {
      current_.backends[addr] = info;
      out.backends[addr] = info;
    }
    if (changed) out.services[key] = fronts;
  }
  slices_digest_ = std::move(slice_digests);
  if (!out.services.empty()) current_stale_ = true;
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
