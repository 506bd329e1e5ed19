#pragma once
// An etcd v3 client on Boost.Asio, speaking etcd's gRPC-gateway JSON API (/v3/...) over HTTP/1.1
// with Boost.Beast, plain or mutual TLS (see docs/clustermesh.md for why not gRPC).
//
// Everything runs on the caller's io_context; there is no thread of the client's own and no
// thread per connection. Operations are C++20 coroutines (co_await them from a coroutine, or
// co_spawn them); results are values: Result<T> carries either the answer or an Error that says
// which endpoint failed and why. Not thread-safe: use it from the thread running the io_context.
//
// Endpoints are tried in order with failover: a unary request that cannot reach an endpoint
// (resolve, connect, TLS or transport error, or a gateway "unavailable" answer) moves on to the
// next one, and the client sticks with the first that works. Unary requests run on a small pool
// of keep-alive connections; each watch holds a connection of its own.
// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "netagent/common/result.hpp"

namespace boost::asio::ssl {
class context;
}

namespace netagent::http {
class Connection;
struct Url;
}  // namespace netagent::http

namespace netagent::etcd {

class Watch;
struct WatchHandler;
struct WatchOptions;

// PEM contents (not file names): the CA that signs the servers' certificates, and this client's
// certificate chain and private key for mutual TLS.
struct TlsMaterial {
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
  bool operator==(const TlsMaterial&) const = default;
};

struct EtcdConfig {
  std::string name;                    // for messages: "etcd of cluster apps"
  std::vector<std::string> endpoints;  // "https://10.25.11.120:2379", "http://127.0.0.1:2379"
  std::optional<TlsMaterial> tls;      // required when any endpoint is https
  std::chrono::milliseconds connect_timeout{3000};   // resolve + TCP + TLS handshake
  std::chrono::milliseconds request_timeout{10000};  // one unary request, send to last byte
  size_t max_idle_connections = 8;
  bool operator==(const EtcdConfig&) const = default;
};

struct ResponseHeader {
  uint64_t cluster_id = 0;
  uint64_t member_id = 0;
  int64_t revision = 0;
};

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;
  bool operator==(const KeyValue&) const = default;
};

struct RangeResult {
  ResponseHeader header;
  std::vector<KeyValue> kvs;
  int64_t count = 0;
  bool more = false;
};

struct RangeOptions {
  bool prefix = false;   // every key starting with `key`
  int64_t limit = 0;     // 0: no limit
  int64_t revision = 0;  // 0: latest
  bool keys_only = false;
};

// One operation of a transaction (applied atomically, in order, in one revision).
struct TxnOp {
  enum class Kind { Put, Delete };
  Kind kind = Kind::Put;
  std::string key;
  std::string value;
  int64_t lease = 0;

  static TxnOp put(std::string k, std::string v, int64_t lease = 0) {
    return TxnOp{Kind::Put, std::move(k), std::move(v), lease};
  }
  static TxnOp del(std::string k) { return TxnOp{Kind::Delete, std::move(k), {}, 0}; }
};

// A condition of a conditional transaction (txn_if): `key`'s target compared EQUAL to `number`
// (create/mod revision, lease id) or `value`. A key that does not exist has create revision,
// mod revision and lease 0 (so CreateRevision == 0 means "absent": etcd's lock idiom).
struct TxnCompare {
  enum class Target { CreateRevision, ModRevision, Lease, Value };
  Target target = Target::CreateRevision;
  std::string key;
  int64_t number = 0;
  std::string value;

  static TxnCompare absent(std::string k) { return {Target::CreateRevision, std::move(k), 0, {}}; }
  static TxnCompare mod_revision(std::string k, int64_t rev) {
    return {Target::ModRevision, std::move(k), rev, {}};
  }
  static TxnCompare lease(std::string k, int64_t id) {
    return {Target::Lease, std::move(k), id, {}};
  }
};

