#include "netagent/source/manifest_loader.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <tuple>

#include "netagent/common/parallel.hpp"
#include "netagent/k8s/decode.hpp"
#include "netagent/source/kustomize.hpp"
#include "netagent/source/yaml_documents.hpp"

namespace netagent::source {

using k8s::DecodeError;
using k8s::SourceRef;

namespace detail {

// One object of a document: the document itself or an item of a List. Its identity is read once,
// when the file is parsed.
struct RawObject {
  YAML::Node node;  // as parsed: never modified (substitution works on a clone)
  SourceRef source;
  std::string prefix;  // "items[3]." for List items, for field paths
  std::string kind, name, ns;
  bool substitutable = false;  // some scalar of it contains "${" or "$$"
};

}  // namespace detail

namespace {

using detail::RawObject;

// kustomize build configuration, not resources. load() builds the directories that have one
// (kustomize.hpp) and never passes these files on; in a tree given to load_files() they are
// skipped, as before.
bool is_kustomize_config(const std::string& relative) {
  auto slash = relative.rfind('/');
  std::string base = slash == std::string::npos ? relative : relative.substr(slash + 1);
  return base == "kustomization.yaml" || base == "kustomization.yml";
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

bool is_core_kind(const std::string& kind) {
  static const std::set<std::string> kinds{"Service", "EndpointSlice", "Pod",   "Namespace",
                                           "Node",    "ConfigMap",     "Secret"};
  return kinds.count(kind) > 0;
}

// Identity for duplicate detection, as k8s::SnapshotBuilder keys objects.
std::string identity(const k8s::Object& o) {
  bool cluster_scoped = o.kind == "Namespace" || o.kind == "Node";
  std::string ns = cluster_scoped ? "" : (o.meta.ns.empty() ? "default" : o.meta.ns);
  return o.kind + "/" + ns + "/" + o.meta.name;
}

bool tree_has_substitution(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar:
      return has_substitution(n.Scalar());
    case YAML::NodeType::Sequence:
      for (const auto& c : n) {
        if (tree_has_substitution(c)) return true;
      }
      return false;
    case YAML::NodeType::Map:
      for (auto it = n.begin(); it != n.end(); ++it) {
        if (tree_has_substitution(it->first) || tree_has_substitution(it->second)) return true;
      }
      return false;
    default:
      return false;
  }
}

// Files are parsed and decoded in parallel (common/parallel.hpp): each has its own yaml-cpp nodes
// and its own SnapshotBuilder, and results go to per-index slots.
constexpr size_t kMinFilesPerThread = 32;

void sort_errors(std::vector<DecodeError>& errors) {
  // Tree order (files sorted, then documents), whichever stage found them.
  std::stable_sort(errors.begin(), errors.end(), [](const DecodeError& a, const DecodeError& b) {
    return std::tie(a.source.file, a.source.document) < std::tie(b.source.file, b.source.document);
  });
}

}  // namespace

// A file as parsed: depends on its content only.
struct ManifestLoader::ParsedFile {
  std::string content;
  uint64_t digest = 0;  // of the content
  std::vector<RawObject> objects;
  std::vector<DecodeError> errors;  // YAML syntax, documents that are not objects, bad Lists
  size_t documents = 0;             // non-empty documents
};

// What one file contributes to a snapshot, decoded: depends on its content, and on the variables
// when it uses any.
struct ManifestLoader::Fragment {
  k8s::Snapshot part;  // this file's objects; ignored_kinds counted, settings not set
  struct Identity {
    std::string key, display, prefix;
    SourceRef source;
  };
  std::vector<Identity> identities;  // of the objects added, for duplicates across files
  std::vector<DecodeError> errors;
  bool uses_variables = false;
  Variables vars;            // the variables it was built with, when uses_variables
  std::string vars_sources;  // and where they came from (it appears in error messages)
  size_t objects = 0, ignored = 0, substituted = 0;
};

namespace {

// Splits a parsed document into objects, reporting malformed ones.
void collect(const YAML::Node& doc, const SourceRef& src, bool file_has_substitution,
             std::vector<RawObject>& out, std::vector<DecodeError>& errors, size_t& documents) {
  if (!doc.IsDefined() || doc.IsNull()) return;
  ++documents;
  if (!doc.IsMap()) {
    errors.push_back({src, "", "", "a Kubernetes object must be a YAML map"});
    return;
  }
  auto add = [&](YAML::Node node, std::string prefix) {
    RawObject o;
    o.kind = scalar_or(node, "kind");
    YAML::Node md = child(node, "metadata");
    o.name = scalar_or(md, "name");
    o.ns = scalar_or(md, "namespace");
    o.substitutable = file_has_substitution && tree_has_substitution(node);
    o.node.reset(node);
    o.source = src;
    o.prefix = std::move(prefix);
    out.push_back(std::move(o));
  };
  std::string kind = scalar_or(doc, "kind");
  if (kind.empty()) {
    errors.push_back(
        {src, display_of(doc), "kind", "is required: this is not a Kubernetes object"});
    return;
  }
  YAML::Node items = child(doc, "items");
  if (!is_list_kind(kind) || (kind != "List" && !items.IsDefined())) {
    add(doc, "");
    return;
  }
  if (items.IsDefined() && !items.IsNull() && !items.IsSequence()) {
    errors.push_back({src, "List", "items", "expected a list of objects"});
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
      errors.push_back({src, "List", prefixed(prefix, ""), "a list item must be a map"});
      continue;
    }
    const YAML::Node& citem = item;
    bool no_kind = !citem["kind"], no_version = !citem["apiVersion"];
    if (!item_kind.empty() && (no_kind || no_version)) {
      // A private copy: the parse is never modified. (yaml-cpp nodes are handles: reset()
      // rebinds one, assignment would overwrite the node it refers to.)
      item.reset(YAML::Clone(item));
      if (no_kind) item["kind"] = item_kind;
      if (no_version) item["apiVersion"] = list_version;
    }
    if (is_list_kind(scalar_or(item, "kind")) && child(item, "items").IsDefined()) {
      errors.push_back({src, display_of(item), prefix + "kind", "a List cannot contain a List"});
      continue;
    }
    add(item, prefix);
  }
}

}  // namespace

