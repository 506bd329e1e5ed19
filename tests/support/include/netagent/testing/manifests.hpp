#pragma once
// A k8s::Snapshot from YAML text, built as the manifest source builds one (every document read
// and decoded, the CRD kinds by the decoders a registry knows): the input of the unit tests and
// benchmarks of every part. Shared by tests/ and bench/.
#include <string>
#include <vector>

#include "netagent/k8s/snapshot.hpp"

namespace netagent::testing {

struct SnapshotYaml {
  // The decoders of the CRD kinds (each part's register_kinds); null: the core kinds only, the
  // others kept as generic objects.
  const k8s::KindRegistry* registry = nullptr;
  // Give each object a digest of its document, as the manifest source does; 0 (unknown) otherwise.
  bool digests = false;
};

// One manifest file: its name (in every SourceRef and error) and its text.
struct ManifestText {
  std::string file;
  std::string yaml;
};

// Every document of the files (separated by ---; empty ones skipped, document indexes counting
// them) into one snapshot. A document that does not read or decode throws std::runtime_error with
// the decode error's text ("file (document i): Kind ns/name: field: message").
k8s::Snapshot snapshot_from_yaml(const std::vector<ManifestText>& files,
                                 const SnapshotYaml& options = {});
inline k8s::Snapshot snapshot_from_yaml(const std::string& yaml, const SnapshotYaml& options = {},
                                        const std::string& file = "test.yaml") {
  return snapshot_from_yaml(std::vector<ManifestText>{{file, yaml}}, options);
}

}  // namespace netagent::testing
