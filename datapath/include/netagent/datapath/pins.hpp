#pragma once
// What `netagent --cleanup` does to --bpf-root: remove the pins the agent made (the names of the
// ABI registry, abi.hpp pinned_names()) and nothing else, so that other tools' pins and
// directories under the same bpffs survive.
#include <string>
#include <vector>

#include "netagent/common/result.hpp"

namespace netagent::datapath {

struct PinCleanup {
  std::vector<std::string> removed;  // paths relative to the root, as unlinked
  std::vector<std::string> left;     // entries the agent did not pin, kept ("dir/" for a dir)
  bool root_removed = false;         // the root was empty at the end and is gone
};

// Whether `path` is the root of a mount (its device differs from its parent's, or it is "/"):
// /sys/fs/bpf itself, for example. An error when it does not exist.
Result<bool> is_mount_root(const std::string& path);

// Unlinks every pin under `root` whose relative path is an agent pin (is_agent_pin), then
// removes links/ and `root` when they are left empty. Anything else stays and is listed in
// `left`. A root that does not exist is nothing to do.
Result<PinCleanup> remove_agent_pins(const std::string& root);

}  // namespace netagent::datapath
