#include "netagent/policy/evaluator.hpp"

extern "C" {
#include "netagent/drop.h"
}

namespace netagent::policy {

const char* to_string(Verdict v) {
  switch (v) {
    case Verdict::NotPoliced:
      return "not policed";
    case Verdict::Allowed:
      return "allowed";
    case Verdict::Denied:
      return "denied";
    case Verdict::Audited:
      return "audited";
  }
  return "?";
}

DirectionDecision decide(const CompiledPolicy& cp, const EndpointInfo& ep, Direction dir,
                         Ipv4Addr peer, uint8_t proto, uint16_t dport) {
  DirectionDecision d;
  d.endpoint = &ep;
  d.peer_identity = identity::kWorld;
  if (const auto* ic = cp.ipcache_lookup(peer)) {
    d.peer_identity = ic->identity;
    d.peer_cidr_identity = ic->cidr_identity;
  }
  const IdentityPolicy* pol = ep.policy.get();
  const bool enforce = pol && pol->enforced[index_of(dir)];
  const bool lookup = pol && pol->has_entries(dir);
  if (!enforce && !lookup) return d;  // NotPoliced

  // Same order as the kernel: the peer's identity, its CIDR identity, then the wildcard.
  // The first deny decides; among allows the first found names the rule.
  // Non-first fragments and port-less protocols are looked up with port 0.
  Action action{};
  bool matched = false;
  auto one = [&](Identity id) {
    if (matched && action == Action::Deny) return;
    const MapEntry* e = longest_match(pol->entries, id, dir, proto, dport);
    if (!e) return;
    if (e->action == Action::Deny || !matched) {
      action = e->action;
      matched = true;
      d.rule = e->rule;
      d.match_type = id ? (e->reports_l4() ? POLICY_MATCH_L3_L4 : POLICY_MATCH_L3_ONLY)
                        : (e->reports_l4() ? POLICY_MATCH_L4_ONLY : POLICY_MATCH_ALL);
    }
  };
  if (lookup) {
    one(d.peer_identity);
    if (d.peer_cidr_identity) one(d.peer_cidr_identity);
    one(identity::kUnknown);
  }
  if ((matched && action == Action::Allow) || (!matched && !enforce)) {
    d.verdict = Verdict::Allowed;
    return d;
  }
  d.drop_reason = matched ? DROP_POLICY_DENY_RULE : DROP_POLICY_DENIED;
  d.verdict = ep.audit ? Verdict::Audited : Verdict::Denied;
  return d;
}

FlowDecision decide(const CompiledPolicy& cp, const Flow& f) {
  FlowDecision out;
  const uint16_t port = (f.proto == 6 || f.proto == 17 || f.proto == 132) ? f.dport : 0;
  if (const auto* src = cp.endpoint_at(f.src)) {
    out.egress = decide(cp, *src, Direction::Egress, f.dst, f.proto, port);
  }
  if (const auto* dst = cp.endpoint_at(f.dst)) {
    out.ingress = decide(cp, *dst, Direction::Ingress, f.src, f.proto, port);
  }
  return out;
}

namespace {

const char* match_name(uint8_t m) {
  switch (m) {
    case POLICY_MATCH_L3_ONLY:
      return "L3-Only";
    case POLICY_MATCH_L3_L4:
      return "L3-L4";
    case POLICY_MATCH_L4_ONLY:
      return "L4-Only";
    case POLICY_MATCH_ALL:
      return "all";
    default:
      return "none";
  }
}

}  // namespace

std::string explain(const CompiledPolicy& cp, const DirectionDecision& d, Direction dir) {
  std::string out = std::string(to_string(dir)) + ": ";
  if (!d.endpoint) return out + "not policed (no local endpoint on this side)\n";
  out += std::string(to_string(d.verdict)) + " at " + d.endpoint->key() + "\n";
  out += "  peer identity: " + cp.describe_identity(d.peer_identity) + "\n";
  if (d.peer_cidr_identity) {
    out += "  peer ipBlock identity: " + cp.describe_identity(d.peer_cidr_identity) + "\n";
  }
  if (d.verdict == Verdict::NotPoliced) return out + "  no policy applies in this direction\n";
  out += std::string("  match: ") + match_name(d.match_type) + "\n";
  if (d.rule) {
    const RuleInfo* r = cp.rule(d.rule);
    out += "  rule: " + (r ? r->str() : "unknown rule " + std::to_string(d.rule)) + "\n";
  } else {
    out += "  rule: none matched; the direction is default-deny because of:";
    const auto& by = d.endpoint->policy->isolated_by[index_of(dir)];
    if (by.empty()) out += " policy enforcement mode " + std::string(to_string(cp.options.mode));
    for (const auto& p : by)
      out += "\n    " + p;
    out += "\n";
  }
  return out;
}

}  // namespace netagent::policy
