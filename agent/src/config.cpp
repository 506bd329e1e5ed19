#include "netagent/agent/config.hpp"

#include <boost/asio/ip/address.hpp>

#include "netagent/common/base64.hpp"
#include "netagent/common/number.hpp"
#include "netagent/k8s/decode.hpp"

namespace netagent::agent {

const char* to_string(PolicyEnforcement p) {
  switch (p) {
    case PolicyEnforcement::Default:
      return "default";
    case PolicyEnforcement::Always:
      return "always";
    case PolicyEnforcement::Never:
      return "never";
  }
  return "default";
}

namespace {

Error bad(const std::string& setting, const std::string& value, const std::string& why) {
  return Error{"bad value for " + setting + ": '" + value + "' " + why, EINVAL};
}

// Linux interface names: 1..15 bytes (IFNAMSIZ - 1), no '/', ':' (alias syntax) or whitespace.
bool valid_ifname(const std::string& s) {
  if (s.empty() || s.size() > 15 || s == "." || s == "..") return false;
  for (char c : s) {
    if (c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == ',') return false;
  }
  return true;
}

}  // namespace

Result<std::pair<uint16_t, uint16_t>> parse_port_range(const std::string& s) {
  auto dash = s.find('-');
  if (dash == std::string::npos) {
    return bad("node-port-range", s, "is not MIN-MAX (e.g. 30000-32767)");
  }
  auto lo = parse_integer<uint32_t>(std::string_view(s).substr(0, dash));
  auto hi = parse_integer<uint32_t>(std::string_view(s).substr(dash + 1));
  if (!lo || !hi) return bad("node-port-range", s, "is not MIN-MAX (e.g. 30000-32767)");
  if (*lo < 1 || *hi > 65535 || *lo > *hi) {
    return bad("node-port-range", s, "must satisfy 1 <= MIN <= MAX <= 65535");
  }
  return std::make_pair(static_cast<uint16_t>(*lo), static_cast<uint16_t>(*hi));
}

Result<std::pair<std::string, uint16_t>> parse_host_port(const std::string& s) {
  std::string host;
  std::string port;
  if (!s.empty() && s[0] == '[') {  // [v6]:port
    auto close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      return bad("metrics-addr", s, "is not HOST:PORT (e.g. 127.0.0.1:9962 or [::1]:9962)");
    }
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string::npos || s.find(':') != colon) {
      return bad("metrics-addr", s, "is not HOST:PORT (e.g. 127.0.0.1:9962 or [::1]:9962)");
    }
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  if (host.empty()) host = "0.0.0.0";  // ":9962" listens on every address
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  if (ec) return bad("metrics-addr", s, "needs an IP address as HOST (not a host name)");
  auto p = parse_integer<uint32_t>(port);
  if (!p || *p > 65535) return bad("metrics-addr", s, "has a port that is not 0..65535");
  return std::make_pair(host, static_cast<uint16_t>(*p));
}

Result<PolicyEnforcement> parse_policy_enforcement(const std::string& s) {
  if (s == "default") return PolicyEnforcement::Default;
  if (s == "always") return PolicyEnforcement::Always;
  if (s == "never") return PolicyEnforcement::Never;
  return bad("policy-enforcement", s, "is not one of default, always, never");
}

