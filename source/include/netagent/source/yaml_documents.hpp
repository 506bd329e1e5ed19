#pragma once
// A YAML stream (one manifest file) parsed into yaml-cpp nodes, one per document.
//
// The parsing is done by libyaml, the reference C implementation (and the one Kubernetes' own
// go-yaml is a port of); its events are built into the same YAML::Node trees YAML::LoadAll makes
// (plain scalars tagged "?", quoted and block scalars "!", `~`/`null`/empty plain scalars as Null,
// aliases sharing their anchor's node), so the k8s decoders and every part's CRD validator read
// them unchanged. The reason is speed: yaml-cpp's scanner reads ~3 MB/s here, libyaml ~40 MB/s, and
// a 10,000-service tree is 13 MB.
//
// Unlike YAML::LoadAll, a mapping with the same key twice is an error, as it is for kubectl.
#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace netagent::source {

struct YamlSyntaxError {
  int document = 0;  // 0-based, counted as YAML::LoadAll counts documents
  int line = 0;      // 1-based
  int column = 0;    // 1-based
  std::string message;
  std::string str() const;  // "line 3, column 7: <message>"
};

struct YamlDocuments {
  std::vector<YAML::Node> documents;  // empty documents are Null nodes (their index counts)
  std::optional<YamlSyntaxError> error;
};

YamlDocuments parse_yaml_documents(std::string_view text);

}  // namespace netagent::source
