#include "netagent/source/yaml_documents.hpp"

#include <yaml.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>

namespace netagent::source {
namespace {

// YAML 1.1/1.2 core schema nulls, as yaml-cpp resolves plain scalars.
bool null_scalar(std::string_view v) {
  return v.empty() || v == "~" || v == "null" || v == "Null" || v == "NULL";
}

std::string_view as_view(const yaml_char_t* s, size_t n) {
  return {reinterpret_cast<const char*>(s), n};
}
const char* as_str(const yaml_char_t* s) {
  return reinterpret_cast<const char*>(s);
}

// A mapping or sequence being filled. yaml-cpp nodes are handles: a handle that is already bound
// is rebound with reset(); assigning to it would overwrite the node it refers to.
struct Frame {
  YAML::Node node;
  bool map = false;
  bool have_key = false;
  YAML::Node key;
  // Keys seen, for duplicate detection: a short list, a set once the map is large.
  std::vector<std::string> keys;
  std::set<std::string> many_keys;

  bool insert_key(const std::string& k) {
    if (many_keys.empty() && keys.size() < 32) {
      if (std::find(keys.begin(), keys.end(), k) != keys.end()) return false;
      keys.push_back(k);
      return true;
    }
    if (many_keys.empty()) many_keys.insert(keys.begin(), keys.end());
    return many_keys.insert(k).second;
  }
};

class Builder {
 public:
  YamlDocuments run(std::string_view text) {
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
    for (bool done = false; !done && !out_.error;) {
      yaml_event_t ev;
      if (!yaml_parser_parse(&parser, &ev)) {
        std::string msg = parser.problem ? parser.problem : "malformed YAML";
        if (parser.context) msg = std::string(parser.context) + ": " + msg;
        fail(int(parser.problem_mark.line), int(parser.problem_mark.column), msg);
        break;
      }
      done = ev.type == YAML_STREAM_END_EVENT;
      handle(ev);
      yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return std::move(out_);
  }

 private:
  void handle(const yaml_event_t& ev) {
    const auto& mark = ev.start_mark;
    switch (ev.type) {
      case YAML_DOCUMENT_START_EVENT:
        ++document_;
        root_.reset();
        anchors_.clear();
        break;
      case YAML_DOCUMENT_END_EVENT:
        out_.documents.push_back(root_);
        break;
      case YAML_SCALAR_EVENT: {
        const auto& s = ev.data.scalar;
        auto value = as_view(s.value, s.length);
        bool plain = s.style == YAML_PLAIN_SCALAR_STYLE;
        YAML::Node n;
        if (plain && !s.tag && null_scalar(value)) {
          n.reset(YAML::Node(YAML::NodeType::Null));
        } else {
          n.reset(YAML::Node(std::string(value)));
          n.SetTag(s.tag ? as_str(s.tag) : plain ? "?" : "!");
        }
        if (s.anchor) anchor(as_str(s.anchor), n);
        attach(n, int(mark.line), int(mark.column));
        break;
      }
      case YAML_ALIAS_EVENT: {
        auto it = anchors_.find(as_str(ev.data.alias.anchor));
        if (it == anchors_.end()) {
          fail(int(mark.line), int(mark.column),
               std::string("unknown anchor \"") + as_str(ev.data.alias.anchor) + "\"");
          return;
        }
        attach(it->second, int(mark.line), int(mark.column));
        break;
      }
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT: {
        bool map = ev.type == YAML_MAPPING_START_EVENT;
        const yaml_char_t* tag = map ? ev.data.mapping_start.tag : ev.data.sequence_start.tag;
        const yaml_char_t* anc = map ? ev.data.mapping_start.anchor : ev.data.sequence_start.anchor;
        YAML::Node n(map ? YAML::NodeType::Map : YAML::NodeType::Sequence);
        n.SetTag(tag ? as_str(tag) : "?");
        if (anc) anchor(as_str(anc), n);
        attach(n, int(mark.line), int(mark.column));
        Frame f;
        f.node.reset(n);
        f.map = map;
        stack_.push_back(std::move(f));
        break;
      }
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT:
        stack_.pop_back();
        break;
      default:
        break;
    }
  }

  void anchor(const std::string& name, const YAML::Node& n) {
    anchors_.erase(name);  // a redefined anchor names the new node from here on
    anchors_.emplace(name, n);
  }

  void attach(const YAML::Node& n, int line, int column) {
    if (stack_.empty()) {
      root_.reset(n);
      return;
    }
    Frame& f = stack_.back();
    if (!f.map) {
      f.node.push_back(n);
      return;
    }
    if (!f.have_key) {
      if (n.IsScalar() && !f.insert_key(n.Scalar())) {
        fail(line, column, "duplicate key \"" + n.Scalar() + "\" in a mapping");
        return;
      }
      f.key.reset(n);
      f.have_key = true;
      return;
    }
    f.node.force_insert(f.key, n);
    f.have_key = false;
  }

  void fail(int line, int column, std::string message) {
    out_.error = YamlSyntaxError{std::max(document_, 0), line + 1, column + 1, std::move(message)};
  }

  YamlDocuments out_;
  int document_ = -1;
  YAML::Node root_;
  std::vector<Frame> stack_;
  std::map<std::string, YAML::Node> anchors_;
};

}  // namespace

std::string YamlSyntaxError::str() const {
  return "line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + message;
}

YamlDocuments parse_yaml_documents(std::string_view text) {
  return Builder().run(text);
}

}  // namespace netagent::source
