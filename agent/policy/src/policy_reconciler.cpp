#include "netagent/enforcement/policy_reconciler.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <filesystem>

#include "netagent/datapath/abi.hpp"
#include "netagent/datapath/attach.hpp"
#include "netagent/policy/decode.hpp"

namespace netagent::enforcement {

using nlohmann::json;

namespace {

// TC priority of the policy filters on an endpoint's veth (nothing else is attached there).
constexpr uint32_t kTcPriority = 1;

datapath::TcHook hook(uint32_t ifindex, datapath::TcDirection d) {
  return datapath::TcHook{int(ifindex), d, kTcPriority, 1};
}

policy::EnforcementMode mode_of(agent::PolicyEnforcement p) {
  switch (p) {
    case agent::PolicyEnforcement::Always:
      return policy::EnforcementMode::Always;
    case agent::PolicyEnforcement::Never:
      return policy::EnforcementMode::Never;
    default:
      return policy::EnforcementMode::Default;
  }
}

bool is_policy_drop(unsigned reason) {
  return reason == DROP_POLICY_DENIED || reason == DROP_POLICY_DENY_RULE;
}

// "allowed", "audited", "denied" (policy) or "dropped" (anything else).
const char* event_verdict(const flow_event& e) {
  if (e.verdict == FLOW_VERDICT_FORWARDED) return "allowed";
  if (e.verdict == FLOW_VERDICT_AUDIT) return "audited";
  return is_policy_drop(e.drop_reason) ? "denied" : "dropped";
}

// IPv4 addresses of this network namespace's interfaces, loopback aside.
std::vector<Ipv4Addr> local_addresses() {
  std::vector<Ipv4Addr> out;
  ifaddrs* ifs = nullptr;
  if (getifaddrs(&ifs) != 0) return out;
  for (auto* i = ifs; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK))
      continue;
    auto a = Ipv4Addr::from_be(reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr);
    if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
  }
  freeifaddrs(ifs);
  std::sort(out.begin(), out.end(), [](auto x, auto y) { return x.value < y.value; });
  return out;
}

