#pragma once
// The agent API's routing: "METHOD /path/{param}" -> handler. Handlers take a parsed request
// (path params, query, JSON body) and return JSON or an ApiError; the server turns errors into
// {"error": {"status", "code", "message"}} with the matching HTTP status. The router knows
// nothing about sockets, so it is tested on its own; the server (server.hpp) runs it over
// HTTP/1.1 on the agent's unix socket.
//
// Handlers run on the agent's control thread (the io_context), one at a time: they may read the
// state of reconcilers without locks, and must not block.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "netagent/api/stream.hpp"

namespace netagent::api {

enum class Method { Get, Post, Put, Delete };
const char* method_name(Method m);  // "GET", ...

struct ApiError {
  int status = 500;     // HTTP status
  std::string code;     // stable machine-readable reason, e.g. "not_found"
  std::string message;  // what went wrong and, where it helps, what to do

  nlohmann::json to_json() const;  // {"error": {"status", "code", "message"}}
};

ApiError bad_request(std::string message);  // 400 bad_request
ApiError not_found(std::string message);    // 404 not_found
ApiError conflict(std::string message);     // 409 conflict
ApiError internal(std::string message);     // 500 internal
ApiError unavailable(std::string message);  // 503 unavailable

// A handler's answer: a JSON body (status 200 unless given) or an ApiError.
class Reply {
 public:
  Reply(nlohmann::json body, int status = 200)  // NOLINT(google-explicit-constructor)
      : status_(status), body_(std::move(body)) {}
  Reply(ApiError error)  // NOLINT(google-explicit-constructor)
      : status_(error.status), body_(error.to_json()), error_(std::move(error)) {}

  int status() const { return status_; }
  const nlohmann::json& body() const { return body_; }
  bool is_error() const { return error_.has_value(); }
  const std::optional<ApiError>& error() const { return error_; }

 private:
  int status_;
  nlohmann::json body_;
  std::optional<ApiError> error_;
};

struct Request {
  Method method = Method::Get;
  std::string path;                           // decoded path, without the query
  std::map<std::string, std::string> params;  // from {name} segments of the route
  std::map<std::string, std::string> query;   // decoded ?k=v pairs (last one wins)
  nlohmann::json body;                        // null when the request has no body

  // The {name} parameter (routes guarantee it exists).
  const std::string& param(const std::string& name) const;
  std::optional<std::string> query_value(const std::string& name) const;
};

using Handler = std::function<Reply(const Request&)>;
// A streaming handler validates the request and either returns an ApiError (sent as a normal
// error reply) or std::nullopt, after which the response is a chunked stream of JSON lines that
// the handler (or whoever it hands the Stream to) writes until either side closes it.
using StreamHandler =
    std::function<std::optional<ApiError>(const Request&, std::shared_ptr<Stream>)>;

struct RouteInfo {
  Method method;
  std::string pattern;  // "/v1/endpoints/{id}"
  bool streaming;
};

class Router {
 public:
  // Patterns are absolute paths whose segments are literals or {name}. Registering the same
  // method and pattern twice is a programming error (std::logic_error, at start-up).
  void get(const std::string& pattern, Handler h) { add(Method::Get, pattern, std::move(h)); }
  void post(const std::string& pattern, Handler h) { add(Method::Post, pattern, std::move(h)); }
  void put(const std::string& pattern, Handler h) { add(Method::Put, pattern, std::move(h)); }
  void del(const std::string& pattern, Handler h) { add(Method::Delete, pattern, std::move(h)); }
  void add(Method method, const std::string& pattern, Handler h);
  // A GET route whose response is a stream of newline-delimited JSON.
  void stream(const std::string& pattern, StreamHandler h);

  struct Match {
    const Handler* handler = nullptr;       // set for normal routes
    const StreamHandler* stream = nullptr;  // set for streaming routes
    Request request;                        // params, query and path filled in
    std::string pattern;                    // the matched route, for metrics labels
  };
  // Finds the route for `target` ("/v1/x?y=z"); a 404 or 405 ApiError when none matches.
  // The body is not parsed here (see parse_body).
  std::variant<Match, ApiError> match(Method method, std::string_view target) const;

  // Dispatches a non-streaming request completely: match, parse the JSON body, call the handler,
  // and turn exceptions into errors (a JSON access error on the body is a 400, anything else a
  // 500) so that no handler can take the agent down.
  Reply handle(Method method, std::string_view target, std::string_view body) const;

  std::vector<RouteInfo> routes() const;

 private:
  struct Route {
    Method method;
    std::string pattern;
    std::vector<std::string> segments;
    Handler handler;
    StreamHandler stream;
  };
  std::vector<Route> routes_;
};

// Parses a request body as JSON: empty -> null; bad JSON -> 400 naming the parse error.
std::variant<nlohmann::json, ApiError> parse_body(std::string_view body);

}  // namespace netagent::api
