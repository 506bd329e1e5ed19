// apply_diff() and read_state() on in-memory maps (PolicyMaps::fake()), no root: the order of
// the writes (make before break: every upsert, policy entries first, before any delete,
// endpoints first), and what the maps hold when a write fails (the writes before it, so the
// diff from read_state() is what is left, and applying it completes).
#include <gtest/gtest.h>

#include "model.hpp"
#include "netagent/policy/policy_datapath.hpp"

namespace netagent::policy::testing {
namespace {

using datapath::MapOp;

// x/a allows from x/b and namespace y, and may reach a CIDR; y denies all ingress.
const char* kBefore = R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-b-and-y, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - podSelector: {matchLabels: {pod: b}}
    - namespaceSelector: {matchLabels: {ns: y}}
    ports:
    - {port: 80, protocol: TCP}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: egress, namespace: x}
spec:
  endpointSelector: {matchLabels: {pod: a}}
  egress:
  - toCIDRSet:
    - {cidr: 192.0.2.0/24, except: [192.0.2.128/25]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-ingress, namespace: y}
spec:
  podSelector: {}
  policyTypes: [Ingress]
)";

// x/a allows from z only on 81 and may reach another CIDR; y open again.
const char* kAfter = R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-z, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {ns: z}}
    ports:
    - {port: 81, protocol: TCP}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: egress, namespace: x}
spec:
  endpointSelector: {matchLabels: {pod: a}}
  egress:
  - toCIDRSet:
    - {cidr: 198.51.100.0/24}
)";

// The model's pods as local endpoints on veths 10.., without `skip`; `shift` moves ifindexes.
std::vector<LocalEndpoint> locals(const std::set<std::string>& skip = {}, uint32_t shift = 0) {
  std::vector<LocalEndpoint> out;
  uint32_t id = 1;
  for (const auto& p : Model::pod_names()) {
    uint32_t my = id++;
    if (skip.count(p)) continue;
    out.push_back({p.substr(0, 1), p.substr(2), my, 10 + my + shift, std::nullopt, {}});
  }
  return out;
}

struct States {
  DatapathState before, after;
};
const States& states() {
  static const States s = [] {
    Model model;
    return States{datapath_state(model.compile(kBefore), locals()),
                  datapath_state(model.compile(kAfter), locals({"z/c", "y/b"}, 100))};
  }();
  return s;
}

// The place of a write in the order DatapathDiff documents.
int rank(const MapOp& op) {
  const bool del = op.kind == MapOp::Kind::Delete;
  if (op.map == "policy_entries") return del ? 7 : 0;
  if (op.map == "ipcache4") return del ? 6 : 1;
  if (op.map == "policy_eps") return del ? 5 : 2;
  // policy_ep_dev is an array: a delete is the write of an empty slot.
  bool empty = std::all_of(op.value.begin(), op.value.end(), [](uint8_t b) { return b == 0; });
  return empty ? 4 : 3;
}

TEST(PolicyMapsOnFakes, ADiffWritesEveryUpsertBeforeAnyDeleteInTheDocumentedOrder) {
  const auto& s = states();
  auto d = diff(s.before, s.after);
  // Every kind of write is in this diff.
  for (bool some :
       {d.policy.upserts.empty(), d.policy.deletes.empty(), d.ipcache.upserts.empty(),
        d.ipcache.deletes.empty(), d.endpoints.upserts.empty(), d.endpoints.deletes.empty(),
        d.endpoints_by_dev.upserts.empty(), d.endpoints_by_dev.deletes.empty()}) {
    EXPECT_FALSE(some);
  }
  auto journal = std::make_shared<datapath::MapJournal>();
  auto maps = PolicyMaps::fake(journal);
  ASSERT_TRUE(apply_diff(maps, diff({}, s.before)));
  auto r = read_state(maps);
  ASSERT_TRUE(r);
  EXPECT_TRUE(diff(*r, s.before).empty());

  journal->clear();
  ASSERT_TRUE(apply_diff(maps, d));
  ASSERT_EQ(journal->ops().size(), d.size());
  std::set<int> seen;
  int last = -1;
  for (size_t i = 0; i < journal->ops().size(); ++i) {
    const auto& op = journal->ops()[i];
    EXPECT_EQ(op.error, 0);
    int r = rank(op);
    EXPECT_GE(r, last) << "write " << i << " to " << op.map << " is out of order";
    last = r;
    seen.insert(r);
  }
  EXPECT_EQ(seen.size(), 8u);
  r = read_state(maps);
  ASSERT_TRUE(r);
  EXPECT_TRUE(diff(*r, s.after).empty());
}

