/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The packet parser of every TC program: an IPv4 frame into what the LB and policy use
 * (addresses, the conntrack tuple's ports, TCP flags, where the L4 header and its checksum are).
 * Kernel side only. */
#ifndef NETAGENT_PARSE_BPF_H
#define NETAGENT_PARSE_BPF_H

#include "lib/common.bpf.h"
#include "netagent/drop.h"

#define IP_MF 0x2000
#define IP_OFFSET 0x1fff

#define ETH_HLEN_ sizeof(struct ethhdr)

/* TCP flags (byte 13 of the header) that end a connection. */
#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_RST 0x04

/* RFC 792 echo header. linux/icmp.h pulls in glibc headers, which BPF code must not use. */
#define ICMP_ECHOREPLY_ 0
#define ICMP_ECHO_ 8
struct icmp_echo_hdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be16 id;
	__be16 sequence;
};

/* The parsed view of an IPv4 packet at TC. Offsets are from the start of the frame. The ports
 * are the conntrack tuple's: TCP, UDP and SCTP ports; for ICMP echo the identifier, in sport for
 * requests and in dport for replies (so that a reply's tuple is its request's reversed); 0 for
 * other protocols and for non-first fragments. */
struct pkt4 {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 tcp_flags;
	__u16 l4_off;	 /* offset of the L4 header */
	__u16 csum_off;	 /* offset of the L4 checksum field (TCP and UDP only) */
	__u8 first_frag; /* MF set, offset 0 */
	__u8 later_frag; /* non-zero fragment offset: no L4 header */
};

enum parse_result {
	PARSE_OK = 0,
	PARSE_NOT_IPV4 = 1, /* ARP, IPv6, ...: not ours, pass untouched */
	PARSE_BAD_L3 = -1,  /* truncated or invalid IPv4 header */
	PARSE_BAD_L4 = -2,  /* truncated L4 header; the L3 fields are filled */
};

/* Checks a caller asks for beyond the headers themselves. */
enum parse_flags {
	/* The IPv4 total length must cover the header. The LB does not ask: a BIG TCP (GSO)
	 * packet carries a total length of 0 and must still be translated. */
	PARSE_F_TOT_LEN = 1 << 0,
};

/* The drop reason of a failed parse (PARSE_BAD_L3 or PARSE_BAD_L4). */
static __always_inline __u32 parse_drop_reason(int res)
{
	return res == PARSE_BAD_L3 ? DROP_MALFORMED_L3 : DROP_MALFORMED_L4;
}

/* The packet has TCP or UDP ports that a service can translate. */
static __always_inline int pkt4_has_ports(const struct pkt4 *p)
{
	return !p->later_frag && (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP);
}

/* flags: enum parse_flags, a constant (checks not asked for compile away). */
static __always_inline int parse_pkt4(struct __sk_buff *skb, struct pkt4 *p, __u32 flags)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	void *l4;
	__u32 ihl;

	if ((void *)(eth + 1) > data_end)
		return PARSE_NOT_IPV4;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return PARSE_NOT_IPV4;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return PARSE_BAD_L3;
	if (ip->version != 4 || ip->ihl < 5)
		return PARSE_BAD_L3;
	ihl = ip->ihl * 4;
	if ((flags & PARSE_F_TOT_LEN) && bpf_ntohs(ip->tot_len) < ihl)
		return PARSE_BAD_L3;
	l4 = data + ETH_HLEN_ + ihl;
	if (l4 > data_end)
		return PARSE_BAD_L3;
	p->saddr = ip->saddr;
	p->daddr = ip->daddr;
	p->proto = ip->protocol;
	p->sport = 0;
	p->dport = 0;
	p->tcp_flags = 0;
	p->first_frag = (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET)) == bpf_htons(IP_MF);
	p->later_frag = (ip->frag_off & bpf_htons(IP_OFFSET)) != 0;
	p->l4_off = ETH_HLEN_ + ihl;
	if (p->later_frag)
		return PARSE_OK;

	switch (p->proto) {
	case IPPROTO_TCP: {
		struct tcphdr *th = l4;

		if ((void *)(th + 1) > data_end)
			return PARSE_BAD_L4;
		p->sport = th->source;
		p->dport = th->dest;
		p->tcp_flags = ((__u8 *)th)[13];
		p->csum_off = p->l4_off + offsetof(struct tcphdr, check);
		break;
	}
	case IPPROTO_UDP: {
		struct udphdr *uh = l4;

		if ((void *)(uh + 1) > data_end)
			return PARSE_BAD_L4;
		p->sport = uh->source;
		p->dport = uh->dest;
		p->csum_off = p->l4_off + offsetof(struct udphdr, check);
		break;
	}
	case IPPROTO_SCTP: {
		/* RFC 9260 common header: source port, destination port, tag, checksum. */
		__be16 *ports = l4;

		if ((void *)ports + 12 > data_end)
			return PARSE_BAD_L4;
		p->sport = ports[0];
		p->dport = ports[1];
		break;
	}
	case IPPROTO_ICMP: {
		struct icmp_echo_hdr *ih = l4;

		if ((void *)(ih + 1) > data_end)
			return PARSE_BAD_L4;
		if (ih->type == ICMP_ECHO_)
			p->sport = ih->id;
		else if (ih->type == ICMP_ECHOREPLY_)
			p->dport = ih->id;
		break;
	}
	default:
		break;
	}
	return PARSE_OK;
}

#endif
