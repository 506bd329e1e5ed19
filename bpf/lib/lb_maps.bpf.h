/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The service load-balancing maps. Both LB objects (socket and TC) include this header; the maps
 * are pinned by name under the agent's bpf root, so the two objects and successive agent
 * processes share one copy of each. */
#ifndef NETAGENT_LB_MAPS_BPF_H
#define NETAGENT_LB_MAPS_BPF_H

#include "lib/common.bpf.h"
#include "netagent/lb.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144); /* frontends plus their backend slots */
	__type(key, struct lb4_svc_key);
	__type(value, struct lb4_svc_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb4_services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct lb4_backend);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb4_backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct lb4_revnat);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb4_revnat SEC(".maps");

/* Maglev lookup tables, one inner array per north-south service: a single element holding all M
 * backend ids, replaced whole. The agent sizes the inner value (M * 4 bytes) before load and pins
 * this map under a name that includes M, so changing M never mixes table sizes. */
struct lb4_maglev_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32)); /* no BTF types: the value size is set at load time */
	__uint(value_size, 16381 * sizeof(__u32));
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, LB_MAX_SERVICES);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct lb4_maglev_inner);
} lb4_maglev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct lb_affinity_key);
	__type(value, struct lb_affinity_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb4_affinity SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, __LB_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_stats SEC(".maps");

/* Load-time configuration (read-only data, set by the agent before load). */
const volatile struct lb_config lb_cfg = {
    .maglev_table_size = 16381,
    .nodeport_min = 30000,
    .nodeport_max = 32767,
};

/* Keeps the LB enums the agent names in the objects' BTF for the ABI test (values used as
 * constants leave no type). Read-only data, never read. */
const volatile struct {
	enum lb_counter counter;
	enum lb_scope scope;
	enum ct_dir dir;
} lb_btf_anchor = {};

static __always_inline void lb_count(__u32 counter)
{
	__u64 *v = bpf_map_lookup_elem(&lb_stats, &counter);

	if (v)
		*v += 1;
}

static __always_inline struct lb4_svc_value *lb4_lookup_service(__be32 addr, __be16 port,
								__u8 proto, __u8 scope)
{
	struct lb4_svc_key key = {
	    .address = addr,
	    .dport = port,
	    .backend_slot = 0,
	    .proto = proto,
	    .scope = scope,
	};

	return bpf_map_lookup_elem(&lb4_services, &key);
}

/* The backend id in slot 1..count of a frontend. */
static __always_inline __u32 lb4_slot_backend(__be32 addr, __be16 port, __u8 proto, __u8 scope,
					      __u16 slot)
{
	struct lb4_svc_key key = {
	    .address = addr,
	    .dport = port,
	    .backend_slot = slot,
	    .proto = proto,
	    .scope = scope,
	};
	struct lb4_svc_value *v = bpf_map_lookup_elem(&lb4_services, &key);

	return v ? v->backend_id : 0;
}

/* Maglev: the backend for a flow hash, or 0 when the service has no table. */
static __always_inline __u32 lb4_maglev_backend(__u32 table_id, __u32 hash)
{
	__u32 zero = 0, m = lb_cfg.maglev_table_size, idx;
	void *inner = bpf_map_lookup_elem(&lb4_maglev, &table_id);
	__u32 *table;

	if (!inner || m == 0)
		return 0;
	table = bpf_map_lookup_elem(inner, &zero);
	if (!table)
		return 0;
	idx = hash % m;
	/* The verifier knows m (frozen read-only data) but not that hash % m < m: keep an explicit
	 * bound check that the compiler cannot prove away. */
	asm volatile("" : "+r"(idx));
	if (idx >= m)
		return 0;
	return table[idx];
}

static __always_inline __u32 lb4_flow_hash(__be32 saddr, __be32 daddr, __be16 sport, __be16 dport,
					   __u8 proto)
{
	return hash_3words(saddr ^ lb_cfg.hash_seed[0], daddr ^ lb_cfg.hash_seed[1],
			   (((__u32)sport << 16) | dport) ^ lb_cfg.hash_seed[2], proto);
}

#endif
