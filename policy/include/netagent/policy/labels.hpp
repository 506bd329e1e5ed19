#pragma once
// Security labels as Cilium writes them: "source:key=value". A pod's identity is the set of its
// labels (source k8s), its namespace's name and labels, and the cluster it runs in; reserved
// identities (host, world, ...) carry one label of source "reserved".
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "netagent/k8s/selector.hpp"

namespace netagent::policy {

namespace label_source {
inline constexpr std::string_view kK8s = "k8s";
inline constexpr std::string_view kReserved = "reserved";
inline constexpr std::string_view kCidr = "cidr";
inline constexpr std::string_view kAny = "any";  // selectors only: matches every source
}  // namespace label_source

// Label keys Cilium derives from Kubernetes (pkg/k8s/apis/cilium.io/const.go).
namespace label_key {
inline constexpr std::string_view kPodNamespace = "io.kubernetes.pod.namespace";
inline constexpr std::string_view kNamespaceLabelsPrefix = "io.cilium.k8s.namespace.labels.";
inline constexpr std::string_view kCluster = "io.cilium.k8s.policy.cluster";
inline constexpr std::string_view kServiceAccount = "io.cilium.k8s.policy.serviceaccount";
}  // namespace label_key

struct Label {
  std::string source;
  std::string key;
  std::string value;

  std::string str() const;  // "k8s:app=web", "reserved:host"
  auto operator<=>(const Label&) const = default;
};

// An immutable, sorted set of labels with at most one value per (source, key).
class LabelSet {
 public:
  LabelSet() = default;
  explicit LabelSet(std::vector<Label> labels);

  const std::vector<Label>& labels() const { return labels_; }
  bool empty() const { return labels_.empty(); }
  size_t size() const { return labels_.size(); }

  // The value of key from `source`; source "any" finds the key from any source.
  const std::string* find(std::string_view source, std::string_view key) const;
  bool has_source(std::string_view source) const;

  // "k8s:app=web,k8s:io.kubernetes.pod.namespace=x": the canonical form, hashed for identities.
  const std::string& canonical() const { return canonical_; }
  bool operator==(const LabelSet& o) const { return canonical_ == o.canonical_; }
  bool operator<(const LabelSet& o) const { return canonical_ < o.canonical_; }

 private:
  std::vector<Label> labels_;  // sorted by (key, source)
  std::string canonical_;
};

// Pod labels that never become part of an identity: they differ per pod or per rollout and would
// give every pod its own identity (Cilium's default label filter excludes the same keys).
bool excluded_from_identity(std::string_view key);

struct PodLabelInput {
  const k8s::Labels* pod_labels = nullptr;
  const k8s::Labels* namespace_labels = nullptr;  // nullptr: only kubernetes.io/metadata.name
  std::string ns;
  std::string cluster;
  std::string service_account;  // empty when unknown
};

// The identity labels of a pod.
LabelSet pod_identity_labels(const PodLabelInput& in);

// {reserved:<name>} such as reserved:host.
LabelSet reserved_labels(std::initializer_list<std::string_view> names);

// Splits a selector key "k8s:app" into (source, key); keys without a known source prefix get
// `default_source`.
std::pair<std::string, std::string> split_label_key(std::string_view key,
                                                    std::string_view default_source);

}  // namespace netagent::policy
