#include "netagent/k8s/decode.hpp"

#include "netagent/common/base64.hpp"
#include "netagent/common/ip.hpp"

namespace netagent::k8s {

std::string DecodeError::str() const {
  std::string out = source.str();
  if (!object.empty()) out += ": " + object;
  if (!field.empty()) out += ": " + field;
  return out + ": " + message;
}

const char* to_string(Protocol p) {
  switch (p) {
    case Protocol::TCP:
      return "TCP";
    case Protocol::UDP:
      return "UDP";
    case Protocol::SCTP:
      return "SCTP";
  }
  return "?";
}

std::optional<Protocol> parse_protocol(const std::string& s) {
  if (s == "TCP") return Protocol::TCP;
  if (s == "UDP") return Protocol::UDP;
  if (s == "SCTP") return Protocol::SCTP;
  return std::nullopt;
}

std::optional<IpAddress> Node::primary_ip() const {
  for (const char* type : {"InternalIP", "ExternalIP"}) {
    for (const auto& a : addresses) {
      if (a.type == type && a.ip) return a.ip;
    }
  }
  return std::nullopt;
}

Object read_object(const YAML::Node& doc, SourceRef source) {
  Field root(doc, "");
  if (!root.is_map()) root.fail("a Kubernetes object must be a YAML map");
  Object obj;
  obj.raw = doc;
  obj.source = std::move(source);
  obj.api_version = root["apiVersion"].str();
  obj.kind = root["kind"].str();
  auto md = root["metadata"];
  obj.meta.name = md["name"].str();
  obj.meta.ns = md["namespace"].str_or("");
  obj.meta.labels = md["labels"].string_map();
  obj.meta.annotations = md["annotations"].string_map();
  return obj;
}

std::optional<DecodeError> guard(const Object& obj, const std::function<void()>& fn) {
  try {
    fn();
    return std::nullopt;
  } catch (const FieldError& e) {
    return DecodeError{obj.source, obj.display(), e.path, e.what()};
  } catch (const YAML::Exception& e) {
    return DecodeError{obj.source, obj.display(), "", e.what()};
  }
}

Protocol decode_protocol(const Field& f, Protocol def) {
  if (!f.present()) return def;
  auto p = parse_protocol(f.str());
  if (!p) f.fail("unsupported protocol \"" + f.str() + "\" (expected TCP, UDP or SCTP)");
  return *p;
}

uint16_t decode_port(const Field& f) {
  return uint16_t(f.integer(1, 65535));
}

IpAddress decode_ip(const Field& f) {
  auto s = f.str();
  auto a = IpAddress::parse(s);
  if (!a) f.fail("\"" + s + "\" is not an IP address");
  return *a;
}

IpAddress decode_ip(const Field& f, IpFamily family) {
  auto s = f.str();
  auto a = IpAddress::parse(s);
  if (!a || a->family() != family) {
    f.fail("\"" + s + "\" is not an " + to_string(family) + " address");
  }
  return *a;
}

IpAddress decode_ipv4(const Field& f) {
  return decode_ip(f, IpFamily::v4);
}

IpPrefix decode_cidr(const Field& f) {
  auto s = f.str();
  if (s.find('/') == std::string::npos) f.fail("\"" + s + "\" is not a CIDR (missing /prefix)");
  auto p = IpPrefix::parse(s);
  if (!p) f.fail("\"" + s + "\" is not a valid CIDR");
  return *p;
}

namespace {

PortRef decode_port_ref(const Field& f) {
  PortRef r;
  if (!f.present()) return r;
  auto s = f.str();
  if (!s.empty() && s.find_first_not_of("0123456789") == std::string::npos) {
    r.number = uint16_t(f.integer(1, 65535));
  } else {
    r.name = s;
  }
  return r;
}

ObjectMeta meta_of(const Object& obj, bool namespaced) {
  ObjectMeta m = obj.meta;
  if (namespaced && m.ns.empty()) m.ns = "default";
  if (!namespaced) m.ns.clear();
  return m;
}

}  // namespace

Service decode_service(const Object& obj) {
  Field root(obj.raw, "");
  auto spec = root["spec"];
  Service s;
  s.meta = meta_of(obj, true);
  s.source = obj.source;
  s.type =
      spec["type"].one_of({"ClusterIP", "NodePort", "LoadBalancer", "ExternalName"}, "ClusterIP");
  std::vector<Field> cluster_ips = spec["clusterIPs"].items();
  if (cluster_ips.empty()) {
    if (auto ip = spec["clusterIP"].opt_str(); ip && !ip->empty()) {
      cluster_ips.push_back(spec["clusterIP"]);
    }
  }
  for (const auto& f : cluster_ips) {
    if (f.str() == "None") {
      // "None" makes the service headless when it comes first, as the API server has it.
      if (s.cluster_ips.empty()) s.cluster_ip_none = true;
      continue;
    }
    s.cluster_ips.push_back(decode_ipv4(f));
  }
  for (auto& pf : spec["ports"].items()) {
    ServicePort p;
    p.name = pf["name"].str_or("");
    p.protocol = decode_protocol(pf["protocol"]);
    p.port = decode_port(pf["port"]);
    p.target_port = decode_port_ref(pf["targetPort"]);
    if (p.target_port.empty()) p.target_port.number = p.port;
    if (auto np = pf["nodePort"].opt_integer(1, 65535)) p.node_port = uint16_t(*np);
    s.ports.push_back(std::move(p));
  }
  if (s.ports.size() > 1) {
    for (size_t i = 0; i < s.ports.size(); ++i) {
      if (s.ports[i].name.empty()) {
        spec["ports"].items()[i]["name"].fail("is required when a Service has several ports");
      }
    }
  }
  if (spec["selector"].present()) s.selector = spec["selector"].string_map();
  for (auto& f : spec["externalIPs"].items())
    s.external_ips.push_back(decode_ipv4(f));
  if (auto ip = spec["loadBalancerIP"].opt_str(); ip && !ip->empty()) {
    s.load_balancer_ip = decode_ipv4(spec["loadBalancerIP"]);
  }
  s.load_balancer_class = spec["loadBalancerClass"].opt_str();
  for (auto& f : spec["loadBalancerSourceRanges"].items()) {
    s.load_balancer_source_ranges.push_back(decode_cidr(f));
  }
  s.external_traffic_local =
      spec["externalTrafficPolicy"].one_of({"Cluster", "Local"}, "Cluster") == "Local";
  s.internal_traffic_local =
      spec["internalTrafficPolicy"].one_of({"Cluster", "Local"}, "Cluster") == "Local";
  s.session_affinity_client_ip =
      spec["sessionAffinity"].one_of({"None", "ClientIP"}, "None") == "ClientIP";
  if (auto t = spec["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"].opt_integer(1, 86400)) {
    s.session_affinity_timeout = uint32_t(*t);
  }
  s.publish_not_ready_addresses = spec["publishNotReadyAddresses"].opt_boolean().value_or(false);
  for (auto& ing : root["status"]["loadBalancer"]["ingress"].items()) {
    if (ing["ip"].present()) s.status_ingress_ips.push_back(decode_ipv4(ing["ip"]));
  }
  return s;
}

EndpointSlice decode_endpoint_slice(const Object& obj) {
  Field root(obj.raw, "");
  EndpointSlice es;
  es.meta = meta_of(obj, true);
  es.source = obj.source;
  auto it = es.meta.labels.find("kubernetes.io/service-name");
  if (it == es.meta.labels.end()) {
    root["metadata"]["labels"]["kubernetes.io/service-name"].fail(
        "is required: it names the Service this slice belongs to");
  }
  es.service_name = it->second;
  es.address_type = root["addressType"].one_of({"IPv4", "IPv6", "FQDN"}, "IPv4");
  for (auto& ef : root["endpoints"].items()) {
    Endpoint e;
    auto addresses = ef["addresses"].items();
    if (addresses.empty()) ef["addresses"].fail("must list at least one address");
    for (auto& a : addresses) {
      if (es.address_type == "FQDN") continue;
      e.addresses.push_back(decode_ip(a, es.address_type == "IPv4" ? IpFamily::v4 : IpFamily::v6));
    }
    auto c = ef["conditions"];
    e.conditions.ready = c["ready"].opt_boolean();
    e.conditions.serving = c["serving"].opt_boolean();
    e.conditions.terminating = c["terminating"].opt_boolean();
    e.node_name = ef["nodeName"].str_or("");
    e.zone = ef["zone"].str_or("");
    if (ef["targetRef"]["kind"].str_or("") == "Pod")
      e.target_pod = ef["targetRef"]["name"].str_or("");
    for (auto& h : ef["hints"]["forZones"].items())
      e.zone_hints.push_back(h["name"].str());
    es.endpoints.push_back(std::move(e));
  }
  for (auto& pf : root["ports"].items()) {
    EndpointPort p;
    p.name = pf["name"].str_or("");
    p.protocol = decode_protocol(pf["protocol"]);
    p.port = decode_port(pf["port"]);
    es.ports.push_back(std::move(p));
  }
  return es;
}

Pod decode_pod(const Object& obj) {
  Field root(obj.raw, "");
  Pod p;
  p.meta = meta_of(obj, true);
  p.source = obj.source;
  auto spec = root["spec"];
  p.node_name = spec["nodeName"].str_or("");
  p.host_network = spec["hostNetwork"].opt_boolean().value_or(false);
  for (auto& c : spec["containers"].items()) {
    for (auto& pf : c["ports"].items()) {
      ContainerPort cp;
      cp.name = pf["name"].str_or("");
      cp.container_port = decode_port(pf["containerPort"]);
      cp.protocol = decode_protocol(pf["protocol"]);
      p.ports.push_back(std::move(cp));
    }
  }
  for (auto& ipf : root["status"]["podIPs"].items())
    p.pod_ips.push_back(decode_ipv4(ipf["ip"]));
  if (p.pod_ips.empty() && root["status"]["podIP"].present()) {
    p.pod_ips.push_back(decode_ipv4(root["status"]["podIP"]));
  }
  return p;
}

Namespace decode_namespace(const Object& obj) {
  Namespace n;
  n.meta = meta_of(obj, false);
  // The API server sets this label on every namespace; manifests may omit it.
  n.meta.labels.emplace("kubernetes.io/metadata.name", n.meta.name);
  n.source = obj.source;
  return n;
}

Node decode_node(const Object& obj) {
  Field root(obj.raw, "");
  Node n;
  n.meta = meta_of(obj, false);
  n.source = obj.source;
  for (auto& a : root["status"]["addresses"].items()) {
    NodeAddress na{a["type"].str(), a["address"].str(), std::nullopt};
    if (na.type == "InternalIP" || na.type == "ExternalIP") na.ip = decode_ip(a["address"]);
    n.addresses.push_back(std::move(na));
  }
  for (auto& c : root["spec"]["podCIDRs"].items())
    n.pod_cidrs.push_back(decode_cidr(c));
  if (n.pod_cidrs.empty() && root["spec"]["podCIDR"].present()) {
    n.pod_cidrs.push_back(decode_cidr(root["spec"]["podCIDR"]));
  }
  return n;
}

ConfigMap decode_config_map(const Object& obj) {
  Field root(obj.raw, "");
  ConfigMap c;
  c.meta = meta_of(obj, true);
  c.source = obj.source;
  c.data = root["data"].string_map();
  return c;
}

Secret decode_secret(const Object& obj) {
  Field root(obj.raw, "");
  Secret s;
  s.meta = meta_of(obj, true);
  s.source = obj.source;
  s.type = root["type"].str_or("Opaque");
  for (auto& [k, f] : root["data"].entries()) {
    auto v = base64_decode(f.str());
    if (!v) f.fail("is not valid base64");
    s.data[k] = *v;
  }
  // stringData is write-only convenience in the API; it wins over data for the same key.
  for (auto& [k, v] : root["stringData"].string_map())
    s.data[k] = v;
  return s;
}

}  // namespace netagent::k8s
