#include "netagent/etcd/lease_keeper.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <utility>

namespace netagent::etcd {

namespace asio = boost::asio;

LeaseKeeper::LeaseKeeper(std::shared_ptr<EtcdClient> client, std::chrono::seconds ttl, Callbacks cb)
    : client_(std::move(client)), ttl_(ttl), cb_(std::move(cb)), timer_(client_->io()) {
  status_.ttl_seconds = ttl.count();
}

void LeaseKeeper::start(int64_t reuse_id) {
  asio::co_spawn(
      client_->io(),
      [self = shared_from_this(), reuse_id]() -> asio::awaitable<void> {
        co_await self->run(reuse_id);
      },
      asio::detached);
}

void LeaseKeeper::stop(bool revoke) {
  stopped_ = true;
  timer_.cancel();
  if (revoke && status_.id != 0) {
    asio::co_spawn(
        client_->io(),
        [client = client_, id = status_.id]() -> asio::awaitable<void> {
          auto st = co_await client->lease_revoke(id);
          (void)st;  // best effort: the lease expires by itself otherwise
        },
        asio::detached);
  }
}

void LeaseKeeper::reset() {
  if (status_.id == 0) return;
  status_.id = 0;
  ++status_.losses;
  status_.last_error = "lease reported gone by a write";
  timer_.cancel();
}

asio::awaitable<void> LeaseKeeper::run(int64_t reuse_id) {
  auto self = shared_from_this();
  // Renew at a third of the TTL (as etcd's own clients do) so that two renewals may fail before
  // the lease expires; retry failures sooner.
  const auto period = std::chrono::duration_cast<std::chrono::milliseconds>(ttl_) / 3;
  const auto retry = std::min<std::chrono::milliseconds>(period, std::chrono::seconds(1));
  std::chrono::milliseconds wait{0};
  while (!stopped_) {
    if (wait.count() > 0) {
      timer_.expires_after(wait);
      boost::system::error_code ec;
      co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (stopped_) co_return;
    }
    const auto now = std::chrono::system_clock::now();
    if (status_.id == 0) {
      if (reuse_id != 0) {
        int64_t id = std::exchange(reuse_id, 0);
        auto ttl = co_await client_->lease_keepalive(id);
        if (stopped_) co_return;
        if (ttl && *ttl > 0) {
          status_.id = id;
          ++status_.renewals;
          status_.last_renewal = now;
          status_.last_error.clear();
          wait = period;
          if (cb_.on_granted) cb_.on_granted(id, true);
          continue;
        }
      }
      auto g = co_await client_->lease_grant(ttl_.count());
      if (stopped_) co_return;
      if (!g) {
        status_.last_error = g.error().message;
        wait = retry;
        continue;
      }
      status_.id = g->id;
      ++status_.grants;
      status_.last_renewal = now;
      status_.last_error.clear();
      wait = period;
      if (cb_.on_granted) cb_.on_granted(g->id, false);
      continue;
    }
    const int64_t held = status_.id;
    auto ttl = co_await client_->lease_keepalive(held);
    if (stopped_) co_return;
    if (status_.id != held) {  // reset() meanwhile
      wait = std::chrono::milliseconds(0);
      continue;
    }
    if (!ttl && !is_lease_not_found(ttl.error())) {
      // Unreachable: keep trying. Only etcd's word that the lease is gone counts as a loss (an
      // etcd that restarts extends its leases by a full TTL, so the lease may well survive).
      status_.last_error = ttl.error().message;
      wait = retry;
      continue;
    }
    if (ttl && *ttl > 0) {
      ++status_.renewals;
      status_.last_renewal = now;
      status_.last_error.clear();
      wait = period;
      continue;
    }
    int64_t lost = std::exchange(status_.id, 0);
    ++status_.losses;
    status_.last_error = "lease " + std::to_string(lost) + " expired";
    wait = std::chrono::milliseconds(0);
    if (cb_.on_lost) cb_.on_lost(lost, status_.last_error);
  }
}

}  // namespace netagent::etcd
