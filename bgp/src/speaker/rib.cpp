#include "netagent/bgp/rib.hpp"

#include <algorithm>
#include <map>

namespace netagent::bgp {
namespace {

template <typename T>
void sort_unique(std::vector<T>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

}  // namespace

Result<RouteTable> make_route_table(const std::vector<Route>& routes) {
  RouteTable table;
  table.reserve(routes.size());
  std::map<RouteAttributes, std::shared_ptr<const RouteAttributes>> interned;
  const Route* prev = nullptr;
  std::shared_ptr<const RouteAttributes> attrs;
  for (const auto& r : routes) {
    if (r.next_hop && afi_of(*r.next_hop) != afi_of(r.prefix) && afi_of(r.prefix) == kAfiIpv4) {
      // RFC 8950 (IPv4 NLRI with an IPv6 next hop) is not supported.
      return Error{"route " + r.prefix.str() + ": IPv4 prefix with IPv6 next hop " +
                   r.next_hop->str()};
    }
    if (r.next_hop && afi_of(*r.next_hop) != afi_of(r.prefix)) {
      return Error{"route " + r.prefix.str() + ": next hop " + r.next_hop->str() +
                   " is not an IPv6 address"};
    }
    // Consecutive routes usually share attributes: reuse the previous object without building
    // and looking up a new one.
    bool same = prev && r.next_hop == prev->next_hop && r.origin == prev->origin &&
                r.med == prev->med && r.local_preference == prev->local_preference &&
                r.communities == prev->communities &&
                r.large_communities == prev->large_communities;
    if (!same) {
      RouteAttributes a{r.next_hop,         r.origin,      r.med,
                        r.local_preference, r.communities, r.large_communities};
      sort_unique(a.communities);
      sort_unique(a.large_communities);
      auto it = interned.find(a);
      if (it == interned.end()) {
        it = interned.emplace(a, std::make_shared<const RouteAttributes>(a)).first;
      }
      attrs = it->second;
    }
    prev = &r;
    if (!table.emplace(r.prefix, attrs).second) {
      return Error{"route " + r.prefix.str() + ": prefix listed twice"};
    }
  }
  return table;
}

bool ExportContext::has_family(Family f) const {
  return std::find(families.begin(), families.end(), f) != families.end();
}

Result<std::shared_ptr<const AttributeSet>> export_attributes(const RouteAttributes& r,
                                                              Family family,
                                                              const ExportContext& ctx) {
  AttributeSet s;
  s.family = family;
  auto& a = s.attributes;
  a.origin = r.origin;
  // RFC 4271 §5.1.2: prepend our ASN towards external peers; an empty AS_PATH internally.
  a.as_path = ctx.ebgp ? AsPath::sequence({ctx.local_asn}) : AsPath{};
  a.med = r.med;
  if (!ctx.ebgp) a.local_pref = r.local_preference.value_or(100);  // RFC 4271 §5.1.5
  a.communities = r.communities;
  a.large_communities = r.large_communities;
  if (r.next_hop) {
    s.next_hop = *r.next_hop;
  } else if (afi_of(ctx.local_address) == family.afi) {
    s.next_hop = ctx.local_address;
  } else {
    // An IPv4-mapped next hop (what GoBGP sends) is rejected by BIRD as a mismatched family, so
    // a route without a usable next hop is not sent at all.
    return Error{std::string("no ") + (family.afi == kAfiIpv6 ? "IPv6" : "IPv4") +
                 " next hop on a session over " + (family.afi == kAfiIpv6 ? "IPv4" : "IPv6") +
                 " (give the route a next hop)"};
  }
  auto enc = EncodedAttributes::make(a, family, s.next_hop, std::nullopt, ctx.session);
  if (!enc) return enc.error();
  s.encoded = std::move(enc).value();
  return std::make_shared<const AttributeSet>(std::move(s));
}

std::shared_ptr<const AttributeSet> AdjRibOut::exported(
    const std::shared_ptr<const RouteAttributes>& a, Family f, std::vector<std::string>& errors) {
  auto& cache = f.afi == kAfiIpv6 ? cache_v6_ : cache_v4_;
  auto it = cache.find(a.get());
  if (it != cache.end()) return it->second.set;
  auto e = export_attributes(*a, f, ctx_);
  std::shared_ptr<const AttributeSet> set;
  if (!e) {
    errors.push_back(e.error().message);
  } else {
    // Share one AttributeSet per distinct encoding so that equal exports pack together.
    auto slot = pool_.try_emplace((*e)->encoded.fingerprint(), *e);
    set = slot.first->second;
  }
  cache.emplace(a.get(), CacheEntry{a, set});
  return set;
}

AdjRibOut::SyncResult AdjRibOut::sync(const RouteTable& base, const RouteTable* overlay,
                                      std::vector<uint8_t>& out) {
  SyncResult res;
  // New or changed routes, grouped by attribute set in first-seen order. The sent table is
  // updated in place: a small change to a large table costs lookups, not a rebuild.
  std::unordered_map<const AttributeSet*, std::vector<Prefix>> announce;
  std::vector<std::shared_ptr<const AttributeSet>> order;
  auto desired = [&](const Prefix& p) -> const std::shared_ptr<const RouteAttributes>* {
    if (overlay) {
      auto it = overlay->find(p);
      if (it != overlay->end()) return &it->second;
    }
    auto it = base.find(p);
    return it == base.end() ? nullptr : &it->second;
  };
  auto consider = [&](const Prefix& p, const std::shared_ptr<const RouteAttributes>& a) {
    Family f = family_of(p);
    if (!ctx_.has_family(f)) return;
    auto set = exported(a, f, res.errors);
    if (!set) return;
    auto it = sent_.find(p);
    if (it != sent_.end() && it->second == set) return;  // already sent as is
    auto& group = announce[set.get()];
    if (group.empty()) order.push_back(set);
    group.push_back(p);
  };
  for (const auto& [p, a] : base) {
    if (overlay && overlay->count(p)) continue;
    consider(p, a);
  }
  if (overlay) {
    for (const auto& [p, a] : *overlay)
      consider(p, a);
  }

  // Withdrawals first, so that a prefix never has two states in flight. A route that can no
  // longer be exported (no usable next hop) is withdrawn too.
  std::vector<Prefix> withdraw_v4, withdraw_v6;
  for (const auto& [p, set] : sent_) {
    bool keep = false;
    if (ctx_.has_family(family_of(p))) {
      if (auto* a = desired(p)) {
        const auto& cache = afi_of(p) == kAfiIpv6 ? cache_v6_ : cache_v4_;
        auto c = cache.find(a->get());
        keep = c != cache.end() && c->second.set;
      }
    }
    if (!keep) (afi_of(p) == kAfiIpv6 ? withdraw_v6 : withdraw_v4).push_back(p);
  }
  std::sort(withdraw_v4.begin(), withdraw_v4.end());
  std::sort(withdraw_v6.begin(), withdraw_v6.end());
  append_withdrawals(out, kIpv4Unicast, withdraw_v4);
  append_withdrawals(out, kIpv6Unicast, withdraw_v6);
  if (withdraw_v4.size() + withdraw_v6.size() == sent_.size()) {
    sent_.clear();  // everything goes: cheaper than erasing one by one
  } else {
    for (const auto& p : withdraw_v4)
      sent_.erase(p);
    for (const auto& p : withdraw_v6)
      sent_.erase(p);
  }
  res.withdrawn = withdraw_v4.size() + withdraw_v6.size();

  if (sent_.empty()) sent_.reserve(base.size() + (overlay ? overlay->size() : 0));
  for (const auto& set : order) {
    auto& prefixes = announce[set.get()];
    for (const auto& p : prefixes)
      sent_[p] = set;
    std::sort(prefixes.begin(), prefixes.end());
    append_announcements(out, set->encoded, prefixes);
    res.announced += prefixes.size();
  }

  // Drop cached exports of attribute objects no longer in use.
  auto prune = [&](std::unordered_map<const RouteAttributes*, CacheEntry>& cache) {
    for (auto it = cache.begin(); it != cache.end();) {
      bool used = it->second.source.use_count() > 1;
      it = used ? std::next(it) : cache.erase(it);
    }
  };
  prune(cache_v4_);
  prune(cache_v6_);
  std::erase_if(pool_, [](const auto& kv) { return kv.second.use_count() == 1; });
  return res;
}

size_t AdjRibOut::resend(Family f, std::vector<uint8_t>& out) const {
  std::map<const AttributeSet*, std::vector<Prefix>> groups;
  for (const auto& [p, set] : sent_) {
    if (family_of(p) == f) groups[set.get()].push_back(p);
  }
  size_t n = 0;
  for (auto& [set, prefixes] : groups) {
    std::sort(prefixes.begin(), prefixes.end());
    append_announcements(out, set->encoded, prefixes);
    n += prefixes.size();
  }
  return n;
}

std::vector<AdvertisedRoute> AdjRibOut::routes() const {
  std::vector<AdvertisedRoute> out;
  out.reserve(sent_.size());
  for (const auto& [p, set] : sent_)
    out.push_back({p, set->next_hop, set->attributes});
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.prefix < b.prefix; });
  return out;
}

