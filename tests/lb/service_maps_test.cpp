// ServiceMaps against the real (private) maps: minimal diffs, write ordering, restore.
#include "lb_fixture.hpp"

namespace netagent::lb {
namespace {

using namespace testing;

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
  EXPECT_EQ(st->backends_removed, 1u);
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
  EXPECT_EQ(st->backends_removed, 1u);
  EXPECT_EQ(kernel_services().size(), 3u);
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
  EXPECT_EQ(st->backends_removed, 1u);  // 10.1.0.3; 10.1.0.2 is still used by a
  // Service a goes away: its table and its own backend go, the shared one stays for b.
  st = maps.apply_changes({{a.service, {}}}, {});
  ASSERT_TRUE(st);
  EXPECT_EQ(st->frontends_removed, 1u);
  EXPECT_EQ(st->maglev_tables_removed, 1u);
  EXPECT_EQ(st->backends_removed, 1u);
  auto backends = dp_->backends.entries();
  ASSERT_TRUE(backends);
  ASSERT_EQ(backends->size(), 1u);
  EXPECT_EQ(Ipv4Addr::from_be(backends->front().second.address), ip("10.1.0.2"));
}

}  // namespace
}  // namespace netagent::lb
