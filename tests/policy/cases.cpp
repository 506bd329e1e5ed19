// The Kubernetes NetworkPolicy e2e cases (kubernetes/test/e2e/network/netpol/network_policy.go)
// on the full 9-pod model, and CiliumNetworkPolicy cases, with their expected reachability in
// the e2e tests' printed form: rows are sources, columns destinations, "." allowed, "X" denied.
// Upstream builds each expectation with Expect/ExpectPeer/ExpectAllIngress/ExpectAllEgress on an
// all-allowed table; the comment on each matrix names those calls. The diagonal (loopback) is
// printed but not compared, as upstream (k/k#95879).
#include <netinet/in.h>

#include "model.hpp"

namespace netagent::policy::testing {

namespace {

// all
const char* const k_all = R"(
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  .   .   .   .   .   .   .   .   .
x/b  .   .   .   .   .   .   .   .   .
x/c  .   .   .   .   .   .   .   .   .
y/a  .   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  .   .   .   .   .   .   .   .   .
z/a  .   .   .   .   .   .   .   .   .
z/b  .   .   .   .   .   .   .   .   .
z/c  .   .   .   .   .   .   .   .   .
)";

// deny_ingress_x
const char* const k_deny_ingress_x = R"(
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   .   .   .   .   .   .
x/b  X   X   X   .   .   .   .   .   .
x/c  X   X   X   .   .   .   .   .   .
y/a  X   X   X   .   .   .   .   .   .
y/b  X   X   X   .   .   .   .   .   .
y/c  X   X   X   .   .   .   .   .   .
z/a  X   X   X   .   .   .   .   .   .
z/b  X   X   X   .   .   .   .   .   .
z/c  X   X   X   .   .   .   .   .   .
)";

// deny_all_x
const char* const k_deny_all_x = R"(
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  X   X   X   X   X   X   X   X   X
x/c  X   X   X   X   X   X   X   X   X
y/a  X   X   X   .   .   .   .   .   .
y/b  X   X   X   .   .   .   .   .   .
y/c  X   X   X   .   .   .   .   .   .
z/a  X   X   X   .   .   .   .   .   .
z/b  X   X   X   .   .   .   .   .   .
z/c  X   X   X   .   .   .   .   .   .
)";

// xa_from_xb
const char* const k_xa_from_xb = R"(
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   .   .   .   .   .   .   .
x/b  .   .   .   .   .   .   .   .   .
x/c  X   .   .   .   .   .   .   .   .
y/a  X   .   .   .   .   .   .   .   .
y/b  X   .   .   .   .   .   .   .   .
y/c  X   .   .   .   .   .   .   .   .
z/a  X   .   .   .   .   .   .   .   .
z/b  X   .   .   .   .   .   .   .   .
z/c  X   .   .   .   .   .   .   .   .
)";

// target
const char* const k_target = R"(
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  .   X   X   .   .   .   .   .   .
x/b  .   X   X   .   .   .   .   .   .
x/c  .   X   X   .   .   .   .   .   .
y/a  .   X   X   .   .   .   .   .   .
y/b  .   X   X   .   .   .   .   .   .
y/c  .   X   X   .   .   .   .   .   .
z/a  .   X   X   .   .   .   .   .   .
z/b  .   X   X   .   .   .   .   .   .
z/c  .   X   X   .   .   .   .   .   .
)";

// xa_from_ns_y
const char* const k_xa_from_ns_y = R"(
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   .   .   .   .   .   .   .
x/b  X   .   .   .   .   .   .   .   .
x/c  X   .   .   .   .   .   .   .   .
y/a  .   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  .   .   .   .   .   .   .   .   .
z/a  X   .   .   .   .   .   .   .   .
z/b  X   .   .   .   .   .   .   .   .
z/c  X   .   .   .   .   .   .   .   .
)";

// pod_or_ns
const char* const k_pod_or_ns = R"(
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   .   .   .   .   .   .   .
x/b  .   .   .   .   .   .   .   .   .
x/c  X   .   .   .   .   .   .   .   .
y/a  .   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  .   .   .   .   .   .   .   .   .
z/a  .   .   .   .   .   .   .   .   .
z/b  .   .   .   .   .   .   .   .   .
z/c  .   .   .   .   .   .   .   .   .
)";

// pod_and_ns
const char* const k_pod_and_ns = R"(
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   .   .   .   .   .   .   .
x/b  X   .   .   .   .   .   .   .   .
x/c  X   .   .   .   .   .   .   .   .
y/a  X   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  X   .   .   .   .   .   .   .   .
z/a  X   .   .   .   .   .   .   .   .
z/b  .   .   .   .   .   .   .   .   .
z/c  X   .   .   .   .   .   .   .   .
)";

