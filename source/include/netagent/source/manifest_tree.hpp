#pragma once
// The files of a manifest tree: every *.yaml / *.yml below a root directory, in a deterministic
// order (sorted by path relative to the root, byte-wise).
//
// Entries whose name starts with '.' are skipped: .git, editors' swap files, and the `..data` /
// `..2024_01_01_00_00_00.000` directories of a Kubernetes ConfigMap volume, whose files are also
// reachable through the top-level symlinks (reading both would define every object twice).
// Symlinks are followed (a ConfigMap volume is made of them). Directory loops are cut and
// reported as warnings, and so is a directory reached a second time through another symlink.
//
// Only regular files and directories are opened. A FIFO, socket or device node (or a symlink to
// one) is never opened: opening a FIFO blocks until a writer appears, a device may have effects.
// One with a manifest name (*.yaml) is an error of the load, as an unreadable file is (loading
// the tree without it would silently drop what the name promises); one with any other name is a
// warning, shown in status, since it would not be read anyway.
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace netagent::source {

struct ManifestFile {
  std::string path;        // as shown in messages: the root as given, joined with the relative path
  std::string relative;    // relative to the root, '/'-separated; the sort key
  std::string read_error;  // non-empty when the file could not be read (content is then empty)
  std::string content;
  // Set for the output of a kustomize build (kustomize.hpp): the documents, already parsed and
  // transformed; content is then a fingerprint of the build's inputs, for the loader's cache.
  std::shared_ptr<const std::vector<YAML::Node>> documents;
};

struct TreeListing {
  std::vector<ManifestFile> files;          // sorted by `relative`; content not read yet
  std::vector<std::filesystem::path> dirs;  // every directory visited (the root first), to watch
  std::string error;                        // the root itself is missing or unreadable
  // Entries not read, each with its path and why: special files with other names than
  // manifests', symlink loops, directories reached twice. In tree order.
  std::vector<std::string> warnings;
};

// "a FIFO", "a socket", "a character device", "a block device"; nullptr for a regular file, a
// directory or a symlink (mode as from stat(2)).
const char* special_file_kind(unsigned mode);

bool is_manifest_name(const std::string& name);

// Lists the tree (no file contents).
TreeListing list_tree(const std::filesystem::path& root);

// Reads one file's content into f (or sets f.read_error). Never blocks on a special file: the
// file is opened non-blocking and read only if it is a regular file.
void read_file(ManifestFile& f);

}  // namespace netagent::source
