#include "netagent/kubeapi/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>

#include "netagent/common/base64.hpp"
#include "netagent/http/connection.hpp"

namespace netagent::kubeapi {

namespace {

Result<std::string> read_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return sys_error(what + " " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return sys_error("read " + what + " " + path);
  return ss.str();
}

std::string trim(std::string s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::string bracket(const std::string& host) {
  if (host.find(':') != std::string::npos && !host.starts_with("[")) return "[" + host + "]";
  return host;
}

// The entry `name` of a kubeconfig list (clusters, users, contexts): its inner map.
std::optional<YAML::Node> find_named(const YAML::Node& list, const std::string& key,
                                     const std::string& name) {
  if (!list || !list.IsSequence()) return std::nullopt;
  for (const auto& item : list) {
    if (item.IsMap() && item["name"] && item["name"].as<std::string>() == name) {
      return item[key] ? item[key] : YAML::Node(YAML::NodeType::Map);
    }
  }
  return std::nullopt;
}

std::string str(const YAML::Node& n, const char* key) {
  if (!n || !n.IsMap() || !n[key] || n[key].IsNull()) return "";
  return n[key].as<std::string>();
}

// A PEM given inline (`<key>-data`, base64) or as a file (relative to the kubeconfig's
// directory).
Result<std::string> pem(const YAML::Node& n, const std::string& key, const std::string& dir,
                        const std::string& what) {
  std::string data = str(n, (key + "-data").c_str());
  if (!data.empty()) {
    auto decoded = base64_decode(data);
    if (!decoded) return Error{what + ": " + key + "-data is not valid base64"};
    return *decoded;
  }
  std::string file = str(n, key.c_str());
  if (file.empty()) return std::string();
  if (!file.starts_with("/")) file = dir + "/" + file;
  auto text = read_file(file, what + " " + key);
  if (!text) return text.error();
  return *text;
}

}  // namespace

Result<ClientConfig> in_cluster_config(const InClusterPaths& paths) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host) {
    return Error{"in-cluster config: KUBERNETES_SERVICE_HOST is not set (not running in a pod?)"};
  }
  if (!port || !*port) return Error{"in-cluster config: KUBERNETES_SERVICE_PORT is not set"};
  ClientConfig c;
  c.origin = "in-cluster";
  c.server = "https://" + bracket(host) + ":" + port;
  if (auto u = http::Url::parse(c.server); !u)
    return Error{"in-cluster config: server " + u.error().message};
  // The token file must be there now (a pod without an automounted service account token has
  // none); it is re-read as it rotates.
  auto token = read_file(paths.token, "service account token");
  if (!token) return token.error().wrap("in-cluster config");
  if (trim(*token).empty())
    return Error{"in-cluster config: token file " + paths.token + " is empty"};
  c.token_file = paths.token;
  auto ca = read_file(paths.ca, "service account CA");
  if (!ca) return ca.error().wrap("in-cluster config");
  c.ca_pem = std::move(*ca);
  if (auto ns = read_file(paths.ns, "namespace")) c.ns = trim(*ns);
  return c;
}