std::shared_ptr<const ManifestLoader::ParsedFile> ManifestLoader::parse(
    const std::string& path, std::string content, const std::vector<YAML::Node>* documents) {
  auto p = std::make_shared<ParsedFile>();
  p->content = std::move(content);
  p->digest = std::hash<std::string_view>{}(p->content) | 1;
  if (documents) {
    // A kustomize build's output: parsed and transformed already.
    for (size_t d = 0; d < documents->size(); ++d) {
      collect((*documents)[d], SourceRef{path, int(d)}, true, p->objects, p->errors, p->documents);
    }
    return p;
  }
  auto parsed = parse_yaml_documents(p->content);
  if (parsed.error) {
    p->errors.push_back({SourceRef{path, parsed.error->document}, "", "",
                         "YAML syntax error at " + parsed.error->str()});
    return p;
  }
  bool subst = has_substitution(p->content);
  for (size_t d = 0; d < parsed.documents.size(); ++d) {
    collect(parsed.documents[d], SourceRef{path, int(d)}, subst, p->objects, p->errors,
            p->documents);
  }
  return p;
}

std::shared_ptr<const ManifestLoader::Fragment> ManifestLoader::build(
    const ParsedFile& file, const Settings& settings) const {
  auto fr = std::make_shared<Fragment>();
  k8s::SnapshotBuilder builder(&options_.registry);
  std::map<std::string, SourceRef> seen;  // within the file, to say where the first one is
  std::map<std::string, int> ignored;
  for (const auto& o : file.objects) {
    bool consumed = is_core_kind(o.kind) || options_.registry.kinds.count(o.kind);
    if (!consumed) {
      ++ignored[o.kind];
      ++fr->ignored;
      continue;
    }
    YAML::Node node = o.node;
    if (o.substitutable && !settings.objects.count(&o) && !substitution_disabled(node)) {
      fr->uses_variables = true;
      node.reset(YAML::Clone(o.node));  // substitute a private copy, never the parse
      auto errs = substitute_document(node, settings.vars);
      ++fr->substituted;
      if (!errs.empty()) {
        for (auto& e : errs) {
          std::string msg = e.message;
          if (!e.variable.empty() && !settings.vars.count(e.variable)) msg += settings.hint;
          fr->errors.push_back({o.source, display_of(o.node), prefixed(o.prefix, e.field), msg});
        }
        continue;
      }
    }
    std::optional<k8s::Object> read;
    try {
      // The object's digest: its file's content and place in it, and the variables when it
      // was substituted (so a changed setting changes the objects that use it).
      SourceRef src = o.source;
      uint64_t d = file.digest ^ (uint64_t(src.document) * 0x9e3779b97f4a7c15ull) ^
                   std::hash<std::string>{}(o.prefix);
      if (o.substitutable) {
        for (const auto& [k, v] : settings.vars)
          d = d * 1099511628211ull ^ std::hash<std::string>{}(k + "=" + v);
      }
      src.digest = d | 1;
      read.emplace(k8s::read_object(node, src));
    } catch (const k8s::FieldError& e) {
      for (auto& d : k8s::decode_errors(o.source, display_of(node), e)) {
        d.field = prefixed(o.prefix, d.field);
        fr->errors.push_back(std::move(d));
      }
      continue;
    } catch (const YAML::Exception& e) {
      fr->errors.push_back({o.source, display_of(node), prefixed(o.prefix, ""), e.what()});
      continue;
    }
    const k8s::Object& obj = *read;
    std::string key = identity(obj);
    std::vector<DecodeError> errs;
    try {
      errs = builder.add_all(obj);
    } catch (const std::exception& e) {
      // A validator of another part failed otherwise than with FieldError: still a value here.
      errs = {
          DecodeError{o.source, obj.display(), "", std::string("validation failed: ") + e.what()}};
    }
    if (!errs.empty()) {
      // Every error of the object, each with its field path.
      for (auto& err : errs) {
        err.field = prefixed(o.prefix, err.field);
        auto first = seen.find(key);
        if (first != seen.end() && err.message.rfind("duplicate object", 0) == 0) {
          err.message += " (first in " + first->second.str() + ")";
        }
        fr->errors.push_back(std::move(err));
      }
      continue;
    }
    seen.emplace(key, o.source);
    fr->identities.push_back({std::move(key), obj.display(), o.prefix, o.source});
    ++fr->objects;
  }
  fr->part = builder.take();
  for (auto& [k, n] : ignored)
    fr->part.ignored_kinds[k] += n;
  if (fr->uses_variables) {
    fr->vars = settings.vars;
    fr->vars_sources = settings.hint;
  }
  return fr;
}

