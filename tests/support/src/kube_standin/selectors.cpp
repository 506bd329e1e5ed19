// Label and field selectors as the kube-apiserver parses them from query parameters
// (k8s.io/apimachinery/pkg/labels and pkg/fields semantics).
#include <algorithm>

#include "standin.hpp"

namespace netagent::standin {
namespace {

std::string trim(std::string s) {
  auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

ApiFailure bad(const std::string& what, const std::string& text) {
  return ApiFailure{400, "BadRequest", "unable to parse requirement: " + what + ": " + text};
}

// Splits at commas outside parentheses.
std::vector<std::string> terms(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  for (char c : text) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      out.push_back(trim(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(trim(cur));
  return out;
}

bool valid_key(const std::string& k) {
  if (k.empty()) return false;
  return std::all_of(k.begin(), k.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
           c == '/';
  });
}

std::optional<std::string> label_of(const json& object, const std::string& key) {
  auto m = object.find("metadata");
  if (m == object.end() || !m->is_object()) return std::nullopt;
  auto l = m->find("labels");
  if (l == m->end() || !l->is_object()) return std::nullopt;
  auto v = l->find(key);
  if (v == l->end() || !v->is_string()) return std::nullopt;
  return v->get<std::string>();
}

// The value of a dotted field path, as a string ("" when absent), the way field selectors
// compare them.
std::string field_of(const json& object, const std::string& path) {
  const json* cur = &object;
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    std::string part =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!cur->is_object()) return "";
    auto it = cur->find(part);
    if (it == cur->end()) return "";
    cur = &*it;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (cur->is_string()) return cur->get<std::string>();
  if (cur->is_boolean()) return cur->get<bool>() ? "true" : "false";
  if (cur->is_number()) return cur->dump();
  return "";
}

bool match(const Requirement& r, const std::optional<std::string>& v) {
  switch (r.op) {
    case Requirement::Op::Eq:
      return v && *v == r.values[0];
    case Requirement::Op::NotEq:
      return !v || *v != r.values[0];
    case Requirement::Op::In:
      return v && std::find(r.values.begin(), r.values.end(), *v) != r.values.end();
    case Requirement::Op::NotIn:
      return !v || std::find(r.values.begin(), r.values.end(), *v) == r.values.end();
    case Requirement::Op::Exists:
      return v.has_value();
    case Requirement::Op::NotExists:
      return !v.has_value();
  }
  return false;
}

}  // namespace

Selector parse_label_selector(const std::string& text) {
  Selector out;
  if (trim(text).empty()) return out;
  for (const auto& t : terms(text)) {
    if (t.empty()) throw bad("empty term", text);
    Requirement r;
    if (t[0] == '!') {
      r.key = trim(t.substr(1));
      r.op = Requirement::Op::NotExists;
    } else if (auto p = t.find("!="); p != std::string::npos) {
      r.key = trim(t.substr(0, p));
      r.op = Requirement::Op::NotEq;
      r.values = {trim(t.substr(p + 2))};
    } else if (auto p2 = t.find("=="); p2 != std::string::npos) {
      r.key = trim(t.substr(0, p2));
      r.values = {trim(t.substr(p2 + 2))};
    } else if (auto p3 = t.find('='); p3 != std::string::npos) {
      r.key = trim(t.substr(0, p3));
      r.values = {trim(t.substr(p3 + 1))};
    } else if (auto sp = t.find(' '); sp != std::string::npos) {
      r.key = trim(t.substr(0, sp));
      std::string rest = trim(t.substr(sp));
      std::string op;
      if (rest.rfind("notin", 0) == 0) {
        r.op = Requirement::Op::NotIn;
        op = "notin";
      } else if (rest.rfind("in", 0) == 0) {
        r.op = Requirement::Op::In;
        op = "in";
      } else {
        throw bad("unknown operator", t);
      }
      rest = trim(rest.substr(op.size()));
      if (rest.size() < 2 || rest.front() != '(' || rest.back() != ')')
        throw bad("expected a parenthesised set", t);
      for (auto& v : terms(rest.substr(1, rest.size() - 2)))
        r.values.push_back(v);
    } else {
      r.key = t;
      r.op = Requirement::Op::Exists;
    }
    if (!valid_key(r.key)) throw bad("invalid label key", t);
    out.push_back(std::move(r));
  }
  return out;
}

Selector parse_field_selector(const std::string& text, const ResourceType& type) {
  Selector out;
  if (trim(text).empty()) return out;
  // The fields each resource type supports (the real server's field label conversion).
  std::vector<std::string> allowed = {"metadata.name", "metadata.namespace"};
  if (type.kind == "Pod")
    allowed.insert(allowed.end(), {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                                   "spec.serviceAccountName", "status.phase", "status.podIP"});
  if (type.kind == "Event")
    allowed.insert(allowed.end(), {"involvedObject.kind", "involvedObject.namespace",
                                   "involvedObject.name", "involvedObject.uid", "reason", "type",
                                   "regarding.kind", "regarding.name", "regarding.namespace"});
  if (type.kind == "Secret") allowed.push_back("type");
  if (type.kind == "Namespace") allowed.push_back("status.phase");
  if (type.kind == "Node") allowed.push_back("spec.unschedulable");
  for (const auto& t : terms(text)) {
    Requirement r;
    size_t p, n;
    if ((p = t.find("!=")) != std::string::npos) {
      r.op = Requirement::Op::NotEq;
      n = 2;
    } else if ((p = t.find("==")) != std::string::npos) {
      n = 2;
    } else if ((p = t.find('=')) != std::string::npos) {
      n = 1;
    } else {
      throw ApiFailure{400, "BadRequest", "invalid field selector: " + t};
    }
    r.key = trim(t.substr(0, p));
    r.values = {trim(t.substr(p + n))};
    if (std::find(allowed.begin(), allowed.end(), r.key) == allowed.end())
      throw ApiFailure{400, "BadRequest", "field label not supported: " + r.key};
    out.push_back(std::move(r));
  }
  return out;
}

bool labels_match(const Selector& s, const json& object) {
  for (const auto& r : s)
    if (!match(r, label_of(object, r.key))) return false;
  return true;
}

bool fields_match(const Selector& s, const json& object) {
  for (const auto& r : s)
    if (!match(r, field_of(object, r.key))) return false;
  return true;
}

}  // namespace netagent::standin
