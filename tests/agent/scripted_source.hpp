#pragma once
// A desired-state source for tests ONLY: the test hands it snapshots and errors, which it
// delivers on the agent's io_context like the real manifest source (agent/source) does.
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <mutex>

#include "netagent/k8s/source.hpp"

namespace netagent::agent::test {

class ScriptedSource : public k8s::Source {
 public:
  explicit ScriptedSource(boost::asio::io_context& io) : io_(io) {}

  void start(SnapshotFn on_snapshot, ErrorFn on_error) override {
    on_snapshot_ = std::move(on_snapshot);
    on_error_ = std::move(on_error);
    std::lock_guard l(mu_);
    started_ = true;
  }
  void stop() override {
    std::lock_guard l(mu_);
    stopped_ = true;
  }
  k8s::SourceStats stats() const override {
    std::lock_guard l(mu_);
    return stats_;
  }
  std::string describe() const override { return "scripted test source"; }

  // Test side, any thread.
  void push(k8s::Snapshot snapshot) {
    auto s = std::make_shared<const k8s::Snapshot>(std::move(snapshot));
    boost::asio::post(io_, [this, s] {
      {
        std::lock_guard l(mu_);
        ++stats_.loads_ok;
        stats_.last_ok = stats_.last_attempt = std::chrono::system_clock::now();
        stats_.last_errors.clear();
      }
      on_snapshot_(s);
    });
  }
  void fail(std::vector<k8s::DecodeError> errors) {
    boost::asio::post(io_, [this, errors] {
      {
        std::lock_guard l(mu_);
        ++stats_.loads_failed;
        stats_.last_attempt = std::chrono::system_clock::now();
        stats_.last_errors = errors;
      }
      on_error_(errors);
    });
  }
  bool started() const {
    std::lock_guard l(mu_);
    return started_;
  }
  bool stopped() const {
    std::lock_guard l(mu_);
    return stopped_;
  }

 private:
  boost::asio::io_context& io_;
  SnapshotFn on_snapshot_;
  ErrorFn on_error_;
  mutable std::mutex mu_;
  k8s::SourceStats stats_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace netagent::agent::test
