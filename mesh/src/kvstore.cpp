#include "netagent/mesh/kvstore.hpp"

#include <algorithm>
#include <bit>
#include <nlohmann/json.hpp>

#include "netagent/common/base64.hpp"
#include "netagent/common/ip.hpp"
#include "netagent/common/number.hpp"

namespace netagent::mesh::kvstore {

using json = nlohmann::json;

std::string publisher_lock_key(std::string_view cluster) {
  return std::string(kPublisherLockPrefix) + std::string(cluster);
}

std::string cluster_config_key(std::string_view cluster) {
  return std::string(kClusterConfigPrefix) + std::string(cluster);
}
std::string node_key(std::string_view cluster, std::string_view node) {
  return std::string(kNodesPrefix) + std::string(cluster) + "/" + std::string(node);
}
std::string service_key(std::string_view cluster, std::string_view ns, std::string_view name) {
  return std::string(kServicesPrefix) + std::string(cluster) + "/" + std::string(ns) + "/" +
         std::string(name);
}
std::string identity_key(uint32_t id) {
  return std::string(kIdentitiesPrefix) + std::to_string(id);
}
std::string ip_key(std::string_view cluster, std::string_view ip) {
  return std::string(kIpPrefix) + std::string(cluster) + "/" + std::string(ip);
}
std::string synced_key(std::string_view cluster, std::string_view kind) {
  return std::string(kSyncedPrefix) + std::string(cluster) + "/cilium/state/" + std::string(kind) +
         "/v1";
}

namespace {

// Splits "a/b/c" after `prefix` into cluster and the rest.
bool split_cluster(std::string_view key, std::string_view prefix, ParsedKey& out) {
  if (!key.starts_with(prefix)) return false;
  auto rest = key.substr(prefix.size());
  auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 >= rest.size()) return false;
  out.cluster = std::string(rest.substr(0, slash));
  out.name = std::string(rest.substr(slash + 1));
  return true;
}

// Decoding helpers: a missing or mistyped field is an error naming the field.
struct BadField {
  std::string message;
};

std::string str_field(const json& j, const char* key, bool required = true) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) throw BadField{std::string("field ") + key + " is missing"};
    return "";
  }
  if (!it->is_string()) throw BadField{std::string("field ") + key + " is not a string"};
  return it->get<std::string>();
}
uint64_t uint_field(const json& j, const char* key, bool required = true) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) throw BadField{std::string("field ") + key + " is missing"};
    return 0;
  }
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->is_number_integer() && it->get<int64_t>() >= 0) return uint64_t(it->get<int64_t>());
  throw BadField{std::string("field ") + key + " is not a non-negative integer"};
}
bool bool_field(const json& j, const char* key, bool dflt) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return dflt;
  if (!it->is_boolean()) throw BadField{std::string("field ") + key + " is not a boolean"};
  return it->get<bool>();
}
std::map<std::string, std::string> string_map(const json& j, const char* key) {
  std::map<std::string, std::string> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_object()) throw BadField{std::string("field ") + key + " is not an object"};
  for (const auto& [k, v] : it->items()) {
    if (!v.is_string()) throw BadField{std::string("field ") + key + "." + k + " is not a string"};
    out[k] = v.get<std::string>();
  }
  return out;
}
void require_ip(const std::string& ip, const std::string& field) {
  if (!Ipv4Addr::parse(ip) && !Ipv6Addr::parse(ip)) {
    throw BadField{"field " + field + ": \"" + ip + "\" is not an IP address"};
  }
}

Result<json> parse_object(std::string_view value) {
  auto j = json::parse(value, nullptr, false);
  if (j.is_discarded()) return Error{"value is not JSON"};
  if (!j.is_object()) return Error{"value is not a JSON object"};
  return j;
}

template <typename F>
auto guarded(std::string_view value, F&& f) -> Result<decltype(f(std::declval<const json&>()))> {
  auto j = parse_object(value);
  if (!j) return j.error();
  try {
    return f(*j);
  } catch (const BadField& e) {
    return Error{e.message};
  } catch (const json::exception& e) {
    return Error{e.what()};
  }
}

