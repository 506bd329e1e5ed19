/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* What the two connection trackers share. The LB's (nodeport.bpf.c, ct4_global) holds NAT
 * state: the backend a flow is pinned to and the SNAT port it claimed, with the agent's GC as
 * its clock. Policy's (lib/policy_ct.bpf.h, policy_ct) caches verdicts per endpoint and expires
 * entries itself, in jiffies. Different state, different maps; one way to build their keys from
 * a parsed packet, to see a connection close and to update an entry's flags. Kernel side only. */
#ifndef NETAGENT_CONNTRACK_BPF_H
#define NETAGENT_CONNTRACK_BPF_H

#include "lib/parse.bpf.h"

/* The tuple fields of a conntrack key (struct ct4_key, struct policy_ct_key: both start with
 * saddr, daddr, sport, dport, proto), for its designated initializer: the packet's own tuple,
 * e.g. {CT_TUPLE(p), .dir = CT_DIR_FORWARD}, and the tuple its reply carries. */
#define CT_TUPLE(p)                                                                                \
	.saddr = (p)->saddr, .daddr = (p)->daddr, .sport = (p)->sport, .dport = (p)->dport,        \
	.proto = (p)->proto
#define CT_TUPLE_REPLY(p)                                                                          \
	.saddr = (p)->daddr, .daddr = (p)->saddr, .sport = (p)->dport, .dport = (p)->sport,        \
	.proto = (p)->proto

/* TCP FIN or RST: the connection is closing (both trackers shorten its life). */
static __always_inline int ct_closing(const struct pkt4 *p)
{
	return p->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST);
}

/* Sets flags on an entry, writing only when one is missing: a write per packet would bounce the
 * entry's cache line between CPUs. */
static __always_inline void ct_set_flags(__u8 *flags, __u8 want)
{
	if ((*flags & want) != want)
		*flags |= want;
}

#endif
