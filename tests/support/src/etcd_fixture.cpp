#include "netagent/testing/etcd_fixture.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "netagent/testing/privileged.hpp"

namespace netagent::testing {

using netagent::testing::sh_ok;

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TestPki::TestPki() {
  char tmpl[] = "/dev/shm/netagent-pki-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
  dir_ = tmpl;
}

TestPki::~TestPki() {
  if (!std::getenv("NETAGENT_KEEP_TEST_DIRS")) netagent::testing::sh("rm -rf " + dir_);
}

void TestPki::make_ca(const std::string& ca) {
  sh_ok("cd " + dir_ +
        " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " +
        ca + ".key -out " + ca + ".crt -days 2 -subj /CN=" + ca + " 2>&1");
}

void TestPki::make_cert(const std::string& ca, const std::string& name,
                        const std::vector<std::string>& ips, bool server) {
  std::string ext = name + ".ext";
  std::string body;
  if (server) {
    body = "subjectAltName=DNS:localhost";
    for (const auto& ip : ips)
      body += ",IP:" + ip;
    body += "\nextendedKeyUsage=serverAuth,clientAuth\n";
  } else {
    body = "extendedKeyUsage=clientAuth\n";
  }
  std::ofstream(path(ext)) << body;
  sh_ok("cd " + dir_ +
        " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " + name +
        ".key -out " + name + ".csr -subj /CN=" + name + " 2>&1 && openssl x509 -req -in " + name +
        ".csr -CA " + ca + ".crt -CAkey " + ca + ".key -CAcreateserial -out " + name +
        ".crt -days 2 -extfile " + ext + " 2>&1");
}

namespace {

// `text` as a YAML block scalar's lines, indented by n.
std::string indent(const std::string& text, int n) {
  std::string pad(n, ' '), out;
  size_t pos = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    out += pad + text.substr(pos, nl - pos) + "\n";
    pos = nl + 1;
  }
  return out;
}

}  // namespace

std::string clustermesh_secret_entries(const TestPki& pki, const std::string& name,
                                       const std::string& ip, const std::string& files_dir) {
  const std::string files = files_dir + name;
  std::string y = "  " + name + ": |\n" +
                  indent("endpoints:\n- https://" + ip + ":2379\ntrusted-ca-file: " + files +
                             ".etcd-client-ca.crt\ncert-file: " + files +
                             ".etcd-client.crt\nkey-file: " + files + ".etcd-client.key",
                         4);
  y += "  " + name + ".etcd-client-ca.crt: |\n" + indent(pki.pem(name + "-ca.crt"), 4);
  y += "  " + name + ".etcd-client.crt: |\n" + indent(pki.pem(name + "-client.crt"), 4);
  y += "  " + name + ".etcd-client.key: |\n" + indent(pki.pem(name + "-client.key"), 4);
  return y;
}

etcd::TlsMaterial TestPki::client_tls(const std::string& ca, const std::string& client) const {
  return etcd::TlsMaterial{pem(ca + ".crt"), pem(client + ".crt"), pem(client + ".key")};
}

EtcdServer::EtcdServer(const netagent::testing::NetNs& ns, std::string name, std::string ip,
                       const TestPki* pki, std::string ca, std::string server_cert)
    : ns_(ns),
      name_(std::move(name)),
      ip_(std::move(ip)),
      ca_(std::move(ca)),
      server_cert_(server_cert.empty() ? name_ : std::move(server_cert)),
      pki_(pki) {
  std::string tmpl = "/dev/shm/netagent-etcd-" + name_ + "-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp");
  data_dir_ = tmpl + "/data";
  log_path_ = tmpl + "/etcd.log";
}

EtcdServer::~EtcdServer() {
  if (proc_) proc_->stop(SIGKILL);
  proc_.reset();
  if (!std::getenv("NETAGENT_KEEP_TEST_DIRS")) {
    netagent::testing::sh("rm -rf " + data_dir_.substr(0, data_dir_.rfind('/')));
  }
}

std::string EtcdServer::url() const {
  return (pki_ ? "https://" : "http://") + ip_ + ":2379";
}

