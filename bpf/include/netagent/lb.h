/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Service load balancing: the maps shared by the socket LB (cgroup hooks) and the per-packet
 * LB (TC on external devices), and the agent that programs them.
 *
 * A service frontend (VIP, port, protocol, scope) is a set of entries in lb4_services: slot 0
 * holds the service (its id, flags and the number of active backend slots), slots 1..count hold
 * backend ids. The agent writes backends and slots before raising slot 0's count, and lowers the
 * count before deleting slots, so a reader never sees a slot that points nowhere. */
#ifndef NETAGENT_LB_H
#define NETAGENT_LB_H

#include <linux/types.h>

#define LB_MAX_SERVICES 65536 /* frontends, slots included: lb4_services holds 8x this */
#define LB_MAX_BACKENDS 131072
#define LB_MAX_BACKEND_SLOTS 1024  /* backends per frontend that slot selection can use */
#define LB_MAGLEV_MAX_TABLE 131071 /* the largest allowed Maglev table size (a prime) */

enum lb_scope {
	LB_SCOPE_EXTERNAL = 0, /* north-south: TC on external devices, backends per eTP */
	LB_SCOPE_INTERNAL = 1, /* east-west: socket LB, backends per iTP (only when they differ) */
};

enum lb_svc_flags {
	LB_SVC_F_CLUSTER_IP = 1 << 0,
	LB_SVC_F_NODE_PORT = 1 << 1,
	LB_SVC_F_LOAD_BALANCER = 1 << 2,
	LB_SVC_F_EXTERNAL_IP = 1 << 3,
	LB_SVC_F_ETP_LOCAL = 1 << 4,  /* externalTrafficPolicy: Local */
	LB_SVC_F_ITP_LOCAL = 1 << 5,  /* internalTrafficPolicy: Local */
	LB_SVC_F_AFFINITY = 1 << 6,   /* sessionAffinity: ClientIP */
	LB_SVC_F_TWO_SCOPES = 1 << 7, /* an LB_SCOPE_INTERNAL frontend exists as well */
	LB_SVC_F_MAGLEV = 1 << 8,     /* north-south selection through the Maglev table */
};

struct lb4_svc_key {
	__be32 address;	    /* frontend address: ClusterIP, LB IP, externalIP or a node address */
	__be16 dport;	    /* frontend port */
	__u16 backend_slot; /* 0: the service entry; 1..count: a backend slot */
	__u8 proto;	    /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 scope;	    /* enum lb_scope */
	__u8 pad[2];
};

struct lb4_svc_value {
	__u32 backend_id;	/* slot > 0: the backend in this slot; slot 0: the Maglev table id
				 * (shared by the frontends of one service port and scope) */
	__u32 svc_id;		/* service id: rev-NAT index and Maglev table key */
	__u16 count;		/* slot 0: active backend slots (1..count) */
	__u16 flags;		/* slot 0: enum lb_svc_flags */
	__u32 affinity_timeout; /* slot 0: ClientIP affinity timeout in seconds */
};

enum lb_backend_flags {
	LB_BE_F_LOCAL = 1 << 0,	      /* the backend runs on this node */
	LB_BE_F_TERMINATING = 1 << 1, /* serving but terminating: used only when nothing else is */
};

struct lb4_backend {
	__be32 address;
	__be16 port;
	__u8 proto;
	__u8 flags;	 /* enum lb_backend_flags */
	__u8 cluster_id; /* ClusterMesh cluster the backend lives in, 0 = local cluster */
	__u8 pad[3];
};

/* Reverse NAT by service id: the frontend that translated connections must appear to come from. */
struct lb4_revnat {
	__be32 address;
	__be16 port;
	__u16 pad;
};

/* Socket LB: connected/sending sockets translated to a backend, keyed by socket cookie and the
 * backend address, so that getpeername() and UDP recvmsg() show the service address. */
struct lb4_sock_key {
	__u64 cookie;
	__be32 address; /* backend address */
	__be16 port;	/* backend port */
	__u16 pad;
};

struct lb4_sock_value {
	__be32 address; /* frontend address */
	__be16 port;	/* frontend port */
	__u16 pad;
	__u32 svc_id;
};

