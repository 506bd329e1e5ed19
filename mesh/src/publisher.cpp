#include "netagent/mesh/publisher.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <optional>

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

}  // namespace

StatePublisher::StatePublisher(std::shared_ptr<EtcdClient> client, ClusterInfo cluster,
                               std::vector<Ipv4Prefix> pod_cidrs, PublisherOptions opts)
    : client_(std::move(client)),
      cluster_(std::move(cluster)),
      pod_cidrs_(std::move(pod_cidrs)),
      opts_(std::move(opts)),
      wake_(client_->io()),
      encoder_(cluster_, pod_cidrs_, rfc3339_now()) {}

StatePublisher::~StatePublisher() = default;

void StatePublisher::start() {
  if (running_) return;
  running_ = true;
  std::weak_ptr<StatePublisher> weak = shared_from_this();
  keeper_ =
      std::make_shared<LeaseKeeper>(client_, opts_.lease_ttl,
                                    LeaseKeeper::Callbacks{[weak](int64_t id, bool) {
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
                                                               self->need_reconcile_ = true;
                                                               self->st_.last_error = why;
                                                               self->st_.synced = false;
                                                             }
                                                           }});
  keeper_->start(remembered_lease());
  asio::co_spawn(
      client_->io(),
      [self = shared_from_this()]() -> asio::awaitable<void> { co_await self->run(); },
      asio::detached);
}

void StatePublisher::stop(bool revoke) {
  stopped_ = true;
  if (keeper_) keeper_->stop(revoke);
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

void StatePublisher::remember_lease(int64_t id) const {
  if (opts_.lease_file.empty()) return;
  std::string tmp = opts_.lease_file + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!f) return;
    f << id << "\n";
  }
  std::rename(tmp.c_str(), opts_.lease_file.c_str());
}

int64_t StatePublisher::remembered_lease() const {
  if (opts_.lease_file.empty()) return 0;
  std::ifstream f(opts_.lease_file);
  int64_t id = 0;
  if (f >> id) return id;
  return 0;
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

void StatePublisher::apply_written(const std::vector<TxnOp>& ops) {
  for (const auto& op : ops) {
    if (op.kind == TxnOp::Kind::Put) {
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
  auto one = [&](std::vector<TxnOp> ops) -> asio::awaitable<Status> {
    auto r = co_await client_->txn(ops);
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
      std::vector<std::vector<TxnOp>> batches;
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
              auto r = co_await self->client_->txn(g->batches[idx]);
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
    if (need_reconcile_) {
      auto st = co_await reconcile();
      if (stopped_) co_return;
      if (!st) {
        ++st_.errors;
        st_.connected = false;
        st_.last_error = st.error().message;
        delay_ = delay_.count() == 0 ? opts_.retry_min : std::min(delay_ * 2, opts_.retry_max);
        co_await sleep(delay_);
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
      if (on_synced_) on_synced_();
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
      if (st.error().message.find("too many operations in txn request") != std::string::npos &&
          opts_.max_txn_ops > 1) {
        opts_.max_txn_ops /= 2;  // the server's --max-txn-ops is lower than ours
        continue;
      }
      if (is_lease_not_found(st.error()) && lease_ == lease) {
        // Our lease expired (an etcd outage longer than its TTL): get a new one, then read
        // back and write everything again under it.
        lease_ = 0;
        need_reconcile_ = true;
        keeper_->reset();
        continue;
      }
      delay_ = delay_.count() == 0 ? opts_.retry_min : std::min(delay_ * 2, opts_.retry_max);
      co_await sleep(delay_);
      continue;
    }
    delay_ = std::chrono::milliseconds(0);
    st_.connected = true;
    st_.last_error.clear();
    st_.last_round_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
}

}  // namespace netagent::mesh