// Finds the settings objects in the tree and reads the variables from them.
ManifestLoader::Settings ManifestLoader::read_settings(const std::vector<const ParsedFile*>& files,
                                                       std::vector<DecodeError>& errors) const {
  Settings s;
  const auto& refs = options_.substitute_from;
  std::vector<const RawObject*> found(refs.size(), nullptr);
  for (const auto* f : files) {
    for (const auto& o : f->objects) {
      std::string ns = o.ns.empty() ? "default" : o.ns;
      for (size_t r = 0; r < refs.size(); ++r) {
        if (refs[r].kind != o.kind || refs[r].name != o.name || refs[r].ns != ns) continue;
        s.objects.insert(&o);
        if (found[r]) {
          errors.push_back({o.source, refs[r].str(), "metadata.name",
                            "defined twice (also in " + found[r]->source.str() +
                                "): the variables for substitution would be ambiguous"});
          continue;
        }
        found[r] = &o;
      }
    }
  }
  std::string sources;
  for (size_t r = 0; r < refs.size(); ++r) {
    const RawObject* o = found[r];
    if (!o) {
      if (!refs[r].optional) {
        errors.push_back(
            {{}, refs[r].str(), "", "required for variable substitution, not in the tree"});
      }
      continue;
    }
    sources += (sources.empty() ? "" : ", ") + refs[r].str();
    try {
      auto obj = k8s::read_object(o->node, o->source);
      auto err = k8s::guard(obj, [&] {
        auto data = refs[r].kind == "Secret" ? k8s::decode_secret(obj).data
                                             : k8s::decode_config_map(obj).data;
        for (auto& [k, v] : data) {
          if (!valid_variable_name(k)) {
            throw k8s::FieldError("data." + k,
                                  "\"" + k +
                                      "\" is not a valid variable name (Flux "
                                      "requires ^[_[:alpha:]][_[:alpha:][:digit:]]*$)");
          }
          // Later sources override earlier ones, as in Flux's substituteFrom list.
          s.vars[k] = variable_value(v);
        }
      });
      if (err) errors.push_back(std::move(*err));
    } catch (const k8s::FieldError& e) {
      errors.push_back({o->source, display_of(o->node), e.path, e.what()});
    }
  }
  if (!sources.empty()) {
    s.hint = " (variables come from " + sources + ")";
  } else {
    std::string all;
    for (auto& r : refs)
      all += (all.empty() ? "" : ", ") + r.str();
    s.hint = all.empty() ? " (no variable sources are configured)"
                         : " (no " + all + " in the tree defines variables)";
  }
  return s;
}

