// Where the Kubernetes API client finds its server and credentials: in-cluster, kubeconfig and
// an explicit server address, from files in a temp dir.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "netagent/common/base64.hpp"
#include "netagent/kubeapi/config.hpp"

using namespace netagent;
using namespace netagent::kubeapi;

namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/kubeapi-config-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string write(const std::string& name, const std::string& text) const {
    std::string p = path_ + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(p).parent_path());
    std::ofstream(p) << text;
    return p;
  }

 private:
  std::string path_;
};

const char* kCa = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";

class EnvGuard {
 public:
  EnvGuard(const char* name, const char* value) : name_(name) {
    if (const char* old = getenv(name)) old_ = old;
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~EnvGuard() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace

TEST(KubeConfigTest, InClusterReadsEnvAndServiceAccountFiles) {
  TempDir d;
  InClusterPaths p{d.write("token", "tok-1\n"), d.write("ca.crt", kCa),
                   d.write("namespace", "kube-system\n")};
  EnvGuard h("KUBERNETES_SERVICE_HOST", "10.96.0.1");
  EnvGuard port("KUBERNETES_SERVICE_PORT", "443");
  auto c = in_cluster_config(p);
  ASSERT_TRUE(c) << c.error().str();
  EXPECT_EQ(c->server, "https://10.96.0.1:443");
  EXPECT_EQ(c->origin, "in-cluster");
  EXPECT_EQ(c->token_file, p.token);  // re-read as it rotates, not copied
  EXPECT_TRUE(c->token.empty());
  EXPECT_EQ(c->ca_pem, kCa);
  EXPECT_EQ(c->ns, "kube-system");
}

TEST(KubeConfigTest, InClusterBracketsAnIpv6Host) {
  TempDir d;
  InClusterPaths p{d.write("token", "t"), d.write("ca.crt", kCa), d.path() + "/none"};
  EnvGuard h("KUBERNETES_SERVICE_HOST", "fd00:10:96::1");
  EnvGuard port("KUBERNETES_SERVICE_PORT", "6443");
  auto c = in_cluster_config(p);
  ASSERT_TRUE(c) << c.error().str();
  EXPECT_EQ(c->server, "https://[fd00:10:96::1]:6443");
  EXPECT_EQ(c->ns, "");  // no namespace file: fine
}

TEST(KubeConfigTest, InClusterErrorsNameWhatIsMissing) {
  TempDir d;
  InClusterPaths p{d.path() + "/token", d.write("ca.crt", kCa), d.path() + "/ns"};
  {
    EnvGuard h("KUBERNETES_SERVICE_HOST", nullptr);
    auto c = in_cluster_config(p);
    ASSERT_FALSE(c);
    EXPECT_NE(c.error().str().find("KUBERNETES_SERVICE_HOST"), std::string::npos);
  }
  EnvGuard h("KUBERNETES_SERVICE_HOST", "10.96.0.1");
  {
    EnvGuard port("KUBERNETES_SERVICE_PORT", nullptr);
    auto c = in_cluster_config(p);
    ASSERT_FALSE(c);
    EXPECT_NE(c.error().str().find("KUBERNETES_SERVICE_PORT"), std::string::npos);
  }
  EnvGuard port("KUBERNETES_SERVICE_PORT", "443");
  auto c = in_cluster_config(p);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().str().find(p.token), std::string::npos) << c.error().str();
  d.write("token", "t");
  p.ca = d.path() + "/missing-ca.crt";
  c = in_cluster_config(p);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().str().find("missing-ca.crt"), std::string::npos) << c.error().str();
}

TEST(KubeConfigTest, KubeconfigCurrentContextWithDataFields) {
  TempDir d;
  std::string path = d.write("config", R"(apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: dev
  cluster: {server: "https://dev:6443"}
- name: prod
  cluster:
    server: https://10.25.11.10:6443
    certificate-authority-data: )" + base64_encode(kCa) +
                                           R"(
    tls-server-name: kubernetes.default
contexts:
- name: dev
  context: {cluster: dev, user: dev}
- name: prod
  context: {cluster: prod, user: admin, namespace: apps}
users:
- name: dev
  user: {token: dev-token}
- name: admin
  user:
    client-certificate-data: )" + base64_encode("CERT") +
                                           R"(
    client-key-data: )" + base64_encode("KEY") +
                                           R"(
)");
  auto c = kubeconfig_config(path);
  ASSERT_TRUE(c) << c.error().str();
  EXPECT_EQ(c->server, "https://10.25.11.10:6443");
  EXPECT_EQ(c->ca_pem, kCa);
  EXPECT_EQ(c->tls_server_name, "kubernetes.default");
  EXPECT_EQ(c->client_cert_pem, "CERT");
  EXPECT_EQ(c->client_key_pem, "KEY");
  EXPECT_EQ(c->ns, "apps");
  EXPECT_EQ(c->origin, "kubeconfig " + path + " (context prod)");

  auto dev = kubeconfig_config(path, "dev");
  ASSERT_TRUE(dev) << dev.error().str();
  EXPECT_EQ(dev->server, "https://dev:6443");
  EXPECT_EQ(dev->token, "dev-token");
  EXPECT_TRUE(dev->ca_pem.empty());

  auto none = kubeconfig_config(path, "staging");
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().str().find("no context \"staging\""), std::string::npos);
}

