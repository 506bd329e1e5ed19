#pragma once
// Internal: collects the routes for one peer, merging the attributes of every advertisement that
// matches the same prefix as Cilium 1.18 does (union of communities, largest local preference).
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "netagent/bgp/control/desired.hpp"

namespace netagent::bgp::control::detail {

class RouteSet {
 public:
  // Adds (or finds) a route and returns a handle for merge().
  size_t add(const IpPrefix& prefix, const std::string& source);
  void merge(size_t route, const Attributes& attrs);
  bool empty() const { return routes_.empty(); }
  // The routes for a peer: only the address families it negotiates, LOCAL_PREF for iBGP only.
  std::vector<DesiredRoute> finish(bool ibgp, const std::vector<Family>& families) const;

 private:
  struct Acc {
    IpPrefix prefix;
    std::set<uint32_t> communities;
    std::set<LargeCommunity> large;
    std::optional<uint32_t> local_pref;
    std::set<std::string> sources;
  };
  std::vector<Acc> routes_;
  std::unordered_map<IpPrefix, size_t> index_;
};

}  // namespace netagent::bgp::control::detail
