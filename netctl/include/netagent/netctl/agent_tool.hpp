#pragma once
// Offline commands that need the agent's own code (e.g. `netctl policy matrix`, which loads a
// manifest tree and runs the kernel's policy program) run the netagent binary's one-shot
// subcommand (`netagent policy ...`) instead: netctl stays an API client that links no BPF or
// manifest code. The binary is $NETAGENT_BIN, else `netagent` next to netctl (as installed and
// as built), else `netagent` on PATH.
#include <string>
#include <vector>

#include "netagent/common/result.hpp"

namespace netagent::netctl {

struct ToolRun {
  int exit_code = 0;  // the tool's; its stderr went to netctl's stderr
  std::string out;    // what it printed on stdout
};

// The netagent binary offline commands run (see above).
std::string agent_binary();

// Runs `<agent_binary()> args...`; an error only when it could not be started or was killed.
Result<ToolRun> run_agent_tool(const std::vector<std::string>& args);

}  // namespace netagent::netctl
