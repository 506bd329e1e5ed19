// ServiceMaps against the real (private) maps: minimal diffs, write ordering, restore.
#include <bpf/bpf.h>
#include <linux/pkt_cls.h>

#include <thread>

#include "lb_fixture.hpp"
#include "netagent/datapath/packet.hpp"
#include "netagent/datapath/test_run.hpp"

namespace netagent::lb {
namespace {

using namespace testing;
using namespace std::chrono_literals;

// Past any retired backend's grace.
ServiceMaps::Clock::time_point after_grace() {
  return ServiceMaps::Clock::now() + ServiceMaps::kDefaultRetireGrace + 1s;
}

BackendAddr be(const char* a, uint16_t port = 8080) {
  return {ip(a), port, IPPROTO_TCP};
}

using KernelServices = std::map<std::pair<FrontendKey, uint16_t>, lb4_svc_value>;
lb4_svc_value slot(const KernelServices& k, const FrontendKey& fk, uint16_t s) {
  auto it = k.find({fk, s});
  return it == k.end() ? lb4_svc_value{} : it->second;
}

class ServiceMapsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NETAGENT_REQUIRE_ROOT();
    dp_ = load_private();
    ASSERT_TRUE(dp_);
  }
  // Every (frontend, slot) entry in the kernel.
  std::map<std::pair<FrontendKey, uint16_t>, lb4_svc_value> kernel_services() {
    std::map<std::pair<FrontendKey, uint16_t>, lb4_svc_value> out;
    EXPECT_TRUE(dp_->services.for_each([&](const lb4_svc_key& k, const lb4_svc_value& v) {
      out[{FrontendKey{Ipv4Addr::from_be(k.address), ntohs(k.dport), k.proto, k.scope},
           k.backend_slot}] = v;
    }));
    return out;
  }
  std::unique_ptr<LbDatapath> dp_;
};

TEST_F(ServiceMapsTest, ProgramsSlotsAndCount) {
  ServiceMaps maps(*dp_);
  ASSERT_TRUE(maps.restore());
  auto d = desired({frontend(FrontendType::ClusterIP, "10.96.0.10", 80, IPPROTO_TCP,
                             {be("10.1.0.1"), be("10.1.0.2"), be("10.1.0.3")}, "a")});
  auto st = maps.apply(d);
  ASSERT_TRUE(st) << st.error().str();
  EXPECT_EQ(st->frontends_added, 1u);
  EXPECT_EQ(st->backends_added, 3u);
  auto k = kernel_services();
  ASSERT_EQ(k.size(), 4u);
  FrontendKey fk{ip("10.96.0.10"), 80, IPPROTO_TCP, 0};
  EXPECT_EQ(slot(k, fk, 0).count, 3);
  std::set<uint32_t> ids;
  for (uint16_t s = 1; s <= 3; ++s)
    ids.insert(k[{fk, s}].backend_id);
  EXPECT_EQ(ids.size(), 3u);
  // A second apply of the same state writes nothing.
  auto again = maps.apply(d);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->map_writes, 0u);
}

TEST_F(ServiceMapsTest, ScaleDownKeepsRemainingSlotsAndRemovesUnusedBackends) {
  ServiceMaps maps(*dp_);
  ASSERT_TRUE(maps.restore());
  ASSERT_TRUE(
      maps.apply(desired({frontend(FrontendType::ClusterIP, "10.96.0.10", 80, IPPROTO_TCP,
                                   {be("10.1.0.1"), be("10.1.0.2"), be("10.1.0.3")}, "a")})));
  FrontendKey fk{ip("10.96.0.10"), 80, IPPROTO_TCP, 0};
  auto before = kernel_services();
  auto st = maps.apply(desired({frontend(FrontendType::ClusterIP, "10.96.0.10", 80, IPPROTO_TCP,
                                         {be("10.1.0.1"), be("10.1.0.3")}, "a")}));
  ASSERT_TRUE(st);
  // 10.1.0.2 is retired, not removed: a packet may have just read its slot.
  EXPECT_EQ(st->backends_retired, 1u);
  EXPECT_EQ(st->backends_removed, 0u);
  EXPECT_EQ(dp_->backends.entries()->size(), 3u);
  auto removed = maps.collect_retired(after_grace());
  ASSERT_TRUE(removed);
  EXPECT_EQ(*removed, 1u);
  EXPECT_EQ(dp_->backends.entries()->size(), 2u);
  auto after = kernel_services();
  EXPECT_EQ(slot(after, fk, 0).count, 2);
  EXPECT_EQ(after.size(), 3u);
  // Backend 10.1.0.1 keeps slot 1: only the removed backend's slot was rewritten.
  EXPECT_EQ(slot(after, fk, 1).backend_id, slot(before, fk, 1).backend_id);
  // Scale up again: one new backend entry, one new slot.
  st = maps.apply(desired({frontend(FrontendType::ClusterIP, "10.96.0.10", 80, IPPROTO_TCP,
                                    {be("10.1.0.1"), be("10.1.0.3"), be("10.1.0.4")}, "a")}));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->backends_added, 1u);
  EXPECT_EQ(slot(kernel_services(), fk, 0).count, 3);
}

