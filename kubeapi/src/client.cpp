#include "netagent/kubeapi/client.hpp"

#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/status.hpp>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "netagent/common/url.hpp"
#include "netagent/http/connection.hpp"

namespace netagent::kubeapi {

namespace asio = boost::asio;

std::string Resource::path(const std::string& ns) const {
  std::string p = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (namespaced && !ns.empty()) p += "/namespaces/" + url_encode(ns);
  return p + "/" + resource;
}

std::string Resource::str() const {
  return group.empty() ? resource : resource + "." + group;
}

namespace {

constexpr size_t kListBodyLimit = size_t{256} << 20;  // a list of every object of a big cluster
constexpr size_t kObjectBodyLimit = size_t{16} << 20;

std::string status_text(unsigned status) {
  auto reason =
      boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status));
  std::string s = std::to_string(status);
  if (!reason.empty() && reason != "<unknown-status>") s += " " + std::string(reason);
  return s;
}

// A failed answer: the metav1.Status in the body when there is one, else the start of the body.
ApiError answer_error(const std::string& what, unsigned status, const std::string& body) {
  ApiError e;
  e.http_status = status;
  std::string text = what + ": " + status_text(status);
  json j = json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.value("kind", "") == "Status") {
    if (j.contains("reason") && j["reason"].is_string()) e.reason = j["reason"];
    if (j.contains("message") && j["message"].is_string()) e.message = j["message"];
  } else if (!body.empty()) {
    e.message = body.substr(0, 200);
    while (!e.message.empty() && (e.message.back() == '\n' || e.message.back() == '\r')) {
      e.message.pop_back();
    }
  }
  if (!e.reason.empty()) text += ": " + e.reason;
  if (!e.message.empty()) text += ": " + e.message;
  e.error = Error{text};
  return e;
}

ApiError transport_error(const std::string& what, const Error& err) {
  ApiError e;
  e.message = err.message;
  e.error = err.wrap(what);
  return e;
}

void add_query(std::string& target, const std::string& key, const std::string& value) {
  if (value.empty()) return;
  target += target.find('?') == std::string::npos ? '?' : '&';
  target += key + "=" + url_encode(value);
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

Result<WatchEvent::Type> event_type(const std::string& t) {
  if (t == "ADDED") return WatchEvent::Type::Added;
  if (t == "MODIFIED") return WatchEvent::Type::Modified;
  if (t == "DELETED") return WatchEvent::Type::Deleted;
  if (t == "BOOKMARK") return WatchEvent::Type::Bookmark;
  if (t == "ERROR") return WatchEvent::Type::Error;
  return Error{"unknown event type \"" + t + "\""};
}

std::string excerpt(const std::string& s) {
  return s.size() <= 80 ? s : s.substr(0, 80) + "...";
}

struct Exchange {
  std::string method;
  std::string target;
  std::string body;
  std::string content_type;
  size_t body_limit = kObjectBodyLimit;
};

}  // namespace

// Keeps `c` in `set` (connections shutdown() must close) for as long as it lives: a coroutine
// destroyed mid-request (its io_context going away) must not leave a dangling pointer there.
class Registered {
 public:
  Registered(std::set<http::Connection*>& set, http::Connection* c) : set_(set), c_(c) {
    set_.insert(c_);
  }
  ~Registered() { set_.erase(c_); }
  Registered(const Registered&) = delete;
  Registered& operator=(const Registered&) = delete;

 private:
  std::set<http::Connection*>& set_;
  http::Connection* c_;
};

struct Client::Impl {
  http::Url url;
  std::shared_ptr<asio::ssl::context> tls;
  http::ConnectionOptions conn_options;
  std::vector<std::unique_ptr<http::Connection>> idle;
  std::set<http::Connection*> busy;
  // Connections of open watches (a stream removes its own when it goes).
  std::shared_ptr<std::set<http::Connection*>> streams =
      std::make_shared<std::set<http::Connection*>>();
  bool shut_down = false;
  // The bearer token as last read, and when the file was last read.
  std::string token;
  std::chrono::steady_clock::time_point token_read{};
  bool token_ever_read = false;
  size_t max_idle = 4;

