#pragma once
// The policy compiler: from a snapshot's pods, namespaces, nodes and policies to identities, the
// ipcache and each endpoint's policy map entries. Pure: no kernel, no I/O; the agent applies the
// result to the maps as a diff (datapath_state.hpp), netctl and the tests evaluate it.
#include <array>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "netagent/common/ip.hpp"
#include "netagent/common/result.hpp"
#include "netagent/k8s/snapshot.hpp"
#include "netagent/policy/decode.hpp"
#include "netagent/policy/identity.hpp"
#include "netagent/policy/map_entry.hpp"

namespace netagent::policy {

// Cilium's policy enforcement modes (Documentation/security/policy/intro.rst).
enum class EnforcementMode {
  Default,  // an endpoint is open until a policy selects it, then default-deny per direction
  Always,   // every endpoint is default-deny in both directions
  Never,    // no enforcement at all (deny rules included)
};
const char* to_string(EnforcementMode m);
std::optional<EnforcementMode> parse_enforcement_mode(std::string_view s);

// What to do with ports that come with L7 rules this datapath cannot enforce.
enum class L7Handling {
  AllowL4,  // enforce the L4 part: the port is allowed for every request (warned)
  Deny,     // fail closed: the port is not allowed at all
};

struct CompileOptions {
  std::string cluster_name = "default";  // io.cilium.k8s.policy.cluster of local pods
  uint8_t cluster_id = 0;                // ClusterMesh cluster id (bits 16..23 of identities)
  EnforcementMode mode = EnforcementMode::Default;
  bool audit = false;  // policy audit mode: would-be denials are reported and let through
  // Cilium's allow-localhost: the node itself may always reach its endpoints (kubelet probes).
  bool allow_localhost = true;
  // Cilium 1.18 `policy-default-local-cluster`: Cilium policy selectors without a cluster label
  // select only this cluster's endpoints. (NetworkPolicy peers are always local.)
  bool policy_default_local_cluster = true;
  L7Handling l7 = L7Handling::AllowL4;
  std::string local_node;          // node whose addresses are "host"; others remote-node
  std::vector<Ipv4Addr> host_ips;  // more addresses of this node (e.g. the gateway)
  std::vector<Ipv4Addr> kube_apiserver_ips;
  std::vector<Ipv4Addr> ingress_ips;  // the node's ingress / Gateway proxy source addresses
  // Offline tools (netctl policy matrix/trace): pods without status.podIPs get an address from
  // 240.0.0.0/4 (reserved, never routed) so that every pod can be probed. ipBlock rules do not
  // apply to such addresses.
  bool synthesize_pod_ips = false;
  // The agent: compute endpoint policies only for the pods on this node (the others' policies
  // are enforced on their own nodes); identities and the ipcache still cover every pod. Empty:
  // every pod (offline tools, tests).
  std::string policies_for_node;
};

// A pod as policy sees it: from the snapshot, or registered by the CNI plugin.
struct Workload {
  std::string ns, name;
  k8s::Labels labels;
  std::vector<Ipv4Addr> ips;
  std::vector<k8s::ContainerPort> ports;
  std::string node;
  std::string service_account;
};

struct NodeAddresses {
  std::string name;
  std::vector<Ipv4Addr> ips;
};

// Identities and addresses learnt from other clusters (ClusterMesh).
struct RemoteIdentity {
  Identity id = 0;
  LabelSet labels;  // includes k8s:io.cilium.k8s.policy.cluster=<remote cluster>
  bool operator==(const RemoteIdentity&) const = default;
};
struct RemoteAddress {
  Ipv4Prefix prefix;
  Identity identity = 0;
  uint8_t cluster_id = 0;
  bool operator==(const RemoteAddress&) const = default;
};

struct CompileInput {
  std::vector<Workload> workloads;
  std::map<std::string, k8s::Labels> namespaces;  // name -> labels
  std::vector<NodeAddresses> nodes;
  std::vector<Ipv4Addr> kube_apiserver_ips;  // endpoints of default/kubernetes
  PolicyDocuments policies;
  std::vector<RemoteIdentity> remote_identities;
  std::vector<RemoteAddress> remote_addresses;
};

// Reads pods (hostNetwork pods are the node, not endpoints), namespaces, nodes, the
// kube-apiserver endpoints (EndpointSlices of default/kubernetes) and the policies.
Result<CompileInput> input_from_snapshot(const k8s::Snapshot& snap);
// The same without the policies (pods, namespaces, nodes, kube-apiserver addresses): enough to
// number identities, which depend on label sets only.
CompileInput workloads_from_snapshot(const k8s::Snapshot& snap);

struct RuleInfo {
  uint32_t cookie = 0;
  std::string kind, ns, name;  // the policy object; kind empty for built-in rules
  std::string path;            // "spec.ingress[0]", or the built-in rule's name
  Direction direction = Direction::Ingress;
  Action action = Action::Allow;
  std::string description;
  uint32_t order = 0;  // precedence when several rules produce the same entry