TEST_F(ServiceMapsTest, RemovedServiceLeavesNothingBehind) {
  ServiceMaps maps(*dp_);
  ASSERT_TRUE(maps.restore());
  ASSERT_TRUE(maps.apply(desired({frontend(FrontendType::LoadBalancer, "10.25.11.100", 80,
                                           IPPROTO_TCP, {be("10.1.0.1")}, "lb")})));
  EXPECT_EQ(maps.maglev_tables(), 1u);
  auto st = maps.apply(desired({}));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->frontends_removed, 1u);
  EXPECT_TRUE(kernel_services().empty());
  EXPECT_EQ(st->backends_retired, 1u);
  ASSERT_TRUE(maps.collect_retired(after_grace()));
  EXPECT_TRUE(dp_->backends.entries()->empty());
  EXPECT_TRUE(dp_->revnat.entries()->empty());
  EXPECT_EQ(maps.maglev_tables(), 0u);
}

TEST_F(ServiceMapsTest, RestoreKeepsIdsAndRemovesWhatWasDeletedMeanwhile) {
  auto d1 = desired({frontend(FrontendType::LoadBalancer, "10.25.11.100", 80, IPPROTO_TCP,
                              {be("10.1.0.1"), be("10.1.0.2")}, "web"),
                     frontend(FrontendType::ClusterIP, "10.96.0.20", 53, IPPROTO_UDP,
                              {{ip("10.1.0.9"), 53, IPPROTO_UDP}}, "dns")});
  std::map<std::pair<FrontendKey, uint16_t>, lb4_svc_value> before;
  {
    ServiceMaps first(*dp_);
    ASSERT_TRUE(first.restore());
    ASSERT_TRUE(first.apply(d1));
    before = kernel_services();
  }
  // A new agent process: same maps, new mirror.
  ServiceMaps second(*dp_);
  ASSERT_TRUE(second.restore());
  EXPECT_EQ(second.frontends().size(), 2u);
  // The same desired state changes nothing but the (atomic, identical) Maglev table rewrite.
  auto st = second.apply(d1);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->frontends_added + st->frontends_removed + st->backends_added, 0u);
  EXPECT_EQ(kernel_services().size(), before.size());
  for (const auto& [k, v] : kernel_services())
    EXPECT_EQ(v.backend_id, before.at(k).backend_id);
  // The dns service was deleted while "the agent was down": it goes away.
  auto d2 = desired({frontend(FrontendType::LoadBalancer, "10.25.11.100", 80, IPPROTO_TCP,
                              {be("10.1.0.1"), be("10.1.0.2")}, "web")});
  ServiceMaps third(*dp_);
  ASSERT_TRUE(third.restore());
  st = third.apply(d2);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->frontends_removed, 1u);
  EXPECT_EQ(st->backends_retired, 1u);
  EXPECT_EQ(kernel_services().size(), 3u);
  auto removed = third.collect_retired(after_grace());
  ASSERT_TRUE(removed);
  EXPECT_EQ(*removed, 1u);
  EXPECT_EQ(dp_->backends.entries()->size(), 2u);
}

}  // namespace
}  // namespace netagent::lb

