#include "netagent/source/manifest_loader.hpp"

#include <algorithm>
#include <functional>
#include <optional>
#include <set>
#include <tuple>

#include "netagent/k8s/decode.hpp"

namespace netagent::source {
namespace {

using k8s::DecodeError;
using k8s::SourceRef;

// kustomize build configuration, not resources. Flux reads every manifest of a path that has no
// kustomization.yaml; the tree is always read whole, so these files carry nothing for us.
bool is_kustomize_config(const std::string& relative) {
  auto slash = relative.rfind('/');
  std::string base = slash == std::string::npos ? relative : relative.substr(slash + 1);
  return base == "kustomization.yaml" || base == "kustomization.yml";
}

// The index of the YAML document that contains `line` (0-based), counted the way yaml-cpp's
// LoadAll counts: an explicit `---` starts a document, text before the first `---` is one too.
int document_at_line(const std::string& text, int line) {
  int current = 0;
  bool started = false;
  size_t pos = 0;
  for (int l = 0; l < line && pos < text.size(); ++l) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view s(text.data() + pos, end - pos);
    bool separator =
        s.substr(0, 3) == "---" && (s.size() == 3 || s[3] == ' ' || s[3] == '\t' || s[3] == '\r');
    if (separator) {
      if (started) ++current;
      started = true;
    } else {
      auto first = s.find_first_not_of(" \t\r");
      if (first != std::string_view::npos && s[first] != '#' && s[first] != '%') started = true;
    }
    pos = end + 1;
  }
  return current;
}

// A missing key of a const node is an invalid node in yaml-cpp, and asking an invalid node for its
// type throws: every look-up here checks IsDefined() first.
bool is_map(const YAML::Node& n) {
  return n.IsDefined() && n.IsMap();
}

YAML::Node child(const YAML::Node& n, const char* key) {
  return is_map(n) ? n[key] : YAML::Node(YAML::NodeType::Undefined);
}

std::string scalar_or(const YAML::Node& n, const char* key, const std::string& def = "") {
  YAML::Node v = child(n, key);
  return v.IsDefined() && v.IsScalar() ? v.Scalar() : def;
}

// "Kind ns/name" from a raw node, as far as it can be read, for errors before decoding.
std::string display_of(const YAML::Node& n) {
  std::string kind = scalar_or(n, "kind", "object");
  YAML::Node md = child(n, "metadata");
  std::string name = scalar_or(md, "name");
  std::string ns = scalar_or(md, "namespace");
  if (name.empty()) return kind;
  return kind + " " + (ns.empty() ? name : ns + "/" + name);
}

std::string prefixed(const std::string& prefix, const std::string& field) {
  if (prefix.empty()) return field;
  if (field.empty()) return prefix.substr(0, prefix.size() - 1);  // "items[3]"
  return prefix + field;
}

bool is_list_kind(const std::string& kind) {
  return kind == "List" || (kind.size() > 4 && kind.compare(kind.size() - 4, 4, "List") == 0);
}

const std::set<std::string>& core_kinds() {
  static const std::set<std::string> kinds{"Service", "EndpointSlice", "Pod",   "Namespace",
                                           "Node",    "ConfigMap",     "Secret"};
  return kinds;
}

// Identity for duplicate detection, as k8s::SnapshotBuilder keys objects.
std::string identity(const k8s::Object& o) {
  bool cluster_scoped = o.kind == "Namespace" || o.kind == "Node";
  std::string ns = cluster_scoped ? "" : (o.meta.ns.empty() ? "default" : o.meta.ns);
  return o.kind + "/" + ns + "/" + o.meta.name;
}

}  // namespace

struct ManifestLoader::ParsedFile {
  std::string content;
  std::vector<YAML::Node> docs;  // as parsed: before substitution, Lists not expanded
  std::optional<DecodeError> error;
  bool has_substitution = false;  // the text contains "${" or "$$" somewhere
};

namespace {

// One object of a document: the document itself or an item of a List.
struct RawObject {
  YAML::Node node;
  SourceRef source;
  std::string prefix;  // "items[3]." for List items
  bool substitutable = false;
};

class TreeBuild {
 public:
  explicit TreeBuild(const ManifestOptions& opts) : opts_(opts), builder_(&opts.registry) {}

  void add_error(DecodeError e) { errors_.push_back(std::move(e)); }