  // One unary request on a pooled connection, with the retries that are safe: once on a fresh
  // connection when a kept-alive one turns out closed, and once after re-reading the token on a
  // 401. Returns the reply (any status) or a transport failure.
  asio::awaitable<ApiResult<http::Reply>> exchange(std::shared_ptr<Client> self,
                                                   const ClientConfig& cfg, Exchange x);
};

namespace {

class Stream final : public WatchStream {
 public:
  Stream(std::shared_ptr<Client> client, std::unique_ptr<http::Connection> conn,
         std::shared_ptr<std::set<http::Connection*>> registry, std::string what)
      : client_(std::move(client)),
        conn_(std::move(conn)),
        registry_(std::move(registry)),
        what_(std::move(what)) {
    registry_->insert(conn_.get());
  }
  ~Stream() override {
    registry_->erase(conn_.get());
    conn_->close();
  }

  asio::awaitable<ApiResult<WatchEvent>> next() override {
    if (closed_) co_return transport_error(what_, Error{"watch closed"});
    auto line = co_await conn_->read_line();
    if (!line) co_return transport_error(what_, line.error());
    json j = json::parse(*line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      conn_->close();
      co_return transport_error(what_, Error{"not a JSON watch event: " + excerpt(*line)});
    }
    auto t = j.find("type");
    auto o = j.find("object");
    if (t == j.end() || !t->is_string() || o == j.end() || !o->is_object()) {
      conn_->close();
      co_return transport_error(what_,
                                Error{"watch event without type or object: " + excerpt(*line)});
    }
    auto type = event_type(t->get<std::string>());
    if (!type) {
      conn_->close();
      co_return transport_error(what_, type.error());
    }
    WatchEvent ev;
    ev.type = *type;
    ev.object = std::move(*o);
    co_return ev;
  }

  void close() override {
    closed_ = true;
    conn_->close();
  }

 private:
  std::shared_ptr<Client> client_;
  std::unique_ptr<http::Connection> conn_;
  std::shared_ptr<std::set<http::Connection*>> registry_;
  std::string what_;
  bool closed_ = false;
};

}  // namespace

Client::Client(asio::io_context& io, ClientConfig config)
    : io_(io), config_(std::move(config)), impl_(std::make_unique<Impl>()) {}

Client::~Client() {
  shutdown();
}

Result<std::shared_ptr<Client>> Client::create(asio::io_context& io, ClientConfig config) {
  const std::string origin = config.origin.empty() ? "Kubernetes API" : config.origin;
  if (config.server.empty()) return Error{origin + ": no server"};
  auto url = http::Url::parse(config.server);
  if (!url) return Error{origin + ": server " + url.error().message};
  if (!config.token.empty() && !config.token_file.empty()) {
    return Error{origin + ": both a token and a token file"};
  }
  std::shared_ptr<Client> c(new Client(io, config));
  c->impl_->url = std::move(*url);
  if (c->impl_->url.tls) {
    http::TlsOptions t{.ca_pem = config.ca_pem,
                       .cert_pem = config.client_cert_pem,
                       .key_pem = config.client_key_pem,
                       .insecure_skip_verify = config.insecure_skip_tls_verify};
    auto ctx = http::make_tls_context(t);
    if (!ctx) return ctx.error().wrap(origin);
    c->impl_->tls = std::move(*ctx);
    c->impl_->conn_options.server_name = config.tls_server_name;
    c->impl_->conn_options.insecure_skip_verify = config.insecure_skip_tls_verify;
  } else if (!config.client_cert_pem.empty()) {
    return Error{origin + ": a client certificate needs an https server"};
  }
  if (!config.token_file.empty()) {
    // Fail early on a file that is not there; later failures keep the last token.
    std::ifstream in(config.token_file);
    if (!in) return sys_error(origin + ": token file " + config.token_file);
  }
  return c;
}

void Client::shutdown() {
  Impl& m = *impl_;
  m.shut_down = true;
  for (auto& c : m.idle)
    c->close();
  m.idle.clear();
  for (auto* c : m.busy)
    c->close();
  for (auto* c : *m.streams)
    c->close();
}

