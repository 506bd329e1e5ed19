// ServiceMaps on in-memory maps (tests/lb/fake_lb_maps.hpp), no root: the order of a commit's
// writes (make before break: after every single write, every frontend a packet can see is
// complete), and what the mirror says when a write fails (exactly what the maps hold; the next
// complete apply writes what is missing).
#include <gtest/gtest.h>

#include "fake_lb_maps.hpp"
#include "lb_fixture.hpp"

namespace netagent::lb {
namespace {

using namespace testing;
using namespace std::chrono_literals;
using datapath::MapOp;

BackendAddr be(const char* a, uint16_t port = 8080) {
  return {ip(a), port, IPPROTO_TCP};
}

// Where in the journal the done write to `map` with `key` is (the last one), or -1.
template <typename K>
long index_of(const datapath::MapJournal& j, const std::string& map, const K& key,
              MapOp::Kind kind) {
  long found = -1;
  for (size_t i = 0; i < j.ops().size(); ++i) {
    const auto& op = j.ops()[i];
    if (op.error || op.kind != kind || op.map != map || op.key.size() != sizeof(K)) continue;
    if (std::memcmp(op.key.data(), &key, sizeof(K)) == 0) found = long(i);
  }
  return found;
}

// What packets are served, by address: frontend -> (flags, backends of slots 1..count), and the
// backends programmed. Ids differ between runs; this does not.
struct Served {
  std::map<std::string, std::pair<uint16_t, std::set<std::string>>> frontends;
  std::set<std::string> backends;
  size_t tables = 0, revnat = 0;
  bool operator==(const Served&) const = default;
};
Served served(const FakeLbMaps& fake) {
  Served out;
  auto entries = fake.service_entries();
  auto bes = fake.backend_entries();
  auto addr = [&](uint32_t id) {
    const auto& b = bes.at(id);
    return Ipv4Addr::from_be(b.address).str() + ":" + std::to_string(ntohs(b.port));
  };
  for (const auto& [k, v] : entries) {
    if (k.second != 0) continue;
    auto& f = out.frontends[k.first.str()];
    f.first = v.flags;
    for (uint16_t s = 1; s <= v.count; ++s)
      f.second.insert(addr(entries.at({k.first, s}).backend_id));
  }
  for (const auto& [id, b] : bes)
    out.backends.insert(addr(id));
  out.tables = fake.maglev->tables().size();
  out.revnat = fake.revnat_entries().size();
  return out;
}

TEST(ServiceMapsOnFakes, EveryWriteKeepsEveryVisibleFrontendComplete) {
  FakeLbMaps fake;
  fake.check_every_write();
  ServiceMaps maps(fake.maps(), 0ms);
  ASSERT_TRUE(maps.restore());
  auto web = frontend(FrontendType::LoadBalancer, "10.25.11.100", 80, IPPROTO_TCP,
                      {be("10.1.0.1"), be("10.1.0.2")}, "web");
  auto dns = frontend(FrontendType::ClusterIP, "10.96.0.10", 53, IPPROTO_TCP,
                      {be("10.1.0.9", 53), be("10.1.0.8", 53)}, "dns");
  ASSERT_TRUE(maps.apply(desired({web, dns})));
  expect_mirror_is_maps(maps, fake);

  // web's backends are replaced (its table rewritten in place), dns scales down, api is new.
  fake.journal->clear();
  web.backends = {be("10.1.0.2"), be("10.1.0.3"), be("10.1.0.4")};
  dns.backends = {be("10.1.0.9", 53)};
  auto api = frontend(FrontendType::LoadBalancer, "10.25.11.101", 443, IPPROTO_TCP,
                      {be("10.1.0.6", 443)}, "api");
  auto all = desired({web, dns, api});
  auto st = maps.apply_changes({{web.service, {web}}, {dns.service, {dns}}, {api.service, {api}}},
                               all.backends);
  ASSERT_TRUE(st) << st.error().str();
  EXPECT_EQ(st->frontends_added, 1u);
  EXPECT_EQ(st->frontends_updated, 2u);
  EXPECT_EQ(st->maglev_tables_in_place, 1u);
  expect_mirror_is_maps(maps, fake);
  // The order, for api: backend, table, rev-NAT and slot, then slot 0.
  const auto& j = *fake.journal;
  uint32_t api_backend = 0;
  for (const auto& [id, a] : maps.backend_addrs()) {
    if (a == be("10.1.0.6", 443)) api_backend = id;
  }
  const auto& pf = maps.frontends().at(api.key);
  long backend = index_of(j, "lb4_backends", api_backend, MapOp::Kind::Update);
  long table = index_of(j, "lb4_maglev", pf.maglev_id, MapOp::Kind::Update);
  long revnat = index_of(j, "lb4_revnat", pf.svc_id, MapOp::Kind::Update);
  long slot1 = index_of(j, "lb4_services", svc_key(api.key, 1), MapOp::Kind::Update);
  long head = index_of(j, "lb4_services", svc_key(api.key, 0), MapOp::Kind::Update);
  EXPECT_GE(backend, 0);
  EXPECT_LT(backend, table);
  EXPECT_LT(table, revnat);
  EXPECT_LT(revnat, slot1);
  EXPECT_LT(slot1, head);
  // dns: slot 0 lowers the count before slot 2 goes.
  long dns_head = index_of(j, "lb4_services", svc_key(dns.key, 0), MapOp::Kind::Update);
  long dns_slot2 = index_of(j, "lb4_services", svc_key(dns.key, 2), MapOp::Kind::Delete);
  EXPECT_GE(dns_head, 0);
  EXPECT_LT(dns_head, dns_slot2);

  // web goes: slot 0 first, then its slots, its rev-NAT entry and its table.
  fake.journal->clear();
  const auto web_pf = maps.frontends().at(web.key);
  ASSERT_TRUE(maps.apply(desired({dns, api})));
  long web_head = index_of(j, "lb4_services", svc_key(web.key, 0), MapOp::Kind::Delete);
  EXPECT_GE(web_head, 0);
  for (uint16_t s = 1; s <= 3; ++s) {
    EXPECT_LT(web_head, index_of(j, "lb4_services", svc_key(web.key, s), MapOp::Kind::Delete));
  }
  long web_revnat = index_of(j, "lb4_revnat", web_pf.svc_id, MapOp::Kind::Delete);
  long web_table = index_of(j, "lb4_maglev", web_pf.maglev_id, MapOp::Kind::Delete);
  EXPECT_LT(index_of(j, "lb4_services", svc_key(web.key, 3), MapOp::Kind::Delete), web_revnat);
  EXPECT_LT(web_head, web_table);
  expect_mirror_is_maps(maps, fake);
  EXPECT_EQ(fake.maglev->tables().size(), 1u);
  EXPECT_EQ(fake.backend_entries().size(), 2u);  // retired with no grace: removed at once
}

// Fills the services map with frontends nobody owns (192.0.2.x), as the BGP test does to the
// kernel's map, until it has `left` free entries.
std::vector<lb4_svc_key> fill(FakeLbMaps& fake, size_t left) {
  std::vector<lb4_svc_key> junk;
  for (uint32_t i = 0; fake.services->size() + left < fake.services->max_entries(); ++i) {
    // Slot entries without a slot 0: invisible to packets.
    auto key = svc_key(FrontendKey{Ipv4Addr{(192u << 24) | (2u << 8) | (i & 0xff)},
                                   uint16_t(1000 + i), IPPROTO_TCP, 0},
                       1);
    lb4_svc_value v{};
    EXPECT_EQ(fake.services->update(&key, &v, BPF_ANY), 0);
    junk.push_back(key);
  }
  return junk;
}

TEST(ServiceMapsOnFakes, AFullMapMidCommitLeavesTheMirrorAtWhatWasWrittenAndTheRetryCompletes) {
  FakeLbMaps fake({.services = 16});
  fake.check_every_write();
  ServiceMaps maps(fake.maps(), 0ms);
  ASSERT_TRUE(maps.restore());
  auto web = frontend(FrontendType::LoadBalancer, "10.25.11.100", 80, IPPROTO_TCP,
                      {be("10.1.0.1"), be("10.1.0.2")}, "web");
  ASSERT_TRUE(maps.apply(desired({web})));
  // One entry left; the new service needs three (two slots and slot 0).
  auto junk = fill(fake, 1);
  auto api = frontend(FrontendType::LoadBalancer, "10.25.11.102", 80, IPPROTO_TCP,
                      {be("10.1.0.5"), be("10.1.0.6")}, "api");
  auto st = maps.apply_changes({{api.service, {api}}}, desired({api}).backends);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().errnum, E2BIG) << st.error().str();
  // The mirror is what the maps hold: api's backends, table, rev-NAT entry and first slot, no
  // slot 0 (not visible to packets, so not served).
  const MirrorCheck skip_junk{
      .foreign = [](const FrontendKey& k) { return (k.addr.value >> 8) == ((192u << 16) | 2u); }};
  expect_mirror_is_maps(maps, fake, skip_junk);
  ASSERT_TRUE(maps.frontends().count(api.key));
  EXPECT_FALSE(maps.frontends().at(api.key).head);
  EXPECT_EQ(maps.frontends().at(api.key).slots.size(), 1u);
  EXPECT_TRUE(maps.frontends().at(web.key).head);
  // Still full: the retry (complete, as the LB part retries) fails the same way, changing nothing.
  auto again = maps.apply(desired({web, api}));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().errnum, E2BIG);
  expect_mirror_is_maps(maps, fake, skip_junk);
  // Room again: the retry writes what is missing, and only that.
  for (const auto& k : junk)
    ASSERT_EQ(fake.services->remove(&k), 0);
  fake.journal->clear();
  auto done = maps.apply(desired({web, api}));
  ASSERT_TRUE(done) << done.error().str();
  EXPECT_EQ(done->frontends_added, 1u);
  EXPECT_EQ(done->backends_added, 0u);
  EXPECT_EQ(done->maglev_tables_written, 0u);
  EXPECT_EQ(done->map_writes, 2u);  // slot 2, slot 0
  expect_mirror_is_maps(maps, fake);
  EXPECT_TRUE(maps.frontends().at(api.key).head);
  EXPECT_EQ(maps.frontends().at(api.key).count, 2);
  EXPECT_EQ(fake.broken_frontend(), "");
}

