#pragma once
// The Kubernetes NetworkPolicy e2e model (test/e2e/network/netpol): namespaces x, y, z labelled
// ns=<name> and kubernetes.io/metadata.name=<name>; pods a, b, c in each labelled pod=<name>,
// serving ports 80 and 81 over TCP, UDP and SCTP, each on a container port named
// serve-<port>-<proto>. Pod x/a is 10.0.1.10, x/b 10.0.1.20, y/a 10.0.2.10, and so on.
//
// Policies are added as YAML manifests and go through the same path as the agent's: the
// snapshot builder with the policy kinds registered, then the compiler.
#include <string>
#include <vector>

#include "netagent/common/ip.hpp"
#include "netagent/k8s/snapshot.hpp"
#include "netagent/policy/compiler.hpp"
#include "netagent/policy/reachability.hpp"

namespace netagent::policy::testing {

struct Probe {
  uint16_t port = 80;
  uint8_t proto = 6;     // IPPROTO_*
  std::string expected;  // the matrix in the printed e2e form
};

struct E2eCase {
  std::string name;
  std::string policies;  // YAML manifests
  std::vector<Probe> probes;
  CompileOptions options;
};

class Model {
 public:
  // Extra manifests (pods, namespaces, nodes, endpoint slices) join the model's objects.
  explicit Model(const std::string& extra_manifests = "");

  // The model's objects as a multi-document YAML manifest (for tools that read a manifest tree).
  const std::string& manifests() const { return manifests_; }

  static const std::vector<std::string>& pod_names();  // "x/a" ... "z/c"
  static Ipv4Addr pod_ip(const std::string& pod);      // "x/a" -> 10.0.1.10

  // The snapshot of the model plus `policies`; throws std::runtime_error with the decode error.
  k8s::Snapshot snapshot(const std::string& policies) const;
  CompiledPolicy compile(const std::string& policies, const CompileOptions& opts = {}) const;

  // The 9x9 matrix by the pure evaluator.
  static Reachability evaluate(const CompiledPolicy& cp, uint16_t port, uint8_t proto);

 private:
  std::string manifests_;
};

// The upstream cases, each with the expected 9x9 matrices.
const std::vector<E2eCase>& network_policy_cases();
const std::vector<E2eCase>& cilium_policy_cases();

}  // namespace netagent::policy::testing
