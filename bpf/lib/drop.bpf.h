/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Drop accounting and flow events, shared by every program (maps pinned by name). */
#ifndef NETAGENT_DROP_BPF_H
#define NETAGENT_DROP_BPF_H

#include "lib/common.bpf.h"
#include "netagent/drop.h"
#include "netagent/events.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, __DROP_REASON_MAX);
	__type(key, __u32);
	__type(value, struct drop_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} drop_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flow_events SEC(".maps");

/* Keeps struct flow_event in the object's BTF (ring buffer records have no map type): the ABI test
 * compares it with the C++ side. Read-only data, never read. */
const volatile struct flow_event flow_event_btf_anchor = {};

static __always_inline void count_drop(__u32 reason, __u32 len)
{
	struct drop_counter *c = bpf_map_lookup_elem(&drop_stats, &reason);

	if (c) {
		c->packets += 1;
		c->bytes += len;
	}
}

/* Fills the common part of a flow event; the caller sets type-specific fields. Returns NULL when
 * the ring buffer is full (the event is lost, the drop is still counted). */
static __always_inline struct flow_event *flow_event_reserve(void)
{
	struct flow_event *e = bpf_ringbuf_reserve(&flow_events, sizeof(*e), 0);

	if (e) {
		__builtin_memset(e, 0, sizeof(*e));
		e->timestamp_ns = bpf_ktime_get_ns();
	}
	return e;
}

/* Counts a drop and reports it as a flow event. */
static __always_inline void report_drop(__u32 reason, __u8 obs, __u8 dir, __be32 saddr,
					__be32 daddr, __be16 sport, __be16 dport, __u8 proto,
					__u32 ifindex, __u32 len, __u32 svc_id)
{
	struct flow_event *e;

	count_drop(reason, len);
	e = flow_event_reserve();
	if (!e)
		return;
	e->type = FLOW_EVENT_DROP;
	e->verdict = FLOW_VERDICT_DROPPED;
	e->direction = dir;
	e->obs_point = obs;
	e->drop_reason = reason;
	e->proto = proto;
	e->saddr = saddr;
	e->daddr = daddr;
	e->sport = sport;
	e->dport = dport;
	e->ifindex = ifindex;
	e->len = len;
	e->svc_id = svc_id;
	bpf_ringbuf_submit(e, 0);
}

#endif
