// LB IPAM allocation. The design (docs/ipam.md) in short:
//
//  * Services are handled in canonical order (namespace/name) and pools in name order, never in
//    the order objects happen to arrive, so two nodes with the same manifests compute the same
//    result.
//  * A service without a requested address has a home address: FNV-1a of its identity (its
//    sharing key, else namespace/name) modulo the pool's allocatable addresses. When the home is
//    taken it probes forward (wrapping) to the next free address.
//  * Addresses already held are never moved: the Service's own status.loadBalancer.ingress (which
//    every node sees) and this node's previous result are honoured first, then new requests, then
//    every new service's home, and only then the probes. Claiming all homes before any probe
//    keeps a probing service from taking another service's home, which is what a node that saw
//    the services arrive in another order would otherwise disagree on.
#include <algorithm>
#include <memory>
#include <set>
#include <tuple>
#include <unordered_map>

#include "netagent/ipam/allocation.hpp"
#include "netagent/ipam/service_labels.hpp"
#include "pool_index.hpp"

namespace netagent::ipam {
namespace {

using detail::PoolIndex;
using detail::PoolRuntime;

// FNV-1a, 64 bit: stable across builds and platforms (std::hash is not), so every node derives
// the same home address from the same name.
uint64_t fnv1a(std::string_view s) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return "";
  auto e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    auto comma = s.find(',', start);
    auto item = trim(std::string_view(s).substr(
        start, comma == std::string::npos ? std::string::npos : comma - start));
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

const std::string* annotation(const k8s::Service& svc, const char* key, const char* alias) {
  if (const auto* v = svc.meta.annotation(key)) return v;
  return svc.meta.annotation(alias);
}

struct PortKey {
  uint16_t port;
  k8s::Protocol protocol;
  auto operator<=>(const PortKey&) const = default;
};

// LB IPAM's view of a Service: only what allocation depends on.
struct ServiceView {
  const k8s::Service* svc = nullptr;
  std::string key;  // namespace/name
  k8s::Labels labels;
  std::vector<Ipv4Addr> requested;
  std::vector<std::string> ignored_requests;  // entries that are not IPv4 addresses
  std::string sharing_key;
  std::vector<std::string> cross_ns;
  std::vector<PortKey> ports;        // sorted
  std::vector<Ipv4Addr> status_ips;  // status.loadBalancer.ingress[].ip
  uint64_t home_hash = 0;

  bool dynamic() const { return requested.empty() && ignored_requests.empty(); }
};

ServiceView make_view(const k8s::Service& svc) {
  ServiceView v;
  v.svc = &svc;
  v.key = svc.meta.ns + "/" + svc.meta.name;
  v.labels = service_selector_labels(svc);
  auto request = [&](Ipv4Addr ip) {
    if (std::find(v.requested.begin(), v.requested.end(), ip) == v.requested.end()) {
      v.requested.push_back(ip);
    }
  };
  // spec.loadBalancerIP was decoded with the Service (an IPv4 address); the annotation is text.
  if (svc.load_balancer_ip) request(svc.load_balancer_ip->as_v4());
  if (const auto* a = annotation(svc, kIpsAnnotation, kIpsAnnotationAlias)) {
    for (auto& e : split_list(*a)) {
      if (auto ip = Ipv4Addr::parse(e)) {
        request(*ip);
      } else {
        v.ignored_requests.push_back(e);
      }
    }
  }
  if (const auto* k = annotation(svc, kSharingKeyAnnotation, kSharingKeyAnnotationAlias)) {
    v.sharing_key = trim(*k);
  }
  if (const auto* c = annotation(svc, kSharingCrossNamespaceAnnotation,
                                 kSharingCrossNamespaceAnnotationAlias)) {
    v.cross_ns = split_list(*c);
  }
  for (const auto& p : svc.ports)
    v.ports.push_back({p.port, p.protocol});
  std::sort(v.ports.begin(), v.ports.end());
  for (const auto& ip : svc.status_ingress_ips) {
    if (ip.is_v4()) v.status_ips.push_back(ip.as_v4());
  }
  // Services of one sharing key share a home, so the first of them to allocate takes it and the
  // others join it on every node. A key that may cross namespaces is one group cluster-wide.
  std::string identity;
  if (v.sharing_key.empty()) {
    identity = "service/" + v.key;
  } else if (v.cross_ns.empty()) {
    identity = "sharing-key/" + svc.meta.ns + "/" + v.sharing_key;
  } else {
    identity = "sharing-key/*/" + v.sharing_key;
  }
  v.home_hash = fnv1a(identity);
  return v;
}

bool allows_namespace(const ServiceView& v, const std::string& ns) {
  return std::find(v.cross_ns.begin(), v.cross_ns.end(), "*") != v.cross_ns.end() ||
         std::find(v.cross_ns.begin(), v.cross_ns.end(), ns) != v.cross_ns.end();
}

// Why two services may not share an address, or nullopt when they may. Cilium's rules
// (operator/pkg/lbipam, ServiceView.isCompatible): same sharing key; same namespace unless both
// allow the other's namespace; no common port (here port and protocol, since this datapath keys
// services by protocol); same externalTrafficPolicy; with Local, identical non-empty selectors.
std::optional<std::string> incompatibility(const ServiceView& a, const ServiceView& b) {
  if (a.sharing_key.empty() || a.sharing_key != b.sharing_key) return "different sharing key";
  if (a.svc->meta.ns != b.svc->meta.ns &&
      (!allows_namespace(a, b.svc->meta.ns) || !allows_namespace(b, a.svc->meta.ns))) {
    return "different and not permitted namespace";
  }
  for (const auto& p : a.ports) {
    if (std::binary_search(b.ports.begin(), b.ports.end(), p)) {
      return "same port " + std::to_string(p.port) + "/" + k8s::to_string(p.protocol);
    }
  }
  if (a.svc->external_traffic_local != b.svc->external_traffic_local) {
    return "different externalTrafficPolicy";
  }
  if (a.svc->external_traffic_local) {
    const auto& sa = a.svc->selector;
    const auto& sb = b.svc->selector;
    if (!sa || !sb || sa->empty() || sb->empty() || *sa != *sb) {
      return "externalTrafficPolicy Local needs identical pod selectors";
    }
  }
  return std::nullopt;
}

struct Failure {
  Reason reason;
  std::string message;
};

// One allocation run over the (canonically ordered) service views.
class Run {
 public:
  Run(const std::vector<Pool>& pools, const std::vector<ServiceView>& views)
      : index_(pools), views_(views), held_(views.size()), failure_(views.size()) {}

