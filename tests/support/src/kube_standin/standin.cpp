#include "standin.hpp"

#include <boost/beast/core/detail/base64.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <random>
#include <set>

namespace netagent::standin {

namespace http = boost::beast::http;
using api::HttpRequest;
using api::HttpResponse;
using Answer = api::HttpServer::Answer;
using Query = std::map<std::string, std::string>;

const std::vector<ResourceType>& resource_table() {
  // group, versions, resource, singular, kind, namespaced, shortNames, status subresource,
  // built-in (CRDs are not).
  static const std::vector<ResourceType> table = {
      {"", {"v1"}, "services", "service", "Service", true, {"svc"}, true, true},
      {"", {"v1"}, "pods", "pod", "Pod", true, {"po"}, true, true},
      {"", {"v1"}, "namespaces", "namespace", "Namespace", false, {"ns"}, true, true},
      {"", {"v1"}, "nodes", "node", "Node", false, {"no"}, true, true},
      {"", {"v1"}, "secrets", "secret", "Secret", true, {}, false, true},
      {"", {"v1"}, "configmaps", "configmap", "ConfigMap", true, {"cm"}, false, true},
      {"", {"v1"}, "events", "event", "Event", true, {"ev"}, false, true},
      {"", {"v1"}, "endpoints", "endpoints", "Endpoints", true, {"ep"}, false, true},
      {"discovery.k8s.io",
       {"v1"},
       "endpointslices",
       "endpointslice",
       "EndpointSlice",
       true,
       {},
       false,
       true},
      {"networking.k8s.io",
       {"v1"},
       "networkpolicies",
       "networkpolicy",
       "NetworkPolicy",
       true,
       {"netpol"},
       false,
       true},
      {"coordination.k8s.io", {"v1"}, "leases", "lease", "Lease", true, {}, false, true},
      {"events.k8s.io", {"v1"}, "events", "event", "Event", true, {"ev"}, false, true},
      {"cilium.io",
       {"v2"},
       "ciliumnetworkpolicies",
       "ciliumnetworkpolicy",
       "CiliumNetworkPolicy",
       true,
       {"cnp", "ciliumnp"},
       true,
       false},
      {"cilium.io",
       {"v2"},
       "ciliumclusterwidenetworkpolicies",
       "ciliumclusterwidenetworkpolicy",
       "CiliumClusterwideNetworkPolicy",
       false,
       {"ccnp"},
       true,
       false},
      {"cilium.io",
       {"v2", "v2alpha1"},
       "ciliumloadbalancerippools",
       "ciliumloadbalancerippool",
       "CiliumLoadBalancerIPPool",
       false,
       {"ippools", "ippool", "lbippool", "lbippools"},
       true,
       false},
      {"cilium.io",
       {"v2alpha1"},
       "ciliumbgppeeringpolicies",
       "ciliumbgppeeringpolicy",
       "CiliumBGPPeeringPolicy",
       false,
       {"bgpp"},
       false,
       false},
      {"cilium.io",
       {"v2", "v2alpha1"},
       "ciliumbgpclusterconfigs",
       "ciliumbgpclusterconfig",
       "CiliumBGPClusterConfig",
       false,
       {"cbgpcluster"},
       true,
       false},
      {"cilium.io",
       {"v2", "v2alpha1"},
       "ciliumbgppeerconfigs",
       "ciliumbgppeerconfig",
       "CiliumBGPPeerConfig",
       false,
       {},
       true,
       false},
      {"cilium.io",
       {"v2", "v2alpha1"},
       "ciliumbgpadvertisements",
       "ciliumbgpadvertisement",
       "CiliumBGPAdvertisement",
       false,
       {},
       false,
       false},
      {"cilium.io",
       {"v2", "v2alpha1"},
       "ciliumbgpnodeconfigoverrides",
       "ciliumbgpnodeconfigoverride",
       "CiliumBGPNodeConfigOverride",
       false,
       {},
       false,
       false},
  };
  return table;
}

namespace {

constexpr const char* kOpenApiHash = "0123456789abcdef";

// The groups in discovery order, each with its versions (preferred first).
std::vector<std::pair<std::string, std::vector<std::string>>> groups() {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  for (const auto& t : resource_table()) {
    if (t.group.empty()) continue;
    auto it = std::find_if(out.begin(), out.end(), [&](auto& g) { return g.first == t.group; });
    if (it == out.end()) {
      out.push_back({t.group, {}});
      it = out.end() - 1;
    }
    for (const auto& v : t.versions)
      if (std::find(it->second.begin(), it->second.end(), v) == it->second.end())
        it->second.push_back(v);
  }
  for (auto& g : out)  // v2 before v2alpha1: the stable version is preferred
    std::sort(g.second.begin(), g.second.end(),
              [](const std::string& a, const std::string& b) { return a.size() < b.size(); });
  return out;
}

const ResourceType* find_type(const std::string& group, const std::string& version,
                              const std::string& resource) {
  for (const auto& t : resource_table())
    if (t.group == group && t.resource == resource &&
        std::find(t.versions.begin(), t.versions.end(), version) != t.versions.end())
      return &t;
  return nullptr;
}

json status_body(const ApiFailure& f) {
  json s = {{"kind", "Status"},    {"apiVersion", "v1"},   {"metadata", json::object()},
            {"status", "Failure"}, {"message", f.message}, {"reason", f.reason},
            {"code", f.code}};
  if (!f.details.empty()) s["details"] = f.details;
  return s;
}

HttpResponse respond(const HttpRequest& req, unsigned code, const json& body) {
  HttpResponse res{static_cast<http::status>(code), req.version()};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-cache, private");
  res.keep_alive(req.keep_alive());
  res.body() = body.dump();
  res.prepare_payload();
  return res;
}

std::string url_decode(const std::string& s, bool plus_is_space) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else if (s[i] == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t p = s.find(sep, start);
    out.push_back(s.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) break;
    start = p + 1;
  }
  return out;
}

// Go's strconv.ParseBool, which the server uses for watch=, allowWatchBookmarks=, ...
std::optional<bool> parse_bool(const std::string& s) {
  if (s == "1" || s == "t" || s == "T" || s == "true" || s == "TRUE" || s == "True") return true;
  if (s == "0" || s == "f" || s == "F" || s == "false" || s == "FALSE" || s == "False")
    return false;
  return std::nullopt;
}

bool query_bool(const Query& q, const std::string& key) {
  auto it = q.find(key);
  if (it == q.end()) return false;
  auto b = parse_bool(it->second);
  if (!b) throw ApiFailure{400, "BadRequest", "invalid boolean for " + key + ": " + it->second};
  return *b;
}

std::string query_str(const Query& q, const std::string& key) {
  auto it = q.find(key);
  return it == q.end() ? "" : it->second;
}

uint64_t parse_rv(const std::string& s) {
  try {
    size_t n = 0;
    uint64_t v = std::stoull(s, &n);
    if (n == s.size()) return v;
  } catch (...) {
  }
  throw ApiFailure{400, "BadRequest", "invalid resource version: " + s};
}

std::string now_rfc3339() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::mt19937_64& rng() {
  static std::mt19937_64 r{std::random_device{}()};
  return r;
}

std::string new_uid() {
  std::uniform_int_distribution<int> d(0, 15);
  std::string s = "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx";
  for (auto& c : s) {
    if (c == 'x') c = "0123456789abcdef"[d(rng())];
    if (c == 'y') c = "89ab"[d(rng()) % 4];
  }
  return s;
}

// The suffix of generateName: five characters of the alphabet the real server uses.
std::string random_suffix() {
  static const std::string alphabet = "bcdfghjklmnpqrstvwxz2456789";
  std::uniform_int_distribution<size_t> d(0, alphabet.size() - 1);
  std::string s;
  for (int i = 0; i < 5; ++i)
    s += alphabet[d(rng())];
  return s;
}

std::string meta_str(const json& o, const char* field) {
  auto m = o.find("metadata");
  if (m == o.end() || !m->is_object()) return "";
  auto v = m->find(field);
  return v != m->end() && v->is_string() ? v->get<std::string>() : "";
}

std::string key_of(const std::string& ns, const std::string& name) {
  return ns + "/" + name;
}

std::string namespace_of_key(const std::string& key) {
  return key.substr(0, key.find('/'));
}

ApiFailure not_found(const ResourceType& t, const std::string& name) {
  return ApiFailure{404, "NotFound", t.qualified() + " \"" + name + "\" not found",
                    json{{"name", name}, {"group", t.group}, {"kind", t.resource}}};
}

ApiFailure conflict(const ResourceType& t, const std::string& name) {
  return ApiFailure{409, "Conflict",
                    "Operation cannot be fulfilled on " + t.qualified() + " \"" + name +
                        "\": the object has been modified; please apply your changes to the "
                        "latest version and try again",
                    json{{"name", name}, {"group", t.group}, {"kind", t.resource}}};
}

ApiFailure invalid(const ResourceType& t, const std::string& name, const std::string& msg) {
  return ApiFailure{422, "Invalid", t.kind + " \"" + name + "\" is invalid: " + msg,
                    json{{"name", name}, {"group", t.group}, {"kind", t.kind}}};
}

ApiFailure expired(const std::string& msg) {
  return ApiFailure{410, "Expired", msg};
}

// Continue tokens: base64 of {"v":"meta.k8s.io/v1","rv":N,"start":"KEY\u0000"}, the real
// server's format (its start key is the etcd key to continue from).
std::string encode_continue(uint64_t rv, const std::string& last_key) {
  std::string plain = json{{"v", "meta.k8s.io/v1"}, {"rv", rv}, {"start", last_key + '\0'}}.dump();
  std::string out(boost::beast::detail::base64::encoded_size(plain.size()), '\0');
  out.resize(boost::beast::detail::base64::encode(out.data(), plain.data(), plain.size()));
  // URL-safe without padding (Go's base64.RawURLEncoding): the token goes in a query string.
  while (!out.empty() && out.back() == '=')
    out.pop_back();
  for (auto& c : out)
    c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

std::pair<uint64_t, std::string> decode_continue(std::string token) {
  for (auto& c : token)
    c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (token.size() % 4)
    token += '=';
  std::string plain(boost::beast::detail::base64::decoded_size(token.size()), '\0');
  auto [n, used] = boost::beast::detail::base64::decode(plain.data(), token.data(), token.size());
  plain.resize(n);
  json j = json::parse(plain, nullptr, false);
  (void)used;  // the padding is not counted
  if (!j.is_object() || !j.contains("rv") || !j["rv"].is_number() || !j.contains("start") ||
      !j["start"].is_string())
    throw ApiFailure{400, "BadRequest", "continue key is not valid: " + token};
  std::string start = j["start"];
  if (!start.empty() && start.back() == '\0') start.pop_back();
  return {j["rv"].get<uint64_t>(), start};
}

json strip_for_generation(json o, bool has_status) {
  o.erase("metadata");
  if (has_status) o.erase("status");
  o.erase("kind");
  o.erase("apiVersion");
  return o;
}

// The defaults the real server fills into a Service, which the agent relies on (a ClusterIP
// from 10.96.0.0/12 when none is given, the port protocol and targetPort).
void default_service(json& svc, uint64_t& next_ip) {
  json& spec = svc["spec"];
  if (!spec.is_object()) spec = json::object();
  if (!spec.contains("type")) spec["type"] = "ClusterIP";
  if (!spec.contains("sessionAffinity")) spec["sessionAffinity"] = "None";
  if (spec["type"] != "ExternalName") {
    if (!spec.contains("clusterIP") || spec["clusterIP"] == "") {
      uint64_t n = next_ip++;
      spec["clusterIP"] =
          "10.96." + std::to_string((n >> 8) & 0xff) + "." + std::to_string(n & 0xff);
    }
    if (!spec.contains("clusterIPs")) spec["clusterIPs"] = json::array({spec["clusterIP"]});
    if (!spec.contains("ipFamilies")) spec["ipFamilies"] = json::array({"IPv4"});
    if (!spec.contains("ipFamilyPolicy")) spec["ipFamilyPolicy"] = "SingleStack";
    if (!spec.contains("internalTrafficPolicy")) spec["internalTrafficPolicy"] = "Cluster";
  }
  if (spec.contains("ports") && spec["ports"].is_array())
    for (auto& p : spec["ports"]) {
      if (!p.is_object()) continue;
      if (!p.contains("protocol")) p["protocol"] = "TCP";
      if (!p.contains("targetPort") && p.contains("port")) p["targetPort"] = p["port"];
    }
}

// The merge key of a list in a strategic merge patch, from the list's field name and its
// elements (the real server reads them from the Go types; these are the lists the objects of
// this server have). Empty: the list is replaced whole.
std::string merge_key(const std::string& field, const json& patch_list) {
  auto all_have = [&](const char* k) {
    return std::all_of(patch_list.begin(), patch_list.end(),
                       [&](const json& e) { return e.is_object() && e.contains(k); });
  };
  static const std::set<std::string> by_name = {
      "containers", "initContainers", "ephemeralContainers", "volumes", "env", "imagePullSecrets"};
  if (by_name.count(field) && all_have("name")) return "name";
  if (field == "ports" && all_have("port")) return "port";
  if (field == "ports" && all_have("containerPort")) return "containerPort";
  if (field == "volumeMounts" && all_have("mountPath")) return "mountPath";
  if (field == "conditions" && all_have("type")) return "type";
  return "";
}

// A strategic merge patch: a JSON merge patch, except that the lists above are merged by their
// key (with the $patch: delete directive on an element), $patch: replace replaces an object, and
// the $setElementOrder, $retainKeys and $deleteFromPrimitiveList directives are honoured
// loosely (the first two are dropped; the last removes the values).
json strategic_merge(json target, const json& patch) {
  if (!patch.is_object()) return patch;
  if (patch.value("$patch", "") == "replace") {
    json out = patch;
    out.erase("$patch");
    return out;
  }
  if (!target.is_object()) target = json::object();
  for (const auto& [k, v] : patch.items()) {
    if (k == "$patch" || k == "$retainKeys" || k.rfind("$setElementOrder/", 0) == 0) continue;
    if (k.rfind("$deleteFromPrimitiveList/", 0) == 0) {
      std::string field = k.substr(k.find('/') + 1);
      if (target.contains(field) && target[field].is_array() && v.is_array()) {
        json kept = json::array();
        for (const auto& e : target[field])
          if (std::find(v.begin(), v.end(), e) == v.end()) kept.push_back(e);
        target[field] = kept;
      }
      continue;
    }
    if (v.is_null()) {
      target.erase(k);
    } else if (v.is_object()) {
      if (v.value("$patch", "") == "delete")
        target.erase(k);
      else
        target[k] = strategic_merge(target.contains(k) ? target[k] : json(), v);
    } else if (v.is_array() && target.contains(k) && target[k].is_array() &&
               !merge_key(k, v).empty()) {
      std::string key = merge_key(k, v);
      json list = target[k];
      for (const auto& e : v) {
        auto same = [&](const json& t) {
          return t.is_object() && t.contains(key) && t[key] == e[key];
        };
        auto it = std::find_if(list.begin(), list.end(), same);
        if (e.value("$patch", "") == "delete") {
          if (it != list.end()) list.erase(it);
        } else if (it != list.end()) {
          *it = strategic_merge(*it, e);
        } else {
          list.push_back(strategic_merge(json::object(), e));
        }
      }
      target[k] = list;
    } else if (v.is_array()) {
      json list = json::array();
      for (const auto& e : v)  // elements may carry directives too
        list.push_back(e.is_object() ? strategic_merge(json::object(), e) : e);
      target[k] = list;
    } else {
      target[k] = v;
    }
  }
  return target;
}

}  // namespace

// A request path: /api/v1/... or /apis/GROUP/VERSION/... down to a resource.
struct Server::Target {
  const ResourceType* type = nullptr;
  std::string version;
  std::string ns;    // namespaced resource: "" means every namespace (collections only)
  std::string name;  // empty: the collection
  std::string subresource;
  std::string api_version() const { return type->api_version(version); }
};

struct Server::Watcher {
  uint64_t id = 0;
  const ResourceType* type = nullptr;
  std::string version;
  std::string ns;
  Selector labels, fields;
  bool bookmarks = false;
  std::shared_ptr<api::ChunkStream> stream;
  std::unique_ptr<boost::asio::steady_timer> bookmark_timer, timeout_timer;