  // Splits a parsed document into objects, reporting malformed ones.
  void collect(const YAML::Node& doc, const SourceRef& src, bool substitutable) {
    if (!doc.IsDefined() || doc.IsNull()) return;
    ++stats_.documents;
    if (!doc.IsMap()) {
      add_error({src, "", "", "a Kubernetes object must be a YAML map"});
      return;
    }
    std::string kind = scalar_or(doc, "kind");
    if (kind.empty()) {
      add_error({src, display_of(doc), "kind", "is required: this is not a Kubernetes object"});
      return;
    }
    YAML::Node items = child(doc, "items");
    if (is_list_kind(kind) && (kind == "List" || items.IsDefined())) {
      if (items.IsDefined() && !items.IsNull() && !items.IsSequence()) {
        add_error({src, "List", "items", "expected a list of objects"});
        return;
      }
      // `<Kind>List` (an API list response) may leave kind and apiVersion out of its items.
      std::string item_kind = kind == "List" ? "" : kind.substr(0, kind.size() - 4);
      std::string list_version = scalar_or(doc, "apiVersion");
      const YAML::Node& citems = items;
      bool has_items = items.IsDefined() && items.IsSequence();
      for (size_t i = 0; has_items && i < items.size(); ++i) {
        YAML::Node item = citems[i];
        std::string prefix = "items[" + std::to_string(i) + "].";
        if (!item.IsMap()) {
          add_error({src, "List", prefixed(prefix, ""), "a list item must be a map"});
          continue;
        }
        const YAML::Node& citem = item;
        bool no_kind = !citem["kind"], no_version = !citem["apiVersion"];
        if (!item_kind.empty() && (no_kind || no_version)) {
          item = YAML::Clone(item);  // never modify the cached parse
          if (no_kind) item["kind"] = item_kind;
          if (no_version) item["apiVersion"] = list_version;
        }
        if (is_list_kind(scalar_or(item, "kind")) && child(item, "items").IsDefined()) {
          add_error({src, display_of(item), prefix + "kind", "a List cannot contain a List"});
          continue;
        }
        objects_.push_back(RawObject{item, src, prefix, substitutable});
      }
      return;
    }
    objects_.push_back(RawObject{doc, src, "", substitutable});
  }

  // Finds the settings objects and builds the variables from them.
  void read_settings() {
    const auto& refs = opts_.substitute_from;
    std::vector<const RawObject*> found(refs.size(), nullptr);
    for (auto& o : objects_) {
      std::string kind = scalar_or(o.node, "kind");
      YAML::Node md = child(o.node, "metadata");
      std::string name = scalar_or(md, "name");
      std::string ns = scalar_or(md, "namespace", "default");
      for (size_t r = 0; r < refs.size(); ++r) {
        if (refs[r].kind != kind || refs[r].name != name || refs[r].ns != ns) continue;
        settings_objects_.insert(&o);
        if (found[r]) {
          add_error({o.source, refs[r].str(), "metadata.name",
                     "defined twice (also in " + found[r]->source.str() +
                         "): the variables for substitution would be ambiguous"});
          continue;
        }
        found[r] = &o;
      }
    }
    for (size_t r = 0; r < refs.size(); ++r) {
      const RawObject* o = found[r];
      if (!o) {
        if (!refs[r].optional) {
          add_error({{}, refs[r].str(), "", "required for variable substitution, not in the tree"});
        }
        continue;
      }
      sources_text_ += (sources_text_.empty() ? "" : ", ") + refs[r].str();
      auto err = k8s::guard(object_of(*o), [&] {
        auto obj = object_of(*o);
        std::map<std::string, std::string> data;
        if (refs[r].kind == "Secret") {
          auto s = k8s::decode_secret(obj);
          data = s.data;
        } else {
          data = k8s::decode_config_map(obj).data;
        }
        for (auto& [k, v] : data) {
          if (!valid_variable_name(k)) {
            throw k8s::FieldError("data." + k,
                                  "\"" + k +
                                      "\" is not a valid variable name (Flux "
                                      "requires ^[_[:alpha:]][_[:alpha:][:digit:]]*$)");
          }
          vars_[k] = variable_value(v);
        }
      });
      if (err) add_error(std::move(*err));
    }
  }

  // Substitutes and decodes every object that some part consumes.
  void build() {
    for (auto& o : objects_) {
      std::string kind = scalar_or(o.node, "kind");
      bool consumed = core_kinds().count(kind) || opts_.registry.kinds.count(kind);
      if (!consumed) {
        ++ignored_[kind];
        ++stats_.ignored;
        continue;
      }
      YAML::Node node = o.node;
      if (o.substitutable && !settings_objects_.count(&o) && !substitution_disabled(node)) {
        node = YAML::Clone(node);
        auto errs = substitute_document(node, vars_);
        ++stats_.substituted;
        if (!errs.empty()) {
          for (auto& e : errs) {
            std::string msg = e.message;
            if (!e.variable.empty() && !vars_.count(e.variable)) msg += where_variables_come_from();
            add_error({o.source, display_of(o.node), prefixed(o.prefix, e.field), msg});
          }
          continue;
        }
      }
      k8s::Object obj;
      try {
        obj = k8s::read_object(node, o.source);
      } catch (const k8s::FieldError& e) {
        add_error({o.source, display_of(node), prefixed(o.prefix, e.path), e.what()});
        continue;
      } catch (const YAML::Exception& e) {
        add_error(
            {o.source, display_of(node), o.prefix.empty() ? "" : prefixed(o.prefix, ""), e.what()});
        continue;
      }
      if (auto err = builder_.add(obj)) {
        err->field = prefixed(o.prefix, err->field);
        auto first = first_seen_.find(identity(obj));
        if (first != first_seen_.end() && err->message.rfind("duplicate object", 0) == 0) {
          err->message += " (first in " + first->second.str() + ")";
        }
        add_error(std::move(*err));
        continue;
      }
      first_seen_.emplace(identity(obj), o.source);
      ++stats_.objects;
    }
  }

