/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Shared by every program: kernel and libbpf includes, checksum and hash helpers. Kernel side
 * only. */
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