// multi_pod_ns
const char* const k_multi_pod_ns = R"(
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   .   .   .   .   .   .   .
x/b  X   .   .   .   .   .   .   .   .
x/c  X   .   .   .   .   .   .   .   .
y/a  X   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  .   .   .   .   .   .   .   .   .
z/a  X   .   .   .   .   .   .   .   .
z/b  .   .   .   .   .   .   .   .   .
z/c  .   .   .   .   .   .   .   .   .
)";

// any_podsel
const char* const k_any_podsel = R"(
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   .   .   .   .   .   .   .
x/b  .   .   .   .   .   .   .   .   .
x/c  .   .   .   .   .   .   .   .   .
y/a  X   .   .   .   .   .   .   .   .
y/b  X   .   .   .   .   .   .   .   .
y/c  X   .   .   .   .   .   .   .   .
z/a  X   .   .   .   .   .   .   .   .
z/b  X   .   .   .   .   .   .   .   .
z/c  X   .   .   .   .   .   .   .   .
)";

// only_ya
const char* const k_only_ya = R"(
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   .   .   .   .   .   .   .
x/b  X   .   .   .   .   .   .   .   .
x/c  X   .   .   .   .   .   .   .   .
y/a  .   .   .   .   .   .   .   .   .
y/b  X   .   .   .   .   .   .   .   .
y/c  X   .   .   .   .   .   .   .   .
z/a  X   .   .   .   .   .   .   .   .
z/b  X   .   .   .   .   .   .   .   .
z/c  X   .   .   .   .   .   .   .   .
)";

// ports81
const char* const k_ports81 = R"(
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   .   .   .   .   .   .   .
x/b  X   .   .   .   .   .   .   .   .
x/c  X   .   .   .   .   .   .   .   .
y/a  .   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  .   .   .   .   .   .   .   .   .
z/a  X   .   .   .   .   .   .   .   .
z/b  X   .   .   .   .   .   .   .   .
z/c  X   .   .   .   .   .   .   .   .
)";

// xa_closed
const char* const k_xa_closed = R"(
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   .   .   .   .   .   .   .
x/b  X   .   .   .   .   .   .   .   .
x/c  X   .   .   .   .   .   .   .   .
y/a  X   .   .   .   .   .   .   .   .
y/b  X   .   .   .   .   .   .   .   .
y/c  X   .   .   .   .   .   .   .   .
z/a  X   .   .   .   .   .   .   .   .
z/b  X   .   .   .   .   .   .   .   .
z/c  X   .   .   .   .   .   .   .   .
)";

// egress_x_closed
const char* const k_egress_x_closed = R"(
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  X   X   X   X   X   X   X   X   X
x/c  X   X   X   X   X   X   X   X   X
y/a  .   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  .   .   .   .   .   .   .   .   .
z/a  .   .   .   .   .   .   .   .   .
z/b  .   .   .   .   .   .   .   .   .
z/c  .   .   .   .   .   .   .   .   .
)";

// deny_other_ns
const char* const k_deny_other_ns = R"(
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  .   .   .   .   .   .   .   .   .
x/b  .   .   .   .   .   .   .   .   .
x/c  .   .   .   .   .   .   .   .   .
y/a  X   X   X   .   .   .   .   .   .
y/b  X   X   X   .   .   .   .   .   .
y/c  X   X   X   .   .   .   .   .   .
z/a  X   X   X   .   .   .   .   .   .
z/b  X   X   X   .   .   .   .   .   .
z/c  X   X   X   .   .   .   .   .   .
)";

// egress_xa_closed
const char* const k_egress_xa_closed = R"(
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  .   .   .   .   .   .   .   .   .
x/c  .   .   .   .   .   .   .   .   .
y/a  .   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  .   .   .   .   .   .   .   .   .
z/a  .   .   .   .   .   .   .   .   .
z/b  .   .   .   .   .   .   .   .   .
z/c  .   .   .   .   .   .   .   .   .
)";

// ing_eg_81
const char* const k_ing_eg_81 = R"(
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  .   .   .   .   .   .   .   .   .
x/c  X   .   .   .   .   .   .   .   .
y/a  X   .   .   .   .   .   .   .   .
y/b  X   .   .   .   .   .   .   .   .
y/c  X   .   .   .   .   .   .   .   .
z/a  X   .   .   .   .   .   .   .   .
z/b  X   .   .   .   .   .   .   .   .
z/c  X   .   .   .   .   .   .   .   .
)";