void EtcdServer::start() {
  if (proc_) return;
  std::string peer = "http://" + ip_ + ":2380";
  std::vector<std::string> argv = {"etcd",
                                   "--name",
                                   name_,
                                   "--data-dir",
                                   data_dir_,
                                   "--listen-client-urls",
                                   url(),
                                   "--advertise-client-urls",
                                   url(),
                                   "--listen-peer-urls",
                                   peer,
                                   "--initial-advertise-peer-urls",
                                   peer,
                                   "--initial-cluster",
                                   name_ + "=" + peer,
                                   "--log-level",
                                   "error"};
  if (pki_) {
    for (const auto& a :
         {std::string("--cert-file"), pki_->path(server_cert_ + ".crt"), std::string("--key-file"),
          pki_->path(server_cert_ + ".key"), std::string("--trusted-ca-file"),
          pki_->path(ca_ + ".crt"), std::string("--client-cert-auth")}) {
      argv.push_back(a);
    }
  }
  proc_ = std::make_unique<netagent::testing::Process>(argv, &ns_, log_path_);
}

void EtcdServer::stop(int sig) {
  if (!proc_) return;
  proc_->stop(sig);
  proc_.reset();
}

void EtcdServer::pause() {
  if (proc_) proc_->signal(SIGSTOP);
}
void EtcdServer::resume() {
  if (proc_) proc_->signal(SIGCONT);
}

std::string EtcdServer::log() const {
  try {
    return read_file(log_path_);
  } catch (...) {
    return "";
  }
}

EnterNetns::EnterNetns(const netagent::testing::NetNs& ns) {
  saved_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  int fd = open(ns.path().c_str(), O_RDONLY | O_CLOEXEC);
  if (saved_ < 0 || fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
    if (fd >= 0) close(fd);
    throw std::runtime_error("setns into " + ns.path() + " failed");
  }
  close(fd);
}

EnterNetns::~EnterNetns() {
  if (saved_ >= 0) {
    if (setns(saved_, CLONE_NEWNET) != 0) std::abort();  // never leave the thread elsewhere
    close(saved_);
  }
}

bool run_until(boost::asio::io_context& io, const std::function<bool()>& cond,
               std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    io.run_one_for(std::chrono::milliseconds(10));
    if (io.stopped()) io.restart();
  }
  return true;
}

void run_for(boost::asio::io_context& io, std::chrono::milliseconds d) {
  auto deadline = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < deadline) {
    io.run_one_for(std::chrono::milliseconds(10));
    if (io.stopped()) io.restart();
  }
}

bool wait_ready(boost::asio::io_context& io, const std::shared_ptr<etcd::EtcdClient>& client,
                std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = run_co(io, client->range("health-probe"), timeout);
    if (r.ok()) return true;
    run_for(io, std::chrono::milliseconds(50));
  }
  return false;
}

TestPki* EtcdNetnsTest::pki_ = nullptr;

void EtcdNetnsTest::make_pki(const std::vector<std::pair<std::string, std::string>>& servers) {
  pki_ = new TestPki();
  pki_->make_ca("ca");
  pki_->make_ca("other-ca");
  for (const auto& [name, ip] : servers)
    pki_->make_cert("ca", name, {ip}, true);
  pki_->make_cert("ca", "client", {}, false);
}

void EtcdNetnsTest::TearDownTestSuite() {
  delete pki_;
  pki_ = nullptr;
}

void EtcdNetnsTest::SetUp() {
  NETAGENT_REQUIRE_ROOT();
  NETAGENT_REQUIRE(sh("command -v etcd >/dev/null") == 0,
                   "etcd (Debian etcd-server) is not installed");
  ns_ = std::make_unique<NetNs>(netns_);
  enter_ = std::make_unique<EnterNetns>(*ns_);
}

void EtcdNetnsTest::TearDown() {
  enter_.reset();
  ns_.reset();
}

std::unique_ptr<EtcdServer> EtcdNetnsTest::start_etcd(const std::string& name,
                                                      const std::string& ip) {
  auto e = std::make_unique<EtcdServer>(*ns_, name, ip, pki_);
  e->start();
  return e;
}

}  // namespace netagent::testing