// A rev-NAT or Maglev table map that is full: when the agent knows it (its own entries fill
// it), the new service is left out before anything is written and named; when the kernel
// refuses the write (entries the agent does not know of), the commit stops before anything of
// the new service is visible.
TEST(ServiceMapsOnFakes, AFullRevNatOrTableMapStopsTheCommitBeforeAnythingIsVisible) {
  for (bool known : {true, false}) {
    for (bool tables : {false, true}) {
      SCOPED_TRACE(std::string(tables ? "tables" : "rev-NAT") + (known ? ", known" : ", kernel"));
      FakeLbMaps fake(known ? FakeLbMaps::Opts{.revnat = 1, .tables = 1} : FakeLbMaps::Opts{});
      fake.check_every_write();
      ServiceMaps maps(fake.maps(), 0ms);
      ASSERT_TRUE(maps.restore());
      auto web = frontend(FrontendType::LoadBalancer, "10.25.11.100", 80, IPPROTO_TCP,
                          {be("10.1.0.1")}, "web");
      ASSERT_TRUE(maps.apply(desired({web})));
      auto api = tables ? frontend(FrontendType::LoadBalancer, "10.25.11.101", 80, IPPROTO_TCP,
                                   {be("10.1.0.2")}, "api")
                        : frontend(FrontendType::ClusterIP, "10.96.0.1", 80, IPPROTO_TCP,
                                   {be("10.1.0.2")}, "api");
      if (!known) {
        if (tables) {
          fake.maglev->set_full(true);
        } else {
          fake.revnat->set_full(true);
        }
      }
      auto st = maps.apply(desired({web, api}));
      if (known) {
        ASSERT_TRUE(st) << st.error().str();
        ASSERT_EQ(st->not_programmed.count(api.service), 1u);
        EXPECT_NE(st->not_programmed.at(api.service).find("service ids"), std::string::npos)
            << st->not_programmed.at(api.service);
        EXPECT_EQ(fake.backend_entries().size(), 1u) << "api's backend is not written";
      } else {
        ASSERT_FALSE(st);
        EXPECT_EQ(st.error().errnum, E2BIG);
      }
      expect_mirror_is_maps(maps, fake);
      EXPECT_FALSE(maps.frontends().count(api.key)) << "nothing of api is in the services map";
      EXPECT_EQ(fake.service_entries().size(), 2u);
      EXPECT_TRUE(maps.programmed(web));
    }
  }
}

