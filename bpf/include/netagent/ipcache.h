/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The IPv4 ipcache: which security identity an address has. An LPM trie from prefix to identity,
 * written by the agent from the policy compiler's output (pods, nodes, the kube-apiserver, the
 * ingress proxy, every CIDR named by a policy) and read by the policy program for the peer of
 * each new flow. An address that matches no entry is "world".
 *
 * Identity numbers follow Cilium (pkg/identity/numericidentity.go): reserved identities 1..255,
 * cluster-local identities 256..65535 with the ClusterMesh cluster id in bits 16..23, and
 * node-local CIDR identities with scope 0x01 in the top byte. */
#ifndef NETAGENT_IPCACHE_H
#define NETAGENT_IPCACHE_H

#include <linux/types.h>

#define IPCACHE4_MAX_ENTRIES 524288 /* Cilium's ipcache default (512k) */

enum reserved_identity {
	IDENTITY_UNKNOWN = 0,	     /* also the policy wildcard: "any peer" */
	IDENTITY_HOST = 1,	     /* this node */
	IDENTITY_WORLD = 2,	     /* outside the cluster */
	IDENTITY_UNMANAGED = 3,	     /* pods not managed by the agent */
	IDENTITY_HEALTH = 4,	     /* health-check endpoints */
	IDENTITY_INIT = 5,	     /* endpoints whose labels are not known yet */
	IDENTITY_REMOTE_NODE = 6,    /* other nodes of the cluster */
	IDENTITY_KUBE_APISERVER = 7, /* the Kubernetes API server */
	IDENTITY_INGRESS = 8,	     /* the node's ingress / Gateway proxy */
};

#define IDENTITY_LOCAL_MIN 256U	  /* first cluster-local identity (within a cluster) */
#define IDENTITY_LOCAL_MAX 65535U /* last cluster-local identity */
#define IDENTITY_CLUSTER_SHIFT 16 /* ClusterMesh: cluster id in bits 16..23 */
#define IDENTITY_CLUSTER_MASK 0x00FF0000U
#define IDENTITY_SCOPE_MASK 0xFF000000U
#define IDENTITY_SCOPE_GLOBAL 0x00000000U /* reserved and cluster identities */
#define IDENTITY_SCOPE_CIDR                                                                        \
	0x01000000U /* node-local: a CIDR named by a policy (outside the cluster) */
/* node-local: a cluster address (pod, node) inside a CIDR named by a NetworkPolicy ipBlock.
 * Kubernetes NetworkPolicy ipBlock matches pod IPs; Cilium CIDR rules do not. A cluster address
 * carries this second identity so that only ipBlock rules can select it by prefix. */
#define IDENTITY_SCOPE_CLUSTER_CIDR 0x03000000U

struct ipcache4_key {
	__u32 prefixlen; /* struct bpf_lpm_trie_key: significant bits of addr, 0..32 */
	__be32 addr;	 /* network order, so that the trie matches the most significant bits */
};

struct ipcache4_value {
	__u32 identity;	     /* the address's security identity */
	__u32 cidr_identity; /* IDENTITY_SCOPE_CLUSTER_CIDR identity of the most specific ipBlock
			      * prefix holding this cluster address; 0 when none */
	__u8 flags;	     /* enum ipcache_flags */
	__u8 cluster_id;     /* ClusterMesh cluster the address lives in, 0 = this cluster */
	__u8 pad[2];
};

enum ipcache_flags {
	IPCACHE_F_ENDPOINT = 1 << 0, /* a pod address (not a node, CIDR or reserved address) */
};

#endif