namespace {

template <typename T>
void append(std::vector<T>& to, const std::vector<T>& from) {
  to.insert(to.end(), from.begin(), from.end());
}

using k8s::merge_into;

}  // namespace

ManifestLoader::ManifestLoader(ManifestOptions options) : options_(std::move(options)) {}

size_t ManifestLoader::threads() const {
  if (options_.threads > 0) return options_.threads;
  return std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 4);
}
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
  // A directory with a kustomization is read through it (kustomize.hpp), not by walking; so is
  // everything below it. listing.dirs has parents before their children.
  std::vector<std::string> kustomized;  // relative paths of the outermost kustomization dirs
  auto under = [](const std::string& rel, const std::string& dir) {
    return dir.empty() || rel == dir || rel.rfind(dir + "/", 0) == 0;
  };
  for (const auto& dir : listing.dirs) {
    std::string rel = dir.lexically_relative(root).generic_string();
    if (rel == ".") rel.clear();
    bool inside = std::any_of(kustomized.begin(), kustomized.end(),
                              [&](const std::string& k) { return under(rel, k); });
    if (!inside && !kustomization_file_name(dir).empty()) kustomized.push_back(rel);
  }
  std::vector<ManifestFile> files;
  for (auto& f : listing.files) {
    bool inside = std::any_of(kustomized.begin(), kustomized.end(),
                              [&](const std::string& k) { return under(f.relative, k); });
    if (inside) continue;
    if (f.read_error.empty()) read_file(f);
    files.push_back(std::move(f));
  }
  std::vector<DecodeError> build_errors;
  std::map<std::string, KustomizeCacheEntry> next_kustomize;
  std::string shown_root = root.string();
  for (const auto& rel : kustomized) {
    std::string shown = rel.empty()                ? shown_root
                        : shown_root.empty()       ? rel
                        : shown_root.back() == '/' ? shown_root + rel
                                                   : shown_root + "/" + rel;
    std::string cache_key = (root / rel).string();
    if (auto hit = kustomize_cache_.find(cache_key); hit != kustomize_cache_.end()) {
      bool same = std::all_of(hit->second.read.begin(), hit->second.read.end(), [](auto& r) {
        ManifestFile f{r.first, "", "", ""};
        read_file(f);
        return kustomize_input_digest(f) == r.second;
      });
      if (same) {
        for (const auto& f : hit->second.files)
          files.push_back(f);
        next_kustomize[cache_key] = std::move(hit->second);
        continue;
      }
    }
    auto built = kustomize_build(root / rel, shown, root);
    append(build_errors, built.errors);
    // The output grouped by the file each object came from, at its document index (a List
    // document's items become a List again); a file used twice (a base under two overlays)
    // appears again as "FILE (#2)".
    // A file's fingerprint (its content for the cache; its objects' digests come from it): the
    // build's configuration and the resource file's own content, so that an edit of one
    // resource file changes only its objects' digests.
    std::string fingerprint = std::to_string(std::hash<std::string>{}(built.config_inputs)) + ":" +
                              std::to_string(built.config_inputs.size());
    std::map<std::string, std::vector<YAML::Node>> docs;
    std::vector<std::string> order;
    std::map<std::string, std::set<std::pair<int, int>>> taken;
    for (auto& o : built.objects) {
      int d = o.document >= 0 ? o.document : o.item;
      int item = o.document >= 0 ? o.item : -1;
      std::string key = o.file;
      for (int n = 2; taken[key].count({d, item}); ++n)
        key = o.file + " (#" + std::to_string(n) + ")";
      taken[key].insert({d, item});
      auto [it, fresh] = docs.try_emplace(key);
      if (fresh) order.push_back(key);
      auto& v = it->second;
      while (v.size() <= size_t(d))
        v.emplace_back(YAML::NodeType::Null);
      if (item < 0) {
        v[size_t(d)] = o.node;
        continue;
      }
      if (!v[size_t(d)].IsMap()) {
        YAML::Node list(YAML::NodeType::Map);
        list["apiVersion"] = "v1";
        list["kind"] = "List";
        list["items"] = YAML::Node(YAML::NodeType::Sequence);
        v[size_t(d)] = list;
      }
      v[size_t(d)]["items"].push_back(o.node);
    }
    for (const auto& key : order) {
      std::string file = key.substr(0, key.find(" (#"));
      auto rd = built.resource_digests.find(file);
      std::string own = rd == built.resource_digests.end() ? "-" : std::to_string(rd->second);
      ManifestFile f{key, key, "", "kustomize:" + fingerprint + ":" + own + ":" + key};
      f.documents = std::make_shared<const std::vector<YAML::Node>>(std::move(docs[key]));
      files.push_back(f);
      if (built.errors.empty()) next_kustomize[cache_key].files.push_back(std::move(f));
    }
    if (built.errors.empty()) next_kustomize[cache_key].read = std::move(built.read);
  }
  kustomize_cache_ = std::move(next_kustomize);
  auto out = load_files_with(std::move(files), std::move(build_errors));
  out.stats.kustomizations = kustomized.size();
  out.warnings = std::move(listing.warnings);
  out.stats.duration = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - started);
  return out;
}

