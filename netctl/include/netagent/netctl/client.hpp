#pragma once
// The agent API client netctl (and tests) use: HTTP/1.1 + JSON over the agent's unix socket,
// with Boost.Beast. Each call opens its own connection and is bounded by a timeout; streams are
// read line by line until the agent ends them or the caller stops.
#include <chrono>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "netagent/common/result.hpp"

namespace netagent::netctl {

inline constexpr const char* kDefaultSocket = "/var/run/netagent/api.sock";

struct Response {
  int status = 0;
  std::string content_type;
  nlohmann::json body;  // null when the body was empty
};

class Client {
 public:
  explicit Client(std::string socket_path,
                  std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // One request. Fails only when the agent cannot be reached or does not speak HTTP/JSON; an
  // API error comes back as a Response with its status and {"error": ...} body.
  Result<Response> request(const std::string& method, const std::string& target,
                           const nlohmann::json* body = nullptr) const;

  // 2xx -> the JSON body; anything else -> an Error with the API's message. Errors from an agent
  // that answered have errnum 0; errors reaching it carry the errno (ECONNREFUSED, ENOENT, ...).
  Result<nlohmann::json> get(const std::string& target) const;
  Result<nlohmann::json> post(const std::string& target, const nlohmann::json& body) const;
  Result<nlohmann::json> put(const std::string& target, const nlohmann::json& body) const;
  Result<nlohmann::json> del(const std::string& target) const;

  // Reads a streaming endpoint (newline-delimited JSON): calls on_line for each line until the
  // agent ends the stream (ok) or on_line returns false (ok, the connection is closed).
  Status stream(const std::string& target,
                const std::function<bool(const nlohmann::json&)>& on_line) const;

  const std::string& socket_path() const { return path_; }

 private:
  Result<nlohmann::json> call(const std::string& method, const std::string& target,
                              const nlohmann::json* body) const;
  std::string path_;
  std::chrono::milliseconds timeout_;
};

// "cannot reach netagent at PATH: connection refused — is the agent running?
// (--socket/NETCTL_SOCKET)" and the like, for errno values from connect().
std::string unreachable_message(const std::string& path, int errnum);

// The message of an API error body ({"error": {"status", "code", "message"}}), or a description
// of an unexpected body.
std::string error_message(const Response& r);

}  // namespace netagent::netctl
