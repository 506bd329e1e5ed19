#pragma once
// The LB maps in memory (datapath/fake_map.hpp and a fake of the Maglev tables), sharing one
// journal, for ServiceMaps tests without root: what a commit writes, in which order, and what the
// mirror says after a failure. Also what the maps hold, decoded, and the invariant packets rely
// on (every frontend a packet can see is complete).
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <set>

#include "netagent/datapath/fake_map.hpp"
#include "netagent/lb/lb_maps.hpp"
#include "netagent/lb/service_maps.hpp"

namespace netagent::lb::testing {

class FakeMaglevTables final : public MaglevTables {
 public:
  FakeMaglevTables(uint32_t m, uint32_t max_tables, std::shared_ptr<datapath::MapJournal> journal)
      : m_(m), max_(max_tables), journal_(std::move(journal)) {}

  uint32_t table_size() const override { return m_; }
  uint32_t max_tables() const override { return max_; }
  Result<std::vector<uint32_t>> ids() override {
    std::vector<uint32_t> out;
    for (const auto& [id, t] : tables_)
      out.push_back(id);
    return out;
  }
  Result<std::optional<Table>> read(uint32_t id) override {
    auto it = tables_.find(id);
    if (it == tables_.end()) return std::optional<Table>();
    return std::optional<Table>(it->second);
  }
  Result<bool> rewrite(uint32_t id, const Table& table) override {
    if (!tables_.count(id)) return false;
    int err = journal_->next_write();
    if (!err) tables_[id] = table;
    record(datapath::MapOp::Kind::Update, "lb4_maglev_in", id, &table, err);
    if (err) return sys_error("rewrite Maglev table " + std::to_string(id), err);
    return true;
  }
  Status install(const std::vector<std::pair<uint32_t, Table>>& tables,
                 size_t* installed) override {
    *installed = 0;
    for (const auto& [id, table] : tables) {
      int err = journal_->next_write();
      if (!err && !tables_.count(id) && (full_ || tables_.size() >= max_)) err = E2BIG;
      if (!err) tables_[id] = table;
      record(datapath::MapOp::Kind::Update, "lb4_maglev", id, &table, err);
      if (err) return sys_error("install Maglev table " + std::to_string(id), err);
      ++*installed;
    }
    return {};
  }
  Status remove(const std::vector<uint32_t>& ids, size_t* removed) override {
    *removed = 0;
    for (uint32_t id : ids) {
      int err = journal_->next_write();
      if (!err) tables_.erase(id);
      record(datapath::MapOp::Kind::Delete, "lb4_maglev", id, nullptr, err);
      if (err) return sys_error("remove Maglev table " + std::to_string(id), err);
      ++*removed;
    }
    return {};
  }

  void set_full(bool full) { full_ = full; }
  // Behind the agent's back (drift tests).
  std::map<uint32_t, Table>& tables_for_tampering() { return tables_; }
  const std::map<uint32_t, Table>& tables() const { return tables_; }

 private:
  void record(datapath::MapOp::Kind kind, const char* map, uint32_t id, const Table* table,
              int err) {
    datapath::MapOp op;
    op.kind = kind;
    op.map = map;
    op.key.resize(sizeof(id));
    std::memcpy(op.key.data(), &id, sizeof(id));
    if (table) {
      op.value.resize(table->size() * sizeof(uint32_t));
      std::memcpy(op.value.data(), table->data(), op.value.size());
    }
    op.error = err;
    journal_->record(std::move(op));
  }

  uint32_t m_, max_;
  std::shared_ptr<datapath::MapJournal> journal_;
  std::map<uint32_t, Table> tables_;
  bool full_ = false;
};

struct FakeLbMapsOptions {
  uint32_t services = 262144;  // bpf/lib/lb_maps.bpf.h
  uint32_t backends = LB_MAX_BACKENDS;
  uint32_t revnat = LB_MAX_SERVICES;
  uint32_t tables = LB_MAX_SERVICES;
  uint32_t maglev_table_size = 251;
};

struct FakeLbMaps {
  using Opts = FakeLbMapsOptions;
  explicit FakeLbMaps(Opts o = {})
      : services(datapath::FakeMap::make<lb4_svc_key, lb4_svc_value>(
            "lb4_services", o.services, datapath::FakeMap::Kind::Hash, journal)),
        backends(datapath::FakeMap::make<uint32_t, lb4_backend>(
            "lb4_backends", o.backends, datapath::FakeMap::Kind::Hash, journal)),
        revnat(datapath::FakeMap::make<uint32_t, lb4_revnat>(
            "lb4_revnat", o.revnat, datapath::FakeMap::Kind::Hash, journal)),
        maglev(std::make_shared<FakeMaglevTables>(o.maglev_table_size, o.tables, journal)) {}

  LbMaps maps() const {
    return LbMaps{*datapath::TypedMap<lb4_svc_key, lb4_svc_value>::of(services),
                  *datapath::TypedMap<uint32_t, lb4_backend>::of(backends),
                  *datapath::TypedMap<uint32_t, lb4_revnat>::of(revnat), maglev,
                  *MaglevSeed::parse(kMaglevDefaultSeed)};
  }

