// ServiceMaps::verify() on in-memory maps (no root): the drift check. Entries deleted, changed or
// added behind the mirror's back (as `bpftool map delete|update` would) are found, counted per
// map and rewritten, in the commit's make-before-break order, until the maps hold exactly what
// the mirror says; a second check finds nothing.
#include <gtest/gtest.h>

#include "fake_lb_maps.hpp"
#include "lb_fixture.hpp"

namespace netagent::lb {
namespace {

using namespace testing;
using namespace std::chrono_literals;

BackendAddr be(const char* a, uint16_t port = 8080) {
  return {ip(a), port, IPPROTO_TCP};
}

struct Programmed {
  FakeLbMaps fake;
  ServiceMaps maps{fake.maps(), 0ms};
  Frontend web = frontend(FrontendType::LoadBalancer, "10.25.11.100", 80, IPPROTO_TCP,
                          {be("10.1.0.1"), be("10.1.0.2")}, "web");
  Frontend dns = frontend(FrontendType::NodePort, "10.25.11.11", 30053, IPPROTO_UDP,
                          {be("10.1.0.9", 53)}, "dns");
  datapath::TypedMap<lb4_svc_key, lb4_svc_value> services =
      *datapath::TypedMap<lb4_svc_key, lb4_svc_value>::of(fake.services);
  datapath::TypedMap<uint32_t, lb4_backend> backends =
      *datapath::TypedMap<uint32_t, lb4_backend>::of(fake.backends);
  datapath::TypedMap<uint32_t, lb4_revnat> revnat =
      *datapath::TypedMap<uint32_t, lb4_revnat>::of(fake.revnat);