// client_side
const char* const k_client_side = R"(
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   .   X   X   X   X   X
x/b  .   .   .   X   X   .   .   .   .
x/c  .   .   .   X   X   .   .   .   .
y/a  .   .   .   X   X   .   .   .   .
y/b  .   .   .   X   X   .   .   .   .
y/c  .   .   .   X   X   .   .   .   .
z/a  .   .   .   X   X   .   .   .   .
z/b  .   .   .   X   X   .   .   .   .
z/c  .   .   .   X   X   .   .   .   .
)";

// egress_to_ya
const char* const k_egress_to_ya = R"(
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   .   X   X   X   X   X
x/b  .   .   .   .   .   .   .   .   .
x/c  .   .   .   .   .   .   .   .   .
y/a  .   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  .   .   .   .   .   .   .   .   .
z/a  .   .   .   .   .   .   .   .   .
z/b  .   .   .   .   .   .   .   .   .
z/c  .   .   .   .   .   .   .   .   .
)";

// cidr_yb
const char* const k_cidr_yb = R"(
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   .   X   X   X   X
x/b  .   .   .   .   .   .   .   .   .
x/c  .   .   .   .   .   .   .   .   .
y/a  .   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  .   .   .   .   .   .   .   .   .
z/a  .   .   .   .   .   .   .   .   .
z/b  .   .   .   .   .   .   .   .   .
z/c  .   .   .   .   .   .   .   .   .
)";

// except_xb
const char* const k_except_xb = R"(
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  .   X   .   .   .   .   .   .   .
x/b  .   .   .   .   .   .   .   .   .
x/c  .   .   .   .   .   .   .   .   .
y/a  .   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  .   .   .   .   .   .   .   .   .
z/a  .   .   .   .   .   .   .   .   .
z/b  .   .   .   .   .   .   .   .   .
z/c  .   .   .   .   .   .   .   .   .
)";

// xa_to_not_y
const char* const k_xa_to_not_y = R"(
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  .   .   .   X   X   X   .   .   .
x/b  .   .   .   .   .   .   .   .   .
x/c  .   .   .   .   .   .   .   .   .
y/a  .   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  .   .   .   .   .   .   .   .   .
z/a  .   .   .   .   .   .   .   .   .
z/b  .   .   .   .   .   .   .   .   .
z/c  .   .   .   .   .   .   .   .   .
)";

// xa_col_only_xb_deny
const char* const k_xa_col_only_xb_deny = R"(
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  .   .   .   .   .   .   .   .   .
x/b  X   .   .   .   .   .   .   .   .
x/c  .   .   .   .   .   .   .   .   .
y/a  .   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  .   .   .   .   .   .   .   .   .
z/a  .   .   .   .   .   .   .   .   .
z/b  .   .   .   .   .   .   .   .   .
z/c  .   .   .   .   .   .   .   .   .
)";

// cnp_ns_x_to_xa_minus_xb
const char* const k_cnp_ns_x_to_xa_minus_xb = R"(
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  .   .   .   .   .   .   .   .   .
x/b  X   .   .   .   .   .   .   .   .
x/c  .   .   .   .   .   .   .   .   .
y/a  X   .   .   .   .   .   .   .   .
y/b  X   .   .   .   .   .   .   .   .
y/c  X   .   .   .   .   .   .   .   .
z/a  X   .   .   .   .   .   .   .   .
z/b  X   .   .   .   .   .   .   .   .
z/c  X   .   .   .   .   .   .   .   .
)";

// closed
const char* const k_closed = R"(
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  X   X   X   X   X   X   X   X   X
x/c  X   X   X   X   X   X   X   X   X
y/a  X   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  X   X   X   X   X   X   X   X   X
z/b  X   X   X   X   X   X   X   X   X
z/c  X   X   X   X   X   X   X   X   X
)";

// xa_row_closed
const char* const k_xa_row_closed = R"(
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  .   .   .   .   .   .   .   .   .
x/c  .   .   .   .   .   .   .   .   .
y/a  .   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  .   .   .   .   .   .   .   .   .
z/a  .   .   .   .   .   .   .   .   .
z/b  .   .   .   .   .   .   .   .   .
z/c  .   .   .   .   .   .   .   .   .
)";

// Policies are written the way the e2e helpers build them: SetSpecIngressRules(rules...) sets
// spec.ingress and adds Ingress to policyTypes (no rules: deny all ingress).
E2eCase knp(std::string name, std::string yaml, std::vector<Probe> probes) {
  return E2eCase{std::move(name), std::move(yaml), std::move(probes), {}};
}

}  // namespace

