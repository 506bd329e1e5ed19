#pragma once
// Real etcd servers for the ClusterMesh tests: a throwaway PKI made with openssl (a CA, server
// certificates naming the server's address, client certificates), etcd processes with mutual
// TLS on loopback addresses inside a test network namespace, and a guard that moves the test's
// thread into that namespace so the client's sockets live there too (never in the root
// namespace). Data directories sit on tmpfs so that fsync is cheap.
#include <gtest/gtest.h>
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
#include <utility>
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

// The stringData entries of a `cilium-clustermesh` Secret (Cilium's layout) for cluster `name`
// whose etcd listens on https://<ip>:2379: its etcd configuration, naming the files
// <files_dir><name>.etcd-client-ca.crt, .etcd-client.crt and .etcd-client.key, and those files,
// made by `pki` as CA <name>-ca and client certificate <name>-client.
std::string clustermesh_secret_entries(const TestPki& pki, const std::string& name,
                                       const std::string& ip, const std::string& files_dir);

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

// A suite of tests against real etcd servers on loopback addresses of a network namespace of
// its own, with the test's thread inside it. The suite's PKI (make_pki) holds CAs "ca" and
// "other-ca", a client certificate "client" and server certificates, all signed by "ca".
class EtcdNetnsTest : public ::testing::Test {
 protected:
  explicit EtcdNetnsTest(std::string netns) : netns_(std::move(netns)) {}

  // From the suite's SetUpTestSuite: one server certificate per (name, IP address).
  static void make_pki(const std::vector<std::pair<std::string, std::string>>& servers);
  static void TearDownTestSuite();

  // Skips (fails in CI) without root or etcd; otherwise creates the namespace and enters it.
  // A derived SetUp calls it first and returns when IsSkipped() or HasFatalFailure().
  void SetUp() override;
  // A derived TearDown releases its clients and servers first, then calls this: leaves the
  // namespace and removes it.
  void TearDown() override;

  // An etcd member serving certificate `name` (mutual TLS with "ca") on https://<ip>:2379.
  std::unique_ptr<EtcdServer> start_etcd(const std::string& name, const std::string& ip);

  static TestPki* pki_;
  boost::asio::io_context io_;
  std::unique_ptr<NetNs> ns_;
  std::unique_ptr<EnterNetns> enter_;

 private:
  std::string netns_;
};

}  // namespace netagent::testing
