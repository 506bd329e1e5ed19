// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Network policy at an endpoint's host-side veth.
 *
 * policy_from_endpoint runs at TC ingress of the host veth (packets the pod sends) and enforces
 * the endpoint's egress policy; policy_to_endpoint runs at TC egress of the host veth (packets to
 * the pod) and enforces its ingress policy. The packet's addresses are the real ones: the socket
 * LB has already connected the client to the backend, so policy judges the backend address.
 *
 * Per packet: parse, find the local endpoint by its address, pass packets of known connections
 * (conntrack), otherwise decide: look up the peer's identity in the ipcache, then the endpoint's
 * policy entries for that identity, for the wildcard identity and (for ipBlock rules) for the
 * peer's CIDR identity. Any deny wins; else any allow allows; else the direction's default. Every
 * decision and every drop is written to the flow event ring buffer (lib/drop.bpf.h). */
#include "lib/drop.bpf.h"
#include "lib/parse.bpf.h"
#include "netagent/drop.h"
#include "netagent/events.h"
#include "netagent/ipcache.h"
#include "netagent/policy.h"

/* Load-time configuration; the loader measures hz (see policy_probe_jiffies). */
const volatile struct policy_config policy_cfg = {.hz = 250};

#include "lib/policy_ct.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, POLICY_EP_DEV_MAX);
	__type(key, __u32);
	__type(value, struct policy_endpoint);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} policy_ep_dev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, POLICY_ENDPOINTS_MAX);
	__type(key, __be32);
	__type(value, struct policy_endpoint);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} policy_eps SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, POLICY_MAP_MAX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct policy_key);
	__type(value, struct policy_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} policy_entries SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, IPCACHE4_MAX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ipcache4_key);
	__type(value, struct ipcache4_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ipcache4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, POLICY_VERDICT_COUNTERS);
	__type(key, __u32);
	__type(value, struct drop_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} policy_verdicts SEC(".maps");

/* Keeps the policy enums the agent names in the object's BTF for the ABI test (values used as
 * constants leave no type). Read-only data, never read. */
const volatile struct {
	enum policy_action action;
	enum policy_match_type match;
} policy_btf_anchor = {};

struct policy_decision {
	__u32 rule;
	__u8 action; /* enum policy_action, 0 = nothing matched */
	__u8 match;  /* enum policy_match_type */
};

static __always_inline void emit(struct __sk_buff *skb, const struct pkt4 *p, __u8 type,
				 __u8 verdict, __u8 dir, __u16 reason,
				 const struct policy_endpoint *ep, __u32 peer_identity,
				 const struct policy_decision *d)
{
	struct flow_event *e = flow_event_reserve(type, verdict);

	if (!e)
		return;
	e->direction = dir;
	e->obs_point = FLOW_OBS_ENDPOINT;
	e->drop_reason = reason;
	e->proto = p->proto;
	e->saddr = p->saddr;
	e->daddr = p->daddr;
	e->sport = p->sport;
	e->dport = p->dport;
	e->ifindex = skb->ifindex;
	e->len = skb->len;
	if (ep) {
		e->endpoint_id = ep->endpoint_id;
		if (dir == FLOW_DIR_EGRESS) {
			e->src_identity = ep->identity;
			e->dst_identity = peer_identity;
		} else {
			e->src_identity = peer_identity;
			e->dst_identity = ep->identity;
		}
	}
	if (d) {
		e->match_type = d->match;
		e->rule = d->rule;
	}
	flow_event_submit(e);
}

static __always_inline int drop(struct __sk_buff *skb, const struct pkt4 *p, __u8 dir, __u16 reason)
{
	count_drop(DROP_SET_POLICY, reason, skb->len);
	emit(skb, p, FLOW_EVENT_DROP, FLOW_VERDICT_DROPPED, dir, reason, 0, 0, 0);
	return TC_ACT_SHOT;
}

/* The destination port policy matches: the TCP, UDP or SCTP destination port; 0 for protocols
 * without ports (the ICMP echo identifier is conntrack's, not a port) and non-first fragments. */
static __always_inline __be16 policy_port(const struct pkt4 *p)
{
	return p->proto == IPPROTO_ICMP ? 0 : p->dport;
}

/* One lookup in the endpoint's entries for one peer identity; folds the result into d. The
 * first deny found decides; among allows the first found (specific identity before wildcard)
 * names the rule. */
static __always_inline void lookup_entries(__u32 ep_id, __u32 identity, __u8 dir,
					   const struct pkt4 *p, struct policy_decision *d)
{
	struct policy_key k = {
	    .prefixlen = POLICY_KEY_FULL_BITS,
	    .endpoint_id = ep_id,
	    .identity = identity,
	    .direction = dir,
	    .proto = p->proto,
	    .dport = policy_port(p),
	};
	struct policy_value *v;
	__u8 match;

	if (d->action == POLICY_ACTION_DENY)
		return;
	v = bpf_map_lookup_elem(&policy_entries, &k);
	if (!v)
		return;
	if (identity)
		match = v->l4 ? POLICY_MATCH_L3_L4 : POLICY_MATCH_L3_ONLY;
	else
		match = v->l4 ? POLICY_MATCH_L4_ONLY : POLICY_MATCH_ALL;
	if (v->action == POLICY_ACTION_DENY || !d->action) {
		d->action = v->action;
		d->rule = v->rule;
		d->match = match;
	}
}