namespace {

// The Authorization header's token: fixed, or the file's content, re-read every
// token_reread_interval (or at once when `force`, after a 401). A read that fails keeps the
// token read before.
std::string bearer(const ClientConfig& cfg, std::string& token,
                   std::chrono::steady_clock::time_point& read_at, bool& ever, bool force) {
  if (cfg.token_file.empty()) return cfg.token;
  auto now = std::chrono::steady_clock::now();
  if (force || !ever || now - read_at >= cfg.token_reread_interval) {
    std::ifstream in(cfg.token_file, std::ios::binary);
    if (in) {
      std::ostringstream ss;
      ss << in.rdbuf();
      std::string t = trim(ss.str());
      if (!t.empty()) token = std::move(t);
    }
    read_at = now;
    ever = true;
  }
  return token;
}

}  // namespace

asio::awaitable<ApiResult<http::Reply>> Client::Impl::exchange(std::shared_ptr<Client> self,
                                                               const ClientConfig& cfg,
                                                               Exchange x) {
  Impl& m = *this;
  const std::string what = x.method + " " + x.target;
  bool retried_fresh = false;
  bool retried_token = false;
  bool force_token = false;
  for (;;) {
    if (m.shut_down) co_return transport_error(what, Error{"client shut down"});
    std::unique_ptr<http::Connection> conn;
    if (!m.idle.empty()) {
      conn = std::move(m.idle.back());
      m.idle.pop_back();
    }
    const bool reused = conn != nullptr;
    if (!conn) {
      conn = std::make_unique<http::Connection>(self->io().get_executor(), m.tls.get(), m.url,
                                                m.conn_options);
      Registered busy(m.busy, conn.get());
      auto st = co_await conn->connect(cfg.connect_timeout);
      if (!st) co_return transport_error(what, st.error().wrap(m.url.text));
    }
    http::Request req;
    req.method = x.method;
    req.target = x.target;
    req.body = x.body;
    req.headers.emplace_back("Accept", "application/json");
    req.headers.emplace_back("User-Agent", cfg.user_agent);
    if (!x.content_type.empty()) req.headers.emplace_back("Content-Type", x.content_type);
    std::string token = bearer(cfg, m.token, m.token_read, m.token_ever_read, force_token);
    if (!token.empty()) req.headers.emplace_back("Authorization", "Bearer " + token);
    std::optional<Registered> busy(std::in_place, m.busy, conn.get());
    auto reply = co_await conn->request(std::move(req), cfg.request_timeout, x.body_limit);
    busy.reset();
    if (!reply) {
      if (reused && !retried_fresh && !m.shut_down) {
        retried_fresh = true;
        continue;
      }
      co_return transport_error(what, reply.error().wrap(m.url.text));
    }
    if (conn->is_open() && m.idle.size() < m.max_idle && !m.shut_down) {
      m.idle.push_back(std::move(conn));
    }
    if (reply->status == 401 && !cfg.token_file.empty() && !retried_token) {
      retried_token = true;
      force_token = true;
      continue;
    }
    co_return std::move(*reply);
  }
}

namespace {

ApiResult<json> decode(const std::string& what, ApiResult<http::Reply> r) {
  if (!ok(r)) return error(r);
  http::Reply& reply = value(r);
  if (reply.status < 200 || reply.status >= 300) {
    return answer_error(what, reply.status, reply.body);
  }
  json j = json::parse(reply.body, nullptr, false);
  if (j.is_discarded()) {
    ApiError e;
    e.http_status = reply.status;
    e.message = "the answer is not JSON: " + excerpt(reply.body);
    e.error = Error{what + ": " + e.message};
    return e;
  }
  return j;
}

}  // namespace

asio::awaitable<ApiResult<json>> Client::version() {
  auto self = shared_from_this();
  Exchange x{.method = "GET", .target = "/version"};
  auto r = co_await impl_->exchange(self, config_, std::move(x));
  co_return decode("GET /version", std::move(r));
}