const std::vector<E2eCase>& network_policy_cases() {
  static const std::vector<E2eCase> cases = {
      knp("no policy: everything is allowed", "",
          {{80, IPPROTO_TCP, k_all}, {81, IPPROTO_UDP, k_all}}),

      // ExpectPeer(&Peer{}, &Peer{Namespace: nsX}, false)
      knp("should support a 'default-deny-ingress' policy", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-ingress, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Ingress]
)",
          {{80, IPPROTO_TCP, k_deny_ingress_x},
           {80, IPPROTO_UDP, k_deny_ingress_x},
           {80, IPPROTO_SCTP, k_deny_ingress_x}}),

      // ExpectPeer(&Peer{}, &Peer{Namespace: nsX}, false); ExpectPeer(&Peer{Namespace: nsX},
      // &Peer{}, false)
      knp("should support a 'default-deny-all' policy", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
)",
          {{80, IPPROTO_TCP, k_deny_all_x}}),

      // ExpectAllIngress(x/a, false); Expect(x/b, x/a, true)
      knp("should enforce policy to allow traffic from pods within server namespace based on "
          "PodSelector",
          R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: x-a-allows-x-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - podSelector: {matchLabels: {pod: b}}
)",
          {{80, IPPROTO_TCP, k_xa_from_xb}}),

      // ExpectAllIngress(x/a, true); ExpectAllIngress(x/b, false) (and x/c in the 9-pod model)
      knp("should enforce policy to allow ingress traffic for a target", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Ingress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all-to-a, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - podSelector: {}
      namespaceSelector: {}
)",
          {{80, IPPROTO_TCP, k_target}}),

      knp("should enforce policy to allow ingress traffic from pods in all namespaces", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-from-another-ns, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {}}
)",
          {{80, IPPROTO_TCP, k_all}}),

      // ExpectPeer(&Peer{Namespace: nsX}, &Peer{Namespace: nsX, Pod: "a"}, false);
      // ExpectPeer(&Peer{Namespace: nsZ}, &Peer{Namespace: nsX, Pod: "a"}, false)
      knp("should enforce policy to allow traffic only from a different namespace, based on "
          "NamespaceSelector",
          R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-client-a-via-ns-selector, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}
)",
          {{80, IPPROTO_TCP, k_xa_from_ns_y}}),

      knp("should enforce policy based on PodSelector with MatchExpressions", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: x-a-allows-x-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - podSelector:
        matchExpressions: [{key: pod, operator: In, values: [b]}]
)",
          {{80, IPPROTO_TCP, k_xa_from_xb}}),

      knp("should enforce policy based on NamespaceSelector with MatchExpressions", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-ns-y-match-selector, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector:
        matchExpressions: [{key: ns, operator: In, values: [y]}]
)",
          {{80, IPPROTO_TCP, k_xa_from_ns_y}}),

      // Expect(x/a, x/a, false); Expect(x/c, x/a, false)
      knp("should enforce policy based on PodSelector or NamespaceSelector", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-ns-y-match-selector, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector:
        matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [x]}]
    - podSelector: {matchLabels: {pod: b}}
)",
          {{80, IPPROTO_TCP, k_pod_or_ns}}),

      // ExpectAllIngress(x/a, false); Expect(y/b, x/a, true); Expect(z/b, x/a, true)
      knp("should enforce policy based on PodSelector and NamespaceSelector", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-ns-y-podselector-and-nsselector, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector:
        matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [x]}]
      podSelector: {matchLabels: {pod: b}}
)",
          {{80, IPPROTO_TCP, k_pod_and_ns}}),

      // ExpectPeer(&Peer{Namespace: nsX}, &Peer{Namespace: nsX, Pod: "a"}, false);
      // Expect(y/a, x/a, false) (and z/a in the 9-pod model)
      knp("should enforce policy based on Multiple PodSelectors and NamespaceSelectors", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-ns-y-z-pod-b-c, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector:
        matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [x]}]
      podSelector:
        matchExpressions: [{key: pod, operator: In, values: [b, c]}]
)",
          {{80, IPPROTO_TCP, k_multi_pod_ns}}),

      // ExpectAllIngress(x/a, false); Expect(x/b, x/a, true); Expect(x/c, x/a, true)
      knp("should enforce policy based on any PodSelectors", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-ns-x-pod-b-c, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - podSelector: {matchLabels: {pod: b}}
    - podSelector: {matchLabels: {pod: c}}
)",
          {{80, IPPROTO_TCP, k_any_podsel}}),

      // ExpectAllIngress(x/a, false); Expect(y/a, x/a, true)
      knp("should enforce policy to allow traffic only from a pod in a different namespace based "
          "on PodSelector and NamespaceSelector",
          R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-ns-y-pod-a-via-namespace-pod-selector, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}
      podSelector: {matchLabels: {pod: a}}
)",
          {{80, IPPROTO_TCP, k_only_ya},
           {80, IPPROTO_UDP, k_only_ya},
           {80, IPPROTO_SCTP, k_only_ya}}),

      // ExpectPeer(x -> x/a, false); ExpectPeer(y -> x/a, true); ExpectPeer(z -> x/a, false)
      knp("should enforce policy based on Ports", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-client-a-via-ns-selector, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}
    ports:
    - {port: 81, protocol: TCP}
)",
          {{81, IPPROTO_TCP, k_ports81}, {80, IPPROTO_TCP, k_xa_closed}}),

      knp("should enforce policy based on Ports (UDP)", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-ingress-on-port-81-ns-x, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}
    ports:
    - {port: 81, protocol: UDP}
)",
          {{81, IPPROTO_UDP, k_ports81}, {81, IPPROTO_TCP, k_xa_closed}}),

      knp("should enforce policy based on Ports (SCTP)", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-ingress-on-port-81-ns-x, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}
    ports:
    - {port: 81, protocol: SCTP}
)",
          {{81, IPPROTO_SCTP, k_ports81}, {81, IPPROTO_TCP, k_xa_closed}}),

      // After the second policy: 80 is allowed from y like 81 (reachabilityALLOW on both ports).
      knp("should enforce multiple, stacked policies with overlapping podSelectors", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-client-a-via-ns-selector, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}
    ports:
    - {port: 81, protocol: TCP}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-client-a-via-ns-selector-80, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}
    ports:
    - {port: 80, protocol: TCP}
)",
          {{81, IPPROTO_TCP, k_ports81},
           {80, IPPROTO_TCP, k_ports81},
           {82, IPPROTO_TCP, k_xa_closed}}),

      knp("should support allow-all policy", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all, namespace: x}
