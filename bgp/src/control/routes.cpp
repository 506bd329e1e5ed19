#include "routes.hpp"

#include <algorithm>

namespace netagent::bgp::control::detail {

size_t RouteSet::add(const IpPrefix& prefix, const std::string& source) {
  auto [it, inserted] = index_.emplace(prefix, routes_.size());
  if (inserted) {
    Acc a;
    a.prefix = prefix;
    routes_.push_back(std::move(a));
  }
  routes_[it->second].sources.insert(source);
  return it->second;
}

void RouteSet::merge(size_t route, const Attributes& attrs) {
  auto& a = routes_[route];
  a.communities.insert(attrs.communities.begin(), attrs.communities.end());
  a.large.insert(attrs.large_communities.begin(), attrs.large_communities.end());
  // RFC 4271 9.1.1: the higher degree of preference is preferred; Cilium 1.18 keeps the largest.
  if (attrs.local_preference) {
    a.local_pref = std::max(a.local_pref.value_or(0), *attrs.local_preference);
  }
}

std::vector<DesiredRoute> RouteSet::finish(bool ibgp, const std::vector<Family>& families) const {
  auto negotiates = [&](Afi afi) {
    const char* name = afi == Afi::Ipv4 ? "ipv4" : "ipv6";
    return std::any_of(families.begin(), families.end(),
                       [&](const Family& f) { return f.afi == name && f.safi == "unicast"; });
  };
  const bool v4 = negotiates(Afi::Ipv4), v6 = negotiates(Afi::Ipv6);
  std::vector<const Acc*> order;
  for (const auto& a : routes_) {
    if (a.prefix.is_v4() ? v4 : v6) order.push_back(&a);
  }
  // IPv4 first, by address; IPv6 in the order of their text, as they have always been listed.
  std::sort(order.begin(), order.end(), [](const Acc* x, const Acc* y) {
    if (x->prefix.family() != y->prefix.family()) return x->prefix.is_v4();
    if (x->prefix.is_v4()) return x->prefix < y->prefix;
    return x->prefix.str() < y->prefix.str();
  });
  std::vector<DesiredRoute> out;
  out.reserve(order.size());
  for (const Acc* a : order) {
    DesiredRoute r;
    r.prefix = a->prefix;
    r.afi = afi_of(a->prefix.family());
    r.communities.assign(a->communities.begin(), a->communities.end());
    r.large_communities.assign(a->large.begin(), a->large.end());
    // RFC 4271 5.1.5: LOCAL_PREF is included in UPDATEs to internal peers and never sent to
    // external ones; 100 is the customary default (GoBGP's, and what Cilium's docs show).
    if (ibgp) r.local_pref = a->local_pref.value_or(100);
    r.sources.assign(a->sources.begin(), a->sources.end());
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace netagent::bgp::control::detail
