#include "netagent/k8s/field.hpp"

#include "netagent/common/number.hpp"

namespace netagent::k8s {
namespace {

const char* type_name(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Null:
      return "null";
    default:
      return "undefined";
  }
}

}  // namespace

void FieldErrors::add(const FieldError& e) {
  FieldError first(e.path, e.what());
  errors_.push_back(std::move(first));
  for (const auto& m : e.more)
    add(m);
}

std::vector<Field> FieldErrors::items(const Field& f) {
  std::vector<Field> out;
  check([&] { out = f.items(); });
  return out;
}

void FieldErrors::raise() const {
  if (errors_.empty()) return;
  FieldError out = errors_.front();
  out.more.assign(errors_.begin() + 1, errors_.end());
  throw out;
}

Field Field::operator[](const std::string& key) const {
  std::string child = path_.empty() ? key : path_ + "." + key;
  if (!present()) return Field(YAML::Node(YAML::NodeType::Undefined), child);
  if (!node_.IsMap()) fail("expected a map, found " + std::string(type_name(node_)));
  // const access never inserts into the document.
  const YAML::Node& self = node_;
  return Field(self[key], child);
}

std::vector<Field> Field::items() const {
  std::vector<Field> out;
  if (!present()) return out;
  if (!node_.IsSequence()) fail("expected a list, found " + std::string(type_name(node_)));
  out.reserve(node_.size());
  for (size_t i = 0; i < node_.size(); ++i) {
    out.emplace_back(node_[i], path_ + "[" + std::to_string(i) + "]");
  }
  return out;
}

std::vector<std::pair<std::string, Field>> Field::entries() const {
  std::vector<std::pair<std::string, Field>> out;
  if (!present()) return out;
  if (!node_.IsMap()) fail("expected a map, found " + std::string(type_name(node_)));
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (!it->first.IsScalar()) fail("map keys must be strings");
    auto key = it->first.Scalar();
    out.emplace_back(key, Field(it->second, path_.empty() ? key : path_ + "." + key));
  }
  return out;
}

std::string Field::str() const {
  if (!present()) fail("is required");
  if (!node_.IsScalar()) fail("expected a string, found " + std::string(type_name(node_)));
  return node_.Scalar();
}

std::optional<std::string> Field::opt_str() const {
  if (!present()) return std::nullopt;
  return str();
}

int64_t Field::integer(int64_t min, int64_t max) const {
  auto s = str();
  auto parsed = parse_integer<int64_t>(s);
  if (!parsed) fail("expected an integer, found \"" + s + "\"");
  const int64_t v = *parsed;
  if (v < min || v > max) {
    fail("value " + s + " out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return v;
}

std::optional<int64_t> Field::opt_integer(int64_t min, int64_t max) const {
  if (!present()) return std::nullopt;
  return integer(min, max);
}

bool Field::boolean() const {
  auto s = str();
  // YAML 1.1 booleans as Kubernetes (and yaml-cpp) accept them.
  if (s == "true" || s == "True" || s == "TRUE" || s == "yes" || s == "Yes" || s == "on")
    return true;
  if (s == "false" || s == "False" || s == "FALSE" || s == "no" || s == "No" || s == "off") {
    return false;
  }
  fail("expected a boolean, found \"" + s + "\"");
}

std::optional<bool> Field::opt_boolean() const {
  if (!present()) return std::nullopt;
  return boolean();
}

std::string Field::one_of(const std::vector<std::string>& allowed, const std::string& def) const {
  if (!present()) return def;
  auto s = str();
  for (const auto& a : allowed) {
    if (a == s) return s;
  }
  std::string list;
  for (const auto& a : allowed)
    list += (list.empty() ? "" : ", ") + a;
  fail("unsupported value \"" + s + "\" (expected one of " + list + ")");
}

std::map<std::string, std::string> Field::string_map() const {
  std::map<std::string, std::string> out;
  FieldErrors errs;
  for (auto& [k, f] : entries())
    errs.check([&, &k = k, &f = f] { out[k] = f.present() ? f.str() : ""; });
  errs.raise();
  return out;
}

std::vector<std::string> Field::string_list() const {
  std::vector<std::string> out;
  FieldErrors errs;
  for (auto& f : items())
    errs.check([&] { out.push_back(f.str()); });
  errs.raise();
  return out;
}

LabelSelector Field::selector() const {
  LabelSelector sel;
  if (!present()) return sel;
  if (!is_map()) fail("expected a label selector (a map)");
  sel.match_labels = (*this)["matchLabels"].string_map();
  for (auto& e : (*this)["matchExpressions"].items()) {
    SelectorRequirement r;
    r.key = e["key"].str();
    auto op = e["operator"].one_of({"In", "NotIn", "Exists", "DoesNotExist"}, "");
    if (op.empty()) e["operator"].fail("is required");
    using Op = SelectorRequirement::Op;
    r.op = op == "In"       ? Op::In
           : op == "NotIn"  ? Op::NotIn
           : op == "Exists" ? Op::Exists
                            : Op::DoesNotExist;
    r.values = e["values"].string_list();
    if ((r.op == Op::In || r.op == Op::NotIn) && r.values.empty()) {
      e["values"].fail("must be non-empty for operator " + op);
    }
    if ((r.op == Op::Exists || r.op == Op::DoesNotExist) && !r.values.empty()) {
      e["values"].fail("must be empty for operator " + op);
    }
    sel.match_expressions.push_back(std::move(r));
  }
  return sel;
}

}  // namespace netagent::k8s
