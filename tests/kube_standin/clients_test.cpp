// Real clients written by others against the stand-in API server: the machine's kubectl and
// Debian's python3-kubernetes (scripts/install-deps.sh). If they work, the stand-in speaks the
// protocol, not just what our own client expects.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>

#include "netagent/testing/kube_standin.hpp"
#include "netagent/testing/privileged.hpp"

namespace netagent::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

bool have_kubectl() {
  return sh("command -v kubectl >/dev/null 2>&1") == 0;
}

class KubectlTest : public ::testing::Test {
 protected:
  void SetUp() override { NETAGENT_REQUIRE(have_kubectl(), "kubectl is not installed"); }

  // kubectl against the stand-in: no kubeconfig, a cache of its own; plain http, so no
  // credentials. Returns the exit status; output (stdout and stderr) in *out.
  int kubectl(const std::string& args, std::string* out) {
    return sh(prefix() + args + " 2>&1", out);
  }
  std::string kubectl_ok(const std::string& args) {
    std::string out;
    int rc = kubectl(args, &out);
    EXPECT_EQ(rc, 0) << "kubectl " << args << ": " << out;
    return out;
  }
  std::string prefix() const {
    return "KUBECONFIG=/dev/null kubectl --server=" + api.url() + " --cache-dir=" + dir.path() +
           "/cache --request-timeout=20s ";
  }
  std::string write(const std::string& name, const std::string& text) {
    std::string path = dir.path() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  TempDir dir{"kubectl-standin"};
  KubeStandin api;
};

const char* kManifests = R"(apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
  labels: {app: web}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: shop
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
endpoints:
- addresses: [10.0.1.5]
  conditions: {ready: true}
ports:
- {name: http, port: 8080, protocol: TCP}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: allow-web
  namespace: shop
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: client}}]
)";

// Default validation (strict): kubectl reads /openapi/v3 and leaves validation to the server.
TEST_F(KubectlTest, ApplyGetDelete) {
  std::string file = write("all.yaml", kManifests);
  std::string out = kubectl_ok("apply -f " + file);
  EXPECT_NE(out.find("service/web created"), std::string::npos) << out;
  EXPECT_NE(out.find("ciliumnetworkpolicy.cilium.io/allow-web created"), std::string::npos) << out;

  json svcs = json::parse(kubectl_ok("get svc -A -o json"));
  ASSERT_EQ(svcs["items"].size(), 1u);
  EXPECT_EQ(svcs["items"][0]["metadata"]["namespace"], "shop");
  EXPECT_EQ(svcs["items"][0]["spec"]["ports"][0]["targetPort"], 8080);
  json slices = json::parse(kubectl_ok("get endpointslices -n shop -o json"));
  EXPECT_EQ(slices["items"][0]["endpoints"][0]["addresses"][0], "10.0.1.5");
  json cnp = json::parse(kubectl_ok("get cnp -n shop allow-web -o json"));
  EXPECT_EQ(cnp["spec"]["endpointSelector"]["matchLabels"]["app"], "web");

  // Applying a change: a strategic merge patch from kubectl, ports merged by key.
  std::string changed = kManifests;
  changed.replace(changed.find("targetPort: 8080"), 16, "targetPort: 9090");
  out = kubectl_ok("apply -f " + write("changed.yaml", changed));
  EXPECT_NE(out.find("service/web configured"), std::string::npos) << out;
  json svc = json::parse(kubectl_ok("get svc -n shop web -o json"));
  ASSERT_EQ(svc["spec"]["ports"].size(), 1u);
  EXPECT_EQ(svc["spec"]["ports"][0]["targetPort"], 9090);
  EXPECT_EQ(svc["spec"]["ports"][0]["name"], "http");

  json apis = json::parse(kubectl_ok("get --raw /apis"));
  EXPECT_EQ(apis["kind"], "APIGroupList");

  out = kubectl_ok("delete -n shop svc web");
  EXPECT_NE(out.find("deleted"), std::string::npos);
  std::string err;
  EXPECT_NE(kubectl("get -n shop svc web", &err), 0);
  EXPECT_NE(err.find("NotFound"), std::string::npos) << err;
  kubectl_ok("delete -f " + file + " --ignore-not-found");
  EXPECT_EQ(json::parse(kubectl_ok("get cnp -A -o json"))["items"].size(), 0u);
}

TEST_F(KubectlTest, PatchMergeAndStatusSubresource) {
  kubectl_ok("apply -f " + write("all.yaml", kManifests));
  kubectl_ok(R"(patch -n shop svc web --type=merge -p '{"metadata":{"labels":{"tier":"fe"}}}')");
  kubectl_ok(R"(patch -n shop svc web --subresource=status --type=merge )"
             R"(-p '{"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.10"}]}}}')");
  json svc = api.get({{"apiVersion", "v1"},
                      {"kind", "Service"},
                      {"metadata", {{"name", "web"}, {"namespace", "shop"}}}});
  EXPECT_EQ(svc["metadata"]["labels"]["tier"], "fe");
  EXPECT_EQ(svc["status"]["loadBalancer"]["ingress"][0]["ip"], "192.0.2.10");
}