  bool matches(const json& o) const {
    if (!ns.empty() && meta_str(o, "namespace") != ns) return false;
    return labels_match(labels, o) && fields_match(fields, o);
  }
};

Server::Server(boost::asio::io_context& io, Options options) : io_(io), opt_(std::move(options)) {
  if (!opt_.snapshot.empty()) {
    std::ifstream in(opt_.snapshot);
    if (in) {
      // The state a stopped stand-in saved: the objects and the version counter. The history
      // is not saved: every older version is compacted, as after a real API server's restart
      // whose watch cache starts at the current revision.
      json snap = json::parse(in);
      rv_ = std::stoull(snap.at("resourceVersion").get<std::string>());
      compacted_ = rv_;
      next_ip_ = snap.value("nextClusterIP", next_ip_);
      for (const auto& e : snap.at("objects")) {
        const ResourceType* type =
            find_type(e.at("group"), e.at("version"), e.at("resource").get<std::string>());
        if (!type) throw std::runtime_error("snapshot: unknown resource " + e.dump());
        const json& o = e.at("object");
        objects_[type][key_of(meta_str(o, "namespace"), meta_str(o, "name"))] = o;
      }
      return;
    }
  }
  // The namespaces every cluster has.
  const ResourceType* ns_type = find_type("", "v1", "namespaces");
  for (const char* name : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    Target t{ns_type, "v1", "", "", ""};
    create(t, json{{"metadata", {{"name", name}}}});
  }
}

void Server::save() const {
  if (opt_.snapshot.empty()) return;
  json objects = json::array();
  for (const auto& [type, m] : objects_)
    for (const auto& [key, o] : m)
      objects.push_back({{"group", type->group},
                         {"version", type->versions[0]},
                         {"resource", type->resource},
                         {"object", o}});
  json snap = {{"resourceVersion", std::to_string(rv_)},
               {"nextClusterIP", next_ip_},
               {"objects", std::move(objects)}};
  // Whole or not at all: written aside, then renamed over the old one.
  std::string tmp = opt_.snapshot + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << snap.dump();
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), opt_.snapshot.c_str()) != 0)
    throw std::runtime_error("cannot rename " + tmp + " to " + opt_.snapshot);
}

