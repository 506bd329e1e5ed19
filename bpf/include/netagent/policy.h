/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Network policy in the datapath: local endpoints, per-endpoint policy entries, the policy
 * conntrack and the verdict counters, shared by bpf/policy.bpf.c and the agent.
 *
 * Policy entries live in one LPM trie for all endpoints (Cilium's newer layout, adapted): the key
 * is (endpoint, peer identity, direction) matched exactly, then protocol and destination port
 * matched as a prefix. A port range is a handful of prefixes; "any port of a protocol" is the
 * 80-bit prefix; "any protocol, any port" is the 72-bit prefix. The protocol is wildcarded only
 * together with the whole port. The peer wildcard (identity 0) is a second lookup. The compiler
 * makes the trie's longest match the right answer: an allow entry that a deny entry of the same
 * peer covers is written as a deny, so "deny wins" needs no second pass in the kernel. */
#ifndef NETAGENT_POLICY_H
#define NETAGENT_POLICY_H

#include <linux/types.h>

#include "netagent/events.h"

#define POLICY_MAP_MAX_ENTRIES 262144 /* all endpoints together (Cilium: 16k per endpoint) */
#define POLICY_ENDPOINTS_MAX 65536    /* local endpoints (Cilium's endpoints map default) */
#define POLICY_EP_DEV_MAX 65536	      /* endpoints by host-side ifindex: ifindexes below this */
#define POLICY_CT_MAX_ENTRIES 65536   /* policy conntrack, LRU */
#define POLICY_FLOW_CACHE_SLOTS 4096  /* per-CPU direct-mapped cache in front of conntrack */

#define POLICY_KEY_FIXED_BITS 72 /* endpoint_id + identity + direction: always matched */
#define POLICY_KEY_PROTO_BITS 80 /* ... + proto: any port of that protocol */
#define POLICY_KEY_FULL_BITS 96	 /* ... + dport: one port */

enum policy_action {
	POLICY_ACTION_ALLOW = 1,
	POLICY_ACTION_DENY = 2,
};

/* What a policy verdict matched, as Cilium's policy-verdict notifications name it. */
enum policy_match_type {
	POLICY_MATCH_NONE = 0,	  /* no entry: the default verdict of the direction */
	POLICY_MATCH_L3_ONLY = 1, /* peer identity, any port */
	POLICY_MATCH_L3_L4 = 2,	  /* peer identity and port/protocol */
	POLICY_MATCH_L4_ONLY = 3, /* any peer, port/protocol */
	POLICY_MATCH_ALL = 4,	  /* any peer, any port */
};

struct policy_key {
	__u32 prefixlen;   /* struct bpf_lpm_trie_key: 72, 80 + port prefix bits, or 96 */
	__u32 endpoint_id; /* the local endpoint the entry belongs to */
	__u32 identity;	   /* peer security identity; 0 = any peer */
	__u8 direction;	   /* enum flow_direction: INGRESS = to the endpoint, EGRESS = from it */
	__u8 proto;	   /* IPPROTO_*; 0 only in the 72-bit (any protocol) entry */
	__be16 dport;	   /* destination port, network order so prefixes cover ranges */
};

struct policy_value {
	__u32 rule;  /* cookie of the rule that produced the entry (the agent's rule table) */
	__u8 action; /* enum policy_action */
	__u8 l4;     /* 1: a match is reported as L3-L4 / L4-only (the entry names a protocol) */
	__u16 pad;
};

enum policy_endpoint_flags {
	POLICY_EP_F_INGRESS_ENFORCE = 1 << 0, /* ingress is default-deny */
	POLICY_EP_F_EGRESS_ENFORCE = 1 << 1,  /* egress is default-deny */
	POLICY_EP_F_INGRESS_LOOKUP = 1 << 2,  /* the endpoint has ingress entries to consult */
	POLICY_EP_F_EGRESS_LOOKUP = 1 << 3,   /* the endpoint has egress entries to consult */
	POLICY_EP_F_AUDIT = 1 << 4, /* audit mode: report would-be denials, let them pass */
};

/* A local endpoint, in two maps: policy_ep_dev, an array indexed by the host-side veth's ifindex
 * (the program's first, inlined lookup), and policy_eps, a hash by IPv4 address (network order)
 * for every address of the endpoint (secondary addresses, ifindexes beyond the array, and offline
 * evaluation, where packets come from no endpoint device). */
struct policy_endpoint {
	__u32 endpoint_id; /* key of the endpoint's policy entries; 0 = empty array slot */
	__u32 identity;	   /* the endpoint's own security identity (for flow events) */
	__u32 ifindex;	   /* host-side veth; packets of this address on another device are
			    * dropped as spoofed. 0: not bound to a device (offline evaluation) */
	__be32 addr;	   /* policy_ep_dev: the address this device's packets must carry */
	__u8 flags;	   /* enum policy_endpoint_flags */
	__u8 pad[3];
};

/* Policy conntrack. An entry is keyed by the first packet of a connection as the endpoint saw it
 * (its direction included); a packet matches its own connection's entry directly, and a reply
 * matches with the tuple reversed and the direction flipped. */
struct policy_ct_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport; /* ICMP echo: the identifier in sport for requests, dport for replies */
	__be16 dport;
	__u8 proto;
	__u8 direction; /* enum flow_direction of the connection's first packet */
	__u16 pad;
	__u32 endpoint_id; /* endpoints on one node each keep their own view of a connection */
};

enum policy_ct_flags {
	POLICY_CT_F_CLOSING = 1 << 0,	 /* TCP FIN or RST seen: short timeout */
	POLICY_CT_F_SEEN_REPLY = 1 << 1, /* a reply passed */
};

/* Conntrack times are in jiffies: bpf_jiffies64() is inlined by the verifier, while
 * bpf_ktime_get_ns() is a call costing more than the rest of the established path. */
struct policy_ct_value {
	__u64 created;	 /* jiffies */
	__u64 last_seen; /* jiffies; refreshed at most once a second */
	__u32 rule;	 /* cookie of the rule that allowed the connection, 0 = default */
	__u8 verdict;	 /* enum flow_verdict: FORWARDED or AUDIT */
	__u8 flags;	 /* enum policy_ct_flags */
	__u16 pad;
};

/* Connection lifetimes without traffic, in seconds, as Cilium's defaults. */
#define POLICY_CT_LIFETIME_TCP 21600 /* 6 h */
#define POLICY_CT_LIFETIME_NONTCP 60
#define POLICY_CT_LIFETIME_CLOSING 10

/* The flow cache: a per-CPU direct-mapped cache of packets that conntrack found established,
 * checked before conntrack (an inlined array lookup against a hash lookup). An entry is trusted
 * for a second, then the packet goes to conntrack again (which refreshes the connection). It is
 * filled only on conntrack hits, never by a connection's first packet, and bypassed by TCP
 * FIN/RST so conntrack sees the close. */
struct policy_flow_cache_entry {
	struct policy_ct_key key; /* the packet's own tuple, direction and endpoint */
	__u32 pad;
	__u64 checked; /* jiffies when conntrack last confirmed it; 0 = empty */
};

/* Load-time configuration, in the program's read-only data. */
struct policy_config {
	__u32 hz;    /* the kernel's CONFIG_HZ (jiffies per second), measured by the loader */
	__u32 flags; /* reserved */
};

/* Per-CPU verdict counters, indexed by direction * POLICY_VERDICT_SLOTS + enum flow_verdict. */
#define POLICY_VERDICT_SLOTS 4
#define POLICY_VERDICT_COUNTERS 8

#endif