  void claim(size_t i, const std::vector<Ipv4Addr>& ips, Placement placement) {
    const auto& v = views_[i];
    for (auto ip : ips) {
      if (holds(i, ip)) continue;
      if (v.dynamic() && !held_[i].empty()) return;  // one address without a request
      if (!v.dynamic() &&
          std::find(v.requested.begin(), v.requested.end(), ip) == v.requested.end()) {
        continue;  // no longer requested: released
      }
      PoolRuntime* pool = index_.owner(ip);
      if (!pool || !pool->pool->service_selector.matches(v.labels)) continue;
      // A disabled pool keeps existing allocations, and so do reserved edge addresses that were
      // allocatable when the service got them: only new allocations follow the pool's rules.
      auto it = slots_.find(ip.value);
      if (it == slots_.end()) {
        take(i, ip, *pool, placement);
      } else if (!conflict_with_holders(i, it->second)) {
        join(i, ip, *pool, placement);
      }
    }
  }

  void request(size_t i) {
    const auto& v = views_[i];
    for (auto ip : v.requested) {
      if (holds(i, ip)) continue;
      if (auto f = try_request(i, ip)) note(i, std::move(*f));
    }
  }

  // Phase 3: a new dynamic service takes its home (or joins its sharing key) when it can.
  bool claim_home(size_t i) {
    if (!held_[i].empty()) return true;
    if (join_sharing_group(i)) return true;
    PoolRuntime* pool = first_pool_with_room(i);
    if (!pool) return false;
    Ipv4Addr home = pool->at(views_[i].home_hash % pool->total);
    auto it = slots_.find(home.value);
    if (it == slots_.end()) {
      take(i, home, *pool, Placement::Home);
      return true;
    }
    return false;  // probes after every service had its chance at its home
  }

  // Phase 4: probe forward from the home address, pool by pool.
  void probe(size_t i) {
    if (!held_[i].empty()) return;
    if (join_sharing_group(i)) return;
    const auto& v = views_[i];
    bool matched = false, full = false;
    std::vector<std::string> disabled;
    for (auto& pool : index_.pools()) {
      if (pool.conflicting || !pool.pool->service_selector.matches(v.labels)) continue;
      if (pool.pool->disabled) {
        disabled.push_back(pool.pool->name);
        continue;
      }
      matched = true;
      if (pool.full()) {
        full = true;
        continue;
      }
      const uint64_t home = v.home_hash % pool.total;
      for (uint64_t step = 0; step < pool.total; ++step) {
        Ipv4Addr ip = pool.at((home + step) % pool.total);
        if (slots_.count(ip.value)) continue;
        take(i, ip, pool, step == 0 ? Placement::Home : Placement::Probed);
        return;
      }
      full = true;  // unreachable while used < total; kept for safety
    }
    if (matched && full) {
      note(i, {Reason::OutOfIps,
               "All enabled CiliumLoadBalancerIPPools that match this service ran out of "
               "allocatable IPs"});
    } else if (!disabled.empty()) {
      std::string list;
      for (const auto& d : disabled)
        list += (list.empty() ? "'" : ", '") + d + "'";
      note(i, {Reason::PoolDisabled,
               "The CiliumLoadBalancerIPPools that match this service are disabled: " + list});
    } else {
      note(i, {Reason::NoPool,
               "There are no enabled CiliumLoadBalancerIPPools that match this service"});
    }
  }

