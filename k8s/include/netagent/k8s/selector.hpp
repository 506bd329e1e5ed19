#pragma once
// Kubernetes label selectors (metav1.LabelSelector): matchLabels and matchExpressions with the
// operators In, NotIn, Exists and DoesNotExist. All terms are ANDed; an empty selector matches
// everything (the Kubernetes convention for podSelector: {}).
#include <map>
#include <string>
#include <vector>

namespace netagent::k8s {

using Labels = std::map<std::string, std::string>;

struct SelectorRequirement {
  enum class Op { In, NotIn, Exists, DoesNotExist };
  std::string key;
  Op op = Op::Exists;
  std::vector<std::string> values;

  bool matches(const Labels& labels) const;
  bool operator==(const SelectorRequirement&) const = default;
};

struct LabelSelector {
  Labels match_labels;
  std::vector<SelectorRequirement> match_expressions;

  bool empty() const { return match_labels.empty() && match_expressions.empty(); }
  bool matches(const Labels& labels) const;
  // "app=web,tier in (a,b),!legacy" for logs and netctl.
  std::string str() const;
  bool operator==(const LabelSelector&) const = default;
};

const char* to_string(SelectorRequirement::Op op);

}  // namespace netagent::k8s