Server::~Server() {
  for (auto& [id, w] : watchers_)
    w->stream->end();
}

json Server::present(json o, const ResourceType& type, const std::string& version) const {
  json out = {{"kind", type.kind}, {"apiVersion", type.api_version(version)}};
  for (auto& [k, v] : o.items())
    if (k != "kind" && k != "apiVersion") out[k] = std::move(v);
  return out;
}

void Server::check_namespace(const std::string& ns) const {
  const ResourceType* ns_type = find_type("", "v1", "namespaces");
  auto it = objects_.find(ns_type);
  if (it == objects_.end() || !it->second.count(key_of("", ns))) throw not_found(*ns_type, ns);
}

Answer Server::handle(const HttpRequest& req, const api::HttpServer::OpenStream& open_stream) {
  try {
    return route(req, open_stream);
  } catch (const ApiFailure& f) {
    return respond(req, f.code, status_body(f));
  } catch (const std::exception& e) {
    return respond(req, 500, status_body({500, "InternalError", e.what()}));
  }
}

Answer Server::route(const HttpRequest& req, const api::HttpServer::OpenStream& open_stream) {
  std::string target(req.target());
  std::string path = target.substr(0, target.find('?'));
  Query query;
  if (auto q = target.find('?'); q != std::string::npos)
    for (const auto& kv : split(target.substr(q + 1), '&')) {
      if (kv.empty()) continue;
      auto eq = kv.find('=');
      query[url_decode(kv.substr(0, eq), true)] =
          eq == std::string::npos ? "" : url_decode(kv.substr(eq + 1), true);
    }
  while (path.size() > 1 && path.back() == '/')
    path.pop_back();
  bool get = req.method() == http::verb::get;

  if (get && (path == "/healthz" || path == "/readyz" || path == "/livez")) {
    HttpResponse res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.keep_alive(req.keep_alive());
    res.body() = "ok";
    res.prepare_payload();
    return res;
  }
  if (get && path == "/version")
    return respond(req, 200,
                   {{"major", "1"},
                    {"minor", "32"},
                    {"gitVersion", "v1.32.0-netagent-standin"},
                    {"gitCommit", "0000000000000000000000000000000000000000"},
                    {"gitTreeState", "clean"},
                    {"buildDate", "2026-01-01T00:00:00Z"},
                    {"goVersion", "go1.23.0"},
                    {"compiler", "gc"},
                    {"platform", "linux/amd64"}});
  if (!opt_.token.empty()) {
    std::string auth(req[http::field::authorization]);
    if (auth != "Bearer " + opt_.token)
      return respond(req, 401, status_body({401, "Unauthorized", "Unauthorized"}));
  }

  // The test controls (not Kubernetes).
  if (path == "/standin/compact" && req.method() == http::verb::post) {
    compacted_ = rv_;
    history_.clear();
    return respond(req, 200, {{"compacted", std::to_string(compacted_)}});
  }
  if (path == "/standin/cut-watches" && req.method() == http::verb::post) {
    size_t n = watchers_.size();
    auto all = watchers_;
    for (auto& [id, w] : all) {
      // Half an event line, then the connection closes without the last chunk.
      w->stream->write(R"({"type":"MODIFIED","object":{"kind":")");
      w->stream->abort();
      remove_watcher(id);
    }
    return respond(req, 200, {{"cut", n}});
  }
  if (path == "/standin/stats" && get) {
    size_t objects = 0;
    for (auto& [t, m] : objects_)
      objects += m.size();
    return respond(req, 200,
                   {{"watches", watchers_.size()},
                    {"objects", objects},
                    {"resourceVersion", std::to_string(rv_)},
                    {"compactedResourceVersion", std::to_string(compacted_)},
                    {"history", history_.size()}});
  }

  if (path == "/standin/audit" && get) {
    json out = json::array();
    for (const auto& [agent, verb, group, resource, ns] : audit_)
      out.push_back({{"userAgent", agent},
                     {"verb", verb},
                     {"group", group},
                     {"resource", resource},
                     {"namespace", ns}});
    return respond(req, 200, out);
  }

  if (get) {
    bool found = false;
    json d = discovery(path, found);
    if (found) return respond(req, 200, d);
  }

  // A resource path.
  auto seg = split(path.substr(1), '/');
  for (auto& s : seg)
    s = url_decode(s, false);
  Target t;
  size_t i = 0;
  std::string group;
  if (seg.size() >= 2 && seg[0] == "api") {
    t.version = seg[1];
    i = 2;
  } else if (seg.size() >= 3 && seg[0] == "apis") {
    group = seg[1];
    t.version = seg[2];
    i = 3;
  } else {
    throw ApiFailure{404, "NotFound", "the server could not find the requested resource"};
  }
  std::vector<std::string> rest(seg.begin() + static_cast<long>(i), seg.end());
  if (rest.size() >= 3 && rest[0] == "namespaces" && find_type(group, t.version, rest[2]) &&
      find_type(group, t.version, rest[2])->namespaced) {
    t.ns = rest[1];
    rest.erase(rest.begin(), rest.begin() + 2);
  }
  if (rest.empty() || rest.size() > 3)
    throw ApiFailure{404, "NotFound", "the server could not find the requested resource"};
  t.type = find_type(group, t.version, rest[0]);
  if (!t.type)
    throw ApiFailure{404, "NotFound", "the server could not find the requested resource"};
  if (rest.size() >= 2) t.name = rest[1];
  if (rest.size() == 3) t.subresource = rest[2];
  if (!t.subresource.empty() && (t.subresource != "status" || !t.type->has_status))
    throw ApiFailure{404, "NotFound", "the server could not find the requested resource"};
  if (!t.name.empty() && t.type->namespaced && t.ns.empty())
    throw ApiFailure{404, "NotFound", "the server could not find the requested resource"};
  {
    // The verb RBAC checks (k8s.io/apiserver's RequestInfo): list or watch on a collection,
    // get on an object, and the method's verb otherwise.
    std::string verb;
    auto w = query.find("watch");
    bool watching = w != query.end() && (w->second == "1" || w->second == "true");
    switch (req.method()) {
      case http::verb::get:
        verb = watching ? "watch" : t.name.empty() ? "list" : "get";
        break;
      case http::verb::post:
        verb = "create";
        break;
      case http::verb::put:
        verb = "update";
        break;
      case http::verb::patch:
        verb = "patch";
        break;
      case http::verb::delete_:
        verb = t.name.empty() ? "deletecollection" : "delete";
        break;
      default:
        verb = std::string(req.method_string());
    }
    audit_.emplace(std::string(req[http::field::user_agent]), verb, t.type->group,
                   t.type->resource + (t.subresource.empty() ? "" : "/" + t.subresource), t.ns);
  }
  return serve_resource(req, t, query, open_stream);
}

