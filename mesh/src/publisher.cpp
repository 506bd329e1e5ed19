#include "netagent/mesh/publisher.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <optional>

#include "netagent/common/file.hpp"
#include "netagent/mesh/kvstore.hpp"

namespace netagent::mesh {

namespace asio = boost::asio;

namespace {

std::string rfc3339_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The error a fenced write returns when the lock is no longer under our lease.
constexpr std::string_view kLockLost = "the publisher lock is no longer held by this publisher";

}  // namespace

const char* to_string(PublisherRole r) {
  switch (r) {
    case PublisherRole::Pending:
      return "pending";
    case PublisherRole::Leader:
      return "leader";
    case PublisherRole::Standby:
      return "standby";
  }
  return "pending";
}

StatePublisher::StatePublisher(std::shared_ptr<etcd::EtcdClient> client, ClusterInfo cluster,
                               std::vector<Ipv4Prefix> pod_cidrs, PublisherOptions opts)
    : client_(std::move(client)),
      cluster_(std::move(cluster)),
      pod_cidrs_(std::move(pod_cidrs)),
      opts_(std::move(opts)),
      wake_(client_->io()),
      encoder_(cluster_, pod_cidrs_, rfc3339_now()) {
  st_.election = !opts_.lock_holder.empty();
  if (st_.election) st_.lock_key = kvstore::publisher_lock_key(cluster_.name);
}

StatePublisher::~StatePublisher() = default;

void StatePublisher::start() {
  if (running_) return;
  running_ = true;
  std::weak_ptr<StatePublisher> weak = shared_from_this();
  keeper_ = std::make_shared<etcd::LeaseKeeper>(
      client_, opts_.lease_ttl,
      etcd::LeaseKeeper::Callbacks{[weak](int64_t id, bool) {
                                     if (auto self = weak.lock()) {
                                       self->lease_ = id;
                                       self->need_reconcile_ = true;
                                       self->remember_lease(id);
                                       self->wake();
                                     }
                                   },
                                   [weak](int64_t, const std::string& why) {
                                     if (auto self = weak.lock()) {
                                       self->lease_ = 0;
                                       // The lock was under the lease.
                                       self->leader_ = false;
                                       self->st_.role = PublisherRole::Pending;
                                       self->need_reconcile_ = true;
                                       self->st_.last_error = why;
                                       self->st_.synced = false;
                                     }
                                   }});
  keeper_->start(remembered_lease());
  if (st_.election) {
    // Standbys react to the lock's deletion at once instead of at their next retry.
    auto on_update = [weak](etcd::WatchUpdate&& u) {
      auto self = weak.lock();
      if (!self) return;
      bool present = false, deleted = false;
      for (const auto& kv : u.kvs)
        present |= kv.key == self->st_.lock_key;
      for (const auto& e : u.events) {
        if (e.kv.key != self->st_.lock_key) continue;
        deleted = e.type == etcd::WatchEvent::Type::Delete;
        present = !deleted;
      }
      if (deleted || (u.kind == etcd::WatchUpdate::Kind::Resync && !present)) {
        self->lock_free_ = true;
        self->wake();
      }
    };
    lock_watch_ =
        client_->watch(st_.lock_key, etcd::WatchOptions{}, etcd::WatchHandler{on_update, {}});
  }
  asio::co_spawn(
      client_->io(),
      [self = shared_from_this()]() -> asio::awaitable<void> { co_await self->run(); },
      asio::detached);
}

void StatePublisher::stop(bool revoke) {
  stopped_ = true;
  if (keeper_) keeper_->stop(revoke);
  if (lock_watch_) lock_watch_->cancel();
  wake_.cancel();
}

void StatePublisher::publish(const LocalState& state) {
  const size_t before = dirty_keys_.size();
  encoder_.update(state, dirty_keys_);
  if (!have_state_ || dirty_keys_.size() != before) st_.synced = false;
  have_state_ = true;
  wake();
}

void StatePublisher::wake() {
  dirty_ = true;
  wake_.cancel();
}

PublisherStatus StatePublisher::status() const {
  PublisherStatus s = st_;
  s.endpoint = client_->current_endpoint();
  s.lease_id = lease_;
  if (keeper_) s.lease = keeper_->status();
  return s;
}

void StatePublisher::remember_lease(int64_t id) {
  if (opts_.lease_file.empty()) return;
  if (auto st = write_file_atomic(opts_.lease_file, std::to_string(id) + "\n", 0600); !st) {
    // Shown in status until the next etcd call succeeds; the lease itself is fine.
    st_.last_error = "remember the lease id: " + st.error().str();
    ++st_.errors;
  }
}

int64_t StatePublisher::remembered_lease() const {
  if (opts_.lease_file.empty()) return 0;
  std::ifstream f(opts_.lease_file);
  int64_t id = 0;
  if (f >> id) return id;
  return 0;
}

// After a failed etcd call: wait retry_min, doubling up to retry_max while failures repeat.
asio::awaitable<void> StatePublisher::back_off() {
  delay_ = delay_.count() == 0 ? opts_.retry_min : std::min(delay_ * 2, opts_.retry_max);
  co_await sleep(delay_);
}

// After a successful etcd call: the back-off starts over and the status says connected.
void StatePublisher::reached_etcd() {
  delay_ = std::chrono::milliseconds(0);
  st_.connected = true;
  st_.last_error.clear();
}

asio::awaitable<void> StatePublisher::sleep(std::chrono::milliseconds d) {
  if (d == std::chrono::milliseconds::max()) {
    wake_.expires_at(asio::steady_timer::time_point::max());
  } else {
    wake_.expires_after(d);
  }
  boost::system::error_code ec;
  co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<Status> StatePublisher::write(const std::vector<etcd::TxnOp>& ops) {
  if (!st_.election) {
    auto r = co_await client_->txn(ops);
    if (!r) co_return r.error();
    co_return Status{};
  }
  // Fenced: written only while the lock is under our lease, so a publisher that lost the lock
  // (its lease expired and another agent took over) can never overwrite the new leader's keys.
  // (vectors built outside co_await: GCC 12 miscompiles braced lists in co_await operands)
  std::vector<etcd::TxnCompare> fence{etcd::TxnCompare::lease(st_.lock_key, lease_)};
  auto r = co_await client_->txn_if(std::move(fence), ops);
  if (!r) co_return r.error();
  if (!r->succeeded) co_return Error{std::string(kLockLost)};
  co_return Status{};
}

asio::awaitable<Result<bool>> StatePublisher::acquire() {
  auto self = shared_from_this();
  const std::string& key = st_.lock_key;
  const std::string& me = opts_.lock_holder;
  std::vector<etcd::TxnCompare> absent{etcd::TxnCompare::absent(key)};
  std::vector<etcd::TxnOp> take{etcd::TxnOp::put(key, me, lease_)};
  auto r = co_await client_->txn_if(std::move(absent), take);
  if (!r) co_return r.error().wrap("take the publisher lock " + key);
  if (r->succeeded) {
    st_.holder = me;
    co_return true;
  }
  auto cur = co_await client_->range(key);
  if (!cur) co_return cur.error().wrap("read the publisher lock " + key);
  if (cur->kvs.empty()) {  // released in between: the next try may take it
    st_.holder.clear();
    co_return false;
  }
  const etcd::KeyValue& kv = cur->kvs.front();
  st_.holder = kv.value;
  if (kv.lease == lease_) co_return true;  // a restart that took its remembered lease over
  if (kv.value != me) co_return false;
  // Ours from a previous run under another lease that is still alive (the lease file was lost):
  // move it to this lease. The reconcile that follows moves the keys too.
  std::vector<etcd::TxnCompare> same{etcd::TxnCompare::mod_revision(key, kv.mod_revision)};
  auto t = co_await client_->txn_if(std::move(same), take);
  if (!t) co_return t.error().wrap("take over the publisher lock " + key);
  co_return t->succeeded;
}

void StatePublisher::report_role() {
  if (st_.role == reported_role_ && st_.holder == reported_holder_) return;
  reported_role_ = st_.role;
  reported_holder_ = st_.holder;
  if (on_role_) on_role_(st_.role, st_.holder);
}

void StatePublisher::lose_lock(const std::string& why) {
  leader_ = false;
  need_reconcile_ = true;
  full_plan_ = true;
  ++st_.lock_losses;
  st_.role = PublisherRole::Standby;
  st_.holder.clear();  // known again after the next try to take the lock
  st_.synced = false;
  st_.keys = 0;
  st_.last_error = why;
}

void StatePublisher::apply_written(const std::vector<etcd::TxnOp>& ops) {
  for (const auto& op : ops) {
    if (op.kind == etcd::TxnOp::Kind::Put) {
      written_[op.key] = WrittenValue{op.value, op.lease};
      ++st_.puts;
    } else {
      written_.erase(op.key);
      ++st_.deletes;
    }
  }
}

asio::awaitable<Status> StatePublisher::reconcile() {
  WrittenKeys found;
  for (const auto& prefix : owned_prefixes(cluster_.name)) {
    auto r = co_await client_->range_all(prefix);
    if (!r) co_return r.error().wrap("read back " + prefix);
    for (auto& kv : r->kvs) {
      if (owns_key(kv.key, cluster_)) {
        // Keep the canaries of a previous run: the state they vouch for is still there.
        if (kvstore::parse_key(kv.key).kind == kvstore::ParsedKey::Kind::Synced) {
          encoder_.set_canary(kv.value);
        }
        found[kv.key] = WrittenValue{std::move(kv.value), kv.lease};
      }
    }
  }
  written_ = std::move(found);
  need_reconcile_ = false;
  full_plan_ = true;
  ++st_.reconciles;
  co_return Status{};
}

asio::awaitable<Status> StatePublisher::execute(PublishPlan plan) {
  auto self = shared_from_this();
  auto one = [&](std::vector<etcd::TxnOp> ops) -> asio::awaitable<Status> {
    auto r = co_await write(ops);
    if (!r) co_return r.error();
    ++st_.txns;
    apply_written(ops);
    co_return Status{};
  };
  if (!plan.first.empty()) {
    auto st = co_await one(std::move(plan.first));
    if (!st) co_return st;
  }
  if (!plan.batches.empty()) {
    struct Group {
      explicit Group(asio::io_context& io) : done(io) {}
      std::vector<std::vector<etcd::TxnOp>> batches;
      size_t next = 0;
      size_t running = 0;
      std::optional<Error> failed;
      asio::steady_timer done;
    };
    auto g = std::make_shared<Group>(client_->io());
    g->batches = std::move(plan.batches);
    const size_t workers = std::max<size_t>(1, std::min(opts_.parallel_txns, g->batches.size()));
    g->running = workers;
    for (size_t i = 0; i < workers; ++i) {
      asio::co_spawn(
          client_->io(),
          [self, g]() -> asio::awaitable<void> {
            while (g->next < g->batches.size() && !g->failed && !self->stopped_) {
              size_t idx = g->next++;
              auto r = co_await self->write(g->batches[idx]);
              if (!r) {
                if (!g->failed) g->failed = r.error();
                break;
              }
              ++self->st_.txns;
              self->apply_written(g->batches[idx]);
            }
            if (--g->running == 0) g->done.cancel();
          },
          asio::detached);
    }
    while (g->running > 0) {
      g->done.expires_at(asio::steady_timer::time_point::max());
      boost::system::error_code ec;
      co_await g->done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (g->failed) co_return *g->failed;
  }
  if (!plan.last.empty()) {
    auto st = co_await one(std::move(plan.last));
    if (!st) co_return st;
  }
  co_return Status{};
}

asio::awaitable<void> StatePublisher::run() {
  auto self = shared_from_this();
  while (!stopped_) {
    if (lease_ == 0 || !have_state_) {
      // Nothing to publish yet (no lease, or no state: a starting agent must not wipe its
      // entries before it knows what is true).
      if (!dirty_) co_await sleep(std::chrono::milliseconds::max());
      dirty_ = false;
      continue;
    }
    if (!leader_ && !st_.election) {
      leader_ = true;
      st_.role = PublisherRole::Leader;
    }
    if (!leader_) {
      lock_free_ = false;
      auto won = co_await acquire();
      if (stopped_) co_return;
      if (!won) {
        ++st_.errors;
        st_.connected = false;
        st_.last_error = won.error().message;
        if (etcd::is_lease_not_found(won.error())) {  // our lease expired: a new one, then again
          lease_ = 0;
          keeper_->reset();
          continue;
        }
        co_await back_off();
        continue;
      }
      reached_etcd();
      if (!*won) {
        // Standby: try again when the lock watch sees it deleted, or after lock_retry
        // (publishes meanwhile only update the encoder).
        st_.role = PublisherRole::Standby;
        st_.synced = false;
        st_.keys = 0;
        report_role();
        const auto until = std::chrono::steady_clock::now() + opts_.lock_retry;
        while (!stopped_ && !lock_free_ && std::chrono::steady_clock::now() < until) {
          co_await sleep(std::chrono::duration_cast<std::chrono::milliseconds>(
              until - std::chrono::steady_clock::now()));
        }
        continue;
      }
      // Leader: read back what etcd holds (the previous holder's keys went with its lease) and
      // write everything that is missing or differs.
      leader_ = true;
      st_.role = PublisherRole::Leader;
      ++st_.acquisitions;
      need_reconcile_ = true;
      report_role();
    }
    if (need_reconcile_) {
      auto st = co_await reconcile();
      if (stopped_) co_return;
      if (!st) {
        ++st_.errors;
        st_.connected = false;
        st_.last_error = st.error().message;
        co_await back_off();
        continue;
      }
    }
    dirty_ = false;
    const auto t0 = std::chrono::steady_clock::now();
    PublishPlan plan = full_plan_
                           ? plan_publish(encoder_.desired(), written_, lease_, opts_.max_txn_ops)
                           : plan_publish_keys(encoder_.desired(), written_, lease_,
                                               opts_.max_txn_ops, dirty_keys_);
    dirty_keys_.clear();
    full_plan_ = false;
    st_.pending = plan.puts + plan.deletes;
    if (plan.empty()) {
      st_.synced = true;
      st_.connected = true;
      st_.keys = written_.size();
      st_.last_publish = std::chrono::system_clock::now();
      if (stopped_) co_return;
      if (!dirty_) co_await sleep(std::chrono::milliseconds::max());
      continue;
    }
    st_.synced = false;
    ++st_.rounds;
    const int64_t lease = lease_;
    auto st = co_await execute(std::move(plan));
    if (stopped_) co_return;
    if (!st) {
      ++st_.errors;
      st_.connected = false;
      st_.last_error = st.error().message;
      full_plan_ = true;  // some of the plan may not have been written
      if (st.error().message == kLockLost) {
        // Another agent holds the lock now (ours went with an expired lease): stand by.
        lose_lock("publisher lock " + st_.lock_key + " taken by another agent: standing by");
        report_role();
        continue;
      }
      if (st.error().message.find("too many operations in txn request") != std::string::npos &&
          opts_.max_txn_ops > 1) {
        opts_.max_txn_ops /= 2;  // the server's --max-txn-ops is lower than ours
        continue;
      }
      if (etcd::is_lease_not_found(st.error()) && lease_ == lease) {
        // Our lease expired (an etcd outage longer than its TTL): get a new one, then read
        // back and write everything again under it.
        lease_ = 0;
        need_reconcile_ = true;
        keeper_->reset();
        continue;
      }
      co_await back_off();
      continue;
    }
    reached_etcd();
    st_.last_round_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
}

}  // namespace netagent::mesh