Status validate(Config& c) {
  if (c.node_name.empty() || c.node_name.size() > 253) {
    return bad("node-name", c.node_name, "must be 1..253 characters (a Kubernetes Node name)");
  }
  for (const auto& d : c.devices) {
    if (!valid_ifname(d)) {
      return bad("devices", d, "is not a network interface name (1-15 characters, no '/' or ':')");
    }
  }
  for (auto [setting, path] : {std::pair<const char*, const std::string*>{"bpf-root", &c.bpf_root},
                               {"state-dir", &c.state_dir},
                               {"api-socket", &c.api_socket}}) {
    if (path->empty() || (*path)[0] != '/') {
      return bad(setting, *path, "must be an absolute path");
    }
  }
  if (!c.cgroup.empty() && c.cgroup[0] != '/') {
    return bad("cgroup", c.cgroup, "must be an absolute path");
  }
  if (!c.metrics_addr.empty()) {
    auto hp = parse_host_port(c.metrics_addr);
    if (!hp) return hp.error();
    c.metrics_host = hp->first;
    c.metrics_port = hp->second;
  }
  static const std::vector<std::string> levels = {"trace", "debug",    "info", "warn",
                                                  "error", "critical", "off"};
  if (std::find(levels.begin(), levels.end(), c.log_level) == levels.end()) {
    return bad("log-level", c.log_level,
               "is not one of trace, debug, info, warn, error, critical, off");
  }
  if (std::find(kMaglevTableSizes.begin(), kMaglevTableSizes.end(), c.maglev_table_size) ==
      kMaglevTableSizes.end()) {
    std::string allowed;
    for (auto m : kMaglevTableSizes)
      allowed += (allowed.empty() ? "" : ", ") + std::to_string(m);
    return bad("lb-maglev-table-size", std::to_string(c.maglev_table_size),
               "is not an allowed Maglev table size (a prime, one of " + allowed + ")");
  }
  auto seed = base64_decode(c.maglev_hash_seed);
  if (!seed || seed->size() != c.maglev_seed.size()) {
    return bad("lb-maglev-hash-seed", c.maglev_hash_seed,
               "must be 12 bytes in base64 (16 characters), the same on every node");
  }
  std::copy(seed->begin(), seed->end(), c.maglev_seed.begin());
  if (c.clustermesh_lease_ttl < 1 || c.clustermesh_lease_ttl > 86400) {
    return bad("clustermesh-lease-ttl", std::to_string(c.clustermesh_lease_ttl),
               "must be 1..86400 seconds (etcd raises very short TTLs to its minimum)");
  }
  if (c.lb_map_max < kLbMapMaxMin || c.lb_map_max > kLbMapMaxMax) {
    return bad("bpf-lb-map-max", std::to_string(c.lb_map_max),
               "must be " + std::to_string(kLbMapMaxMin) + ".." + std::to_string(kLbMapMaxMax) +
                   " (the service and backend ids of the datapath are 16 and 17 bits)");
  }
  if (c.datapath_verify_interval > 86400) {
    return bad("datapath-verify-interval", std::to_string(c.datapath_verify_interval),
               "must be 0 (off) or 1..86400 seconds");
  }
  for (auto [setting, v] :
       {std::pair<const char*, uint32_t>{"api-max-connections", c.api_max_connections},
        {"metrics-max-connections", c.metrics_max_connections}}) {
    if (v < 1 || v > 100000) {
      return bad(setting, std::to_string(v), "must be 1..100000 connections");
    }
  }
  for (auto [setting, v] :
       {std::pair<const char*, uint32_t>{"http-idle-timeout", c.http_idle_timeout},
        {"http-request-timeout", c.http_request_timeout}}) {
    if (v < 1 || v > 3600) return bad(setting, std::to_string(v), "must be 1..3600 seconds");
  }
  if (c.bgp_max_prefixes_warning < 1 || c.bgp_max_prefixes_warning > 100) {
    return bad("bgp-max-prefixes-warning", std::to_string(c.bgp_max_prefixes_warning),
               "must be 1..100 (percent of --bgp-max-prefixes)");
  }
  if (c.bgp_max_prefixes_restart < 1 || c.bgp_max_prefixes_restart > 86400) {
    return bad("bgp-max-prefixes-restart", std::to_string(c.bgp_max_prefixes_restart),
               "must be 1..86400 seconds");
  }
  if (c.node_port_min < 1 || c.node_port_min > c.node_port_max) {
    return bad("node-port-range",
               std::to_string(c.node_port_min) + "-" + std::to_string(c.node_port_max),
               "must satisfy 1 <= MIN <= MAX <= 65535");
  }
  return {};
}

nlohmann::json Config::to_json() const {
  return {
      {"config_file", config_file},
      {"manifests", manifests},
      {"k8s_in_cluster", k8s_in_cluster},
      {"kubeconfig", kubeconfig},
      {"k8s_api_server", k8s_api_server},
      {"k8s_secrets_namespace", k8s_secrets_namespace},
      {"k8s_lease_duration", k8s_lease_duration},
      {"node_name", node_name},
      {"devices", devices},
      {"cgroup", cgroup},
      {"bpf_root", bpf_root},
      {"state_dir", state_dir},
      {"api_socket", api_socket},
      {"metrics_addr", metrics_addr},
      {"log_level", log_level},
      {"lb_maglev_table_size", maglev_table_size},
      {"lb_maglev_hash_seed_set", maglev_hash_seed != kDefaultMaglevHashSeed},
      {"bpf_lb_map_max", lb_map_max},
      {"node_port_range", std::to_string(node_port_min) + "-" + std::to_string(node_port_max)},
      {"policy_enforcement", agent::to_string(policy_enforcement)},
      {"policy_audit_mode", policy_audit_mode},
      {"datapath_verify_interval", datapath_verify_interval},
      {"clustermesh_etcd_config", clustermesh_etcd_config},
      {"clustermesh_lease_ttl", clustermesh_lease_ttl},
      {"api_max_connections", api_max_connections},
      {"metrics_max_connections", metrics_max_connections},
      {"http_idle_timeout", http_idle_timeout},
      {"http_request_timeout", http_request_timeout},
      {"bgp_max_prefixes", bgp_max_prefixes},
      {"bgp_max_prefixes_warning", bgp_max_prefixes_warning},
      {"bgp_max_prefixes_restart", bgp_max_prefixes_restart},
  };
}

}  // namespace netagent::agent
