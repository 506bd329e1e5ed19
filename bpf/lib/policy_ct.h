/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Policy conntrack: connections an endpoint's policy allowed, so that their later packets and
 * their replies pass without another policy decision. */
#ifndef NETAGENT_BPF_LIB_POLICY_CT_H
#define NETAGENT_BPF_LIB_POLICY_CT_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

#include "netagent/policy.h"
#include "lib/policy_parse.h"

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_RST 0x04
#define NSEC_PER_SEC 1000000000ULL

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, POLICY_CT_MAX_ENTRIES);
	__type(key, struct policy_ct_key);
	__type(value, struct policy_ct_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} policy_ct SEC(".maps");

static __always_inline __u64 policy_ct_lifetime(const struct policy_ct_value *v, __u8 proto)
{
	if (v->flags & POLICY_CT_F_CLOSING)
		return POLICY_CT_LIFETIME_CLOSING_NS;
	return proto == IPPROTO_TCP ? POLICY_CT_LIFETIME_TCP_NS : POLICY_CT_LIFETIME_NONTCP_NS;
}

/* Refreshes a live entry and notes FIN/RST and replies; returns 0 when it has expired. */
static __always_inline int policy_ct_touch(struct policy_ct_value *v, const struct policy_pkt *p,
					   __u8 seen_reply, __u64 now)
{
	__u8 flags = v->flags;

	if (now - v->last_seen_ns > policy_ct_lifetime(v, p->proto))
		return 0; /* expired: decide again (the new entry replaces it) */
	if (p->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST))
		flags |= POLICY_CT_F_CLOSING;
	flags |= seen_reply;
	if (flags != v->flags)
		v->flags = flags;
	/* Refresh at most once a second: a write per packet would bounce the cache line. */
	if (now - v->last_seen_ns > NSEC_PER_SEC)
		v->last_seen_ns = now;
	return 1;
}

/* Looks the packet up as its own connection's packet, then as a reply. Returns 1 (and
 * refreshes the entry) when it belongs to a live allowed connection. */
static __always_inline int policy_ct_established(const struct policy_pkt *p, __u8 dir, __u32 ep_id,
						 __u64 now)
{
	struct policy_ct_key k = {
		.saddr = p->saddr,
		.daddr = p->daddr,
		.sport = p->sport,
		.dport = p->dport,
		.proto = p->proto,
		.direction = dir,
		.endpoint_id = ep_id,
	};
	struct policy_ct_value *v;

	v = bpf_map_lookup_elem(&policy_ct, &k);
	if (v)
		return policy_ct_touch(v, p, 0, now);
	k.saddr = p->daddr;
	k.daddr = p->saddr;
	k.sport = p->dport;
	k.dport = p->sport;
	k.direction = !dir;
	v = bpf_map_lookup_elem(&policy_ct, &k);
	if (v)
		return policy_ct_touch(v, p, POLICY_CT_F_SEEN_REPLY, now);
	return 0;
}

static __always_inline void policy_ct_create(const struct policy_pkt *p, __u8 dir, __u32 ep_id,
					     __u64 now, __u32 rule, __u8 verdict)
{
	struct policy_ct_key k = {
		.saddr = p->saddr,
		.daddr = p->daddr,
		.sport = p->sport,
		.dport = p->dport,
		.proto = p->proto,
		.direction = dir,
		.endpoint_id = ep_id,
	};
	struct policy_ct_value v = {
		.created_ns = now,
		.last_seen_ns = now,
		.rule = rule,
		.verdict = verdict,
	};

	if (p->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST))
		v.flags |= POLICY_CT_F_CLOSING;
	/* An LRU insert only fails under memory pressure; the packet still passes and the next
	 * packet of the connection is decided again. */
	bpf_map_update_elem(&policy_ct, &k, &v, BPF_ANY);
}

#endif
