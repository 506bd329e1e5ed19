#pragma once
// The lab cluster the fault tests start from: the cluster settings, node-a (10.25.11.11, pod CIDR
// 10.1.0.0/24), namespace demo and the infra LB pool (10.25.11.100-119). Each test appends its
// services.
#include <string>

namespace netagent::testing {

inline const std::string kFaultClusterBase = R"(apiVersion: v1
kind: ConfigMap
metadata: {name: cluster-settings, namespace: flux-system}
data: {CILIUM_LB_POOL_START: 10.25.11.100, CILIUM_LB_POOL_END: 10.25.11.119}
---
apiVersion: v1
kind: Node
metadata: {name: node-a}
spec: {podCIDRs: [10.1.0.0/24]}
status: {addresses: [{type: InternalIP, address: 10.25.11.11}]}
---
apiVersion: v1
kind: Namespace
metadata: {name: demo}
---
apiVersion: cilium.io/v2alpha1
kind: CiliumLoadBalancerIPPool
metadata: {name: infra-pool}
spec:
  blocks: [{start: "${CILIUM_LB_POOL_START}", stop: "${CILIUM_LB_POOL_END}"}]
)";

}  // namespace netagent::testing
