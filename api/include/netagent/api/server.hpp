#pragma once
// The agent API server: HTTP/1.1 + JSON over a unix socket, dispatching to a Router; the
// connections are the HttpServer's (http_server.hpp, on the agent's io_context). The socket file
// is created with mode 0600 (the API can change what the agent does, so only root may talk to
// it).
//
// Connections are kept alive between requests; a streaming response (newline-delimited JSON in
// HTTP chunks) holds its connection until the producer or the client ends it, and the
// connection is closed afterwards. Connections are capped and time out (Limits, below).
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "netagent/api/http_server.hpp"
#include "netagent/api/router.hpp"
#include "netagent/common/result.hpp"

namespace netagent::api {

// The resource limits of one listener (see HttpServer::Options).
struct ListenerLimits {
  size_t max_connections = 128;  // 0: no cap
  std::chrono::seconds idle_timeout{120};
  std::chrono::seconds request_timeout{10};
  // Receives the listener's warnings (cap reached and left, accept failures).
  std::function<void(const std::string&)> warn;
};

// True when something accepts connections on the unix socket at `path` (a live agent).
bool socket_answers(const std::string& path);

class ApiServer {
 public:
  // Called after every request: method, matched route pattern ("" when none matched), HTTP
  // status and handling time in seconds. For metrics.
  using RequestObserver = std::function<void(const std::string& method, const std::string& route,
                                             int status, double seconds)>;

  ApiServer(boost::asio::io_context& io, const Router& router, ListenerLimits limits = {});
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Listens on the unix socket `path`. An existing file there is replaced only when it is a
  // socket nobody answers on (left behind by an agent that died); otherwise this fails with
  // EADDRINUSE (a live agent answers) or EEXIST (not a socket). The directory must exist.
  Status listen(const std::string& path);
  // Stops accepting, ends every connection and stream, and removes the socket file.
  void stop();
  void on_request(RequestObserver observer);
  const std::string& path() const;
  size_t connections() const;
  HttpServer::Stats stats() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
  std::unique_ptr<HttpServer> http_;
};

}  // namespace netagent::api
