#include "netagent/policy/datapath_state.hpp"

#include <algorithm>
#include <cstring>
#include <unordered_set>

namespace netagent::policy {

namespace {

template <typename T>
bool bytes_less(const T& a, const T& b) {
  return std::memcmp(&a, &b, sizeof(T)) < 0;
}
template <typename T>
bool bytes_equal(const T& a, const T& b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

template <typename K, typename V>
void sort_contents(MapContents<K, V>& m) {
  std::sort(m.entries.begin(), m.entries.end(),
            [](const auto& a, const auto& b) { return bytes_less(a.first, b.first); });
}

template <typename K, typename V>
MapDiff<K, V> diff_contents(const MapContents<K, V>& from, const MapContents<K, V>& to) {
  MapDiff<K, V> d;
  size_t i = 0, j = 0;
  while (i < from.entries.size() || j < to.entries.size()) {
    if (j == to.entries.size() ||
        (i < from.entries.size() && bytes_less(from.entries[i].first, to.entries[j].first))) {
      d.deletes.push_back(from.entries[i++].first);
    } else if (i == from.entries.size() || bytes_less(to.entries[j].first, from.entries[i].first)) {
      d.upserts.push_back(to.entries[j++]);
    } else {
      if (!bytes_equal(from.entries[i].second, to.entries[j].second))
        d.upserts.push_back(to.entries[j]);
      ++i;
      ++j;
    }
  }
  return d;
}

}  // namespace

policy_key to_policy_key(uint32_t endpoint_id, const MapEntry& e) {
  policy_key k{};
  k.prefixlen = e.prefixlen();
  k.endpoint_id = endpoint_id;
  k.identity = e.peer;
  k.direction = uint8_t(e.direction);
  k.proto = e.proto;
  k.dport = htons(e.port);
  return k;
}

policy_value to_policy_value(const MapEntry& e) {
  policy_value v{};
  v.rule = e.rule;
  v.action = uint8_t(e.action);
  v.l4 = e.reports_l4() ? 1 : 0;
  return v;
}

ipcache4_key to_ipcache_key(const Ipv4Prefix& p) {
  ipcache4_key k{};
  k.prefixlen = p.len;
  k.addr = p.addr.to_be();
  return k;
}

DatapathState datapath_state(const CompiledPolicy& cp, const std::vector<LocalEndpoint>& locals,
                             std::vector<std::string>* unknown) {
  DatapathState st;
  st.ipcache.entries.reserve(cp.ipcache.size());
  for (const auto& e : cp.ipcache) {
    ipcache4_value v{};
    v.identity = e.identity;
    v.cidr_identity = e.cidr_identity;
    v.flags = e.flags;
    v.cluster_id = e.cluster_id;
    st.ipcache.entries.emplace_back(to_ipcache_key(e.prefix), v);
  }
  for (const auto& l : locals) {
    const EndpointInfo* ep = cp.endpoint(l.ns, l.name);
    if (!ep) {
      if (unknown) unknown->push_back(l.ns + "/" + l.name);
      continue;
    }
    const IdentityPolicy* pol = ep->policy.get();
    policy_endpoint pe{};
    pe.endpoint_id = l.endpoint_id;
    pe.identity = ep->identity;
    pe.ifindex = l.ifindex;
    if (pol) {
      if (pol->enforced[index_of(Direction::Ingress)]) pe.flags |= POLICY_EP_F_INGRESS_ENFORCE;
      if (pol->enforced[index_of(Direction::Egress)]) pe.flags |= POLICY_EP_F_EGRESS_ENFORCE;
      for (const auto& e : pol->entries) {
        pe.flags |= e.direction == Direction::Ingress ? POLICY_EP_F_INGRESS_LOOKUP
                                                      : POLICY_EP_F_EGRESS_LOOKUP;
        st.policy.entries.emplace_back(to_policy_key(l.endpoint_id, e), to_policy_value(e));
      }
    }
    if (l.audit.value_or(ep->audit)) pe.flags |= POLICY_EP_F_AUDIT;
    const auto& ips = l.ips.empty() ? ep->ips : l.ips;
    for (auto ip : ips) {
      pe.addr = ip.to_be();
      st.endpoints.entries.emplace_back(ip.to_be(), pe);
    }
    // The device's slot carries the first address: its packets are checked against it.
    if (l.ifindex && l.ifindex < POLICY_EP_DEV_MAX && !ips.empty()) {
      pe.addr = ips.front().to_be();
      st.endpoints_by_dev.entries.emplace_back(l.ifindex, pe);
    }
  }
  sort_contents(st.ipcache);
  sort_contents(st.endpoints);
  sort_contents(st.endpoints_by_dev);
  sort_contents(st.policy);
  return st;
}

std::vector<LocalEndpoint> all_endpoints(const CompiledPolicy& cp) {
  std::vector<LocalEndpoint> out;
  uint32_t id = 1;
  for (const auto& e : cp.endpoints) {
    if (e.ips.empty()) continue;
    out.push_back(LocalEndpoint{e.ns, e.name, id++, 0, std::nullopt, {}});
  }
  return out;
}

size_t DatapathDiff::size() const {
  return policy.upserts.size() + policy.deletes.size() + ipcache.upserts.size() +
         ipcache.deletes.size() + endpoints.upserts.size() + endpoints.deletes.size() +
         endpoints_by_dev.upserts.size() + endpoints_by_dev.deletes.size();
}

DatapathDiff diff(const DatapathState& from, const DatapathState& to) {
  return DatapathDiff{diff_contents(from.policy, to.policy),
                      diff_contents(from.ipcache, to.ipcache),
                      diff_contents(from.endpoints, to.endpoints),
                      diff_contents(from.endpoints_by_dev, to.endpoints_by_dev)};
}

}  // namespace netagent::policy
