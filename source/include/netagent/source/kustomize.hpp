#pragma once
// The subset of `kustomize build` that Flux's kustomize-controller runs on a GitOps path, on the
// parsed YAML nodes of the manifest source (docs/manifests.md, "Kustomize", lists what is
// supported and what differs).
//
// A build starts at a directory holding a kustomization file and yields the resulting objects,
// each with the file (and document) it came from: a resource file for resources, the
// kustomization file for generated ConfigMaps and Secrets. Any field that is not implemented is an
// error naming the kustomization file and the field; so are a missing resource, a path outside
// the tree, and a reference cycle. A build with errors yields no objects.
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "netagent/k8s/decode.hpp"
#include "netagent/source/manifest_tree.hpp"

namespace netagent::source {

// "kustomization.yaml", "kustomization.yml" or "Kustomization" if dir holds one (the first of
// them, in kustomize's order), else empty.
std::string kustomization_file_name(const std::filesystem::path& dir);

struct KustomizedObject {
  YAML::Node node;
  std::string file;   // shown path of the resource file (or the kustomization, if generated)
  int document = -1;  // in that file; -1 for generated objects
  int item = -1;      // index in a List document's items, or -1
};

struct KustomizeResult {
  std::vector<KustomizedObject> objects;  // in kustomize's output order before its sort
  std::vector<k8s::DecodeError> errors;
  // To detect changes: the names and contents of every file read other than resource files
  // (kustomization files, patches, generator inputs), concatenated; and a hash of the content of
  // each resource file, by its shown path. The objects of a resource file depend on its content
  // and, at most, on the former.
  std::string config_inputs;
  std::map<std::string, uint64_t> resource_digests;
  // Every file the build read (its path as opened) with a hash of its content: a build whose
  // files all read the same again gives the same result (the loader reuses it).
  std::vector<std::pair<std::string, uint64_t>> read;
};

// The hash of a file as KustomizeResult::read records it (content, or the read error).
uint64_t kustomize_input_digest(const ManifestFile& f);

// Builds the kustomization in `dir`. `tree_root` bounds the paths a kustomization may refer to
// (the manifest root); `shown` is how dir is shown in messages (the root as given, joined with
// the relative path).
KustomizeResult kustomize_build(const std::filesystem::path& dir, const std::string& shown,
                                const std::filesystem::path& tree_root);

}  // namespace netagent::source
