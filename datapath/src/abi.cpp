#include "netagent/datapath/abi.hpp"

#include <algorithm>

#include <cstddef>

namespace netagent::datapath {

// Sizes are part of the ABI: pinned maps outlive binaries, so a change here is a map migration.
static_assert(sizeof(lb4_svc_key) == 12);
static_assert(sizeof(lb4_svc_value) == 16);
static_assert(sizeof(lb4_backend) == 12);
static_assert(sizeof(lb4_revnat) == 8);
static_assert(sizeof(lb4_sock_key) == 16);
static_assert(sizeof(lb4_sock_value) == 12);
static_assert(sizeof(lb_affinity_key) == 16);
static_assert(sizeof(lb_affinity_value) == 16);
static_assert(sizeof(ct4_key) == 16);
static_assert(sizeof(ct4_value) == 40);
static_assert(sizeof(lb4_device) == 8);
static_assert(sizeof(lb_config) == 24);
static_assert(sizeof(drop_counter) == 16);
static_assert(sizeof(flow_event) == 56);
static_assert(offsetof(lb4_svc_key, backend_slot) == 6);
static_assert(offsetof(ct4_value, nat_addr) == 16);
static_assert(offsetof(flow_event, saddr) == 16);
static_assert(sizeof(ipcache4_key) == 8);
static_assert(sizeof(ipcache4_value) == 12);
static_assert(sizeof(policy_key) == 16);
static_assert(sizeof(policy_value) == 8);
static_assert(sizeof(policy_endpoint) == 20);
static_assert(sizeof(policy_ct_key) == 20);
static_assert(sizeof(policy_ct_value) == 24);
static_assert(sizeof(policy_flow_cache_entry) == 32);
static_assert(sizeof(policy_config) == 8);

// clang-format off
#define NETAGENT_F(S, f) AbiField{#f, offsetof(S, f), sizeof(static_cast<S*>(nullptr)->f)}
// clang-format on

const std::vector<AbiStruct>& abi_structs() {
  static const std::vector<AbiStruct> all = {
      {"lb4_svc_key",
       sizeof(lb4_svc_key),
       {NETAGENT_F(lb4_svc_key, address), NETAGENT_F(lb4_svc_key, dport),
        NETAGENT_F(lb4_svc_key, backend_slot), NETAGENT_F(lb4_svc_key, proto),
        NETAGENT_F(lb4_svc_key, scope), NETAGENT_F(lb4_svc_key, pad)},
       "nodeport"},
      {"lb4_svc_value",
       sizeof(lb4_svc_value),
       {NETAGENT_F(lb4_svc_value, backend_id), NETAGENT_F(lb4_svc_value, svc_id),
        NETAGENT_F(lb4_svc_value, count), NETAGENT_F(lb4_svc_value, flags),
        NETAGENT_F(lb4_svc_value, affinity_timeout)},
       "nodeport"},
      {"lb4_backend",
       sizeof(lb4_backend),
       {NETAGENT_F(lb4_backend, address), NETAGENT_F(lb4_backend, port),
        NETAGENT_F(lb4_backend, proto), NETAGENT_F(lb4_backend, flags),
        NETAGENT_F(lb4_backend, cluster_id), NETAGENT_F(lb4_backend, pad)},
       "nodeport"},
      {"lb4_revnat",
       sizeof(lb4_revnat),
       {NETAGENT_F(lb4_revnat, address), NETAGENT_F(lb4_revnat, port), NETAGENT_F(lb4_revnat, pad)},
       "nodeport"},
      {"lb4_sock_key",
       sizeof(lb4_sock_key),
       {NETAGENT_F(lb4_sock_key, cookie), NETAGENT_F(lb4_sock_key, address),
        NETAGENT_F(lb4_sock_key, port), NETAGENT_F(lb4_sock_key, pad)},
       "sock_lb"},
      {"lb4_sock_value",
       sizeof(lb4_sock_value),
       {NETAGENT_F(lb4_sock_value, address), NETAGENT_F(lb4_sock_value, port),
        NETAGENT_F(lb4_sock_value, pad), NETAGENT_F(lb4_sock_value, svc_id)},
       "sock_lb"},
      {"lb_affinity_key",
       sizeof(lb_affinity_key),
       {NETAGENT_F(lb_affinity_key, client), NETAGENT_F(lb_affinity_key, svc_id),
        NETAGENT_F(lb_affinity_key, netns), NETAGENT_F(lb_affinity_key, pad)},
       "nodeport"},
      {"lb_affinity_value",
       sizeof(lb_affinity_value),
       {NETAGENT_F(lb_affinity_value, last_used_ns), NETAGENT_F(lb_affinity_value, backend_id),
        NETAGENT_F(lb_affinity_value, pad)},
       "nodeport"},
      {"ct4_key",
       sizeof(ct4_key),
       {NETAGENT_F(ct4_key, saddr), NETAGENT_F(ct4_key, daddr), NETAGENT_F(ct4_key, sport),
        NETAGENT_F(ct4_key, dport), NETAGENT_F(ct4_key, proto), NETAGENT_F(ct4_key, dir),
        NETAGENT_F(ct4_key, pad)},
       "nodeport"},
      {"ct4_value",
       sizeof(ct4_value),
       {NETAGENT_F(ct4_value, created_ns), NETAGENT_F(ct4_value, last_seen_ns),
        NETAGENT_F(ct4_value, nat_addr), NETAGENT_F(ct4_value, nat_port),
        NETAGENT_F(ct4_value, flags), NETAGENT_F(ct4_value, pad), NETAGENT_F(ct4_value, backend_id),
        NETAGENT_F(ct4_value, svc_id), NETAGENT_F(ct4_value, snat_addr),
        NETAGENT_F(ct4_value, snat_port), NETAGENT_F(ct4_value, pad2)},
       "nodeport"},
      {"lb4_device",
       sizeof(lb4_device),
       {NETAGENT_F(lb4_device, snat_addr), NETAGENT_F(lb4_device, pad)},
       "nodeport"},
      {"lb_config",
       sizeof(lb_config),
       {NETAGENT_F(lb_config, maglev_table_size), NETAGENT_F(lb_config, hash_seed),
        NETAGENT_F(lb_config, nodeport_min), NETAGENT_F(lb_config, nodeport_max),
        NETAGENT_F(lb_config, flags)},
       "nodeport"},
      {"drop_counter",
       sizeof(drop_counter),
       {NETAGENT_F(drop_counter, packets), NETAGENT_F(drop_counter, bytes)},
       "nodeport"},
      {"flow_event",
       sizeof(flow_event),
       {NETAGENT_F(flow_event, timestamp_ns), NETAGENT_F(flow_event, type),
        NETAGENT_F(flow_event, verdict), NETAGENT_F(flow_event, direction),
        NETAGENT_F(flow_event, obs_point), NETAGENT_F(flow_event, drop_reason),
        NETAGENT_F(flow_event, proto), NETAGENT_F(flow_event, match_type),
        NETAGENT_F(flow_event, saddr), NETAGENT_F(flow_event, daddr), NETAGENT_F(flow_event, sport),
        NETAGENT_F(flow_event, dport), NETAGENT_F(flow_event, ifindex),
        NETAGENT_F(flow_event, src_identity), NETAGENT_F(flow_event, dst_identity),
        NETAGENT_F(flow_event, endpoint_id), NETAGENT_F(flow_event, svc_id),
        NETAGENT_F(flow_event, len), NETAGENT_F(flow_event, rule)},
       "nodeport"},
      {"policy_key",
       sizeof(policy_key),
       {NETAGENT_F(policy_key, prefixlen), NETAGENT_F(policy_key, endpoint_id),
        NETAGENT_F(policy_key, identity), NETAGENT_F(policy_key, direction),
        NETAGENT_F(policy_key, proto), NETAGENT_F(policy_key, dport)},
       "policy"},
      {"policy_value",
       sizeof(policy_value),
       {NETAGENT_F(policy_value, rule), NETAGENT_F(policy_value, action),
        NETAGENT_F(policy_value, l4), NETAGENT_F(policy_value, pad)},
       "policy"},
      {"policy_endpoint",
       sizeof(policy_endpoint),
       {NETAGENT_F(policy_endpoint, endpoint_id), NETAGENT_F(policy_endpoint, identity),
        NETAGENT_F(policy_endpoint, ifindex), NETAGENT_F(policy_endpoint, addr),
        NETAGENT_F(policy_endpoint, flags), NETAGENT_F(policy_endpoint, pad)},
       "policy"},
      {"policy_ct_key",
       sizeof(policy_ct_key),
       {NETAGENT_F(policy_ct_key, saddr), NETAGENT_F(policy_ct_key, daddr),
        NETAGENT_F(policy_ct_key, sport), NETAGENT_F(policy_ct_key, dport),
        NETAGENT_F(policy_ct_key, proto), NETAGENT_F(policy_ct_key, direction),
        NETAGENT_F(policy_ct_key, pad), NETAGENT_F(policy_ct_key, endpoint_id)},
       "policy"},
      {"policy_ct_value",
       sizeof(policy_ct_value),
       {NETAGENT_F(policy_ct_value, created), NETAGENT_F(policy_ct_value, last_seen),
        NETAGENT_F(policy_ct_value, rule), NETAGENT_F(policy_ct_value, verdict),
        NETAGENT_F(policy_ct_value, flags), NETAGENT_F(policy_ct_value, pad)},
       "policy"},
      {"policy_flow_cache_entry",
       sizeof(policy_flow_cache_entry),
       {NETAGENT_F(policy_flow_cache_entry, key), NETAGENT_F(policy_flow_cache_entry, pad),
        NETAGENT_F(policy_flow_cache_entry, checked)},
       "policy"},
      {"policy_config",
       sizeof(policy_config),
       {NETAGENT_F(policy_config, hz), NETAGENT_F(policy_config, flags)},
       "policy"},
      {"ipcache4_key",
       sizeof(ipcache4_key),
       {NETAGENT_F(ipcache4_key, prefixlen), NETAGENT_F(ipcache4_key, addr)},
       "policy"},
      {"ipcache4_value",
       sizeof(ipcache4_value),
       {NETAGENT_F(ipcache4_value, identity), NETAGENT_F(ipcache4_value, cidr_identity),
        NETAGENT_F(ipcache4_value, flags), NETAGENT_F(ipcache4_value, cluster_id),
        NETAGENT_F(ipcache4_value, pad)},
       "policy"},
  };
  return all;
}

#undef NETAGENT_F

const char* drop_reason_name(unsigned reason) {
  switch (reason) {
    case DROP_NONE:
      return "none";
    case DROP_NO_BACKEND:
      return "no_backend";
    case DROP_MALFORMED_L3:
      return "malformed_l3";
    case DROP_MALFORMED_L4:
      return "malformed_l4";
    case DROP_BACKEND_MISSING:
      return "backend_missing";
    case DROP_MAGLEV_MISSING:
      return "maglev_missing";
    case DROP_CT_CREATE_FAILED:
      return "ct_create_failed";
    case DROP_REWRITE_FAILED:
      return "rewrite_failed";
    case DROP_FRAGMENT:
      return "fragment";
    case DROP_POLICY_DENIED:
      return "policy_denied";
    case DROP_POLICY_DENY_RULE:
      return "policy_deny_rule";
    case DROP_UNKNOWN_ENDPOINT:
      return "unknown_endpoint";
    case DROP_UNSUPPORTED_PROTO:
      return "unsupported_proto";
    case DROP_NO_SNAT_ADDRESS:
      return "no_snat_address";
    case DROP_SNAT_PORTS_EXHAUSTED:
      return "snat_ports_exhausted";
    default:
      return "unknown";
  }
}

const char* lb_counter_name(unsigned counter) {
  switch (counter) {
    case LB_CNT_SVC_NEW:
      return "svc_new";
    case LB_CNT_SVC_EST:
      return "svc_established";
    case LB_CNT_REVNAT:
      return "revnat";
    case LB_CNT_SOCK_CONNECT:
      return "sock_connect";
    case LB_CNT_SOCK_REVNAT:
      return "sock_revnat";
    case LB_CNT_PASS:
      return "pass";
    case LB_CNT_SNAT:
      return "snat";
    case LB_CNT_SNAT_REVERSE:
      return "snat_reverse";
    default:
      return "unknown";
  }
}

const char* flow_verdict_name(unsigned verdict) {
  switch (verdict) {
    case FLOW_VERDICT_FORWARDED:
      return "forwarded";
    case FLOW_VERDICT_DROPPED:
      return "dropped";
    case FLOW_VERDICT_AUDIT:
      return "audit";
    default:
      return "unknown";
  }
}

const char* policy_match_name(unsigned match) {
  switch (match) {
    case POLICY_MATCH_NONE:
      return "none";
    case POLICY_MATCH_L3_ONLY:
      return "L3-only";
    case POLICY_MATCH_L3_L4:
      return "L3-L4";
    case POLICY_MATCH_L4_ONLY:
      return "L4-only";
    case POLICY_MATCH_ALL:
      return "all";
    default:
      return "unknown";
  }
}

const std::vector<AbiEnum>& abi_enums() {
  static const std::vector<AbiEnum> all = {
      {"drop_reason", drop_reason_name, {"__DROP_REASON_MAX"}},
      {"lb_counter", lb_counter_name, {"LB_CNT_UNUSED_6", "__LB_CNT_MAX"}},
      {"flow_verdict", flow_verdict_name, {}},
      {"policy_match_type", policy_match_name, {}},
  };
  return all;
}

const std::vector<PinnedName>& pinned_names() {
  static const std::vector<PinnedName> all = {
      // LIBBPF_PIN_BY_NAME maps, by the object that declares them.
      {"lb4_services", "nodeport", false},
      {"lb4_backends", "nodeport", false},
      {"lb4_revnat", "nodeport", false},
      {"lb4_affinity", "nodeport", false},
      {"lb_stats", "nodeport", false},
      {"ct4_global", "nodeport", false},
      {"lb4_devices", "nodeport", false},
      {"lb4_sock_revnat", "sock_lb", false},
      {"drop_counters", "nodeport", false},
      {"flow_events", "nodeport", false},
      {"policy_ep_dev", "policy", false},
      {"policy_eps", "policy", false},
      {"policy_entries", "policy", false},
      {"ipcache4", "policy", false},
      {"policy_verdicts", "policy", false},
      {"policy_ct", "policy", false},
      // The Maglev tables, pinned with their size (lb4_maglev_<M>): a different M gets fresh
      // tables.
      {"lb4_maglev_", "nodeport", true},
      // Earlier versions' maps (an upgraded agent leaves them unused).
      {"drop_stats", "", false},
      {"policy_drops", "", false},
      {"policy_events", "", false},
      // The socket LB's cgroup links.
      {"links/cgroup_sock4_connect", "", false},
      {"links/cgroup_sock4_sendmsg", "", false},
      {"links/cgroup_sock4_recvmsg", "", false},
      {"links/cgroup_sock4_getpeername", "", false},
  };
  return all;
}

bool is_agent_pin(std::string_view relative) {
  for (const auto& p : pinned_names()) {
    std::string_view name = p.name;
    if (!p.numbered_suffix) {
      if (relative == name) return true;
      continue;
    }
    if (relative.size() <= name.size() || relative.substr(0, name.size()) != name) continue;
    auto tail = relative.substr(name.size());
    if (std::all_of(tail.begin(), tail.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return true;
    }
  }
  return false;
}

}  // namespace netagent::datapath