// Every write of a change that touches every kind of entry fails in turn. Each time: the
// mirror is what the maps hold, no visible frontend was ever incomplete, and the retry (a
// complete apply, by the same process or by a restarted one) reaches what a run without the
// failure reaches.
TEST(ServiceMapsOnFakes, AFailureAtAnyWriteLeavesATruthfulMirrorAndTheRetryCompletes) {
  auto web = frontend(FrontendType::LoadBalancer, "10.25.11.100", 80, IPPROTO_TCP,
                      {be("10.1.0.1"), be("10.1.0.2")}, "web");
  auto dns =
      frontend(FrontendType::ClusterIP, "10.96.0.10", 53, IPPROTO_TCP, {be("10.1.0.9", 53)}, "dns");
  auto db = frontend(FrontendType::ClusterIP, "10.96.0.20", 5432, IPPROTO_TCP,
                     {be("10.1.0.7", 5432), be("10.1.0.8", 5432)}, "db");
  auto old = frontend(FrontendType::LoadBalancer, "10.25.11.105", 80, IPPROTO_TCP, {be("10.1.0.5")},
                      "old");
  const auto before = desired({web, dns, db, old});
  auto web2 = web, dns2 = dns, db2 = db;
  web2.backends = {be("10.1.0.2"), be("10.1.0.3"), be("10.1.0.4")};
  dns2.backends = {be("10.1.0.9", 53), be("10.1.0.10", 53)};
  db2.backends = {be("10.1.0.7", 5432)};
  auto api = frontend(FrontendType::LoadBalancer, "10.25.11.101", 443, IPPROTO_TCP,
                      {be("10.1.0.6", 443)}, "api");
  const auto after = desired({web2, dns2, db2, api});
  const std::map<std::string, std::vector<Frontend>> changes = {{web.service, {web2}},
                                                                {dns.service, {dns2}},
                                                                {db.service, {db2}},
                                                                {api.service, {api}},
                                                                {old.service, {}}};

  // The run without a failure.
  FakeLbMaps clean;
  ServiceMaps clean_maps(clean.maps(), 0ms);
  ASSERT_TRUE(clean_maps.restore());
  ASSERT_TRUE(clean_maps.apply(before));
  const size_t start = clean.journal->ops().size();
  auto st = clean_maps.apply_changes(changes, after.backends);
  ASSERT_TRUE(st) << st.error().str();
  const size_t writes = clean.journal->ops().size() - start;
  ASSERT_GE(writes, 20u);
  const Served want = served(clean);

  for (size_t n = 1; n <= writes; ++n) {
    SCOPED_TRACE("write " + std::to_string(n) + " of " + std::to_string(writes) + " fails");
    FakeLbMaps fake;
    auto maps = std::make_unique<ServiceMaps>(fake.maps(), 0ms);
    ASSERT_TRUE(maps->restore());
    ASSERT_TRUE(maps->apply(before));
    fake.check_every_write();
    fake.journal->fail_write(n, ENOSPC);
    auto failed = maps->apply_changes(changes, after.backends);
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error().errnum, ENOSPC);
    expect_mirror_is_maps(*maps, fake);
    if (::testing::Test::HasFailure()) return;
    if (n % 2 == 0) {
      // A restarted agent reads back the half-written state.
      maps = std::make_unique<ServiceMaps>(fake.maps(), 0ms);
      ASSERT_TRUE(maps->restore());
      // (A rev-NAT entry written without any slot is an orphan to it, removed by the retry.)
      expect_mirror_is_maps(*maps, fake, {.orphan_revnat = true});
    }
    auto retry = maps->apply(after);
    ASSERT_TRUE(retry) << retry.error().str();
    expect_mirror_is_maps(*maps, fake);
    EXPECT_EQ(served(fake), want);
    // And nothing is left to do.
    auto idle = maps->apply(after);
    ASSERT_TRUE(idle);
    EXPECT_EQ(idle->map_writes, 0u);
  }
}