  TreeLoad finish() {
    TreeLoad out;
    out.stats = stats_;
    if (!errors_.empty()) {
      // In tree order (files are visited sorted), whichever stage found them.
      std::stable_sort(errors_.begin(), errors_.end(),
                       [](const DecodeError& a, const DecodeError& b) {
                         return std::tie(a.source.file, a.source.document) <
                                std::tie(b.source.file, b.source.document);
                       });
      out.errors = std::move(errors_);
      return out;
    }
    builder_.set_settings(vars_);
    auto snap = std::make_shared<k8s::Snapshot>(builder_.take());
    for (auto& [k, n] : ignored_)
      snap->ignored_kinds[k] += n;
    out.snapshot = std::move(snap);
    return out;
  }

  LoadStats& stats() { return stats_; }

 private:
  k8s::Object object_of(const RawObject& o) { return k8s::read_object(o.node, o.source); }

  std::string where_variables_come_from() const {
    if (!sources_text_.empty()) return " (variables come from " + sources_text_ + ")";
    std::string refs;
    for (auto& r : opts_.substitute_from)
      refs += (refs.empty() ? "" : ", ") + r.str();
    if (refs.empty()) return " (no variable sources are configured)";
    return " (no " + refs + " in the tree defines variables)";
  }

  const ManifestOptions& opts_;
  k8s::SnapshotBuilder builder_;
  std::vector<RawObject> objects_;
  std::set<const RawObject*> settings_objects_;
  Variables vars_;
  std::string sources_text_;
  std::map<std::string, int> ignored_;
  std::map<std::string, SourceRef> first_seen_;
  std::vector<DecodeError> errors_;
  LoadStats stats_;
};

}  // namespace

ManifestLoader::ManifestLoader(ManifestOptions options) : options_(std::move(options)) {}
ManifestLoader::~ManifestLoader() = default;

TreeLoad ManifestLoader::load(const std::filesystem::path& root) {
  auto started = std::chrono::steady_clock::now();
  auto listing = list_tree(root);
  if (!listing.error.empty()) {
    TreeLoad out;
    out.errors.push_back({SourceRef{root.string(), -1}, "", "", listing.error});
    out.stats.duration = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - started);
    return out;
  }
  for (auto& f : listing.files) {
    if (f.read_error.empty()) read_file(f);
  }
  auto out = load_files(std::move(listing.files));
  out.stats.duration = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - started);
  return out;
}

TreeLoad ManifestLoader::load_files(std::vector<ManifestFile> files) {
  auto started = std::chrono::steady_clock::now();
  TreeBuild build(options_);
  std::map<std::string, std::shared_ptr<const ParsedFile>> next;
  bool unchanged = loaded_once_;
  size_t counted = 0;
  for (auto& f : files) {
    if (is_kustomize_config(f.relative)) continue;
    ++counted;
    if (!f.read_error.empty()) {
      build.add_error({SourceRef{f.path, -1}, "", "", f.read_error});
      unchanged = false;
      continue;
    }
    auto hit = cache_.find(f.path);
    std::shared_ptr<const ParsedFile> parsed;
    if (hit != cache_.end() && hit->second->content == f.content) {
      parsed = hit->second;
    } else {
      unchanged = false;
      auto p = std::make_shared<ParsedFile>();
      p->content = std::move(f.content);
      p->has_substitution = has_substitution(p->content);
      try {
        p->docs = YAML::LoadAll(p->content);
      } catch (const YAML::ParserException& e) {
        p->docs.clear();
        p->error = DecodeError{SourceRef{f.path, document_at_line(p->content, e.mark.line)}, "", "",
                               "YAML syntax error at line " + std::to_string(e.mark.line + 1) +
                                   ", column " + std::to_string(e.mark.column + 1) + ": " + e.msg};
      } catch (const YAML::Exception& e) {
        p->docs.clear();
        p->error = DecodeError{SourceRef{f.path, -1}, "", "", e.what()};
      }
      ++build.stats().files_parsed;
      parsed = std::move(p);
    }
    next[f.path] = parsed;
    if (parsed->error) {
      build.add_error(*parsed->error);
      continue;
    }
    for (size_t d = 0; d < parsed->docs.size(); ++d) {
      build.collect(parsed->docs[d], SourceRef{f.path, int(d)}, parsed->has_substitution);
    }
  }
  if (next.size() != cache_.size()) unchanged = false;
  cache_ = std::move(next);
  loaded_once_ = true;
  build.stats().files = counted;
  build.read_settings();
  build.build();
  auto out = build.finish();
  out.unchanged = unchanged;
  out.stats.duration = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - started);
  return out;
}

TreeLoad load_manifest_tree(const std::filesystem::path& root, const ManifestOptions& options) {
  ManifestLoader loader(options);
  return loader.load(root);
}

}  // namespace netagent::source