asio::awaitable<ApiResult<ListPage>> Client::list(const Resource& r, const std::string& ns,
                                                  ListOptions opts) {
  auto self = shared_from_this();
  std::string target = r.path(ns);
  add_query(target, "labelSelector", opts.label_selector);
  add_query(target, "fieldSelector", opts.field_selector);
  if (opts.limit > 0) add_query(target, "limit", std::to_string(opts.limit));
  add_query(target, "continue", opts.continue_token);
  add_query(target, "resourceVersion", opts.resource_version);
  add_query(target, "resourceVersionMatch", opts.resource_version_match);
  if (opts.timeout.count() > 0)
    add_query(target, "timeoutSeconds", std::to_string(opts.timeout.count()));
  const std::string what = "GET " + target;
  Exchange x{.method = "GET", .target = target, .body_limit = kListBodyLimit};
  auto reply = co_await impl_->exchange(self, config_, std::move(x));
  auto j = decode(what, std::move(reply));
  if (!ok(j)) co_return error(j);
  json& body = value(j);
  auto bad = [&](const std::string& why) {
    ApiError e;
    e.http_status = 200;
    e.message = why;
    e.error = Error{what + ": " + why};
    return e;
  };
  if (!body.is_object()) co_return bad("the answer is not a list");
  ListPage page;
  if (auto meta = body.find("metadata"); meta != body.end() && meta->is_object()) {
    page.resource_version = meta->value("resourceVersion", "");
    page.continue_token = meta->value("continue", "");
    if (auto rc = meta->find("remainingItemCount"); rc != meta->end() && rc->is_number_integer()) {
      page.remaining_item_count = rc->get<int64_t>();
    }
  }
  auto items = body.find("items");
  if (items != body.end() && !items->is_null()) {
    if (!items->is_array()) co_return bad("items is not an array");
    page.items.reserve(items->size());
    for (auto& item : *items) {
      if (!item.is_object()) co_return bad("an item is not an object");
      item["apiVersion"] = r.api_version();
      item["kind"] = r.kind;
      page.items.push_back(std::move(item));
    }
  }
  co_return page;
}

asio::awaitable<ApiResult<ListPage>> Client::list_all(const Resource& r, const std::string& ns,
                                                      ListOptions opts) {
  auto self = shared_from_this();
  ListPage all;
  for (;;) {
    auto page = co_await list(r, ns, opts);
    if (!ok(page)) co_return error(page);
    ListPage& p = value(page);
    if (all.items.empty()) {
      all.items = std::move(p.items);
    } else {
      all.items.insert(all.items.end(), std::make_move_iterator(p.items.begin()),
                       std::make_move_iterator(p.items.end()));
    }
    all.resource_version = p.resource_version;
    if (p.continue_token.empty()) break;
    opts.continue_token = p.continue_token;
    // A continued list is served from the first page's snapshot; no version with a token.
    opts.resource_version.clear();
    opts.resource_version_match.clear();
  }
  co_return all;
}

asio::awaitable<ApiResult<std::unique_ptr<WatchStream>>> Client::watch(const Resource& r,
                                                                       const std::string& ns,
                                                                       WatchOptions opts) {
  auto self = shared_from_this();
  Impl& m = *impl_;
  std::string target = r.path(ns) + "?watch=1";
  add_query(target, "labelSelector", opts.label_selector);
  add_query(target, "fieldSelector", opts.field_selector);
  add_query(target, "resourceVersion", opts.resource_version);
  if (opts.allow_bookmarks) add_query(target, "allowWatchBookmarks", "true");
  if (opts.send_initial_events) {
    add_query(target, "sendInitialEvents", "true");
    add_query(target, "resourceVersionMatch", "NotOlderThan");
  }
  if (opts.timeout.count() > 0)
    add_query(target, "timeoutSeconds", std::to_string(opts.timeout.count()));
  const std::string what = "GET " + target;
  bool force_token = false;
  for (int attempt = 0;; ++attempt) {
    if (m.shut_down) co_return transport_error(what, Error{"client shut down"});
    auto conn =
        std::make_unique<http::Connection>(io_.get_executor(), m.tls.get(), m.url, m.conn_options);
    std::optional<Registered> opening(std::in_place, *m.streams, conn.get());
    auto st = co_await conn->connect(config_.connect_timeout);
    if (!st) {
      co_return transport_error(what, st.error().wrap(m.url.text));
    }
    http::Request req;
    req.target = target;
    req.headers.emplace_back("Accept", "application/json");
    req.headers.emplace_back("User-Agent", config_.user_agent);
    std::string token = bearer(config_, m.token, m.token_read, m.token_ever_read, force_token);
    if (!token.empty()) req.headers.emplace_back("Authorization", "Bearer " + token);
    auto head = co_await conn->open_stream(std::move(req), config_.request_timeout);
    if (!head) {
      co_return transport_error(what, head.error().wrap(m.url.text));
    }
    if (head->status != 200) {
      auto body = co_await conn->read_body(config_.request_timeout);
      conn->close();
      if (head->status == 401 && !config_.token_file.empty() && attempt == 0) {
        force_token = true;
        continue;
      }
      co_return answer_error(what, head->status, body ? *body : std::string());
    }
    opening.reset();
    std::unique_ptr<WatchStream> s =
        std::make_unique<Stream>(self, std::move(conn), m.streams, "watch " + r.str());
    co_return std::move(s);
  }
}

