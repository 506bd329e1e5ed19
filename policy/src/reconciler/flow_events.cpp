// Flow events: the policy ring buffer's records, counted for Prometheus and streamed to
// `netctl monitor` clients through their filters.
#include <arpa/inet.h>

#include <set>

#include "netagent/common/number.hpp"
#include "netagent/datapath/abi.hpp"
#include "netagent/policy/policy_reconciler.hpp"

namespace netagent::policy {

using nlohmann::json;

namespace {

bool is_policy_drop(unsigned reason) {
  return reason == DROP_POLICY_DENIED || reason == DROP_POLICY_DENY_RULE;
}

// "allowed", "audited", "denied" (policy) or "dropped" (anything else).
const char* event_verdict(const flow_event& e) {
  if (e.verdict == FLOW_VERDICT_FORWARDED) return "allowed";
  if (e.verdict == FLOW_VERDICT_AUDIT) return "audited";
  return is_policy_drop(e.drop_reason) ? "denied" : "dropped";
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
      auto id = parse_integer<uint32_t>(v);
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
            {"match", match_type_name(e.match_type)},
            {"observation_point", e.obs_point == FLOW_OBS_NODEPORT ? "nodeport"
                                  : e.obs_point == FLOW_OBS_SOCKET ? "socket"
                                                                   : "endpoint"}};
  if (e.svc_id) j["service_id"] = e.svc_id;
  j["reason"] = e.drop_reason ? datapath::drop_reason_name(e.drop_reason) : "";
  if (const auto* s = endpoints_.find(e.endpoint_id)) j["endpoint"] = s->key();
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
  if (auto r = policy::decode_flow_record(bytes)) on_flow(*r);
}

void PolicyReconciler::on_flow(const policy::PolicyFlowRecord& r) {
  events_seen_++;
  const flow_event& ev = r.event;
  // LB drops are counted by the LB part (netagent_datapath_drops_total); only streamed here.
  if (flow_events_ && ev.obs_point == FLOW_OBS_ENDPOINT) {
    flow_events_
        ->with({ev.direction == FLOW_DIR_EGRESS ? "egress" : "ingress", event_verdict(ev),
                ev.drop_reason ? datapath::drop_reason_name(ev.drop_reason) : "none"})
        .inc();
  }
  // A flood of denied packets is a flood of records: describe them only for someone watching.
  if (subscribers_.empty()) return;
  json e = event_json(r);
  for (const auto& s : subscribers_) {
    if (!s->stream->closed() && s->filter.matches(e)) s->stream->write(e);
  }
}

}  // namespace netagent::policy