TEST_F(KubectlTest, WatchOnlySeesAChangeMadeElsewhere) {
  kubectl_ok("apply -f " + write("all.yaml", kManifests));
  std::string log = dir.path() + "/watch.log";
  Process watcher({"sh", "-c", "exec env " + prefix() + "get svc -n shop --watch-only -o json"},
                  nullptr, log);
  ASSERT_TRUE(wait_until([&] { return api.stats()["watches"] == 1; }, 10s))
      << "kubectl did not start a watch";
  json web = {{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata", {{"name", "web"}, {"namespace", "shop"}, {"labels", {{"seen", "yes"}}}}},
              {"spec", {{"ports", {{{"port", 80}}}}}}};
  api.apply(web);
  auto read_log = [&] {
    std::ifstream in(log);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_TRUE(
      wait_until([&] { return read_log().find("\"seen\": \"yes\"") != std::string::npos; }, 10s))
      << read_log();
}

class PythonClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NETAGENT_REQUIRE(sh("/usr/bin/python3 -c 'import kubernetes' >/dev/null 2>&1") == 0,
                     "python3-kubernetes is not installed (scripts/install-deps.sh)");
  }
  void run(const KubeStandin& api, const std::string& c, const std::string& token = "",
           const std::string& ca = "") {
    std::string out;
    std::string url = ca.empty() ? api.url() : api.https_url();
    // Debian's python, not one on the PATH that lacks the package.
    int rc = sh("/usr/bin/python3 " PYTHON_CLIENT_SCRIPT " " + url + " " + c + " '" + token + "' " +
                    ca + " 2>&1",
                &out);
    EXPECT_EQ(rc, 0) << c << ": " << out;
    EXPECT_NE(out.find("ok"), std::string::npos) << out;
  }
};

TEST_F(PythonClientTest, ListAllNamespaces) {
  KubeStandin api;
  run(api, "list");
}

TEST_F(PythonClientTest, WatchSeesAddedModifiedDeleted) {
  KubeStandin api;
  run(api, "watch");
}

TEST_F(PythonClientTest, ReplaceLeaseWithStaleVersionIs409) {
  KubeStandin api;
  run(api, "lease_conflict");
}

TEST_F(PythonClientTest, PatchServiceStatus) {
  KubeStandin api;
  run(api, "status");
}

TEST_F(PythonClientTest, BearerToken) {
  KubeStandin::Options o;
  o.token = "t0ken";
  KubeStandin api(o);
  run(api, "token", "t0ken");
  run(api, "no_token");
}

// A throwaway self-signed certificate for 127.0.0.1, for the TLS front (socat) of the stand-in.
void make_cert(const TempDir& dir) {
  sh_ok(
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
      "-subj /CN=kube-standin -addext subjectAltName=IP:127.0.0.1 -days 1 -keyout " +
      dir.path() + "/key.pem -out " + dir.path() + "/cert.pem 2>&1");
}

// kubectl sends its token only over TLS: through the socat front, with the stand-in's --token.
TEST_F(KubectlTest, TokenOverTls) {
  TempDir pki{"kube-standin-pki"};
  make_cert(pki);
  KubeStandin::Options o;
  o.token = "tls-t0ken";
  o.tls_cert = pki.path() + "/cert.pem";
  o.tls_key = pki.path() + "/key.pem";
  KubeStandin tls(o);
  std::string base = "KUBECONFIG=/dev/null kubectl --server=" + tls.https_url() +
                     " --certificate-authority=" + o.tls_cert + " --cache-dir=" + dir.path() +
                     "/tls-cache --request-timeout=20s ";
  std::string out;
  ASSERT_EQ(sh(base + "--token=tls-t0ken get ns default -o json 2>&1", &out), 0) << out;
  EXPECT_EQ(json::parse(out)["metadata"]["name"], "default");
  EXPECT_NE(sh(base + "--token=wrong get ns 2>&1", &out), 0);
  EXPECT_NE(out.find("Unauthorized"), std::string::npos) << out;
}

TEST_F(PythonClientTest, BearerTokenOverTls) {
  TempDir pki{"kube-standin-pki"};
  make_cert(pki);
  KubeStandin::Options o;
  o.token = "t0ken";
  o.tls_cert = pki.path() + "/cert.pem";
  o.tls_key = pki.path() + "/key.pem";
  KubeStandin api(o);
  run(api, "token", "t0ken", o.tls_cert);
  run(api, "no_token", "", o.tls_cert);
}

}  // namespace
}  // namespace netagent::testing