namespace {

std::string object_name(const json& object) {
  if (!object.is_object()) return "";
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "";
  return meta->value("name", "");
}

}  // namespace

// One request about one object, its answer decoded. Callers pass named locals: GCC 12 frees
// temporaries passed to a coroutine twice.
asio::awaitable<ApiResult<json>> Client::send(std::string method, std::string target,
                                              std::string body, std::string content_type) {
  auto self = shared_from_this();
  const std::string what = method + " " + target;
  Exchange x{.method = std::move(method),
             .target = std::move(target),
             .body = std::move(body),
             .content_type = std::move(content_type)};
  auto reply = co_await impl_->exchange(self, config_, std::move(x));
  co_return decode(what, std::move(reply));
}

asio::awaitable<ApiResult<json>> Client::get(const Resource& r, const std::string& ns,
                                             const std::string& name) {
  const std::string method = "GET", target = r.path(ns) + "/" + url_encode(name), none;
  auto answer = co_await send(method, target, none, none);
  co_return answer;
}

namespace {

// The object as sent: apiVersion and kind filled in when the caller left them out.
std::string object_body(const Resource& r, json& object) {
  if (!object.contains("apiVersion")) object["apiVersion"] = r.api_version();
  if (!object.contains("kind")) object["kind"] = r.kind;
  return object.dump();
}

}  // namespace

asio::awaitable<ApiResult<json>> Client::create(const Resource& r, const std::string& ns,
                                                json object) {
  const std::string method = "POST", target = r.path(ns), body = object_body(r, object),
                    type = "application/json";
  auto answer = co_await send(method, target, body, type);
  co_return answer;
}

asio::awaitable<ApiResult<json>> Client::update(const Resource& r, const std::string& ns,
                                                json object) {
  const std::string method = "PUT", target = r.path(ns) + "/" + url_encode(object_name(object)),
                    body = object_body(r, object), type = "application/json";
  auto answer = co_await send(method, target, body, type);
  co_return answer;
}

asio::awaitable<ApiResult<json>> Client::update_status(const Resource& r, const std::string& ns,
                                                       json object) {
  const std::string method = "PUT",
                    target = r.path(ns) + "/" + url_encode(object_name(object)) + "/status",
                    body = object_body(r, object), type = "application/json";
  auto answer = co_await send(method, target, body, type);
  co_return answer;
}

asio::awaitable<ApiResult<json>> Client::merge_patch(const Resource& r, const std::string& ns,
                                                     const std::string& name, json patch,
                                                     bool status) {
  const std::string method = "PATCH",
                    target = r.path(ns) + "/" + url_encode(name) + (status ? "/status" : ""),
                    body = patch.dump(), type = "application/merge-patch+json";
  auto answer = co_await send(method, target, body, type);
  co_return answer;
}

asio::awaitable<ApiResult<json>> Client::remove(const Resource& r, const std::string& ns,
                                                const std::string& name) {
  const std::string method = "DELETE", target = r.path(ns) + "/" + url_encode(name), none;
  auto answer = co_await send(method, target, none, none);
  co_return answer;
}

}  // namespace netagent::kubeapi
