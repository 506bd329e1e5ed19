#pragma once
// A Kubernetes API client on Boost.Asio and Boost.Beast (HTTP/1.1, plain or TLS, JSON bodies;
// protobuf is not used). Runs on the caller's io_context, no threads of its own; operations are
// C++20 coroutines returning Result<T>, whose Error says which request failed and why. Not
// thread-safe: use it from the thread running the io_context.
//
// Non-watch requests share a small pool of keep-alive connections; each watch holds a
// connection of its own for as long as it streams.
// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "netagent/common/result.hpp"
#include "netagent/kubeapi/config.hpp"

namespace netagent::kubeapi {

using json = nlohmann::json;

// One kind of object on the server: group ("" for the core group), version, plural resource,
// kind, and whether it lives in namespaces.
struct Resource {
  std::string group;
  std::string version;
  std::string resource;  // "services", "endpointslices", "ciliumnetworkpolicies"
  std::string kind;      // "Service"
  bool namespaced = true;

  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
  // "/api/v1/services", "/apis/discovery.k8s.io/v1/namespaces/ns/endpointslices" (ns empty:
  // every namespace, or a cluster-scoped resource).
  std::string path(const std::string& ns = "") const;
  // "services" or "endpointslices.discovery.k8s.io", for messages.
  std::string str() const;
};

// A failed request: the HTTP status (0 when no answer arrived: resolve, connect, TLS, timeout)
// and, when the server answered with a metav1.Status, its reason ("Expired", "Conflict",
// "NotFound") and message.
struct ApiError {
  unsigned http_status = 0;
  std::string reason;
  std::string message;
  Error error;  // what failed, for logs: "GET /api/v1/services: 410 Gone: Expired: too old ..."

  bool gone() const { return http_status == 410; }      // resourceVersion too old: relist
  bool conflict() const { return http_status == 409; }  // stale resourceVersion on write / exists
  bool not_found() const { return http_status == 404; }
};

template <typename T>
using ApiResult = std::variant<T, ApiError>;  // see ok(), value(), error() below

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  int64_t limit = 500;                 // page size (0: no paging)
  std::string continue_token;          // from the previous page
  std::string resource_version;        // "" (most recent, quorum read), "0" (any), or a version
  std::string resource_version_match;  // "", "NotOlderThan", "Exact"
  std::chrono::seconds timeout{0};     // timeoutSeconds, 0: the server's default
};

struct ListPage {
  std::vector<json> items;  // each with apiVersion and kind filled in (the server omits them)
  std::string resource_version;
  std::string continue_token;  // empty: the last page
  std::optional<int64_t> remaining_item_count;
};

struct WatchOptions {
  std::string label_selector;
  std::string field_selector;
  std::string resource_version;
  bool allow_bookmarks = true;
  // The WatchList form: sendInitialEvents=true with resourceVersionMatch=NotOlderThan; the
  // server sends the current state as ADDED events, then a BOOKMARK annotated
  // k8s.io/initial-events-end.
  bool send_initial_events = false;
  std::chrono::seconds timeout{0};  // timeoutSeconds, 0: the server's default
};

// One event of a watch stream. ERROR carries a metav1.Status in `object` (410 Expired after
// compaction); BOOKMARK carries only metadata.resourceVersion (and annotations).
struct WatchEvent {
  enum class Type { Added, Modified, Deleted, Bookmark, Error };
  Type type = Type::Added;
  json object;
};

// An open watch. next() returns each event as the server sends it; an error when the stream
// ends (the server's timeout, a cut connection, a line that is not a JSON event: the error says
// which); close() ends a pending next().
class WatchStream {
 public:
  virtual ~WatchStream() = default;
  virtual boost::asio::awaitable<ApiResult<WatchEvent>> next() = 0;
  virtual void close() = 0;
};

class Client : public std::enable_shared_from_this<Client> {
 public:
  // Checks the config (URL, PEMs) and builds the TLS context; errors name what is wrong.
  static Result<std::shared_ptr<Client>> create(boost::asio::io_context& io, ClientConfig config);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const ClientConfig& config() const { return config_; }
  boost::asio::io_context& io() { return io_; }

  // GET /version (reachability check; its gitVersion).
  boost::asio::awaitable<ApiResult<json>> version();
  // One page of a list (ns empty: all namespaces).
  boost::asio::awaitable<ApiResult<ListPage>> list(const Resource& r, const std::string& ns,
                                                   ListOptions opts);
  // Every page, following `continue` (a 410 on a continue token is returned as is: the caller
  // lists again from the start).
  boost::asio::awaitable<ApiResult<ListPage>> list_all(const Resource& r, const std::string& ns,
                                                       ListOptions opts);
  boost::asio::awaitable<ApiResult<std::unique_ptr<WatchStream>>> watch(const Resource& r,
                                                                        const std::string& ns,
                                                                        WatchOptions opts);
  boost::asio::awaitable<ApiResult<json>> get(const Resource& r, const std::string& ns,
                                              const std::string& name);
  boost::asio::awaitable<ApiResult<json>> create(const Resource& r, const std::string& ns,
                                                 json object);
  // PUT: object.metadata.resourceVersion makes it conditional (409 Conflict when stale).
  boost::asio::awaitable<ApiResult<json>> update(const Resource& r, const std::string& ns,
                                                 json object);
  // PUT to the status subresource.
  boost::asio::awaitable<ApiResult<json>> update_status(const Resource& r, const std::string& ns,
                                                        json object);
  // PATCH with application/merge-patch+json (RFC 7386), to the object or (`status`) its status.
  boost::asio::awaitable<ApiResult<json>> merge_patch(const Resource& r, const std::string& ns,
                                                      const std::string& name, json patch,
                                                      bool status = false);
  boost::asio::awaitable<ApiResult<json>> remove(const Resource& r, const std::string& ns,
                                                 const std::string& name);

  // Closes every connection; pending operations complete with errors.
  void shutdown();

 private:
  Client(boost::asio::io_context& io, ClientConfig config);
  boost::asio::awaitable<ApiResult<json>> send(std::string method, std::string target,
                                               std::string body, std::string content_type);
  struct Impl;
  boost::asio::io_context& io_;
  ClientConfig config_;
  std::unique_ptr<Impl> impl_;
};

template <typename T>
bool ok(const ApiResult<T>& r) {
  return r.index() == 0;
}
template <typename T>
T& value(ApiResult<T>& r) {
  return std::get<0>(r);
}
template <typename T>
const ApiError& error(const ApiResult<T>& r) {
  return std::get<1>(r);
}

}  // namespace netagent::kubeapi
