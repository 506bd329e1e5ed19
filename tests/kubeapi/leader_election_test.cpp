// Leader election on a Lease against the stand-in API server (tests/support, not Kubernetes):
// one candidate acquires and renews, a second waits; a release hands over at once; a leader that
// vanishes without releasing is replaced after the lease duration, observed on the follower's
// clock; a leader that cannot renew steps down before the duration ends.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <thread>

#include "netagent/kubeapi/leader_election.hpp"
#include "netagent/testing/kube_standin.hpp"

namespace netagent::kubeapi {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using netagent::testing::KubeStandin;

constexpr auto kLease = 3000ms;
constexpr auto kRenewDeadline = 1500ms;

class LeaderElectionTest : public ::testing::Test {
 protected:
  // Each candidate runs on an io_context of its own, as in its own process; a candidate whose
  // io_context is no longer run is a process that died (its Lease is not released).
  std::shared_ptr<Client> client(boost::asio::io_context& io, const std::string& url) {
    ClientConfig c;
    c.server = url;
    c.origin = "test";
    c.request_timeout = 2000ms;
    c.connect_timeout = 1000ms;
    auto r = Client::create(io, c);
    EXPECT_TRUE(r.ok());
    return *r;
  }
  std::shared_ptr<LeaderElector> elector(const std::string& id, std::shared_ptr<Client> c,
                                         std::vector<std::string>* log) {
    LeaderElectionOptions o;
    o.ns = "kube-system";
    o.name = "test-lease";
    o.identity = id;
    // Short, but with room for a loaded machine: the assertions below compare with these.
    o.lease_duration = kLease;
    o.renew_deadline = kRenewDeadline;
    o.retry_period = 200ms;
    LeaderCallbacks cb;
    cb.on_started_leading = [log, id] { log->push_back(id + " started"); };
    cb.on_stopped_leading = [log, id] { log->push_back(id + " stopped"); };
    return std::make_shared<LeaderElector>(std::move(c), o, cb);
  }
  // Runs the live candidates' io_contexts until pred holds or `limit` passes.
  bool run_until(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      // run_for() on an io_context without work stops it: restart() before running it again.
      for (auto* io : {&io_a_, &io_b_}) {
        if (io == &io_a_ && !a_alive_) continue;
        if (io->stopped()) io->restart();
        io->run_for(10ms);
      }
      if (pred()) return true;
    }
    return pred();
  }
  json lease() {
    return standin_.get(json{{"apiVersion", "coordination.k8s.io/v1"},
                             {"kind", "Lease"},
                             {"metadata", {{"name", "test-lease"}, {"namespace", "kube-system"}}}});
  }

  boost::asio::io_context io_a_, io_b_;
  bool a_alive_ = true;
  KubeStandin standin_;
};

TEST_F(LeaderElectionTest, OneLeadsAndRenewsAReleaseHandsOverAtOnce) {
  std::vector<std::string> log;
  auto a = elector("a", client(io_a_, standin_.url()), &log);
  auto b = elector("b", client(io_b_, standin_.url()), &log);
  a->start();
  ASSERT_TRUE(run_until([&] { return a->is_leader(); }, 3s));
  b->start();
  // b follows; a renews (renewTime moves, acquireTime and transitions stay).
  const json first = lease();
  ASSERT_TRUE(run_until([&] { return a->stats().renewals >= 3; }, 3s))
      << a->stats().last_error << " failures " << a->stats().failures;
  const json later = lease();
  EXPECT_EQ(later["spec"]["holderIdentity"], "a");
  EXPECT_NE(later["spec"]["renewTime"], first["spec"]["renewTime"]);
  EXPECT_EQ(later["spec"]["acquireTime"], first["spec"]["acquireTime"]);
  EXPECT_EQ(later["spec"]["leaseTransitions"], 0);
  EXPECT_FALSE(b->is_leader());
  EXPECT_EQ(b->stats().holder, "a") << b->stats().last_error << " failures " << b->stats().failures;

  // a stops: it releases, and b takes over without waiting out the duration.
  bool stopped = false;
  a->stop([&] { stopped = true; });
  ASSERT_TRUE(run_until([&] { return stopped; }, 3s));
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(run_until([&] { return b->is_leader(); }, 3s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, kLease);  // not waited out
  EXPECT_EQ(lease()["spec"]["holderIdentity"], "b");
  EXPECT_EQ(lease()["spec"]["leaseTransitions"], 1);
  // Callbacks are posted: they run from the io_context shortly after the state changes.
  EXPECT_TRUE(run_until([&] { return log.size() == 3; }, 3s));
  EXPECT_EQ(log, (std::vector<std::string>{"a started", "a stopped", "b started"}));
  bool b_stopped = false;
  b->stop([&] { b_stopped = true; });
  run_until([&] { return b_stopped; }, 3s);
}

TEST_F(LeaderElectionTest,
       AVanishedLeaderIsReplacedAfterTheDurationAndALeaderThatCannotRenewSteps) {
  std::vector<std::string> log;
  // a leads; then a dies (its io_context is never run again: no release), and b, which sees
  // the renewals stop, takes over only after the lease duration.
  auto a = elector("a", client(io_a_, standin_.url()), &log);
  a->start();
  ASSERT_TRUE(run_until([&] { return a->is_leader(); }, 3s));
  auto b = elector("b", client(io_b_, standin_.url()), &log);
  b->start();
  ASSERT_TRUE(run_until([&] { return b->stats().holder == "a"; }, 3s));
  a_alive_ = false;
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(run_until([&] { return b->is_leader(); }, 10s));
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(waited, kLease - 400ms);  // not before a's lease could have expired
  EXPECT_EQ(lease()["spec"]["holderIdentity"], "b");

  // b loses its server: it stops leading once it has not renewed for the renew deadline, which
  // is before the lease (as others see it) expires.
  standin_.kill(SIGKILL);
  const auto t1 = std::chrono::steady_clock::now();
  ASSERT_TRUE(run_until([&] { return !b->is_leader(); }, 10s));
  const auto stepped = std::chrono::steady_clock::now() - t1;
  EXPECT_LT(stepped, kLease);  // before anyone else may take the Lease
  EXPECT_EQ(b->stats().lost, 1u);
  EXPECT_TRUE(run_until([&] { return log.back() == "b stopped"; }, 3s));
  b->stop();
  run_until([] { return false; }, 100ms);
}

}  // namespace
}  // namespace netagent::kubeapi
