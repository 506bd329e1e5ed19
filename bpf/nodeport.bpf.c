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

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);
	__type(key, struct ct4_key);
	__type(value, struct ct4_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ct4_global SEC(".maps");

#define CT_REFRESH_NS 1000000000ull /* refresh last_seen at most once a second */

static __always_inline int drop(struct __sk_buff *skb, __u32 reason, const struct pkt4 *p,
				__u8 dir, __u32 svc_id)
{
	report_drop(reason, FLOW_OBS_NODEPORT, dir, p ? p->saddr : 0, p ? p->daddr : 0,
		    p ? p->sport : 0, p ? p->dport : 0, p ? p->proto : 0, skb->ifindex, skb->len,
		    svc_id);
	return TC_ACT_SHOT;
}

/* Rewrites one address and port (destination when dst, else source) with checksum updates. */
static __always_inline int rewrite4(struct __sk_buff *skb, const struct pkt4 *p, int dst,
				    __be32 old_addr, __be32 new_addr, __be16 old_port,
				    __be16 new_port)
{
	__u32 addr_off = ETH_HLEN_ + (dst ? offsetof(struct iphdr, daddr) : offsetof(struct iphdr, saddr));
	__u32 port_off = p->l4_off + (dst ? offsetof(struct tcphdr, dest) : offsetof(struct tcphdr, source));
	__u32 l4_flags = BPF_F_PSEUDO_HDR | sizeof(new_addr);

	/* UDP checksum 0 means "none": keep it 0 (BPF_F_MARK_MANGLED_0). */
	if (p->proto == IPPROTO_UDP)
		l4_flags |= BPF_F_MARK_MANGLED_0;
	if (old_addr != new_addr) {
		if (bpf_l4_csum_replace(skb, p->csum_off, old_addr, new_addr, l4_flags))
			return -1;
		if (bpf_l3_csum_replace(skb, ETH_HLEN_ + offsetof(struct iphdr, check), old_addr,
					new_addr, sizeof(new_addr)))
			return -1;
		if (bpf_skb_store_bytes(skb, addr_off, &new_addr, sizeof(new_addr), 0))
			return -1;
	}
	if (old_port != new_port) {
		__u32 pflags = sizeof(new_port);

		if (p->proto == IPPROTO_UDP)
			pflags |= BPF_F_MARK_MANGLED_0;
		if (bpf_l4_csum_replace(skb, p->csum_off, old_port, new_port, pflags))
			return -1;
		if (bpf_skb_store_bytes(skb, port_off, &new_port, sizeof(new_port), 0))
			return -1;
	}
	return 0;
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
		id = lb4_maglev_backend(svc->backend_id,
					lb4_flow_hash(p->saddr, p->daddr, affinity ? 0 : p->sport,
						      p->dport, p->proto));
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

SEC("tc")
int tc_nodeport_ingress(struct __sk_buff *skb)
{
	struct pkt4 p = {};
	struct lb4_svc_value *svc;
	struct lb4_backend *be = 0;
	struct ct4_value *ct;
	__u32 backend_id = 0;
	int res;

	res = parse_pkt4(skb, &p);
	if (res == PARSE_NOT_IPV4 || res == PARSE_NOT_L4) {
		lb_count(LB_CNT_PASS);
		return TC_ACT_OK;
	}
	if (res == PARSE_BAD_L3)
		return drop(skb, DROP_MALFORMED_L3, 0, FLOW_DIR_INGRESS, 0);
	if (res == PARSE_BAD_L4)
		return drop(skb, DROP_MALFORMED_L4, &p, FLOW_DIR_INGRESS, 0);

	svc = lb4_lookup_service(p.daddr, p.dport, p.proto, LB_SCOPE_EXTERNAL);
	if (!svc || !(svc->flags & (LB_SVC_F_NODE_PORT | LB_SVC_F_LOAD_BALANCER | LB_SVC_F_EXTERNAL_IP))) {
		lb_count(LB_CNT_PASS);
		return TC_ACT_OK;
	}
	if (p.first_frag)
		return drop(skb, DROP_FRAGMENT, &p, FLOW_DIR_INGRESS, svc->svc_id);

	struct ct4_key fk = {
		.saddr = p.saddr,
		.daddr = p.daddr,
		.sport = p.sport,
		.dport = p.dport,
		.proto = p.proto,
		.dir = CT_DIR_FORWARD,
	};
	__u64 now = bpf_ktime_get_ns();

	ct = bpf_map_lookup_elem(&ct4_global, &fk);
	if (ct && ct->svc_id == svc->svc_id) {
		backend_id = ct->backend_id;
		be = bpf_map_lookup_elem(&lb4_backends, &backend_id);
		/* The id must still name the same backend: ids are reused after a while. */
		if (be && be->address == ct->nat_addr && be->port == ct->nat_port) {
			if (p.tcp_flags & (0x01 | 0x04)) /* FIN, RST */
				ct->flags |= CT_F_CLOSING;
			if (now - ct->last_seen_ns > CT_REFRESH_NS)
				ct->last_seen_ns = now;
			lb_count(LB_CNT_SVC_EST);
			goto translate;
		}
		/* The backend is gone: balance the flow again. */
		lb_count(LB_CNT_CT_RESELECT);
	}

	if (svc->count == 0)
		return drop(skb, DROP_NO_BACKEND, &p, FLOW_DIR_INGRESS, svc->svc_id);
	backend_id = select_backend(&p, svc);
	if (!backend_id)
		return drop(skb, (svc->flags & LB_SVC_F_MAGLEV) ? DROP_MAGLEV_MISSING : DROP_BACKEND_MISSING,
			    &p, FLOW_DIR_INGRESS, svc->svc_id);
	be = bpf_map_lookup_elem(&lb4_backends, &backend_id);
	if (!be)
		return drop(skb, DROP_BACKEND_MISSING, &p, FLOW_DIR_INGRESS, svc->svc_id);

	{
		struct ct4_value fv = {
			.created_ns = now,
			.last_seen_ns = now,
			.nat_addr = be->address,
			.nat_port = be->port,
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
			.backend_id = backend_id,
			.svc_id = svc->svc_id,
		};

		/* Reply entry first: once the forward entry exists, replies may already flow. */
		if (bpf_map_update_elem(&ct4_global, &rk, &rv, BPF_ANY) ||
		    bpf_map_update_elem(&ct4_global, &fk, &fv, BPF_ANY))
			return drop(skb, DROP_CT_CREATE_FAILED, &p, FLOW_DIR_INGRESS, svc->svc_id);
	}
	lb_count(LB_CNT_SVC_NEW);

translate:
	if (rewrite4(skb, &p, 1, p.daddr, be->address, p.dport, be->port))
		return drop(skb, DROP_REWRITE_FAILED, &p, FLOW_DIR_INGRESS, 0);
	return TC_ACT_OK;
}

SEC("tc")
int tc_nodeport_egress(struct __sk_buff *skb)
{
	struct pkt4 p = {};
	struct ct4_value *ct;
	int res;

	res = parse_pkt4(skb, &p);
	if (res != PARSE_OK) {
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
	if (!ct) {
		lb_count(LB_CNT_PASS);
		return TC_ACT_OK;
	}
	if (!(ct->flags & CT_F_SEEN_REPLY))
		ct->flags |= CT_F_SEEN_REPLY;
	if (p.tcp_flags & (0x01 | 0x04))
		ct->flags |= CT_F_CLOSING;
	__u64 now = bpf_ktime_get_ns();
	if (now - ct->last_seen_ns > CT_REFRESH_NS)
		ct->last_seen_ns = now;
	__be32 nat_addr = ct->nat_addr;
	__be16 nat_port = ct->nat_port;

	if (rewrite4(skb, &p, 0, p.saddr, nat_addr, p.sport, nat_port))
		return drop(skb, DROP_REWRITE_FAILED, &p, FLOW_DIR_EGRESS, 0);
	lb_count(LB_CNT_REVNAT);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
