/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Small runtime shared by the programs: includes, packet parsing, hashing. Kernel side only. */
#ifndef NETAGENT_COMMON_BPF_H
#define NETAGENT_COMMON_BPF_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#define IP_MF 0x2000
#define IP_OFFSET 0x1fff

#define ETH_HLEN_ sizeof(struct ethhdr)

/* The parsed view of an IPv4 TCP/UDP packet at TC. Offsets are from the start of the frame. */
struct pkt4 {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 tcp_flags;
	__u16 l4_off;	 /* offset of the TCP/UDP header */
	__u16 csum_off;	 /* offset of the L4 checksum field */
	__u8 first_frag; /* MF set, offset 0 */
	__u8 later_frag; /* non-zero fragment offset: no L4 header */
};

enum parse_result {
	PARSE_OK = 0,
	PARSE_NOT_IPV4 = 1, /* not ours: pass untouched */
	PARSE_NOT_L4 = 2,   /* IPv4 but not TCP/UDP (or a later fragment): pass untouched */
	PARSE_BAD_L3 = -1,  /* truncated/invalid IPv4 header */
	PARSE_BAD_L4 = -2,  /* truncated TCP/UDP header */
};

static __always_inline int parse_pkt4(struct __sk_buff *skb, struct pkt4 *p)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
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
	if (data + ETH_HLEN_ + ihl > data_end)
		return PARSE_BAD_L3;
	p->saddr = ip->saddr;
	p->daddr = ip->daddr;
	p->proto = ip->protocol;
	p->tcp_flags = 0;
	p->first_frag = (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET)) == bpf_htons(IP_MF);
	p->later_frag = (ip->frag_off & bpf_htons(IP_OFFSET)) != 0;
	p->l4_off = ETH_HLEN_ + ihl;
	if (p->later_frag || (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP))
		return PARSE_NOT_L4;
	if (p->proto == IPPROTO_TCP) {
		struct tcphdr *th = data + ETH_HLEN_ + ihl;

		if ((void *)(th + 1) > data_end)
			return PARSE_BAD_L4;
		p->sport = th->source;
		p->dport = th->dest;
		p->tcp_flags = ((__u8 *)th)[13];
		p->csum_off = p->l4_off + offsetof(struct tcphdr, check);
	} else {
		struct udphdr *uh = data + ETH_HLEN_ + ihl;

		if ((void *)(uh + 1) > data_end)
			return PARSE_BAD_L4;
		p->sport = uh->source;
		p->dport = uh->dest;
		p->csum_off = p->l4_off + offsetof(struct udphdr, check);
	}
	return PARSE_OK;
}

/* Incremental checksum update for a changed 32-bit field (RFC 1624, eqn. 3):
 * HC' = ~(~HC + ~m + m'). One's-complement sums do not depend on byte order. */
static __always_inline __u16 csum_replace4(__u16 check, __u32 from, __u32 to)
{
	__u32 s = (__u16)~check;

	s += (~from & 0xffff) + (~from >> 16) + (to & 0xffff) + (to >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/* Bob Jenkins' lookup3 final mix (the kernel's jhash_3words), for flow hashing. */
#define NA_ROL32(x, k) (((x) << (k)) | ((x) >> (32 - (k))))
static __always_inline __u32 hash_3words(__u32 a, __u32 b, __u32 c, __u32 initval)
{
	a += 0xdeadbeef + (3 << 2) + initval;
	b += 0xdeadbeef + (3 << 2) + initval;
	c += 0xdeadbeef + (3 << 2) + initval;
	c ^= b;
	c -= NA_ROL32(b, 14);
	a ^= c;
	a -= NA_ROL32(c, 11);
	b ^= a;
	b -= NA_ROL32(a, 25);
	c ^= b;
	c -= NA_ROL32(b, 16);
	a ^= c;
	a -= NA_ROL32(c, 4);
	b ^= a;
	b -= NA_ROL32(a, 14);
	c ^= b;
	c -= NA_ROL32(b, 24);
	return c;
}

#endif
