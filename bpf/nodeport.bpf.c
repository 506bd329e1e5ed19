// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Per-packet service load balancing (north-south) at TC on the node's external devices.
 *
 * Ingress: a packet to a NodePort, LoadBalancer IP or externalIP frontend is DNATed to a backend
 * chosen by Maglev (or a random slot), and the flow is recorded in conntrack: a forward entry
 * (client -> frontend) that pins the backend for the life of the flow, and a reply entry
 * (backend -> client) for reverse NAT.
 * Egress: replies matching a reply entry get the frontend back as their source.
 * Everything else passes untouched. */
#include "lib/common.bpf.h"
#include "lib/conntrack.bpf.h"
#include "lib/drop.bpf.h"
#include "lib/lb_maps.bpf.h"
#include "lib/parse.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);
	/* Per-CPU LRU lists: inserting a new flow takes no global lock. */
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__type(key, struct ct4_key);
	__type(value, struct ct4_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ct4_global SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32); /* ifindex */
	__type(value, struct lb4_device);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb4_devices SEC(".maps");

static __always_inline int drop(struct __sk_buff *skb, __u32 reason, const struct pkt4 *p, __u8 dir,
				__u32 svc_id)
{
	report_drop(reason, FLOW_OBS_NODEPORT, dir, p ? p->saddr : 0, p ? p->daddr : 0,
		    p ? p->sport : 0, p ? p->dport : 0, p ? p->proto : 0, skb->ifindex, skb->len,
		    svc_id);
	return TC_ACT_SHOT;
}

/* Rewrites one address and port (destination when dst, else source) with checksum updates.
 *
 * The L4 checksum goes through bpf_l4_csum_replace(), which also keeps skb->csum right for
 * CHECKSUM_COMPLETE and the pseudo-header-only field of CHECKSUM_PARTIAL packets. The IPv4
 * header checksum and the bytes themselves are written directly: their net change to the packet
 * sum is zero, so no skb checksum state needs updating, and two helper calls are saved. */
static __always_inline int rewrite4(struct __sk_buff *skb, const struct pkt4 *p, int dst,
				    __be32 old_addr, __be32 new_addr, __be16 old_port,
				    __be16 new_port)
{
	__u32 l4_flags = BPF_F_PSEUDO_HDR | sizeof(new_addr);
	__u32 port_flags = sizeof(new_port);

	/* UDP checksum 0 means "none": keep it 0 (BPF_F_MARK_MANGLED_0). */
	if (p->proto == IPPROTO_UDP) {
		l4_flags |= BPF_F_MARK_MANGLED_0;
		port_flags |= BPF_F_MARK_MANGLED_0;
	}
	if (old_addr != new_addr &&
	    bpf_l4_csum_replace(skb, p->csum_off, old_addr, new_addr, l4_flags))
		return -1;
	if (old_port != new_port &&
	    bpf_l4_csum_replace(skb, p->csum_off, old_port, new_port, port_flags))
		return -1;

	/* The helpers invalidated packet pointers: derive them again. */
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + ETH_HLEN_;
	__be16 *ports = data + p->l4_off;

	if ((void *)(ip + 1) > data_end || (void *)(ports + 2) > data_end)
		return -1;
	if (dst) {
		ip->daddr = new_addr;
		ports[1] = new_port;
	} else {
		ip->saddr = new_addr;
		ports[0] = new_port;
	}
	ip->check = csum_replace4(ip->check, old_addr, new_addr);
	return 0;
}

/* Sends a packet SNATed to this node's address straight out of the device the FIB chooses, with
 * the TTL a router would decrement: handed back to the stack, a packet arriving with one of the
 * node's own addresses as its source would be dropped as martian. */
static __always_inline int snat_redirect(struct __sk_buff *skb, __be32 saddr, __be32 daddr)
{
	struct bpf_fib_lookup fib = {};
	int rc;

	fib.family = 2; /* AF_INET */
	fib.ipv4_src = saddr;
	fib.ipv4_dst = daddr;
	fib.ifindex = skb->ingress_ifindex;
	rc = bpf_fib_lookup(skb, &fib, sizeof(fib), BPF_FIB_LOOKUP_OUTPUT);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return TC_ACT_OK; /* no route: let the stack decide and report */

	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + ETH_HLEN_;

	if ((void *)(ip + 1) > data_end)
		return TC_ACT_SHOT;
	if (ip->ttl <= 1)
		return TC_ACT_OK; /* the stack sends the ICMP time exceeded */
	__u32 old = *(__u16 *)&ip->ttl;
	ip->ttl--;
	ip->check = csum_replace4(ip->check, old, *(__u16 *)&ip->ttl);
	/* The kernel resolves the next hop's MAC (and queues while it does). */
	return bpf_redirect_neigh(fib.ifindex, 0, 0, 0);
}

