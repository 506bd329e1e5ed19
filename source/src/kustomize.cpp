#include "netagent/source/kustomize.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "netagent/source/manifest_tree.hpp"
#include "netagent/source/yaml_documents.hpp"

namespace netagent::source {
namespace fs = std::filesystem;
using k8s::DecodeError;
using k8s::SourceRef;

namespace {

size_t kustomization_files(const fs::path& dir) {
  size_t n = 0;
  for (const char* name : {"kustomization.yaml", "kustomization.yml", "Kustomization"}) {
    std::error_code ec;
    if (fs::is_regular_file(dir / name, ec)) ++n;
  }
  return n;
}

bool is_map(const YAML::Node& n) {
  return n.IsDefined() && n.IsMap();
}
bool is_seq(const YAML::Node& n) {
  return n.IsDefined() && n.IsSequence();
}
YAML::Node get(const YAML::Node& n, const std::string& key) {
  const YAML::Node& c = n;
  return is_map(c) ? c[key] : YAML::Node(YAML::NodeType::Undefined);
}
std::string str_of(const YAML::Node& n, const std::string& key) {
  YAML::Node v = get(n, key);
  return v.IsDefined() && v.IsScalar() ? v.Scalar() : "";
}
// A string scalar that reads back as a string (quoted), whatever its text.
YAML::Node qstr(const std::string& s) {
  YAML::Node n(s);
  n.SetTag("!");
  return n;
}
// Gets or creates the map at key of a map node.
YAML::Node map_at(YAML::Node n, const std::string& key) {
  YAML::Node c = n[key];
  if (!c.IsMap()) {
    YAML::Node m(YAML::NodeType::Map);
    n[key] = m;
    return n[key];
  }
  return c;
}

std::string group_of(const YAML::Node& obj) {
  std::string v = str_of(obj, "apiVersion");
  auto slash = v.find('/');
  return slash == std::string::npos ? "" : v.substr(0, slash);
}
std::string version_of(const YAML::Node& obj) {
  std::string v = str_of(obj, "apiVersion");
  auto slash = v.find('/');
  return slash == std::string::npos ? v : v.substr(slash + 1);
}
std::string kind_of(const YAML::Node& obj) {
  return str_of(obj, "kind");
}
std::string name_of(const YAML::Node& obj) {
  return str_of(get(obj, "metadata"), "name");
}
std::string ns_of(const YAML::Node& obj) {
  return str_of(get(obj, "metadata"), "namespace");
}

// Kinds without a namespace. kustomize knows the built-in ones from its OpenAPI data and takes
// every custom kind for namespaced; the Cilium cluster-wide kinds are listed here too, so that a
// `namespace:` never puts them in a namespace (docs/manifests.md says so).
bool cluster_scoped(const std::string& kind) {
  static const std::set<std::string> kinds{
      "Namespace",
      "Node",
      "PersistentVolume",
      "ClusterRole",
      "ClusterRoleBinding",
      "CustomResourceDefinition",
      "StorageClass",
      "PriorityClass",
      "APIService",
      "MutatingWebhookConfiguration",
      "ValidatingWebhookConfiguration",
      "ValidatingAdmissionPolicy",
      "ValidatingAdmissionPolicyBinding",
      "CSIDriver",
      "CSINode",
      "IngressClass",
      "RuntimeClass",
      "VolumeAttachment",
      "ComponentStatus",
      "CertificateSigningRequest",
      "FlowSchema",
      "PriorityLevelConfiguration",
      "CiliumClusterwideNetworkPolicy",
      "CiliumLoadBalancerIPPool",
      "CiliumBGPPeeringPolicy",
      "CiliumBGPClusterConfig",
      "CiliumBGPPeerConfig",
      "CiliumBGPAdvertisement",
      "CiliumBGPNodeConfig",
      "CiliumBGPNodeConfigOverride",
      "CiliumNode",
      "CiliumIdentity",
      "CiliumExternalWorkload",
      "CiliumClusterwideEnvoyConfig",
      "CiliumNodeConfig",
      "CiliumCIDRGroup",
      "CiliumL2AnnouncementPolicy",
      "CiliumPodIPPool",
  };
  return kinds.count(kind) > 0;
}

// A field path of kustomize's transformer configuration ("spec/template/metadata/labels") for
// the kinds it applies to (empty: every kind); create says whether missing maps are made.
struct FieldSpec {
  std::set<std::string> kinds;
  const char* path;
  bool create;
};

const std::set<std::string> kWorkloads{"Deployment", "ReplicaSet", "DaemonSet", "StatefulSet"};

// kustomize's commonLabels configuration (labels also in selectors and pod templates), for the
// kinds it names; affinity terms are left out (docs/manifests.md).
const std::vector<FieldSpec>& selector_label_specs() {
  static const std::vector<FieldSpec> specs{
      {{"Service"}, "spec/selector", true},
      {{"ReplicationController"}, "spec/selector", true},
      {{"Deployment", "ReplicaSet", "DaemonSet", "StatefulSet"}, "spec/selector/matchLabels", true},
      {{"Job"}, "spec/selector/matchLabels", false},
      {{"CronJob"}, "spec/jobTemplate/spec/selector/matchLabels", false},
      {{"PodDisruptionBudget"}, "spec/selector/matchLabels", false},
      {{"NetworkPolicy"}, "spec/podSelector/matchLabels", false},
      {{"NetworkPolicy"}, "spec/ingress/from/podSelector/matchLabels", false},
      {{"NetworkPolicy"}, "spec/egress/to/podSelector/matchLabels", false},
  };
  return specs;
}
const std::vector<FieldSpec>& template_label_specs() {
  static const std::vector<FieldSpec> specs{
      {{"ReplicationController", "Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job"},
       "spec/template/metadata/labels",
       true},
      {{"StatefulSet"}, "spec/volumeClaimTemplates/metadata/labels", true},
      {{"CronJob"}, "spec/jobTemplate/metadata/labels", true},
      {{"CronJob"}, "spec/jobTemplate/spec/template/metadata/labels", true},
  };
  return specs;
}
const std::vector<FieldSpec>& template_annotation_specs() {
  static const std::vector<FieldSpec> specs{
      {{"ReplicationController", "Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job"},
       "spec/template/metadata/annotations",
       true},
      {{"CronJob"}, "spec/jobTemplate/metadata/annotations", true},
      {{"CronJob"}, "spec/jobTemplate/spec/template/metadata/annotations", true},
  };
  return specs;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    auto p = s.find(sep, start);
    out.push_back(s.substr(start, p - start));
    if (p == std::string::npos) return out;
    start = p + 1;
  }
}

// Merges pairs into the map at path (sequences on the way apply to each of their items).
void merge_at(YAML::Node n, const std::vector<std::string>& path, size_t i, bool create,
              const std::map<std::string, std::string>& pairs) {
  if (n.IsSequence()) {
    for (auto item : n)
      merge_at(item, path, i, create, pairs);
    return;
  }
  if (!n.IsMap()) return;
  const std::string& key = path[i];
  YAML::Node existing = get(n, key);  // invalid when missing: never assigned to or reset
  bool have = existing.IsDefined() && !existing.IsNull();
  if (!have) {
    if (!create) return;
    n[key] = YAML::Node(YAML::NodeType::Map);
  }
  YAML::Node c = have ? existing : YAML::Node(n[key]);
  if (i + 1 < path.size()) {
    merge_at(c, path, i + 1, create, pairs);
    return;
  }
  if (!c.IsMap()) return;
  for (const auto& [k, v] : pairs)
    c[k] = qstr(v);
}

void apply_specs(YAML::Node obj, const std::vector<FieldSpec>& specs,
                 const std::map<std::string, std::string>& pairs) {
  std::string kind = kind_of(obj);
  for (const auto& s : specs) {
    if (!s.kinds.empty() && !s.kinds.count(kind)) continue;
    merge_at(obj, split(s.path, '/'), 0, s.create, pairs);
  }
}

// Go's encoding/json escapes these in strings; kustomize hashes Go's encoding.
std::string go_json(const nlohmann::json& j) {
  std::string s = j.dump(), out;
  for (char c : s) {
    if (c == '<') {
      out += "\\u003c";
    } else if (c == '>') {
      out += "\\u003e";
    } else if (c == '&') {
      out += "\\u0026";
    } else {
      out += c;
    }
  }
  return out;
}

// kustomize's name hash: sha256 of the encoding, its first 10 hex digits with 0,1,3,a,e replaced
// (so that the suffix has no vowels and no digits that read as letters).
std::string name_hash(const std::string& encoded) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_Digest(encoded.data(), encoded.size(), md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string h;
  for (unsigned i = 0; i < 5; ++i) {
    h += hex[md[i] >> 4];
    h += hex[md[i] & 15];
  }
  for (auto& c : h) {
    switch (c) {
      case '0':
        c = 'g';
        break;
      case '1':
        c = 'h';
        break;
      case '3':
        c = 'k';
        break;
      case 'a':
        c = 'm';
        break;
      case 'e':
        c = 't';
        break;
      default:
        break;
    }
  }
  return h;
}

std::string base64(const std::string& s) {
  std::string out(4 * ((s.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(s.data()), int(s.size()));
  out.resize(size_t(n));
  return out;
}

nlohmann::json string_map(const YAML::Node& m) {
  nlohmann::json j = nlohmann::json::object();
  if (is_map(m)) {
    for (auto it = m.begin(); it != m.end(); ++it) {
      if (it->second.IsScalar()) j[it->first.Scalar()] = it->second.Scalar();
    }
  }
  return j;
}

// A JSON pointer's tokens ("/a/b~1c" -> a, b/c).
std::vector<std::string> pointer_tokens(const std::string& p) {
  std::vector<std::string> out;
  if (p.empty()) return out;
  for (auto t : split(p.substr(1), '/')) {
    std::string r;
    for (size_t i = 0; i < t.size(); ++i) {
      if (t[i] == '~' && i + 1 < t.size() && (t[i + 1] == '0' || t[i + 1] == '1')) {
        r += t[i + 1] == '0' ? '~' : '/';
        ++i;
      } else {
        r += t[i];
      }
    }
    out.push_back(r);
  }
  return out;
}

struct PatchError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

size_t seq_index(const YAML::Node& seq, const std::string& tok, bool allow_end) {
  if (allow_end && tok == "-") return seq.size();
  if (tok.empty() || tok.find_first_not_of("0123456789") != std::string::npos ||
      (tok.size() > 1 && tok[0] == '0')) {
    throw PatchError("\"" + tok + "\" is not a list index");
  }
  size_t i = std::stoul(tok);
  if (i > seq.size() || (!allow_end && i == seq.size())) {
    throw PatchError("index " + tok + " is out of range");
  }
  return i;
}

// Replaces the items of seq in place (yaml-cpp has no insert or erase by index).
void set_items(YAML::Node seq, const std::vector<YAML::Node>& items) {
  YAML::Node fresh(YAML::NodeType::Sequence);
  for (const auto& i : items)
    fresh.push_back(i);
  seq = fresh;
}

YAML::Node resolve(YAML::Node root, const std::vector<std::string>& toks, size_t count) {
  YAML::Node cur = root;
  for (size_t i = 0; i < count; ++i) {
    if (cur.IsMap()) {
      YAML::Node c = get(cur, toks[i]);
      if (!c.IsDefined()) throw PatchError("path element \"" + toks[i] + "\" does not exist");
      cur.reset(c);  // rebinds: assigning would overwrite the node cur refers to
    } else if (cur.IsSequence()) {
      YAML::Node c = cur[seq_index(cur, toks[i], false)];
      cur.reset(c);
    } else {
      throw PatchError("path element \"" + toks[i] + "\" is inside a scalar");
    }
  }
  return cur;
}

YAML::Node json_get(YAML::Node root, const std::string& path) {
  auto toks = pointer_tokens(path);
  return YAML::Clone(resolve(root, toks, toks.size()));
}

void json_remove(YAML::Node root, const std::string& path) {
  auto toks = pointer_tokens(path);
  if (toks.empty()) throw PatchError("cannot remove the whole object");
  YAML::Node parent = resolve(root, toks, toks.size() - 1);
  if (parent.IsMap()) {
    if (!get(parent, toks.back()).IsDefined()) {
      throw PatchError("path element \"" + toks.back() + "\" does not exist");
    }
    parent.remove(toks.back());
  } else if (parent.IsSequence()) {
    size_t i = seq_index(parent, toks.back(), false);
    std::vector<YAML::Node> items;
    for (size_t k = 0; k < parent.size(); ++k)
      if (k != i) items.push_back(parent[k]);
    set_items(parent, items);
  } else {
    throw PatchError("the parent of " + path + " is a scalar");
  }
}

void json_add(YAML::Node root, const std::string& path, const YAML::Node& value, bool replace) {
  auto toks = pointer_tokens(path);
  if (toks.empty()) throw PatchError("cannot replace the whole object");
  YAML::Node parent = resolve(root, toks, toks.size() - 1);
  if (parent.IsMap()) {
    if (replace && !get(parent, toks.back()).IsDefined()) {
      throw PatchError("path element \"" + toks.back() + "\" does not exist");
    }
    parent[toks.back()] = value;
  } else if (parent.IsSequence()) {
    size_t i = seq_index(parent, toks.back(), !replace);
    std::vector<YAML::Node> items;
    for (size_t k = 0; k < parent.size(); ++k) {
      if (k == i) items.push_back(value);
      if (!(replace && k == i)) items.push_back(parent[k]);
    }
    if (i == parent.size()) items.push_back(value);
    set_items(parent, items);
  } else {
    throw PatchError("the parent of " + path + " is a scalar");
  }
}

std::string canonical(const YAML::Node& n) {
  YAML::Emitter e;
  e << n;
  return e.c_str();
}

void json6902(YAML::Node obj, const YAML::Node& ops) {
  for (size_t i = 0; i < ops.size(); ++i) {
    YAML::Node op = ops[i];
    std::string what = str_of(op, "op"), path = str_of(op, "path"), from = str_of(op, "from");
    std::string at = "operation " + std::to_string(i) + " (" + what + " " + path + "): ";
    try {
      if (!is_map(op)) throw PatchError("an operation must be a map");
      if (!get(op, "path").IsDefined()) throw PatchError("path is required");
      if (what == "add" || what == "replace") {
        if (!get(op, "value").IsDefined()) throw PatchError("value is required");
        json_add(obj, path, YAML::Clone(get(op, "value")), what == "replace");
      } else if (what == "remove") {
        json_remove(obj, path);
      } else if (what == "move" || what == "copy") {
        YAML::Node v = json_get(obj, from);
        if (what == "move") json_remove(obj, from);
        json_add(obj, path, v, false);
      } else if (what == "test") {
        if (canonical(json_get(obj, path)) != canonical(get(op, "value"))) {
          throw PatchError("test failed");
        }
      } else {
        throw PatchError("unknown op \"" + what + "\"");
      }
    } catch (const PatchError& e) {
      throw PatchError(at + e.what());
    }
  }
}

// Merge keys of the lists kustomize merges by key in a strategic merge patch (from the
// Kubernetes types); every other list is replaced.
std::string merge_key(const std::string& field, const YAML::Node& patch_items) {
  static const std::map<std::string, std::string> keys{
      {"containers", "name"},
      {"initContainers", "name"},
      {"ephemeralContainers", "name"},
      {"env", "name"},
      {"volumes", "name"},
      {"volumeMounts", "mountPath"},
      {"imagePullSecrets", "name"},
      {"hostAliases", "ip"},
      {"volumeDevices", "devicePath"},
  };
  auto it = keys.find(field);
  if (it != keys.end()) return it->second;
  if (field == "ports" && patch_items.size() > 0) {
    // Container ports merge by containerPort, Service ports by port.
    if (get(patch_items[0], "containerPort").IsDefined()) return "containerPort";
    if (get(patch_items[0], "port").IsDefined()) return "port";
  }
  return "";
}

bool is_directive(const YAML::Node& m, const char* value) {
  return str_of(m, "$patch") == value;
}

YAML::Node without_directives(const YAML::Node& n) {
  YAML::Node c = YAML::Clone(n);
  if (c.IsMap()) c.remove("$patch");
  return c;
}

void strategic_merge(YAML::Node dst, const YAML::Node& patch) {
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    std::string key = it->first.Scalar();
    YAML::Node pv = it->second;
    if (key == "$patch") continue;
    if (key.rfind("$setElementOrder/", 0) == 0 || key.rfind("$retainKeys", 0) == 0 ||
        key.rfind("$deleteFromPrimitiveList/", 0) == 0) {
      throw PatchError("directive " + key + " is not supported");
    }
    YAML::Node dv = get(dst, key);
    if (pv.IsNull()) {
      if (dv.IsDefined()) dst.remove(key);
      continue;
    }
    if (pv.IsMap() && is_directive(pv, "delete")) {
      if (dv.IsDefined()) dst.remove(key);
      continue;
    }
    if (pv.IsMap() && is_directive(pv, "replace")) {
      dst[key] = without_directives(pv);
      continue;
    }
    if (pv.IsMap() && dv.IsDefined() && dv.IsMap()) {
      strategic_merge(dv, pv);
      continue;
    }
    std::string mk = pv.IsSequence() ? merge_key(key, pv) : "";
    if (pv.IsSequence() && !mk.empty() && dv.IsDefined() && dv.IsSequence()) {
      // The patch's items first (merged into the item of the same key), then the items it
      // does not name, in their order: kubectl kustomize's order.
      std::vector<YAML::Node> rest, items;
      for (const auto& d : dv)
        rest.push_back(d);
      for (const auto& p : pv) {
        std::string k = str_of(p, mk);
        auto found = std::find_if(rest.begin(), rest.end(),
                                  [&](const YAML::Node& d) { return str_of(d, mk) == k; });
        if (is_directive(p, "delete")) {
          if (found != rest.end()) rest.erase(found);
        } else if (found != rest.end()) {
          strategic_merge(*found, p);
          items.push_back(*found);
          rest.erase(found);
        } else {
          items.push_back(without_directives(p));
        }
      }
      items.insert(items.end(), rest.begin(), rest.end());
      set_items(dv, items);
      continue;
    }
    dst[key] = YAML::Clone(pv);
  }
}

struct Target {
  std::string group, version, kind, name, ns;
  std::map<std::string, std::string> labels, annotations;  // equality only
  bool any_group = true, any_version = true;
};

bool full_match(const std::string& pattern, const std::string& value) {
  if (pattern.empty()) return true;
  return std::regex_match(value, std::regex(pattern));
}

bool matches(const Target& t, const YAML::Node& obj) {
  if (!t.any_group && t.group != group_of(obj)) return false;
  if (!t.any_version && t.version != version_of(obj)) return false;
  if (!t.kind.empty() && t.kind != kind_of(obj)) return false;
  if (!full_match(t.name, name_of(obj))) return false;
  if (!full_match(t.ns, ns_of(obj))) return false;
  for (const auto& [k, v] : t.labels)
    if (str_of(get(get(obj, "metadata"), "labels"), k) != v) return false;
  for (const auto& [k, v] : t.annotations)
    if (str_of(get(get(obj, "metadata"), "annotations"), k) != v) return false;
  return true;
}

std::map<std::string, std::string> parse_selector(const std::string& sel, const std::string& what) {
  std::map<std::string, std::string> out;
  for (auto part : split(sel, ',')) {
    part.erase(0, part.find_first_not_of(' '));
    part.erase(part.find_last_not_of(' ') + 1);
    if (part.empty()) continue;
    auto eq = part.find('=');
    if (eq == std::string::npos || part.find("!=") != std::string::npos ||
        part.find(' ') != std::string::npos) {
      throw PatchError(what + " \"" + sel +
                       "\": only equality requirements (key=value) are supported");
    }
    std::string k = part.substr(0, eq);
    std::string v = part.substr(part[eq + 1] == '=' ? eq + 2 : eq + 1);
    out[k] = v;
  }
  return out;
}

struct Loaded {
  std::string shown;  // the kustomization file, as shown
  YAML::Node doc;
};

class Builder {
 public:
  Builder(fs::path tree_root, KustomizeResult& out) : root_(std::move(tree_root)), out_(out) {}

  // Builds dir into res (empty for a Kustomization; the accumulated resources for a Component).
  void build(const fs::path& dir, const std::string& shown, bool component,
             std::vector<KustomizedObject>& res, const std::string& referrer,
             const std::string& field) {
    std::error_code ec;
    fs::path canon = fs::weakly_canonical(dir, ec);
    if (std::find(stack_.begin(), stack_.end(), canon) != stack_.end()) {
      err(referrer, field, "reference cycle: " + shown + " is already being built");
      return;
    }
    std::string name = kustomization_file_name(dir);
    if (name.empty()) {
      err(referrer, field,
          shown +
              " is a directory without a kustomization.yaml, kustomization.yml or "
              "Kustomization");
      return;
    }
    std::string kfile = join(shown, name);
    if (kustomization_files(dir) > 1) {
      err(kfile, "",
          "more than one of kustomization.yaml, kustomization.yml, Kustomization in " + shown +
              ": which one is meant is ambiguous (kustomize refuses it too)");
      return;
    }
    ManifestFile f{(dir / name).string(), name, "", ""};
    read_file(f);
    note_input(kfile, f);
    if (!f.read_error.empty()) {
      err(kfile, "", f.read_error);
      return;
    }
    auto parsed = parse_yaml_documents(f.content);
    if (parsed.error) {
      err(kfile, "", "YAML syntax error at " + parsed.error->str());
      return;
    }
    size_t docs = 0;
    YAML::Node k;
    for (auto& d : parsed.documents) {
      if (d.IsNull()) continue;
      ++docs;
      k.reset(d);
    }
    if (docs != 1 || !k.IsMap()) {
      err(kfile, "", "a kustomization must be exactly one YAML map");
      return;
    }
    stack_.push_back(canon);
    build_from(dir, shown, kfile, k, component, res);
    stack_.pop_back();
  }

 private:
  static std::string join(const std::string& a, const std::string& b) {
    if (a.empty() || a == ".") return b;
    return a.back() == '/' ? a + b : a + "/" + b;
  }

  void err(const std::string& file, const std::string& field, const std::string& msg) {
    out_.errors.push_back(DecodeError{SourceRef{file, -1}, "", field, msg});
  }

  void note_input(const std::string& shown, const ManifestFile& f, bool resource = false) {
    const std::string& data = f.read_error.empty() ? f.content : f.read_error;
    out_.read.emplace_back(f.path, kustomize_input_digest(f));
    if (resource) {
      out_.resource_digests[shown] = std::hash<std::string>{}(data);
      return;
    }
    out_.config_inputs += shown;
    out_.config_inputs += '\0';
    out_.config_inputs += data;
    out_.config_inputs += '\0';
  }

  // Resolves a path of the kustomization; it must stay inside the tree.
  bool resolve_path(const fs::path& dir, const std::string& shown, const std::string& kfile,
                    const std::string& field, const std::string& entry, fs::path& path,
                    std::string& path_shown) {
    if (entry.find("://") != std::string::npos || entry.rfind("github.com/", 0) == 0 ||
        entry.find("?ref=") != std::string::npos) {
      err(kfile, field, "\"" + entry + "\": remote resources are not supported");
      return false;
    }
    if (!entry.empty() && entry[0] == '/') {
      err(kfile, field, "\"" + entry + "\": absolute paths are not supported");
      return false;
    }
    path = (dir / entry).lexically_normal();
    std::error_code ec;
    auto rel = fs::weakly_canonical(path, ec).lexically_relative(fs::weakly_canonical(root_, ec));
    if (rel.empty() || *rel.begin() == "..") {
      err(kfile, field, "\"" + entry + "\" is outside the manifest tree");
      return false;
    }
    path_shown = fs::path(join(shown, entry)).lexically_normal().string();
    if (!path_shown.empty() && path_shown.back() == '/') path_shown.pop_back();
    return true;
  }

  std::vector<std::string> strings(const std::string& kfile, const YAML::Node& k,
                                   const std::string& field) {
    std::vector<std::string> out;
    YAML::Node v = get(k, field);
    if (!v.IsDefined() || v.IsNull()) return out;
    if (!v.IsSequence()) {
      err(kfile, field, "expected a list of strings");
      return out;
    }
    for (size_t i = 0; i < v.size(); ++i) {
      if (!v[i].IsScalar()) {
        err(kfile, field + "[" + std::to_string(i) + "]", "expected a string");
        continue;
      }
      out.push_back(v[i].Scalar());
    }
    return out;
  }

  std::map<std::string, std::string> string_pairs(const std::string& kfile, const YAML::Node& m,
                                                  const std::string& field) {
    std::map<std::string, std::string> out;
    if (!m.IsDefined() || m.IsNull()) return out;
    if (!m.IsMap()) {
      err(kfile, field, "expected a map of strings");
      return out;
    }
    for (auto it = m.begin(); it != m.end(); ++it) {
      if (!it->second.IsScalar() && !it->second.IsNull()) {
        err(kfile, field + "." + it->first.Scalar(), "expected a string");
        continue;
      }
      out[it->first.Scalar()] = it->second.IsNull() ? "" : it->second.Scalar();
    }
    return out;
  }

  void check_fields(const std::string& kfile, const YAML::Node& m, const std::string& prefix,
                    const std::set<std::string>& allowed) {
    for (auto it = m.begin(); it != m.end(); ++it) {
      std::string key = it->first.Scalar();
      if (!allowed.count(key)) {
        err(kfile, prefix + key, "is not supported by netagent's kustomize (docs/manifests.md)");
      }
    }
  }

  void read_resource_file(const fs::path& path, const std::string& shown, const std::string& kfile,
                          const std::string& field, std::vector<KustomizedObject>& res) {
    ManifestFile f{path.string(), shown, "", ""};
    read_file(f);
    note_input(shown, f, true);
    if (!f.read_error.empty()) {
      err(kfile, field, shown + ": " + f.read_error);
      return;
    }
    auto parsed = parse_yaml_documents(f.content);
    if (parsed.error) {
      out_.errors.push_back(DecodeError{SourceRef{shown, parsed.error->document}, "", "",
                                        "YAML syntax error at " + parsed.error->str()});
      return;
    }
    for (size_t d = 0; d < parsed.documents.size(); ++d) {
      const YAML::Node& doc = parsed.documents[d];
      if (doc.IsNull()) continue;
      if (!doc.IsMap()) {
        out_.errors.push_back(DecodeError{SourceRef{shown, int(d)}, "", "",
                                          "a Kubernetes object must be a YAML map"});
        continue;
      }
      std::string kind = kind_of(doc);
      YAML::Node items = get(doc, "items");
      bool list =
          kind == "List" ||
          (kind.size() > 4 && kind.compare(kind.size() - 4, 4, "List") == 0 && items.IsDefined());
      if (list && is_seq(items)) {
        // kustomize reads a List as its items.
        std::string item_kind = kind == "List" ? "" : kind.substr(0, kind.size() - 4);
        for (size_t i = 0; i < items.size(); ++i) {
          YAML::Node item = items[i];
          if (!item.IsMap()) {
            out_.errors.push_back(DecodeError{SourceRef{shown, int(d)}, "List",
                                              "items[" + std::to_string(i) + "]",
                                              "a list item must be a map"});
            continue;
          }
          if (!item_kind.empty() && !get(item, "kind").IsDefined()) item["kind"] = item_kind;
          if (!item_kind.empty() && !get(item, "apiVersion").IsDefined()) {
            item["apiVersion"] = str_of(doc, "apiVersion");
          }
          res.push_back({item, shown, int(d), int(i)});
        }
        continue;
      }
      res.push_back({doc, shown, int(d), -1});
    }
  }

  void build_from(const fs::path& dir, const std::string& shown, const std::string& kfile,
                  const YAML::Node& k, bool component, std::vector<KustomizedObject>& res) {
    std::string kind = str_of(k, "kind");
    if (kind.empty()) kind = "Kustomization";
    if (component && kind != "Component") {
      err(kfile, "kind", "is " + kind + ": a component must be kind: Component");
      return;
    }
    if (!component && kind != "Kustomization") {
      err(kfile, "kind",
          "is " + kind +
              ": only kind: Kustomization can be built (a Component is listed in "
              "components)");
      return;
    }
    check_fields(kfile, k, "",
                 {"apiVersion", "kind", "metadata", "resources", "components", "namespace",
                  "commonLabels", "labels", "commonAnnotations", "namePrefix", "nameSuffix",
                  "configMapGenerator", "secretGenerator", "generatorOptions", "patches",
                  "patchesStrategicMerge", "patchesJson6902"});
    size_t errors_before = out_.errors.size();

    // Resources, in order.
    auto resources = strings(kfile, k, "resources");
    for (size_t i = 0; i < resources.size(); ++i) {
      std::string field = "resources[" + std::to_string(i) + "]";
      fs::path path;
      std::string pshown;
      if (!resolve_path(dir, shown, kfile, field, resources[i], path, pshown)) continue;
      std::error_code ec;
      auto st = fs::status(path, ec);
      if (ec || !fs::exists(st)) {
        err(kfile, field, "\"" + resources[i] + "\" does not exist");
      } else if (fs::is_directory(st)) {
        std::vector<KustomizedObject> sub;
        build(path, pshown, false, sub, kfile, field);
        for (auto& o : sub)
          res.push_back(std::move(o));
      } else {
        read_resource_file(path, pshown, kfile, field, res);
      }
    }
    // Components: built onto what is accumulated so far.
    auto components = strings(kfile, k, "components");
    for (size_t i = 0; i < components.size(); ++i) {
      std::string field = "components[" + std::to_string(i) + "]";
      fs::path path;
      std::string pshown;
      if (!resolve_path(dir, shown, kfile, field, components[i], path, pshown)) continue;
      std::error_code ec;
      if (!fs::is_directory(path, ec)) {
        err(kfile, field, "\"" + components[i] + "\" is not a directory");
        continue;
      }
      build(path, pshown, true, res, kfile, field);
    }
    if (out_.errors.size() != errors_before) return;

    generate(dir, shown, kfile, k, res);
    if (out_.errors.size() != errors_before) return;

    // Transformers, in kustomize's order (patches see the names and namespaces of the
    // resources before this kustomization's namespace and prefixes, as kubectl kustomize does).
    patch(dir, shown, kfile, k, res);
    std::string ns;
    YAML::Node nsn = get(k, "namespace");
    if (nsn.IsDefined() && !nsn.IsNull()) {
      if (!nsn.IsScalar()) {
        err(kfile, "namespace", "expected a string");
      } else {
        ns = nsn.Scalar();
      }
    }
    if (!ns.empty()) {
      for (auto& o : res) {
        if (cluster_scoped(kind_of(o.node))) continue;
        map_at(o.node, "metadata")["namespace"] = qstr(ns);
      }
    }
    auto common = string_pairs(kfile, get(k, "commonLabels"), "commonLabels");
    if (!common.empty()) {
      for (auto& o : res) {
        merge_at(o.node, {"metadata", "labels"}, 0, true, common);
        apply_specs(o.node, selector_label_specs(), common);
        apply_specs(o.node, template_label_specs(), common);
      }
    }
    YAML::Node labels = get(k, "labels");
    if (labels.IsDefined() && !labels.IsNull()) {
      if (!labels.IsSequence()) {
        err(kfile, "labels", "expected a list");
      } else {
        for (size_t i = 0; i < labels.size(); ++i) {
          std::string field = "labels[" + std::to_string(i) + "]";
          YAML::Node l = labels[i];
          if (!l.IsMap()) {
            err(kfile, field, "expected a map");
            continue;
          }
          check_fields(kfile, l, field + ".", {"pairs", "includeSelectors", "includeTemplates"});
          auto pairs = string_pairs(kfile, get(l, "pairs"), field + ".pairs");
          bool selectors = str_of(l, "includeSelectors") == "true";
          bool templates = str_of(l, "includeTemplates") == "true";
          for (auto& o : res) {
            merge_at(o.node, {"metadata", "labels"}, 0, true, pairs);
            if (selectors) apply_specs(o.node, selector_label_specs(), pairs);
            if (selectors || templates) apply_specs(o.node, template_label_specs(), pairs);
          }
        }
      }
    }
    auto annotations = string_pairs(kfile, get(k, "commonAnnotations"), "commonAnnotations");
    if (!annotations.empty()) {
      for (auto& o : res) {
        merge_at(o.node, {"metadata", "annotations"}, 0, true, annotations);
        apply_specs(o.node, template_annotation_specs(), annotations);
      }
    }
    std::string prefix = str_of(k, "namePrefix"), suffix = str_of(k, "nameSuffix");
    if (!prefix.empty() || !suffix.empty()) {
      for (auto& o : res) {
        std::string kd = kind_of(o.node);
        if (kd == "Namespace" || kd == "CustomResourceDefinition" || kd == "APIService") continue;
        std::string n = name_of(o.node);
        if (n.empty()) continue;
        map_at(o.node, "metadata")["name"] = qstr(prefix + n + suffix);
      }
    }
    // Generated objects get their hash suffix once, in the kustomization that made them.
    finish_generated();
  }

  // ConfigMaps and Secrets from configMapGenerator / secretGenerator.
  void generate(const fs::path& dir, const std::string& shown, const std::string& kfile,
                const YAML::Node& k, std::vector<KustomizedObject>& res) {
    YAML::Node opts = get(k, "generatorOptions");
    bool global_disable = false;
    std::map<std::string, std::string> global_labels, global_annotations;
    bool global_immutable = false;
    if (opts.IsDefined() && !opts.IsNull()) {
      if (!opts.IsMap()) {
        err(kfile, "generatorOptions", "expected a map");
        return;
      }
      check_fields(kfile, opts, "generatorOptions.",
                   {"disableNameSuffixHash", "labels", "annotations", "immutable"});
      global_disable = str_of(opts, "disableNameSuffixHash") == "true";
      global_immutable = str_of(opts, "immutable") == "true";
      global_labels = string_pairs(kfile, get(opts, "labels"), "generatorOptions.labels");
      global_annotations =
          string_pairs(kfile, get(opts, "annotations"), "generatorOptions.annotations");
    }
    int index = 0;
    for (const char* gen : {"configMapGenerator", "secretGenerator"}) {
      bool secret = std::string(gen) == "secretGenerator";
      YAML::Node list = get(k, gen);
      if (!list.IsDefined() || list.IsNull()) continue;
      if (!list.IsSequence()) {
        err(kfile, gen, "expected a list");
        continue;
      }
      for (size_t i = 0; i < list.size(); ++i) {
        std::string field = std::string(gen) + "[" + std::to_string(i) + "]";
        YAML::Node g = list[i];
        if (!g.IsMap()) {
          err(kfile, field, "expected a map");
          continue;
        }
        std::set<std::string> allowed{"name",  "namespace", "behavior", "literals",
                                      "files", "envs",      "options"};
        if (secret) allowed.insert("type");
        check_fields(kfile, g, field + ".", allowed);
        std::string behavior = str_of(g, "behavior");
        if (!behavior.empty() && behavior != "create") {
          err(kfile, field + ".behavior",
              "\"" + behavior +
                  "\" is not supported (only create: merging into a base's "
                  "generated object is not implemented)");
        }
        std::string name = str_of(g, "name");
        if (name.empty()) err(kfile, field + ".name", "is required");
        bool disable = global_disable, immutable = global_immutable;
        auto glabels = global_labels, gannotations = global_annotations;
        YAML::Node o = get(g, "options");
        if (o.IsDefined() && !o.IsNull()) {
          check_fields(kfile, o, field + ".options.",
                       {"disableNameSuffixHash", "labels", "annotations", "immutable"});
          if (get(o, "disableNameSuffixHash").IsDefined()) {
            disable = str_of(o, "disableNameSuffixHash") == "true";
          }
          if (str_of(o, "immutable") == "true") immutable = true;
          for (auto& [kk, v] : string_pairs(kfile, get(o, "labels"), field + ".options.labels"))
            glabels[kk] = v;
          for (auto& [kk, v] :
               string_pairs(kfile, get(o, "annotations"), field + ".options.annotations"))
            gannotations[kk] = v;
        }
        std::map<std::string, std::string> data;
        auto set = [&](const std::string& f, const std::string& key, const std::string& value) {
          if (data.count(key)) {
            err(kfile, f, "key \"" + key + "\" is defined twice");
            return;
          }
          data[key] = value;
        };
        auto literals = strings(kfile, g, "literals");
        for (size_t l = 0; l < literals.size(); ++l) {
          std::string f = field + ".literals[" + std::to_string(l) + "]";
          auto eq = literals[l].find('=');
          if (eq == std::string::npos || eq == 0) {
            err(kfile, f, "\"" + literals[l] + "\" is not KEY=VALUE");
            continue;
          }
          std::string v = literals[l].substr(eq + 1);
          if (v.size() >= 2 && (v[0] == '"' || v[0] == '\'') && v.back() == v[0]) {
            v = v.substr(1, v.size() - 2);
          }
          set(f, literals[l].substr(0, eq), v);
        }
        auto files = strings(kfile, g, "files");
        for (size_t l = 0; l < files.size(); ++l) {
          std::string f = field + ".files[" + std::to_string(l) + "]";
          std::string entry = files[l], key;
          auto eq = entry.find('=');
          if (eq != std::string::npos) {
            key = entry.substr(0, eq);
            entry = entry.substr(eq + 1);
          } else {
            key = fs::path(entry).filename().string();
          }
          fs::path path;
          std::string pshown;
          if (!resolve_path(dir, shown, kfile, f, entry, path, pshown)) continue;
          ManifestFile mf{path.string(), pshown, "", ""};
          read_file(mf);
          note_input(pshown, mf);
          if (!mf.read_error.empty()) {
            err(kfile, f, pshown + ": " + mf.read_error);
            continue;
          }
          set(f, key, mf.content);
        }
        auto envs = strings(kfile, g, "envs");
        for (size_t l = 0; l < envs.size(); ++l) {
          std::string f = field + ".envs[" + std::to_string(l) + "]";
          fs::path path;
          std::string pshown;
          if (!resolve_path(dir, shown, kfile, f, envs[l], path, pshown)) continue;
          ManifestFile mf{path.string(), pshown, "", ""};
          read_file(mf);
          note_input(pshown, mf);
          if (!mf.read_error.empty()) {
            err(kfile, f, pshown + ": " + mf.read_error);
            continue;
          }
          // KEY=VALUE lines; blank lines and # comments skipped, leading blanks trimmed.
          size_t line_no = 0;
          for (const auto& raw : split(mf.content, '\n')) {
            ++line_no;
            std::string line = raw;
            if (!line.empty() && line.back() == '\r') line.pop_back();
            line.erase(0, line.find_first_not_of(" \t"));
            if (line.empty() || line[0] == '#') continue;
            auto eq = line.find('=');
            if (eq == std::string::npos || eq == 0) {
              err(kfile, f,
                  pshown + " line " + std::to_string(line_no) +
                      ": not KEY=VALUE (a key without a value would be read from the "
                      "environment of kustomize, which the agent does not do)");
              continue;
            }
            set(f, line.substr(0, eq), line.substr(eq + 1));
          }
        }
        if (name.empty()) continue;
        YAML::Node obj(YAML::NodeType::Map);
        obj["apiVersion"] = "v1";
        obj["kind"] = secret ? "Secret" : "ConfigMap";
        YAML::Node md(YAML::NodeType::Map);
        md["name"] = qstr(name);
        std::string gns = str_of(g, "namespace");
        if (!gns.empty()) md["namespace"] = qstr(gns);
        if (!glabels.empty()) {
          YAML::Node l(YAML::NodeType::Map);
          for (auto& [kk, v] : glabels)
            l[kk] = qstr(v);
          md["labels"] = l;
        }
        if (!gannotations.empty()) {
          YAML::Node a(YAML::NodeType::Map);
          for (auto& [kk, v] : gannotations)
            a[kk] = qstr(v);
          md["annotations"] = a;
        }
        obj["metadata"] = md;
        if (!data.empty()) {
          YAML::Node d(YAML::NodeType::Map);
          for (auto& [kk, v] : data)
            d[kk] = qstr(secret ? base64(v) : v);
          obj["data"] = d;
        }
        if (secret) {
          std::string type = str_of(g, "type");
          obj["type"] = qstr(type.empty() ? "Opaque" : type);
        }
        if (immutable) obj["immutable"] = true;
        res.push_back({obj, kfile, -1, index++});
        if (!disable) hash_pending_.push_back(obj);
      }
    }
  }

  void finish_generated() {
    for (auto& obj : hash_pending_) {
      std::string kind = kind_of(obj);
      // kustomize hashes with an empty name (checked against kubectl kustomize).
      nlohmann::json j{{"kind", kind}, {"name", ""}, {"data", string_map(get(obj, "data"))}};
      if (kind == "Secret") j["type"] = str_of(obj, "type");
      std::string hash = name_hash(go_json(j));
      obj["metadata"]["name"] = qstr(name_of(obj) + "-" + hash);
    }
    hash_pending_.clear();
  }

  void patch(const fs::path& dir, const std::string& shown, const std::string& kfile,
             const YAML::Node& k, std::vector<KustomizedObject>& res) {
    struct Entry {
      std::string field;
      YAML::Node spec;  // a map with path or patch, and target
      bool plain_smp = false;
    };
    std::vector<Entry> entries;
    YAML::Node psm = get(k, "patchesStrategicMerge");
    if (is_seq(psm)) {
      for (size_t i = 0; i < psm.size(); ++i) {
        YAML::Node e(YAML::NodeType::Map);
        std::string v = psm[i].IsScalar() ? psm[i].Scalar() : "";
        // An entry is a file path, or an inline patch (it then has a newline or a colon).
        if (v.find('\n') != std::string::npos || v.find(": ") != std::string::npos) {
          e["patch"] = v;
        } else {
          e["path"] = v;
        }
        entries.push_back({"patchesStrategicMerge[" + std::to_string(i) + "]", e, true});
      }
    } else if (psm.IsDefined() && !psm.IsNull()) {
      err(kfile, "patchesStrategicMerge", "expected a list");
    }
    for (const char* field : {"patchesJson6902", "patches"}) {
      YAML::Node list = get(k, field);
      if (!list.IsDefined() || list.IsNull()) continue;
      if (!list.IsSequence()) {
        err(kfile, field, "expected a list");
        continue;
      }
      for (size_t i = 0; i < list.size(); ++i) {
        entries.push_back({std::string(field) + "[" + std::to_string(i) + "]", list[i], false});
      }
    }
    for (auto& e : entries) {
      if (!e.spec.IsMap()) {
        err(kfile, e.field, "expected a map");
        continue;
      }
      check_fields(kfile, e.spec, e.field + ".", {"path", "patch", "target", "options"});
      YAML::Node options = get(e.spec, "options");
      bool allow_name = false, allow_kind = false;
      if (is_map(options)) {
        check_fields(kfile, options, e.field + ".options.", {"allowNameChange", "allowKindChange"});
        allow_name = str_of(options, "allowNameChange") == "true";
        allow_kind = str_of(options, "allowKindChange") == "true";
      }
      std::string text, where = kfile;
      if (get(e.spec, "path").IsDefined()) {
        fs::path path;
        std::string pshown;
        if (!resolve_path(dir, shown, kfile, e.field + ".path", str_of(e.spec, "path"), path,
                          pshown)) {
          continue;
        }
        ManifestFile mf{path.string(), pshown, "", ""};
        read_file(mf);
        note_input(pshown, mf);
        if (!mf.read_error.empty()) {
          err(kfile, e.field + ".path", pshown + ": " + mf.read_error);
          continue;
        }
        text = mf.content;
        where = pshown;
      } else if (get(e.spec, "patch").IsDefined()) {
        text = str_of(e.spec, "patch");
      } else {
        err(kfile, e.field, "needs path or patch");
        continue;
      }
      auto parsed = parse_yaml_documents(text);
      if (parsed.error) {
        err(where, e.field, "YAML syntax error at " + parsed.error->str());
        continue;
      }
      std::vector<YAML::Node> docs;
      for (auto& d : parsed.documents)
        if (!d.IsNull()) docs.push_back(d);
      Target target;
      YAML::Node t = get(e.spec, "target");
      bool has_target = is_map(t);
      try {
        if (has_target) {
          check_fields(kfile, t, e.field + ".target.",
                       {"group", "version", "kind", "name", "namespace", "labelSelector",
                        "annotationSelector"});
          target.any_group = !get(t, "group").IsDefined();
          target.any_version = !get(t, "version").IsDefined();
          target.group = str_of(t, "group");
          target.version = str_of(t, "version");
          target.kind = str_of(t, "kind");
          target.name = str_of(t, "name");
          target.ns = str_of(t, "namespace");
          target.labels = parse_selector(str_of(t, "labelSelector"), "labelSelector");
          target.annotations =
              parse_selector(str_of(t, "annotationSelector"), "annotationSelector");
        }
        bool json = docs.size() == 1 && docs[0].IsSequence();
        if (json) {
          if (!has_target) throw PatchError("a JSON 6902 patch needs a target");
          size_t hits = 0;
          for (auto& o : res) {
            if (!matches(target, o.node)) continue;
            ++hits;
            json6902(o.node, docs[0]);
          }
          if (hits == 0) throw PatchError("no resource matches the target");
          continue;
        }
        for (auto& p : docs) {
          if (!p.IsMap()) throw PatchError("a strategic merge patch must be a map");
          Target self = target;
          if (!has_target) {
            // The patch names its target: kind, name, namespace (and apiVersion).
            self.kind = kind_of(p);
            self.name =
                std::regex_replace(name_of(p), std::regex(R"([.^$|?*+()\[\]{}\\])"), R"(\$&)");
            std::string pns = ns_of(p);
            if (!pns.empty())
              self.ns = std::regex_replace(pns, std::regex(R"([.^$|?*+()\[\]{}\\])"), R"(\$&)");
            self.any_group = self.any_version = false;
            self.group = group_of(p);
            self.version = version_of(p);
          }
          size_t hits = 0;
          for (auto it = res.begin(); it != res.end();) {
            if (!matches(self, it->node)) {
              ++it;
              continue;
            }
            ++hits;
            if (is_directive(p, "delete")) {
              it = res.erase(it);
              continue;
            }
            std::string kind = kind_of(it->node), name = name_of(it->node);
            YAML::Node body = YAML::Clone(p);
            if (has_target) {
              // Applied to each target: the patch's own identity is not meant to change it.
              if (!allow_name) map_at(body, "metadata").remove("name");
              if (!allow_kind) body.remove("kind");
            }
            strategic_merge(it->node, body);
            if (!allow_name) map_at(it->node, "metadata")["name"] = qstr(name);
            if (!allow_kind) it->node["kind"] = kind;
            ++it;
          }
          if (hits == 0)
            throw PatchError("no resource matches " + (has_target ? std::string("the target")
                                                                  : kind_of(p) + " " + name_of(p)));
        }
      } catch (const PatchError& ex) {
        err(kfile, e.field, ex.what());
      } catch (const std::regex_error& ex) {
        err(kfile, e.field + ".target", std::string("bad regular expression: ") + ex.what());
      }
    }
  }

  fs::path root_;
  KustomizeResult& out_;
  std::vector<fs::path> stack_;
  std::vector<YAML::Node> hash_pending_;
};

}  // namespace

uint64_t kustomize_input_digest(const ManifestFile& f) {
  return f.read_error.empty() ? std::hash<std::string>{}(f.content) * 2 + 1
                              : std::hash<std::string>{}(f.read_error) * 2;
}

std::string kustomization_file_name(const fs::path& dir) {
  for (const char* n : {"kustomization.yaml", "kustomization.yml", "Kustomization"}) {
    std::error_code ec;
    if (fs::is_regular_file(dir / n, ec)) return n;
  }
  return "";
}

KustomizeResult kustomize_build(const fs::path& dir, const std::string& shown,
                                const fs::path& tree_root) {
  KustomizeResult out;
  std::vector<KustomizedObject> res;
  Builder b(tree_root, out);
  b.build(dir, shown, false, res, shown, "");
  if (out.errors.empty()) out.objects = std::move(res);
  return out;
}

}  // namespace netagent::source
