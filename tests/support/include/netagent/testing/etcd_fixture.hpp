#pragma once
// Real etcd servers for the ClusterMesh tests: a throwaway PKI made with openssl (a CA, server
// certificates naming the server's address, client certificates), etcd processes with mutual
// TLS on loopback addresses inside a test network namespace, and a guard that moves the test's
// thread into that namespace so the client's sockets live there too (never in the root
// namespace). Data directories sit on tmpfs so that fsync is cheap.
#include <sched.h>

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "netagent/etcd/client.hpp"
#include "netagent/testing/netns.hpp"

namespace netagent::testing {

std::string read_file(const std::string& path);

// A CA and the certificates it signs, as files under a temporary directory.
class TestPki {
 public:
  TestPki();
  ~TestPki();
  const std::string& dir() const { return dir_; }
  // Creates CA `ca` (key ca.key, cert ca.crt).
  void make_ca(const std::string& ca);
  // A certificate signed by `ca` for `name` (name.crt, name.key); server certificates name the
  // IP addresses in `ips`. Server certificates also allow client use: etcd 3.4's gateway dials
  // its own gRPC port with the server certificate.
  void make_cert(const std::string& ca, const std::string& name,
                 const std::vector<std::string>& ips, bool server);
  std::string path(const std::string& file) const { return dir_ + "/" + file; }
  std::string pem(const std::string& file) const { return read_file(path(file)); }
  // Client TLS material: trusted CA `ca`, certificate and key `client`.
  etcd::TlsMaterial client_tls(const std::string& ca, const std::string& client) const;

 private:
  std::string dir_;
};

// One etcd member listening on https://<ip>:2379 (mutual TLS with `ca`) or http when pki is null.
class EtcdServer {
 public:
  EtcdServer(const netagent::testing::NetNs& ns, std::string name, std::string ip,
             const TestPki* pki, std::string ca = "ca", std::string server_cert = "");
  ~EtcdServer();

  void start();
  // SIGTERM (or `sig`) and wait for exit; the data directory stays.
  void stop(int sig = SIGTERM);
  void pause();   // SIGSTOP: accepts TCP connections (kernel backlog) but never answers
  void resume();  // SIGCONT
  bool running() const { return proc_ != nullptr; }
  std::string url() const;
  const std::string& ip() const { return ip_; }
  std::string log() const;

 private:
  const netagent::testing::NetNs& ns_;
  std::string name_, ip_, ca_, server_cert_;
  const TestPki* pki_;
  std::string data_dir_;
  std::string log_path_;
  std::unique_ptr<netagent::testing::Process> proc_;
};

// Moves the calling thread into a network namespace until destroyed.
class EnterNetns {
 public:
  explicit EnterNetns(const netagent::testing::NetNs& ns);
  ~EnterNetns();
  EnterNetns(const EnterNetns&) = delete;
  EnterNetns& operator=(const EnterNetns&) = delete;

 private:
  int saved_ = -1;
};

// Runs the io_context until `aw` completes (or `timeout` passes: throws).
template <typename T>
T run_co(boost::asio::io_context& io, boost::asio::awaitable<T> aw,
         std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  // co_spawn's handler needs a default-constructible T; Result<T> is not, so keep it here.
  auto out = std::make_shared<std::optional<T>>();
  boost::asio::co_spawn(
      io,
      [out, aw = std::move(aw)]() mutable -> boost::asio::awaitable<void> {
        out->emplace(co_await std::move(aw));
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!*out && std::chrono::steady_clock::now() < deadline) {
    io.run_one_for(std::chrono::milliseconds(20));
    if (io.stopped()) io.restart();
  }
  if (!*out) throw std::runtime_error("run_co: timed out");
  return std::move(**out);
}

// Runs the io_context until cond() holds; false on timeout.
bool run_until(boost::asio::io_context& io, const std::function<bool()>& cond,
               std::chrono::milliseconds timeout);
// Runs the io_context for `d`.
void run_for(boost::asio::io_context& io, std::chrono::milliseconds d);

// Waits (running the io_context) until a plain range on `client` succeeds.
bool wait_ready(boost::asio::io_context& io, const std::shared_ptr<etcd::EtcdClient>& client,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace netagent::testing