  const std::vector<AllocatedIp>& held(size_t i) const { return held_[i]; }
  const std::optional<Failure>& failure(size_t i) const { return failure_[i]; }
  PoolIndex& index() { return index_; }
  // Services holding addresses of each pool, by pool name.
  std::map<std::string, uint64_t> services_per_pool() const {
    std::map<std::string, uint64_t> out;
    for (const auto& h : held_) {
      std::set<std::string_view> seen;
      for (const auto& a : h) {
        if (seen.insert(a.pool).second) ++out[a.pool];
      }
    }
    return out;
  }

 private:
  struct Slot {
    PoolRuntime* pool;
    std::vector<size_t> holders;
  };

  bool holds(size_t i, Ipv4Addr ip) const {
    for (const auto& a : held_[i]) {
      if (a.ip == ip) return true;
    }
    return false;
  }

  void note(size_t i, Failure f) {
    if (!failure_[i]) failure_[i] = std::move(f);
  }

  std::optional<std::string> conflict_with_holders(size_t i, const Slot& slot) const {
    for (size_t h : slot.holders) {
      if (auto why = incompatibility(views_[h], views_[i])) return why;
    }
    return std::nullopt;
  }

  void take(size_t i, Ipv4Addr ip, PoolRuntime& pool, Placement placement) {
    slots_.emplace(ip.value, Slot{&pool, {i}});
    if (index_.allocatable(ip)) ++pool.used;
    record(i, ip, pool, placement);
  }

  void join(size_t i, Ipv4Addr ip, PoolRuntime& pool, Placement placement) {
    slots_[ip.value].holders.push_back(i);
    record(i, ip, pool, placement);
  }

  void record(size_t i, Ipv4Addr ip, PoolRuntime& pool, Placement placement) {
    held_[i].push_back({ip, pool.pool->name, placement});
    if (!views_[i].sharing_key.empty()) groups_[views_[i].sharing_key].insert(ip.value);
  }

  std::optional<Failure> try_request(size_t i, Ipv4Addr ip) {
    const auto& v = views_[i];
    const std::string q = "'" + ip.str() + "'";
    PoolRuntime* pool = index_.owner(ip);
    if (!pool) {
      if (const auto* c = index_.conflicting_owner(ip)) {
        return Failure{Reason::NoPool, "The pool '" + c->pool->name + "' containing " + q +
                                           " conflicts with another pool and allocates nothing"};
      }
      return Failure{Reason::NoPool, "No pool exists with a CIDR containing " + q};
    }
    if (!pool->pool->service_selector.matches(v.labels)) {
      return Failure{Reason::PoolSelectorMismatch,
                     "The pool with the CIDR containing " + q + ", doesn't select this service"};
    }
    if (pool->pool->disabled) {
      return Failure{Reason::PoolDisabled,
                     "The pool '" + pool->pool->name + "' containing " + q + " is disabled"};
    }
    if (index_.reserved(ip)) {
      return Failure{Reason::ReservedIp,
                     q + " is the first or last address of a CIDR of pool '" + pool->pool->name +
                         "' and is reserved (allowFirstLastIPs: \"Yes\" allows it)"};
    }
    auto it = slots_.find(ip.value);
    if (it == slots_.end()) {
      take(i, ip, *pool, Placement::Requested);
      return std::nullopt;
    }
    const auto& holder = views_[it->second.holders.front()].key;
    if (v.sharing_key.empty()) {
      return Failure{Reason::AlreadyAllocated,
                     "The IP " + q + " is already allocated to another service (" + holder + ")"};
    }
    if (auto why = conflict_with_holders(i, it->second)) {
      return Failure{Reason::AlreadyAllocatedIncompatible,
                     "The IP " + q + " is already allocated to an incompatible service (" + holder +
                         "). Reason: " + *why};
    }
    join(i, ip, *pool, Placement::Requested);
    return std::nullopt;
  }

