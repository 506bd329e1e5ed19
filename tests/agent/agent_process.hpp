#pragma once
// A `netagent` process on a simulated node: its own network namespace (so 127.0.0.1:9962 and
// devices are its own), a unique bpffs directory, and a temp dir holding the manifests, state
// and API socket. Everything is removed when the object goes away.

#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "netagent/netctl/client.hpp"
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

class AgentNode {
 public:
  AgentNode() { std::filesystem::create_directories(manifests()); }

  std::string manifests() const { return dir.path() + "/manifests"; }
  // Writes a manifest file into the tree (the agent watches it).
  void write_manifest(const std::string& file, const std::string& yaml) const {
    std::ofstream(manifests() + "/" + file) << yaml;
  }
  std::string socket() const { return dir.path() + "/api.sock"; }
  std::string bpf_root() const { return bpf.path() + "/root"; }
  std::string state_dir() const { return dir.path() + "/state"; }
  std::string log_path() const { return dir.path() + "/netagent.log"; }

  std::vector<std::string> args(const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> a = {NETAGENT_BIN,  "--manifests",  manifests(), "--node-name",
                                  "node-1",      "--bpf-root",   bpf_root(),  "--state-dir",
                                  state_dir(),   "--api-socket", socket(),    "--cgroup",
                                  cgroup.path(), "--log-level",  "debug"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  // Starts the agent in the node's namespace; stdout/stderr go to log_path().
  std::unique_ptr<testing::Process> start(const std::vector<std::string>& extra = {}) const {
    return std::make_unique<testing::Process>(args(extra), &ns, log_path());
  }

  bool wait_ready(std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    return testing::wait_until(
        [&] { return netctl::Client(socket(), std::chrono::seconds(2)).get("/v1/healthz").ok(); },
        timeout);
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
  testing::BpffsDir bpf{"netagent-test"};
  testing::TempDir dir{"netagent-test"};
  // Socket LB attaches here: never to the machine's root cgroup, whose processes are not ours.
  testing::Cgroup cgroup{"netagent-test"};
};

// The exit code of a wait status, or 128 + signal.
inline int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace netagent::agent::test