TEST(KubeConfigTest, KubeconfigRelativePathsAreRelativeToItsDirectory) {
  TempDir d;
  d.write("pki/ca.crt", kCa);
  d.write("pki/admin.crt", "CERT");
  d.write("pki/admin.key", "KEY");
  d.write("token", "file-token\n");
  std::string path = d.write("kube/config", R"(current-context: c
clusters:
- name: k
  cluster:
    server: https://[fd00::10]:6443
    certificate-authority: ../pki/ca.crt
    insecure-skip-tls-verify: false
contexts:
- name: c
  context: {cluster: k, user: u}
users:
- name: u
  user:
    client-certificate: ../pki/admin.crt
    client-key: )" + d.path() + R"(/pki/admin.key
    tokenFile: ../token
)");
  auto c = kubeconfig_config(path);
  ASSERT_TRUE(c) << c.error().str();
  EXPECT_EQ(c->server, "https://[fd00::10]:6443");
  EXPECT_EQ(c->ca_pem, kCa);
  EXPECT_EQ(c->client_cert_pem, "CERT");
  EXPECT_EQ(c->client_key_pem, "KEY");
  EXPECT_EQ(c->token_file, d.path() + "/kube/../token");
  EXPECT_FALSE(c->insecure_skip_tls_verify);
}

TEST(KubeConfigTest, KubeconfigExecAndAuthProviderAreErrorsNamingTheUser) {
  TempDir d;
  std::string head = R"(current-context: c
clusters:
- name: k
  cluster: {server: "https://k:6443", insecure-skip-tls-verify: true}
contexts:
- name: c
  context: {cluster: k, user: cloud}
users:
- name: cloud
  user:
)";
  auto exec =
      kubeconfig_config(d.write("exec", head + "    exec: {command: gke-gcloud-auth-plugin}\n"));
  ASSERT_FALSE(exec);
  EXPECT_NE(exec.error().str().find("user \"cloud\": exec"), std::string::npos)
      << exec.error().str();
  auto ap = kubeconfig_config(d.write("ap", head + "    auth-provider: {name: oidc}\n"));
  ASSERT_FALSE(ap);
  EXPECT_NE(ap.error().str().find("user \"cloud\": auth-provider"), std::string::npos);
  auto ok = kubeconfig_config(d.write("ok", head + "    token: t\n"));
  ASSERT_TRUE(ok) << ok.error().str();
  EXPECT_TRUE(ok->insecure_skip_tls_verify);

  auto missing = kubeconfig_config(d.path() + "/nope");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().str().find("nope"), std::string::npos);
  auto bad = kubeconfig_config(d.write("bad", "clusters: [\n"));
  ASSERT_FALSE(bad);
  auto bad_data = kubeconfig_config(d.write("bd", R"(current-context: c
clusters:
- name: k
  cluster: {server: "https://k:6443", certificate-authority-data: "!!"}
contexts:
- name: c
  context: {cluster: k}
)"));
  ASSERT_FALSE(bad_data);
  EXPECT_NE(bad_data.error().str().find("certificate-authority-data"), std::string::npos);
}

TEST(KubeConfigTest, WithServerForms) {
  ClientConfig base;
  base.token = "keep";
  base.origin = "in-cluster";
  struct Case {
    const char* in;
    const char* url;
  } cases[] = {
      {"https://10.0.0.1:6443", "https://10.0.0.1:6443"},
      {"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
      {"10.0.0.1:443", "https://10.0.0.1:443"},
      {"api.example", "https://api.example:6443"},
      {"fd00::1", "https://[fd00::1]:6443"},
      {"[fd00::1]", "https://[fd00::1]:6443"},
      {"[fd00::1]:443", "https://[fd00::1]:443"},
  };
  for (const auto& c : cases) {
    auto r = with_server(base, c.in);
    ASSERT_TRUE(r) << c.in << ": " << r.error().str();
    EXPECT_EQ(r->server, c.url) << c.in;
    EXPECT_EQ(r->token, "keep");
    EXPECT_NE(r->origin.find("in-cluster"), std::string::npos);
  }
  EXPECT_FALSE(with_server(base, ""));
  EXPECT_FALSE(with_server(base, "ftp://x"));
  EXPECT_FALSE(with_server(base, "host:notaport"));
  EXPECT_FALSE(with_server(base, "[fd00::1"));
}