  template <typename K, typename V>
  static std::map<K, V> decode(const datapath::FakeMap& m) {
    std::map<K, V> out;
    for (const auto& [k, v] : m.contents()) {
      K key;
      V value;
      std::memcpy(&key, k.data(), sizeof(K));
      std::memcpy(&value, v.data(), sizeof(V));
      out.emplace(key, value);
    }
    return out;
  }
  // (frontend, slot) -> value.
  std::map<std::pair<FrontendKey, uint16_t>, lb4_svc_value> service_entries() const {
    std::map<std::pair<FrontendKey, uint16_t>, lb4_svc_value> out;
    for (const auto& [k, v] : services->contents()) {
      lb4_svc_key key;
      lb4_svc_value value;
      std::memcpy(&key, k.data(), sizeof(key));
      std::memcpy(&value, v.data(), sizeof(value));
      out[{FrontendKey{Ipv4Addr::from_be(key.address), ntohs(key.dport), key.proto, key.scope},
           key.backend_slot}] = value;
    }
    return out;
  }
  std::map<uint32_t, lb4_backend> backend_entries() const {
    return decode<uint32_t, lb4_backend>(*backends);
  }
  std::map<uint32_t, lb4_revnat> revnat_entries() const {
    return decode<uint32_t, lb4_revnat>(*revnat);
  }

  // What packets could run into now: a slot 0 whose slots, backends, rev-NAT entry or Maglev
  // table (and the backends in it) are not all there. Empty when every visible frontend is
  // complete.
  std::string broken_frontend() const {
    auto entries = service_entries();
    auto bes = backend_entries();
    auto rn = revnat_entries();
    for (const auto& [k, v] : entries) {
      if (k.second != 0) continue;
      const std::string f = k.first.str();
      if (!rn.count(v.svc_id)) return f + ": no rev-NAT entry " + std::to_string(v.svc_id);
      for (uint16_t s = 1; s <= v.count; ++s) {
        auto slot = entries.find({k.first, s});
        if (slot == entries.end()) return f + ": slot " + std::to_string(s) + " missing";
        if (!bes.count(slot->second.backend_id)) {
          return f + ": slot " + std::to_string(s) + " -> missing backend " +
                 std::to_string(slot->second.backend_id);
        }
      }
      if (v.backend_id) {
        auto t = maglev->tables().find(v.backend_id);
        if (t == maglev->tables().end()) {
          return f + ": missing Maglev table " + std::to_string(v.backend_id);
        }
        for (uint32_t id : t->second) {
          if (!bes.count(id)) return f + ": Maglev table -> missing backend " + std::to_string(id);
        }
      }
    }
    return "";
  }

  // Checks broken_frontend() after every write from now on.
  void check_every_write() {
    journal->after_write = [this](const datapath::MapOp& op) {
      auto broken = broken_frontend();
      EXPECT_EQ(broken, "") << "after write #" << journal->ops().size() << " to " << op.map;
    };
  }

  std::shared_ptr<datapath::MapJournal> journal = std::make_shared<datapath::MapJournal>();
  std::shared_ptr<datapath::FakeMap> services, backends, revnat;
  std::shared_ptr<FakeMaglevTables> maglev;
};

struct MirrorCheck {
  // Entries the test wrote itself, not the ServiceMaps under test.
  std::function<bool(const FrontendKey&)> foreign;
  // Rev-NAT entries no frontend carries may be in the map (read back by restore(): the next
  // commit removes them).
  bool orphan_revnat = false;
};

// The mirror of `maps` is exactly what the fakes hold: every entry of the services, backends and
// rev-NAT maps, and nothing more.
inline void expect_mirror_is_maps(const ServiceMaps& maps, const FakeLbMaps& fake,
                                  const MirrorCheck& check = {}) {
  auto entries = fake.service_entries();
  if (check.foreign) {
    std::erase_if(entries, [&](const auto& e) { return check.foreign(e.first.first); });
  }
  std::map<std::pair<FrontendKey, uint16_t>, lb4_svc_value> mirrored;
  std::set<uint32_t> svc_ids;
  for (const auto& [key, pf] : maps.frontends()) {
    if (pf.head) mirrored[{key, 0}] = pf.head_value();
    for (size_t i = 0; i < pf.slots.size(); ++i) {
      if (!pf.slots[i]) continue;
      mirrored[{key, uint16_t(i + 1)}] = pf.slot_value(i);
    }
    if (pf.svc_id) svc_ids.insert(pf.svc_id);
  }
  EXPECT_EQ(mirrored.size(), entries.size());
  for (const auto& [k, v] : entries) {
    auto it = mirrored.find(k);
    if (it == mirrored.end()) {
      ADD_FAILURE() << "in the map, not in the mirror: " << k.first.str() << " slot " << k.second;
      continue;
    }
    EXPECT_EQ(std::memcmp(&it->second, &v, sizeof(v)), 0)
        << k.first.str() << " slot " << k.second << ": mirror differs from the map";
  }
  for (const auto& [k, v] : mirrored) {
    if (!entries.count(k)) {
      ADD_FAILURE() << "in the mirror, not in the map: " << k.first.str() << " slot " << k.second;
    }
  }
  std::map<uint32_t, BackendAddr> backends;
  for (const auto& [id, b] : fake.backend_entries())
    backends[id] = BackendAddr{Ipv4Addr::from_be(b.address), ntohs(b.port), b.proto};
  EXPECT_EQ(maps.backend_addrs(), backends);
  std::set<uint32_t> revnat;
  for (const auto& [id, rn] : fake.revnat_entries()) {
    if (!check.orphan_revnat || svc_ids.count(id)) revnat.insert(id);
  }
  EXPECT_EQ(revnat, svc_ids);
}

}  // namespace netagent::lb::testing
