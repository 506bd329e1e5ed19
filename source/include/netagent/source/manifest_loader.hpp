#pragma once
// Loads a manifest tree into one k8s::Snapshot, or into the complete list of what is wrong with it.
//
// A load reads every *.yaml / *.yml file (manifest_tree.hpp), except below a directory with a
// kustomization, which is built instead (kustomize.hpp); it splits each into YAML documents,
// expands `kind: List` (and `<Kind>List`) documents into their items, applies Flux post-build
// variable substitution from the settings ConfigMap (substitution.hpp), and feeds every object to a
// k8s::SnapshotBuilder. Kinds nobody consumes (not core, not in the KindRegistry) are counted and
// skipped before substitution. Any error anywhere means no snapshot: the caller keeps its last good
// state and shows all the errors, each with file, document index (0-based), object and field.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "netagent/k8s/snapshot.hpp"
#include "netagent/source/manifest_tree.hpp"
#include "netagent/source/substitution.hpp"

namespace netagent::source {

// One entry of Flux's `postBuild.substituteFrom`: a ConfigMap (data) or Secret (data, stringData)
// in the tree whose keys are the variables. Later entries override earlier ones.
struct SettingsRef {
  std::string kind = "ConfigMap";
  std::string ns = "flux-system";
  std::string name = "cluster-settings";
  bool optional = true;  // absent: no variables from it (a non-optional absence is an error)
  std::string str() const { return kind + " " + ns + "/" + name; }
};

struct ManifestOptions {
  // Flux clusters keep cluster-settings in flux-system, next to the Kustomizations that use it.
  std::vector<SettingsRef> substitute_from{SettingsRef{}};
  // CRD kinds other parts consume (validated and kept raw in Snapshot::objects). Validators may
  // run on several threads at once (one file each): they must not share mutable state.
  k8s::KindRegistry registry;
  // Threads that parse and decode files on large loads; 0: the machine's cores, at most 4.
  size_t threads = 0;
};

struct LoadStats {
  size_t files = 0;
  size_t files_parsed = 0;    // parsed by this load; the others were unchanged and came from cache
  size_t files_decoded = 0;   // whose objects were decoded again (parsed, or variables changed)
  size_t kustomizations = 0;  // directories read through their kustomization (kustomize.hpp)
  size_t documents = 0;       // non-empty documents
  size_t objects = 0;         // objects added to the snapshot
  size_t ignored = 0;         // objects of kinds nobody consumes
  size_t substituted = 0;     // objects that went through variable substitution
  std::chrono::microseconds duration{0};
};

struct TreeLoad {
  std::shared_ptr<const k8s::Snapshot> snapshot;  // null when there are errors
  std::vector<k8s::DecodeError> errors;
  // What the listing did not read and reports without failing the load (manifest_tree.hpp):
  // special files with non-manifest names, symlink loops.
  std::vector<std::string> warnings;
  LoadStats stats;
  bool unchanged = false;  // same files and contents as the previous load of this loader
  bool ok() const { return snapshot != nullptr; }
};

namespace detail {
struct RawObject;
}

// Keeps, for each file, its parsed form and its decoded objects between loads, so that a reload
// after one edit parses and decodes only the edited file (and the files that use variables, when
// the variables changed). Every load still delivers a whole snapshot: consumers get complete state.
class ManifestLoader {
 public:
  explicit ManifestLoader(ManifestOptions options = {});
  ~ManifestLoader();
  ManifestLoader(const ManifestLoader&) = delete;
  ManifestLoader& operator=(const ManifestLoader&) = delete;

  // Lists and reads the tree under root, then builds.
  TreeLoad load(const std::filesystem::path& root);
  // Builds from files already read (tools and tests with in-memory trees). No kustomize build
  // is run here: kustomization files in `files` are skipped.
  TreeLoad load_files(std::vector<ManifestFile> files);

  const ManifestOptions& options() const { return options_; }

 private:
  struct ParsedFile;
  struct Fragment;
  struct Settings {
    Variables vars;
    std::set<const detail::RawObject*> objects;  // the settings objects: never substituted
    std::string hint;                            // where variables come from, for messages
  };
  struct CacheEntry {
    std::shared_ptr<const ParsedFile> parsed;
    std::shared_ptr<const Fragment> fragment;
  };

  size_t threads() const;
  TreeLoad load_files_with(std::vector<ManifestFile> files, std::vector<k8s::DecodeError> errors);
  static std::shared_ptr<const ParsedFile> parse(const std::string& path, std::string content,
                                                 const std::vector<YAML::Node>* documents);
  Settings read_settings(const std::vector<const ParsedFile*>& files,
                         std::vector<k8s::DecodeError>& errors) const;
  std::shared_ptr<const Fragment> build(const ParsedFile& file, const Settings& settings) const;

  ManifestOptions options_;
  std::map<std::string, CacheEntry> cache_;  // by path
  // The last build of each kustomization directory (by path), with every file it read: reused
  // while they all read the same, so an unchanged kustomized tree is not parsed again.
  struct KustomizeCacheEntry {
    std::vector<std::pair<std::string, uint64_t>> read;
    std::vector<ManifestFile> files;  // the build's output as the loader takes it
  };
  std::map<std::string, KustomizeCacheEntry> kustomize_cache_;
  bool loaded_once_ = false;
  bool last_had_read_errors_ = false;
  TreeLoad last_;
};

// One-shot load without watching: `netctl policy trace --manifests DIR`, tests, benchmarks.
TreeLoad load_manifest_tree(const std::filesystem::path& root, const ManifestOptions& options = {});

}  // namespace netagent::source