static __always_inline __u32 select_backend(const struct pkt4 *p, const struct lb4_svc_value *svc)
{
	int affinity = svc->flags & LB_SVC_F_AFFINITY;
	struct lb_affinity_key ak = {
	    .client = p->saddr,
	    .svc_id = svc->svc_id,
	};
	__u64 now = 0;
	__u32 id;

	if (affinity) {
		struct lb_affinity_value *av = bpf_map_lookup_elem(&lb4_affinity, &ak);

		now = bpf_ktime_get_ns();
		if (av && now - av->last_used_ns < (__u64)svc->affinity_timeout * 1000000000ull &&
		    bpf_map_lookup_elem(&lb4_backends, &av->backend_id)) {
			av->last_used_ns = now;
			return av->backend_id;
		}
	}
	if (svc->flags & LB_SVC_F_MAGLEV) {
		/* With ClientIP affinity the source port stays out of the hash (as Cilium). */
		id = lb4_maglev_backend(
		    svc->backend_id,
		    lb4_flow_hash(p->saddr, p->daddr, affinity ? 0 : p->sport, p->dport, p->proto));
	} else {
		__u16 slot = (bpf_get_prandom_u32() % svc->count) + 1;

		id = lb4_slot_backend(p->daddr, p->dport, p->proto, LB_SCOPE_EXTERNAL, slot);
	}
	if (affinity && id) {
		struct lb_affinity_value nv = {.last_used_ns = now, .backend_id = id};

		bpf_map_update_elem(&lb4_affinity, &ak, &nv, BPF_ANY);
	}
	return id;
}

/* Marks an entry used without reading the clock: the agent's GC clears CT_F_ACTIVE and moves
 * last_seen_ns forward. */
static __always_inline void ct_touch(struct ct4_value *ct, const struct pkt4 *p, __u8 extra)
{
	ct_set_flags(&ct->flags, CT_F_ACTIVE | extra | (ct_closing(p) ? CT_F_CLOSING : 0));
}

/* The ingress steps below return a TC verdict, or NODEPORT_NEXT when the packet is not theirs
 * and the next step decides. */
#define NODEPORT_NEXT (-2)

/* Sends a packet of a flow the way its conntrack entry says: DNAT to the backend and, for a
 * remote backend, SNAT to this node and out through the FIB. */
static __always_inline int nodeport_forward(struct __sk_buff *skb, const struct pkt4 *p,
					    const struct ct4_value *ct)
{
	if (rewrite4(skb, p, 1, p->daddr, ct->nat_addr, p->dport, ct->nat_port))
		return drop(skb, DROP_REWRITE_FAILED, p, FLOW_DIR_INGRESS, 0);
	if (ct->flags & CT_F_SNAT) {
		if (rewrite4(skb, p, 0, p->saddr, ct->snat_addr, p->sport, ct->snat_port))
			return drop(skb, DROP_REWRITE_FAILED, p, FLOW_DIR_INGRESS, 0);
		return snat_redirect(skb, ct->snat_addr, ct->nat_addr);
	}
	return TC_ACT_OK;
}

/* Step 1: a packet of an established flow, one lookup and the rewrite. The entry pins the
 * backend address for the life of the flow, also when the backend leaves the service (graceful
 * termination); the agent's conntrack GC removes entries of deleted services. */
static __always_inline int nodeport_established(struct __sk_buff *skb, const struct pkt4 *p)
{
	struct ct4_key fk = {CT_TUPLE(p), .dir = CT_DIR_FORWARD};
	struct ct4_value *ct = bpf_map_lookup_elem(&ct4_global, &fk);

	if (!ct)
		return NODEPORT_NEXT;
	ct_touch(ct, p, 0);
	lb_count(LB_CNT_SVC_EST);
	return nodeport_forward(skb, p, ct);
}

/* Step 2: a remote backend's reply to the node's SNAT address, back to the frontend and the
 * client. Only packets to the SNAT port range pay for this lookup. */