TreeLoad ManifestLoader::load_files(std::vector<ManifestFile> files) {
  return load_files_with(std::move(files), {});
}

TreeLoad ManifestLoader::load_files_with(std::vector<ManifestFile> files,
                                         std::vector<DecodeError> build_errors) {
  auto started = std::chrono::steady_clock::now();
  auto finish = [&](TreeLoad out) {
    out.stats.duration = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - started);
    return out;
  };
  LoadStats stats;
  std::vector<DecodeError> errors = std::move(build_errors);
  std::map<std::string, CacheEntry> next;
  std::vector<std::pair<std::string, CacheEntry*>> order;  // the tree's files, in order
  // A file that could not be read is not in the cache: a load after one is never "unchanged",
  // or removing the file (a FIFO, a dangling symlink) would leave its error in place.
  // A kustomize build that failed counts as a read error: it is never "unchanged".
  bool read_errors = !errors.empty();
  bool unchanged = loaded_once_ && !last_had_read_errors_ && !read_errors;
  std::vector<std::pair<ManifestFile*, CacheEntry*>> to_parse;
  for (auto& f : files) {
    if (!f.documents && is_kustomize_config(f.relative)) continue;
    ++stats.files;
    if (!f.read_error.empty()) {
      errors.push_back({SourceRef{f.path, -1}, "", "", f.read_error});
      unchanged = false;
      read_errors = true;
      continue;
    }
    auto hit = cache_.find(f.path);
    CacheEntry entry;
    bool fresh = !(hit != cache_.end() && hit->second.parsed->content == f.content);
    if (!fresh) entry = hit->second;
    auto [it, inserted] = next.emplace(f.path, std::move(entry));
    if (!inserted) continue;
    order.emplace_back(f.path, &it->second);
    if (fresh) {
      unchanged = false;
      to_parse.push_back({&f, &it->second});
    }
  }
  stats.files_parsed = to_parse.size();
  parallel_for(to_parse.size(), threads(), kMinFilesPerThread, [&](size_t i) {
    const ManifestFile& f = *to_parse[i].first;
    to_parse[i].second->parsed = parse(f.path, std::move(to_parse[i].first->content),
                                       f.documents ? f.documents.get() : nullptr);
  });
  if (next.size() != cache_.size()) unchanged = false;
  last_had_read_errors_ = read_errors;
  if (unchanged && errors.empty()) {
    // Same bytes as the previous load: same result. Nothing is parsed or decoded.
    TreeLoad out = last_;
    out.unchanged = true;
    out.stats.files_parsed = 0;
    out.stats.files_decoded = 0;
    return finish(std::move(out));
  }

  std::vector<const ParsedFile*> parsed;
  for (auto& [path, e] : order)
    parsed.push_back(e->parsed.get());
  auto settings = read_settings(parsed, errors);

  std::vector<CacheEntry*> to_build;
  for (auto& [path, e] : order) {
    const auto& fr = e->fragment;
    bool stale = !fr || (fr->uses_variables &&
                         (fr->vars != settings.vars || fr->vars_sources != settings.hint));
    if (stale) to_build.push_back(e);
  }
  stats.files_decoded = to_build.size();
  parallel_for(to_build.size(), threads(), kMinFilesPerThread,
               [&](size_t i) { to_build[i]->fragment = build(*to_build[i]->parsed, settings); });
  for (auto& [path, e] : order) {
    stats.documents += e->parsed->documents;
    stats.objects += e->fragment->objects;
    stats.ignored += e->fragment->ignored;
    stats.substituted += e->fragment->substituted;
    append(errors, e->parsed->errors);
    append(errors, e->fragment->errors);
  }

  TreeLoad out;
  if (errors.empty()) {
    auto snap = std::make_shared<k8s::Snapshot>();
    std::map<std::string, const Fragment::Identity*> first;
    for (auto& [path, e] : order) {
      for (const auto& id : e->fragment->identities) {
        auto [it, fresh] = first.emplace(id.key, &id);
        if (!fresh) {
          errors.push_back({id.source, id.display, prefixed(id.prefix, "metadata.name"),
                            "duplicate object: " + id.display +
                                " is defined more than once (first in " + it->second->source.str() +
                                ")"});
        }
      }
      merge_into(*snap, e->fragment->part);
    }
    snap->settings = settings.vars;
    if (errors.empty()) out.snapshot = std::move(snap);
  }
  sort_errors(errors);
  out.errors = std::move(errors);
  out.stats = stats;
  cache_ = std::move(next);
  loaded_once_ = true;
  last_ = out;
  return finish(std::move(out));
}

TreeLoad load_manifest_tree(const std::filesystem::path& root, const ManifestOptions& options) {
  ManifestLoader loader(options);
  return loader.load(root);
}

}  // namespace netagent::source
