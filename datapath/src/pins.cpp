#include "netagent/datapath/pins.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "netagent/datapath/abi.hpp"

namespace netagent::datapath {

namespace fs = std::filesystem;

Result<bool> is_mount_root(const std::string& path) {
  struct stat self {};
  struct stat parent {};
  if (::stat(path.c_str(), &self) != 0) return sys_error("stat " + path);
  std::string up = (fs::path(path) / "..").string();
  if (::stat(up.c_str(), &parent) != 0) return sys_error("stat " + up);
  // "/" is its own parent; a mount point's parent lies on another file system.
  return self.st_dev != parent.st_dev || self.st_ino == parent.st_ino;
}

Result<PinCleanup> remove_agent_pins(const std::string& root) {
  PinCleanup out;
  std::error_code ec;
  if (!fs::exists(root, ec)) return out;
  std::vector<fs::path> dirs;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    const fs::path& p = it->path();
    std::string rel = p.lexically_relative(root).generic_string();
    // Pins are never followed: a symlink is an entry like any other.
    if (it->is_directory(ec) && !it->is_symlink(ec)) {
      dirs.push_back(p);
      continue;
    }
    if (!is_agent_pin(rel)) {
      out.left.push_back(rel);
      continue;
    }
    if (::unlink(p.c_str()) != 0 && errno != ENOENT) return sys_error("unpin " + p.string());
    out.removed.push_back(rel);
  }
  if (ec) return Error{"list " + root + ": " + ec.message(), ec.value()};
  // Only the directory the agent made (links/) and the root go, and only when empty; a foreign
  // directory is kept even when empty.
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    std::string rel = it->lexically_relative(root).generic_string();
    if (rel == "links" && ::rmdir(it->c_str()) == 0) continue;
    if (fs::is_empty(*it, ec)) out.left.push_back(rel + "/");
  }
  out.root_removed = ::rmdir(root.c_str()) == 0;
  std::sort(out.left.begin(), out.left.end());
  return out;
}

}  // namespace netagent::datapath
