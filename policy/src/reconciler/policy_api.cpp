// The policy part's API: endpoint registration (what a CNI plugin calls), endpoints, policies,
// identities, trace and the monitor stream.
#include <algorithm>

#include <spdlog/spdlog.h>

#include "netagent/common/number.hpp"
#include "netagent/datapath/attach.hpp"
#include "netagent/policy/policy_reconciler.hpp"

namespace netagent::policy {

using nlohmann::json;

api::Reply PolicyReconciler::register_endpoint(const api::Request& r) {
  if (!dp_) return api::unavailable("the policy datapath is not loaded yet");
  auto ep = Endpoint::from_json(r.body);
  if (!ep) return api::bad_request("endpoint registration: " + ep.error().message);
  // Every refusal is logged and counted by reason; nothing is stored or attached.
  auto refuse = [&](const char* reason, api::ApiError e) {
    ++refused_registrations_;
    if (registrations_refused_) registrations_refused_->with({reason}).inc();
    spdlog::warn("policy: endpoint registration {} refused: {}", ep->key(), e.message);
    return e;
  };
  if (auto why = interface_problem(ep->interface)) {
    const bool uplink =
        std::find(opts_.devices.begin(), opts_.devices.end(), ep->interface) != opts_.devices.end();
    return refuse(uplink ? "uplink" : "loopback",
                  api::bad_request("endpoint " + ep->key() + ": " + *why));
  }
  auto idx = datapath::ifindex_of(ep->interface);
  if (!idx) {
    return refuse("no_interface",
                  api::bad_request("endpoint " + ep->key() + ": interface " + ep->interface +
                                   " does not exist in the agent's network namespace"));
  }
  ep->ifindex = uint32_t(*idx);
  // The addresses must be this node's pod addresses: the Node's spec.podCIDRs. Without a
  // snapshot, or without pod CIDRs for this node, nothing can be checked and nothing is accepted.
  if (!snapshot_) {
    return refuse("no_pod_cidrs",
                  api::unavailable("endpoint " + ep->key() +
                                   ": no desired state is loaded yet, so this node's pod CIDRs "
                                   "are unknown; retry once the manifests are loaded"));
  }
  const k8s::Node* node = snapshot_->node(opts_.node_name);
  const bool any_v4 = node && std::any_of(node->pod_cidrs.begin(), node->pod_cidrs.end(),
                                          [](const IpPrefix& c) { return c.is_v4(); });
  if (!any_v4) {
    return refuse("no_pod_cidrs",
                  api::conflict("endpoint " + ep->key() + ": " +
                                (node ? "Node " + opts_.node_name +
                                            " has no IPv4 spec.podCIDRs in the manifests"
                                      : "no Node manifest named " + opts_.node_name) +
                                ", so no endpoint address can be checked and none is accepted; "
                                "add spec.podCIDRs to this node's Node object"));
  }
  if (auto why = address_refusal(ep->ips, node->pod_cidrs)) {
    return refuse("outside_pod_cidrs", api::bad_request("endpoint " + ep->key() + ": " + *why));
  }
  // Another tool's program at the hook the policy programs use is never replaced.
  for (auto d : {datapath::TcDirection::Ingress, datapath::TcDirection::Egress}) {
    const auto h = endpoint_hook(ep->ifindex, d);
    auto at = datapath::tc_attached_prog(h);
    if (!at) return api::internal("endpoint " + ep->key() + ": " + at.error().str());
    if (*at && !datapath::prog_name_is((*at)->name, own_programs())) {
      return refuse(
          "foreign_program",
          api::conflict("endpoint " + ep->key() + ": interface " + ep->interface +
                        " already runs program " + std::to_string((*at)->id) + " '" + (*at)->name +
                        "' at tc " + (d == datapath::TcDirection::Ingress ? "ingress" : "egress") +
                        " handle " + std::to_string(h.handle) + " priority " +
                        std::to_string(h.priority) +
                        ", which netagent did not attach; it is left in place and the endpoint is "
                        "not registered"));
    }
  }
  for (const auto& [id, other] : endpoints_.all()) {
    if (other.ns == ep->ns && other.pod == ep->pod) continue;
    for (auto a : ep->ips) {
      if (std::find(other.ips.begin(), other.ips.end(), a) != other.ips.end()) {
        return api::conflict("endpoint " + ep->key() + ": address " + a.str() +
                             " belongs to endpoint " + other.key() + " (id " + std::to_string(id) +
                             ")");
      }
    }
    if (other.ifindex == ep->ifindex) {
      return api::conflict("endpoint " + ep->key() + ": interface " + ep->interface +
                           " belongs to endpoint " + other.key());
    }
  }
  const Endpoint* previous = endpoints_.find(ep->ns, ep->pod);
  std::optional<Endpoint> before;
  if (previous) before = *previous;
  const Endpoint& stored = endpoints_.put(std::move(*ep));
  uint32_t id = stored.id;
  auto rollback = [&] {
    if (before) {
      endpoints_.put(*before);
    } else {
      endpoints_.remove(id);
    }
    (void)reprogram();
    (void)endpoints_.save();
  };
  // The file first (a crash after it: the next start programs and attaches the endpoint), then
  // the maps (the program drops packets of devices it has no endpoint for), then the programs.
  if (auto st = endpoints_.save(); !st) {
    rollback();
    return api::internal("endpoint registration: " + st.error().str());
  }
  if (auto st = reprogram(); !st) {
    rollback();
    return api::internal("endpoint registration: " + st.error().str());
  }
  if (auto st = attach(*endpoints_.find_mutable(id)); !st) {
    rollback();
    if (st.error().errnum == EEXIST) {
      // Another tool's filter appeared at the hook since the check above.
      return refuse("foreign_program",
                    api::conflict("endpoint registration: " + st.error().message));
    }
    return api::internal("endpoint registration: " + st.error().str());
  }
  if (before && before->ifindex != endpoints_.find(id)->ifindex) detach(*before);
  spdlog::info("policy: endpoint {} {} registered on {} ({})", id, endpoints_.find(id)->key(),
               endpoints_.find(id)->interface, before ? "updated" : "new");
  return json(endpoint_json(*endpoints_.find(id)));
}

api::Reply PolicyReconciler::delete_endpoint(const Endpoint& ep) {
  Endpoint copy = ep;
  detach(copy);
  endpoints_.remove(copy.id);
  if (auto st = reprogram(); !st) {
    spdlog::warn("policy: remove the entries of endpoint {}: {} (retried on the next change)",
                 copy.key(), st.error().str());
  }
  if (auto st = endpoints_.save(); !st) spdlog::error("policy: {}", st.error().str());
  spdlog::info("policy: endpoint {} {} deleted", copy.id, copy.key());
  return json{{"deleted", copy.to_json()}};
}

json PolicyReconciler::endpoint_json(const Endpoint& ep) const {
  json j = ep.to_json();
  j["ifindex"] = ep.ifindex;
  j["state"] = !ep.ifindex           ? "interface-missing"
               : ep.attached         ? "enforcing"
               : !ep.refused.empty() ? "refused"
                                     : "pending";
  if (!ep.refused.empty()) j["refused"] = ep.refused;
  const policy::EndpointInfo* info = cp_ ? cp_->endpoint(ep.ns, ep.pod) : nullptr;
  if (info) {
    j["identity"] = info->identity;
    j["identity_labels"] = cp_->describe_identity(info->identity);
    bool in = info->policy && info->policy->enforced[policy::index_of(policy::Direction::Ingress)];
    bool eg = info->policy && info->policy->enforced[policy::index_of(policy::Direction::Egress)];
    j["ingress_enforced"] = in;
    j["egress_enforced"] = eg;
    j["audit"] = info->audit;
    size_t entries = 0;
    for (const auto& [k, v] : programmed_.policy.entries)
      entries += k.endpoint_id == ep.id;
    j["policy_entries"] = entries;
  }
  bool from_manifest = false;
  if (snapshot_) {
    for (const auto& p : snapshot_->pods) {
      if (p.meta.ns == ep.ns && p.meta.name == ep.pod) from_manifest = true;
    }
  }
  j["labels_from"] = from_manifest ? "manifest" : "registration";
  return j;
}

json PolicyReconciler::policy_json() const {
  json policies = json::array();
  json unsupported = json::array();
  if (cp_) {
    for (const auto& s : cp_->statuses) {
      policies.push_back({{"kind", s.kind},
                          {"namespace", s.ns},
                          {"name", s.name},
                          {"source", s.source.file},
                          {"selected_endpoints", s.selected_endpoints},
                          {"warnings", s.warnings}});
      for (const auto& w : s.warnings)
        unsupported.push_back(s.display() + ": " + w);
    }
  }
  return {{"enforcement", to_string(settings_.mode)},
          {"audit_mode", settings_.audit},
          {"policies", policies},
          {"unsupported", unsupported},
          {"warnings", cp_ ? cp_->warnings : std::vector<std::string>{}},
          {"identities", cp_ ? cp_->identities.size() : 0},
          {"ipcache_entries", programmed_.ipcache.entries.size()},
          {"policy_entries", programmed_.policy.entries.size()},
          {"endpoints", endpoints_.all().size()}};
}

json PolicyReconciler::status() const {
  json j = policy_json();
  j.erase("policies");
  j["unsupported"] = j["unsupported"].size();
  j["last_apply_map_writes"] = last_diff_;
  j["flow_events"] = events_seen_;
  j["monitor_clients"] = subscribers_.size();
  j["registrations_refused"] = refused_registrations_;
  size_t refused = 0;
  for (const auto& [id, ep] : endpoints_.all())
    refused += !ep.refused.empty();
  j["endpoints_refused"] = refused;
  return j;
}

void PolicyReconciler::register_api(api::Router& router) {
  router.get("/v1/endpoints", [this](const api::Request&) -> api::Reply {
    json list = json::array();
    for (const auto& [id, ep] : endpoints_.all())
      list.push_back(endpoint_json(ep));
    return json{{"endpoints", list}};
  });
  router.post("/v1/endpoints",
              [this](const api::Request& r) -> api::Reply { return register_endpoint(r); });
  auto find = [this](const api::Request& r) -> const Endpoint* {
    if (r.params.count("pod")) return endpoints_.find(r.param("namespace"), r.param("pod"));
    auto id = parse_integer<uint32_t>(r.param("id"));
    return id ? endpoints_.find(*id) : nullptr;
  };
  auto missing = [](const api::Request& r) {
    std::string what =
        r.params.count("pod") ? r.param("namespace") + "/" + r.param("pod") : "id " + r.param("id");
    return api::not_found("no endpoint " + what + " is registered");
  };
  for (const char* pattern : {"/v1/endpoints/{id}", "/v1/endpoints/{namespace}/{pod}"}) {
    router.get(pattern, [this, find, missing](const api::Request& r) -> api::Reply {
      const auto* ep = find(r);
      if (!ep) return missing(r);
      return endpoint_json(*ep);
    });
    router.del(pattern, [this, find, missing](const api::Request& r) -> api::Reply {
      const auto* ep = find(r);
      if (!ep) return missing(r);
      return delete_endpoint(*ep);
    });
  }
  router.get("/v1/policy", [this](const api::Request&) -> api::Reply { return policy_json(); });
  router.get("/v1/identities", [this](const api::Request&) -> api::Reply {
    json list = json::array();
    if (cp_) {
      for (const auto& [id, labels] : cp_->identities)
        list.push_back({{"id", id}, {"labels", cp_->describe_identity(id)}});
    }
    return json{{"identities", list}};
  });
  router.get("/v1/policy/trace", [this](const api::Request& r) -> api::Reply {
    if (!cp_) return api::unavailable("no policy compiled yet");
    auto req = trace_request(r.query);
    if (!req) return api::bad_request(req.error().message);
    auto t = trace(*cp_, *req);
    if (!t) return api::bad_request(t.error().message);
    return *t;
  });
  router.stream("/v1/monitor",
                [this](const api::Request& r,
                       std::shared_ptr<api::Stream> s) -> std::optional<api::ApiError> {
                  if (!dp_) return api::unavailable("the policy datapath is not loaded yet");
                  auto f = MonitorFilter::from_query(r.query);
                  if (!f) return api::bad_request(f.error().message);
                  auto sub = std::make_shared<Subscriber>(Subscriber{s, *f});
                  subscribers_.push_back(sub);
                  s->on_close([this, sub] {
                    subscribers_.erase(std::remove(subscribers_.begin(), subscribers_.end(), sub),
                                       subscribers_.end());
                  });
                  return std::nullopt;
                });
}

}  // namespace netagent::policy
