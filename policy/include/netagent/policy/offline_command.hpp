#pragma once
// `netagent policy trace|matrix --manifests DIR ...`: answers policy questions about a manifest
// tree offline, with the agent's own code (load, compile, and the kernel's policy program through
// BPF_PROG_TEST_RUN): root, no running agent. It prints the JSON the agent's API would answer
// (GET /v1/policy/trace) or the reachability matrix as {"pods": [...], "allowed": [[...], ...]};
// `netctl policy trace --manifests` and `netctl policy matrix` run it and render that JSON, so
// netctl stays a pure API client that links no BPF or manifest code.
#include <iosfwd>
#include <string>
#include <vector>

namespace netagent::policy {

// Exit codes: 0 answered; 1 the question could not be answered (manifests do not load, unknown
// pod, no BPF); 2 bad command line.
int offline_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace netagent::policy
