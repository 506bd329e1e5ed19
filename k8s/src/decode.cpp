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
  FieldErrors errs;
  errs.check([&] { obj.api_version = root["apiVersion"].str(); });
  errs.check([&] { obj.kind = root["kind"].str(); });
  auto md = root["metadata"];
  errs.check([&] { obj.meta.name = md["name"].str(); });
  errs.check([&] { obj.meta.ns = md["namespace"].str_or(""); });
  errs.check([&] { obj.meta.labels = md["labels"].string_map(); });
  errs.check([&] { obj.meta.annotations = md["annotations"].string_map(); });
  errs.raise();
  return obj;
}

std::vector<DecodeError> decode_errors(const SourceRef& source, const std::string& object,
                                       const FieldError& e) {
  std::vector<DecodeError> out;
  out.push_back(DecodeError{source, object, e.path, e.what()});
  for (const auto& m : e.more) {
    auto nested = decode_errors(source, object, m);
    out.insert(out.end(), nested.begin(), nested.end());
  }
  return out;
}

std::optional<DecodeError> guard(const Object& obj, const std::function<void()>& fn) {
  auto all = guard_all(obj, fn);
  if (all.empty()) return std::nullopt;
  return std::move(all.front());
}

std::vector<DecodeError> guard_all(const Object& obj, const std::function<void()>& fn) {
  try {
    fn();
    return {};
  } catch (const FieldError& e) {
    return decode_errors(obj.source, obj.display(), e);
  } catch (const YAML::Exception& e) {
    return {DecodeError{obj.source, obj.display(), "", e.what()}};
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

// Every decoder below checks each field (and each list item) on its own under a FieldErrors, so
// that one bad field does not hide the next: all of them are reported at once.

Service decode_service(const Object& obj) {
  Field root(obj.raw, "");
  FieldErrors errs;
  Field spec = root["spec"];
  errs.check([&] { (void)spec["type"]; });  // spec must be a map
  if (!errs.empty()) errs.raise();
  Service s;
  s.meta = meta_of(obj, true);
  s.source = obj.source;
  errs.check([&] {
    s.type =
        spec["type"].one_of({"ClusterIP", "NodePort", "LoadBalancer", "ExternalName"}, "ClusterIP");
  });
  std::vector<Field> cluster_ips = errs.items(spec["clusterIPs"]);
  if (cluster_ips.empty()) {
    errs.check([&] {
      if (auto ip = spec["clusterIP"].opt_str(); ip && !ip->empty()) {
        cluster_ips.push_back(spec["clusterIP"]);
      }
    });
  }
  for (const auto& f : cluster_ips) {
    errs.check([&] {
      if (f.str() == "None") {
        // "None" makes the service headless when it comes first, as the API server has it.
        if (s.cluster_ips.empty()) s.cluster_ip_none = true;
        return;
      }
      s.cluster_ips.push_back(decode_ipv4(f));
    });
  }
  std::vector<Field> port_fields = errs.items(spec["ports"]);
  for (auto& pf : port_fields) {
    ServicePort p;
    bool ok = errs.check([&] { (void)pf["name"]; });  // the item must be a map
    if (!ok) {
      s.ports.push_back(std::move(p));
      continue;
    }
    errs.check([&] { p.name = pf["name"].str_or(""); });
    errs.check([&] { p.protocol = decode_protocol(pf["protocol"]); });
    errs.check([&] { p.port = decode_port(pf["port"]); });
    errs.check([&] { p.target_port = decode_port_ref(pf["targetPort"]); });
    if (p.target_port.empty()) p.target_port.number = p.port;
    errs.check([&] {
      if (auto np = pf["nodePort"].opt_integer(1, 65535)) p.node_port = uint16_t(*np);
    });
    s.ports.push_back(std::move(p));
  }
  if (s.ports.size() > 1) {
    for (size_t i = 0; i < s.ports.size(); ++i) {
      if (s.ports[i].name.empty() && port_fields[i].is_map()) {
        errs.check(
            [&] { port_fields[i]["name"].fail("is required when a Service has several ports"); });
      }
    }
  }
  errs.check([&] {
    if (spec["selector"].present()) s.selector = spec["selector"].string_map();
  });
  for (auto& f : errs.items(spec["externalIPs"]))
    errs.check([&] { s.external_ips.push_back(decode_ipv4(f)); });
  errs.check([&] {
    if (auto ip = spec["loadBalancerIP"].opt_str(); ip && !ip->empty()) {
      s.load_balancer_ip = decode_ipv4(spec["loadBalancerIP"]);
    }
  });
  errs.check([&] { s.load_balancer_class = spec["loadBalancerClass"].opt_str(); });
  for (auto& f : errs.items(spec["loadBalancerSourceRanges"])) {
    errs.check([&] { s.load_balancer_source_ranges.push_back(decode_cidr(f)); });
  }
  errs.check([&] {
    s.external_traffic_local =
        spec["externalTrafficPolicy"].one_of({"Cluster", "Local"}, "Cluster") == "Local";
  });
  errs.check([&] {
    s.internal_traffic_local =
        spec["internalTrafficPolicy"].one_of({"Cluster", "Local"}, "Cluster") == "Local";
  });
  errs.check([&] {
    s.session_affinity_client_ip =
        spec["sessionAffinity"].one_of({"None", "ClientIP"}, "None") == "ClientIP";
  });
  errs.check([&] {
    if (auto t =
            spec["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"].opt_integer(1, 86400)) {
      s.session_affinity_timeout = uint32_t(*t);
    }
  });
  errs.check([&] {
    s.publish_not_ready_addresses = spec["publishNotReadyAddresses"].opt_boolean().value_or(false);
  });
  errs.check([&] {
    for (auto& ing : errs.items(root["status"]["loadBalancer"]["ingress"])) {
      errs.check([&] {
        if (ing["ip"].present()) s.status_ingress_ips.push_back(decode_ipv4(ing["ip"]));
      });
    }
  });
  errs.raise();
  return s;
}

EndpointSlice decode_endpoint_slice(const Object& obj) {
  Field root(obj.raw, "");
  FieldErrors errs;
  EndpointSlice es;
  es.meta = meta_of(obj, true);
  es.source = obj.source;
  auto it = es.meta.labels.find("kubernetes.io/service-name");
  if (it == es.meta.labels.end()) {
    errs.check([&] {
      root["metadata"]["labels"]["kubernetes.io/service-name"].fail(
          "is required: it names the Service this slice belongs to");
    });
  } else {
    es.service_name = it->second;
  }
  errs.check([&] {
    es.address_type = root["addressType"].one_of({"IPv4", "IPv6", "FQDN"}, "IPv4");
  });
  for (auto& ef : errs.items(root["endpoints"])) {
    Endpoint e;
    if (!errs.check([&] { (void)ef["addresses"]; })) continue;  // the item must be a map
    auto addresses = errs.items(ef["addresses"]);
    if (addresses.empty() && (!ef["addresses"].present() || ef["addresses"].is_seq())) {
      errs.check([&] { ef["addresses"].fail("must list at least one address"); });
    }
    for (auto& a : addresses) {
      if (es.address_type == "FQDN") continue;
      errs.check([&] {
        e.addresses.push_back(
            decode_ip(a, es.address_type == "IPv4" ? IpFamily::v4 : IpFamily::v6));
      });
    }
    auto c = ef["conditions"];
    errs.check([&] { e.conditions.ready = c["ready"].opt_boolean(); });
    errs.check([&] { e.conditions.serving = c["serving"].opt_boolean(); });
    errs.check([&] { e.conditions.terminating = c["terminating"].opt_boolean(); });
    errs.check([&] { e.node_name = ef["nodeName"].str_or(""); });
    errs.check([&] { e.zone = ef["zone"].str_or(""); });
    errs.check([&] {
      if (ef["targetRef"]["kind"].str_or("") == "Pod")
        e.target_pod = ef["targetRef"]["name"].str_or("");
    });
    for (auto& h : errs.items(ef["hints"]["forZones"]))
      errs.check([&] { e.zone_hints.push_back(h["name"].str()); });
    es.endpoints.push_back(std::move(e));
  }
  for (auto& pf : errs.items(root["ports"])) {
    EndpointPort p;
    if (!errs.check([&] { p.name = pf["name"].str_or(""); })) continue;
    errs.check([&] { p.protocol = decode_protocol(pf["protocol"]); });
    errs.check([&] { p.port = decode_port(pf["port"]); });
    es.ports.push_back(std::move(p));
  }
  errs.raise();
  return es;
}

Pod decode_pod(const Object& obj) {
  Field root(obj.raw, "");
  Pod p;
  p.meta = meta_of(obj, true);
  p.source = obj.source;
  FieldErrors errs;
  auto spec = root["spec"];
  errs.check([&] { p.node_name = spec["nodeName"].str_or(""); });
  errs.check([&] { p.host_network = spec["hostNetwork"].opt_boolean().value_or(false); });
  for (auto& c : errs.items(spec["containers"])) {
    std::vector<Field> ports;
    errs.check([&] { ports = c["ports"].items(); });
    for (auto& pf : ports) {
      ContainerPort cp;
      if (!errs.check([&] { cp.name = pf["name"].str_or(""); })) continue;
      errs.check([&] { cp.container_port = decode_port(pf["containerPort"]); });
      errs.check([&] { cp.protocol = decode_protocol(pf["protocol"]); });
      p.ports.push_back(std::move(cp));
    }
  }
  errs.check([&] {
    for (auto& ipf : errs.items(root["status"]["podIPs"]))
      errs.check([&] { p.pod_ips.push_back(decode_ipv4(ipf["ip"])); });
  });
  errs.check([&] {
    if (p.pod_ips.empty() && root["status"]["podIP"].present()) {
      p.pod_ips.push_back(decode_ipv4(root["status"]["podIP"]));
    }
  });
  errs.raise();
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
  FieldErrors errs;
  errs.check([&] {
    for (auto& a : errs.items(root["status"]["addresses"])) {
      errs.check([&] {
        NodeAddress na{a["type"].str(), a["address"].str(), std::nullopt};
        if (na.type == "InternalIP" || na.type == "ExternalIP") na.ip = decode_ip(a["address"]);
        n.addresses.push_back(std::move(na));
      });
    }
  });
  errs.check([&] {
    for (auto& c : errs.items(root["spec"]["podCIDRs"]))
      errs.check([&] { n.pod_cidrs.push_back(decode_cidr(c)); });
  });
  errs.check([&] {
    if (n.pod_cidrs.empty() && root["spec"]["podCIDR"].present()) {
      n.pod_cidrs.push_back(decode_cidr(root["spec"]["podCIDR"]));
    }
  });
  errs.raise();
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
  FieldErrors errs;
  errs.check([&] { s.type = root["type"].str_or("Opaque"); });
  std::vector<std::pair<std::string, Field>> data;
  errs.check([&] { data = root["data"].entries(); });
  for (auto& [k, f] : data) {
    errs.check([&] {
      auto v = base64_decode(f.str());
      if (!v) f.fail("is not valid base64");
      s.data[k] = *v;
    });
  }
  // stringData is write-only convenience in the API; it wins over data for the same key.
  errs.check([&] {
    for (auto& [k, v] : root["stringData"].string_map())
      s.data[k] = v;
  });
  errs.raise();
  return s;
}

}  // namespace netagent::k8s
