#pragma once
// A watch on every key under a prefix that survives disconnects and compaction: list-and-watch.
//
// Without a start revision the watch first reads the whole prefix (a Resync update), then
// watches from the next revision. When the stream breaks it reconnects (with failover and
// backoff) and resumes from the revision after the last one delivered, so nothing is missed or
// repeated. When etcd answers that the revision it needs was compacted, or the server turns out
// to have fewer revisions than already seen (its data was lost), it reads the prefix again and
// delivers a Resync: the complete current state, which the consumer diffs against what it holds.
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "netagent/etcd/client.hpp"

namespace netagent::etcd {

struct WatchEvent {
  enum class Type { Put, Delete };
  Type type = Type::Put;
  KeyValue kv;  // for Delete, only key and mod_revision
};

struct WatchUpdate {
  enum class Kind { Events, Resync };
  Kind kind = Kind::Events;
  std::vector<WatchEvent> events;  // Events: in revision order
  std::vector<KeyValue> kvs;       // Resync: everything under the prefix at `revision`
  int64_t revision = 0;            // the revision the consumer is now at
  std::string reason;              // Resync: "initial", "compacted at 42", "server lost data"
};

enum class WatchState {
  Connected,     // the watch stream is established (etcd confirmed it)
  Disconnected,  // the stream broke or could not be opened; retrying
};

struct WatchHandler {
  std::function<void(WatchUpdate&&)> on_update;
  // Every transition, with a detail (the endpoint, or the error that broke the stream).
  std::function<void(WatchState, const std::string&)> on_state;
};

struct WatchOptions {
  int64_t start_revision = 0;  // 0: Resync first, then watch from its revision + 1
  std::chrono::milliseconds retry_min{100};
  std::chrono::milliseconds retry_max{2000};
  int64_t resync_page_size = 5000;
  // Read the whole prefix again after every reconnect instead of resuming from the last
  // revision. Needed when the server may come back with a different history (an etcd whose data
  // directory is ephemeral, as clustermesh-apiserver's is): resuming would then miss changes.
  bool resync_on_reconnect = false;
};

struct WatchCounters {
  uint64_t updates = 0;
  uint64_t events = 0;
  uint64_t resyncs = 0;
  uint64_t reconnects = 0;  // streams re-established after a failure
  uint64_t compactions = 0;
};

class Watch : public std::enable_shared_from_this<Watch> {
 public:
  Watch(std::shared_ptr<EtcdClient> client, std::string prefix, WatchOptions opts,
        WatchHandler handler);
  ~Watch();

  void start();
  // Stops the watch; no callback runs after this returns.
  void cancel();
  bool cancelled() const { return cancelled_; }

  const std::string& prefix() const { return prefix_; }
  int64_t revision() const { return next_revision_ - 1; }
  bool connected() const { return connected_; }
  const WatchCounters& counters() const { return counters_; }

 private:
  boost::asio::awaitable<void> run();
  boost::asio::awaitable<Status> resync(std::string reason);
  boost::asio::awaitable<void> backoff();
  void set_state(WatchState s, const std::string& detail);

  std::shared_ptr<EtcdClient> client_;
  std::string prefix_;
  WatchOptions opts_;
  WatchHandler handler_;
  int64_t next_revision_ = 0;  // first revision not yet delivered
  uint64_t cluster_id_ = 0;    // etcd cluster seen last; another one means another history
  bool ever_connected_ = false;
  bool need_resync_ = false;
  std::string resync_reason_;
  bool cancelled_ = false;
  bool connected_ = false;
  std::chrono::milliseconds delay_{0};
  std::unique_ptr<http::Connection> conn_;
  std::unique_ptr<boost::asio::steady_timer> timer_;
  WatchCounters counters_;
};

}  // namespace netagent::etcd
