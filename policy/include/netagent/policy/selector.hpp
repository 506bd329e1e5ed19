#pragma once
// Endpoint selectors: Kubernetes label selectors over identity labels, with Cilium's label
// sources. A requirement on "k8s:app" matches only Kubernetes labels; on "any:app" (or a key
// without a source, in Cilium policies) a label of any source; "reserved:host" the host.
#include <optional>
#include <string>
#include <vector>

#include "netagent/k8s/selector.hpp"
#include "netagent/policy/labels.hpp"

namespace netagent::policy {

struct LabelRequirement {
  using Op = k8s::SelectorRequirement::Op;
  std::string source;  // "k8s", "reserved", "any", ...
  std::string key;
  Op op = Op::Exists;
  std::vector<std::string> values;  // sorted

  bool matches(const LabelSet& labels) const;
  std::string str() const;
  auto operator<=>(const LabelRequirement&) const = default;
};

class EndpointSelector {
 public:
  EndpointSelector() = default;  // matches everything

  // Converts a Kubernetes selector; keys without a source prefix get `default_source`, and every
  // key is prefixed with `key_prefix` (e.g. the namespace-labels prefix for namespaceSelector).
  static EndpointSelector from_k8s(const k8s::LabelSelector& sel, std::string_view default_source,
                                   std::string_view key_prefix = "");

  EndpointSelector& add(LabelRequirement r);
  EndpointSelector& add_equals(std::string_view source, std::string_view key, std::string value);
  EndpointSelector& add_exists(std::string_view source, std::string_view key);
  // All requirements of both.
  EndpointSelector& merge(const EndpointSelector& other);

  bool matches(const LabelSet& labels) const;
  const std::vector<LabelRequirement>& requirements() const { return reqs_; }

  // Whether some requirement is on `key` (from any source), or on a key starting with `prefix`.
  bool has_key(std::string_view key) const;
  bool has_key_prefix(std::string_view prefix) const;
  bool has_source(std::string_view source) const;
  // The namespace the selector pins with an equality on io.kubernetes.pod.namespace, if any:
  // lets the compiler test only that namespace's identities.
  std::optional<std::string> pinned_namespace() const;

  // Canonical text, equal for equal selectors: the selector cache key and what netctl prints.
  const std::string& str() const { return str_; }
  bool operator==(const EndpointSelector& o) const { return str_ == o.str_; }

 private:
  void normalize();
  std::vector<LabelRequirement> reqs_;  // sorted, unique
  std::string str_ = "<all>";
};

}  // namespace netagent::policy
