#pragma once
// Decides flows by running the real policy program: the compiled policy is loaded into private
// (unpinned) maps with every endpoint, and each direction of a flow is a synthesized packet run
// through BPF_PROG_TEST_RUN (the egress program at the source endpoint, the ingress program at
// the destination). The verdict is the kernel's; the deciding rule comes from the program's flow
// record. Backs `netctl policy trace` and `netctl policy matrix`, and the e2e tests (tier bpf).
#include <memory>
#include <string>
#include <vector>

#include "netagent/policy/evaluator.hpp"
#include "netagent/policy/policy_datapath.hpp"
#include "netagent/policy/reachability.hpp"

namespace netagent::policy {

class KernelEvaluator {
 public:
  // Loads the program and fills its maps from cp (which must outlive the evaluator).
  static Result<std::unique_ptr<KernelEvaluator>> create(const CompiledPolicy& cp);
  ~KernelEvaluator();

  // Both directions of a new flow, as the pure decide() reports them.
  Result<FlowDecision> decide(const Flow& f);

  // Every pair of endpoints with an address, sorted by namespace then name ("ns/name").
  Result<Reachability> matrix(uint16_t port, uint8_t proto);

  PolicyDatapath& datapath() { return *dp_; }

 private:
  explicit KernelEvaluator(const CompiledPolicy& cp);
  Result<DirectionDecision> run(const EndpointInfo& ep, uint32_t endpoint_id, Direction dir,
                                const Flow& f);

  const CompiledPolicy& cp_;
  std::unique_ptr<PolicyDatapath> dp_;
  std::unordered_map<std::string, uint32_t> endpoint_ids_;  // "ns/name" -> id
  struct Events;
  std::unique_ptr<Events> events_;
  uint16_t next_sport_ = 20000;
};

}  // namespace netagent::policy
