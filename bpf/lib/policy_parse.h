/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Parsing an endpoint's packet into what policy needs: addresses, the conntrack tuple, the
 * destination port that policy matches and TCP flags. */
#ifndef NETAGENT_BPF_LIB_POLICY_PARSE_H
#define NETAGENT_BPF_LIB_POLICY_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "netagent/drop.h"

struct policy_pkt {
	__be32 saddr;
	__be32 daddr;
	__be16 sport; /* conntrack tuple ports */
	__be16 dport;
	__be16 policy_port; /* destination port policy matches; 0 for protocols without ports */
	__u8 proto;
	__u8 tcp_flags;
};

enum policy_parse_result {
	PARSE_OK = 0,
	PARSE_NOT_IPV4 = 1, /* ARP, IPv6, ...: not policed (the datapath is IPv4-only) */
};

#define IP_FRAG_OFFSET_MASK 0x1fff

/* RFC 792 echo header. linux/icmp.h pulls in glibc headers, which BPF code must not use. */
#define POLICY_ICMP_ECHOREPLY 0
#define POLICY_ICMP_ECHO 8
struct policy_icmp_echo {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be16 id;
	__be16 sequence;
};

/* Returns PARSE_OK, PARSE_NOT_IPV4, or a negative enum drop_reason. */
static __always_inline int policy_parse(struct __sk_buff *skb, struct policy_pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	void *l4;
	__u32 ihl_len;

	if ((void *)(eth + 1) > data_end)
		return PARSE_NOT_IPV4;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return PARSE_NOT_IPV4;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return -DROP_MALFORMED_L3;
	if (ip->version != 4 || ip->ihl < 5)
		return -DROP_MALFORMED_L3;
	ihl_len = ip->ihl * 4;
	if (bpf_ntohs(ip->tot_len) < ihl_len)
		return -DROP_MALFORMED_L3;
	l4 = (void *)ip + ihl_len;
	if (l4 > data_end)
		return -DROP_MALFORMED_L3;

	p->saddr = ip->saddr;
	p->daddr = ip->daddr;
	p->proto = ip->protocol;
	p->sport = 0;
	p->dport = 0;
	p->policy_port = 0;
	p->tcp_flags = 0;

	/* A non-first fragment has no L4 header: policy sees it with port 0, so only L3 rules
	 * (any port) can allow it. */
	if (ip->frag_off & bpf_htons(IP_FRAG_OFFSET_MASK))
		return PARSE_OK;

	switch (ip->protocol) {
	case IPPROTO_TCP: {
		struct tcphdr *th = l4;

		if ((void *)(th + 1) > data_end)
			return -DROP_MALFORMED_L4;
		p->sport = th->source;
		p->dport = th->dest;
		p->policy_port = th->dest;
		p->tcp_flags = ((__u8 *)th)[13];
		break;
	}
	case IPPROTO_UDP: {
		struct udphdr *uh = l4;

		if ((void *)(uh + 1) > data_end)
			return -DROP_MALFORMED_L4;
		p->sport = uh->source;
		p->dport = uh->dest;
		p->policy_port = uh->dest;
		break;
	}
	case IPPROTO_SCTP: {
		/* RFC 9260 common header: source port, destination port, tag, checksum. */
		__be16 *ports = l4;

		if ((void *)ports + 12 > data_end)
			return -DROP_MALFORMED_L4;
		p->sport = ports[0];
		p->dport = ports[1];
		p->policy_port = ports[1];
		break;
	}
	case IPPROTO_ICMP: {
		struct policy_icmp_echo *ih = l4;

		if ((void *)(ih + 1) > data_end)
			return -DROP_MALFORMED_L4;
		/* Echo request and reply share the identifier: keep it on opposite sides so that
		 * the reply's tuple is the request's reversed. */
		if (ih->type == POLICY_ICMP_ECHO)
			p->sport = ih->id;
		else if (ih->type == POLICY_ICMP_ECHOREPLY)
			p->dport = ih->id;
		break;
	}
	default:
		break;
	}
	return PARSE_OK;
}

#endif