TEST(PolicyMapsOnFakes, AFailedWriteLeavesTheWritesBeforeItAndTheRestCompletes) {
  const auto& s = states();
  const auto d = diff(s.before, s.after);
  const size_t writes = d.size();
  ASSERT_GE(writes, 20u);
  // Every write fails in turn (a stride keeps the run short; the first and last are included).
  const size_t stride = std::max<size_t>(1, writes / 40);
  for (size_t n = 1; n <= writes; n = n == writes ? writes + 1 : std::min(writes, n + stride)) {
    SCOPED_TRACE("write " + std::to_string(n) + " of " + std::to_string(writes) + " fails");
    auto journal = std::make_shared<datapath::MapJournal>();
    auto maps = PolicyMaps::fake(journal);
    ASSERT_TRUE(apply_diff(maps, diff({}, s.before)));
    journal->fail_write(n, ENOMEM);
    auto st = apply_diff(maps, d);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().errnum, ENOMEM);
    auto r = read_state(maps);
    ASSERT_TRUE(r);
    // The n-1 writes before the failing one are in; the rest is what the next diff writes.
    EXPECT_EQ(diff(s.before, *r).size(), n - 1);
    auto rest = diff(*r, s.after);
    EXPECT_EQ(rest.size(), writes - (n - 1));
    ASSERT_TRUE(apply_diff(maps, rest));
    r = read_state(maps);
    ASSERT_TRUE(r);
    EXPECT_TRUE(diff(*r, s.after).empty());
  }
}

TEST(PolicyMapsOnFakes, AFullIpcacheStopsBeforeAnyEndpointIsWritten) {
  const auto& s = states();
  auto journal = std::make_shared<datapath::MapJournal>();
  auto maps = PolicyMaps::fake(journal);
  auto& ipcache = dynamic_cast<datapath::FakeMap&>(maps.ipcache.backend());
  ipcache.set_full(true);
  auto st = apply_diff(maps, diff({}, s.before));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().errnum, ENOSPC);  // an LPM trie
  EXPECT_NE(st.error().str().find("update map ipcache4"), std::string::npos) << st.error().str();
  auto r = read_state(maps);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->policy.entries.size(), s.before.policy.entries.size());
  EXPECT_TRUE(r->ipcache.entries.empty());
  EXPECT_TRUE(r->endpoints.entries.empty()) << "no endpoint enforces before its entries exist";
  EXPECT_TRUE(r->endpoints_by_dev.entries.empty());
  ipcache.set_full(false);
  ASSERT_TRUE(apply_diff(maps, diff(*r, s.before)));
  r = read_state(maps);
  ASSERT_TRUE(r);
  EXPECT_TRUE(diff(*r, s.before).empty());
}

// The drift check: entries deleted, changed and added behind the agent's back (bpftool) are
// counted per map and rewritten until the maps hold exactly what was programmed.
TEST(PolicyMapsOnFakes, RepairDriftRestoresExactlyTheProgrammedState) {
  const auto& s = states();
  auto journal = std::make_shared<datapath::MapJournal>();
  auto maps = PolicyMaps::fake(journal);
  ASSERT_TRUE(apply_diff(maps, diff({}, s.before)));
  auto clean = repair_drift(maps, s.before);
  ASSERT_TRUE(clean) << clean.error().str();
  EXPECT_TRUE(clean->maps.empty());
  EXPECT_EQ(clean->checked, s.before.policy.entries.size() + s.before.ipcache.entries.size() +
                                s.before.endpoints.entries.size() +
                                s.before.endpoints_by_dev.entries.size());

  ASSERT_GE(s.before.policy.entries.size(), 2u);
  ASSERT_TRUE(maps.entries.remove(s.before.policy.entries[0].first));
  auto changed = s.before.policy.entries[1];
  changed.second.rule ^= 0x5a5a;
  ASSERT_TRUE(maps.entries.update(changed.first, changed.second));
  ASSERT_FALSE(s.before.endpoints.entries.empty());
  ASSERT_TRUE(maps.endpoints.remove(s.before.endpoints.entries[0].first));
  ipcache4_key stranger{};
  stranger.prefixlen = 32;
  stranger.addr = htonl(0xc6336401);  // 198.51.100.1
  ipcache4_value identity{};
  identity.identity = 4242;
  ASSERT_TRUE(maps.ipcache.update(stranger, identity));

  journal->clear();
  auto r = repair_drift(maps, s.before);
  ASSERT_TRUE(r) << r.error().str();
  ASSERT_TRUE(r->maps.count("policy_entries"));
  EXPECT_EQ(r->maps.at("policy_entries").missing, 1u);
  EXPECT_EQ(r->maps.at("policy_entries").changed, 1u);
  EXPECT_EQ(r->maps.at("policy_entries").extra, 0u);
  ASSERT_TRUE(r->maps.count("policy_eps"));
  EXPECT_EQ(r->maps.at("policy_eps").missing, 1u);
  ASSERT_TRUE(r->maps.count("ipcache4"));
  EXPECT_EQ(r->maps.at("ipcache4").extra, 1u);
  EXPECT_FALSE(r->maps.count("policy_ep_dev"));
  EXPECT_EQ(journal->ops().size(), 4u) << "only what differs is written";
  // Upserts before the delete (make before break).
  EXPECT_EQ(journal->ops().back().kind, MapOp::Kind::Delete);
  auto now = read_state(maps);
  ASSERT_TRUE(now);
  EXPECT_TRUE(diff(*now, s.before).empty());
  auto again = repair_drift(maps, s.before);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->maps.empty());
}

}  // namespace
}  // namespace netagent::policy::testing
