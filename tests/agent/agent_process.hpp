#pragma once
// The agent's process tests and netctl's: one `netagent` on a namespace of its own, with the
// manifests of a one-node cluster.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "netagent/testing/agent_node.hpp"
#include "netagent/testing/netns.hpp"

namespace netagent::agent::test {

// This node and one service, as the manifests of a cluster would have them.
inline constexpr const char* kNodeAndService = R"(apiVersion: v1
kind: Node
metadata:
  name: node-1
  labels: {topology.kubernetes.io/zone: a}
status:
  addresses:
  - {type: InternalIP, address: 10.25.11.11}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: ClusterIP
  clusterIP: 10.96.0.10
  ports: [{port: 80, protocol: TCP, targetPort: 8080}]
  selector: {app: web}
)";

// An agent alone on a network namespace of its own (so 127.0.0.1:9962 and devices are its own)
// as node-1, with the metrics listener on its default address.
class LoneAgent : public testing::AgentNode {
 public:
  LoneAgent() : AgentNode({.tag = "netagent-test", .node_name = "node-1", .flags = {}}) {}

  using AgentNode::start;
  std::unique_ptr<testing::Process> start(const std::vector<std::string>& extra = {}) const {
    return AgentNode::start(ns, extra);
  }
  bool wait_ready(std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    return wait_api("/v1/healthz", nullptr, timeout);
  }

  // Runs a command line to completion inside the namespace; returns its exit code.
  int run(const std::vector<std::string>& argv, std::string* output,
          const std::string& prefix = "") const {
    std::string cmd = ns.prefix() + prefix;
    for (const auto& a : argv)
      cmd += " " + quote(a);
    return testing::sh(cmd, output);
  }

  static std::string quote(const std::string& s) {
    std::string q = "'";
    for (char c : s)
      q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
  }

  testing::NetNs ns{"nagent"};
};

}  // namespace netagent::agent::test
