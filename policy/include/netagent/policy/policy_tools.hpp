#pragma once
// What the agent's policy part and its offline `netagent policy trace|matrix` share, so that
// offline answers are exactly the agent's: loading a manifest tree with the policy kinds
// registered, the compile options an enforcement mode means, and deciding flows with the real
// policy program (KernelEvaluator: BPF_PROG_TEST_RUN on synthesized packets).
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "netagent/common/ip.hpp"
#include "netagent/common/result.hpp"
#include "netagent/k8s/snapshot.hpp"
#include "netagent/policy/compiler.hpp"
#include "netagent/policy/reachability.hpp"

namespace netagent::policy {

struct PolicySettings {
  policy::EnforcementMode mode = policy::EnforcementMode::Default;
  bool audit = false;
  std::string node_name;  // the agent's node ("host" identity); empty offline
  // Addresses of the node's own interfaces (veth gateway addresses included): the "host"
  // identity, so that the node reaches its endpoints (kubelet probes, allow-localhost).
  std::vector<Ipv4Addr> host_ips;
  // Offline tools give pods without status.podIPs an address so that every pod can be probed.
  bool synthesize_pod_ips = false;
  // ClusterMesh: this cluster's name and id (cluster-settings CLUSTER, CLUSTER_ID): the
  // io.cilium.k8s.policy.cluster label of local pods and bits 16-23 of their identities.
  std::string cluster_name = "default";
  uint8_t cluster_id = 0;
};

// CLUSTER and CLUSTER_ID from the cluster-settings values into `s` (defaults when absent); an
// error names a CLUSTER_ID that is not 0..255.
Status cluster_from_settings(const std::map<std::string, std::string>& settings, PolicySettings& s);

// The compile options the agent uses for these settings (the single place that decides them).
policy::CompileOptions compile_options(const PolicySettings& s);

// Loads a manifest tree as the agent's source does (Flux substitution, the policy kinds
// validated); errors list every bad document with file, index, object and field.
Result<std::shared_ptr<const k8s::Snapshot>> load_manifests(const std::string& dir);

// IPPROTO_* from "TCP", "udp", "SCTP", "ICMP", "ANY"(0) or a number; error names the value.
Result<uint8_t> parse_protocol(const std::string& s);
std::string protocol_name(uint8_t proto);

struct TraceRequest {
  std::string src, dst;            // "ns/pod" (either may be empty when the IP is given)
  std::optional<Ipv4Addr> src_ip;  // overrides / replaces src (addresses outside the cluster)
  std::optional<Ipv4Addr> dst_ip;
  uint16_t dport = 0;
  uint8_t proto = 6;
};

// Parses the API's query form (src, dst, src_ip, dst_ip, dport, protocol).
Result<TraceRequest> trace_request(const std::map<std::string, std::string>& q);

// Decides both directions of a new flow with the kernel program and explains them:
// {"source": {...}, "destination": {...}, "protocol", "dport", "egress": {"verdict", "rule",
//  "match", "reason", "explanation"}, "ingress": {...}, "allowed": bool}.
Result<nlohmann::json> trace(const policy::CompiledPolicy& cp, const TraceRequest& r);

// The e2e reachability matrix of every pod pair, decided by the kernel program.
Result<policy::Reachability> matrix(const policy::CompiledPolicy& cp, uint16_t port, uint8_t proto);

// Names of the datapath's enums, as the API and metrics show them.
const char* match_type_name(uint8_t match);      // "L3-only", "L3-L4", ...
const char* verdict_name(uint8_t flow_verdict);  // "forwarded", "dropped", "audit"

}  // namespace netagent::policy
