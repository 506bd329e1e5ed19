#pragma once
// One netagent process of a test on a node's network namespace: a directory of its own (manifest
// tree, state, API socket, log), a bpffs directory and a cgroup, all with unique names and
// removed with the object, and the command line that points the agent at them. Every test that
// runs the netagent binary (agent, netctl, lb, policy, bgp, mesh) starts it through this.
// NETAGENT_BIN is the binary (netagent_agent_testing defines it).
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "netagent/testing/netns.hpp"

namespace netagent::testing {

// How an AgentNode runs its agent.
struct AgentNodeOptions {
  // Names the directory, bpffs directory and cgroup (each gets a unique suffix).
  std::string tag = "netagent-test";
  std::string node_name = "node-a";
  // Flags after the paths: by default the node's one device and no metrics listener.
  std::vector<std::string> flags = {"--devices", "eth0", "--metrics-addr", ""};
  std::string log_level = "debug";
  // A manifest tree several agents share (nodes of one cluster); by default the agent's own
  // <dir>/manifests, created empty.
  std::string manifests;
};

class AgentNode {
 public:
  using Options = AgentNodeOptions;

  explicit AgentNode(Options options = {});

  const std::string& manifests() const { return options_.manifests; }
  std::string socket() const { return dir.path() + "/api.sock"; }
  std::string state_dir() const { return dir.path() + "/state"; }
  std::string log_path() const { return dir.path() + "/netagent.log"; }
  std::string bpf_root() const { return bpf.path() + "/root"; }

  // Writes a file of the manifest tree as editors and GitOps tools do: write, then rename.
  void write_manifest(const std::string& file, const std::string& yaml) const;
  void remove_manifest(const std::string& file) const;

  // The command line: netagent, the manifests, node name and paths above, the log level, the
  // options' flags, then `extra`.
  std::vector<std::string> args(const std::vector<std::string>& extra = {}) const;
  // Starts the agent in `ns` (stdout and stderr to log_path()); stop it with Process::stop.
  std::unique_ptr<Process> start(const NetNs& ns, const std::vector<std::string>& extra = {}) const;

  // Waits until GET `path` on the agent's API answers, and `ready` (when given) holds for it.
  bool wait_api(const std::string& path,
                const std::function<bool(const nlohmann::json&)>& ready = nullptr,
                std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  // GET `path`: the answer, or null with a test failure.
  nlohmann::json api(const std::string& path,
                     std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;

  TempDir dir;
  BpffsDir bpf;
  // Socket LB attaches here: never to the machine's root cgroup, whose processes are not ours.
  Cgroup cgroup;

 private:
  Options options_;
};

// Metric `name` from GET /v1/metrics (`families`): the sum of its samples whose labels include
// every one of `labels` (all samples when empty); nullopt when none matches.
std::optional<double> metric_value(const nlohmann::json& families, const std::string& name,
                                   const std::map<std::string, std::string>& labels = {});

// An agent's services as frontend -> backend addresses ("10.96.0.10:80/TCP" ->
// {"10.1.0.5:8080/TCP"}): what its model wants (GET /v1/services), and what the kernel's maps hold
// (GET /v1/bpf/lb).
using LbProgram = std::map<std::string, std::set<std::string>>;
LbProgram lb_wanted(const nlohmann::json& services);
LbProgram lb_in_maps(const nlohmann::json& bpf_lb);

// Writes file `name` of directory `dir` as editors and GitOps tools do: a hidden temporary file,
// renamed over it (a watcher never reads half a file).
void write_then_rename(const std::string& dir, const std::string& name, const std::string& text);

// The exit code of a wait status, or 128 + signal.
int exit_code_of(int status);

}  // namespace netagent::testing
