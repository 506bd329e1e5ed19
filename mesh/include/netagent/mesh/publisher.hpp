#pragma once
// Publishes this cluster's state into its own etcd and keeps it true.
//
// All keys go under one lease that a etcd::LeaseKeeper renews; if the agent dies its entries expire
// with the lease. On start (and whenever the lease had to be replaced) the publisher reads back
// every key it owns and reconciles: keys that are no longer true are deleted, keys whose value
// differs or that hang off another (older) lease are written again, the rest are left alone
// (a restarting agent that can take over its remembered lease rewrites nothing). After that
// every publish() is a diff against what etcd holds: only changed keys are written, in
// transactions of up to --max-txn-ops operations, several in flight at once. Publishes that
// arrive while a round is running are coalesced into the next round.
//
// Single writer per cluster (PublisherOptions::lock_holder set, as the agent does): every agent
// of a cluster has the whole cluster's state, so only one of them writes it. The writer is the
// one holding the cluster's publisher lock, kvstore::publisher_lock_key(cluster), created by a
// transaction "create revision == 0 -> put <holder name> under my lease". The others stand by,
// watch the lock and try again when it is deleted (and every lock_retry in any case); when the
// holder's lease ends (it died: TTL; it was decommissioned: revoked) the lock and every key go with
// it, and the first standby to take the lock reconciles and writes everything again. Every write of
// the leader is fenced by "the lock is under my lease", so a publisher that lost the lock can never
// overwrite the new leader's keys. An agent restarting within the TTL takes its remembered lease
// over and with it the lock (same lease), or, with a new lease, the lock that names it (same
// holder).
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "netagent/etcd/client.hpp"
#include "netagent/etcd/lease_keeper.hpp"
#include "netagent/etcd/watch.hpp"
#include "netagent/mesh/publish_plan.hpp"

namespace netagent::mesh {

struct PublisherOptions {
  // Cilium uses 15 minutes. Shorter here so that a dead agent's entries go sooner; an agent
  // restart well within the TTL keeps its entries (it takes its lease over).
  std::chrono::seconds lease_ttl{60};
  // etcd's default --max-txn-ops. Raise both together for very large clusters; if the server
  // refuses a transaction as too large the publisher halves this and carries on.
  size_t max_txn_ops = 128;
  // Transactions in flight. etcd spends its time per key, not per request, so more only helps
  // while a round trip is waiting on the network (measured: 2 is best on a busy 2-core host).
  size_t parallel_txns = 2;
  std::chrono::milliseconds retry_min{200};
  std::chrono::milliseconds retry_max{5000};
  std::string lease_file;  // remembers the lease id across restarts; "" = do not
  // This publisher's name in the cluster's publisher lock (the agent's node name). Empty: no
  // election, this publisher always writes (one publisher per cluster).
  std::string lock_holder;
  // How often a standby tries to take the lock even without seeing it deleted (it watches the
  // lock and tries at once when it goes).
  std::chrono::milliseconds lock_retry{1000};
};

enum class PublisherRole {
  Pending,  // no lease or no state yet: not competing
  Leader,   // holds the lock (or no election): writes the cluster's state
  Standby,  // another agent holds the lock
};
const char* to_string(PublisherRole r);

struct PublisherStatus {
  std::string endpoint;    // the etcd endpoint in use
  bool connected = false;  // the last etcd operation worked
  bool synced = false;     // etcd holds exactly the desired state (as of the last round)
  int64_t lease_id = 0;
  size_t keys = 0;                                       // keys written under our lease
  size_t pending = 0;                                    // keys still to put or delete (last plan)
  std::chrono::system_clock::time_point last_publish{};  // last round that reached "synced"
  double last_round_seconds = 0;
  std::string last_error;
  uint64_t rounds = 0;
  uint64_t txns = 0;
  uint64_t puts = 0;
  uint64_t deletes = 0;
  uint64_t errors = 0;
  uint64_t reconciles = 0;
  PublisherRole role = PublisherRole::Pending;
  bool election = false;      // lock_holder set: one publisher per cluster by lock
  std::string lock_key;       // the cluster's publisher lock
  std::string holder;         // who holds it (as last seen; ourselves while leader)
  uint64_t acquisitions = 0;  // times this publisher became the leader
  uint64_t lock_losses = 0;   // times it found the lock gone or held by another
  etcd::LeaseStatus lease;
};

class StatePublisher : public std::enable_shared_from_this<StatePublisher> {
 public:
  StatePublisher(std::shared_ptr<etcd::EtcdClient> client, ClusterInfo cluster,
                 std::vector<Ipv4Prefix> pod_cidrs, PublisherOptions opts);
  ~StatePublisher();

  void start();
  // Stops publishing; the lease then expires unless `revoke` (which deletes every key now).
  void stop(bool revoke = false);

  // The complete local state; replaces the previous one. Only records that differ from the
  // previous call are encoded again and considered for writing.
  void publish(const LocalState& state);

  PublisherStatus status() const;
  // Called when this publisher becomes the leader or a standby, or the holder it sees changes.
  void on_role(std::function<void(PublisherRole, const std::string& holder)> fn) {
    on_role_ = std::move(fn);
  }

 private:
  boost::asio::awaitable<void> run();
  boost::asio::awaitable<Status> reconcile();
  boost::asio::awaitable<Status> execute(PublishPlan plan);
  // One batch of the plan; fenced by the lock when electing.
  boost::asio::awaitable<Status> write(const std::vector<etcd::TxnOp>& ops);
  // Tries to take (or confirm) the lock; true when this publisher holds it.
  boost::asio::awaitable<Result<bool>> acquire();
  void lose_lock(const std::string& why);
  void report_role();
  boost::asio::awaitable<void> sleep(std::chrono::milliseconds d);
  boost::asio::awaitable<void> back_off();
  void reached_etcd();
  void wake();
  void apply_written(const std::vector<etcd::TxnOp>& ops);
  void remember_lease(int64_t id);
  int64_t remembered_lease() const;

  std::shared_ptr<etcd::EtcdClient> client_;
  ClusterInfo cluster_;
  std::vector<Ipv4Prefix> pod_cidrs_;
  PublisherOptions opts_;
  std::shared_ptr<etcd::LeaseKeeper> keeper_;
  boost::asio::steady_timer wake_;
  LocalStateEncoder encoder_;
  bool have_state_ = false;
  std::set<std::string> dirty_keys_;  // changed since the last plan
  bool full_plan_ = true;             // written_ may differ anywhere: compare everything
  WrittenKeys written_;
  int64_t lease_ = 0;
  bool need_reconcile_ = true;
  bool leader_ = false;
  bool lock_free_ = false;  // the lock watch saw the lock deleted: try to take it now
  std::shared_ptr<etcd::Watch>
      lock_watch_;  // holds the lock (always true without election once publishing)
  bool dirty_ = false;
  bool stopped_ = false;
  bool running_ = false;
  std::chrono::milliseconds delay_{0};
  PublisherStatus st_;
  std::function<void(PublisherRole, const std::string&)> on_role_;
  PublisherRole reported_role_ = PublisherRole::Pending;
  std::string reported_holder_;
};

}  // namespace netagent::mesh