/* Session affinity (ClientIP): the backend chosen for a client, per service. The client is the
 * network namespace cookie on the socket path and the source address on the packet path. */
struct lb_affinity_key {
	__u64 client; /* netns cookie, or the IPv4 source address */
	__u32 svc_id;
	__u8 netns; /* 1: client is a netns cookie */
	__u8 pad[3];
};

struct lb_affinity_value {
	__u64 last_used_ns;
	__u32 backend_id;
	__u32 pad;
};

/* Connection tracking for the per-packet LB. CT_DIR_FORWARD entries are keyed by the packet as
 * it arrives from the client (client -> frontend); CT_DIR_REPLY entries by the backend's reply
 * (backend -> client). Both are created together when a new flow is balanced. */
enum ct_dir {
	CT_DIR_FORWARD = 0,
	CT_DIR_REPLY = 1,
};

struct ct4_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 dir; /* enum ct_dir */
	__u16 pad;
};

enum ct_flags {
	CT_F_SEEN_REPLY = 1 << 0, /* a reply went back through reverse NAT */
	CT_F_CLOSING = 1 << 1,	  /* FIN or RST seen */
	CT_F_SNAT = 1 << 3,	  /* the flow goes to a remote backend through SNAT */
	CT_F_ACTIVE = 1 << 2,	  /* a packet used the entry since the agent's last GC pass: the
				   * datapath sets it (no clock read per packet), the GC clears it
				   * and moves last_seen_ns forward */
};

struct ct4_value {
	__u64 created_ns;   /* CLOCK_MONOTONIC_COARSE (bpf_ktime_get_coarse_ns) */
	__u64 last_seen_ns; /* creation, then advanced by the agent's GC while CT_F_ACTIVE */
	__be32 nat_addr;    /* FORWARD: backend address; REPLY: frontend address */
	__be16 nat_port;    /* FORWARD: backend port; REPLY: frontend port */
	__u8 flags;	    /* enum ct_flags */
	__u8 pad;
	__u32 backend_id;
	__u32 svc_id;
	/* SNAT, for backends on other nodes (their replies must come back through this node):
	 * FORWARD: the node address and port the client is replaced with; REPLY: the client
	 * address and port restored as destination. Zero when the backend is local. */
	__be32 snat_addr;
	__be16 snat_port;
	__u16 pad2;
};

/* The address each external device SNATs from (by ifindex), set by the agent. */
struct lb4_device {
	__be32 snat_addr;
	__u32 pad;
};

/* Source ports the node uses to SNAT flows to remote backends: above the kernel's default
 * ephemeral range (32768-60999), so they never meet the node's own connections. */
#define LB_SNAT_PORT_MIN 61000
#define LB_SNAT_PORT_MAX 65535
#define LB_SNAT_PORT_TRIES 8

/* Datapath counters beyond drops, per CPU, indexed by enum lb_counter. */
enum lb_counter {
	LB_CNT_SVC_NEW = 0,	 /* new flows balanced at TC */
	LB_CNT_SVC_EST = 1,	 /* packets of established flows translated at TC */
	LB_CNT_REVNAT = 2,	 /* replies reverse-translated at TC */
	LB_CNT_SOCK_CONNECT = 3, /* socket connects/sends translated */
	LB_CNT_SOCK_REVNAT = 4,	 /* getpeername/recvmsg reverse translations */
	LB_CNT_PASS = 5,	 /* packets that were not for a service */
	LB_CNT_UNUSED_6 = 6,
	LB_CNT_SNAT = 7,	 /* new flows to a remote backend, SNATed to the node */
	LB_CNT_SNAT_REVERSE = 8, /* replies from remote backends translated back */
	__LB_CNT_MAX = 16,
};

/* Load-time configuration, in the programs' read-only data. */
struct lb_config {
	__u32 maglev_table_size; /* M, a prime from the allowed set */
	__u32 hash_seed[3];	 /* the 12-byte Maglev hash seed */
	__u16 nodeport_min;
	__u16 nodeport_max;
	__u32 flags;
};

#endif