// `n` backends 10.2.<block>.1.. on port 8080.
std::vector<BackendAddr> backends_of(int block, int n) {
  std::vector<BackendAddr> out;
  for (int i = 1; i <= n; ++i) {
    auto a = "10.2." + std::to_string(block) + "." + std::to_string(i);
    out.push_back(be(a.c_str()));
  }
  return out;
}

// More backends than the map holds: every service that fits is programmed (those already in the
// maps first, then by name), each one that does not is named with the reason and left as it
// was, no id or entry is taken for it, and the apply is truthful (the mirror is the maps). Once
// room is made, one complete apply programs exactly the desired state.
TEST(ServiceMapsOnFakes, WhenTheMapsAreFullWhatFitsIsProgrammedAndTheRestIsNamed) {
  FakeLbMaps fake({.backends = 20});
  fake.check_every_write();
  ServiceMaps maps(fake.maps(), 0ms);
  ASSERT_TRUE(maps.restore());
  auto svc = [](const char* name, const char* vip, int block, int n) {
    return frontend(FrontendType::ClusterIP, vip, 80, IPPROTO_TCP, backends_of(block, n), name);
  };
  // "z" is programmed first; it keeps serving whatever comes after it.
  auto z = svc("z", "10.96.0.26", 1, 6);
  ASSERT_TRUE(maps.apply(desired({z})));
  // 6 + 8 (a) + 10 (b) + 4 (c) = 28 backends for 20 entries: z stays, a fits (14), b does not
  // (24), c does (18).
  auto a = svc("a", "10.96.0.1", 2, 8);
  auto b = svc("b", "10.96.0.2", 3, 10);
  auto c = svc("c", "10.96.0.3", 4, 4);
  auto st = maps.apply(desired({z, a, b, c}));
  ASSERT_TRUE(st) << st.error().str();
  ASSERT_EQ(st->not_programmed.size(), 1u);
  ASSERT_TRUE(st->not_programmed.count("test/b"));
  EXPECT_NE(st->not_programmed.at("test/b").find("backends"), std::string::npos)
      << st->not_programmed.at("test/b");
  EXPECT_NE(st->not_programmed.at("test/b").find("2 of 20 are free"), std::string::npos)
      << st->not_programmed.at("test/b");
  expect_mirror_is_maps(maps, fake);
  for (const auto* f : {&z, &a, &c})
    EXPECT_TRUE(maps.programmed(*f)) << f->service;
  EXPECT_FALSE(maps.programmed(b));
  EXPECT_FALSE(maps.frontends().count(b.key)) << "nothing of b is in the maps";
  // No id or entry is held for b.
  EXPECT_EQ(fake.backend_entries().size(), 18u);
  EXPECT_EQ(maps.usage().backends, 18u);
  EXPECT_EQ(maps.usage().service_ids, 3u);
  EXPECT_EQ(maps.usage().service_entries, fake.service_entries().size());

  // The retry, unchanged: the same answer, and nothing written.
  fake.journal->clear();
  auto again = maps.apply(desired({z, a, b, c}));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->not_programmed.size(), 1u);
  EXPECT_EQ(again->map_writes, 0u);

  // a goes: its backends free room, and b is programmed by the same apply.
  auto done = maps.apply(desired({z, b, c}));
  ASSERT_TRUE(done) << done.error().str();
  EXPECT_TRUE(done->not_programmed.empty());
  expect_mirror_is_maps(maps, fake);
  for (const auto* f : {&z, &b, &c})
    EXPECT_TRUE(maps.programmed(*f)) << f->service;
  EXPECT_FALSE(maps.frontends().count(a.key));
  EXPECT_EQ(fake.backend_entries().size(), 20u);
  EXPECT_EQ(fake.broken_frontend(), "");
}

