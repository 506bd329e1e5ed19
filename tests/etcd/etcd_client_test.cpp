// The etcd client against a real etcd 3.4 with mutual TLS, inside a test network namespace:
// put/range/delete, transactions, leases (expiry, keep-alive, revoke), watch (events, initial
// resync, compaction, reconnect after an etcd restart), endpoint failover, timeouts and clear TLS
// errors.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "netagent/etcd/client.hpp"
#include "netagent/etcd/lease_keeper.hpp"
#include "netagent/etcd/watch.hpp"
#include "netagent/testing/etcd_fixture.hpp"
#include "netagent/testing/privileged.hpp"

namespace netagent::mesh {
namespace {

using namespace std::chrono_literals;
using testing::EnterNetns;
using testing::EtcdServer;
using testing::run_co;
using testing::run_for;
using testing::run_until;
using testing::TestPki;

class EtcdClientTest : public testing::EtcdNetnsTest {
 protected:
  EtcdClientTest() : EtcdNetnsTest("etcdc") {}

  static void SetUpTestSuite() {
    make_pki({{"etcd-a", "127.0.0.11"}, {"etcd-b", "127.0.0.12"}});
    pki_->make_cert("other-ca", "rogue", {}, false);
  }

  void SetUp() override {
    EtcdNetnsTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    etcd_ = start_etcd("etcd-a", "127.0.0.11");
    client_ = make_client({etcd_->url()}, pki_->client_tls("ca", "client"));
    ASSERT_TRUE(testing::wait_ready(io_, client_)) << etcd_->log();
  }

  void TearDown() override {
    if (client_) client_->shutdown();
    client_.reset();
    run_for(io_, 20ms);
    etcd_.reset();
    EtcdNetnsTest::TearDown();
  }

  std::shared_ptr<etcd::EtcdClient> make_client(std::vector<std::string> endpoints,
                                                std::optional<etcd::TlsMaterial> tls,
                                                std::chrono::milliseconds timeout = 2000ms) {
    etcd::EtcdConfig cfg;
    cfg.name = "etcd of test";
    cfg.endpoints = std::move(endpoints);
    cfg.tls = std::move(tls);
    cfg.connect_timeout = timeout;
    cfg.request_timeout = timeout;
    auto c = etcd::EtcdClient::create(io_, cfg);
    EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
    return c.ok() ? *c : nullptr;
  }

