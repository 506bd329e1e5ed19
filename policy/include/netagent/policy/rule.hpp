#pragma once
// The policy model every source kind is translated to: NetworkPolicy, CiliumNetworkPolicy and
// CiliumClusterwideNetworkPolicy all become PolicyDocuments made of rules (a subject selector
// plus allow/deny sections), which the compiler turns into map entries.
#include <cstdint>
#include <string>
#include <vector>

extern "C" {
#include "netagent/events.h"
#include "netagent/policy.h"
}
#include "netagent/common/ip.hpp"
#include "netagent/k8s/objects.hpp"
#include "netagent/policy/selector.hpp"

namespace netagent::policy {

enum class Direction : uint8_t { Ingress = FLOW_DIR_INGRESS, Egress = FLOW_DIR_EGRESS };
enum class Action : uint8_t { Allow = POLICY_ACTION_ALLOW, Deny = POLICY_ACTION_DENY };

inline constexpr Direction kDirections[] = {Direction::Ingress, Direction::Egress};
constexpr unsigned index_of(Direction d) {
  return unsigned(d);
}
const char* to_string(Direction d);  // "ingress" / "egress"
const char* to_string(Action a);     // "allow" / "deny"

struct PortSpec {
  uint8_t proto = 0;      // IPPROTO_*; 0 = any protocol (TCP, UDP and SCTP when a port is set)
  uint16_t port = 0;      // 0 = every port
  uint16_t end_port = 0;  // inclusive end of a range (endPort); 0 = only `port`
  std::string name;       // named port, resolved against the destination pod's container ports
  bool l7 = false;        // came with L7 rules that are not enforced (see CompileOptions::l7)

  std::string str() const;  // "80/TCP", "8000-8080/TCP", "serve-80-tcp/TCP", "any"
};

// How a peer selector is limited to this cluster's endpoints (ClusterMesh).
enum class ClusterScope : uint8_t {
  None,            // no cluster restriction (reserved identities, entities)
  Local,           // always this cluster only (Kubernetes NetworkPolicy)
  LocalByDefault,  // this cluster unless CompileOptions::policy_default_local_cluster is off
};

struct PeerSelector {
  EndpointSelector selector;
  ClusterScope scope = ClusterScope::None;
};

struct CidrPeer {
  Ipv4Prefix prefix;
  std::vector<Ipv4Prefix> except;
  // NetworkPolicy ipBlock matches every address, pods and nodes included; Cilium's CIDR rules
  // match only addresses outside the cluster.
  bool cluster_addresses = false;
};

struct Peers {
  bool any = false;  // every peer: the wildcard identity 0
  std::vector<PeerSelector> selectors;
  std::vector<CidrPeer> cidrs;
};

// One allow or deny section: spec.ingress[0], spec.egressDeny[2], ...
struct RuleSection {
  Direction direction = Direction::Ingress;
  Action action = Action::Allow;
  Peers peers;
  std::vector<PortSpec> ports;  // empty: every port of every protocol
  // A requirement this datapath cannot enforce (fromRequires, authentication, ICMP-only, ...):
  // an allow section then allows nothing (fail closed); a deny section denies nothing.
  bool unenforceable = false;
  std::string path;  // "spec.ingress[0]"
};

// One Cilium rule (or the whole of a NetworkPolicy): whom it selects, and what.
struct PolicyRule {
  EndpointSelector subject;
  bool isolates[2] = {false, false};  // by index_of(Direction): puts subjects in default deny
  bool host_policy = false;           // nodeSelector (host firewall): not enforced
  std::vector<RuleSection> sections;
  std::string path;  // "spec", "specs[1]"
  std::string description;
};

struct PolicyDocument {
  std::string kind;  // NetworkPolicy, CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy
  std::string ns;    // empty for the clusterwide kind
  std::string name;
  k8s::SourceRef source;
  std::vector<PolicyRule> rules;
  // Parts of the policy that are not enforced as written (L7, toFQDNs, ...), each with its field
  // path: shown as the policy's status by netctl and logged by the agent.
  std::vector<std::string> warnings;

  std::string display() const;  // "NetworkPolicy x/deny-all"
};

}  // namespace netagent::policy
