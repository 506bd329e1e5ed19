#include "netagent/policy/selector.hpp"

#include <algorithm>

namespace netagent::policy {

bool LabelRequirement::matches(const LabelSet& labels) const {
  const std::string* v = labels.find(source, key);
  auto in_values = [&] { return v && std::binary_search(values.begin(), values.end(), *v); };
  switch (op) {
    case Op::In:
      return in_values();
    case Op::NotIn:
      return !in_values();  // as Kubernetes: an absent key satisfies NotIn
    case Op::Exists:
      return v != nullptr;
    case Op::DoesNotExist:
      return v == nullptr;
  }
  return false;
}

std::string LabelRequirement::str() const {
  std::string k = source + ":" + key;
  std::string vals;
  for (const auto& v : values)
    vals += (vals.empty() ? "" : ",") + v;
  switch (op) {
    case Op::In:
      return values.size() == 1 ? k + "=" + values[0] : k + " in (" + vals + ")";
    case Op::NotIn:
      return k + " notin (" + vals + ")";
    case Op::Exists:
      return k;
    case Op::DoesNotExist:
      return "!" + k;
  }
  return k;
}

EndpointSelector EndpointSelector::from_k8s(const k8s::LabelSelector& sel,
                                            std::string_view default_source,
                                            std::string_view key_prefix) {
  EndpointSelector out;
  auto key_of = [&](const std::string& k) {
    auto [src, key] = split_label_key(k, default_source);
    return std::make_pair(src, std::string(key_prefix) + key);
  };
  for (const auto& [k, v] : sel.match_labels) {
    auto [src, key] = key_of(k);
    out.reqs_.push_back({src, key, LabelRequirement::Op::In, {v}});
  }
  for (const auto& r : sel.match_expressions) {
    auto [src, key] = key_of(r.key);
    out.reqs_.push_back({src, key, r.op, r.values});
  }
  out.normalize();
  return out;
}

EndpointSelector& EndpointSelector::add(LabelRequirement r) {
  reqs_.push_back(std::move(r));
  normalize();
  return *this;
}

EndpointSelector& EndpointSelector::add_equals(std::string_view source, std::string_view key,
                                               std::string value) {
  return add({std::string(source), std::string(key), LabelRequirement::Op::In, {std::move(value)}});
}

EndpointSelector& EndpointSelector::add_exists(std::string_view source, std::string_view key) {
  return add({std::string(source), std::string(key), LabelRequirement::Op::Exists, {}});
}

EndpointSelector& EndpointSelector::merge(const EndpointSelector& other) {
  reqs_.insert(reqs_.end(), other.reqs_.begin(), other.reqs_.end());
  normalize();
  return *this;
}

void EndpointSelector::normalize() {
  for (auto& r : reqs_) {
    std::sort(r.values.begin(), r.values.end());
    r.values.erase(std::unique(r.values.begin(), r.values.end()), r.values.end());
  }
  std::sort(reqs_.begin(), reqs_.end());
  reqs_.erase(std::unique(reqs_.begin(), reqs_.end()), reqs_.end());
  str_.clear();
  for (const auto& r : reqs_)
    str_ += (str_.empty() ? "" : ",") + r.str();
  if (str_.empty()) str_ = "<all>";
}

bool EndpointSelector::matches(const LabelSet& labels) const {
  for (const auto& r : reqs_) {
    if (!r.matches(labels)) return false;
  }
  return true;
}

bool EndpointSelector::has_key(std::string_view key) const {
  return std::any_of(reqs_.begin(), reqs_.end(), [&](const auto& r) { return r.key == key; });
}

bool EndpointSelector::has_key_prefix(std::string_view prefix) const {
  return std::any_of(reqs_.begin(), reqs_.end(),
                     [&](const auto& r) { return r.key.starts_with(prefix); });
}

bool EndpointSelector::has_source(std::string_view source) const {
  return std::any_of(reqs_.begin(), reqs_.end(), [&](const auto& r) { return r.source == source; });
}

std::optional<std::string> EndpointSelector::pinned_namespace() const {
  for (const auto& r : reqs_) {
    if (r.key == label_key::kPodNamespace && r.op == LabelRequirement::Op::In &&
        r.values.size() == 1 &&
        (r.source == label_source::kK8s || r.source == label_source::kAny)) {
      return r.values[0];
    }
  }
  return std::nullopt;
}

}  // namespace netagent::policy