// Go marshals net.IPNet as {"IP": "10.1.0.0", "Mask": "<base64 of the mask bytes>"}.
json encode_ipnet(const std::string& cidr) {
  auto p = Ipv4Prefix::parse(cidr);
  if (!p) return nullptr;
  uint32_t m = p->mask();
  std::string bytes = {char(m >> 24), char(m >> 16), char(m >> 8), char(m)};
  return json{{"IP", p->addr.str()}, {"Mask", base64_encode(bytes)}};
}
std::string decode_ipnet(const json& j, const std::string& field) {
  if (j.is_string()) {  // "10.1.0.0/16" is accepted too
    auto p = Ipv4Prefix::parse(j.get<std::string>());
    if (!p) throw BadField{"field " + field + " is not an IPv4 CIDR"};
    return p->str();
  }
  if (!j.is_object()) throw BadField{"field " + field + " is not an IPNet"};
  auto ip = Ipv4Addr::parse(str_field(j, "IP"));
  auto mask = base64_decode(str_field(j, "Mask"));
  if (!ip || !mask || mask->size() != 4) throw BadField{"field " + field + " is not an IPv4 IPNet"};
  uint32_t m = (uint32_t(uint8_t((*mask)[0])) << 24) | (uint32_t(uint8_t((*mask)[1])) << 16) |
               (uint32_t(uint8_t((*mask)[2])) << 8) | uint32_t(uint8_t((*mask)[3]));
  int len = std::popcount(m);
  if (Ipv4Prefix::mask_of(uint8_t(len)) != m) throw BadField{"field " + field + ": bad mask"};
  return Ipv4Prefix{*ip, uint8_t(len)}.str();
}

json encode_ports(const PortMap& ports) {
  json out = json::object();
  for (const auto& [name, p] : ports)
    out[name] = {{"protocol", p.protocol}, {"port", p.port}};
  return out;
}
PortMap decode_ports(const json& j, const std::string& field) {
  PortMap out;
  if (j.is_null()) return out;
  if (!j.is_object()) throw BadField{"field " + field + " is not an object"};
  for (const auto& [name, p] : j.items()) {
    if (!p.is_object()) throw BadField{"field " + field + "." + name + " is not an object"};
    // Cilium's L4Addr has no JSON tags ("Protocol", "Port"); its docs show lowercase.
    const char* proto_key = p.contains("protocol") ? "protocol" : "Protocol";
    const char* port_key = p.contains("port") ? "port" : "Port";
    L4Port l4;
    l4.protocol = str_field(p, proto_key, false);
    if (l4.protocol.empty()) l4.protocol = "TCP";
    if (l4.protocol != "TCP" && l4.protocol != "UDP" && l4.protocol != "SCTP") {
      throw BadField{"field " + field + "." + name + ".protocol: \"" + l4.protocol +
                     "\" is not TCP, UDP or SCTP"};
    }
    uint64_t port = uint_field(p, port_key);
    if (port == 0 || port > 65535) {
      throw BadField{"field " + field + "." + name + ".port is not in 1..65535"};
    }
    l4.port = uint16_t(port);
    out[name] = l4;
  }
  return out;
}
std::map<std::string, PortMap> decode_addr_ports(const json& j, const char* key) {
  std::map<std::string, PortMap> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_object()) throw BadField{std::string("field ") + key + " is not an object"};
  for (const auto& [ip, ports] : it->items()) {
    require_ip(ip, std::string(key) + "." + ip);
    out[ip] = decode_ports(ports, std::string(key) + "." + ip);
  }
  return out;
}

}  // namespace