spec:
  podSelector: {}
  ingress:
  - {}
)",
          {{80, IPPROTO_TCP, k_all}, {81, IPPROTO_TCP, k_all}}),

      // 81: all allowed; 80: ExpectPeer(&Peer{}, &Peer{Namespace: nsX}, false)
      knp("should allow ingress access on one named port", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all, namespace: x}
spec:
  podSelector: {}
  ingress:
  - ports:
    - port: serve-81-tcp
)",
          {{81, IPPROTO_TCP, k_all},
           {80, IPPROTO_TCP, k_deny_ingress_x},
           {81, IPPROTO_UDP, k_deny_ingress_x}}),

      // 80: x and z -> x/a denied; 81: ExpectAllIngress(x/a, false)
      knp("should allow ingress access from namespace on one named port", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-client-a-via-ns-selector-80, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}
    ports:
    - {port: serve-80-tcp, protocol: TCP}
)",
          {{80, IPPROTO_TCP, k_xa_from_ns_y}, {81, IPPROTO_TCP, k_xa_closed}}),

      // 80: all allowed; 81: ExpectPeer(&Peer{Namespace: nsX}, &Peer{}, false)
      knp("should allow egress access on one named port", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-egress, namespace: x}
spec:
  podSelector: {}
  egress:
  - ports:
    - port: serve-80-tcp
  policyTypes: [Egress]
)",
          {{80, IPPROTO_TCP, k_all},
           {81, IPPROTO_TCP, k_egress_x_closed},
           {80, IPPROTO_UDP, k_egress_x_closed}}),

      knp("should enforce updated policy (allow-all mutated to deny-all)", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all-mutate-to-deny-all, namespace: x}
spec:
  podSelector: {}
  ingress: []
  policyTypes: [Ingress]
)",
          {{81, IPPROTO_TCP, k_deny_ingress_x}}),

      knp("should allow ingress access from updated namespace (label ns2=updated on y)", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-client-a-via-ns-selector, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {ns2: updated}}
)",
          {{80, IPPROTO_TCP, k_xa_closed}}),

      // ExpectPeer(y -> x, false); ExpectPeer(z -> x, false)
      knp("should deny ingress from pods on other namespaces", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-empty-policy, namespace: x}
spec:
  podSelector: {}
  ingress:
  - from:
    - podSelector: {matchLabels: {}}
)",
          {{80, IPPROTO_TCP, k_deny_other_ns}}),

      knp("should deny ingress access to updated pod (policy selects target=isolated; no pod has "
          "it)",
          R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-ingress-via-label-selector, namespace: x}
