#include "netagent/datapath/abi.hpp"

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

// clang-format off
#define NETAGENT_F(S, f) AbiField{#f, offsetof(S, f), sizeof(static_cast<S*>(nullptr)->f)}
// clang-format on

const std::vector<AbiStruct>& abi_structs() {
  static const std::vector<AbiStruct> all = {
      {"lb4_svc_key",
       sizeof(lb4_svc_key),
       {NETAGENT_F(lb4_svc_key, address), NETAGENT_F(lb4_svc_key, dport),
        NETAGENT_F(lb4_svc_key, backend_slot), NETAGENT_F(lb4_svc_key, proto),
        NETAGENT_F(lb4_svc_key, scope), NETAGENT_F(lb4_svc_key, pad)}},
      {"lb4_svc_value",
       sizeof(lb4_svc_value),
       {NETAGENT_F(lb4_svc_value, backend_id), NETAGENT_F(lb4_svc_value, svc_id),
        NETAGENT_F(lb4_svc_value, count), NETAGENT_F(lb4_svc_value, flags),
        NETAGENT_F(lb4_svc_value, affinity_timeout)}},
      {"lb4_backend",
       sizeof(lb4_backend),
       {NETAGENT_F(lb4_backend, address), NETAGENT_F(lb4_backend, port),
        NETAGENT_F(lb4_backend, proto), NETAGENT_F(lb4_backend, flags),
        NETAGENT_F(lb4_backend, cluster_id), NETAGENT_F(lb4_backend, pad)}},
      {"lb4_revnat",
       sizeof(lb4_revnat),
       {NETAGENT_F(lb4_revnat, address), NETAGENT_F(lb4_revnat, port),
        NETAGENT_F(lb4_revnat, pad)}},
      {"lb4_sock_key",
       sizeof(lb4_sock_key),
       {NETAGENT_F(lb4_sock_key, cookie), NETAGENT_F(lb4_sock_key, address),
        NETAGENT_F(lb4_sock_key, port), NETAGENT_F(lb4_sock_key, pad)}},
      {"lb4_sock_value",
       sizeof(lb4_sock_value),
       {NETAGENT_F(lb4_sock_value, address), NETAGENT_F(lb4_sock_value, port),
        NETAGENT_F(lb4_sock_value, pad), NETAGENT_F(lb4_sock_value, svc_id)}},
      {"lb_affinity_key",
       sizeof(lb_affinity_key),
       {NETAGENT_F(lb_affinity_key, client), NETAGENT_F(lb_affinity_key, svc_id),
        NETAGENT_F(lb_affinity_key, netns), NETAGENT_F(lb_affinity_key, pad)}},
      {"lb_affinity_value",
       sizeof(lb_affinity_value),
       {NETAGENT_F(lb_affinity_value, last_used_ns), NETAGENT_F(lb_affinity_value, backend_id),
        NETAGENT_F(lb_affinity_value, pad)}},
      {"ct4_key",
       sizeof(ct4_key),
       {NETAGENT_F(ct4_key, saddr), NETAGENT_F(ct4_key, daddr), NETAGENT_F(ct4_key, sport),
        NETAGENT_F(ct4_key, dport), NETAGENT_F(ct4_key, proto), NETAGENT_F(ct4_key, dir),
        NETAGENT_F(ct4_key, pad)}},
      {"ct4_value",
       sizeof(ct4_value),
       {NETAGENT_F(ct4_value, created_ns), NETAGENT_F(ct4_value, last_seen_ns),
        NETAGENT_F(ct4_value, nat_addr), NETAGENT_F(ct4_value, nat_port),
        NETAGENT_F(ct4_value, flags), NETAGENT_F(ct4_value, pad), NETAGENT_F(ct4_value, backend_id),
        NETAGENT_F(ct4_value, svc_id), NETAGENT_F(ct4_value, snat_addr),
        NETAGENT_F(ct4_value, snat_port), NETAGENT_F(ct4_value, pad2)}},
      {"lb4_device",
       sizeof(lb4_device),
       {NETAGENT_F(lb4_device, snat_addr), NETAGENT_F(lb4_device, pad)}},
      {"lb_config",
       sizeof(lb_config),
       {NETAGENT_F(lb_config, maglev_table_size), NETAGENT_F(lb_config, hash_seed),
        NETAGENT_F(lb_config, nodeport_min), NETAGENT_F(lb_config, nodeport_max),
        NETAGENT_F(lb_config, flags)}},
      {"drop_counter",
       sizeof(drop_counter),
       {NETAGENT_F(drop_counter, packets), NETAGENT_F(drop_counter, bytes)}},
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
        NETAGENT_F(flow_event, len), NETAGENT_F(flow_event, pad)}},
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

}  // namespace netagent::datapath
