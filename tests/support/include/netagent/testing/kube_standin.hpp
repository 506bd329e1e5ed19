#pragma once
// The stand-in Kubernetes API server (tests/support/src/kube_standin, NOT Kubernetes; see
// docs/kubernetes-api.md) as a test fixture: starts netagent-kube-standin, optionally inside a
// network namespace, reads the address it bound from its first line, and talks to it with a
// small synchronous HTTP client (Boost.Beast) to put objects in place.
//
// restart() starts the server again on the same address: empty (with the default namespaces)
// after a SIGKILL, which to a client is an API server that lost its data (new resourceVersions:
// its watches end and it lists again); or, with Options::snapshot, restart(true) stops it with
// SIGTERM (it saves its objects and version counter) and the new one loads them: an API server
// that restarted with its storage intact (older versions are compacted: resuming watches get
// 410, as from a real API server's fresh watch cache).
#include <sys/types.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "netagent/testing/netns.hpp"

namespace netagent::testing {

struct KubeResponse {
  unsigned status = 0;  // 0: no answer (connection failed)
  std::string body;
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

class KubeStandin {
 public:
  struct Options {
    std::string listen = "127.0.0.1:0";
    const NetNs* netns = nullptr;  // run (and talk to it) inside this namespace
    std::string token;
    bool watch_list = true;
    bool watch_list_ignored = false;  // with !watch_list: ignore it rather than answer 422
    double bookmark_interval = 1;
    size_t history = 0;     // 0: the server's default
    bool snapshot = false;  // --snapshot in the fixture's directory, for restart(true)
    // HTTPS: with a server certificate and key (PEM files; the certificate must name the listen
    // address), `socat OPENSSL-LISTEN` on a kernel-chosen port of the same address forwards to
    // the stand-in (which speaks plain HTTP only). It outlives restart(), so https_url() stays.
    std::string tls_cert, tls_key;
    std::vector<std::string> extra_args;
  };

  KubeStandin();
  explicit KubeStandin(Options options);
  ~KubeStandin();
  KubeStandin(const KubeStandin&) = delete;
  KubeStandin& operator=(const KubeStandin&) = delete;

  std::string address() const { return address_; }  // "127.0.0.1:41234"
  std::string url() const { return "http://" + address_; }
  std::string tls_address() const { return tls_address_; }  // empty without Options::tls_cert
  std::string https_url() const { return "https://" + tls_address_; }
  pid_t pid() const;
  const std::string& log_path() const { return log_; }
  std::string log() const;

  // Sends sig (SIGKILL: the server dies at once) and waits for the process to end.
  void kill(int sig = SIGKILL);
  // Starts the server again on the same address: empty after a SIGKILL, or (keep_state, which
  // needs Options::snapshot) with its objects after a SIGTERM.
  void restart(bool keep_state = false);

  // One request; the body is sent with `content_type`. Throws only when no connection.
  KubeResponse request(const std::string& method, const std::string& target,
                       const std::string& body = "",
                       const std::string& content_type = "application/json") const;

  // The collection path of an object ("/api/v1/namespaces/default/services"), from its kind
  // and apiVersion (namespace "default" when a namespaced object has none).
  static std::string collection_path(const nlohmann::json& object);
  static std::string object_path(const nlohmann::json& object);

  // Creates the object, or replaces it (at its current resourceVersion) when it exists; returns
  // what the server stored. Throws std::runtime_error with the server's Status on failure.
  nlohmann::json apply(const nlohmann::json& object);
  // Sets the object's .status through the status subresource; returns what the server stored.
  nlohmann::json apply_status(const nlohmann::json& object);
  nlohmann::json get(const nlohmann::json& object);  // null when not found
  void remove(const nlohmann::json& object);         // absent is fine
  void create_namespace(const std::string& name);
  // POST /standin/compact, /standin/cut-watches; GET /standin/stats.
  void compact();
  void cut_watches();
  nlohmann::json stats();

 private:
  void start();
  void start_tls_front();
  struct Connection;

  mutable std::unique_ptr<Connection> conn_;

  Options opt_;
  std::unique_ptr<TempDir> dir_;
  std::string log_;
  std::unique_ptr<Process> process_;
  std::string address_;
  std::unique_ptr<Process> tls_front_;
  std::string tls_address_;
};

}  // namespace netagent::testing
