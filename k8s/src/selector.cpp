#include "netagent/k8s/selector.hpp"

#include <algorithm>

namespace netagent::k8s {

bool SelectorRequirement::matches(const Labels& labels) const {
  auto it = labels.find(key);
  const bool has = it != labels.end();
  auto in_values = [&] {
    return has && std::find(values.begin(), values.end(), it->second) != values.end();
  };
  switch (op) {
    case Op::In:
      return in_values();
    case Op::NotIn:
      // Kubernetes: NotIn matches when the key is absent, too.
      return !in_values();
    case Op::Exists:
      return has;
    case Op::DoesNotExist:
      return !has;
  }
  return false;
}

bool LabelSelector::matches(const Labels& labels) const {
  for (const auto& [k, v] : match_labels) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  for (const auto& r : match_expressions) {
    if (!r.matches(labels)) return false;
  }
  return true;
}

const char* to_string(SelectorRequirement::Op op) {
  switch (op) {
    case SelectorRequirement::Op::In:
      return "In";
    case SelectorRequirement::Op::NotIn:
      return "NotIn";
    case SelectorRequirement::Op::Exists:
      return "Exists";
    case SelectorRequirement::Op::DoesNotExist:
      return "DoesNotExist";
  }
  return "?";
}

std::string LabelSelector::str() const {
  std::string out;
  auto add = [&](const std::string& s) {
    if (!out.empty()) out += ",";
    out += s;
  };
  for (const auto& [k, v] : match_labels)
    add(k + "=" + v);
  for (const auto& r : match_expressions) {
    std::string vals;
    for (const auto& v : r.values)
      vals += (vals.empty() ? "" : ",") + v;
    switch (r.op) {
      case SelectorRequirement::Op::In:
        add(r.key + " in (" + vals + ")");
        break;
      case SelectorRequirement::Op::NotIn:
        add(r.key + " notin (" + vals + ")");
        break;
      case SelectorRequirement::Op::Exists:
        add(r.key);
        break;
      case SelectorRequirement::Op::DoesNotExist:
        add("!" + r.key);
        break;
    }
  }
  return out.empty() ? "<all>" : out;
}

}  // namespace netagent::k8s
