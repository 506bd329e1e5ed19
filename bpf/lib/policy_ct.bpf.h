/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Policy conntrack: connections an endpoint's policy allowed, so that their later packets and
 * their replies pass without another policy decision; and the per-CPU flow cache in front of it.
 * Times are jiffies (bpf_jiffies64() is inlined); policy_cfg.hz converts seconds. */
#ifndef NETAGENT_POLICY_CT_BPF_H
#define NETAGENT_POLICY_CT_BPF_H

#include "lib/conntrack.bpf.h"
#include "netagent/policy.h"

/* Set by the loader before load; policy.bpf.c defines it. */
extern const volatile struct policy_config policy_cfg;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, POLICY_CT_MAX_ENTRIES);
	__type(key, struct policy_ct_key);
	__type(value, struct policy_ct_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} policy_ct SEC(".maps");

/* Not pinned: a restarted agent starts with an empty cache, which only costs conntrack lookups. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, POLICY_FLOW_CACHE_SLOTS);
	__type(key, __u32);
	__type(value, struct policy_flow_cache_entry);
} policy_flow_cache SEC(".maps");

static __always_inline __u64 policy_ct_lifetime(const struct policy_ct_value *v, __u8 proto)
{
	__u64 s;

	if (v->flags & POLICY_CT_F_CLOSING)
		s = POLICY_CT_LIFETIME_CLOSING;
	else
		s = proto == IPPROTO_TCP ? POLICY_CT_LIFETIME_TCP : POLICY_CT_LIFETIME_NONTCP;
	return s * policy_cfg.hz;
}

/* Refreshes a live entry and notes FIN/RST and replies; returns 0 when it has expired. */
static __always_inline int policy_ct_touch(struct policy_ct_value *v, const struct pkt4 *p,
					   __u8 seen_reply, __u64 now)
{
	if (now - v->last_seen > policy_ct_lifetime(v, p->proto))
		return 0; /* expired: decide again (the new entry replaces it) */
	ct_set_flags(&v->flags, seen_reply | (ct_closing(p) ? POLICY_CT_F_CLOSING : 0));
	/* Refresh at most once a second: a write per packet would bounce the cache line. */
	if (now - v->last_seen > policy_cfg.hz)
		v->last_seen = now;
	return 1;
}

static __always_inline __u32 policy_flow_cache_slot(const struct policy_ct_key *k)
{
	__u32 h = k->saddr * 0x9e3779b1U;

	h ^= k->daddr * 0x85ebca77U;
	h ^= (((__u32)k->sport << 16) | k->dport) * 0xc2b2ae3dU;
	h ^= (k->proto | ((__u32)k->direction << 8)) ^ k->endpoint_id * 0x27d4eb2fU;
	h ^= h >> 15;
	return h & (POLICY_FLOW_CACHE_SLOTS - 1);
}

static __always_inline int policy_ct_key_equal(const struct policy_ct_key *a,
					       const struct policy_ct_key *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3] && x[4] == y[4];
}

/* Looks the packet up as its own connection's packet, then as a reply. Returns 1 (and
 * refreshes the entry) when it belongs to a live allowed connection. */
static __always_inline int policy_ct_established(const struct pkt4 *p, __u8 dir, __u32 ep_id,
						 __u64 now)
{
	struct policy_ct_key k = {CT_TUPLE(p), .direction = dir, .endpoint_id = ep_id};
	struct policy_ct_key r = {CT_TUPLE_REPLY(p), .direction = !dir, .endpoint_id = ep_id};
	const int closing = ct_closing(p);
	struct policy_flow_cache_entry *c;
	struct policy_ct_value *v;
	__u32 slot = policy_flow_cache_slot(&k);
	int live;

	c = bpf_map_lookup_elem(&policy_flow_cache, &slot);
	if (c && !closing && c->checked && now - c->checked < policy_cfg.hz &&
	    policy_ct_key_equal(&c->key, &k))
		return 1;

	v = bpf_map_lookup_elem(&policy_ct, &k);
	if (v) {
		live = policy_ct_touch(v, p, 0, now);
	} else {
		v = bpf_map_lookup_elem(&policy_ct, &r);
		if (!v)
			return 0;
		live = policy_ct_touch(v, p, POLICY_CT_F_SEEN_REPLY, now);
	}
	if (live && c && !closing) {
		c->key = k;
		c->checked = now;
	}
	return live;
}

static __always_inline void policy_ct_create(const struct pkt4 *p, __u8 dir, __u32 ep_id, __u64 now,
					     __u32 rule, __u8 verdict)
{
	struct policy_ct_key k = {CT_TUPLE(p), .direction = dir, .endpoint_id = ep_id};
	struct policy_ct_value v = {
	    .created = now,
	    .last_seen = now,
	    .rule = rule,
	    .verdict = verdict,
	};

	if (ct_closing(p))
		v.flags |= POLICY_CT_F_CLOSING;
	/* An LRU insert only fails under memory pressure; the packet still passes and the next
	 * packet of the connection is decided again. */
	bpf_map_update_elem(&policy_ct, &k, &v, BPF_ANY);
}

#endif