namespace {

ParsedKey parse_key_parts(std::string_view key) {
  ParsedKey k;
  if (key.starts_with(kClusterConfigPrefix)) {
    auto name = key.substr(kClusterConfigPrefix.size());
    if (!name.empty() && name.find('/') == std::string_view::npos) {
      k.kind = ParsedKey::Kind::ClusterConfig;
      k.cluster = std::string(name);
    }
    return k;
  }
  if (split_cluster(key, kNodesPrefix, k)) {
    if (k.name.find('/') == std::string::npos) k.kind = ParsedKey::Kind::Node;
    return k;
  }
  if (split_cluster(key, kServicesPrefix, k)) {
    auto slash = k.name.find('/');
    if (slash != std::string::npos && slash > 0 && slash + 1 < k.name.size() &&
        k.name.find('/', slash + 1) == std::string::npos) {
      k.kind = ParsedKey::Kind::Service;
    }
    return k;
  }
  if (split_cluster(key, kIpPrefix, k)) {
    if (k.name.find('/') == std::string::npos) k.kind = ParsedKey::Kind::Ip;
    return k;
  }
  if (key.starts_with(kIdentitiesPrefix)) {
    auto num = key.substr(kIdentitiesPrefix.size());
    if (auto id = parse_integer<uint32_t>(num)) {
      k.kind = ParsedKey::Kind::Identity;
      k.id = *id;
      k.name = std::string(num);
    }
    return k;
  }
  if (split_cluster(key, kSyncedPrefix, k)) {
    // <cluster>/cilium/state/<kind>/v1
    std::string_view rest = k.name;
    if (rest.starts_with("cilium/state/") && rest.ends_with("/v1")) {
      k.kind = ParsedKey::Kind::Synced;
      k.name = std::string(rest.substr(13, rest.size() - 13 - 3));
    }
    return k;
  }
  return ParsedKey{};
}

}  // namespace

ParsedKey parse_key(std::string_view key) {
  ParsedKey k = parse_key_parts(key);
  if (k.kind == ParsedKey::Kind::Other) return ParsedKey{};
  return k;
}

std::string encode(const ClusterConfigRecord& r) {
  json j = {
      {"id", r.id},
      {"capabilities",
       {{"syncedCanaries", r.synced_canaries}, {"maxConnectedClusters", r.max_connected_clusters}}},
      {"podCIDRs", r.pod_cidrs}};
  return j.dump();
}

Result<ClusterConfigRecord> decode_cluster_config(std::string_view value) {
  return guarded(value, [](const json& j) {
    ClusterConfigRecord r;
    r.id = uint32_t(uint_field(j, "id"));
    if (auto c = j.find("capabilities"); c != j.end() && c->is_object()) {
      r.synced_canaries = bool_field(*c, "syncedCanaries", false);
      r.max_connected_clusters = uint32_t(uint_field(*c, "maxConnectedClusters", false));
      if (r.max_connected_clusters == 0) r.max_connected_clusters = 255;
    } else {
      r.synced_canaries = false;
    }
    if (auto p = j.find("podCIDRs"); p != j.end() && !p->is_null()) {
      if (!p->is_array()) throw BadField{"field podCIDRs is not a list"};
      for (const auto& c : *p) {
        if (!c.is_string()) throw BadField{"field podCIDRs has a non-string entry"};
        r.pod_cidrs.push_back(c.get<std::string>());
      }
    }
    return r;
  });
}

std::string encode(const NodeRecord& r) {
  json addrs = json::array();
  for (const auto& a : r.addresses)
    addrs.push_back({{"Type", a.type}, {"IP", a.ip}});
  json secondary = json::array();
  for (size_t i = 1; i < r.pod_cidrs.size(); ++i)
    secondary.push_back(encode_ipnet(r.pod_cidrs[i]));
  json j = {{"Name", r.name},
            {"Cluster", r.cluster},
            {"ClusterID", r.cluster_id},
            {"IPAddresses", std::move(addrs)},
            {"IPv4AllocCIDR", r.pod_cidrs.empty() ? json(nullptr) : encode_ipnet(r.pod_cidrs[0])},
            {"IPv4SecondaryAllocCIDRs", std::move(secondary)},
            {"Labels", r.labels}};
  return j.dump();
}

Result<NodeRecord> decode_node(std::string_view value) {
  return guarded(value, [](const json& j) {
    NodeRecord r;
    r.name = str_field(j, "Name");
    r.cluster = str_field(j, "Cluster");
    r.cluster_id = uint32_t(uint_field(j, "ClusterID", false));
    if (auto a = j.find("IPAddresses"); a != j.end() && !a->is_null()) {
      if (!a->is_array()) throw BadField{"field IPAddresses is not a list"};
      for (const auto& e : *a) {
        NodeAddress na{str_field(e, "Type"), str_field(e, "IP")};
        require_ip(na.ip, "IPAddresses.IP");
        r.addresses.push_back(std::move(na));
      }
    }
    if (auto c = j.find("IPv4AllocCIDR"); c != j.end() && !c->is_null()) {
      r.pod_cidrs.push_back(decode_ipnet(*c, "IPv4AllocCIDR"));
    }
    if (auto s = j.find("IPv4SecondaryAllocCIDRs"); s != j.end() && s->is_array()) {
      for (const auto& c : *s)
        r.pod_cidrs.push_back(decode_ipnet(c, "IPv4SecondaryAllocCIDRs"));
    }
    r.labels = string_map(j, "Labels");
    return r;
  });
}

