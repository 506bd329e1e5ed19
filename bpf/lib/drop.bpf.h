/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Drop accounting and flow events, shared by every program: one drop counter array and one
 * flow event ring buffer, both pinned by name, so that the LB and policy programs (and successive
 * agent processes) write to the same maps and the agent reads them in one place. */
#ifndef NETAGENT_DROP_BPF_H
#define NETAGENT_DROP_BPF_H

#include "lib/common.bpf.h"
#include "netagent/drop.h"
#include "netagent/events.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DROP_COUNTERS);
	__type(key, __u32);
	__type(value, struct drop_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} drop_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flow_events SEC(".maps");

/* Keeps struct flow_event and the enums the agent names in the object's BTF (a ring buffer
 * record has no map type, enum values used as constants leave no type): the ABI test compares
 * them with the C++ side. Read-only data, never read. */
const volatile struct {
	struct flow_event event;
	enum drop_reason reason;
	enum drop_counter_set set;
	enum flow_event_type type;
	enum flow_verdict verdict;
	enum flow_direction direction;
	enum flow_observation_point obs_point;
} flow_event_btf_anchor = {};

/* Adds a packet to a per-CPU struct drop_counter array (drops, policy verdicts). */
static __always_inline void count_packet(void *map, __u32 index, __u32 len)
{
	struct drop_counter *c = bpf_map_lookup_elem(map, &index);

	if (c) {
		c->packets += 1;
		c->bytes += len;
	}
}

/* set: enum drop_counter_set; reason: enum drop_reason. */
static __always_inline void count_drop(__u32 set, __u32 reason, __u32 len)
{
	count_packet(&drop_counters, set * __DROP_REASON_MAX + reason, len);
}

/* A zeroed flow event with its time, type and verdict, or NULL when the ring buffer is full (the
 * event is lost; what it reports is still counted). The caller fills the rest and submits it. */
static __always_inline struct flow_event *flow_event_reserve(__u8 type, __u8 verdict)
{
	struct flow_event *e = bpf_ringbuf_reserve(&flow_events, sizeof(*e), 0);

	if (e) {
		__builtin_memset(e, 0, sizeof(*e));
		e->timestamp_ns = bpf_ktime_get_ns();
		e->type = type;
		e->verdict = verdict;
	}
	return e;
}

static __always_inline void flow_event_submit(struct flow_event *e)
{
	bpf_ringbuf_submit(e, 0);
}

/* Counts an LB drop and reports it as a flow event. */
static __always_inline void report_drop(__u32 reason, __u8 obs, __u8 dir, __be32 saddr,
					__be32 daddr, __be16 sport, __be16 dport, __u8 proto,
					__u32 ifindex, __u32 len, __u32 svc_id)
{
	struct flow_event *e;

	count_drop(DROP_SET_LB, reason, len);
	e = flow_event_reserve(FLOW_EVENT_DROP, FLOW_VERDICT_DROPPED);
	if (!e)
		return;
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
	flow_event_submit(e);
}

#endif
