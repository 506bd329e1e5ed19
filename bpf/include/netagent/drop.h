/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Drop reasons: one enum for every program. The value indexes the per-CPU drop counters and is
 * carried in flow events; the C++ side maps it to the metric label (drop_reason_name()). New
 * reasons are appended, never renumbered: pinned counters outlive the agent binary. */
#ifndef NETAGENT_DROP_H
#define NETAGENT_DROP_H

#include <linux/types.h>

enum drop_reason {
	DROP_NONE = 0,
	DROP_NO_BACKEND = 1,	     /* service frontend matched but it has no usable backend */
	DROP_MALFORMED_L3 = 2,	     /* truncated or invalid IPv4 header */
	DROP_MALFORMED_L4 = 3,	     /* truncated TCP/UDP header */
	DROP_BACKEND_MISSING = 4,    /* slot or Maglev entry points at a backend id that is gone */
	DROP_MAGLEV_MISSING = 5,     /* north-south service without a Maglev table */
	DROP_CT_CREATE_FAILED = 6,   /* conntrack insert failed */
	DROP_REWRITE_FAILED = 7,     /* skb store or checksum helper failed */
	DROP_FRAGMENT = 8,	     /* non-first IPv4 fragment to a service address */
	DROP_POLICY_DENIED = 9,	     /* no policy entry allows the flow (default deny) */
	DROP_POLICY_DENY_RULE = 10,  /* an explicit deny rule matched */
	DROP_UNKNOWN_ENDPOINT = 11,  /* policy program on an interface with no endpoint record */
	DROP_UNSUPPORTED_PROTO = 12, /* L4 protocol the service does not serve */
	DROP_NO_SNAT_ADDRESS = 13,   /* remote backend, but the device has no SNAT address */
	DROP_SNAT_PORTS_EXHAUSTED = 14, /* no free SNAT port for this backend */
	__DROP_REASON_MAX = 32,
};

/* Drop counters: one per-CPU array (drop_counters) for every program, in one set per part that
 * reports them (the LB: netagent_datapath_drops_total; policy: netagent_policy_drops_total),
 * indexed by set * __DROP_REASON_MAX + enum drop_reason. */
enum drop_counter_set {
	DROP_SET_LB = 0,     /* the socket and TC LB programs */
	DROP_SET_POLICY = 1, /* the endpoint policy programs */
	__DROP_SET_MAX = 2,
};

#define DROP_COUNTERS (__DROP_SET_MAX * __DROP_REASON_MAX)
struct drop_counter {
	__u64 packets;
	__u64 bytes;
};

#endif
