#pragma once
// A reflector keeps one resource's objects in step with the API server, as client-go's does:
// a consistent snapshot first, then every change, across disconnects, timeouts and compaction.
//
//  - Start: the WatchList form (one watch with sendInitialEvents=true and
//    resourceVersionMatch=NotOlderThan; the initial ADDED events are collected until the BOOKMARK
//    annotated k8s.io/initial-events-end). A server that does not support it (it answers the
//    watch with an error, or sends no such bookmark before ordinary events, or closes without it)
//    is remembered and listed instead: pages of `page_size` (limit/continue), then a watch from
//    the list's resourceVersion with bookmarks.
//  - The consumer gets on_replace with the complete set once it is complete, never a partial one
//    (a cache that is not synced is never applied as if complete), then on_event per change.
//  - The watch resumes from the last resourceVersion seen (events and bookmarks) after the
//    server's timeout or a cut stream; on 410 Gone (the version was compacted) or an ERROR event
//    it lists again and delivers on_replace with the new complete set, which the consumer diffs.
//  - Failures back off exponentially from retry_min to retry_max with full jitter; a successful
//    sync resets the back-off.
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "netagent/kubeapi/client.hpp"

namespace netagent::kubeapi {

enum class ReflectorState {
  Syncing,  // listing (first time or after a relist); nothing complete delivered yet this round
  Synced,   // on_replace delivered; watching
  Failing,  // the last attempt failed; retrying after a back-off (the consumer's data is stale)
};
const char* to_string(ReflectorState s);

// The delay before retry number `failures` (1 for the first): a random point (from `random`)
// between `min` and min * 2^(failures-1) capped at `max` -- exponential with full jitter, never
// under `min` so that a failing server is not hammered.
std::chrono::milliseconds backoff_delay(unsigned failures, std::chrono::milliseconds min,
                                        std::chrono::milliseconds max, uint64_t random);

struct ReflectorHandler {
  // The complete set of objects (initial sync, or a relist after 410 / an error).
  std::function<void(std::vector<json> items, const std::string& resource_version)> on_replace;
  // ADDED / MODIFIED / DELETED after a sync (never BOOKMARK or ERROR).
  std::function<void(WatchEvent::Type, json object)> on_event;
  // Every state change, with the reason ("watch closed by the server", the error).
  std::function<void(ReflectorState, const std::string& detail)> on_state;
};

struct ReflectorOptions {
  std::string ns;  // empty: all namespaces
  std::string label_selector;
  std::string field_selector;
  int64_t page_size = 500;
  bool use_watch_list = true;  // try the WatchList form first
  std::chrono::milliseconds retry_min{200};
  std::chrono::milliseconds retry_max{30000};
  // timeoutSeconds asked of each watch: the server closes it then and the reflector resumes
  // (client-go picks 5-10 min at random, so that watches do not all reconnect at once).
  std::chrono::seconds watch_timeout{300};
};

struct ReflectorStats {
  ReflectorState state = ReflectorState::Syncing;
  std::string resource_version;  // last seen
  std::string last_error;
  uint64_t lists = 0;         // complete sets delivered (on_replace)
  uint64_t relists_gone = 0;  // of which after 410 Gone
  uint64_t watch_lists = 0;   // of which by the WatchList form
  uint64_t events = 0;        // on_event deliveries
  uint64_t bookmarks = 0;
  uint64_t watches = 0;  // watch streams opened
  uint64_t failures = 0;
  bool watch_list_supported = true;  // false once the server showed it has no WatchList
  std::chrono::system_clock::time_point last_sync{};
  std::chrono::system_clock::time_point last_event{};
};

class Reflector : public std::enable_shared_from_this<Reflector> {
 public:
  Reflector(std::shared_ptr<Client> client, Resource resource, ReflectorOptions options,
            ReflectorHandler handler);
  ~Reflector();

  void start();
  // No callback runs after this returns.
  void stop();

  const Resource& resource() const { return resource_; }
  const ReflectorStats& stats() const { return stats_; }

 private:
  struct Impl;
  std::shared_ptr<Client> client_;
  Resource resource_;
  ReflectorOptions options_;
  ReflectorHandler handler_;
  ReflectorStats stats_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace netagent::kubeapi
