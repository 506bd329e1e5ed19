#include "netagent/source/substitution.hpp"

#include <cctype>

#include "netagent/source/yaml_documents.hpp"

namespace netagent::source {
namespace {

constexpr const char* kDisableKey = "kustomize.toolkit.fluxcd.io/substitute";

bool name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

// Recursive-descent expansion of one string: text, `$$`, and `${NAME[op default]}` where the
// default is itself expanded text ending at the matching `}`.
class Expander {
 public:
  Expander(std::string_view s, const Variables& vars, std::vector<SubstitutionError>& errors)
      : s_(s), vars_(vars), errors_(errors) {}

  std::string run() { return expand(false); }

 private:
  std::string expand(bool in_default) {
    std::string out;
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (in_default && c == '}') return out;  // the caller consumes it
      if (c == '$' && i_ + 1 < s_.size() && s_[i_ + 1] == '$') {
        out += '$';  // Flux's escape: `$$` is a literal `$`
        i_ += 2;
      } else if (c == '$' && i_ + 1 < s_.size() && s_[i_ + 1] == '{') {
        out += expression();
      } else {
        out += c;
        ++i_;
      }
    }
    return out;
  }

  // At "${". Returns the expansion ("" after an error).
  std::string expression() {
    size_t start = i_;
    i_ += 2;
    size_t name_start = i_;
    while (i_ < s_.size() && name_char(s_[i_]))
      ++i_;
    std::string name(s_.substr(name_start, i_ - name_start));
    if (i_ >= s_.size()) {
      fail(name, "missing closing brace in \"" + std::string(s_.substr(start)) + "\"");
      return "";
    }
    if (name.empty()) {
      skip_to_brace();
      fail("", "bad substitution \"" + std::string(s_.substr(start, i_ - start)) +
                   "\": expected a variable name after ${");
      return "";
    }
    auto value = vars_.find(name);
    char c = s_[i_];
    if (c == '}') {
      ++i_;
      if (value == vars_.end()) {
        fail(name, "variable " + name + " is not defined and ${" + name + "} has no default");
        return "";
      }
      return value->second;
    }
    size_t op_len = 0;
    if (c == ':' && i_ + 1 < s_.size() && (s_[i_ + 1] == '=' || s_[i_ + 1] == '-')) {
      op_len = 2;
    } else if (c == '=' || c == '-') {
      op_len = 1;
    }
    if (op_len == 0) {
      skip_to_brace();
      fail(name, "unsupported substitution \"" + std::string(s_.substr(start, i_ - start)) +
                     "\": only ${VAR}, ${VAR:=default} and ${VAR:-default} are supported");
      return "";
    }
    i_ += op_len;
    std::string def = expand(true);
    if (i_ >= s_.size()) {
      fail(name, "missing closing brace in \"" + std::string(s_.substr(start)) + "\"");
      return "";
    }
    ++i_;  // the closing brace
    // Flux's envsubst uses the default when the value is unset or empty, for every form.
    if (value != vars_.end() && !value->second.empty()) return value->second;
    return def;
  }

  void skip_to_brace() {
    while (i_ < s_.size() && s_[i_] != '}')
      ++i_;
    if (i_ < s_.size()) ++i_;
  }

  void fail(const std::string& var, std::string message) {
    errors_.push_back(SubstitutionError{var, "", std::move(message)});
  }

  std::string_view s_;
  size_t i_ = 0;
  const Variables& vars_;
  std::vector<SubstitutionError>& errors_;
};

std::string child_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

// Substitutes one scalar node in place. A plain scalar is re-read as YAML, so that its type (and
// shape) follow the substituted text the way Flux's re-parse of the substituted manifest does.
void substitute_scalar(YAML::Node node, const std::string& path, const Variables& vars,
                       std::vector<SubstitutionError>& errors) {
  const std::string& text = node.Scalar();
  if (!has_substitution(text)) return;
  auto result = substitute(text, vars);
  for (auto& e : result.errors) {
    e.field = path;
    errors.push_back(std::move(e));
  }
  if (!result.ok()) return;
  if (node.Tag() != "?") {
    node = result.text;  // quoted or block scalar: stays a string
    node.SetTag("!");
    return;
  }
  auto parsed = parse_yaml_documents(result.text);
  if (parsed.error || parsed.documents.size() > 1) {
    errors.push_back(SubstitutionError{"", path,
                                       "the substituted value \"" + result.text +
                                           "\" is not a YAML value" +
                                           (parsed.error ? ": " + parsed.error->message : "")});
    return;
  }
  YAML::Node typed =
      parsed.documents.empty() ? YAML::Node(YAML::NodeType::Null) : parsed.documents[0];
  if (typed.IsScalar()) {
    node = typed.Scalar();
    node.SetTag(typed.Tag());
  } else {
    node = typed;  // null, a list or a map, as the re-parsed text would be
  }
}

void walk(YAML::Node node, const std::string& path, const Variables& vars,
          std::vector<SubstitutionError>& errors) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      substitute_scalar(node, path, vars, errors);
      break;
    case YAML::NodeType::Sequence:
      for (size_t i = 0; i < node.size(); ++i) {
        walk(node[i], path + "[" + std::to_string(i) + "]", vars, errors);
      }
      break;
    case YAML::NodeType::Map:
      for (auto it = node.begin(); it != node.end(); ++it) {
        YAML::Node key = it->first;
        std::string key_text = key.IsScalar() ? key.Scalar() : "?";
        if (key.IsScalar() && has_substitution(key_text)) {
          auto result = substitute(key_text, vars);
          for (auto& e : result.errors) {
            e.field = child_path(path, key_text);
            errors.push_back(std::move(e));
          }
          if (result.ok()) {
            key = result.text;
            key_text = result.text;
          }
        }
        walk(it->second, child_path(path, key_text), vars, errors);
      }
      break;
    default:
      break;
  }
}

}  // namespace

bool has_substitution(std::string_view text) {
  for (size_t p = text.find('$'); p != std::string_view::npos; p = text.find('$', p + 1)) {
    if (p + 1 < text.size() && (text[p + 1] == '{' || text[p + 1] == '$')) return true;
  }
  return false;
}

SubstitutedText substitute(std::string_view text, const Variables& vars) {
  SubstitutedText out;
  out.text = Expander(text, vars, out.errors).run();
  return out;
}

bool valid_variable_name(std::string_view name) {
  if (name.empty()) return false;
  auto alpha = [](char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; };
  if (!alpha(name.front())) return false;
  for (char c : name) {
    if (!alpha(c) && !std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::string variable_value(std::string_view raw) {
  std::string v;
  v.reserve(raw.size());
  for (char c : raw) {
    if (c != '\n') v += c;
  }
  return v;
}

std::vector<SubstitutionError> substitute_document(YAML::Node& doc, const Variables& vars) {
  std::vector<SubstitutionError> errors;
  walk(doc, "", vars, errors);
  return errors;
}

bool substitution_disabled(const YAML::Node& object) {
  // Const look-ups of missing keys give invalid nodes: test IsDefined() before anything else.
  auto is_map = [](const YAML::Node& n) { return n.IsDefined() && n.IsMap(); };
  if (!is_map(object)) return false;
  const YAML::Node md = object["metadata"];
  if (!is_map(md)) return false;
  for (const char* section : {"labels", "annotations"}) {
    const YAML::Node m = md[section];
    if (!is_map(m)) continue;
    const YAML::Node v = m[kDisableKey];
    if (v.IsDefined() && v.IsScalar() && v.Scalar() == "disabled") return true;
  }
  return false;
}

}  // namespace netagent::source
