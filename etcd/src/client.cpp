#include "netagent/etcd/client.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/ssl/context.hpp>
#include <nlohmann/json.hpp>

#include "json.hpp"
#include "netagent/common/base64.hpp"
#include "netagent/etcd/watch.hpp"
#include "netagent/http/connection.hpp"

namespace netagent::etcd {

namespace asio = boost::asio;
using http::Connection;
using json = nlohmann::json;

std::string prefix_range_end(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // "\0" as range_end means "to the end of the keyspace"
}

bool is_lease_not_found(const Error& e) {
  return e.message.find("requested lease not found") != std::string::npos;
}

EtcdClient::EtcdClient(asio::io_context& io, EtcdConfig config)
    : io_(io), config_(std::move(config)) {}

EtcdClient::~EtcdClient() = default;

Result<std::shared_ptr<EtcdClient>> EtcdClient::create(asio::io_context& io, EtcdConfig config) {
  if (config.name.empty()) config.name = "etcd";
  if (config.endpoints.empty()) return Error{config.name + ": no endpoints configured"};
  std::shared_ptr<EtcdClient> c(new EtcdClient(io, config));
  bool any_tls = false;
  for (const auto& e : config.endpoints) {
    auto ep = http::Url::parse(e, "2379");
    if (!ep) return Error{config.name + ": endpoint " + ep.error().message};
    if (!ep->path.empty())
      return Error{config.name + ": endpoint \"" + e + "\": a path is not supported"};
    any_tls |= ep->tls;
    c->endpoints_.push_back(std::move(*ep));
  }
  if (any_tls) {
    if (!config.tls) return Error{config.name + ": https endpoints need TLS material"};
    const TlsMaterial& t = *config.tls;
    if (t.ca_pem.empty()) return Error{config.name + ": https endpoints need a trusted CA"};
    auto ctx =
        http::make_tls_context({.ca_pem = t.ca_pem, .cert_pem = t.cert_pem, .key_pem = t.key_pem});
    if (!ctx) return ctx.error().wrap(config.name);
    c->tls_ = std::move(*ctx);
  }
  return c;
}

const std::string& EtcdClient::current_endpoint() const {
  return endpoints_[current_].text;
}

std::unique_ptr<Connection> EtcdClient::make_connection(size_t idx) {
  return std::make_unique<Connection>(io_.get_executor(), tls_.get(), endpoints_[idx]);
}

void EtcdClient::shutdown() {
  shut_down_ = true;
  for (auto& c : idle_)
    c->close();
  idle_.clear();
  for (auto* c : busy_)
    c->close();
  for (auto& w : watches_) {
    if (auto s = w.lock()) s->cancel();
  }
  watches_.clear();
}

asio::awaitable<Result<std::unique_ptr<Connection>>> EtcdClient::connect_any() {
  auto self = shared_from_this();
  std::string failures;
  const size_t n = endpoints_.size();
  const size_t start = current_;
  for (size_t i = 0; i < n; ++i) {
    if (shut_down_) co_return Error{config_.name + ": client shut down"};
    size_t idx = (start + i) % n;
    auto conn = make_connection(idx);
    busy_.insert(conn.get());
    auto st = co_await conn->connect(config_.connect_timeout);
    busy_.erase(conn.get());
    if (st) {
      current_ = idx;
      co_return std::move(conn);
    }
    if (!failures.empty()) failures += "; ";
    failures += endpoints_[idx].text + ": " + st.error().message;
  }
  co_return Error{config_.name + " unreachable: " + failures};
}

asio::awaitable<Result<std::string>> EtcdClient::call(std::string path, std::string body) {
  auto self = shared_from_this();
  std::string failures;
  const size_t n = endpoints_.size();
  const size_t start = current_;
  for (size_t i = 0; i < n; ++i) {
    size_t idx = (start + i) % n;
    bool retried_fresh = false;
    for (;;) {
      if (shut_down_) co_return Error{config_.name + ": client shut down"};
      std::unique_ptr<Connection> conn;
      for (auto it = idle_.begin(); it != idle_.end(); ++it) {
        if ((*it)->endpoint().text != endpoints_[idx].text) continue;
        conn = std::move(*it);
        idle_.erase(it);
        break;
      }
      const bool reused = conn != nullptr;
      if (!conn) {
        conn = make_connection(idx);
        busy_.insert(conn.get());
        auto st = co_await conn->connect(config_.connect_timeout);
        busy_.erase(conn.get());
        if (!st) {
          if (!failures.empty()) failures += "; ";
          failures += endpoints_[idx].text + ": " + st.error().message;
          break;
        }
      }
      busy_.insert(conn.get());
      http::Request req{.method = "POST",
                        .target = path,
                        .headers = {{"Content-Type", "application/json"}},
                        .body = body};
      auto reply = co_await conn->request(std::move(req), config_.request_timeout);
      busy_.erase(conn.get());
      if (!reply) {
        // A kept-alive connection the server has since closed fails on first use: retry once
        // on a fresh connection before calling the endpoint unreachable.
        if (reused && !retried_fresh && !shut_down_) {
          retried_fresh = true;
          continue;
        }
        if (!failures.empty()) failures += "; ";
        failures += endpoints_[idx].text + ": " + reply.error().message;
        break;
      }
      if (conn->is_open() && idle_.size() < config_.max_idle_connections && !shut_down_) {
        idle_.push_back(std::move(conn));
      }
      if (reply->status == 200) {
        current_ = idx;
        co_return std::move(reply->body);
      }
      auto err = detail::gateway_error(reply->status, reply->body);
      // gRPC UNAVAILABLE (14): this member cannot serve (no leader, stopping); try another.
      if (err.grpc_code == 14) {
        if (!failures.empty()) failures += "; ";
        failures += endpoints_[idx].text + ": " + err.message;
        break;
      }
      current_ = idx;
      co_return Error{config_.name + " " + endpoints_[idx].text + " " + path + ": " + err.message};
    }
  }
  co_return Error{config_.name + " unreachable: " + failures};
}

asio::awaitable<Result<ResponseHeader>> EtcdClient::put(std::string key, std::string value,
                                                        int64_t lease) {
  json req = {{"key", base64_encode(key)}, {"value", base64_encode(value)}};
  if (lease != 0) req["lease"] = std::to_string(lease);
  auto body = co_await call("/v3/kv/put", req.dump());
  if (!body) co_return body.error();
  auto j = detail::parse_json(*body, "/v3/kv/put");
  if (!j) co_return j.error();
  co_return detail::parse_header(*j);
}

asio::awaitable<Result<RangeResult>> EtcdClient::range(std::string key, RangeOptions opts) {
  json req = {{"key", base64_encode(key)}};
  if (opts.prefix) req["range_end"] = base64_encode(prefix_range_end(key));
  if (opts.limit > 0) req["limit"] = std::to_string(opts.limit);
  if (opts.revision > 0) req["revision"] = std::to_string(opts.revision);
  if (opts.keys_only) req["keys_only"] = true;
  auto body = co_await call("/v3/kv/range", req.dump());
  if (!body) co_return body.error();
  co_return detail::parse_range(*body);
}

asio::awaitable<Result<RangeResult>> EtcdClient::range_all(std::string prefix, int64_t page_size) {
  auto self = shared_from_this();
  RangeResult all;
  const std::string end = prefix_range_end(prefix);
  std::string from = prefix;
  for (;;) {
    json req = {{"key", base64_encode(from)},
                {"range_end", base64_encode(end)},
                {"limit", std::to_string(page_size)}};
    if (all.header.revision > 0) req["revision"] = std::to_string(all.header.revision);
    auto body = co_await call("/v3/kv/range", req.dump());
    if (!body) co_return body.error();
    auto page = detail::parse_range(*body);
    if (!page) co_return page.error();
    if (all.header.revision == 0) all.header = page->header;
    for (auto& kv : page->kvs)
      all.kvs.push_back(std::move(kv));
    if (!page->more || all.kvs.empty()) break;
    from = all.kvs.back().key + std::string(1, '\0');
  }
  all.count = int64_t(all.kvs.size());
  co_return all;
}

asio::awaitable<Result<int64_t>> EtcdClient::del(std::string key, bool prefix) {
  json req = {{"key", base64_encode(key)}};
  if (prefix) req["range_end"] = base64_encode(prefix_range_end(key));
  auto body = co_await call("/v3/kv/deleterange", req.dump());
  if (!body) co_return body.error();
  auto j = detail::parse_json(*body, "/v3/kv/deleterange");
  if (!j) co_return j.error();
  co_return detail::get_i64(*j, "deleted");
}

namespace {

json txn_ops_json(const std::vector<TxnOp>& ops) {
  json out = json::array();
  for (const auto& op : ops) {
    switch (op.kind) {
      case TxnOp::Kind::Put: {
        json put = {{"key", base64_encode(op.key)}, {"value", base64_encode(op.value)}};
        if (op.lease != 0) put["lease"] = std::to_string(op.lease);
        out.push_back({{"request_put", std::move(put)}});
        break;
      }
      case TxnOp::Kind::Delete:
        out.push_back({{"request_delete_range", {{"key", base64_encode(op.key)}}}});
        break;
    }
  }
  return out;
}

}  // namespace

asio::awaitable<Result<ResponseHeader>> EtcdClient::txn(std::vector<TxnOp> ops) {
  json req = {{"success", txn_ops_json(ops)}};
  auto body = co_await call("/v3/kv/txn", req.dump());
  if (!body) co_return body.error();
  auto j = detail::parse_json(*body, "/v3/kv/txn");
  if (!j) co_return j.error();
  co_return detail::parse_header(*j);
}

asio::awaitable<Result<TxnResult>> EtcdClient::txn_if(std::vector<TxnCompare> compare,
                                                      std::vector<TxnOp> success,
                                                      std::vector<TxnOp> failure) {
  json cmp = json::array();
  for (const auto& c : compare) {
    json one = {{"result", "EQUAL"}, {"key", base64_encode(c.key)}};
    switch (c.target) {
      case TxnCompare::Target::CreateRevision:
        one["target"] = "CREATE";
        one["create_revision"] = std::to_string(c.number);
        break;
      case TxnCompare::Target::ModRevision:
        one["target"] = "MOD";
        one["mod_revision"] = std::to_string(c.number);
        break;
      case TxnCompare::Target::Lease:
        one["target"] = "LEASE";
        one["lease"] = std::to_string(c.number);
        break;
      case TxnCompare::Target::Value:
        one["target"] = "VALUE";
        one["value"] = base64_encode(c.value);
        break;
    }
    cmp.push_back(std::move(one));
  }
  json req = {{"compare", std::move(cmp)},
              {"success", txn_ops_json(success)},
              {"failure", txn_ops_json(failure)}};
  auto body = co_await call("/v3/kv/txn", req.dump());
  if (!body) co_return body.error();
  auto j = detail::parse_json(*body, "/v3/kv/txn");
  if (!j) co_return j.error();
  TxnResult r;
  r.header = detail::parse_header(*j);
  // The gateway leaves out fields at their default value: no "succeeded" means false.
  if (auto it = j->find("succeeded"); it != j->end() && it->is_boolean()) r.succeeded = *it;
  co_return r;
}

asio::awaitable<Result<int64_t>> EtcdClient::compact(int64_t revision) {
  json req = {{"revision", std::to_string(revision)}, {"physical", true}};
  auto body = co_await call("/v3/kv/compaction", req.dump());
  if (!body) co_return body.error();
  auto j = detail::parse_json(*body, "/v3/kv/compaction");
  if (!j) co_return j.error();
  co_return detail::parse_header(*j).revision;
}

asio::awaitable<Result<LeaseGrant>> EtcdClient::lease_grant(int64_t ttl_seconds, int64_t id) {
  json req = {{"TTL", std::to_string(ttl_seconds)}};
  if (id != 0) req["ID"] = std::to_string(id);
  auto body = co_await call("/v3/lease/grant", req.dump());
  if (!body) co_return body.error();
  auto j = detail::parse_json(*body, "/v3/lease/grant");
  if (!j) co_return j.error();
  if (auto e = j->find("error"); e != j->end() && e->is_string() && !e->get<std::string>().empty())
    co_return Error{config_.name + ": lease grant: " + e->get<std::string>()};
  co_return LeaseGrant{detail::get_i64(*j, "ID"), detail::get_i64(*j, "TTL")};
}

asio::awaitable<Result<int64_t>> EtcdClient::lease_keepalive(int64_t id) {
  json req = {{"ID", std::to_string(id)}};
  // LeaseKeepAlive is a bidirectional stream; the gateway turns one request body into one
  // message, so a POST with one message gets one {"result": ...} back and the stream ends.
  auto body = co_await call("/v3/lease/keepalive", req.dump());
  if (!body) co_return body.error();
  auto line = body->substr(0, body->find('\n'));
  auto j = detail::parse_json(line, "/v3/lease/keepalive");
  if (!j) co_return j.error();
  if (auto e = j->find("error"); e != j->end()) {
    co_return Error{config_.name + ": lease keepalive: " + detail::stream_error_text(*e)};
  }
  const json& r = j->contains("result") ? (*j)["result"] : *j;
  co_return detail::get_i64(r, "TTL");
}

asio::awaitable<Status> EtcdClient::lease_revoke(int64_t id) {
  json req = {{"ID", std::to_string(id)}};
  auto body = co_await call("/v3/lease/revoke", req.dump());
  if (!body) co_return body.error();
  co_return Status{};
}

std::shared_ptr<Watch> EtcdClient::watch(std::string prefix, WatchOptions opts,
                                         WatchHandler handler) {
  auto w = std::make_shared<Watch>(shared_from_this(), std::move(prefix), opts, std::move(handler));
  std::erase_if(watches_, [](const std::weak_ptr<Watch>& x) { return x.expired(); });
  watches_.push_back(w);
  w->start();
  return w;
}

}  // namespace netagent::etcd
