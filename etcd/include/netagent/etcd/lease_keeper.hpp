#pragma once
// Holds one etcd lease alive: grants it (or takes over a lease id remembered from a previous run
// if etcd still has it), renews it every TTL/3, and reports when etcd says it is gone so that the
// owner can grant a new one and write its keys again. Keys put under the lease vanish when the
// process dies and stops renewing: that is how a dead agent's entries expire.
// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "netagent/etcd/client.hpp"

namespace netagent::etcd {

struct LeaseStatus {
  int64_t id = 0;  // 0 while none is held
  int64_t ttl_seconds = 0;
  uint64_t grants = 0;
  uint64_t renewals = 0;
  uint64_t losses = 0;  // leases etcd reported gone
  std::chrono::system_clock::time_point last_renewal{};
  std::string last_error;  // empty when the last grant or renewal worked
};

class LeaseKeeper : public std::enable_shared_from_this<LeaseKeeper> {
 public:
  // on_granted(id, reused): a lease is held from now on (reused: the remembered id was alive).
  // on_lost(id, why): etcd no longer has lease `id`; a new one is being granted.
  struct Callbacks {
    std::function<void(int64_t, bool)> on_granted;
    std::function<void(int64_t, const std::string&)> on_lost;
  };

  LeaseKeeper(std::shared_ptr<EtcdClient> client, std::chrono::seconds ttl, Callbacks cb);

  // Starts granting and renewing; with reuse_id, first tries to keep that lease.
  void start(int64_t reuse_id = 0);
  // Stops renewing (the lease then expires after its TTL), or revokes it now (its keys go at
  // once) when `revoke`. No callback runs after stop().
  void stop(bool revoke = false);

  // The owner learnt that etcd no longer has the lease (a put under it failed): drop it and grant
  // a new one right away. on_granted reports the new lease; on_lost is not called.
  void reset();

  int64_t id() const { return status_.id; }
  const LeaseStatus& status() const { return status_; }

 private:
  boost::asio::awaitable<void> run(int64_t reuse_id);

  std::shared_ptr<EtcdClient> client_;
  std::chrono::seconds ttl_;
  Callbacks cb_;
  boost::asio::steady_timer timer_;
  LeaseStatus status_;
  bool stopped_ = false;
};

}  // namespace netagent::etcd
