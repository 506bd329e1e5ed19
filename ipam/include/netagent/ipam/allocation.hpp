#pragma once
// LB IPAM allocation: a pure function from (pools, services, previous allocation) to the IPv4
// addresses of every LoadBalancer service and the status of every pool.
//
// There is no shared store in manifest mode: every node's agent computes the allocation on its
// own from the same manifests. allocate() is therefore deterministic (it never depends on the
// order objects arrive in, only on names and on the previous result), and it never moves an
// address a service already holds. docs/ipam.md explains the design and exactly when a node that
// lived through a history of changes can disagree with a freshly started one (ServiceAllocation::
// canonical marks those services).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "netagent/common/ip.hpp"
#include "netagent/ipam/pool.hpp"
#include "netagent/k8s/objects.hpp"
#include "netagent/k8s/snapshot.hpp"

namespace netagent::ipam {

// Annotations (and their older io.cilium/ aliases) read from Services.
inline constexpr const char* kIpsAnnotation = "lbipam.cilium.io/ips";
inline constexpr const char* kIpsAnnotationAlias = "io.cilium/lb-ipam-ips";
inline constexpr const char* kSharingKeyAnnotation = "lbipam.cilium.io/sharing-key";
inline constexpr const char* kSharingKeyAnnotationAlias = "io.cilium/lb-ipam-sharing-key";
inline constexpr const char* kSharingCrossNamespaceAnnotation =
    "lbipam.cilium.io/sharing-cross-namespace";
inline constexpr const char* kSharingCrossNamespaceAnnotationAlias =
    "io.cilium/lb-ipam-sharing-cross-namespace";

// Why a service has (or lacks) its addresses. The strings are Cilium's reasons of the
// io.cilium/lb-ipam-request-satisfied service condition where Cilium has one; pool_disabled,
// reserved_ip and invalid_request are this agent's (Cilium folds them into no_pool or a log line).
enum class Reason : uint8_t {
  Satisfied,                     // "satisfied"
  NoPool,                        // "no_pool": no enabled pool matches / contains the address
  PoolSelectorMismatch,          // "pool_selector_mismatch": the pool holding it does not select
  PoolDisabled,                  // "pool_disabled": the only matching pools are disabled
  ReservedIp,                    // "reserved_ip": a CIDR's first/last address was requested
  AlreadyAllocated,              // "already_allocated": held by a service without sharing
  AlreadyAllocatedIncompatible,  // "already_allocated_incompatible_service": sharing refused
  OutOfIps,                      // "out_of_ips": every matching pool is full
  InvalidRequest,                // "invalid_request": the requested addresses do not parse
};
const char* to_string(Reason r);

// How the service came to hold an address. Operators read it with ServiceAllocation::canonical
// to judge whether other nodes hold the same view.
enum class Placement : uint8_t {
  Requested,  // lbipam.cilium.io/ips or spec.loadBalancerIP
  Status,     // kept from the Service's own status.loadBalancer.ingress
  Previous,   // kept from this node's previous allocation (persisted across restarts)
  Home,       // the service's hash-derived home address in its pool
  Probed,     // the next free address after an occupied home address
  Shared,     // joined an address of its sharing key
};
const char* to_string(Placement p);

struct AllocatedIp {
  Ipv4Addr ip;
  std::string pool;
  Placement placement = Placement::Home;
};

struct ServiceAllocation {
  std::string key;               // "namespace/name"
  std::vector<AllocatedIp> ips;  // ascending by address
  bool satisfied = false;
  Reason reason = Reason::NoPool;
  std::string message;  // empty when satisfied
  std::string sharing_key;
  // True when a node starting with no previous state would give this service the same
  // addresses. False marks the (documented) cases where history matters; pin such a service's
  // address with lbipam.cilium.io/ips to make every node agree whatever their history.
  bool canonical = true;
};

struct PoolStatus {
  std::string name;
  std::vector<std::string> blocks;  // as written
  bool disabled = false;
  bool conflicting = false;
  std::string conflict_reason;   // "cidr_overlap" (Cilium's cilium.io/PoolConflict reason)
  std::string conflict_message;  // "Pool conflicts since CIDR ... from IP Pool '...'"
  uint64_t total = 0;            // allocatable IPv4 addresses (reserved ones excluded)
  uint64_t used = 0;
  uint64_t available = 0;
  uint64_t services = 0;  // services holding at least one address of this pool
};

// What a node remembers between runs: the addresses each service held. The agent persists it in
// its state directory (state_to_json) and passes it back after a restart.
struct AllocationState {
  std::map<std::string, std::vector<Ipv4Addr>> services;  // "namespace/name" -> addresses
  bool operator==(const AllocationState&) const = default;
};

struct Allocation {
  // Published in the desired-state store by the IPAM part (store::Store); the LB serves these
  // addresses and BGP announces the ones the LB serves.
  static constexpr std::string_view kTopic = "ipam.allocation";

  // LB IPAM stays dormant (allocates nothing, reports nothing) until the first pool exists,
  // as Cilium's does.
  bool dormant = true;
  std::map<std::string, ServiceAllocation> services;  // every service LB IPAM handles
  std::vector<PoolStatus> pools;                      // by name
  std::vector<k8s::DecodeError> errors;               // pools that failed to decode (skipped)

  const ServiceAllocation* find(std::string_view ns, std::string_view name) const;
  // The addresses of one service (empty when it has none or LB IPAM does not handle it).
  std::vector<Ipv4Addr> ips_of(std::string_view ns, std::string_view name) const;
  AllocationState state() const;
};

struct AllocateOptions {
  // Also compute the allocation of a node without history, to fill ServiceAllocation::canonical.
  // It doubles the cost; the agent keeps it on (allocation is cheap), benchmarks measure both.
  bool compute_canonical = true;
};

// Does LB IPAM handle this service: type LoadBalancer with no loadBalancerClass or
// io.cilium/bgp-control-plane.
bool handled_by_lb_ipam(const k8s::Service& svc);

Allocation allocate(const std::vector<Pool>& pools, const std::vector<k8s::Service>& services,
                    const AllocationState& previous, const AllocateOptions& options = {});
// Decodes the snapshot's pools and allocates for its services.
Allocation allocate(const k8s::Snapshot& snap, const AllocationState& previous,
                    const AllocateOptions& options = {});

// Counters for metrics.
struct PoolCounters {
  std::string name;
  uint64_t total = 0, used = 0, available = 0;
  bool conflicting = false, disabled = false;
};
struct IpamCounters {
  uint64_t pools = 0;
  uint64_t pools_conflicting = 0;
  uint64_t pools_disabled = 0;
  uint64_t services = 0;  // services LB IPAM handles
  uint64_t services_satisfied = 0;
  uint64_t services_unsatisfied = 0;
  uint64_t services_noncanonical = 0;  // would get other addresses on a node without history
  uint64_t ips_used = 0;
  uint64_t ips_available = 0;
  std::vector<PoolCounters> per_pool;
};
IpamCounters counters(const Allocation& a);

}  // namespace netagent::ipam