AdjRibIn::Applied AdjRibIn::apply(const DecodedUpdate& d) {
  Applied res;
  for (const auto& p : d.withdrawn_prefixes())
    erase(p);
  const auto& u = d.update;
  if (d.action == ErrorAction::treat_as_withdraw) return res;
  auto attrs = std::make_shared<const PathAttributes>(u.attributes);
  // False when `p` is new and its family is full: nothing more of this UPDATE is stored.
  auto add = [&](const Prefix& p, const std::optional<IpAddress>& nh) {
    auto [it, inserted] = routes_.try_emplace(p, Entry{nh, attrs});
    if (!inserted) {
      it->second = Entry{nh, attrs};
      return true;
    }
    size_t& n = counter(p);
    if (max_ != 0 && n >= max_) {
      routes_.erase(it);
      res.over_limit = family_of(p);
      return false;
    }
    ++n;
    return true;
  };
  std::optional<IpAddress> nh4;
  if (u.attributes.next_hop) nh4 = IpAddress::v4(*u.attributes.next_hop);
  for (const auto& p : u.nlri) {
    if (!add(p, nh4)) return res;
  }
  if (u.mp_reach) {
    for (const auto& p : u.mp_reach->nlri) {
      if (!add(p, u.mp_reach->next_hop)) return res;
    }
  }
  return res;
}

void AdjRibIn::erase(const Prefix& p) {
  if (routes_.erase(p)) --counter(p);
}

void AdjRibIn::clear() {
  routes_.clear();
  // Give the table's memory back: a peer that sent many routes must not leave them behind.
  routes_.rehash(0);
  count_v4_ = 0;
  count_v6_ = 0;
}

size_t AdjRibIn::count(Family f) const {
  if (f.safi != kSafiUnicast) return 0;
  return f.afi == kAfiIpv6 ? count_v6_ : count_v4_;
}

size_t AdjRibIn::max_count() const {
  return std::max(count_v4_, count_v6_);
}

std::vector<ReceivedRoute> AdjRibIn::routes() const {
  std::vector<ReceivedRoute> out;
  out.reserve(routes_.size());
  for (const auto& [p, e] : routes_)
    out.push_back({p, e.next_hop, *e.attributes});
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.prefix < b.prefix; });
  return out;
}

}  // namespace netagent::bgp
