/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Flow events: one record per notable datapath decision (a drop, a policy verdict, a service
 * translation when tracing), written by every program to the one flow_events ring buffer and
 * read by the agent for `netctl monitor` and metrics. */
#ifndef NETAGENT_EVENTS_H
#define NETAGENT_EVENTS_H

#include <linux/types.h>

enum flow_event_type {
	FLOW_EVENT_DROP = 1,
	FLOW_EVENT_POLICY_VERDICT = 2,
	FLOW_EVENT_TRANSLATION = 3,
};

enum flow_verdict {
	FLOW_VERDICT_FORWARDED = 0,
	FLOW_VERDICT_DROPPED = 1,
	FLOW_VERDICT_AUDIT = 2, /* would have been denied; let through in audit mode */
};

enum flow_direction {
	FLOW_DIR_INGRESS = 0, /* towards the endpoint / node */
	FLOW_DIR_EGRESS = 1,  /* from the endpoint / node */
};

enum flow_observation_point {
	FLOW_OBS_NODEPORT = 1, /* TC on an external device */
	FLOW_OBS_SOCKET = 2,   /* cgroup socket hook */
	FLOW_OBS_ENDPOINT = 3, /* TC on an endpoint's host-side veth */
};

struct flow_event {
	__u64 timestamp_ns; /* bpf_ktime_get_ns() */
	__u8 type;	    /* enum flow_event_type */
	__u8 verdict;	    /* enum flow_verdict */
	__u8 direction;	    /* enum flow_direction */
	__u8 obs_point;	    /* enum flow_observation_point */
	__u16 drop_reason;  /* enum drop_reason, 0 when not dropped */
	__u8 proto;	    /* IPPROTO_* */
	__u8 match_type;    /* policy: what matched (enum policy_match_type), 0 otherwise */
	__be32 saddr;	    /* addresses and ports as seen at the hook (network order) */
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u32 ifindex;
	__u32 src_identity; /* security identities, 0 when unknown */
	__u32 dst_identity;
	__u32 endpoint_id; /* local endpoint the event concerns, 0 when none */
	__u32 svc_id;	   /* service id for translations, 0 otherwise */
	__u32 len;	   /* packet length */
	__u32 rule;	   /* policy: cookie of the deciding rule; 0 = default verdict or none */
};

#endif
