// Determinism and stability of LB IPAM across nodes and restarts (docs/ipam.md, "Every node
// computes the same addresses"):
//  (a) two fresh nodes with the same manifests agree, whatever order the objects come in;
//  (b) a node that lived through adds and deletes agrees with a fresh node whenever its history
//      had no contention (every new service got its home address), and ServiceAllocation::
//      canonical marks exactly the services where history made a difference;
//  (c) a restart with the persisted state keeps every address;
//  (d) deleting a service releases its address and moves no other service;
//  (e) adding a service never moves an existing service's address.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "ipam_fixtures.hpp"
#include "netagent/ipam/allocation.hpp"
#include "netagent/ipam/json.hpp"

namespace netagent::ipam {
namespace {

using testing::lb;
using testing::range_pool;

using Addresses = std::map<std::string, std::vector<Ipv4Addr>>;

Addresses addresses(const Allocation& a) {
  return a.state().services;
}

// A node: it persists the state of each allocation and feeds it to the next.
struct NodeSim {
  AllocationState state;
  Allocation apply(const std::vector<Pool>& pools, const std::vector<k8s::Service>& services) {
    auto a = allocate(pools, services, state);
    state = a.state();
    return a;
  }
};

std::vector<k8s::Service> without(std::vector<k8s::Service> v, const std::string& name) {
  v.erase(std::remove_if(v.begin(), v.end(),
                         [&](const k8s::Service& s) { return s.meta.name == name; }),
          v.end());
  return v;
}

// Names whose home address in `pool` is the same: allocate each alone and group by address.
std::pair<std::string, std::string> two_names_with_one_home(const Pool& pool) {
  std::map<Ipv4Addr, std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto name = "svc-" + std::to_string(i);
    auto a = allocate({pool}, {lb("default", name)}, {});
    auto ip = a.services.at("default/" + name).ips.at(0).ip;
    auto [it, fresh] = seen.emplace(ip, name);
    if (!fresh) return {it->second, name};  // it->second < name in canonical order
  }
  ADD_FAILURE() << "no home collision found";
  return {};
}

// A mix of services: dynamic ones, sharing groups and fixed requests.
std::vector<k8s::Service> mixed_services(int n) {
  std::vector<k8s::Service> out;
  for (int i = 0; i < n; ++i) {
    auto ns = "ns" + std::to_string(i % 7);
    auto s = lb(ns, "svc-" + std::to_string(i), {}, {{uint16_t(80 + i % 3), k8s::Protocol::TCP}});
    if (i % 11 == 0) s.meta.annotations[kSharingKeyAnnotation] = "key-" + std::to_string(i % 4);
    if (i % 17 == 0) s.meta.annotations[kIpsAnnotation] = "10.20.1." + std::to_string(i % 250);
    out.push_back(std::move(s));
  }
  return out;
}

TEST(Stability, FreshNodesAgreeWhateverTheObjectOrder) {  // (a)
  std::vector<Pool> pools = {range_pool("b-pool", "10.20.0.0", "10.20.0.255"),
                             range_pool("a-pool", "10.20.1.0", "10.20.1.255")};
  auto services = mixed_services(300);
  auto reference = to_json(allocate(pools, services, {}));
  std::mt19937 rng(7);
  for (int round = 0; round < 5; ++round) {
    std::shuffle(services.begin(), services.end(), rng);
    std::shuffle(pools.begin(), pools.end(), rng);
    EXPECT_EQ(to_json(allocate(pools, services, {})), reference) << "round " << round;
  }
}

TEST(Stability, RestartKeepsEveryAddress) {  // (c)
  auto pool = range_pool("p", "10.30.0.1", "10.30.0.8");
  auto [early, late] = two_names_with_one_home(pool);
  NodeSim node;
  // A history that leaves this node off the canonical allocation: late arrives first.
  node.apply({pool}, {lb("default", late)});
  auto before = node.apply({pool}, {lb("default", late), lb("default", early), lb("x", "other")});
  // Persist and restore through the JSON the agent writes to its state directory.
  auto restored = state_from_json(nlohmann::json::parse(state_to_json(node.state).dump()));
  ASSERT_TRUE(restored.ok()) << restored.error().str();
  EXPECT_EQ(*restored, node.state);
  auto after =
      allocate({pool}, {lb("x", "other"), lb("default", early), lb("default", late)}, *restored);
  EXPECT_EQ(addresses(after), addresses(before));
  for (const auto& [key, s] : after.services) {
    for (const auto& ip : s.ips)
      EXPECT_EQ(ip.placement, Placement::Previous) << key;
  }
}

TEST(Stability, DeletingReleasesAndMovesNothingElse) {  // (d)
  auto pool = range_pool("p", "10.30.0.1", "10.30.0.8");
  auto [early, late] = two_names_with_one_home(pool);
  NodeSim node;
  std::vector<k8s::Service> all = {lb("default", early), lb("default", late), lb("x", "a"),
                                   lb("x", "b")};
  auto before = node.apply({pool}, all);
  // early holds the shared home; late probed. Deleting early must not pull late home.
  auto after = node.apply({pool}, without(all, early));
  EXPECT_EQ(after.services.count("default/" + early), 0u);
  EXPECT_EQ(node.state.services.count("default/" + early), 0u);
  for (const auto& [key, ips] : addresses(after))
    EXPECT_EQ(ips, addresses(before).at(key)) << key;
  EXPECT_EQ(after.pools[0].used, before.pools[0].used - 1) << "its address is released";
  // The released address is free again: a service requesting it gets it.
  auto freed = before.services.at("default/" + early).ips.at(0).ip;
  auto req = lb("y", "wants-it", {{kIpsAnnotation, freed.str()}});
  auto again = node.apply({pool}, [&] {
    auto v = without(all, early);
    v.push_back(req);
    return v;
  }());
  EXPECT_EQ(again.services.at("y/wants-it").ips.at(0).ip, freed);
}

TEST(Stability, AddingNeverMovesAnExistingAddress) {  // (e)
  auto pool = range_pool("p", "10.30.0.1", "10.30.0.8");
  auto [early, late] = two_names_with_one_home(pool);
  NodeSim node;
  auto first = node.apply({pool}, {lb("default", late)});
  auto home = first.services.at("default/" + late).ips.at(0).ip;
  // early sorts first and shares late's home: a fresh node would give it the home, but this node
  // must not take it away from late.
  auto second = node.apply({pool}, {lb("default", late), lb("default", early)});
  EXPECT_EQ(second.services.at("default/" + late).ips.at(0).ip, home);
  EXPECT_NE(second.services.at("default/" + early).ips.at(0).ip, home);
  EXPECT_EQ(second.services.at("default/" + early).ips.at(0).placement, Placement::Probed);
  // A new service requesting an address another service holds is refused, not granted.
  auto third = node.apply({pool}, {lb("default", late), lb("default", early),
                                   lb("default", "aaa-first", {{kIpsAnnotation, home.str()}})});
  EXPECT_EQ(third.services.at("default/" + late).ips.at(0).ip, home);
  EXPECT_EQ(third.services.at("default/aaa-first").reason, Reason::AlreadyAllocated);
  EXPECT_EQ(addresses(third).at("default/" + early), addresses(second).at("default/" + early));
}

TEST(Stability, ContendedHomeIsWhereHistoryMatters) {  // (b), the documented limit
  auto pool = range_pool("p", "10.30.0.1", "10.30.0.8");
  auto [early, late] = two_names_with_one_home(pool);
  std::vector<k8s::Service> both = {lb("default", early), lb("default", late)};
  auto fresh = allocate({pool}, both, {});
  NodeSim lived;
  lived.apply({pool}, {lb("default", late)});  // late arrived first on this node
  auto now = lived.apply({pool}, both);
  // A fresh node resolves the contention by canonical order; this node by arrival.
  EXPECT_EQ(fresh.services.at("default/" + early).ips.at(0).placement, Placement::Home);
  EXPECT_EQ(now.services.at("default/" + late).ips.at(0).placement, Placement::Previous);
  EXPECT_NE(addresses(now), addresses(fresh));
  EXPECT_FALSE(now.services.at("default/" + early).canonical);
  EXPECT_FALSE(now.services.at("default/" + late).canonical);
  EXPECT_EQ(counters(now).services_noncanonical, 2u);
  // The remedy the docs give: request the address. Then every node agrees whatever its history.
  auto pinned_early = lb("default", early, {{kIpsAnnotation, "10.30.0.7"}});
  auto pinned_late = lb("default", late, {{kIpsAnnotation, "10.30.0.8"}});
  NodeSim other;
  other.apply({pool}, {pinned_late});
  auto pinned = other.apply({pool}, {pinned_early, pinned_late});
  EXPECT_EQ(addresses(pinned), addresses(allocate({pool}, {pinned_early, pinned_late}, {})));
  EXPECT_EQ(counters(pinned).services_noncanonical, 0u);
}

// Random histories of adds and deletes. Every step checks (c), (d) and (e); the end of each
// history checks (b): without contention the node equals a fresh node, and in every case the
// canonical flags say exactly which services differ from one.
struct HistoryStats {
  int uncontended = 0;
  int contended = 0;
  int diverged = 0;
};

HistoryStats run_histories(const std::vector<Pool>& pools, int universe, int histories, int steps,
                           uint32_t seed) {
  std::mt19937 rng(seed);
  HistoryStats stats;
  for (int h = 0; h < histories; ++h) {
    NodeSim node;
    std::set<int> present;
    bool contended = false;
    Allocation last;
    for (int step = 0; step < steps; ++step) {
      int pick = int(rng() % universe);
      if (present.count(pick) && rng() % 3 == 0) {
        present.erase(pick);
      } else {
        present.insert(pick);
      }
      std::vector<k8s::Service> services;
      for (int i : present) {
        auto s = lb("ns" + std::to_string(i % 3), "svc-" + std::to_string(i));
        if (i % 13 == 0)
          s.meta.annotations[kIpsAnnotation] = "10.40.0." + std::to_string(i % 200 + 1);
        services.push_back(std::move(s));
      }
      std::shuffle(services.begin(), services.end(), rng);
      auto prev = node.state;
      last = node.apply(pools, services);
      for (const auto& [key, ips] : prev.services) {
        auto it = node.state.services.find(key);
        if (it == node.state.services.end()) {
          // (d): only a deleted service loses its addresses.
          bool deleted = std::none_of(services.begin(), services.end(), [&](const auto& s) {
            return s.meta.ns + "/" + s.meta.name == key;
          });
          EXPECT_TRUE(deleted) << key << " lost its address without being deleted";
          continue;
        }
        EXPECT_EQ(it->second, ips) << key << " moved";  // (d), (e)
      }
      // (c): a restart on the same manifests changes nothing.
      EXPECT_EQ(allocate(pools, services, node.state).state(), node.state);
      for (const auto& [key, s] : last.services) {
        bool is_new = !prev.services.count(key);
        if (!s.satisfied) contended = true;
        for (const auto& ip : s.ips) {
          if (is_new && ip.placement == Placement::Probed) contended = true;
        }
      }
    }
    std::vector<k8s::Service> services;
    for (int i : present) {
      auto s = lb("ns" + std::to_string(i % 3), "svc-" + std::to_string(i));
      if (i % 13 == 0)
        s.meta.annotations[kIpsAnnotation] = "10.40.0." + std::to_string(i % 200 + 1);
      services.push_back(std::move(s));
    }
    auto fresh = allocate(pools, services, {});
    bool same = addresses(fresh) == addresses(last);
    if (!contended) {
      ++stats.uncontended;
      EXPECT_TRUE(same) << "history " << h << " had no contention yet disagrees with a fresh node";
    } else {
      ++stats.contended;
    }
    stats.diverged += !same;
    for (const auto& [key, s] : last.services) {
      auto f = fresh.services.at(key);
      std::vector<Ipv4Addr> mine, theirs;
      for (const auto& ip : s.ips)
        mine.push_back(ip.ip);
      for (const auto& ip : f.ips)
        theirs.push_back(ip.ip);
      EXPECT_EQ(s.canonical, mine == theirs) << key;
    }
  }
  return stats;
}

TEST(Stability, RandomHistoriesInASparsePool) {
  // 40 candidate services in a /20: contention is rare, agreement is the rule.
  auto stats = run_histories({testing::pool_from("apiVersion: cilium.io/v2\nkind: "
                                                 "CiliumLoadBalancerIPPool\nmetadata: {name: big}\n"
                                                 "spec: {blocks: [{cidr: 10.40.0.0/20}]}\n")},
                             40, 60, 40, 11);
  EXPECT_GT(stats.uncontended, 30) << "the test must exercise uncontended histories";
  EXPECT_LE(stats.diverged, stats.contended);
}

TEST(Stability, RandomHistoriesInAMediumPool) {
  // 40 candidates in a /24: some histories see a home collision, others do not. Uncontended ones
  // must agree with a fresh node; contended ones may or may not.
  auto stats = run_histories({testing::pool_from("apiVersion: cilium.io/v2\nkind: "
                                                 "CiliumLoadBalancerIPPool\nmetadata: {name: mid}\n"
                                                 "spec: {blocks: [{cidr: 10.40.0.0/24}]}\n")},
                             40, 60, 40, 5);
  EXPECT_GT(stats.uncontended, 5);
  EXPECT_GT(stats.contended, 5);
}

TEST(Stability, RandomHistoriesInACrowdedPool) {
  // 30 candidates in 24 addresses: contention, exhaustion and divergence all happen; (c), (d),
  // (e) and the canonical flags must still hold.
  auto stats = run_histories({range_pool("small", "10.40.0.1", "10.40.0.24")}, 30, 40, 40, 23);
  EXPECT_GT(stats.contended, 0);
  EXPECT_GT(stats.diverged, 0) << "the documented limit should show up here";
}

TEST(Stability, SharingGroupsConvergeWhateverTheArrivalOrder) {
  // Members of one sharing key share a home derived from the key, so whichever arrives first
  // takes it and the others join: arrival order does not matter.
  auto pool = range_pool("p", "10.50.0.1", "10.50.0.50");
  auto a = lb("default", "zz-http", {{kSharingKeyAnnotation, "gw"}}, {{80, k8s::Protocol::TCP}});
  auto b = lb("default", "aa-https", {{kSharingKeyAnnotation, "gw"}}, {{443, k8s::Protocol::TCP}});
  NodeSim one, two;
  one.apply({pool}, {a});
  auto r1 = one.apply({pool}, {a, b});
  two.apply({pool}, {b});
  auto r2 = two.apply({pool}, {a, b});
  EXPECT_EQ(addresses(r1), addresses(r2));
  EXPECT_EQ(addresses(r1), addresses(allocate({pool}, {a, b}, {})));
  EXPECT_EQ(r1.services.at("default/aa-https").ips.at(0).ip,
            r1.services.at("default/zz-http").ips.at(0).ip);
}

TEST(Stability, StateFromJsonRejectsBadInput) {
  struct Case {
    std::string json, what;
  } cases[] = {
      {"[]", "expected a JSON object"},
      {"{\"services\": {}}", "version"},
      {"{\"version\": 2}", "version"},
      {"{\"version\": 1, \"services\": []}", "must be an object"},
      {"{\"version\": 1, \"services\": {\"a/b\": \"10.0.0.1\"}}", "must be a list"},
      {"{\"version\": 1, \"services\": {\"a/b\": [\"10.0.0.300\"]}}", "services[\"a/b\"][0]"},
  };
  for (const auto& c : cases) {
    auto r = state_from_json(nlohmann::json::parse(c.json));
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_NE(r.error().message.find(c.what), std::string::npos) << r.error().message;
  }
}

}  // namespace
}  // namespace netagent::ipam
