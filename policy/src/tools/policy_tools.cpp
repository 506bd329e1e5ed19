#include "netagent/policy/policy_tools.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <cctype>

#include "netagent/common/number.hpp"
#include "netagent/datapath/abi.hpp"
#include "netagent/policy/decode.hpp"
#include "netagent/policy/evaluator.hpp"
#include "netagent/policy/kernel_evaluator.hpp"
#include "netagent/source/manifest_loader.hpp"

namespace netagent::policy {

using nlohmann::json;

policy::CompileOptions compile_options(const PolicySettings& s) {
  policy::CompileOptions o;
  o.mode = s.mode;
  o.audit = s.audit;
  o.local_node = s.node_name;
  o.host_ips = s.host_ips;
  o.synthesize_pod_ips = s.synthesize_pod_ips;
  o.cluster_name = s.cluster_name;
  o.cluster_id = s.cluster_id;
  // The agent computes endpoint policies only for its own endpoints (it assigns its registered
  // endpoints to its node); offline tools compute every pod's.
  o.policies_for_node = s.synthesize_pod_ips ? "" : s.node_name;
  return o;
}

Status cluster_from_settings(const std::map<std::string, std::string>& settings,
                             PolicySettings& s) {
  auto name = settings.find("CLUSTER");
  s.cluster_name = name == settings.end() || name->second.empty() ? "default" : name->second;
  s.cluster_id = 0;
  auto id = settings.find("CLUSTER_ID");
  if (id == settings.end() || id->second.empty()) return {};
  try {
    size_t used = 0;
    int v = std::stoi(id->second, &used);
    if (used != id->second.size() || v < 0 || v > 255) throw std::out_of_range("range");
    s.cluster_id = uint8_t(v);
  } catch (const std::exception&) {
    return Error{"cluster-settings CLUSTER_ID \"" + id->second + "\" is not a number in 0..255"};
  }
  return {};
}

Result<std::shared_ptr<const k8s::Snapshot>> load_manifests(const std::string& dir) {
  source::ManifestOptions o;
  policy::register_kinds(o.registry);
  auto load = source::load_manifest_tree(dir, o);
  if (!load.ok()) {
    std::string msg = "the manifests in " + dir + " do not load:";
    for (const auto& e : load.errors)
      msg += "\n  " + e.str();
    if (load.errors.empty()) msg += " (no details)";
    return Error{msg};
  }
  return load.snapshot;
}

Result<uint8_t> parse_protocol(const std::string& s) {
  std::string u = s;
  for (auto& c : u)
    c = char(std::toupper(static_cast<unsigned char>(c)));
  if (u == "TCP") return uint8_t(IPPROTO_TCP);
  if (u == "UDP") return uint8_t(IPPROTO_UDP);
  if (u == "SCTP") return uint8_t(IPPROTO_SCTP);
  if (u == "ICMP") return uint8_t(IPPROTO_ICMP);
  if (auto n = parse_integer<unsigned>(s); n && *n > 0 && *n < 256) return uint8_t(*n);
  return Error{"protocol \"" + s + "\" is not TCP, UDP, SCTP, ICMP or a protocol number 1-255"};
}

std::string protocol_name(uint8_t proto) {
  switch (proto) {
    case IPPROTO_TCP:
      return "TCP";
    case IPPROTO_UDP:
      return "UDP";
    case IPPROTO_SCTP:
      return "SCTP";
    case IPPROTO_ICMP:
      return "ICMP";
    default:
      return std::to_string(proto);
  }
}

const char* match_type_name(uint8_t m) {
  return datapath::policy_match_name(m);
}

const char* verdict_name(uint8_t v) {
  return datapath::flow_verdict_name(v);
}

Result<TraceRequest> trace_request(const std::map<std::string, std::string>& q) {
  TraceRequest r;
  auto get = [&](const char* k) {
    auto it = q.find(k);
    return it == q.end() ? std::string() : it->second;
  };
  r.src = get("src");
  r.dst = get("dst");
  for (auto [key, out] : {std::pair{"src_ip", &r.src_ip}, std::pair{"dst_ip", &r.dst_ip}}) {
    auto v = get(key);
    if (v.empty()) continue;
    auto a = Ipv4Addr::parse(v);
    if (!a) return Error{std::string(key) + " \"" + v + "\" is not an IPv4 address"};
    *out = *a;
  }
  if (r.src.empty() && !r.src_ip) return Error{"give the source: src=NS/POD or src_ip=IP"};
  if (r.dst.empty() && !r.dst_ip) return Error{"give the destination: dst=NS/POD or dst_ip=IP"};
  auto port = get("dport");
  auto n = parse_integer<unsigned>(port);
  if (!n || *n == 0 || *n > 65535) {
    return Error{"dport \"" + port + "\" is not a port number 1-65535"};
  }
  r.dport = uint16_t(*n);
  auto proto = parse_protocol(get("protocol").empty() ? "TCP" : get("protocol"));
  if (!proto) return proto.error();
  r.proto = *proto;
  return r;
}

namespace {

// The address of one side: the explicit IP, else the pod's first address.
Result<std::pair<Ipv4Addr, const policy::EndpointInfo*>> resolve(const policy::CompiledPolicy& cp,
                                                                 const std::string& pod,
                                                                 const std::optional<Ipv4Addr>& ip,
                                                                 const char* side) {
  if (ip) return std::make_pair(*ip, cp.endpoint_at(*ip));
  auto slash = pod.find('/');
  if (slash == std::string::npos) {
    return Error{std::string(side) + " \"" + pod + "\" must be NAMESPACE/POD"};
  }
  const auto* ep = cp.endpoint(pod.substr(0, slash), pod.substr(slash + 1));
  if (!ep) return Error{std::string(side) + " pod " + pod + " is not known (no such Pod)"};
  if (ep->ips.empty()) {
    return Error{std::string(side) + " pod " + pod + " has no IPv4 address (status.podIPs)"};
  }
  return std::make_pair(ep->ips.front(), ep);
}

json side_json(const policy::CompiledPolicy& cp, Ipv4Addr ip, const policy::EndpointInfo* ep) {
  json j = {{"ip", ip.str()}};
  if (ep) {
    j["endpoint"] = ep->key();
    j["identity"] = ep->identity;
  } else {
    const auto* e = cp.ipcache_lookup(ip);
    j["identity"] = e ? e->identity : uint32_t(IDENTITY_WORLD);
  }
  j["identity_name"] = cp.describe_identity(j["identity"].get<uint32_t>());
  return j;
}

const char* verdict_word(policy::Verdict v) {
  switch (v) {
    case policy::Verdict::Allowed:
      return "allowed";
    case policy::Verdict::Denied:
      return "denied";
    case policy::Verdict::Audited:
      return "audited";
    default:
      return "not-policed";
  }
}

json direction_json(const policy::CompiledPolicy& cp, const policy::DirectionDecision& d,
                    policy::Direction dir) {
  json j = {{"verdict", verdict_word(d.verdict)},
            {"endpoint", d.endpoint ? d.endpoint->key() : ""},
            {"match", match_type_name(d.match_type)},
            {"explanation", policy::explain(cp, d, dir)}};
  if (d.rule) {
    const auto* r = cp.rule(d.rule);
    j["rule"] = r ? r->str() : "rule #" + std::to_string(d.rule);
  } else if (d.verdict == policy::Verdict::NotPoliced) {
    j["rule"] = "";
  } else if (d.verdict == policy::Verdict::Allowed) {
    j["rule"] = "default allow (no policy isolates this direction)";
  } else {
    std::string by;
    if (d.endpoint && d.endpoint->policy) {
      for (const auto& p : d.endpoint->policy->isolated_by[policy::index_of(dir)])
        by += (by.empty() ? "" : ", ") + p;
    }
    j["rule"] = "default deny (" +
                (by.empty() ? "policy enforcement mode " + std::string(to_string(cp.options.mode))
                            : "isolated by " + by) +
                ")";
  }
  if (d.drop_reason) j["reason"] = d.drop_reason;
  return j;
}

}  // namespace

Result<json> trace(const policy::CompiledPolicy& cp, const TraceRequest& r) {
  auto src = resolve(cp, r.src, r.src_ip, "source");
  if (!src) return src.error();
  auto dst = resolve(cp, r.dst, r.dst_ip, "destination");
  if (!dst) return dst.error();
  auto ke = policy::KernelEvaluator::create(cp);
  if (!ke) return ke.error().wrap("load the policy program to evaluate the flow");
  policy::Flow f{src->first, dst->first, r.proto, r.dport};
  auto d = (*ke)->decide(f);
  if (!d) return d.error();
  return json{{"source", side_json(cp, src->first, src->second)},
              {"destination", side_json(cp, dst->first, dst->second)},
              {"protocol", protocol_name(r.proto)},
              {"dport", r.dport},
              {"enforcement", to_string(cp.options.mode)},
              {"egress", direction_json(cp, d->egress, policy::Direction::Egress)},
              {"ingress", direction_json(cp, d->ingress, policy::Direction::Ingress)},
              {"allowed", d->allowed()}};
}

Result<policy::Reachability> matrix(const policy::CompiledPolicy& cp, uint16_t port,
                                    uint8_t proto) {
  auto ke = policy::KernelEvaluator::create(cp);
  if (!ke) return ke.error().wrap("load the policy program to evaluate the matrix");
  return (*ke)->matrix(port, proto);
}

}  // namespace netagent::policy
