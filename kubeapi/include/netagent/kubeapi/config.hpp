#pragma once
// Where the Kubernetes API server is and how to authenticate to it, as client-go finds it:
// in-cluster (the pod's service account), a kubeconfig file, or an explicit server address
// (`--k8s-api-server`, Cilium's `k8s-api-server` / `K8S_SERVICE_HOST`), which replaces the server
// of either. A kube-proxy-free agent cannot reach the `kubernetes` ClusterIP before it programs
// it, so clusters without kube-proxy give it the API server's real address.
#include <chrono>
#include <optional>
#include <string>

#include "netagent/common/result.hpp"

namespace netagent::kubeapi {

struct ClientConfig {
  std::string server;  // "https://10.25.11.10:6443" or "http://127.0.0.1:8080"
  std::string origin;  // for messages: "in-cluster", "kubeconfig /root/.kube/config (context x)"
  // TLS: the CA bundle (PEM) that signs the server's certificate; none with http. A server
  // certificate is always verified (chain and name) unless insecure_skip_tls_verify.
  std::string ca_pem;
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;  // SNI and name to verify, when not the server URL's host
  // Client certificate (PEM), for kubeconfigs that use one.
  std::string client_cert_pem;
  std::string client_key_pem;
  // Bearer token, either fixed or read from a file. A file is re-read when it changes (bound
  // service account tokens rotate; kubelet rewrites the projected file), checked at most every
  // token_reread_interval, and a 401 forces a re-read before the request is retried once.
  std::string token;
  std::string token_file;
  std::chrono::seconds token_reread_interval{60};
  std::string ns;  // the pod's namespace (in-cluster) or the context's namespace; may be empty
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{30000};  // one non-watch request, send to last byte
  std::string user_agent = "netagent";
};

// Paths an in-cluster config reads; tests point them elsewhere.
struct InClusterPaths {
  std::string token = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string ca = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
  std::string ns = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
};

// KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT (an IPv6 host is bracketed), the service
// account token file and CA. Errors name the variable or file that is missing.
Result<ClientConfig> in_cluster_config(const InClusterPaths& paths = {});

// A kubeconfig file (YAML): current-context or `context`, its cluster (server,
// certificate-authority / -data, insecure-skip-tls-verify, tls-server-name) and user (token,
// tokenFile, client-certificate / -data, client-key / -data). Relative file paths are relative
// to the kubeconfig's directory, as kubectl reads them. An auth provider or exec plugin is an
// error naming the user (not supported).
Result<ClientConfig> kubeconfig_config(const std::string& path, const std::string& context = "");

// `--k8s-api-server` as Cilium takes it: a URL ("https://host:6443"), or "host:port", or a bare
// host (https, port 6443). Replaces `server` of `base`, keeping its credentials.
Result<ClientConfig> with_server(ClientConfig base, const std::string& server);

}  // namespace netagent::kubeapi
