#pragma once
// Leader election on a coordination.k8s.io/v1 Lease, with client-go's rules, so that exactly one
// agent of a cluster writes what all of them compute (LB IPAM status):
//
//  - A candidate reads the Lease. An absent Lease is created with itself as holder; a Lease held
//    by another is taken only once it has not changed for its leaseDurationSeconds as observed
//    on this node's own clock (never by comparing timestamps written by other nodes' clocks).
//  - Every write is conditional on the resourceVersion read, so of two candidates only one
//    wins (the other gets 409 Conflict and stays a follower).
//  - The leader renews every retry_period; when it has not renewed for renew_deadline (shorter
//    than the lease duration) it stops leading before anyone else may take over, so two leaders
//    never overlap as long as clocks run at the same rate.
//  - stop() releases a held Lease (holder cleared, duration 1 s), so a successor takes over at
//    once instead of after the lease duration.
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <random>
#include <string>

#include "netagent/kubeapi/client.hpp"

namespace netagent::kubeapi {

struct LeaderElectionOptions {
  std::string ns = "kube-system";
  std::string name = "netagent-lb-ipam";
  std::string identity;  // this candidate: the node name
  std::chrono::milliseconds lease_duration{15000};
  std::chrono::milliseconds renew_deadline{10000};
  std::chrono::milliseconds retry_period{2000};
};

struct LeaderCallbacks {
  std::function<void()> on_started_leading;
  std::function<void()> on_stopped_leading;
  // The holder changed (another candidate, or this one); "" when nobody holds it.
  std::function<void(const std::string& holder)> on_new_leader;
};

struct LeaderStats {
  bool leader = false;
  std::string holder;
  uint64_t acquired = 0;  // times this candidate became leader
  uint64_t lost = 0;      // times it stopped leading while running
  uint64_t renewals = 0;  // successful renewals
  uint64_t failures = 0;  // attempts that failed (unreachable, conflict, refused)
  std::string last_error;
  std::chrono::system_clock::time_point last_renew{};
};

// The Lease resource (coordination.k8s.io/v1 leases).
Resource lease_resource();
// metav1.MicroTime: "2026-12-08T00:05:00.123456Z".
std::string micro_time(std::chrono::system_clock::time_point t);

class LeaderElector : public std::enable_shared_from_this<LeaderElector> {
 public:
  LeaderElector(std::shared_ptr<Client> client, LeaderElectionOptions options,
                LeaderCallbacks callbacks);
  ~LeaderElector();

  void start();
  // Stops campaigning; a held Lease is released first, then `done` runs (also when the release
  // fails). No callback runs after `done`.
  void stop(std::function<void()> done = {});

  bool is_leader() const { return stats_.leader; }
  const LeaderStats& stats() const { return stats_; }
  const LeaderElectionOptions& options() const { return options_; }

 private:
  void attempt();
  void after_attempt(bool held);
  void finish();
  // One attempt: true when this candidate holds the Lease afterwards.
  boost::asio::awaitable<bool> try_acquire_or_renew();
  boost::asio::awaitable<void> release();
  json lease_body(const json* current, bool renew) const;
  void set_holder(const std::string& holder);
  void notify(std::function<void()> fn);

  std::shared_ptr<Client> client_;
  LeaderElectionOptions options_;
  LeaderCallbacks callbacks_;
  LeaderStats stats_;
  boost::asio::steady_timer timer_;
  bool stopping_ = false;
  bool running_ = false;
  bool stopped_callbacks_ = false;
  bool finishing_ = false;
  std::mt19937_64 rng_{std::random_device{}()};  // set with stop()'s `done`: no callback after it
  std::function<void()> on_stopped_;
  // The record last read, and when (this node's clock) it was first seen with that content.
  std::string observed_record_;
  std::chrono::steady_clock::time_point observed_at_{};
  std::chrono::steady_clock::time_point last_renew_{};
};

}  // namespace netagent::kubeapi