  Programmed() {
    EXPECT_TRUE(maps.restore());
    auto st = maps.apply(desired({web, dns}));
    EXPECT_TRUE(st) << st.error().str();
  }
  uint32_t backend_id(const BackendAddr& a) const {
    for (const auto& [id, b] : maps.backend_addrs()) {
      if (b == a) return id;
    }
    return 0;
  }
};

TEST(ServiceMapsDrift, NothingChangedNothingRepaired) {
  Programmed p;
  p.fake.journal->clear();
  auto v = p.maps.verify();
  ASSERT_TRUE(v) << v.error().str();
  EXPECT_EQ(v->repaired(), 0u);
  EXPECT_TRUE(v->maps.empty());
  // Both frontends' slot 0 and slots, 3 backends, 2 rev-NAT entries and 2 tables were read.
  EXPECT_EQ(v->checked, 5u + 3u + 2u + 2u);
  EXPECT_TRUE(p.fake.journal->ops().empty()) << "a clean check writes nothing";
}

TEST(ServiceMapsDrift, MissingExtraAndChangedEntriesAreRewrittenAsTheMirrorSays) {
  Programmed p;
  const auto before_services = p.fake.service_entries();
  const auto before_backends = p.fake.backend_entries();
  const auto before_revnat = p.fake.revnat_entries();
  const auto before_tables = p.fake.maglev->tables();
  const auto& pf = p.maps.frontends().at(p.web.key);

  // Behind the agent's back: web's slot 0 and slot 2 deleted, dns's slot 1 pointed at another
  // backend, a backend deleted and another changed, a stranger's frontend and backend added,
  // web's rev-NAT entry deleted, web's Maglev table zeroed, dns's removed and a stranger's
  // added.
  ASSERT_TRUE(p.services.remove(svc_key(p.web.key, 0)));
  ASSERT_TRUE(p.services.remove(svc_key(p.web.key, 2)));
  lb4_svc_value wrong{};
  wrong.backend_id = p.backend_id(be("10.1.0.1"));
  wrong.svc_id = p.maps.frontends().at(p.dns.key).svc_id;
  ASSERT_TRUE(p.services.update(svc_key(p.dns.key, 1), wrong));
  auto stranger = frontend(FrontendType::ClusterIP, "10.96.0.99", 80, IPPROTO_TCP, {}, "x");
  lb4_svc_value sv{};
  sv.count = 1;
  sv.svc_id = 4000;
  ASSERT_TRUE(p.services.update(svc_key(stranger.key, 0), sv));
  ASSERT_TRUE(p.backends.remove(p.backend_id(be("10.1.0.2"))));
  lb4_backend changed = before_backends.at(p.backend_id(be("10.1.0.9", 53)));
  changed.port = htons(9999);
  ASSERT_TRUE(p.backends.update(p.backend_id(be("10.1.0.9", 53)), changed));
  lb4_backend foreign{};
  foreign.address = ip("192.0.2.1").to_be();
  ASSERT_TRUE(p.backends.update(7777, foreign));
  ASSERT_TRUE(p.revnat.remove(pf.svc_id));
  auto& tables = p.fake.maglev->tables_for_tampering();
  ASSERT_EQ(tables.size(), 2u);
  tables.at(pf.maglev_id).assign(tables.at(pf.maglev_id).size(), 0);
  tables.erase(p.maps.frontends().at(p.dns.key).maglev_id);
  tables[999] = MaglevTables::Table(p.fake.maglev->table_size(), 1);

  p.fake.journal->clear();
  auto v = p.maps.verify();
  ASSERT_TRUE(v) << v.error().str();
  const auto& m = v->maps;
  ASSERT_TRUE(m.count("lb4_services"));
  EXPECT_EQ(m.at("lb4_services").missing, 2u);
  EXPECT_EQ(m.at("lb4_services").changed, 1u);
  EXPECT_EQ(m.at("lb4_services").extra, 1u);
  ASSERT_TRUE(m.count("lb4_backends"));
  EXPECT_EQ(m.at("lb4_backends").missing, 1u);
  EXPECT_EQ(m.at("lb4_backends").changed, 1u);
  EXPECT_EQ(m.at("lb4_backends").extra, 1u);
  ASSERT_TRUE(m.count("lb4_revnat"));
  EXPECT_EQ(m.at("lb4_revnat").missing, 1u);
  ASSERT_TRUE(m.count("lb4_maglev"));
  EXPECT_EQ(m.at("lb4_maglev").missing, 1u);
  EXPECT_EQ(m.at("lb4_maglev").changed, 1u);
  EXPECT_EQ(m.at("lb4_maglev").extra, 1u);
  EXPECT_EQ(v->repaired(), 4u + 3u + 1u + 3u);

  // Exactly what was programmed, and the mirror is the maps.
  EXPECT_EQ(p.fake.service_entries().size(), before_services.size());
  for (const auto& [k, val] : before_services) {
    auto it = p.fake.service_entries().find(k);
    ASSERT_NE(it, p.fake.service_entries().end()) << k.first.str() << " slot " << k.second;
    EXPECT_EQ(std::memcmp(&it->second, &val, sizeof(val)), 0);
  }
  EXPECT_EQ(p.fake.backend_entries().size(), before_backends.size());
  for (const auto& [id, val] : before_backends)
    EXPECT_EQ(std::memcmp(&p.fake.backend_entries().at(id), &val, sizeof(val)), 0) << id;
  EXPECT_EQ(p.fake.revnat_entries().size(), before_revnat.size());
  EXPECT_EQ(p.fake.maglev->tables(), before_tables);
  expect_mirror_is_maps(p.maps, p.fake);
  EXPECT_EQ(p.fake.broken_frontend(), "");

  // Make before break: web's backend, table, rev-NAT entry and slot 2 before its slot 0; the
  // stranger's slot 0 gone before its backend.
  const auto& j = *p.fake.journal;
  auto at = [&](const std::string& map, const auto& key, datapath::MapOp::Kind kind) {
    for (size_t i = 0; i < j.ops().size(); ++i) {
      const auto& op = j.ops()[i];
      if (!op.error && op.kind == kind && op.map == map && op.key.size() == sizeof(key) &&
          std::memcmp(op.key.data(), &key, sizeof(key)) == 0) {
        return long(i);
      }
    }
    return -1L;
  };
  using Kind = datapath::MapOp::Kind;
  long head = at("lb4_services", svc_key(p.web.key, 0), Kind::Update);
  ASSERT_GE(head, 0);
  EXPECT_LT(at("lb4_backends", p.backend_id(be("10.1.0.2")), Kind::Update), head);
  EXPECT_LT(at("lb4_maglev_in", pf.maglev_id, Kind::Update), head);
  EXPECT_LT(at("lb4_revnat", pf.svc_id, Kind::Update), head);
  EXPECT_LT(at("lb4_services", svc_key(p.web.key, 2), Kind::Update), head);
  EXPECT_LT(at("lb4_services", svc_key(stranger.key, 0), Kind::Delete),
            at("lb4_backends", uint32_t(7777), Kind::Delete));

  // A second check finds nothing; the next change is a normal diff.
  auto again = p.maps.verify();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->repaired(), 0u);
  p.web.backends.push_back(be("10.1.0.3"));
  auto st = p.maps.apply_changes({{p.web.service, {p.web}}}, desired({p.web, p.dns}).backends);
  ASSERT_TRUE(st) << st.error().str();
  EXPECT_EQ(st->frontends_added, 0u);
  expect_mirror_is_maps(p.maps, p.fake);
}

TEST(ServiceMapsDrift, AFailingRepairWriteIsAnErrorAndTheNextCheckFinishes) {
  Programmed p;
  ASSERT_TRUE(p.services.remove(svc_key(p.web.key, 1)));
  p.fake.journal->fail_write(1, ENOMEM);  // the first write of the repair
  auto v = p.maps.verify();
  EXPECT_FALSE(v);
  auto again = p.maps.verify();
  ASSERT_TRUE(again) << again.error().str();
  EXPECT_EQ(again->maps.at("lb4_services").missing, 1u);
  expect_mirror_is_maps(p.maps, p.fake);
}

}  // namespace
}  // namespace netagent::lb