Result<ClientConfig> kubeconfig_config(const std::string& path, const std::string& context) {
  const std::string where = "kubeconfig " + path;
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return sys_error(where);
  } catch (const YAML::Exception& e) {
    return Error{where + ": " + e.what()};
  }
  try {
    std::string dir = ".";
    if (auto slash = path.rfind('/'); slash != std::string::npos) {
      dir = slash == 0 ? "/" : path.substr(0, slash);
    }
    std::string ctx_name = context.empty() ? str(root, "current-context") : context;
    if (ctx_name.empty()) return Error{where + ": no current-context and no context given"};
    auto found_ctx = find_named(root["contexts"], "context", ctx_name);
    if (!found_ctx) return Error{where + ": no context \"" + ctx_name + "\""};
    const YAML::Node ctx = *found_ctx;
    const std::string cluster_name = str(ctx, "cluster");
    const std::string user_name = str(ctx, "user");
    auto found_cluster = find_named(root["clusters"], "cluster", cluster_name);
    if (!found_cluster) {
      return Error{where + ": context \"" + ctx_name + "\": no cluster \"" + cluster_name + "\""};
    }
    const YAML::Node cluster = *found_cluster;
    ClientConfig c;
    c.origin = where + " (context " + ctx_name + ")";
    c.ns = str(ctx, "namespace");
    c.server = str(cluster, "server");
    const std::string cwhat = where + ": cluster \"" + cluster_name + "\"";
    if (c.server.empty()) return Error{cwhat + ": no server"};
    if (auto u = http::Url::parse(c.server); !u)
      return Error{cwhat + ": server " + u.error().message};
    auto ca = pem(cluster, "certificate-authority", dir, cwhat);
    if (!ca) return ca.error();
    c.ca_pem = std::move(*ca);
    if (cluster["insecure-skip-tls-verify"]) {
      c.insecure_skip_tls_verify = cluster["insecure-skip-tls-verify"].as<bool>();
    }
    c.tls_server_name = str(cluster, "tls-server-name");
    if (!str(cluster, "proxy-url").empty()) return Error{cwhat + ": proxy-url is not supported"};

    if (!user_name.empty()) {
      auto found_user = find_named(root["users"], "user", user_name);
      const std::string uwhat = where + ": user \"" + user_name + "\"";
      if (!found_user)
        return Error{where + ": context \"" + ctx_name + "\": no user \"" + user_name + "\""};
      const YAML::Node user = *found_user;
      if (user.IsMap()) {
        if (user["exec"]) return Error{uwhat + ": exec credential plugins are not supported"};
        if (user["auth-provider"]) return Error{uwhat + ": auth-provider is not supported"};
        if (!str(user, "username").empty() || !str(user, "password").empty()) {
          return Error{uwhat + ": basic authentication is not supported"};
        }
        c.token = str(user, "token");
        std::string token_file = str(user, "tokenFile");
        // As client-go: an inline token wins over tokenFile.
        if (!token_file.empty() && c.token.empty()) {
          if (!token_file.starts_with("/")) token_file = dir + "/" + token_file;
          if (auto t = read_file(token_file, "token file"); !t) return t.error().wrap(uwhat);
          c.token_file = token_file;
        }
        auto cert = pem(user, "client-certificate", dir, uwhat);
        if (!cert) return cert.error();
        c.client_cert_pem = std::move(*cert);
        auto key = pem(user, "client-key", dir, uwhat);
        if (!key) return key.error();
        c.client_key_pem = std::move(*key);
        if (c.client_cert_pem.empty() != c.client_key_pem.empty()) {
          return Error{uwhat + ": a client certificate needs a client key and the other way round"};
        }
      }
    }
    return c;
  } catch (const YAML::Exception& e) {
    return Error{where + ": " + e.what()};
  }
}

Result<ClientConfig> with_server(ClientConfig base, const std::string& server) {
  std::string s = trim(server);
  if (s.empty()) return Error{"API server address is empty"};
  std::string url;
  if (s.starts_with("https://") || s.starts_with("http://")) {
    url = s;
  } else if (s.find("://") != std::string::npos) {
    return Error{"API server \"" + s + "\": scheme must be http:// or https://"};
  } else if (s.starts_with("[")) {  // [v6] or [v6]:port
    url = "https://" + s;
    if (s.ends_with("]")) url += ":6443";
  } else if (std::count(s.begin(), s.end(), ':') > 1) {  // a bare IPv6 address
    url = "https://[" + s + "]:6443";
  } else if (s.find(':') != std::string::npos) {  // host:port
    url = "https://" + s;
  } else {
    url = "https://" + s + ":6443";
  }
  auto u = http::Url::parse(url);
  if (!u) return Error{"API server " + u.error().message};
  base.server = url;
  if (!base.origin.empty()) {
    base.origin += ", server " + url;
  } else {
    base.origin = "server " + url;
  }
  return base;
}

}  // namespace netagent::kubeapi