spec:
  podSelector: {matchLabels: {target: isolated}}
  policyTypes: [Ingress]
)",
          {{80, IPPROTO_TCP, k_all}}),

      // ExpectAllEgress(x/a, false)
      knp("should deny egress from pods based on PodSelector", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-egress-pod-a, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
)",
          {{80, IPPROTO_TCP, k_egress_xa_closed}}),

      // ExpectPeer(&Peer{Namespace: nsX}, &Peer{}, false)
      knp("should deny egress from all pods in a namespace", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-egress-ns-x, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Egress]
)",
          {{80, IPPROTO_TCP, k_egress_x_closed}}),

      // 80: ExpectAllIngress(x/a, false); Expect(x/b, x/a, true)
      // 81: ExpectAllIngress(x/a, false); ExpectAllEgress(x/a, false); Expect(x/b, x/a, true)
      knp("should work with Ingress, Egress specified together", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-client-a-via-pod-selector, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - podSelector: {matchLabels: {pod: b}}
  egress:
  - ports:
    - port: 80
  policyTypes: [Egress, Ingress]
)",
          {{80, IPPROTO_TCP, k_xa_from_xb}, {81, IPPROTO_TCP, k_ing_eg_81}}),

      // ExpectPeer(x/a -> *, false); ExpectPeer(* -> y/a, false); ExpectPeer(x/a -> y/a, true);
      // ExpectPeer(* -> y/b, false)
      knp("should support denying of egress traffic on the client side (even if the server "
          "explicitly allows this traffic)",
          R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-to-ns-y-pod-a, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  egress:
  - to:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}
      podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-from-xa-on-ya-match-selector, namespace: y}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: x}}
      podSelector: {matchLabels: {pod: a}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-from-xa-on-yb-match-selector, namespace: y}
spec:
  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: x}}
      podSelector: {matchLabels: {pod: a}}
)",
          {{80, IPPROTO_TCP, k_client_side}}),

      // ExpectAllEgress(x/a, false); Expect(x/a, y/a, true)
      knp("should enforce egress policy allowing traffic to a server in a different namespace "
          "based on PodSelector and NamespaceSelector",
          R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-to-ns-y-pod-a, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  egress:
  - to:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}
      podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
)",
          {{80, IPPROTO_TCP, k_egress_to_ya}}),

      // TCP: all allowed; UDP: ExpectPeer(&Peer{}, x/a, false)
      knp("should enforce ingress policy allowing any port traffic to a server on a specific "
          "protocol",
          R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-ingress-by-proto, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - ports:
    - protocol: TCP
)",
          {{80, IPPROTO_TCP, k_all}, {81, IPPROTO_TCP, k_all}, {80, IPPROTO_UDP, k_xa_closed}}),

      knp("should enforce multiple ingress policies with ingress allow-all policy taking "
          "precedence",
          R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-ingress-port-80, namespace: x}
spec:
  podSelector: {}
  ingress:
  - ports:
    - port: 80
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-ingress, namespace: x}
spec:
  podSelector: {}
  ingress:
  - {}
)",
          {{81, IPPROTO_TCP, k_all}}),

      knp("should enforce multiple ingress policies (port 80 only, before the allow-all)", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-ingress-port-80, namespace: x}
spec:
  podSelector: {}
  ingress:
  - ports:
    - port: 80
)",
          {{81, IPPROTO_TCP, k_deny_ingress_x}, {80, IPPROTO_TCP, k_all}}),

      knp("should enforce multiple egress policies with egress allow-all policy taking precedence",
          R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-egress-port-80, namespace: x}
spec:
  podSelector: {}
  egress:
  - ports:
    - port: 80
  policyTypes: [Egress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-egress, namespace: x}
spec:
  podSelector: {}
  egress:
  - {}
  policyTypes: [Egress]
)",
          {{81, IPPROTO_TCP, k_all}}),

      knp("should enforce multiple egress policies (port 80 only, before the allow-all)", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-egress-port-80, namespace: x}