static __always_inline int nodeport_snat_reply(struct __sk_buff *skb, const struct pkt4 *p)
{
	struct ct4_key rk = {CT_TUPLE(p), .dir = CT_DIR_REPLY};
	struct ct4_value *ct;

	if (bpf_ntohs(p->dport) < LB_SNAT_PORT_MIN)
		return NODEPORT_NEXT;
	ct = bpf_map_lookup_elem(&ct4_global, &rk);
	if (!ct || !(ct->flags & CT_F_SNAT))
		return NODEPORT_NEXT;
	ct_touch(ct, p, CT_F_SEEN_REPLY);
	if (rewrite4(skb, p, 0, p->saddr, ct->nat_addr, p->sport, ct->nat_port) ||
	    rewrite4(skb, p, 1, p->daddr, ct->snat_addr, p->dport, ct->snat_port))
		return drop(skb, DROP_REWRITE_FAILED, p, FLOW_DIR_INGRESS, 0);
	lb_count(LB_CNT_SNAT_REVERSE);
	return TC_ACT_OK;
}

/* Step 3: the north-south frontend the packet is for, or NULL when it is not a service's. */
static __always_inline struct lb4_svc_value *nodeport_frontend(const struct pkt4 *p)
{
	struct lb4_svc_value *svc =
	    lb4_lookup_service(p->daddr, p->dport, p->proto, LB_SCOPE_EXTERNAL);

	if (!svc ||
	    !(svc->flags & (LB_SVC_F_NODE_PORT | LB_SVC_F_LOAD_BALANCER | LB_SVC_F_EXTERNAL_IP)))
		return 0;
	return svc;
}

/* Step 5, remote backend: its reply would not come back through this node, so the client is
 * replaced with the node's address and a port of its own, claimed by inserting the reply entry
 * only if that tuple is free. Fills the forward entry's SNAT fields; returns 0 or a drop
 * reason. */
static __always_inline __u32 nodeport_claim_snat(struct __sk_buff *skb, const struct pkt4 *p,
						 struct ct4_key *rk, struct ct4_value *rv,
						 struct ct4_value *fv)
{
	__u32 ifindex = skb->ifindex;
	struct lb4_device *dev = bpf_map_lookup_elem(&lb4_devices, &ifindex);
	__u32 base, i;

	if (!dev || !dev->snat_addr)
		return DROP_NO_SNAT_ADDRESS;
	base = hash_3words(p->saddr, ((__u32)p->sport << 16) | p->dport, p->daddr, p->proto);
	rk->daddr = dev->snat_addr;
	rv->flags |= CT_F_SNAT;
	rv->snat_addr = p->saddr;
	rv->snat_port = p->sport;
	for (i = 0; i < LB_SNAT_PORT_TRIES; i++) {
		__u16 port = LB_SNAT_PORT_MIN +
			     (base + i * 7919) % (LB_SNAT_PORT_MAX - LB_SNAT_PORT_MIN + 1);

		rk->dport = bpf_htons(port);
		if (!bpf_map_update_elem(&ct4_global, rk, rv, BPF_NOEXIST)) {
			fv->flags |= CT_F_SNAT;
			fv->snat_addr = rk->daddr;
			fv->snat_port = rk->dport;
			lb_count(LB_CNT_SNAT);
			return 0;
		}
	}
	return DROP_SNAT_PORTS_EXHAUSTED;
}

/* Step 5: the conntrack entries of a new flow, the reply entry first (once the forward entry
 * exists, replies may already flow). Fills fv, the forward entry; returns 0 or a drop reason. */
static __always_inline __u32 nodeport_ct_create(struct __sk_buff *skb, const struct pkt4 *p,
						const struct lb4_svc_value *svc,
						const struct lb4_backend *be, __u32 backend_id,
						struct ct4_value *fv)
{
	__u64 now = bpf_ktime_get_coarse_ns();
	struct ct4_key fk = {CT_TUPLE(p), .dir = CT_DIR_FORWARD};
	struct ct4_key rk = {
	    .saddr = be->address,
	    .daddr = p->saddr,
	    .sport = be->port,
	    .dport = p->sport,
	    .proto = p->proto,
	    .dir = CT_DIR_REPLY,
	};
	struct ct4_value rv = {
	    .created_ns = now,
	    .last_seen_ns = now,
	    .nat_addr = p->daddr,
	    .nat_port = p->dport,
	    .flags = CT_F_ACTIVE,
	    .backend_id = backend_id,
	    .svc_id = svc->svc_id,
	};
	__u32 reason;