namespace netagent::lb {
namespace {

TEST_F(ServiceMapsTest, PerServiceChangesTouchOnlyThatService) {
  ServiceMaps maps(*dp_);
  ASSERT_TRUE(maps.restore());
  auto a = frontend(FrontendType::LoadBalancer, "10.25.11.100", 80, IPPROTO_TCP,
                    {be("10.1.0.1"), be("10.1.0.2")}, "a");
  auto b = frontend(FrontendType::LoadBalancer, "10.25.11.101", 80, IPPROTO_TCP,
                    {be("10.1.0.2"), be("10.1.0.3")}, "b");
  ASSERT_TRUE(maps.apply(desired({a, b})));
  EXPECT_EQ(maps.maglev_tables(), 2u);
  // Service b loses a backend: one slot, one table, the head; a is not touched.
  b.backends = {be("10.1.0.2")};
  auto st = maps.apply_changes({{b.service, {b}}}, {});
  ASSERT_TRUE(st) << st.error().str();
  EXPECT_EQ(st->frontends_updated, 1u);
  EXPECT_EQ(st->maglev_tables_written, 1u);
  EXPECT_EQ(st->maglev_tables_in_place, 1u);
  EXPECT_EQ(st->backends_retired, 1u);  // 10.1.0.3; 10.1.0.2 is still used by a
  // Service a goes away: its table and its own backend go, the shared one stays for b.
  st = maps.apply_changes({{a.service, {}}}, {});
  ASSERT_TRUE(st);
  EXPECT_EQ(st->frontends_removed, 1u);
  EXPECT_EQ(st->maglev_tables_removed, 1u);
  EXPECT_EQ(st->backends_retired, 1u);
  auto removed = maps.collect_retired(after_grace());
  ASSERT_TRUE(removed);
  EXPECT_EQ(*removed, 2u);
  auto backends = dp_->backends.entries();
  ASSERT_TRUE(backends);
  ASSERT_EQ(backends->size(), 1u);
  EXPECT_EQ(Ipv4Addr::from_be(backends->front().second.address), ip("10.1.0.2"));
}

}  // namespace
}  // namespace netagent::lb