spec:
  podSelector: {}
  egress:
  - ports:
    - port: 80
  policyTypes: [Egress]
)",
          {{81, IPPROTO_TCP, k_egress_x_closed}, {80, IPPROTO_TCP, k_all}}),

      // ExpectAllEgress(x/a, false); Expect(x/a, y/b, true)
      knp("should allow egress access to server in CIDR block", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-client-a-via-cidr-egress-rule, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  egress:
  - to:
    - ipBlock: {cidr: 10.0.2.20/32}
  policyTypes: [Egress]
)",
          {{80, IPPROTO_TCP, k_cidr_yb}}),

      // Expect(x/a, x/b, false): makeLargeCIDRForIP gives the /4 around the pod
      knp("should enforce except clause while egress access to server in CIDR block", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-client-a-via-cidr-egress-rule, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  egress:
  - to:
    - ipBlock:
        cidr: 0.0.0.0/4
        except: [10.0.1.20/32]
  policyTypes: [Egress]
)",
          {{80, IPPROTO_TCP, k_except_xb}}),

      // The except of one policy does not stop another policy's block: union.
      knp("should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-client-a-via-cidr-egress-rule, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  egress:
  - to:
    - ipBlock:
        cidr: 0.0.0.0/4
        except: [10.0.1.20/32]
  policyTypes: [Egress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-client-a-via-cidr-egress-rule-2, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  egress:
  - to:
    - ipBlock: {cidr: 10.0.1.20/32}
  policyTypes: [Egress]
)",
          {{80, IPPROTO_TCP, k_all}}),

      // Upstream's final step replaces the first policy by one allowing only x/b.
      knp("should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed (after "
          "update)",
          R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-client-a-via-cidr-egress-rule, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  egress:
  - to:
    - ipBlock: {cidr: 10.0.1.20/32}
  policyTypes: [Egress]
)",
          {{80, IPPROTO_TCP, R"(
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   X   X   X   X   X   X   X
x/b  .   .   .   .   .   .   .   .   .
x/c  .   .   .   .   .   .   .   .   .
y/a  .   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  .   .   .   .   .   .   .   .   .
z/a  .   .   .   .   .   .   .   .   .
z/b  .   .   .   .   .   .   .   .   .
z/c  .   .   .   .   .   .   .   .   .
)"}}),

      knp("should enforce policies to check ingress and egress policies can be controlled "
          "independently based on PodSelector",
          R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-egress-for-target, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  egress:
  - {}
  policyTypes: [Egress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-ingress-via-label-selector, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
)",
          {{80, IPPROTO_TCP, k_xa_closed}}),

      knp("should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP', even if the plugin "
          "doesn't support SCTP",
          R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-ingress, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Ingress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-only-sctp-ingress-on-port-81, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - ports:
    - {port: 81, protocol: SCTP}
)",
          {{81, IPPROTO_TCP, k_deny_ingress_x}}),

      knp("should properly isolate pods that are selected by a policy allowing SCTP, even if the "
          "plugin doesn't support SCTP",
          R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-only-sctp-ingress-on-port-80, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - ports:
    - {port: 80, protocol: SCTP}
)",
          {{81, IPPROTO_TCP, k_xa_closed}, {80, IPPROTO_SCTP, k_all}}),

      knp("should not allow access by TCP when a policy specifies only UDP", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-only-udp-ingress-on-port-81, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - ports:
    - {port: 81, protocol: UDP}
)",
          {{81, IPPROTO_TCP, k_xa_closed}, {81, IPPROTO_UDP, k_all}}),

      knp("should enforce policy to allow traffic based on NamespaceSelector with MatchLabels "
          "using default ns label",
          R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-client-a-via-ns-selector-for-immutable-ns-label, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}
)",
          {{80, IPPROTO_TCP, k_xa_from_ns_y}}),

      // ExpectPeer(x/a -> y, false)
      knp("should enforce policy based on NamespaceSelector with MatchExpressions using default ns "
          "label",
          R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-ns-y-match-selector-for-immutable-ns-label, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  egress:
  - to:
    - namespaceSelector:
        matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [y]}]
  policyTypes: [Egress]
)",
          {{80, IPPROTO_TCP, k_xa_to_not_y}}),

      knp("should allow a port range (endPort) from namespace y", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-port-range, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {ns: y}}
    ports:
    - {port: 80, endPort: 81, protocol: TCP}
)",
          {{80, IPPROTO_TCP, k_ports81},
           {81, IPPROTO_TCP, k_ports81},
           {82, IPPROTO_TCP, k_xa_closed},
           {79, IPPROTO_TCP, k_xa_closed}}),
  };
  return cases;
}