std::optional<uint32_t> parse_u32(const std::string& s) {
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

Result<MonitorFilter> MonitorFilter::from_query(const std::map<std::string, std::string>& q) {
  MonitorFilter f;
  for (const auto& [k, v] : q) {
    if (k == "type") {
      if (v == "drop") {
        f.type = v;
      } else if (v == "policy-verdict" || v == "verdict" || v == "policy") {
        f.type = "policy-verdict";
      } else {
        return Error{"type \"" + v + "\" is not drop or policy-verdict"};
      }
    } else if (k == "verdict") {
      static const std::set<std::string> known = {"allowed", "denied", "audited", "dropped"};
      if (!known.count(v)) {
        return Error{"verdict \"" + v + "\" is not allowed, denied, audited or dropped"};
      }
      f.verdict = v;
    } else if (k == "endpoint") {
      f.endpoint = v;
    } else if (k == "identity") {
      auto id = parse_u32(v);
      if (!id) return Error{"identity \"" + v + "\" is not a number"};
      f.identity = *id;
    } else {
      return Error{"unknown filter \"" + k + "\" (type, verdict, endpoint, identity)"};
    }
  }
  return f;
}

bool MonitorFilter::matches(const json& e) const {
  if (!type.empty() && e.value("type", "") != type) return false;
  if (!verdict.empty() && e.value("verdict", "") != verdict) return false;
  if (!endpoint.empty() && endpoint != std::to_string(e.value("endpoint_id", 0u)) &&
      endpoint != e.value("endpoint", "")) {
    return false;
  }
  if (identity && e.value("src_identity", 0u) != *identity &&
      e.value("dst_identity", 0u) != *identity) {
    return false;
  }
  return true;
}

PolicyReconciler::PolicyReconciler(agent::Agent& agent)
    : agent_(agent), store_(agent.config().state_dir + "/endpoints.json") {
  const auto& cfg = agent.config();
  settings_.mode = mode_of(cfg.policy_enforcement);
  settings_.audit = cfg.policy_audit_mode;
  settings_.node_name = cfg.node_name;
}

PolicyReconciler::~PolicyReconciler() = default;

void PolicyReconciler::register_kinds(k8s::KindRegistry& registry) {
  policy::register_kinds(registry);
}

Status PolicyReconciler::start() {
  const auto& cfg = agent_.config();
  std::error_code ec;
  std::filesystem::create_directories(cfg.state_dir, ec);
  if (ec) return Error{"create --state-dir " + cfg.state_dir + ": " + ec.message()};
  if (auto st = store_.load(); !st) return st.error().wrap("read the registered endpoints");

  policy::PolicyDatapathOptions o;
  o.pin_root = cfg.bpf_root;
  auto dp = policy::PolicyDatapath::load(o);
  if (!dp) {
    return dp.error().wrap(
        "load the policy datapath (if pinned maps from an incompatible version are in the way, "
        "`netagent --cleanup` removes them)");
  }
  dp_ = std::move(*dp);
  auto state = dp_->read_state();
  if (!state) return state.error().wrap("read back the pinned policy maps");
  programmed_ = std::move(*state);

  auto reader = datapath::RingBufferReader::open(
      agent_.io(), dp_->events_fd(), [this](std::span<const uint8_t> b) { on_record(b); });
  if (!reader) return reader.error().wrap("read the policy flow events");
  events_ = std::move(*reader);

  // Endpoints from before a restart: program them first, then put the (new) programs on
  // their veths. Their filters are still attached; attaching replaces the program atomically.
  for (const auto& [id, ep] : store_.all()) {
    auto idx = datapath::ifindex_of(ep.interface);
    if (!idx) {
      spdlog::warn(
          "policy: endpoint {} ({}): interface {} is gone; keeping the registration "
          "until the CNI plugin deletes it",
          id, ep.key(), ep.interface);
      continue;
    }
    store_.find_mutable(id)->ifindex = uint32_t(*idx);
  }
  // The maps still hold what the previous run programmed: swap the new programs in at once
  // and leave the maps alone until the first snapshot (compiling an empty one now would open
  // every endpoint for a moment). If the maps were lost (a reboot cleared bpffs), packets drop
  // as from an unknown endpoint until then: fail closed.
  for (const auto& [id, ep] : store_.all()) {
    if (!ep.ifindex) continue;
    if (auto st = attach(*store_.find_mutable(id)); !st) {
      spdlog::warn("policy: endpoint {} ({}): {}", id, ep.key(), st.error().str());
    }
  }
  spdlog::info("policy: enforcement {}{}, {} endpoints restored, {} map entries found",
               to_string(settings_.mode), settings_.audit ? " (audit mode)" : "",
               store_.all().size(), programmed_.policy.entries.size());
  return {};
}

Status PolicyReconciler::apply(const k8s::Snapshot& snapshot) {
  // The agent holds the snapshot it applies; share it rather than copy it.
  auto held = agent_.snapshot();
  snapshot_ = held.get() == &snapshot ? held : std::make_shared<const k8s::Snapshot>(snapshot);
  return reprogram();
}

Status PolicyReconciler::reprogram() {
  // Until the first snapshot nothing is known about policy: keep what is programmed.
  if (!snapshot_) return {};
  auto t0 = std::chrono::steady_clock::now();
  auto in = policy::input_from_snapshot(*snapshot_);
  if (!in) return in.error().wrap("read the policies");
  // Registered endpoints are this node's pods with the addresses the CNI gave them; labels
  // come from the Pod manifest when there is one, else from the registration.
  std::vector<policy::LocalEndpoint> locals;
  for (const auto& [id, ep] : store_.all()) {
    auto w = std::find_if(in->workloads.begin(), in->workloads.end(),
                          [&](const auto& w) { return w.ns == ep.ns && w.name == ep.pod; });
    if (w == in->workloads.end()) {
      policy::Workload nw;
      nw.ns = ep.ns;
      nw.name = ep.pod;
      nw.labels = ep.labels;
      in->workloads.push_back(std::move(nw));
      w = std::prev(in->workloads.end());
    }
    w->ips = ep.ips;
    w->node = settings_.node_name;
    locals.push_back(policy::LocalEndpoint{ep.ns, ep.pod, id, ep.ifindex, std::nullopt, ep.ips});
  }
  settings_.host_ips = local_addresses();
  auto cp = policy::compile(*in, compile_options(settings_));
  if (!cp) return cp.error().wrap("compile the policies");
  std::vector<std::string> unknown;
  auto desired = policy::datapath_state(*cp, locals, &unknown);
  auto d = policy::diff(programmed_, desired);
  if (!d.empty()) {
    if (auto st = dp_->apply(d); !st) {
      // Whatever part was written is in the kernel: read it back so the next attempt diffs
      // against the truth.
      if (auto s = dp_->read_state()) programmed_ = std::move(*s);
      return st.error().wrap("program the policy maps");
    }
    spdlog::info("policy: {} map writes (policy +{} -{}, ipcache +{} -{}, endpoints +{} -{})",
                 d.size(), d.policy.upserts.size(), d.policy.deletes.size(),
                 d.ipcache.upserts.size(), d.ipcache.deletes.size(), d.endpoints.upserts.size(),
                 d.endpoints.deletes.size());
  }
  programmed_ = std::move(desired);
  last_diff_ = d.size();
  applies_++;
  // Unsupported features (L7, toFQDNs, ...) are enforced as documented, never silently: each
  // is logged once and listed in status.
  for (const auto& s : cp->statuses) {
    for (const auto& w : s.warnings) {
      std::string line = s.display() + ": " + w;
      if (warned_.insert(line).second) spdlog::warn("policy: {}", line);
    }
  }
  for (const auto& w : cp->warnings) {
    if (warned_.insert(w).second) spdlog::warn("policy: {}", w);
  }
  for (const auto& u : unknown) {
    if (std::find(unknown_.begin(), unknown_.end(), u) == unknown_.end()) {
      spdlog::warn("policy: endpoint {} is not known to the compiler and gets no entries", u);
    }
  }
  unknown_ = std::move(unknown);
  cp_ = std::make_unique<policy::CompiledPolicy>(std::move(*cp));
  // Endpoints registered before the first snapshot get their programs now that their entries
  // exist.
  for (const auto& [id, ep] : store_.all()) {
    if (!ep.ifindex || ep.attached) continue;
    if (auto st = attach(*store_.find_mutable(id)); !st) {
      spdlog::warn("policy: endpoint {} ({}): {}", id, ep.key(), st.error().str());
    }
  }
  if (apply_seconds_) {
    apply_seconds_->observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return {};
}

Status PolicyReconciler::attach(Endpoint& ep) {
  // Ingress of the host veth carries what the pod sends (its egress policy), egress of the
  // host veth what is delivered to it (its ingress policy).
  if (auto st = datapath::tc_attach(hook(ep.ifindex, datapath::TcDirection::Ingress),
                                    dp_->from_endpoint_fd());
      !st) {
    return st.error().wrap("attach the egress policy program to " + ep.interface);
  }
  if (auto st = datapath::tc_attach(hook(ep.ifindex, datapath::TcDirection::Egress),
                                    dp_->to_endpoint_fd());
      !st) {
    return st.error().wrap("attach the ingress policy program to " + ep.interface);
  }
  ep.attached = true;
  return {};
}

void PolicyReconciler::detach(const Endpoint& ep) {
  // Only when the interface is still the one registered (the CNI may have deleted the veth,
  // and its ifindex may have been reused).
  auto idx = datapath::ifindex_of(ep.interface);
  if (!idx || uint32_t(*idx) != ep.ifindex) return;
  for (auto d : {datapath::TcDirection::Ingress, datapath::TcDirection::Egress}) {
    if (auto st = datapath::tc_detach(hook(ep.ifindex, d)); !st) {
      spdlog::warn("policy: detach from {}: {}", ep.interface, st.error().str());
    }
  }
}

api::Reply PolicyReconciler::register_endpoint(const api::Request& r) {
  if (!dp_) return api::unavailable("the policy datapath is not loaded yet");
  auto ep = Endpoint::from_json(r.body);
  if (!ep) return api::bad_request("endpoint registration: " + ep.error().message);
  auto idx = datapath::ifindex_of(ep->interface);
  if (!idx) {
    return api::bad_request("endpoint " + ep->key() + ": interface " + ep->interface +
                            " does not exist in the agent's network namespace");
  }
  ep->ifindex = uint32_t(*idx);
  for (const auto& [id, other] : store_.all()) {
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
  const Endpoint* previous = store_.find(ep->ns, ep->pod);
  std::optional<Endpoint> before;
  if (previous) before = *previous;
  const Endpoint& stored = store_.put(std::move(*ep));
  uint32_t id = stored.id;
  auto rollback = [&] {
    if (before) {
      store_.put(*before);
    } else {
      store_.remove(id);
    }
    (void)reprogram();
    (void)store_.save();
  };
  // The file first (a crash after it: the next start programs and attaches the endpoint), then
  // the maps (the program drops packets of devices it has no endpoint for), then the programs.
  if (auto st = store_.save(); !st) {
    rollback();
    return api::internal("endpoint registration: " + st.error().str());
  }
  if (auto st = reprogram(); !st) {
    rollback();
    return api::internal("endpoint registration: " + st.error().str());
  }
  if (snapshot_) {
    if (auto st = attach(*store_.find_mutable(id)); !st) {
      rollback();
      return api::internal("endpoint registration: " + st.error().str());
    }
  }
  if (before && before->ifindex != store_.find(id)->ifindex) detach(*before);
  spdlog::info("policy: endpoint {} {} registered on {} ({})", id, store_.find(id)->key(),
               store_.find(id)->interface, before ? "updated" : "new");
  return json(endpoint_json(*store_.find(id)));
}

api::Reply PolicyReconciler::delete_endpoint(const Endpoint& ep) {
  Endpoint copy = ep;
  detach(copy);
  store_.remove(copy.id);
  if (auto st = reprogram(); !st) {
    spdlog::warn("policy: remove the entries of endpoint {}: {} (retried on the next change)",
                 copy.key(), st.error().str());
  }
  if (auto st = store_.save(); !st) spdlog::error("policy: {}", st.error().str());
  spdlog::info("policy: endpoint {} {} deleted", copy.id, copy.key());
  return json{{"deleted", copy.to_json()}};
}

json PolicyReconciler::endpoint_json(const Endpoint& ep) const {
  json j = ep.to_json();
  j["ifindex"] = ep.ifindex;
  j["state"] = !ep.ifindex ? "interface-missing" : ep.attached ? "enforcing" : "pending";
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
          {"endpoints", store_.all().size()}};
}

json PolicyReconciler::status() const {
  json j = policy_json();
  j.erase("policies");
  j["unsupported"] = j["unsupported"].size();
  j["last_apply_map_writes"] = last_diff_;
  j["flow_events"] = events_seen_;
  j["monitor_clients"] = subscribers_.size();
  return j;
}

json PolicyReconciler::event_json(const policy::PolicyFlowRecord& r) const {
  const flow_event& e = r.event;
  auto ep = [](uint32_t a, uint16_t p) {
    return Ipv4Addr::from_be(a).str() + ":" + std::to_string(ntohs(p));
  };
  json j = {{"time_ns", e.timestamp_ns},
            {"type", e.type == FLOW_EVENT_DROP ? "drop" : "policy-verdict"},
            {"verdict", event_verdict(e)},
            {"direction", e.direction == FLOW_DIR_EGRESS ? "egress" : "ingress"},
            {"protocol", protocol_name(e.proto)},
            {"source", ep(e.saddr, e.sport)},
            {"destination", ep(e.daddr, e.dport)},
            {"src_identity", e.src_identity},
            {"dst_identity", e.dst_identity},
            {"endpoint_id", e.endpoint_id},
            {"ifindex", e.ifindex},
            {"length", e.len},
            {"match", match_type_name(e.match_type)}};
  j["reason"] = e.drop_reason ? datapath::drop_reason_name(e.drop_reason) : "";
  if (const auto* s = store_.find(e.endpoint_id)) j["endpoint"] = s->key();
  if (cp_) {
    if (e.src_identity) j["src_identity_name"] = cp_->describe_identity(e.src_identity);
    if (e.dst_identity) j["dst_identity_name"] = cp_->describe_identity(e.dst_identity);
    if (r.rule) {
      const auto* rule = cp_->rule(r.rule);
      j["rule"] = rule ? rule->str() : "rule #" + std::to_string(r.rule);
    }
  }
  return j;
}

void PolicyReconciler::on_record(std::span<const uint8_t> bytes) {
  auto r = policy::decode_flow_record(bytes);
  if (!r) return;
  events_seen_++;
  const flow_event& ev = r->event;
  if (flow_events_) {
    flow_events_
        ->with({ev.direction == FLOW_DIR_EGRESS ? "egress" : "ingress", event_verdict(ev),
                ev.drop_reason ? datapath::drop_reason_name(ev.drop_reason) : "none"})
        .inc();
  }
  // A flood of denied packets is a flood of records: describe them only for someone watching.
  if (subscribers_.empty()) return;
  json e = event_json(*r);
  for (const auto& s : subscribers_) {
    if (!s->stream->closed() && s->filter.matches(e)) s->stream->write(e);
  }
}

void PolicyReconciler::register_api(api::Router& router) {
  router.get("/v1/endpoints", [this](const api::Request&) -> api::Reply {
    json list = json::array();
    for (const auto& [id, ep] : store_.all())
      list.push_back(endpoint_json(ep));
    return json{{"endpoints", list}};
  });
  router.post("/v1/endpoints",
              [this](const api::Request& r) -> api::Reply { return register_endpoint(r); });
  auto find = [this](const api::Request& r) -> const Endpoint* {
    if (r.params.count("pod")) return store_.find(r.param("namespace"), r.param("pod"));
    auto id = parse_u32(r.param("id"));
    return id ? store_.find(*id) : nullptr;
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

void PolicyReconciler::register_metrics(metrics::Registry& registry) {
  flow_events_ = &registry.counter("netagent_policy_flow_events_total",
                                   "Flow events of the policy datapath read from the ring "
                                   "buffer, by direction, verdict and drop reason",
                                   {"direction", "verdict", "reason"});
  apply_seconds_ = &registry
                        .histogram("netagent_policy_apply_seconds",
                                   "Time to compile the policies and apply the map diff", {},
                                   {0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5})
                        .get();
  registry.add_collector("policy", [this](metrics::Collection& c) {
    if (!dp_) return;
    if (auto counters = dp_->counters()) {
      for (unsigned dir : {FLOW_DIR_INGRESS, FLOW_DIR_EGRESS}) {
        for (unsigned v : {FLOW_VERDICT_FORWARDED, FLOW_VERDICT_DROPPED, FLOW_VERDICT_AUDIT}) {
          const auto& n = counters->verdicts[dir * POLICY_VERDICT_SLOTS + v];
          c.counter("netagent_policy_verdicts_total",
                    "Packets the policy programs decided (new flows), by direction and verdict",
                    {{"direction", dir == FLOW_DIR_EGRESS ? "egress" : "ingress"},
                     {"verdict", verdict_name(uint8_t(v))}},
                    double(n.packets));
        }
      }
      for (unsigned r = 1; r < __DROP_REASON_MAX; ++r) {
        if (!counters->drops[r].packets) continue;
        c.counter("netagent_policy_drops_total", "Packets dropped by the policy programs",
                  {{"reason", datapath::drop_reason_name(r)}}, double(counters->drops[r].packets));
      }
    }
    c.gauge("netagent_policy_endpoints", "Endpoints registered on this node", {},
            double(store_.all().size()));
    c.gauge("netagent_policy_identities", "Security identities known", {},
            cp_ ? double(cp_->identities.size()) : 0);
    c.gauge("netagent_policy_map_entries", "Policy map entries programmed", {},
            double(programmed_.policy.entries.size()));
    c.gauge("netagent_policy_ipcache_entries", "ipcache entries programmed", {},
            double(programmed_.ipcache.entries.size()));
    size_t unsupported = 0;
    if (cp_) {
      for (const auto& s : cp_->statuses)
        unsupported += s.warnings.size();
    }
    c.gauge("netagent_policy_unsupported_rules",
            "Policy fields this datapath does not enforce as written (L7, toFQDNs, ...)", {},
            double(unsupported));
  });
}

void PolicyReconciler::stop() {
  for (const auto& s : subscribers_)
    s->stream->close();
  subscribers_.clear();
  events_.reset();
}

Status PolicyReconciler::cleanup() {
  if (auto st = store_.load(); !st) return st;
  for (const auto& [id, ep] : store_.all()) {
    auto idx = datapath::ifindex_of(ep.interface);
    if (!idx) continue;
    for (auto d : {datapath::TcDirection::Ingress, datapath::TcDirection::Egress})
      (void)datapath::tc_detach(hook(uint32_t(*idx), d));
  }
  std::error_code ec;
  std::filesystem::remove(store_.path(), ec);
  return {};
}

}  // namespace netagent::enforcement
