#pragma once
// The part that writes LB IPAM's results back to the Kubernetes API, as Cilium's operator does:
// status.loadBalancer.ingress of every LoadBalancer Service LB IPAM handles, the pools' status
// conditions, a Warning Event for a Service whose request cannot be met, and a Warning Event
// (InvalidObject, with the field and why) for every object the source refused. Every agent
// computes the allocation; only the one holding the Lease (kubeapi::LeaderElector) writes, so the
// API sees one writer, and every agent then reads the addresses back from the Service status
// (ipam::Placement::Status), so no two nodes disagree.
//
// Writes are idempotent and derived from the difference between the allocation and the objects
// as last seen: a leader that dies mid-write loses nothing, its successor computes the same
// difference and writes what is left. A write is not repeated while the watch has not yet brought
// it back, for up to kRewriteAfter; after that it is written again (something else changed it).
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "netagent/ipam/allocation.hpp"
#include "netagent/kubeapi/leader_election.hpp"
#include "netagent/store/reconciler.hpp"

namespace netagent::writeback {

// One write: a merge patch of an object's status subresource, or an Event to create.
struct Write {
  kubeapi::Resource resource;
  std::string ns, name;
  nlohmann::json body;  // the patch, or the Event
  bool event = false;
  std::string what;  // "Service default/web status", for logs
};

// The writes that make the API's objects match `alloc` (pure: tests call it directly).
// `evented`: services already given an Event for their current reason ("ns/name reason"); the
// function adds the new ones.
std::map<std::string, Write> status_writes(const k8s::Snapshot& snap, const ipam::Allocation& alloc,
                                           const std::string& reporter,
                                           std::set<std::string>& evented);

class StatusWriter : public store::Reconciler {
 public:
  struct Options {
    std::string node_name;
    kubeapi::LeaderElectionOptions election;  // identity defaults to node_name
    std::chrono::milliseconds retry{1000};
  };
  StatusWriter(boost::asio::io_context& io, std::shared_ptr<kubeapi::Client> client,
               Options options);
  ~StatusWriter() override;

  std::string name() const override { return "k8s-status"; }
  std::vector<store::Topic> inputs() const override { return {store::topic<ipam::Allocation>()}; }
  Status start() override;
  Status apply(const store::Store& store) override;
  nlohmann::json status() const override;
  void register_metrics(metrics::Registry& registry) override;
  void drain(std::function<void()> done) override;
  void stop() override;

  static constexpr std::chrono::seconds kRewriteAfter{30};

 private:
  void compute();
  void kick();
  boost::asio::awaitable<void> write_loop();

  boost::asio::io_context& io_;
  std::shared_ptr<kubeapi::Client> client_;
  Options opts_;
  std::shared_ptr<kubeapi::LeaderElector> elector_;
  const store::Store* store_ = nullptr;
  std::map<std::string, Write> pending_;
  // What was written, and when: not written again before kRewriteAfter unless it changes.
  std::map<std::string, std::pair<std::string, std::chrono::steady_clock::time_point>> written_;
  std::set<std::string> evented_;
  bool writing_ = false;
  bool stopped_ = false;
  boost::asio::steady_timer retry_timer_;
  uint64_t writes_ok_ = 0, writes_failed_ = 0, events_ = 0;
  std::string last_error_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace netagent::writeback