std::string encode(const ServiceRecord& r) {
  json fe = json::object(), be = json::object();
  for (const auto& [ip, ports] : r.frontends)
    fe[ip] = encode_ports(ports);
  for (const auto& [ip, ports] : r.backends)
    be[ip] = encode_ports(ports);
  json j = {{"cluster", r.cluster},
            {"namespace", r.ns},
            {"name", r.name},
            {"frontends", std::move(fe)},
            {"backends", std::move(be)},
            {"labels", r.labels},
            {"selector", r.selector},
            {"includeExternal", r.include_external},
            {"shared", r.shared},
            {"clusterID", r.cluster_id}};
  return j.dump();
}

Result<ServiceRecord> decode_service(std::string_view value) {
  return guarded(value, [](const json& j) {
    ServiceRecord r;
    r.cluster = str_field(j, "cluster");
    r.ns = str_field(j, "namespace");
    r.name = str_field(j, "name");
    r.frontends = decode_addr_ports(j, "frontends");
    r.backends = decode_addr_ports(j, "backends");
    r.labels = string_map(j, "labels");
    r.selector = string_map(j, "selector");
    r.include_external = bool_field(j, "includeExternal", true);
    r.shared = bool_field(j, "shared", true);
    r.cluster_id = uint32_t(uint_field(j, "clusterID", false));
    return r;
  });
}

std::string encode(const IdentityRecord& r) {
  return json(r.labels).dump();
}

Result<IdentityRecord> decode_identity(uint32_t id, std::string_view value) {
  IdentityRecord r;
  r.id = id;
  if (!value.empty() && value.front() == '[') {
    auto j = json::parse(value, nullptr, false);
    if (j.is_discarded() || !j.is_array()) return Error{"value is not a JSON list of labels"};
    for (const auto& l : j) {
      if (!l.is_string()) return Error{"label list has a non-string entry"};
      r.labels.push_back(l.get<std::string>());
    }
  } else {
    // Cilium's allocator writes the labels as "k8s:a=b;k8s:c=d;".
    size_t start = 0;
    while (start < value.size()) {
      auto semi = value.find(';', start);
      auto part = value.substr(start, semi == std::string_view::npos ? semi : semi - start);
      if (!part.empty()) r.labels.emplace_back(part);
      if (semi == std::string_view::npos) break;
      start = semi + 1;
    }
  }
  if (r.labels.empty()) return Error{"identity has no labels"};
  std::sort(r.labels.begin(), r.labels.end());
  return r;
}

std::string encode(const EndpointRecord& r) {
  json j = {{"IP", r.ip},     {"HostIP", r.host_ip},  {"ID", r.identity},    {"Key", 0},
            {"Metadata", ""}, {"K8sNamespace", r.ns}, {"K8sPodName", r.pod}, {"NodeName", r.node}};
  return j.dump();
}

Result<EndpointRecord> decode_endpoint(std::string_view value) {
  return guarded(value, [](const json& j) {
    EndpointRecord r;
    r.ip = str_field(j, "IP");
    require_ip(r.ip, "IP");
    r.host_ip = str_field(j, "HostIP", false);
    if (!r.host_ip.empty()) require_ip(r.host_ip, "HostIP");
    uint64_t id = uint_field(j, "ID");
    if (id > 0xffffffffu) throw BadField{"field ID is out of range"};
    r.identity = uint32_t(id);
    r.ns = str_field(j, "K8sNamespace", false);
    r.pod = str_field(j, "K8sPodName", false);
    r.node = str_field(j, "NodeName", false);
    return r;
  });
}

}  // namespace netagent::mesh::kvstore