const std::vector<E2eCase>& cilium_policy_cases() {
  static const std::vector<E2eCase> cases = {
      knp("CNP entities: fromEntities cluster lets every pod in", R"(
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: from-cluster, namespace: x}
spec:
  endpointSelector: {matchLabels: {pod: a}}
  ingress:
  - fromEntities: [cluster]
)",
          {{80, IPPROTO_TCP, k_all}}),

      knp("CNP entities: fromEntities world keeps pods out", R"(
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: from-world, namespace: x}
spec:
  endpointSelector: {matchLabels: {pod: a}}
  ingress:
  - fromEntities: [world]
)",
          {{80, IPPROTO_TCP, k_xa_closed}}),

      // fromEndpoints [{}] in a namespaced CNP is "this namespace"; the deny on pod=b wins.
      knp("CNP deny precedence: ingressDeny beats an allow from the whole namespace", R"(
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: allow-namespace, namespace: x}
spec:
  endpointSelector: {matchLabels: {pod: a}}
  ingress:
  - fromEndpoints: [{}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: deny-b, namespace: x}
spec:
  endpointSelector: {matchLabels: {pod: a}}
  ingressDeny:
  - fromEndpoints: [{matchLabels: {pod: b}}]
)",
          {{80, IPPROTO_TCP, k_cnp_ns_x_to_xa_minus_xb}}),

      // deny.rst truth table, column 2: allow L3 from all + deny 80/TCP: 80 denied, 81 allowed.
      knp("CNP deny precedence: L4 deny over an L3 allow (deny.rst column 2)", R"(
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: allow-all-to-xa}
spec:
  endpointSelector: {matchLabels: {k8s:io.kubernetes.pod.namespace: x, pod: a}}
  ingress:
  - fromEntities: [all]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: deny-80, namespace: x}
spec:
  endpointSelector: {matchLabels: {pod: a}}
  ingressDeny:
  - toPorts:
    - ports: [{port: "80", protocol: TCP}]
)",
          {{80, IPPROTO_TCP, k_xa_closed}, {81, IPPROTO_TCP, k_all}, {80, IPPROTO_UDP, k_all}}),

      // deny.rst column 5: a deny policy alone puts the pod into default deny.
      knp("CNP deny-only policy isolates the endpoint (deny.rst column 5)", R"(
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: deny-80, namespace: x}
spec:
  endpointSelector: {matchLabels: {pod: a}}
  ingressDeny:
  - toPorts:
    - ports: [{port: "80", protocol: TCP}]
)",
          {{80, IPPROTO_TCP, k_xa_closed}, {81, IPPROTO_TCP, k_xa_closed}}),

      knp("CNP enableDefaultDeny false: a deny without isolation", R"(
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: deny-b, namespace: x}
spec:
  endpointSelector: {matchLabels: {pod: a}}
  enableDefaultDeny: {ingress: false}
  ingressDeny:
  - fromEndpoints: [{matchLabels: {pod: b}}]
)",
          {{80, IPPROTO_TCP, k_xa_col_only_xb_deny}}),

      // Cilium CIDR rules do not select cluster endpoints (unlike NetworkPolicy ipBlock).
      knp("CNP toCIDR does not match pod addresses", R"(
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: to-cidr, namespace: x}
spec:
  endpointSelector: {matchLabels: {pod: a}}
  egress:
  - toCIDR: [10.0.0.0/8]
)",
          {{80, IPPROTO_TCP, k_xa_row_closed}}),

      knp("CNP toEndpoints across namespaces with a port range and protocol ANY", R"(
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: to-y-a, namespace: x}
spec:
  endpointSelector: {matchLabels: {pod: a}}
  egress:
  - toEndpoints:
    - matchLabels: {k8s:io.kubernetes.pod.namespace: y, pod: a}
    toPorts:
    - ports: [{port: "79", endPort: 80}]
)",
          {{80, IPPROTO_TCP, k_egress_to_ya},
           {80, IPPROTO_UDP, k_egress_to_ya},
           {81, IPPROTO_TCP, k_egress_xa_closed}}),

      knp("CCNP with namespace matchExpressions selects across namespaces", R"(
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: isolate-x-and-z}
spec:
  endpointSelector:
    matchExpressions:
    - {key: io.kubernetes.pod.namespace, operator: In, values: [x, z]}
  ingress:
  - fromEndpoints:
    - matchLabels: {io.kubernetes.pod.namespace: y}
)",
          {{80, IPPROTO_TCP, R"(
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   .   .   .   X   X   X
x/b  X   X   X   .   .   .   X   X   X
x/c  X   X   X   .   .   .   X   X   X
y/a  .   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  .   .   .   .   .   .   .   .   .
z/a  X   X   X   .   .   .   X   X   X
z/b  X   X   X   .   .   .   X   X   X
z/c  X   X   X   .   .   .   X   X   X
)"}}),
  };
  return cases;
}

}  // namespace netagent::policy::testing
