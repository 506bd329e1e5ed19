// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Socket-level service load balancing (east-west): at connect()/sendmsg() time a socket whose
 * destination is a service frontend is pointed at a backend, so the connection needs no
 * per-packet NAT. getpeername() and UDP recvmsg() translate back, so the application only ever
 * sees the service address. */
#include "lib/common.bpf.h"
#include "lib/drop.bpf.h"
#include "lib/lb_maps.bpf.h"

#ifndef ECONNREFUSED
#define ECONNREFUSED 111
#endif

/* (socket cookie, backend) -> frontend, for reverse translation. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct lb4_sock_key);
	__type(value, struct lb4_sock_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb4_sock_revnat SEC(".maps");

static __always_inline __u32 sock_select_backend(struct bpf_sock_addr *ctx,
						 const struct lb4_svc_value *svc, __be32 addr,
						 __be16 port, __u8 proto, __u8 scope)
{
	__u32 backend_id = 0;
	__u16 slot;

	if (svc->flags & LB_SVC_F_AFFINITY) {
		struct lb_affinity_key ak = {
		    .client = bpf_get_netns_cookie(ctx),
		    .svc_id = svc->svc_id,
		    .netns = 1,
		};
		struct lb_affinity_value *av = bpf_map_lookup_elem(&lb4_affinity, &ak);
		__u64 now = bpf_ktime_get_ns();

		if (av && now - av->last_used_ns < (__u64)svc->affinity_timeout * 1000000000ull &&
		    bpf_map_lookup_elem(&lb4_backends, &av->backend_id)) {
			av->last_used_ns = now;
			return av->backend_id;
		}
		slot = (bpf_get_prandom_u32() % svc->count) + 1;
		backend_id = lb4_slot_backend(addr, port, proto, scope, slot);
		if (backend_id) {
			struct lb_affinity_value nv = {.last_used_ns = now,
						       .backend_id = backend_id};

			bpf_map_update_elem(&lb4_affinity, &ak, &nv, BPF_ANY);
		}
		return backend_id;
	}
	slot = (bpf_get_prandom_u32() % svc->count) + 1;
	return lb4_slot_backend(addr, port, proto, scope, slot);
}

/* Returns 1 to let the call proceed (translated or not), 0 to fail it with the set retval. */
static __always_inline int sock4_translate(struct bpf_sock_addr *ctx)
{
	__be32 addr = ctx->user_ip4;
	__be16 port = (__be16)ctx->user_port;
	__u8 proto = ctx->protocol;
	__u8 scope = LB_SCOPE_EXTERNAL;
	struct lb4_svc_value *svc;
	struct lb4_backend *be;
	__u32 backend_id;

	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return 1;
	svc = lb4_lookup_service(addr, port, proto, LB_SCOPE_EXTERNAL);
	if (!svc)
		return 1;
	if (svc->flags & LB_SVC_F_TWO_SCOPES) {
		scope = LB_SCOPE_INTERNAL;
		svc = lb4_lookup_service(addr, port, proto, LB_SCOPE_INTERNAL);
		if (!svc)
			return 1;
	}
	if (svc->count == 0) {
		/* A service without backends refuses at once instead of timing out. */
		report_drop(DROP_NO_BACKEND, FLOW_OBS_SOCKET, FLOW_DIR_EGRESS, 0, addr, 0, port,
			    proto, 0, 0, svc->svc_id);
		bpf_set_retval(-ECONNREFUSED);
		return 0;
	}
	backend_id = sock_select_backend(ctx, svc, addr, port, proto, scope);
	be = backend_id ? bpf_map_lookup_elem(&lb4_backends, &backend_id) : 0;
	if (!be) {
		report_drop(DROP_BACKEND_MISSING, FLOW_OBS_SOCKET, FLOW_DIR_EGRESS, 0, addr, 0,
			    port, proto, 0, 0, svc->svc_id);
		bpf_set_retval(-ECONNREFUSED);
		return 0;
	}

	struct lb4_sock_key rk = {
	    .cookie = bpf_get_socket_cookie(ctx),
	    .address = be->address,
	    .port = be->port,
	};
	struct lb4_sock_value rv = {
	    .address = addr,
	    .port = port,
	    .svc_id = svc->svc_id,
	};
	bpf_map_update_elem(&lb4_sock_revnat, &rk, &rv, BPF_ANY);

	ctx->user_ip4 = be->address;
	ctx->user_port = be->port;
	lb_count(LB_CNT_SOCK_CONNECT);
	return 1;
}

SEC("cgroup/connect4")
int sock4_connect(struct bpf_sock_addr *ctx)
{
	return sock4_translate(ctx);
}

SEC("cgroup/sendmsg4")
int sock4_sendmsg(struct bpf_sock_addr *ctx)
{
	return sock4_translate(ctx);
}

static __always_inline int sock4_reverse(struct bpf_sock_addr *ctx)
{
	struct lb4_sock_key rk = {
	    .cookie = bpf_get_socket_cookie(ctx),
	    .address = ctx->user_ip4,
	    .port = (__be16)ctx->user_port,
	};
	struct lb4_sock_value *rv = bpf_map_lookup_elem(&lb4_sock_revnat, &rk);

	if (!rv)
		return 1;
	/* Only while the service still exists: a deleted service's translations are not shown. */
	if (!bpf_map_lookup_elem(&lb4_revnat, &rv->svc_id)) {
		bpf_map_delete_elem(&lb4_sock_revnat, &rk);
		return 1;
	}
	ctx->user_ip4 = rv->address;
	ctx->user_port = rv->port;
	lb_count(LB_CNT_SOCK_REVNAT);
	return 1;
}

SEC("cgroup/recvmsg4")
int sock4_recvmsg(struct bpf_sock_addr *ctx)
{
	return sock4_reverse(ctx);
}

SEC("cgroup/getpeername4")
int sock4_getpeername(struct bpf_sock_addr *ctx)
{
	return sock4_reverse(ctx);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
