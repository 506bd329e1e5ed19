#pragma once
// CiliumLoadBalancerIPPool (cilium.io/v2alpha1 and cilium.io/v2), decoded from a manifest object.
//
// Semantics follow Cilium's LB IPAM (Documentation/network/lb-ipam.rst): a pool is a list of
// blocks (a CIDR, or a start/stop range; a lone start is one address), an optional service
// selector (absent or empty: every service), `disabled` (no new allocations, existing ones stay)
// and `allowFirstLastIPs` (the first and last address of each CIDR are reserved unless "Yes";
// /31 and /32 are exempt; start/stop ranges reserve nothing).
#include <cstdint>
#include <string>
#include <vector>

#include "netagent/common/ip.hpp"
#include "netagent/k8s/decode.hpp"
#include "netagent/k8s/selector.hpp"
#include "netagent/k8s/snapshot.hpp"

namespace netagent::ipam {

inline constexpr const char* kPoolKind = "CiliumLoadBalancerIPPool";

struct PoolBlock {
  std::string text;        // as written: "10.0.0.0/24", "10.0.0.1-10.0.0.9" or "10.0.0.1"
  bool ipv6 = false;       // accepted and listed, but this agent allocates IPv4 only
  bool from_cidr = false;  // a CIDR block (first/last reservation applies) or a range
  uint8_t prefix_len = 0;  // CIDR blocks only
  Ipv4Addr first;          // IPv4 blocks: the whole block, reserved addresses included
  Ipv4Addr last;
  std::string field;  // "spec.blocks[0]", for messages

  uint64_t size() const { return ipv6 ? 0 : uint64_t(last.value) - first.value + 1; }
  // The first and last addresses are reserved: a CIDR wider than /31 without allowFirstLastIPs.
  bool reserves_edges(bool allow_first_last) const {
    return !ipv6 && from_cidr && !allow_first_last && prefix_len < 31;
  }
};

struct Pool {
  std::string name;
  k8s::Labels labels;  // metadata.labels: BGP path attributes select pools by these
  std::vector<PoolBlock> blocks;
  k8s::LabelSelector service_selector;  // empty: every service
  bool disabled = false;
  bool allow_first_last = false;
  k8s::SourceRef source;
};

// Decodes one pool. Throws k8s::FieldError with the failing field's path.
Pool decode_pool(const k8s::Object& obj);

// Registers CiliumLoadBalancerIPPool with its decoder: a pool is decoded once, when the manifests
// load, and a bad one is rejected then (file, document, object and field in the error).
void register_kinds(k8s::KindRegistry& registry);

// Every pool of the snapshot, sorted by name: the forms decoded at load, or, in a snapshot built
// without register_kinds, decoded now (objects that fail are skipped and reported in *errors).
std::vector<Pool> decode_pools(const k8s::Snapshot& snap,
                               std::vector<k8s::DecodeError>* errors = nullptr);

}  // namespace netagent::ipam