  std::unique_ptr<EtcdServer> etcd_;
  std::shared_ptr<etcd::EtcdClient> client_;
};

std::vector<std::string> keys_of(const std::vector<etcd::KeyValue>& kvs) {
  std::vector<std::string> out;
  for (const auto& kv : kvs)
    out.push_back(kv.key);
  return out;
}

TEST_F(EtcdClientTest, PutRangeDeleteWithRevisions) {
  auto p1 = run_co(io_, client_->put("t/a", "1"));
  ASSERT_TRUE(p1.ok()) << p1.error().message;
  auto p2 = run_co(io_, client_->put("t/b", std::string("bin\0ary", 7)));
  ASSERT_TRUE(p2.ok());
  EXPECT_EQ(p2->revision, p1->revision + 1);
  ASSERT_TRUE(run_co(io_, client_->put("u/c", "x")).ok());

  auto r = run_co(io_, client_->range("t/", etcd::RangeOptions{.prefix = true}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(keys_of(r->kvs), (std::vector<std::string>{"t/a", "t/b"}));
  EXPECT_EQ(r->kvs[1].value, std::string("bin\0ary", 7));
  EXPECT_EQ(r->kvs[0].mod_revision, p1->revision);
  EXPECT_EQ(r->kvs[0].version, 1);

  // A range at an older revision sees the past.
  auto old = run_co(
      io_, client_->range("t/", etcd::RangeOptions{.prefix = true, .revision = p1->revision}));
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(keys_of(old->kvs), (std::vector<std::string>{"t/a"}));

  // Paged reads return everything at one revision.
  for (int i = 0; i < 7; ++i)
    ASSERT_TRUE(run_co(io_, client_->put("p/" + std::to_string(i), "v")).ok());
  auto all = run_co(io_, client_->range_all("p/", 3));
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->kvs.size(), 7u);

  auto d = run_co(io_, client_->del("t/a"));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, 1);
  auto dp = run_co(io_, client_->del("p/", true));
  ASSERT_TRUE(dp.ok());
  EXPECT_EQ(*dp, 7);
  r = run_co(io_, client_->range("t/", etcd::RangeOptions{.prefix = true}));
  EXPECT_EQ(keys_of(r->kvs), (std::vector<std::string>{"t/b"}));
}

TEST_F(EtcdClientTest, TxnAppliesAllOpsInOneRevision) {
  ASSERT_TRUE(run_co(io_, client_->put("x/old", "1")).ok());
  auto t = run_co(io_, client_->txn({etcd::TxnOp::put("x/a", "A"), etcd::TxnOp::put("x/b", "B"),
                                     etcd::TxnOp::del("x/old")}));
  ASSERT_TRUE(t.ok()) << t.error().message;
  auto r = run_co(io_, client_->range("x/", etcd::RangeOptions{.prefix = true}));
  ASSERT_EQ(keys_of(r->kvs), (std::vector<std::string>{"x/a", "x/b"}));
  EXPECT_EQ(r->kvs[0].mod_revision, t->revision);
  EXPECT_EQ(r->kvs[1].mod_revision, t->revision);

  // Over etcd's --max-txn-ops (128) the server refuses the whole txn with a clear error.
  std::vector<etcd::TxnOp> many;
  for (int i = 0; i < 129; ++i)
    many.push_back(etcd::TxnOp::put("y/" + std::to_string(i), "v"));
  auto big = run_co(io_, client_->txn(many));
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.error().message.find("too many operations"), std::string::npos)
      << big.error().message;
}

TEST_F(EtcdClientTest, ConditionalTxnTakesALockOnceAndFencesOnItsLease) {
  auto a = run_co(io_, client_->lease_grant(30));
  auto b = run_co(io_, client_->lease_grant(30));
  ASSERT_TRUE(a.ok() && b.ok());
  // "create revision == 0 -> put under my lease": the first takes the lock, the second does not.
  auto take = [&](int64_t lease, const std::string& who) {
    std::vector<etcd::TxnCompare> cmp{etcd::TxnCompare::absent("lock/c")};
    std::vector<etcd::TxnOp> put{etcd::TxnOp::put("lock/c", who, lease)};
    return run_co(io_, client_->txn_if(cmp, put));
  };
  auto first = take(a->id, "node-a");
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_TRUE(first->succeeded);
  auto second = take(b->id, "node-b");
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_FALSE(second->succeeded);
  auto r = run_co(io_, client_->range("lock/c"));
  ASSERT_EQ(r->kvs.size(), 1u);
  EXPECT_EQ(r->kvs[0].value, "node-a");
  EXPECT_EQ(r->kvs[0].lease, a->id);

  // Writes fenced by "the lock is under my lease": the holder's go through, the other's do not
  // (and the failure branch runs instead).
  auto fenced = [&](int64_t lease, const std::string& key) {
    std::vector<etcd::TxnCompare> cmp{etcd::TxnCompare::lease("lock/c", lease)};
    std::vector<etcd::TxnOp> ok{etcd::TxnOp::put(key, "v", lease)};
    std::vector<etcd::TxnOp> ko{etcd::TxnOp::put(key + ".refused", "v")};
    return run_co(io_, client_->txn_if(cmp, ok, ko));
  };
  auto wa = fenced(a->id, "state/a");
  ASSERT_TRUE(wa.ok()) << wa.error().message;
  EXPECT_TRUE(wa->succeeded);
  auto wb = fenced(b->id, "state/b");
  ASSERT_TRUE(wb.ok()) << wb.error().message;
  EXPECT_FALSE(wb->succeeded);
  EXPECT_EQ(keys_of(run_co(io_, client_->range("state/", etcd::RangeOptions{.prefix = true}))->kvs),
            (std::vector<std::string>{"state/a", "state/b.refused"}));

  // The holder's lease revoked: the lock goes with it and the other takes it.
  ASSERT_TRUE(run_co(io_, client_->lease_revoke(a->id)).ok());
  auto third = take(b->id, "node-b");
  ASSERT_TRUE(third.ok()) << third.error().message;
  EXPECT_TRUE(third->succeeded);
  // A compare on the mod revision moves a lock only if nobody changed it in between.
  const int64_t rev = run_co(io_, client_->range("lock/c"))->kvs.at(0).mod_revision;
  std::vector<etcd::TxnCompare> stale{etcd::TxnCompare::mod_revision("lock/c", rev - 1)};
  std::vector<etcd::TxnOp> move{etcd::TxnOp::put("lock/c", "node-c")};
  auto moved = run_co(io_, client_->txn_if(stale, move));
  ASSERT_TRUE(moved.ok());
  EXPECT_FALSE(moved->succeeded);
  EXPECT_EQ(run_co(io_, client_->range("lock/c"))->kvs.at(0).value, "node-b");
}

TEST_F(EtcdClientTest, LeaseExpiryKeepAliveAndRevoke) {
  auto g = run_co(io_, client_->lease_grant(1));
  ASSERT_TRUE(g.ok()) << g.error().message;
  EXPECT_GT(g->id, 0);
  ASSERT_TRUE(run_co(io_, client_->put("l/short", "v", g->id)).ok());
  auto r = run_co(io_, client_->range("l/short"));
  EXPECT_EQ(r->kvs.at(0).lease, g->id);
  // Not renewed: the key disappears once the TTL runs out.
  EXPECT_TRUE(run_until(
      io_, [&] { return run_co(io_, client_->range("l/short"))->kvs.empty(); }, 4s));
  auto ttl = run_co(io_, client_->lease_keepalive(g->id));
  ASSERT_TRUE(ttl.ok()) << ttl.error().message;
  EXPECT_EQ(*ttl, 0) << "an expired lease reports TTL 0";
  auto put = run_co(io_, client_->put("l/late", "v", g->id));
  ASSERT_FALSE(put.ok());
  EXPECT_TRUE(etcd::is_lease_not_found(put.error())) << put.error().message;

  // A etcd::LeaseKeeper renews a 1 s lease at TTL/3: the key outlives several TTLs.
  int granted = 0;
  auto keeper = std::make_shared<etcd::LeaseKeeper>(
      client_, 1s, etcd::LeaseKeeper::Callbacks{[&](int64_t, bool) { ++granted; }, {}});
  keeper->start();
  ASSERT_TRUE(run_until(
      io_, [&] { return keeper->id() != 0; }, 3s));
  ASSERT_TRUE(run_co(io_, client_->put("l/kept", "v", keeper->id())).ok());
  run_for(io_, 2500ms);
  EXPECT_EQ(run_co(io_, client_->range("l/kept"))->kvs.size(), 1u);
  EXPECT_GE(keeper->status().renewals, 5u);
  EXPECT_EQ(granted, 1);

  // A new keeper told to reuse the id takes the lease over without a new grant.
  int64_t id = keeper->id();
  keeper->stop();
  bool reused = false;
  auto second = std::make_shared<etcd::LeaseKeeper>(
      client_, 1s, etcd::LeaseKeeper::Callbacks{[&](int64_t, bool r) { reused = r; }, {}});
  second->start(id);
  ASSERT_TRUE(run_until(
      io_, [&] { return second->id() != 0; }, 3s));
  EXPECT_EQ(second->id(), id);
  EXPECT_TRUE(reused);

  // Revoking deletes the lease's keys at once.
  second->stop(/*revoke=*/true);
  EXPECT_TRUE(run_until(
      io_, [&] { return run_co(io_, client_->range("l/kept"))->kvs.empty(); }, 900ms));
}

TEST_F(EtcdClientTest, LeaseKeeperReportsLossAndGrantsAgain) {
  std::vector<int64_t> lost;
  auto keeper = std::make_shared<etcd::LeaseKeeper>(
      client_, 2s, etcd::LeaseKeeper::Callbacks{{}, [&](int64_t id, const std::string&) {
                                                  lost.push_back(id);
                                                }});
  keeper->start();
  ASSERT_TRUE(run_until(
      io_, [&] { return keeper->id() != 0; }, 3s));
  int64_t first = keeper->id();
  // Someone revokes our lease behind our back: the next renewal notices and a new one is granted.
  ASSERT_TRUE(run_co(io_, client_->lease_revoke(first)).ok());
  ASSERT_TRUE(run_until(
      io_, [&] { return !lost.empty() && keeper->id() != 0; }, 3s));
  EXPECT_EQ(lost, std::vector<int64_t>{first});
  EXPECT_NE(keeper->id(), first);
  keeper->stop();
}

struct Recorder {
  std::vector<etcd::WatchUpdate> updates;
  std::vector<std::pair<etcd::WatchState, std::string>> states;
  etcd::WatchHandler handler() {
    return etcd::WatchHandler{
        [this](etcd::WatchUpdate&& u) { updates.push_back(std::move(u)); },
        [this](etcd::WatchState s, const std::string& d) { states.emplace_back(s, d); }};
  }
  bool connected() const {
    return !states.empty() && states.back().first == etcd::WatchState::Connected;
  }
  // Every event key (PUT as "+key=value", DELETE as "-key") in order, and resyncs as "resync:N".
  std::vector<std::string> log() const {
    std::vector<std::string> out;
    for (const auto& u : updates) {
      if (u.kind == etcd::WatchUpdate::Kind::Resync) {
        out.push_back("resync:" + std::to_string(u.kvs.size()));
        continue;
      }
      for (const auto& e : u.events) {
        out.push_back(e.type == etcd::WatchEvent::Type::Put ? "+" + e.kv.key + "=" + e.kv.value
                                                            : "-" + e.kv.key);
      }
    }
    return out;
  }
};

TEST_F(EtcdClientTest, WatchDeliversInitialStateThenEventsInOrder) {
  ASSERT_TRUE(run_co(io_, client_->put("w/existing", "0")).ok());
  ASSERT_TRUE(run_co(io_, client_->put("other/x", "0")).ok());
  Recorder rec;
  auto w = client_->watch("w/", etcd::WatchOptions{}, rec.handler());
  ASSERT_TRUE(run_until(
      io_, [&] { return rec.connected(); }, 3s));
  ASSERT_TRUE(run_co(io_, client_->put("w/a", "1")).ok());
  ASSERT_TRUE(run_co(io_, client_->put("other/y", "1")).ok());
  ASSERT_TRUE(
      run_co(io_, client_->txn({etcd::TxnOp::put("w/b", "2"), etcd::TxnOp::del("w/existing")}))
          .ok());
  ASSERT_TRUE(run_co(io_, client_->put("w/a", "3")).ok());
  std::vector<std::string> want = {"resync:1", "+w/a=1", "+w/b=2", "-w/existing", "+w/a=3"};
  EXPECT_TRUE(run_until(
      io_, [&] { return rec.log().size() >= want.size(); }, 3s));
  EXPECT_EQ(rec.log(), want);
  ASSERT_EQ(rec.updates[0].kvs.at(0).key, "w/existing");
  w->cancel();
}

TEST_F(EtcdClientTest, WatchFromCompactedRevisionResyncs) {
  auto first = run_co(io_, client_->put("c/a", "1"));
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(run_co(io_, client_->put("c/b", "1")).ok());
  ASSERT_TRUE(run_co(io_, client_->del("c/a")).ok());
  auto last = run_co(io_, client_->put("c/c", "1"));
  ASSERT_TRUE(run_co(io_, client_->compact(last->revision)).ok());

  Recorder rec;
  auto w =
      client_->watch("c/", etcd::WatchOptions{.start_revision = first->revision}, rec.handler());
  ASSERT_TRUE(run_until(
      io_, [&] { return !rec.updates.empty(); }, 3s));
  ASSERT_EQ(rec.updates[0].kind, etcd::WatchUpdate::Kind::Resync);
  EXPECT_NE(rec.updates[0].reason.find("compacted"), std::string::npos) << rec.updates[0].reason;
  EXPECT_EQ(keys_of(rec.updates[0].kvs), (std::vector<std::string>{"c/b", "c/c"}));
  EXPECT_EQ(w->counters().compactions, 1u);
  // Then it watches from the resync's revision on.
  ASSERT_TRUE(run_co(io_, client_->put("c/d", "1")).ok());
  EXPECT_TRUE(run_until(
      io_, [&] { return rec.log().size() == 2; }, 3s));
  EXPECT_EQ(rec.log(), (std::vector<std::string>{"resync:2", "+c/d=1"}));
  w->cancel();
}

TEST_F(EtcdClientTest, WatchReconnectsAfterEtcdRestartWithoutGapOrRepeat) {
  Recorder rec;
  etcd::WatchOptions opts;
  opts.retry_min = 50ms;
  opts.retry_max = 200ms;
  auto w = client_->watch("r/", opts, rec.handler());
  ASSERT_TRUE(run_until(
      io_, [&] { return rec.connected(); }, 3s));
  ASSERT_TRUE(run_co(io_, client_->put("r/1", "a")).ok());
  ASSERT_TRUE(run_until(
      io_, [&] { return rec.log().size() == 2; }, 3s));

  etcd_->stop();
  ASSERT_TRUE(run_until(
      io_, [&] { return !rec.connected(); }, 3s));
  EXPECT_NE(rec.states.back().second.find("127.0.0.11"), std::string::npos)
      << "the failure names the endpoint: " << rec.states.back().second;
  auto down = run_co(io_, client_->put("r/2", "b"));
  ASSERT_FALSE(down.ok());
  EXPECT_NE(down.error().message.find("unreachable: https://127.0.0.11:2379: connect:"),
            std::string::npos)
      << down.error().message;

  etcd_->start();
  ASSERT_TRUE(testing::wait_ready(io_, client_));
  ASSERT_TRUE(run_until(
      io_, [&] { return rec.connected(); }, 5s));
  ASSERT_TRUE(run_co(io_, client_->put("r/2", "b")).ok());
  ASSERT_TRUE(run_until(
      io_, [&] { return rec.log().size() == 3; }, 3s));
  EXPECT_EQ(rec.log(), (std::vector<std::string>{"resync:0", "+r/1=a", "+r/2=b"}));
  EXPECT_EQ(w->counters().reconnects, 1u);
  w->cancel();
}

TEST_F(EtcdClientTest, WatchResyncsWhenTheServerComesBackWithoutItsData) {
  Recorder rec;
  etcd::WatchOptions opts;
  opts.retry_min = 50ms;
  opts.retry_max = 200ms;
  auto w = client_->watch("z/", opts, rec.handler());
  ASSERT_TRUE(run_until(
      io_, [&] { return rec.connected(); }, 3s));
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(run_co(io_, client_->put("z/" + std::to_string(i), "v")).ok());
  ASSERT_TRUE(run_until(
      io_, [&] { return rec.log().size() == 6; }, 3s));
  // Replace the server with an empty one (an ephemeral etcd restarting): fewer revisions than
  // already seen means another history, so the watch reads everything again.
  etcd_.reset();
  etcd_ = std::make_unique<EtcdServer>(*ns_, "etcd-a", "127.0.0.11", pki_);
  etcd_->start();
  ASSERT_TRUE(testing::wait_ready(io_, client_));
  const size_t before = rec.updates.size();
  ASSERT_TRUE(run_co(io_, client_->put("z/new", "v")).ok());
  // Replaying what arrived since the restart: a resync (the old keys are gone), then z/new
  // (inside the resync or as an event after it, depending on who was first).
  auto replay = [&] {
    std::set<std::string> keys;
    bool resynced = false;
    for (size_t i = before; i < rec.updates.size(); ++i) {
      const auto& u = rec.updates[i];
      if (u.kind == etcd::WatchUpdate::Kind::Resync) {
        resynced = true;
        keys.clear();
        for (const auto& kv : u.kvs)
          keys.insert(kv.key);
      } else {
        for (const auto& e : u.events) {
          if (e.type == etcd::WatchEvent::Type::Put) {
            keys.insert(e.kv.key);
          } else {
            keys.erase(e.kv.key);
          }
        }
      }
    }
    return resynced ? keys : std::set<std::string>{"(no resync)"};
  };
  EXPECT_TRUE(run_until(
      io_, [&] { return replay() == std::set<std::string>{"z/new"}; }, 5s));
  w->cancel();
}

TEST_F(EtcdClientTest, FailoverToTheNextEndpointAndClearErrorsWhenAllFail) {
  EtcdServer b(*ns_, "etcd-b", "127.0.0.12", pki_);
  b.start();
  // 127.0.0.13 has nobody listening: the client moves on to etcd-b.
  auto c = make_client({"https://127.0.0.13:2379", b.url()}, pki_->client_tls("ca", "client"));
  ASSERT_TRUE(testing::wait_ready(io_, c));
  EXPECT_EQ(c->current_endpoint(), b.url());
  ASSERT_TRUE(run_co(io_, c->put("f/x", "1")).ok());

  b.stop();
  auto r = run_co(io_, c->put("f/y", "1"));
  ASSERT_FALSE(r.ok());
  const auto& m = r.error().message;
  EXPECT_NE(m.find("etcd of test unreachable"), std::string::npos) << m;
  EXPECT_NE(m.find("https://127.0.0.13:2379: connect: Connection refused"), std::string::npos) << m;
  EXPECT_NE(m.find("https://127.0.0.12:2379: connect: Connection refused"), std::string::npos) << m;
  c->shutdown();
}

TEST_F(EtcdClientTest, TimeoutOnAServerThatNeverAnswers) {
  auto c = make_client({etcd_->url()}, pki_->client_tls("ca", "client"), 300ms);
  etcd_->pause();  // the kernel still completes TCP handshakes; nobody reads
  auto t0 = std::chrono::steady_clock::now();
  auto r = run_co(io_, c->range("k"));
  auto took = std::chrono::steady_clock::now() - t0;
  etcd_->resume();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("TLS handshake: timed out after 300 ms"), std::string::npos)
      << r.error().message;
  EXPECT_LT(took, 2s);
  c->shutdown();
}