static __always_inline int handle(struct __sk_buff *skb, __u8 dir)
{
	struct policy_decision d = {};
	struct policy_endpoint *ep;
	struct ipcache4_value *peer;
	struct pkt4 p = {};
	__u32 peer_identity = IDENTITY_WORLD, peer_cidr_identity = 0;
	__u8 enforce, lookup, other, verdict;
	__be32 local_addr;
	__u64 now;
	int ret;

	ret = parse_pkt4(skb, &p, PARSE_F_TOT_LEN);
	if (ret == PARSE_NOT_IPV4)
		return TC_ACT_OK;
	if (ret != PARSE_OK)
		return drop(skb, &p, dir, parse_drop_reason(ret));

	local_addr = dir == FLOW_DIR_EGRESS ? p.saddr : p.daddr;
	/* The device's endpoint first (an inlined array lookup); other addresses of endpoints,
	 * large ifindexes and packets from no endpoint device (offline evaluation) by address. */
	ep = 0;
	if (skb->ifindex < POLICY_EP_DEV_MAX) {
		__u32 dev = skb->ifindex;

		ep = bpf_map_lookup_elem(&policy_ep_dev, &dev);
		if (ep && (!ep->endpoint_id || ep->addr != local_addr))
			ep = 0;
	}
	if (!ep) {
		ep = bpf_map_lookup_elem(&policy_eps, &local_addr);
		/* The endpoint's address on another device is a spoofed source (or a stray
		 * destination). */
		if (!ep || (ep->ifindex && ep->ifindex != skb->ifindex))
			return drop(skb, &p, dir, DROP_UNKNOWN_ENDPOINT);
	}

	if (dir == FLOW_DIR_INGRESS) {
		enforce = ep->flags & POLICY_EP_F_INGRESS_ENFORCE;
		lookup = ep->flags & POLICY_EP_F_INGRESS_LOOKUP;
		other = ep->flags & (POLICY_EP_F_EGRESS_ENFORCE | POLICY_EP_F_EGRESS_LOOKUP);
	} else {
		enforce = ep->flags & POLICY_EP_F_EGRESS_ENFORCE;
		lookup = ep->flags & POLICY_EP_F_EGRESS_LOOKUP;
		other = ep->flags & (POLICY_EP_F_INGRESS_ENFORCE | POLICY_EP_F_INGRESS_LOOKUP);
	}
	/* No policy in either direction: nothing to decide and no replies to remember. */
	if (!enforce && !lookup && !other)
		return TC_ACT_OK;

	now = bpf_jiffies64();
	if (policy_ct_established(&p, dir, ep->endpoint_id, now))
		return TC_ACT_OK;

	if (!enforce && !lookup) {
		/* Not policed in this direction, but the reply will be in the other one. */
		policy_ct_create(&p, dir, ep->endpoint_id, now, 0, FLOW_VERDICT_FORWARDED);
		return TC_ACT_OK;
	}

	{
		struct ipcache4_key ik = {
		    .prefixlen = 32,
		    .addr = dir == FLOW_DIR_EGRESS ? p.daddr : p.saddr,
		};

		peer = bpf_map_lookup_elem(&ipcache4, &ik);
		if (peer) {
			peer_identity = peer->identity;
			peer_cidr_identity = peer->cidr_identity;
		}
	}

	if (lookup) {
		lookup_entries(ep->endpoint_id, peer_identity, dir, &p, &d);
		if (peer_cidr_identity)
			lookup_entries(ep->endpoint_id, peer_cidr_identity, dir, &p, &d);
		lookup_entries(ep->endpoint_id, IDENTITY_UNKNOWN, dir, &p, &d);
	}

	if (d.action == POLICY_ACTION_ALLOW || (!d.action && !enforce)) {
		policy_ct_create(&p, dir, ep->endpoint_id, now, d.rule, FLOW_VERDICT_FORWARDED);
		count_packet(&policy_verdicts, dir * POLICY_VERDICT_SLOTS + FLOW_VERDICT_FORWARDED,
			     skb->len);
		emit(skb, &p, FLOW_EVENT_POLICY_VERDICT, FLOW_VERDICT_FORWARDED, dir, 0, ep,
		     peer_identity, &d);
		return TC_ACT_OK;
	}

	/* Denied, by a deny rule or by default. */
	{
		__u16 reason =
		    d.action == POLICY_ACTION_DENY ? DROP_POLICY_DENY_RULE : DROP_POLICY_DENIED;

		if (ep->flags & POLICY_EP_F_AUDIT) {
			verdict = FLOW_VERDICT_AUDIT;
			policy_ct_create(&p, dir, ep->endpoint_id, now, d.rule, verdict);
			count_packet(&policy_verdicts, dir * POLICY_VERDICT_SLOTS + verdict,
				     skb->len);
			emit(skb, &p, FLOW_EVENT_POLICY_VERDICT, verdict, dir, reason, ep,
			     peer_identity, &d);
			return TC_ACT_OK;
		}
		count_packet(&policy_verdicts, dir * POLICY_VERDICT_SLOTS + FLOW_VERDICT_DROPPED,
			     skb->len);
		count_drop(DROP_SET_POLICY, reason, skb->len);
		emit(skb, &p, FLOW_EVENT_DROP, FLOW_VERDICT_DROPPED, dir, reason, ep, peer_identity,
		     &d);
		return TC_ACT_SHOT;
	}
}

SEC("tc")
int policy_from_endpoint(struct __sk_buff *skb)
{
	return handle(skb, FLOW_DIR_EGRESS);
}

SEC("tc")
int policy_to_endpoint(struct __sk_buff *skb)
{
	return handle(skb, FLOW_DIR_INGRESS);
}

/* Returns the low 32 bits of jiffies. The loader runs it twice a known time apart to measure the
 * kernel's HZ, which conntrack needs to count seconds in jiffies. */
SEC("tc")
int policy_probe_jiffies(struct __sk_buff *skb)
{
	return (__u32)bpf_jiffies64();
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