  std::string policy() const;  // "NetworkPolicy x/allow-dns" or "built-in"
  std::string str() const;     // "NetworkPolicy x/allow-dns spec.egress[0]"
};

// The policy of every endpoint with one identity (and, for ingress named ports, the same
// container ports): whether each direction is default-deny and the entries to consult.
struct IdentityPolicy {
  bool enforced[2] = {false, false};        // by index_of(Direction): default deny
  std::vector<MapEntry> entries;            // normalized: sorted, merged, deny-propagated
  std::vector<std::string> isolated_by[2];  // policies that made the direction default-deny

  bool has_entries(Direction d) const;
};

struct EndpointInfo {
  std::string ns, name;
  Identity identity = 0;
  std::vector<Ipv4Addr> ips;
  std::string node;
  bool synthetic_ip = false;                     // address made up by synthesize_pod_ips
  std::shared_ptr<const IdentityPolicy> policy;  // null: no policy in either direction
  bool audit = false;

  std::string key() const { return ns + "/" + name; }
};

struct IpcacheEntry {
  Ipv4Prefix prefix;
  Identity identity = 0;
  Identity cidr_identity = 0;  // IDENTITY_SCOPE_CLUSTER_CIDR identity, 0 when none
  uint8_t flags = 0;           // enum ipcache_flags
  uint8_t cluster_id = 0;
};

struct PolicyStatus {
  std::string kind, ns, name;
  k8s::SourceRef source;
  std::vector<std::string> warnings;
  size_t selected_endpoints = 0;
  std::string display() const;
};

class CompiledPolicy {
 public:
  CompileOptions options;
  std::map<Identity, LabelSet> identities;
  std::vector<IpcacheEntry> ipcache;    // sorted by prefix
  std::vector<EndpointInfo> endpoints;  // sorted by namespace, then name
  std::map<uint32_t, RuleInfo> rules;   // by cookie
  std::vector<PolicyStatus> statuses;   // one per policy object, in (kind, ns, name) order
  std::vector<std::string> warnings;    // compile-level (address conflicts, ...)

  const EndpointInfo* endpoint(std::string_view ns, std::string_view name) const;
  const EndpointInfo* endpoint_at(Ipv4Addr a) const;
  // Longest-prefix lookup; nullptr means "world".
  const IpcacheEntry* ipcache_lookup(Ipv4Addr a) const;
  const RuleInfo* rule(uint32_t cookie) const;
  // "reserved:host", "x/pod=a (1234)", "cidr:10.0.0.0/8 (16777217)": for people.
  std::string describe_identity(Identity id) const;
  // Total entries over all distinct identity policies (for status and benchmarks).
  size_t entry_count() const;

  // Builds the lookup indexes; compile() calls it.
  void index();

 private:
  std::unordered_map<uint32_t, size_t> endpoint_by_ip_;
  std::array<std::unordered_map<uint32_t, size_t>, 33> ipcache_by_len_;
};

Result<CompiledPolicy> compile(const CompileInput& in, const CompileOptions& opts);
// input_from_snapshot + compile.
Result<CompiledPolicy> compile(const k8s::Snapshot& snap, const CompileOptions& opts);

}  // namespace netagent::policy