struct TxnResult {
  ResponseHeader header;
  bool succeeded = false;  // every compare held: the success ops ran (else the failure ops)
};

struct LeaseGrant {
  int64_t id = 0;
  int64_t ttl = 0;  // seconds
};

// The smallest key greater than every key that starts with `prefix` (etcd's range_end for a
// prefix query): the prefix with its last byte below 0xff incremented.
std::string prefix_range_end(const std::string& prefix);

// etcd's error for a put/txn/keepalive naming a lease that no longer exists.
bool is_lease_not_found(const Error& e);

class EtcdClient : public std::enable_shared_from_this<EtcdClient> {
 public:
  // Validates the endpoints and loads the TLS material (errors name what is wrong).
  static Result<std::shared_ptr<EtcdClient>> create(boost::asio::io_context& io, EtcdConfig config);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  const EtcdConfig& config() const { return config_; }
  // The endpoint in use (the last one that answered).
  const std::string& current_endpoint() const;
  boost::asio::io_context& io() { return io_; }

  boost::asio::awaitable<Result<ResponseHeader>> put(std::string key, std::string value,
                                                     int64_t lease = 0);
  boost::asio::awaitable<Result<RangeResult>> range(std::string key, RangeOptions opts = {});
  // Every key under `prefix` at one revision, read in pages of `page_size` keys (so that a large
  // prefix never hits a message-size limit) pinned to the first page's revision.
  boost::asio::awaitable<Result<RangeResult>> range_all(std::string prefix,
                                                        int64_t page_size = 5000);
  // Number of keys deleted.
  boost::asio::awaitable<Result<int64_t>> del(std::string key, bool prefix = false);
  // All ops in one transaction with no compare (etcd limits a txn to --max-txn-ops, 128 by
  // default; callers batch).
  boost::asio::awaitable<Result<ResponseHeader>> txn(std::vector<TxnOp> ops);
  // If every compare holds, `success` runs, else `failure`; one revision either way.
  boost::asio::awaitable<Result<TxnResult>> txn_if(std::vector<TxnCompare> compare,
                                                   std::vector<TxnOp> success,
                                                   std::vector<TxnOp> failure = {});
  boost::asio::awaitable<Result<int64_t>> compact(int64_t revision);

  // Leases. keepalive returns the remaining TTL; 0 means the lease is gone (expired or revoked).
  boost::asio::awaitable<Result<LeaseGrant>> lease_grant(int64_t ttl_seconds, int64_t id = 0);
  boost::asio::awaitable<Result<int64_t>> lease_keepalive(int64_t id);
  boost::asio::awaitable<Status> lease_revoke(int64_t id);

  // Starts watching every key under `prefix` (see etcd_watch.hpp); the watch runs until
  // cancelled or the client shuts down.
  std::shared_ptr<Watch> watch(std::string prefix, WatchOptions opts, WatchHandler handler);

  // Closes every connection and cancels every watch; pending operations complete with errors.
  void shutdown();
  bool is_shut_down() const { return shut_down_; }

  // Internal (used by Watch): a connected connection to the first endpoint that accepts one,
  // trying each endpoint once from the current one.
  boost::asio::awaitable<Result<std::unique_ptr<http::Connection>>> connect_any();
  // Internal: one unary POST of a JSON body with failover; returns the reply body.
  boost::asio::awaitable<Result<std::string>> call(std::string path, std::string body);

 private:
  EtcdClient(boost::asio::io_context& io, EtcdConfig config);
  std::unique_ptr<http::Connection> make_connection(size_t endpoint_index);

  boost::asio::io_context& io_;
  EtcdConfig config_;
  std::vector<http::Url> endpoints_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  size_t current_ = 0;
  std::vector<std::unique_ptr<http::Connection>> idle_;
  std::set<http::Connection*> busy_;
  std::vector<std::weak_ptr<Watch>> watches_;
  bool shut_down_ = false;
};

}  // namespace netagent::etcd
