#pragma once
// The agent's settings, typed and validated. They come from flags and from a YAML config file
// (`--config FILE`, same names as the flags without the dashes; flags win); see flags.hpp. Every
// part of the agent reads this struct, never the raw flags.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "netagent/common/result.hpp"

namespace netagent::agent {

enum class PolicyEnforcement {
  Default,  // endpoints without any selecting policy allow all (Kubernetes semantics)
  Always,   // deny by default even where no policy selects an endpoint
  Never,    // policy is not enforced
};
const char* to_string(PolicyEnforcement p);

struct Config {
  std::string config_file;  // where file settings came from ("" = none)

  std::string manifests;  // --manifests DIR
  // The Kubernetes API as a source (docs/kubernetes-api.md): in-cluster (the pod's service
  // account), a kubeconfig, or an explicit server. Without any of them only --manifests is read.
  bool k8s_in_cluster = false;                        // --k8s-in-cluster
  std::string kubeconfig;                             // --kubeconfig FILE
  std::string k8s_api_server;                         // --k8s-api-server URL|HOST[:PORT]
  std::string k8s_secrets_namespace = "kube-system";  // --k8s-secrets-namespace
  uint32_t k8s_lease_duration = 15;  // --k8s-lease-duration: LB IPAM status writer's Lease, s
  bool api_source() const {
    return k8s_in_cluster || !kubeconfig.empty() || !k8s_api_server.empty();
  }
  std::string node_name;             // --node-name (default: the host name)
  std::vector<std::string> devices;  // --devices IFACE[,IFACE]
  std::string cgroup;                // --cgroup (default: the cgroup v2 mount, detected)
  std::string bpf_root = "/sys/fs/bpf/netagent";
  std::string state_dir = "/var/lib/netagent";
  std::string api_socket = "/var/run/netagent/api.sock";
  std::string metrics_addr = "127.0.0.1:9962";  // "" disables the metrics listener
  std::string log_level = "info";

  // Service load balancing.
  uint32_t maglev_table_size = 16381;
  std::string maglev_hash_seed = "JLfvgnHc2kaSUFaI";  // base64, as configured
  std::array<uint8_t, 12> maglev_seed{};              // ...decoded (12 bytes)
  uint16_t node_port_min = 30000;
  uint16_t node_port_max = 32767;
  // --bpf-lb-map-max (Cilium's name): sizes the LB maps at load: N rev-NAT entries (service
  // frontends) and Maglev tables, 2N backends, 4N service-map entries (slot 0s and backend slots).
  uint32_t lb_map_max = 65536;

  // Network policy.
  PolicyEnforcement policy_enforcement = PolicyEnforcement::Default;
  bool policy_audit_mode = false;

  // The periodic drift check of the datapath (Reconciler::verify_datapath), in seconds; 0 off.
  uint32_t datapath_verify_interval = 60;

  // The HTTP listeners (API socket, /metrics): connection caps and timeouts, so that no client
  // can take the agent's file descriptors (see docs/operating.md, "Resource limits").
  uint32_t api_max_connections = 128;
  uint32_t metrics_max_connections = 64;
  uint32_t http_idle_timeout = 120;  // seconds without a request before a connection closes
  uint32_t http_request_timeout =
      10;  // seconds to read a request (header and body) or write a reply

  // BGP: the most prefixes a peer may send per address family (0: no limit); over it the
  // session ends with Cease / Maximum Number of Prefixes Reached (RFC 4486) and the peer is
  // held idle for bgp_max_prefixes_restart seconds. A warning at bgp_max_prefixes_warning %.
  uint32_t bgp_max_prefixes = 100000;
  uint32_t bgp_max_prefixes_warning = 75;
  uint32_t bgp_max_prefixes_restart = 60;

  // ClusterMesh (the remote clusters come from the kube-system/cilium-clustermesh Secret).
  std::string clustermesh_etcd_config;  // this cluster's etcd (Cilium etcd.config); "" = Secret
  uint32_t clustermesh_lease_ttl = 60;  // seconds; a dead agent's entries expire after this

  // The RLIMIT_NOFILE soft limit the agent runs with (raise_fd_limit fills it; 0: not checked).
  uint64_t fd_limit = 0;

  // Parsed form of metrics_addr (valid when metrics_addr is not empty).
  std::string metrics_host;
  uint16_t metrics_port = 0;

  // Everything above, for `GET /v1/status` and logs.
  nlohmann::json to_json() const;
};

// --bpf-lb-map-max bounds (the upper one is what the ids of the datapath address).
inline constexpr uint32_t kLbMapMaxMin = 16, kLbMapMaxMax = 65536;

// Maglev table sizes Cilium accepts (primes; M > 100 * backends keeps disruption under 1%).
inline constexpr std::array<uint32_t, 10> kMaglevTableSizes = {251,  509,   1021,  2039,  4093,
                                                               8191, 16381, 32749, 65521, 131071};
inline constexpr const char* kDefaultMaglevHashSeed = "JLfvgnHc2kaSUFaI";

// Checks and completes a Config whose string fields have been filled in: decodes the Maglev
// seed, splits metrics_addr, checks ranges and names. The error says which setting is wrong,
// what was given and what is accepted. It does not touch the system (see startup.hpp for that).
Status validate(Config& config);

// Single-setting parsers, shared by validation and tests.
Result<std::pair<uint16_t, uint16_t>> parse_port_range(const std::string& s);    // "30000-32767"
Result<std::pair<std::string, uint16_t>> parse_host_port(const std::string& s);  // "[::1]:9962"
Result<PolicyEnforcement> parse_policy_enforcement(const std::string& s);

}  // namespace netagent::agent