namespace netagent::lb {
namespace {

// New flows to 10.25.11.100:80 through the TC program: the backend addresses they reach.
std::set<uint32_t> reached(LbDatapath& dp, uint16_t first_port, int flows = 64) {
  std::set<uint32_t> out;
  for (int i = 0; i < flows; ++i) {
    auto syn = datapath::PacketBuilder()
                   .ipv4(ip("198.51.100.7"), ip("10.25.11.100"))
                   .tcp(uint16_t(first_port + i), 80)
                   .build();
    auto r = datapath::test_run(dp.nodeport_ingress_fd(), syn);
    EXPECT_TRUE(r);
    if (!r) continue;
    EXPECT_EQ(int(r->retval), TC_ACT_OK);
    auto d = datapath::decode_packet(r->packet);
    EXPECT_TRUE(d);
    if (d) out.insert(d->daddr.value);
  }
  return out;
}

std::set<uint32_t> addrs(std::initializer_list<const char*> l) {
  std::set<uint32_t> out;
  for (auto a : l)
    out.insert(ip(a).value);
  return out;
}

// The inner map id behind a frontend's Maglev table.
uint32_t inner_table(LbDatapath& dp, const FrontendKey& fk) {
  lb4_svc_key k{};
  k.address = fk.addr.to_be();
  k.dport = htons(fk.port);
  k.proto = fk.proto;
  lb4_svc_value v{};
  if (bpf_map_lookup_elem(dp.services.fd(), &k, &v) != 0) return 0;
  uint32_t id = 0;
  if (bpf_map_lookup_elem(dp.maglev_outer_fd, &v.backend_id, &id) != 0) return 0;
  return id;
}

std::set<uint32_t> programmed_backends(LbDatapath& dp) {
  std::set<uint32_t> out;
  auto e = dp.backends.entries();
  EXPECT_TRUE(e);
  if (e) {
    for (const auto& [id, b] : *e)
      out.insert(Ipv4Addr::from_be(b.address).value);
  }
  return out;
}

TEST_F(ServiceMapsTest, InPlaceTableRewriteKeepsServingAndRetiresTheOldBackend) {
  ServiceMaps maps(*dp_);
  ASSERT_TRUE(maps.restore());
  auto web = frontend(FrontendType::LoadBalancer, "10.25.11.100", 80, IPPROTO_TCP,
                      {be("10.1.0.1"), be("10.1.0.2")}, "web");
  ASSERT_TRUE(maps.apply(desired({web})));
  const uint32_t table = inner_table(*dp_, web.key);
  ASSERT_NE(table, 0u);
  EXPECT_EQ(reached(*dp_, 20000), addrs({"10.1.0.1", "10.1.0.2"}));

  // 10.1.0.2 is replaced by 10.1.0.3: the same inner map is rewritten, no new table.
  web.backends = {be("10.1.0.1"), be("10.1.0.3")};
  // (Local backends: a remote one would need a SNAT address.)
  auto st = maps.apply_changes({{web.service, {web}}}, desired({web}).backends);
  ASSERT_TRUE(st) << st.error().str();
  EXPECT_EQ(st->maglev_tables_written, 1u);
  EXPECT_EQ(st->maglev_tables_in_place, 1u);
  EXPECT_EQ(inner_table(*dp_, web.key), table);
  // New flows reach the new set at once.
  EXPECT_EQ(reached(*dp_, 30000), addrs({"10.1.0.1", "10.1.0.3"}));
  // The old backend stays programmed through its grace (a packet may hold its id), then goes.
  EXPECT_EQ(st->backends_retired, 1u);
  EXPECT_EQ(st->backends_removed, 0u);
  EXPECT_EQ(programmed_backends(*dp_), addrs({"10.1.0.1", "10.1.0.2", "10.1.0.3"}));
  EXPECT_EQ(maps.retired_backends(), 1u);
  auto removed = maps.collect_retired();  // still in its grace
  ASSERT_TRUE(removed);
  EXPECT_EQ(*removed, 0u);
  removed = maps.collect_retired(after_grace());
  ASSERT_TRUE(removed);
  EXPECT_EQ(*removed, 1u);
  EXPECT_EQ(programmed_backends(*dp_), addrs({"10.1.0.1", "10.1.0.3"}));
  EXPECT_EQ(maps.retired_backends(), 0u);
  EXPECT_EQ(reached(*dp_, 40000), addrs({"10.1.0.1", "10.1.0.3"}));
}

TEST_F(ServiceMapsTest, RetiredBackendIsRemovedByALaterCommitOrUsedAgain) {
  ServiceMaps maps(*dp_, 50ms);
  ASSERT_TRUE(maps.restore());
  auto web = frontend(FrontendType::LoadBalancer, "10.25.11.100", 80, IPPROTO_TCP,
                      {be("10.1.0.1"), be("10.1.0.2")}, "web");
  ASSERT_TRUE(maps.apply(desired({web})));
  // 10.1.0.2 goes and comes back within its grace: the same backend entry is used again.
  const auto id2 = [&] {
    for (const auto& [id, a] : maps.backend_addrs()) {
      if (a == be("10.1.0.2")) return id;
    }
    return 0u;
  };
  const uint32_t before = id2();
  web.backends = {be("10.1.0.1")};
  ASSERT_TRUE(maps.apply_changes({{web.service, {web}}}, {}));
  web.backends = {be("10.1.0.1"), be("10.1.0.2")};
  auto st = maps.apply_changes({{web.service, {web}}}, {});
  ASSERT_TRUE(st);
  EXPECT_EQ(st->backends_added, 0u);
  EXPECT_EQ(id2(), before);
  std::this_thread::sleep_for(60ms);
  st = maps.apply_changes({{web.service, {web}}}, {});
  ASSERT_TRUE(st);
  EXPECT_EQ(st->backends_removed, 0u);  // wanted again: not removed
  EXPECT_EQ(programmed_backends(*dp_), addrs({"10.1.0.1", "10.1.0.2"}));
  // Now it goes for good: the next commit after the grace removes it.
  web.backends = {be("10.1.0.1")};
  st = maps.apply_changes({{web.service, {web}}}, {});
  ASSERT_TRUE(st);
  EXPECT_EQ(st->backends_retired, 1u);
  EXPECT_EQ(programmed_backends(*dp_), addrs({"10.1.0.1", "10.1.0.2"}));
  std::this_thread::sleep_for(60ms);
  auto other =
      frontend(FrontendType::ClusterIP, "10.96.0.10", 80, IPPROTO_TCP, {be("10.1.0.1")}, "other");
  st = maps.apply_changes({{other.service, {other}}}, {});
  ASSERT_TRUE(st);
  EXPECT_EQ(st->backends_removed, 1u);
  EXPECT_EQ(programmed_backends(*dp_), addrs({"10.1.0.1"}));
}

TEST_F(ServiceMapsTest, RestartedAgentRewritesTablesInPlace) {
  auto web = frontend(FrontendType::LoadBalancer, "10.25.11.100", 80, IPPROTO_TCP,
                      {be("10.1.0.1"), be("10.1.0.2")}, "web");
  {
    ServiceMaps first(*dp_);
    ASSERT_TRUE(first.restore());
    ASSERT_TRUE(first.apply(desired({web})));
  }
  const uint32_t table = inner_table(*dp_, web.key);
  ASSERT_NE(table, 0u);
  // A new process: the table is reopened by id and rewritten, not replaced.
  ServiceMaps second(*dp_);
  ASSERT_TRUE(second.restore());
  web.backends = {be("10.1.0.1"), be("10.1.0.3")};
  auto st = second.apply(desired({web}));
  ASSERT_TRUE(st) << st.error().str();
  EXPECT_EQ(st->maglev_tables_in_place, 1u);
  EXPECT_EQ(inner_table(*dp_, web.key), table);
  EXPECT_EQ(reached(*dp_, 20000), addrs({"10.1.0.1", "10.1.0.3"}));
}

}  // namespace
}  // namespace netagent::lb
