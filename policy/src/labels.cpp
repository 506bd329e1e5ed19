#include "netagent/policy/labels.hpp"

#include <algorithm>
#include <array>

namespace netagent::policy {

std::string Label::str() const {
  std::string out = source + ":" + key;
  if (!value.empty()) out += "=" + value;
  return out;
}

LabelSet::LabelSet(std::vector<Label> labels) : labels_(std::move(labels)) {
  std::sort(labels_.begin(), labels_.end(), [](const Label& a, const Label& b) {
    return std::tie(a.key, a.source, a.value) < std::tie(b.key, b.source, b.value);
  });
  // One value per (source, key): the last one written wins, as in a map.
  labels_.erase(std::unique(labels_.begin(), labels_.end(),
                            [](const Label& a, const Label& b) {
                              return a.key == b.key && a.source == b.source;
                            }),
                labels_.end());
  for (const auto& l : labels_) {
    if (!canonical_.empty()) canonical_ += ',';
    canonical_ += l.str();
  }
}

const std::string* LabelSet::find(std::string_view source, std::string_view key) const {
  auto it = std::lower_bound(labels_.begin(), labels_.end(), key,
                             [](const Label& l, std::string_view k) { return l.key < k; });
  for (; it != labels_.end() && it->key == key; ++it) {
    if (source == label_source::kAny || it->source == source) return &it->value;
  }
  return nullptr;
}

bool LabelSet::has_source(std::string_view source) const {
  return std::any_of(labels_.begin(), labels_.end(),
                     [&](const Label& l) { return l.source == source; });
}

bool excluded_from_identity(std::string_view key) {
  static constexpr std::array<std::string_view, 8> kExcluded = {
      "pod-template-hash",
      "controller-revision-hash",
      "pod-template-generation",
      "statefulset.kubernetes.io/pod-name",
      "apps.kubernetes.io/pod-index",
      "batch.kubernetes.io/job-completion-index",
      "batch.kubernetes.io/controller-uid",
      "controller-uid",
  };
  return std::find(kExcluded.begin(), kExcluded.end(), key) != kExcluded.end();
}

LabelSet pod_identity_labels(const PodLabelInput& in) {
  std::vector<Label> out;
  const std::string k8s(label_source::kK8s);
  if (in.pod_labels) {
    for (const auto& [k, v] : *in.pod_labels) {
      if (!excluded_from_identity(k)) out.push_back({k8s, k, v});
    }
  }
  out.push_back({k8s, std::string(label_key::kPodNamespace), in.ns});
  const std::string ns_prefix(label_key::kNamespaceLabelsPrefix);
  if (in.namespace_labels) {
    for (const auto& [k, v] : *in.namespace_labels)
      out.push_back({k8s, ns_prefix + k, v});
  }
  // The API server labels every namespace with its name (Kubernetes 1.21+).
  out.push_back({k8s, ns_prefix + "kubernetes.io/metadata.name", in.ns});
  out.push_back({k8s, std::string(label_key::kCluster), in.cluster});
  if (!in.service_account.empty()) {
    out.push_back({k8s, std::string(label_key::kServiceAccount), in.service_account});
  }
  return LabelSet(std::move(out));
}

LabelSet reserved_labels(std::initializer_list<std::string_view> names) {
  std::vector<Label> out;
  for (auto n : names)
    out.push_back({std::string(label_source::kReserved), std::string(n), ""});
  return LabelSet(std::move(out));
}

std::pair<std::string, std::string> split_label_key(std::string_view key,
                                                    std::string_view default_source) {
  static constexpr std::array<std::string_view, 7> kSources = {
      "k8s", "reserved", "any", "cidr", "container", "unspec", "cilium-generated"};
  auto colon = key.find(':');
  if (colon != std::string_view::npos) {
    auto src = key.substr(0, colon);
    if (std::find(kSources.begin(), kSources.end(), src) != kSources.end()) {
      // Cilium spells "any source" both as "any" and (in older versions) "unspec".
      std::string s = src == "unspec" ? std::string(label_source::kAny) : std::string(src);
      return {s, std::string(key.substr(colon + 1))};
    }
  }
  return {std::string(default_source), std::string(key)};
}

}  // namespace netagent::policy