json Server::discovery(const std::string& path, bool& found) const {
  found = true;
  auto group_json = [](const std::string& name, const std::vector<std::string>& versions) {
    json g = {{"name", name}, {"versions", json::array()}};
    for (const auto& v : versions)
      g["versions"].push_back({{"groupVersion", name + "/" + v}, {"version", v}});
    g["preferredVersion"] = {{"groupVersion", name + "/" + versions[0]}, {"version", versions[0]}};
    return g;
  };
  if (path == "/api")
    return {{"kind", "APIVersions"},
            {"versions", {"v1"}},
            {"serverAddressByClientCIDRs",
             json::array({{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", "127.0.0.1:6443"}}})}};
  if (path == "/apis") {
    json list = {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", json::array()}};
    for (const auto& [g, vs] : groups())
      list["groups"].push_back(group_json(g, vs));
    return list;
  }
  for (const auto& [g, vs] : groups())
    if (path == "/apis/" + g) {
      json j = group_json(g, vs);
      j["kind"] = "APIGroup";
      j["apiVersion"] = "v1";
      return j;
    }
  auto resource_list = [](const std::string& group, const std::string& version) {
    std::string gv = group.empty() ? version : group + "/" + version;
    json list = {{"kind", "APIResourceList"},
                 {"apiVersion", "v1"},
                 {"groupVersion", gv},
                 {"resources", json::array()}};
    for (const auto& t : resource_table()) {
      if (t.group != group ||
          std::find(t.versions.begin(), t.versions.end(), version) == t.versions.end())
        continue;
      json r = {
          {"name", t.resource},
          {"singularName", t.singular},
          {"namespaced", t.namespaced},
          {"kind", t.kind},
          {"verbs",
           {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}}};
      if (!t.short_names.empty()) r["shortNames"] = t.short_names;
      list["resources"].push_back(r);
      if (t.has_status)
        list["resources"].push_back({{"name", t.resource + "/status"},
                                     {"singularName", ""},
                                     {"namespaced", t.namespaced},
                                     {"kind", t.kind},
                                     {"verbs", {"get", "patch", "update"}}});
    }
    return list;
  };
  if (path == "/api/v1") return resource_list("", "v1");
  for (const auto& [g, vs] : groups())
    for (const auto& v : vs)
      if (path == "/apis/" + g + "/" + v) return resource_list(g, v);
  // A minimal OpenAPI v3: for each group-version a document with the PATCH operation of each
  // kind, saying that it takes the fieldValidation parameter. That is what kubectl's validation
  // looks for (it then leaves validation to the server, which stores objects as sent: no
  // schemas here) and, as no strategic merge patch is listed, kubectl apply computes its patches
  // from its built-in types.
  if (path == "/openapi/v3") {
    json paths = json::object();
    paths["api/v1"] = {
        {"serverRelativeURL", "/openapi/v3/api/v1?hash=" + std::string(kOpenApiHash)}};
    for (const auto& [g, vs] : groups())
      for (const auto& v : vs)
        paths["apis/" + g + "/" + v] = {
            {"serverRelativeURL", "/openapi/v3/apis/" + g + "/" + v + "?hash=" + kOpenApiHash}};
    return {{"paths", paths}};
  }
  if (path.rfind("/openapi/v3/", 0) == 0) {
    std::string gv = path.substr(std::string("/openapi/v3/").size());
    json paths = json::object();
    for (const auto& t : resource_table())
      for (const auto& v : t.versions) {
        std::string prefix = t.group.empty() ? "api/" + v : "apis/" + t.group + "/" + v;
        if (prefix != gv) continue;
        json op = {{"x-kubernetes-group-version-kind",
                    {{"group", t.group}, {"version", v}, {"kind", t.kind}}},
                   {"parameters", json::array({{{"name", "fieldValidation"},
                                                {"in", "query"},
                                                {"schema", {{"type", "string"}}}}})},
                   {"requestBody",
                    {{"content",
                      {{"application/merge-patch+json", {{"schema", {{"type", "object"}}}}},
                       {"application/json-patch+json", {{"schema", {{"type", "array"}}}}}}}}},
                   {"responses", {{"200", {{"description", "OK"}}}}}};
        std::string p = "/" + prefix + (t.namespaced ? "/namespaces/{namespace}/" : "/") +
                        t.resource + "/{name}";
        paths[p] = {{"patch", op}};
      }
    if (paths.empty()) {
      found = false;
      return nullptr;
    }
    return {
        {"openapi", "3.0.0"},
        {"info", {{"title", "netagent kube stand-in (not Kubernetes)"}, {"version", "v1.32.0"}}},
        {"paths", paths},
        {"components", {{"schemas", json::object()}}}};
  }
  found = false;
  return nullptr;
}

Answer Server::serve_resource(const HttpRequest& req, const Target& t, const Query& q,
                              const api::HttpServer::OpenStream& open_stream) {
  auto parse_body = [&]() {
    // JSON only: a protobuf body gets the real server's answer for a type it has no protobuf
    // for (client-go then sends JSON).
    std::string ct(req[http::field::content_type]);
    ct = ct.substr(0, ct.find(';'));
    if (!ct.empty() && ct != "application/json")
      throw ApiFailure{415, "UnsupportedMediaType",
                       "the body of the request was in an unknown format - accepted media types "
                       "include: application/json"};
    json body = json::parse(req.body(), nullptr, false);
    if (body.is_discarded())
      throw ApiFailure{400, "BadRequest",
                       "the body of the request was in an unknown format: it is not JSON"};
    if (!body.is_object())
      throw ApiFailure{400, "BadRequest",
                       "the body of the request is not a JSON object of kind " + t.type->kind};
    return body;
  };
  // dryRun=All: the request is checked and answered, and nothing is stored.
  std::string dry = query_str(q, "dryRun");
  if (!dry.empty() && dry != "All")
    throw ApiFailure{400, "BadRequest", "unsupported dryRun value: " + dry};
  struct DryRun {
    bool& flag;
    ~DryRun() { flag = false; }
  } reset{dry_run_};
  dry_run_ = dry == "All" && req.method() != http::verb::get;
  switch (req.method()) {
    case http::verb::get:
      if (t.name.empty()) {
        if (query_bool(q, "watch")) return watch(req, t, q, open_stream);
        return respond(req, 200, list(t, q));
      }
      if (query_bool(q, "watch")) {
        // The old form: watch one object by name.
        Target c = t;
        c.name.clear();
        Query q2 = q;
        std::string fs = "metadata.name=" + t.name;
        q2["fieldSelector"] = q2["fieldSelector"].empty() ? fs : q2["fieldSelector"] + "," + fs;
        return watch(req, c, q2, open_stream);
      }
      return respond(req, 200, get(t));
    case http::verb::post:
      if (!t.name.empty())
        throw ApiFailure{405, "MethodNotAllowed", "POST is not supported on an object"};
      return respond(req, 201, create(t, parse_body()));
    case http::verb::put:
      if (t.name.empty())
        throw ApiFailure{405, "MethodNotAllowed", "PUT is not supported on a collection"};
      return respond(req, 200, update(t, parse_body(), t.subresource == "status"));
    case http::verb::patch: {
      if (t.name.empty())
        throw ApiFailure{405, "MethodNotAllowed", "PATCH is not supported on a collection"};
      std::string ct(req[http::field::content_type]);
      ct = ct.substr(0, ct.find(';'));
      return respond(req, 200, patch(t, ct, req.body(), t.subresource == "status"));
    }
    case http::verb::delete_:
      if (t.name.empty()) return respond(req, 200, remove_collection(t, q));
      if (!t.subresource.empty())
        throw ApiFailure{405, "MethodNotAllowed", "DELETE is not supported on a subresource"};
      return respond(req, 200, remove(t, req.body()));
    default:
      throw ApiFailure{405, "MethodNotAllowed",
                       "the server does not allow this method on the requested resource"};
  }
}

template <class Fn>
void Server::visit_at(const ResourceType* type, uint64_t rv, const std::string& after,
                      Fn fn) const {
  static const std::map<std::string, json> empty;
  auto oit = objects_.find(type);
  const auto& live = oit == objects_.end() ? empty : oit->second;
  // The state at rv of every key changed since: the state before its first later event.
  std::map<std::string, const json*> overlay;
  for (const auto& e : history_) {
    if (e.rv <= rv || e.type != type || overlay.count(e.key)) continue;
    overlay[e.key] = e.prev.is_null() ? nullptr : &e.prev;
  }
  auto a = after.empty() ? live.begin() : live.upper_bound(after);
  auto b = after.empty() ? overlay.begin() : overlay.upper_bound(after);
  while (a != live.end() || b != overlay.end()) {
    const json* obj;
    std::string key;
    if (b == overlay.end() || (a != live.end() && a->first < b->first)) {
      key = a->first;
      obj = &a->second;
      ++a;
    } else {
      if (a != live.end() && a->first == b->first) ++a;
      key = b->first;
      obj = b->second;
      ++b;
    }
    if (obj && !fn(key, *obj)) return;
  }
}

json Server::list(const Target& t, const Query& q) {
  Selector labels = parse_label_selector(query_str(q, "labelSelector"));
  Selector fields = parse_field_selector(query_str(q, "fieldSelector"), *t.type);
  std::string rv_param = query_str(q, "resourceVersion");
  std::string match = query_str(q, "resourceVersionMatch");
  std::string cont = query_str(q, "continue");
  int64_t limit = 0;
  if (auto l = query_str(q, "limit"); !l.empty()) {
    try {
      limit = std::stoll(l);
    } catch (...) {
      throw ApiFailure{400, "BadRequest", "invalid limit: " + l};
    }
  }
  if (!match.empty() && match != "NotOlderThan" && match != "Exact")
    throw ApiFailure{422, "Invalid",
                     "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Unsupported "
                     "value: \"" +
                         match + "\": supported values: \"Exact\", \"NotOlderThan\", \"\""};
  if (!match.empty() && rv_param.empty())
    throw ApiFailure{422, "Invalid",
                     "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: "
                     "resourceVersionMatch is forbidden unless resourceVersion is provided"};
  if (match == "Exact" && rv_param == "0")
    throw ApiFailure{422, "Invalid",
                     "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: "
                     "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\""};
  uint64_t at = rv_;
  std::string after;
  if (!cont.empty()) {
    if (!rv_param.empty() && rv_param != "0")
      throw ApiFailure{400, "BadRequest",
                       "specifying resource version is not allowed when using continue"};
    auto [crv, key] = decode_continue(cont);
    if (crv < compacted_ || crv > rv_)
      throw expired(
          "The provided continue parameter is too old to display a consistent list result. You "
          "can start a new list without the continue parameter.");
    at = crv;
    after = key;
  } else if (!rv_param.empty() && rv_param != "0") {
    uint64_t want = parse_rv(rv_param);
    if (want > rv_)
      throw ApiFailure{504, "Timeout",
                       "Too large resource version: " + std::to_string(want) +
                           ", current: " + std::to_string(rv_),
                       json{{"causes", json::array({{{"reason", "ResourceVersionTooLarge"},
                                                     {"message", "Too large resource version"}}})},
                            {"retryAfterSeconds", 1}}};
    if (match == "Exact") {
      if (want < compacted_) throw expired("The resourceVersion for the provided list is too old.");
      at = want;
    }
  }
  json items = json::array();
  std::string last_key;
  int64_t remaining = 0;
  const std::string& ns = t.ns;
  visit_at(t.type, at, after, [&](const std::string& key, const json& o) {
    if (!ns.empty() && namespace_of_key(key) != ns) return true;
    if (!labels_match(labels, o) || !fields_match(fields, o)) return true;
    if (limit > 0 && static_cast<int64_t>(items.size()) >= limit) {
      ++remaining;
      return true;
    }
    items.push_back(t.type->builtin ? o : present(o, *t.type, t.version));
    last_key = key;
    return true;
  });
  json meta = {{"resourceVersion", std::to_string(at)}};
  if (remaining > 0) {
    meta["continue"] = encode_continue(at, last_key);
    // Only without selectors: the real server cannot count matches it has not read.
    if (labels.empty() && fields.empty()) meta["remainingItemCount"] = remaining;
  }
  return {{"kind", t.type->kind + "List"},
          {"apiVersion", t.api_version()},
          {"metadata", meta},
          {"items", std::move(items)}};
}

std::string Server::event_line(const std::string& type, json object, const Watcher& w) const {
  if (type != "ERROR") object = present(std::move(object), *w.type, w.version);
  // {"type":...,"object":...} in the real server's order (a JSON object has none, but a reader
  // of the raw stream may look).
  return R"({"type":")" + type + R"(","object":)" + object.dump() + "}\n";
}

Answer Server::watch(const HttpRequest& req, const Target& t, Query q,
                     const api::HttpServer::OpenStream& open_stream) {
  auto w = std::make_shared<Watcher>();
  w->type = t.type;
  w->version = t.version;
  w->ns = t.ns;
  w->labels = parse_label_selector(query_str(q, "labelSelector"));
  w->fields = parse_field_selector(query_str(q, "fieldSelector"), *t.type);
  w->bookmarks = query_bool(q, "allowWatchBookmarks");
  std::string rv_param = query_str(q, "resourceVersion");
  std::string match = query_str(q, "resourceVersionMatch");
  if (!opt_.watch_list && opt_.watch_list_ignored) {
    // A server from before these parameters: they are unknown, so they do nothing.
    q.erase("sendInitialEvents");
    match.clear();
  }
  bool has_initial = q.count("sendInitialEvents") > 0;
  bool initial = has_initial && query_bool(q, "sendInitialEvents");
  auto invalid_opts = [](const std::string& field, const std::string& msg) {
    return ApiFailure{422, "Invalid",
                      "ListOptions.meta.k8s.io \"\" is invalid: " + field + ": Forbidden: " + msg,
                      json{{"group", "meta.k8s.io"}, {"kind", "ListOptions"}}};
  };
  if (has_initial) {
    // What a server without the WatchList feature answers (1.27 to 1.31 by default; older
    // servers reject the resourceVersionMatch that comes with it the same way).
    if (!opt_.watch_list)
      throw invalid_opts("sendInitialEvents",
                         "sendInitialEvents is forbidden for watch unless the WatchList feature "
                         "gate is enabled");
    if (initial && match != "NotOlderThan")
      throw invalid_opts("resourceVersionMatch",
                         "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan");
    if (initial && !w->bookmarks)
      throw invalid_opts("allowWatchBookmarks",
                         "sendInitialEvents requires setting allowWatchBookmarks to true");
  } else if (!match.empty()) {
    throw invalid_opts("resourceVersionMatch",
                       "resourceVersionMatch is forbidden for watch unless sendInitialEvents is "
                       "provided");
  }
  std::chrono::seconds timeout{1800};  // the real server's --min-request-timeout
  if (auto ts = query_str(q, "timeoutSeconds"); !ts.empty()) {
    try {
      timeout = std::chrono::seconds(std::stoll(ts));
    } catch (...) {
      throw ApiFailure{400, "BadRequest", "invalid timeoutSeconds: " + ts};
    }
  }

  w->stream = open_stream();
  HttpResponse head{http::status::ok, req.version()};
  head.set(http::field::content_type, "application/json");
  head.set(http::field::cache_control, "no-cache, private");

  // Events are written in batches of about a megabyte: one chunk per event would overflow the
  // stream's queue on a large initial state.
  std::string batch;
  auto emit = [&](std::string line) {
    batch += line;
    if (batch.size() >= (1 << 20)) {
      w->stream->write(std::move(batch));
      batch.clear();
    }
  };
  auto flush = [&] {
    if (!batch.empty()) w->stream->write(std::move(batch));
    batch.clear();
  };
  auto send_current = [&] {
    visit_at(t.type, rv_, "", [&](const std::string&, const json& o) {
      if (w->matches(o)) emit(event_line("ADDED", o, *w));
      return true;
    });
  };

  if (initial) {
    send_current();
    json bm = {{"metadata",
                {{"resourceVersion", std::to_string(rv_)},
                 {"annotations", {{"k8s.io/initial-events-end", "true"}}}}}};
    emit(event_line("BOOKMARK", bm, *w));
  } else if (rv_param.empty() || rv_param == "0") {
    // Legacy semantics: the current state as ADDED events, unless sendInitialEvents=false.
    if (!has_initial) send_current();
  } else {
    uint64_t from = parse_rv(rv_param);
    if (from < compacted_) {
      ApiFailure f = expired("too old resource version: " + std::to_string(from) + " (" +
                             std::to_string(compacted_) + ")");
      w->stream->write(event_line("ERROR", status_body(f), *w));
      w->stream->end();
      return Answer(std::move(head), true);
    }
    if (from > rv_) {
      ApiFailure f{504, "Timeout",
                   "Too large resource version: " + std::to_string(from) +
                       ", current: " + std::to_string(rv_)};
      w->stream->write(event_line("ERROR", status_body(f), *w));
      w->stream->end();
      return Answer(std::move(head), true);
    }
    // Nothing was batched yet: deliver() writes to the stream directly.
    for (const auto& e : history_)
      if (e.rv > from && e.type == t.type) deliver(*w, e);
  }
  flush();

  w->id = next_watcher_++;
  watchers_[w->id] = w;
  uint64_t id = w->id;
  w->stream->on_close([this, id] { remove_watcher(id); });
  w->timeout_timer = std::make_unique<boost::asio::steady_timer>(io_, timeout);
  w->timeout_timer->async_wait([this, id](const boost::system::error_code& ec) {
    if (ec) return;
    auto it = watchers_.find(id);
    if (it == watchers_.end()) return;
    it->second->stream->end();  // a clean end: the last chunk
    remove_watcher(id);
  });
  if (w->bookmarks) arm_bookmark(w);
  return Answer(std::move(head), true);
}

void Server::arm_bookmark(const std::shared_ptr<Watcher>& w) {
  w->bookmark_timer = std::make_unique<boost::asio::steady_timer>(io_, opt_.bookmark_interval);
  uint64_t id = w->id;
  w->bookmark_timer->async_wait([this, id](const boost::system::error_code& ec) {
    if (ec) return;
    auto it = watchers_.find(id);
    if (it == watchers_.end()) return;
    auto w = it->second;
    w->stream->write(
        event_line("BOOKMARK", {{"metadata", {{"resourceVersion", std::to_string(rv_)}}}}, *w));
    arm_bookmark(w);
  });
}

void Server::remove_watcher(uint64_t id) {
  auto it = watchers_.find(id);
  if (it == watchers_.end()) return;
  auto w = it->second;
  watchers_.erase(it);
  if (w->bookmark_timer) w->bookmark_timer->cancel();
  if (w->timeout_timer) w->timeout_timer->cancel();
}

void Server::deliver(Watcher& w, const Event& e) {
  bool now = !e.object.is_null() && e.kind != "DELETED" && w.matches(e.object);
  bool before = !e.prev.is_null() && w.matches(e.prev);
  std::string line;
  if (e.kind == "DELETED") {
    if (before) line = event_line("DELETED", e.object, w);
  } else if (now && before) {
    line = event_line("MODIFIED", e.object, w);
  } else if (now) {
    line = event_line("ADDED", e.object, w);
  } else if (before) {
    // It stopped matching the selector: DELETED with its old state at the event's version, as
    // the real server's watch cache sends it.
    json old = e.prev;
    old["metadata"]["resourceVersion"] = std::to_string(e.rv);
    line = event_line("DELETED", old, w);
  }
  if (line.empty()) return;
  w.stream->write(std::move(line));
  if (w.stream->dropped() > 0) {
    // The client reads too slowly and an event was lost: end the watch (the real server
    // closes such watchers too), so that the client lists again.
    w.stream->abort();
    uint64_t id = w.id;
    boost::asio::post(io_, [this, id] { remove_watcher(id); });
  }
}

json Server::commit(const ResourceType* type, const std::string& key, json after) {
  auto& store = objects_[type];
  auto it = store.find(key);
  json prev = it == store.end() ? json() : it->second;
  if (dry_run_) return after.is_null() ? prev : after;  // what would be stored; nothing changes
  ++rv_;
  Event e{rv_, type, "", key, nullptr, prev};
  if (after.is_null()) {
    e.kind = "DELETED";
    e.object = prev;
    e.object["metadata"]["resourceVersion"] = std::to_string(rv_);
    store.erase(it);
  } else {
    e.kind = prev.is_null() ? "ADDED" : "MODIFIED";
    after["metadata"]["resourceVersion"] = std::to_string(rv_);
    store[key] = after;
    e.object = after;
  }
  json result = e.object;
  for (auto& [id, w] : watchers_)
    if (w->type == type) deliver(*w, e);
  history_.push_back(std::move(e));
  while (history_.size() > opt_.history) {
    compacted_ = history_.front().rv;
    history_.pop_front();
  }
  return result;
}

json Server::get(const Target& t) {
  auto& store = objects_[t.type];
  auto it = store.find(key_of(t.ns, t.name));
  if (it == store.end()) throw not_found(*t.type, t.name);
  return present(it->second, *t.type, t.version);
}

namespace {
void check_kind(const json& body, const ResourceType& type, const std::string& version) {
  if (body.contains("apiVersion")) {
    std::string av = body["apiVersion"].is_string() ? body["apiVersion"].get<std::string>() : "";
    bool ok = false;
    for (const auto& v : type.versions)
      ok = ok || av == type.api_version(v);
    if (!ok)
      throw ApiFailure{400, "BadRequest",
                       "the API version in the data (" + av +
                           ") does not match the expected API version (" +
                           type.api_version(version) + ")"};
  }
  if (body.contains("kind")) {
    std::string k = body["kind"].is_string() ? body["kind"].get<std::string>() : "";
    if (k != type.kind)
      throw ApiFailure{
          400, "BadRequest",
          "the kind in the data (" + k + ") does not match the expected kind (" + type.kind + ")"};
  }
  if (body.contains("metadata") && !body["metadata"].is_object())
    throw ApiFailure{400, "BadRequest", "metadata is not an object"};
}
}  // namespace

json Server::create(const Target& t, json body) {
  if (!t.subresource.empty())
    throw ApiFailure{405, "MethodNotAllowed", "create is not supported on a subresource"};
  check_kind(body, *t.type, t.version);
  json& meta = body["metadata"];
  if (!meta.is_object()) meta = json::object();
  std::string ns = meta.value("namespace", std::string());
  if (t.type->namespaced) {
    std::string want = t.ns;
    if (want.empty())
      throw ApiFailure{404, "NotFound", "the server could not find the requested resource"};
    if (!ns.empty() && ns != want)
      throw ApiFailure{400, "BadRequest",
                       "the namespace of the provided object does not match the namespace sent "
                       "on the request"};
    meta["namespace"] = want;
    check_namespace(want);
  } else {
    meta.erase("namespace");
  }
  std::string name = meta.value("name", std::string());
  if (name.empty()) {
    std::string gen = meta.value("generateName", std::string());
    if (gen.empty())
      throw invalid(*t.type, "", "metadata.name: Required value: name or generateName is required");
    name = gen + random_suffix();
    meta["name"] = name;
  }
  if (name.find('/') != std::string::npos)
    throw invalid(*t.type, name,
                  "metadata.name: Invalid value: \"" + name + "\": may not contain '/'");
  std::string key = key_of(t.type->namespaced ? t.ns : "", name);
  if (objects_[t.type].count(key))
    throw ApiFailure{409, "AlreadyExists", t.type->qualified() + " \"" + name + "\" already exists",
                     json{{"name", name}, {"group", t.type->group}, {"kind", t.type->resource}}};
  meta.erase("resourceVersion");
  meta["uid"] = new_uid();
  meta["creationTimestamp"] = now_rfc3339();
  meta["generation"] = 1;
  body.erase("kind");
  body.erase("apiVersion");
  if (t.type->has_status) body.erase("status");
  if (t.type->kind == "Namespace") body["status"] = {{"phase", "Active"}};
  if (t.type->kind == "Service" && t.type->group.empty()) default_service(body, next_ip_);
  return present(commit(t.type, key, std::move(body)), *t.type, t.version);
}

namespace {
// A resourceVersion precondition in the body: a mismatch is a conflict.
void check_precondition(const json& body, const json& current, const ResourceType& type,
                        const std::string& name) {
  std::string want = meta_str(body, "resourceVersion");
  if (!want.empty() && want != meta_str(current, "resourceVersion")) throw conflict(type, name);
}
}  // namespace

json Server::update(const Target& t, json body, bool status) {
  check_kind(body, *t.type, t.version);
  auto& store = objects_[t.type];
  std::string key = key_of(t.type->namespaced ? t.ns : "", t.name);
  auto it = store.find(key);
  if (it == store.end()) throw not_found(*t.type, t.name);
  const json& old = it->second;
  json& meta = body["metadata"];
  if (!meta.is_object()) meta = json::object();
  if (meta.value("name", t.name) != t.name)
    throw ApiFailure{400, "BadRequest",
                     "the name of the object (" + meta.value("name", std::string()) +
                         ") does not match the name on the URL (" + t.name + ")"};
  if (t.type->namespaced && meta.value("namespace", t.ns) != t.ns)
    throw ApiFailure{400, "BadRequest",
                     "the namespace of the provided object does not match the namespace sent on "
                     "the request"};
  check_precondition(body, old, *t.type, t.name);
  json next;
  if (status) {
    // The status subresource changes .status only.
    next = old;
    if (body.contains("status"))
      next["status"] = body["status"];
    else
      next.erase("status");
  } else {
    next = std::move(body);
    next.erase("kind");
    next.erase("apiVersion");
    // What the server owns stays as it is.
    for (const char* f : {"uid", "creationTimestamp", "generation", "name", "namespace"})
      if (old["metadata"].contains(f))
        next["metadata"][f] = old["metadata"][f];
      else
        next["metadata"].erase(f);
    // The main resource ignores status changes when status is a subresource.
    if (t.type->has_status) {
      if (old.contains("status"))
        next["status"] = old["status"];
      else
        next.erase("status");
    }
    if (t.type->kind == "Service" && t.type->group.empty()) default_service(next, next_ip_);
    if (strip_for_generation(next, t.type->has_status) !=
        strip_for_generation(old, t.type->has_status))
      next["metadata"]["generation"] = old["metadata"].value("generation", 0) + 1;
  }
  next["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"];
  // No change, no new version and no event (as the real server does).
  if (next == old) return present(old, *t.type, t.version);
  return present(commit(t.type, key, std::move(next)), *t.type, t.version);
}

json Server::patch(const Target& t, const std::string& content_type, const std::string& body,
                   bool status) {
  auto& store = objects_[t.type];
  std::string key = key_of(t.type->namespaced ? t.ns : "", t.name);
  auto it = store.find(key);
  if (it == store.end()) throw not_found(*t.type, t.name);
  json current = present(it->second, *t.type, t.version);
  json p = json::parse(body, nullptr, false);
  if (p.is_discarded())
    throw ApiFailure{400, "BadRequest",
                     "the body of the request was in an unknown format: it is not JSON"};
  json next;
  if (content_type == "application/merge-patch+json" ||
      content_type == "application/strategic-merge-patch+json") {
    if (!p.is_object()) throw ApiFailure{400, "BadRequest", "a merge patch must be a JSON object"};
    // A resourceVersion in the patch is a precondition.
    check_precondition(p, it->second, *t.type, t.name);
    next = current;
    if (content_type == "application/merge-patch+json")
      next.merge_patch(p);
    else if (!t.type->builtin)
      throw ApiFailure{415, "UnsupportedMediaType",
                       "the body of the request was in an unknown format - accepted media types "
                       "include: application/json-patch+json, application/merge-patch+json, "
                       "application/apply-patch+yaml"};
    else
      next = strategic_merge(std::move(next), p);
  } else if (content_type == "application/json-patch+json") {
    if (!p.is_array()) throw ApiFailure{400, "BadRequest", "a JSON patch must be a JSON array"};
    try {
      next = current.patch(p);
    } catch (const std::exception& e) {
      throw ApiFailure{422, "Invalid",
                       std::string("the JSON patch could not be applied: ") + e.what()};
    }
    check_precondition(next, it->second, *t.type, t.name);
  } else {
    throw ApiFailure{415, "UnsupportedMediaType",
                     "the body of the request was in an unknown format - accepted media types "
                     "include: application/json-patch+json, application/merge-patch+json, "
                     "application/strategic-merge-patch+json"};
  }
  if (!next.is_object() || !next["metadata"].is_object())
    throw ApiFailure{422, "Invalid", "the patched object is not an object with metadata"};
  // The patched object is written as an update at the current version.
  next["metadata"]["resourceVersion"] = it->second["metadata"]["resourceVersion"];
  next["kind"] = t.type->kind;
  next["apiVersion"] = t.api_version();
  return update(t, std::move(next), status);
}

json Server::remove(const Target& t, const std::string& body) {
  auto& store = objects_[t.type];
  std::string key = key_of(t.type->namespaced ? t.ns : "", t.name);
  auto it = store.find(key);
  if (it == store.end()) throw not_found(*t.type, t.name);
  if (!body.empty()) {
    json opts = json::parse(body, nullptr, false);
    if (opts.is_discarded() || !opts.is_object())
      throw ApiFailure{400, "BadRequest", "the DeleteOptions in the body are not a JSON object"};
    if (opts.contains("preconditions") && opts["preconditions"].is_object()) {
      const json& pre = opts["preconditions"];
      if (pre.contains("resourceVersion") &&
          pre["resourceVersion"] != it->second["metadata"]["resourceVersion"])
        throw conflict(*t.type, t.name);
      if (pre.contains("uid") && pre["uid"] != it->second["metadata"]["uid"])
        throw conflict(*t.type, t.name);
    }
  }
  if (t.type->kind == "Namespace" && t.type->group.empty() &&
      (t.name == "default" || t.name == "kube-system" || t.name == "kube-public"))
    throw ApiFailure{
        403, "Forbidden",
        "namespaces \"" + t.name + "\" is forbidden: this namespace may not be deleted",
        json{{"name", t.name}, {"kind", "namespaces"}}};
  if (t.type->kind == "Namespace" && t.type->group.empty()) {
    // The real server empties a namespace in the background (phase Terminating); here its
    // objects go at once, each with its DELETED event, before the namespace itself.
    for (auto& [type, objs] : objects_) {
      if (!type->namespaced) continue;
      std::vector<std::string> keys;
      for (auto& [k, o] : objs)
        if (namespace_of_key(k) == t.name) keys.push_back(k);
      for (auto& k : keys)
        commit(type, k, nullptr);
    }
  }
  return present(commit(t.type, key, nullptr), *t.type, t.version);
}

json Server::remove_collection(const Target& t, const Query& q) {
  Selector labels = parse_label_selector(query_str(q, "labelSelector"));
  Selector fields = parse_field_selector(query_str(q, "fieldSelector"), *t.type);
  std::vector<std::string> names;
  for (auto& [k, o] : objects_[t.type])
    if ((t.ns.empty() || namespace_of_key(k) == t.ns) && labels_match(labels, o) &&
        fields_match(fields, o))
      names.push_back(k);
  json items = json::array();
  for (auto& k : names) {
    Target one = t;
    one.ns = namespace_of_key(k);
    one.name = k.substr(k.find('/') + 1);
    items.push_back(remove(one, ""));
  }
  return {{"kind", t.type->kind + "List"},
          {"apiVersion", t.api_version()},
          {"metadata", {{"resourceVersion", std::to_string(rv_)}}},
          {"items", std::move(items)}};
}

}  // namespace netagent::standin
