#pragma once
// The stand-in Kubernetes API server of the tests (NOT Kubernetes): an in-memory object store
// with one resourceVersion counter, history for resuming watches, and the REST protocol of the
// kube-apiserver for a fixed table of resources (docs/kubernetes-api.md says what is and is not
// implemented). Everything runs on one io_context thread: no locks.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "netagent/api/http_server.hpp"

namespace netagent::standin {

using json = nlohmann::json;

struct Options {
  std::string token;  // empty: no authentication
  bool watch_list = true;
  // Without watch_list: a server so old that it ignores sendInitialEvents and
  // resourceVersionMatch on a watch (a plain watch from "now" with the current objects as
  // ADDED, no initial-events-end bookmark) instead of refusing them with 422.
  bool watch_list_ignored = false;
  std::chrono::milliseconds bookmark_interval{1000};
  size_t history = 50000;  // events kept for resuming watches
  // Loaded at start when it exists, written by save() (on SIGTERM/SIGINT); empty: memory only.
  std::string snapshot;
};

// One kind of object: served at each of `versions` (same storage).
struct ResourceType {
  std::string group;
  std::vector<std::string> versions;
  std::string resource;  // plural
  std::string singular;
  std::string kind;
  bool namespaced = true;
  std::vector<std::string> short_names;
  bool has_status = false;  // a status subresource
  bool builtin = true;      // list items without kind/apiVersion (CRDs keep them)

  std::string api_version(const std::string& v) const {
    return group.empty() ? v : group + "/" + v;
  }
  // "services", "leases.coordination.k8s.io": the name in messages.
  std::string qualified() const { return group.empty() ? resource : resource + "." + group; }
};

const std::vector<ResourceType>& resource_table();

// An error answered as a metav1.Status.
struct ApiFailure {
  unsigned code;
  std::string reason;
  std::string message;
  json details = json::object();
};

// A parsed labelSelector or fieldSelector: a conjunction of requirements.
struct Requirement {
  enum class Op { Eq, NotEq, In, NotIn, Exists, NotExists };
  std::string key;
  Op op = Op::Eq;
  std::vector<std::string> values;
};
using Selector = std::vector<Requirement>;
Selector parse_label_selector(const std::string& text);  // throws ApiFailure (400)
Selector parse_field_selector(const std::string& text, const ResourceType& type);
bool labels_match(const Selector& s, const json& object);
bool fields_match(const Selector& s, const json& object);

class Server {
 public:
  Server(boost::asio::io_context& io, Options options);
  ~Server();
  // Writes the objects and the version counter to options.snapshot (if set).
  void save() const;
  api::HttpServer::Answer handle(const api::HttpRequest& req,
                                 const api::HttpServer::OpenStream& open_stream);

 private:
  struct Watcher;
  struct Event {
    uint64_t rv;
    const ResourceType* type;
    std::string kind;  // ADDED MODIFIED DELETED
    std::string key;
    json object;  // after (for DELETED: the last state, with the deletion's resourceVersion)
    json prev;    // before (null for ADDED)
  };
  struct Target;  // a parsed request path

  api::HttpServer::Answer route(const api::HttpRequest& req,
                                const api::HttpServer::OpenStream& open_stream);
  api::HttpServer::Answer serve_resource(const api::HttpRequest& req, const Target& t,
                                         const std::map<std::string, std::string>& query,
                                         const api::HttpServer::OpenStream& open_stream);
  json discovery(const std::string& path, bool& found) const;

  json list(const Target& t, const std::map<std::string, std::string>& q);
  api::HttpServer::Answer watch(const api::HttpRequest& req, const Target& t,
                                std::map<std::string, std::string> q,
                                const api::HttpServer::OpenStream& open_stream);
  json get(const Target& t);
  json create(const Target& t, json body);
  json update(const Target& t, json body, bool status);
  json patch(const Target& t, const std::string& content_type, const std::string& body,
             bool status);
  json remove(const Target& t, const std::string& body);
  json remove_collection(const Target& t, const std::map<std::string, std::string>& q);

  // Stores `after` under key (null: deletes) and records the event; returns the stored object.
  json commit(const ResourceType* type, const std::string& key, json after);
  void deliver(Watcher& w, const Event& e);
  void remove_watcher(uint64_t id);
  void arm_bookmark(const std::shared_ptr<Watcher>& w);
  std::string event_line(const std::string& type, json object, const Watcher& w) const;
  json present(json object, const ResourceType& type, const std::string& version) const;
  void check_namespace(const std::string& ns) const;

  // Visits the objects of `type` as of resourceVersion `rv` (>= compacted_) in key order,
  // starting after key `after`, until fn returns false.
  template <class Fn>
  void visit_at(const ResourceType* type, uint64_t rv, const std::string& after, Fn fn) const;

  boost::asio::io_context& io_;
  Options opt_;
  uint64_t rv_ = 1;
  // Every distinct request as RBAC authorizes it (user agent, verb, group, resource with
  // subresource, namespace): GET /standin/audit, so tests can compare what a client used with
  // the RBAC it ships.
  std::set<std::tuple<std::string, std::string, std::string, std::string, std::string>> audit_;
  uint64_t compacted_ = 0;  // history holds every event with rv > compacted_
  std::map<const ResourceType*, std::map<std::string, json>> objects_;
  std::deque<Event> history_;
  std::map<uint64_t, std::shared_ptr<Watcher>> watchers_;
  uint64_t next_watcher_ = 1;
  uint64_t next_ip_ = 10;  // Service clusterIP allocation
  bool dry_run_ = false;   // the request being served has dryRun=All
};

}  // namespace netagent::standin