TEST_F(EtcdClientTest, WrongTrustedCaIsAClearError) {
  // The server's certificate is not signed by the CA we trust.
  auto c = make_client({etcd_->url()}, pki_->client_tls("other-ca", "client"));
  auto r = run_co(io_, c->range("k"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find(
                "https://127.0.0.11:2379: TLS handshake: server certificate rejected: "),
            std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("local issuer certificate"), std::string::npos)
      << r.error().message;
  c->shutdown();
}

TEST_F(EtcdClientTest, ServerRejectsAClientCertificateFromAnotherCa) {
  etcd::TlsMaterial t = pki_->client_tls("ca", "rogue");  // trusts the server, but signed elsewhere
  auto c = make_client({etcd_->url()}, t);
  auto r = run_co(io_, c->range("k"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("https://127.0.0.11:2379"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("certificate"), std::string::npos) << r.error().message;
  c->shutdown();
}

TEST_F(EtcdClientTest, ServerCertificateMustNameTheHost) {
  // etcd-b's certificate names 127.0.0.12 only; serve it on 127.0.0.11's neighbour .14.
  EtcdServer wrong(*ns_, "etcd-wrongname", "127.0.0.14", pki_, "ca", "etcd-b");
  wrong.start();
  auto c = make_client({wrong.url()}, pki_->client_tls("ca", "client"));
  std::string last;
  ASSERT_TRUE(run_until(
      io_,
      [&] {
        auto r = run_co(io_, c->range("k"));
        last = r.ok() ? "ok" : r.error().message;
        return last.find("does not name host 127.0.0.14") != std::string::npos;
      },
      5s))
      << last;
  c->shutdown();
}

TEST(EtcdClientConfig, BadConfigurationIsRejectedUpFront) {
  boost::asio::io_context io;
  auto bad_scheme = etcd::EtcdClient::create(io, etcd::EtcdConfig{"etcd of apps", {"ftp://x:1"}});
  ASSERT_FALSE(bad_scheme.ok());
  EXPECT_EQ(bad_scheme.error().message,
            "etcd of apps: endpoint \"ftp://x:1\": scheme must be http:// or https://");
  auto no_tls =
      etcd::EtcdClient::create(io, etcd::EtcdConfig{"etcd of apps", {"https://10.0.0.1:2379"}});
  ASSERT_FALSE(no_tls.ok());
  EXPECT_EQ(no_tls.error().message, "etcd of apps: https endpoints need TLS material");
  etcd::EtcdConfig garbage{"etcd of apps", {"https://10.0.0.1:2379"}};
  garbage.tls = etcd::TlsMaterial{"not a pem", "", ""};
  auto bad_ca = etcd::EtcdClient::create(io, garbage);
  ASSERT_FALSE(bad_ca.ok());
  EXPECT_NE(bad_ca.error().message.find("etcd of apps: trusted CA: "), std::string::npos);
  EXPECT_EQ(etcd::prefix_range_end("a/b"), "a/c");
  EXPECT_EQ(etcd::prefix_range_end(std::string("a\xff", 2)), "b");
}

}  // namespace
}  // namespace netagent::mesh
