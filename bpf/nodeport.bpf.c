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

/* Marks an entry used without reading the clock or dirtying its cache line needlessly. */
static __always_inline void ct_touch(struct ct4_value *ct, __u8 tcp_flags, __u8 extra)
{
	__u8 want = CT_F_ACTIVE | extra;

	if (tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST))
		want |= CT_F_CLOSING;
	if ((ct->flags & want) != want)
		ct->flags |= want;
}

SEC("tc")
int tc_nodeport_ingress(struct __sk_buff *skb)
{
	struct pkt4 p = {};
	struct lb4_svc_value *svc;
	struct lb4_backend *be;
	struct ct4_value *ct;
	__u32 backend_id;
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

	/* Established flows first: one lookup and the rewrite. The entry pins the backend address
	 * for the life of the flow, also when the backend leaves the service (graceful
	 * termination); the agent's conntrack GC removes entries of deleted services. */
	struct ct4_key fk = {
	    .saddr = p.saddr,
	    .daddr = p.daddr,
	    .sport = p.sport,
	    .dport = p.dport,
	    .proto = p.proto,
	    .dir = CT_DIR_FORWARD,
	};
	if (!p.first_frag) {
		ct = bpf_map_lookup_elem(&ct4_global, &fk);
		if (ct) {
			ct_touch(ct, p.tcp_flags, 0);
			lb_count(LB_CNT_SVC_EST);
			if (rewrite4(skb, &p, 1, p.daddr, ct->nat_addr, p.dport, ct->nat_port))
				return drop(skb, DROP_REWRITE_FAILED, &p, FLOW_DIR_INGRESS, 0);
			if (ct->flags & CT_F_SNAT) {
				if (rewrite4(skb, &p, 0, p.saddr, ct->snat_addr, p.sport,
					     ct->snat_port))
					return drop(skb, DROP_REWRITE_FAILED, &p, FLOW_DIR_INGRESS,
						    0);
				return snat_redirect(skb, ct->snat_addr, ct->nat_addr);
			}
			return TC_ACT_OK;
		}
		/* A remote backend's reply to the node's SNAT address: back to the frontend and
		 * the client. Only packets to the SNAT port range pay for this lookup. */
		if (bpf_ntohs(p.dport) >= LB_SNAT_PORT_MIN) {
			struct ct4_key rk = {
			    .saddr = p.saddr,
			    .daddr = p.daddr,
			    .sport = p.sport,
			    .dport = p.dport,
			    .proto = p.proto,
			    .dir = CT_DIR_REPLY,
			};
			ct = bpf_map_lookup_elem(&ct4_global, &rk);
			if (ct && (ct->flags & CT_F_SNAT)) {
				ct_touch(ct, p.tcp_flags, CT_F_SEEN_REPLY);
				if (rewrite4(skb, &p, 0, p.saddr, ct->nat_addr, p.sport,
					     ct->nat_port) ||
				    rewrite4(skb, &p, 1, p.daddr, ct->snat_addr, p.dport,
					     ct->snat_port))
					return drop(skb, DROP_REWRITE_FAILED, &p, FLOW_DIR_INGRESS,
						    0);
				lb_count(LB_CNT_SNAT_REVERSE);
				return TC_ACT_OK;
			}
		}
	}

	svc = lb4_lookup_service(p.daddr, p.dport, p.proto, LB_SCOPE_EXTERNAL);
	if (!svc ||
	    !(svc->flags & (LB_SVC_F_NODE_PORT | LB_SVC_F_LOAD_BALANCER | LB_SVC_F_EXTERNAL_IP))) {
		lb_count(LB_CNT_PASS);
		return TC_ACT_OK;
	}
	/* Later fragments carry no ports and could not follow the first one to the backend. */
	if (p.first_frag)
		return drop(skb, DROP_FRAGMENT, &p, FLOW_DIR_INGRESS, svc->svc_id);
	if (svc->count == 0)
		return drop(skb, DROP_NO_BACKEND, &p, FLOW_DIR_INGRESS, svc->svc_id);
	backend_id = select_backend(&p, svc);
	if (!backend_id)
		return drop(skb,
			    (svc->flags & LB_SVC_F_MAGLEV) ? DROP_MAGLEV_MISSING
							   : DROP_BACKEND_MISSING,
			    &p, FLOW_DIR_INGRESS, svc->svc_id);
	be = bpf_map_lookup_elem(&lb4_backends, &backend_id);
	if (!be)
		return drop(skb, DROP_BACKEND_MISSING, &p, FLOW_DIR_INGRESS, svc->svc_id);

	__u64 now = bpf_ktime_get_coarse_ns();
	struct ct4_value fv = {
	    .created_ns = now,
	    .last_seen_ns = now,
	    .nat_addr = be->address,
	    .nat_port = be->port,
	    .flags = CT_F_ACTIVE,
	    .backend_id = backend_id,
	    .svc_id = svc->svc_id,
	};
	struct ct4_key rk = {
	    .saddr = be->address,
	    .daddr = p.saddr,
	    .sport = be->port,
	    .dport = p.sport,
	    .proto = p.proto,
	    .dir = CT_DIR_REPLY,
	};
	struct ct4_value rv = {
	    .created_ns = now,
	    .last_seen_ns = now,
	    .nat_addr = p.daddr,
	    .nat_port = p.dport,
	    .flags = CT_F_ACTIVE,
	    .backend_id = backend_id,
	    .svc_id = svc->svc_id,
	};

	if (be->flags & LB_BE_F_LOCAL) {
		/* Reply entry first: once the forward entry exists, replies may already flow. */
		if (bpf_map_update_elem(&ct4_global, &rk, &rv, BPF_ANY))
			return drop(skb, DROP_CT_CREATE_FAILED, &p, FLOW_DIR_INGRESS, svc->svc_id);
	} else {
		/* The backend lives on another node: its reply would not come back through this
		 * node, so the client is replaced with the node's address and a port of its own,
		 * claimed by inserting the reply entry only if that tuple is free. */
		__u32 ifindex = skb->ifindex;
		struct lb4_device *dev = bpf_map_lookup_elem(&lb4_devices, &ifindex);
		__u32 base, i;
		int claimed = 0;

		if (!dev || !dev->snat_addr)
			return drop(skb, DROP_NO_SNAT_ADDRESS, &p, FLOW_DIR_INGRESS, svc->svc_id);
		base = hash_3words(p.saddr, ((__u32)p.sport << 16) | p.dport, p.daddr, p.proto);
		rk.daddr = dev->snat_addr;
		rv.flags |= CT_F_SNAT;
		rv.snat_addr = p.saddr;
		rv.snat_port = p.sport;
		for (i = 0; i < LB_SNAT_PORT_TRIES; i++) {
			__u16 port = LB_SNAT_PORT_MIN +
				     (base + i * 7919) % (LB_SNAT_PORT_MAX - LB_SNAT_PORT_MIN + 1);

			rk.dport = bpf_htons(port);
			if (!bpf_map_update_elem(&ct4_global, &rk, &rv, BPF_NOEXIST)) {
				claimed = 1;
				break;
			}
		}
		if (!claimed)
			return drop(skb, DROP_SNAT_PORTS_EXHAUSTED, &p, FLOW_DIR_INGRESS,
				    svc->svc_id);
		fv.flags |= CT_F_SNAT;
		fv.snat_addr = rk.daddr;
		fv.snat_port = rk.dport;
		lb_count(LB_CNT_SNAT);
	}
	if (bpf_map_update_elem(&ct4_global, &fk, &fv, BPF_ANY))
		return drop(skb, DROP_CT_CREATE_FAILED, &p, FLOW_DIR_INGRESS, svc->svc_id);
	lb_count(LB_CNT_SVC_NEW);
	if (rewrite4(skb, &p, 1, p.daddr, be->address, p.dport, be->port))
		return drop(skb, DROP_REWRITE_FAILED, &p, FLOW_DIR_INGRESS, 0);
	if (fv.flags & CT_F_SNAT) {
		if (rewrite4(skb, &p, 0, p.saddr, fv.snat_addr, p.sport, fv.snat_port))
			return drop(skb, DROP_REWRITE_FAILED, &p, FLOW_DIR_INGRESS, 0);
		return snat_redirect(skb, fv.snat_addr, fv.nat_addr);
	}
	return TC_ACT_OK;
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
	struct ct4_key rk = {
	    .saddr = p.saddr,
	    .daddr = p.daddr,
	    .sport = p.sport,
	    .dport = p.dport,
	    .proto = p.proto,
	    .dir = CT_DIR_REPLY,
	};
	ct = bpf_map_lookup_elem(&ct4_global, &rk);
	if (!ct || (ct->flags & CT_F_SNAT)) {
		/* SNATed flows are reverse-translated where their replies arrive: at ingress. */
		lb_count(LB_CNT_PASS);
		return TC_ACT_OK;
	}
	ct_touch(ct, p.tcp_flags, CT_F_SEEN_REPLY);
	if (rewrite4(skb, &p, 0, p.saddr, ct->nat_addr, p.sport, ct->nat_port))
		return drop(skb, DROP_REWRITE_FAILED, &p, FLOW_DIR_EGRESS, 0);
	lb_count(LB_CNT_REVNAT);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
