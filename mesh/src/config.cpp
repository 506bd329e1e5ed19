#include "netagent/mesh/config.hpp"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

#include "netagent/mesh/cluster.hpp"

namespace netagent::mesh {

namespace {

std::string basename_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::optional<std::string> read_whole_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

Result<etcd::EtcdConfig> parse_etcd_config(
    const std::string& cluster, const std::string& yaml,
    const std::function<Result<std::string>(const std::string&, const std::string&)>& resolve) {
  etcd::EtcdConfig cfg;
  cfg.name = "etcd of cluster " + cluster;
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    return Error{"not valid YAML: " + std::string(e.what())};
  }
  if (!root.IsMap()) return Error{"etcd configuration is not a YAML mapping"};
  try {
    auto eps = root["endpoints"];
    if (!eps || !eps.IsSequence() || eps.size() == 0) {
      return Error{"endpoints: a non-empty list of URLs is required"};
    }
    for (const auto& e : eps)
      cfg.endpoints.push_back(e.as<std::string>());
    auto file = [&](const char* a, const char* b) -> std::string {
      if (auto n = root[a]) return n.as<std::string>();
      if (b) {
        if (auto n = root[b]) return n.as<std::string>();
      }
      return "";
    };
    std::string ca = file("trusted-ca-file", "ca-file");
    std::string cert = file("cert-file", nullptr);
    std::string key = file("key-file", nullptr);
    bool https = false;
    for (const auto& e : cfg.endpoints)
      https |= e.starts_with("https://");
    if (https && ca.empty()) return Error{"trusted-ca-file is required for https endpoints"};
    if (cert.empty() != key.empty()) return Error{"cert-file and key-file go together"};
    if (!ca.empty() || !cert.empty()) {
      etcd::TlsMaterial t;
      if (!ca.empty()) {
        auto c = resolve("trusted-ca-file", ca);
        if (!c) return c.error();
        t.ca_pem = std::move(*c);
      }
      if (!cert.empty()) {
        auto c = resolve("cert-file", cert);
        if (!c) return c.error();
        t.cert_pem = std::move(*c);
        auto k = resolve("key-file", key);
        if (!k) return k.error();
        t.key_pem = std::move(*k);
      }
      cfg.tls = std::move(t);
    }
  } catch (const YAML::Exception& e) {
    return Error{"bad value: " + std::string(e.what())};
  }
  return cfg;
}

Result<ClusterMeshSecret> parse_clustermesh_secret(const k8s::Secret& secret,
                                                   const std::string& local_cluster) {
  ClusterMeshSecret out;
  std::string problems;
  auto problem = [&](const std::string& key, const std::string& what) {
    if (!problems.empty()) problems += "; ";
    problems += "key \"" + key + "\": " + what;
  };
  for (const auto& [key, value] : secret.data) {
    // Cluster names have no dots; the TLS material keys all do.
    if (key.find('.') != std::string::npos) continue;
    if (auto st = validate_cluster_name(key); !st) {
      problem(key, st.error().message);
      continue;
    }
    auto resolve = [&](const std::string& field, const std::string& file) -> Result<std::string> {
      std::string base = basename_of(file);
      if (auto it = secret.data.find(base); it != secret.data.end()) return it->second;
      if (auto f = read_whole_file(file)) return *f;
      return Error{field + " \"" + file + "\": the Secret has no key \"" + base +
                   "\" and there is no such file"};
    };
    auto cfg = parse_etcd_config(key, value, resolve);
    if (!cfg) {
      problem(key, cfg.error().message);
      continue;
    }
    // Catch bad PEM or endpoints now, with the key's name, rather than at connect time.
    boost::asio::io_context probe;
    if (auto c = etcd::EtcdClient::create(probe, *cfg); !c) {
      problem(key, c.error().message);
      continue;
    }
    if (key == local_cluster) {
      out.local = std::move(*cfg);
    } else {
      out.remotes.push_back(RemoteClusterConfig{key, std::move(*cfg)});
    }
  }
  if (!problems.empty()) {
    std::string where = "Secret " + secret.meta.key();
    if (!secret.source.file.empty()) where += " (" + secret.source.str() + ")";
    return Error{where + ": " + problems};
  }
  return out;
}

Result<ClusterMeshSecret> clustermesh_from_snapshot(const k8s::Snapshot& snap,
                                                    const std::string& local_cluster) {
  const k8s::Secret* s = snap.secret(kClusterMeshSecretNamespace, kClusterMeshSecretName);
  if (!s) return ClusterMeshSecret{};
  return parse_clustermesh_secret(*s, local_cluster);
}

}  // namespace netagent::mesh