// A service already programmed that grows beyond what fits keeps serving its programmed
// backends (it is not evicted, nor half-updated) and is named; per-service changes behave the
// same; ids freed by a failed commit are handed out again.
TEST(ServiceMapsOnFakes, AServiceThatNoLongerFitsKeepsItsProgrammedVersion) {
  FakeLbMaps fake({.backends = 10});
  fake.check_every_write();
  ServiceMaps maps(fake.maps(), 0ms);
  ASSERT_TRUE(maps.restore());
  auto a =
      frontend(FrontendType::LoadBalancer, "10.25.11.100", 80, IPPROTO_TCP, backends_of(1, 4), "a");
  ASSERT_TRUE(maps.apply(desired({a})));
  auto grown = a;
  grown.backends = backends_of(1, 12);
  auto st = maps.apply_changes({{a.service, {grown}}}, desired({grown}).backends);
  ASSERT_TRUE(st) << st.error().str();
  ASSERT_EQ(st->not_programmed.size(), 1u);
  EXPECT_EQ(st->map_writes, 0u);
  EXPECT_TRUE(maps.programmed(a));
  expect_mirror_is_maps(maps, fake);
  // It fits again when it shrinks.
  auto smaller = a;
  smaller.backends = backends_of(1, 10);
  auto ok = maps.apply(desired({smaller}));
  ASSERT_TRUE(ok) << ok.error().str();
  EXPECT_TRUE(ok->not_programmed.empty());
  EXPECT_TRUE(maps.programmed(smaller));
  expect_mirror_is_maps(maps, fake);
}