  // Joins the lowest address of the service's sharing key that it is compatible with.
  bool join_sharing_group(size_t i) {
    const auto& v = views_[i];
    if (v.sharing_key.empty()) return false;
    auto g = groups_.find(v.sharing_key);
    if (g == groups_.end()) return false;
    for (uint32_t raw : g->second) {
      auto& slot = slots_.at(raw);
      if (!slot.pool->usable_for_new() || !slot.pool->pool->service_selector.matches(v.labels)) {
        continue;
      }
      if (conflict_with_holders(i, slot)) continue;
      join(i, Ipv4Addr{raw}, *slot.pool, Placement::Shared);
      return true;
    }
    return false;
  }

  PoolRuntime* first_pool_with_room(size_t i) {
    for (auto& pool : index_.pools()) {
      if (!pool.usable_for_new() || pool.full()) continue;
      if (pool.pool->service_selector.matches(views_[i].labels)) return &pool;
    }
    return nullptr;
  }

  PoolIndex index_;
  const std::vector<ServiceView>& views_;
  std::vector<std::vector<AllocatedIp>> held_;
  std::vector<std::optional<Failure>> failure_;
  std::unordered_map<uint32_t, Slot> slots_;
  std::map<std::string, std::set<uint32_t>> groups_;  // sharing key -> addresses
};

// One complete run. previous is null for a node without history (the canonical allocation).
std::unique_ptr<Run> run_allocation(const std::vector<Pool>& pools,
                                    const std::vector<ServiceView>& views,
                                    const AllocationState* previous) {
  auto run = std::make_unique<Run>(pools, views);
  // 1. Addresses already held. The Service's status is visible to every node, so it outranks
  //    this node's own memory.
  for (size_t i = 0; i < views.size(); ++i) {
    run->claim(i, views[i].status_ips, Placement::Status);
  }
  if (previous) {
    for (size_t i = 0; i < views.size(); ++i) {
      auto it = previous->services.find(views[i].key);
      if (it != previous->services.end()) run->claim(i, it->second, Placement::Previous);
    }
  }
  // 2. Requested addresses.
  for (size_t i = 0; i < views.size(); ++i) {
    if (!views[i].requested.empty()) run->request(i);
  }
  // 3. Every new dynamic service's home, 4. then the probes.
  std::vector<size_t> deferred;
  for (size_t i = 0; i < views.size(); ++i) {
    if (views[i].dynamic() && !run->claim_home(i)) deferred.push_back(i);
  }
  for (size_t i : deferred)
    run->probe(i);
  return run;
}

std::vector<Ipv4Addr> addresses(const std::vector<AllocatedIp>& held) {
  std::vector<Ipv4Addr> out;
  for (const auto& a : held)
    out.push_back(a.ip);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

const char* to_string(Reason r) {
  switch (r) {
    case Reason::Satisfied:
      return "satisfied";
    case Reason::NoPool:
      return "no_pool";
    case Reason::PoolSelectorMismatch:
      return "pool_selector_mismatch";
    case Reason::PoolDisabled:
      return "pool_disabled";
    case Reason::ReservedIp:
      return "reserved_ip";
    case Reason::AlreadyAllocated:
      return "already_allocated";
    case Reason::AlreadyAllocatedIncompatible:
      return "already_allocated_incompatible_service";
    case Reason::OutOfIps:
      return "out_of_ips";
    case Reason::InvalidRequest:
      return "invalid_request";
  }
  return "?";
}

const char* to_string(Placement p) {
  switch (p) {
    case Placement::Requested:
      return "requested";
    case Placement::Status:
      return "status";
    case Placement::Previous:
      return "previous";
    case Placement::Home:
      return "home";
    case Placement::Probed:
      return "probed";
    case Placement::Shared:
      return "shared";
  }
  return "?";
}

bool handled_by_lb_ipam(const k8s::Service& svc) {
  return svc.type == "LoadBalancer" && handles_load_balancer_class(svc);
}

const ServiceAllocation* Allocation::find(std::string_view ns, std::string_view name) const {
  std::string key;
  key.reserve(ns.size() + name.size() + 1);
  key.append(ns).append("/").append(name);
  auto it = services.find(key);
  return it == services.end() ? nullptr : &it->second;
}

std::vector<Ipv4Addr> Allocation::ips_of(std::string_view ns, std::string_view name) const {
  const auto* s = find(ns, name);
  return s ? addresses(s->ips) : std::vector<Ipv4Addr>{};
}

AllocationState Allocation::state() const {
  AllocationState st;
  for (const auto& [key, s] : services) {
    if (!s.ips.empty()) st.services[key] = addresses(s.ips);
  }
  return st;
}

Allocation allocate(const std::vector<Pool>& pools, const std::vector<k8s::Service>& services,
                    const AllocationState& previous, const AllocateOptions& options) {
  Allocation out;
  if (pools.empty()) return out;  // dormant until the first pool exists
  out.dormant = false;

  // Canonical order: namespace, then name (the order of "namespace/name" keys).
  std::vector<const k8s::Service*> handled;
  for (const auto& svc : services) {
    if (handled_by_lb_ipam(svc)) handled.push_back(&svc);
  }
  std::sort(handled.begin(), handled.end(), [](const k8s::Service* a, const k8s::Service* b) {
    return std::tie(a->meta.ns, a->meta.name) < std::tie(b->meta.ns, b->meta.name);
  });
  std::vector<ServiceView> views;
  views.reserve(handled.size());
  for (const auto* svc : handled)
    views.push_back(make_view(*svc));

  auto run = run_allocation(pools, views, &previous);
  std::unique_ptr<Run> fresh;
  if (options.compute_canonical) fresh = run_allocation(pools, views, nullptr);

  for (size_t i = 0; i < views.size(); ++i) {
    const auto& v = views[i];
    ServiceAllocation sa;
    sa.key = v.key;
    sa.sharing_key = v.sharing_key;
    sa.ips = run->held(i);
    std::sort(sa.ips.begin(), sa.ips.end(),
              [](const AllocatedIp& a, const AllocatedIp& b) { return a.ip < b.ip; });
    if (!v.requested.empty()) {
      sa.satisfied = std::all_of(v.requested.begin(), v.requested.end(), [&](Ipv4Addr want) {
        return std::any_of(sa.ips.begin(), sa.ips.end(),
                           [&](const AllocatedIp& a) { return a.ip == want; });
      });
    } else {
      sa.satisfied = !sa.ips.empty();
    }
    if (sa.satisfied) {
      sa.reason = Reason::Satisfied;
    } else if (run->failure(i)) {
      sa.reason = run->failure(i)->reason;
      sa.message = run->failure(i)->message;
    } else if (v.requested.empty() && !v.ignored_requests.empty()) {
      sa.reason = Reason::InvalidRequest;
      sa.message = "No IPv4 address among the requested addresses";
    }
    if (!v.ignored_requests.empty()) {
      std::string list;
      for (const auto& e : v.ignored_requests)
        list += (list.empty() ? "'" : ", '") + e + "'";
      std::string note = "ignored requested addresses (this agent allocates IPv4 only): " + list;
      sa.message = sa.message.empty() ? note : sa.message + "; " + note;
    }
    if (fresh) sa.canonical = addresses(fresh->held(i)) == addresses(sa.ips);
    out.services.emplace(v.key, std::move(sa));
  }

  auto per_pool = run->services_per_pool();
  const auto& rts = run->index().pools();
  for (size_t p = 0; p < rts.size(); ++p) {
    const auto& rt = rts[p];
    PoolStatus ps;
    ps.name = rt.pool->name;
    for (const auto& b : rt.pool->blocks)
      ps.blocks.push_back(b.text);
    ps.disabled = rt.pool->disabled;
    ps.conflicting = rt.conflicting;
    if (rt.conflicting) {
      ps.conflict_reason = "cidr_overlap";
      ps.conflict_message = rt.conflict_message;
    }
    ps.total = rt.total;
    ps.used = rt.used;
    ps.available = rt.total > rt.used ? rt.total - rt.used : 0;
    ps.services = per_pool[rt.pool->name];
    out.pools.push_back(std::move(ps));
  }
  return out;
}

Allocation allocate(const k8s::Snapshot& snap, const AllocationState& previous,
                    const AllocateOptions& options) {
  std::vector<k8s::DecodeError> errors;
  auto pools = decode_pools(snap, &errors);
  auto out = allocate(pools, snap.services, previous, options);
  out.errors = std::move(errors);
  return out;
}

IpamCounters counters(const Allocation& a) {
  IpamCounters c;
  c.pools = a.pools.size();
  for (const auto& p : a.pools) {
    c.pools_conflicting += p.conflicting;
    c.pools_disabled += p.disabled;
    c.ips_used += p.used;
    c.ips_available += p.available;
    c.per_pool.push_back({p.name, p.total, p.used, p.available, p.conflicting, p.disabled});
  }
  c.services = a.services.size();
  for (const auto& [_, s] : a.services) {
    (s.satisfied ? c.services_satisfied : c.services_unsatisfied)++;
    c.services_noncanonical += !s.canonical;
  }
  return c;
}

}  // namespace netagent::ipam
