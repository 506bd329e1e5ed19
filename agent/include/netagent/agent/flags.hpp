#pragma once
// Command line and config file of `netagent` (CLI11). The YAML config file (--config FILE) takes
// the flag names without the leading dashes as keys:
//
//   manifests: /etc/netagent/manifests
//   node-name: infra-1
//   devices: [eth0, eth1]        # or "eth0,eth1"
//   lb-maglev-table-size: 65521
//
// A flag given on the command line wins over the same key in the file. Unknown keys are errors.
#include <string>

#include "netagent/agent/config.hpp"

namespace netagent::agent {

enum class Action {
  Run,      // run the agent
  Cleanup,  // remove what the agent pinned and attached, then exit
  Exit,     // --help / --version, or a bad command line: print `message`, exit with exit_code
};

struct ParsedArgs {
  Action action = Action::Exit;
  Config config;
  int exit_code = 0;
  std::string message;  // help or version text (stdout) or the error (stderr)
};

// Parses and validates. A bad flag, a bad config file or a bad value gives Action::Exit with
// exit code kExitBadConfig and a message naming the setting.
ParsedArgs parse_args(int argc, const char* const* argv);

}  // namespace netagent::agent