// The kernel can still refuse a write as full (entries the agent does not know of): the commit
// stops there, truthful, and the backend and service ids it took for what was not written are
// free again (the backends map holds no entry the mirror does not know).
TEST(ServiceMapsOnFakes, IdsOfAFailedCommitAreFreed) {
  FakeLbMaps fake;
  ServiceMaps maps(fake.maps(), 0ms);
  ASSERT_TRUE(maps.restore());
  auto a = frontend(FrontendType::ClusterIP, "10.96.0.1", 80, IPPROTO_TCP, backends_of(1, 5), "a");
  fake.journal->fail_write(3, E2BIG);  // the third backend
  auto st = maps.apply(desired({a}));
  ASSERT_FALSE(st);
  expect_mirror_is_maps(maps, fake);
  EXPECT_EQ(maps.usage().backends, 2u);
  EXPECT_EQ(maps.usage().service_ids, 0u);
  EXPECT_EQ(maps.usage().tables, 0u);
  auto retry = maps.apply(desired({a}));
  ASSERT_TRUE(retry) << retry.error().str();
  EXPECT_TRUE(maps.programmed(a));
  EXPECT_EQ(maps.usage().backends, 5u);
  EXPECT_EQ(maps.usage().service_ids, 1u);
  expect_mirror_is_maps(maps, fake);
}

}  // namespace
}  // namespace netagent::lb
