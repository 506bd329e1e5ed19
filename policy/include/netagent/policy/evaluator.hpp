#pragma once
// The pure evaluator: decides a flow on compiled state exactly as bpf/policy.bpf.c does (the
// same lookups in the same order, the same precedence), and says which rule decided. Used by the
// tests (and checked against the kernel by them) and by `netctl policy trace` to explain.
#include <cstdint>
#include <string>

#include "netagent/policy/compiler.hpp"

namespace netagent::policy {

enum class Verdict {
  NotPoliced,  // no local endpoint on this side (e.g. a world address), or no policy applies
  Allowed,
  Denied,
  Audited,  // would be denied; let through by audit mode
};
const char* to_string(Verdict v);

struct DirectionDecision {
  Verdict verdict = Verdict::NotPoliced;
  const EndpointInfo* endpoint = nullptr;  // the local endpoint whose policy applies
  Identity peer_identity = 0;
  Identity peer_cidr_identity = 0;
  uint8_t match_type = POLICY_MATCH_NONE;  // enum policy_match_type
  uint32_t rule = 0;                       // cookie of the deciding rule, 0 = default verdict
  uint16_t drop_reason = 0;                // enum drop_reason when denied (or audited)

  bool passes() const { return verdict != Verdict::Denied; }
};

struct Flow {
  Ipv4Addr src, dst;
  uint8_t proto = 6;  // IPPROTO_*
  uint16_t dport = 0;
};

struct FlowDecision {
  DirectionDecision egress;   // at the source endpoint
  DirectionDecision ingress;  // at the destination endpoint
  bool allowed() const { return egress.passes() && ingress.passes(); }
};

// One direction at one endpoint, for a new flow (no conntrack).
DirectionDecision decide(const CompiledPolicy& cp, const EndpointInfo& ep, Direction dir,
                         Ipv4Addr peer, uint8_t proto, uint16_t dport);

// Both directions: egress at the source (when it is a local endpoint), ingress at the destination.
FlowDecision decide(const CompiledPolicy& cp, const Flow& f);

// Multi-line explanation of a decision, for netctl policy trace.
std::string explain(const CompiledPolicy& cp, const DirectionDecision& d, Direction dir);

}  // namespace netagent::policy