	*fv = (struct ct4_value){
	    .created_ns = now,
	    .last_seen_ns = now,
	    .nat_addr = be->address,
	    .nat_port = be->port,
	    .flags = CT_F_ACTIVE,
	    .backend_id = backend_id,
	    .svc_id = svc->svc_id,
	};
	if (be->flags & LB_BE_F_LOCAL) {
		if (bpf_map_update_elem(&ct4_global, &rk, &rv, BPF_ANY))
			return DROP_CT_CREATE_FAILED;
	} else {
		reason = nodeport_claim_snat(skb, p, &rk, &rv, fv);
		if (reason)
			return reason;
	}
	if (bpf_map_update_elem(&ct4_global, &fk, fv, BPF_ANY))
		return DROP_CT_CREATE_FAILED;
	return 0;
}

/* Steps 3 to 6: a new flow to a frontend, balanced, tracked and translated. */
static __always_inline int nodeport_new_flow(struct __sk_buff *skb, const struct pkt4 *p)
{
	struct lb4_svc_value *svc = nodeport_frontend(p);
	struct lb4_backend *be;
	struct ct4_value fv;
	__u32 backend_id, reason;

	if (!svc) {
		lb_count(LB_CNT_PASS);
		return TC_ACT_OK;
	}
	/* Later fragments carry no ports and could not follow the first one to the backend. */
	if (p->first_frag)
		return drop(skb, DROP_FRAGMENT, p, FLOW_DIR_INGRESS, svc->svc_id);
	if (svc->count == 0)
		return drop(skb, DROP_NO_BACKEND, p, FLOW_DIR_INGRESS, svc->svc_id);
	/* Step 4: the backend. */
	backend_id = select_backend(p, svc);
	if (!backend_id)
		return drop(skb,
			    (svc->flags & LB_SVC_F_MAGLEV) ? DROP_MAGLEV_MISSING
							   : DROP_BACKEND_MISSING,
			    p, FLOW_DIR_INGRESS, svc->svc_id);
	be = bpf_map_lookup_elem(&lb4_backends, &backend_id);
	if (!be)
		return drop(skb, DROP_BACKEND_MISSING, p, FLOW_DIR_INGRESS, svc->svc_id);
	reason = nodeport_ct_create(skb, p, svc, be, backend_id, &fv);
	if (reason)
		return drop(skb, reason, p, FLOW_DIR_INGRESS, svc->svc_id);
	lb_count(LB_CNT_SVC_NEW);
	/* Step 6: the translation, as for the flow's later packets. */
	return nodeport_forward(skb, p, &fv);
}

SEC("tc")
int tc_nodeport_ingress(struct __sk_buff *skb)
{
	struct pkt4 p = {};
	int res;

	res = parse_pkt4(skb, &p, 0);
	if (res == PARSE_BAD_L3)
		return drop(skb, DROP_MALFORMED_L3, 0, FLOW_DIR_INGRESS, 0);
	/* Not IPv4, not TCP/UDP or a later fragment (no ports): not the LB's. */
	if (res == PARSE_NOT_IPV4 || !pkt4_has_ports(&p)) {
		lb_count(LB_CNT_PASS);
		return TC_ACT_OK;
	}
	if (res == PARSE_BAD_L4)
		return drop(skb, DROP_MALFORMED_L4, &p, FLOW_DIR_INGRESS, 0);
	/* A first fragment is never a tracked flow's: the frontend step drops it. */
	if (!p.first_frag) {
		res = nodeport_established(skb, &p);
		if (res == NODEPORT_NEXT)
			res = nodeport_snat_reply(skb, &p);
		if (res != NODEPORT_NEXT)
			return res;
	}
	return nodeport_new_flow(skb, &p);
}

SEC("tc")
int tc_nodeport_egress(struct __sk_buff *skb)
{
	struct pkt4 p = {};
	struct ct4_value *ct;
	int res;

	res = parse_pkt4(skb, &p, 0);
	if (res != PARSE_OK || !pkt4_has_ports(&p)) {
		/* Malformed packets leaving the node are the stack's business, not the LB's. */
		lb_count(LB_CNT_PASS);
		return TC_ACT_OK;
	}
	struct ct4_key rk = {CT_TUPLE(&p), .dir = CT_DIR_REPLY};

	ct = bpf_map_lookup_elem(&ct4_global, &rk);
	if (!ct || (ct->flags & CT_F_SNAT)) {
		/* SNATed flows are reverse-translated where their replies arrive: at ingress. */
		lb_count(LB_CNT_PASS);
		return TC_ACT_OK;
	}
	ct_touch(ct, &p, CT_F_SEEN_REPLY);
	if (rewrite4(skb, &p, 0, p.saddr, ct->nat_addr, p.sport, ct->nat_port))
		return drop(skb, DROP_REWRITE_FAILED, &p, FLOW_DIR_EGRESS, 0);
	lb_count(LB_CNT_REVNAT);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
