#include "netagent/testing/manifests.hpp"

#include <yaml-cpp/yaml.h>

#include <functional>
#include <stdexcept>

#include "netagent/k8s/decode.hpp"

namespace netagent::testing {

k8s::Snapshot snapshot_from_yaml(const std::vector<ManifestText>& files,
                                 const SnapshotYaml& options) {
  k8s::SnapshotBuilder b(options.registry);
  for (const auto& f : files) {
    auto docs = YAML::LoadAll(f.yaml);
    for (size_t i = 0; i < docs.size(); ++i) {
      if (!docs[i].IsDefined() || docs[i].IsNull()) continue;
      k8s::SourceRef source{f.file, int(i)};
      if (options.digests) source.digest = std::hash<std::string>{}(YAML::Dump(docs[i])) | 1;
      k8s::Object obj;
      try {
        obj = k8s::read_object(docs[i], source);
      } catch (const k8s::FieldError& e) {
        throw std::runtime_error(k8s::DecodeError{source, "", e.path, e.what()}.str());
      }
      if (auto err = b.add(std::move(obj))) throw std::runtime_error(err->str());
    }
  }
  return b.take();
}

}  // namespace netagent::testing
