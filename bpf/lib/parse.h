/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parsing: Ethernet -> IPv4/IPv6 (extension headers walked) ->
 * TCP/UDP/SCTP ports, ICMP/ICMPv6 echo id. Fills the flow key the rest of the
 * program works on.
 *
 * Headers are read in place when the linear part of the skb holds them
 * (the common case: no helper call), else copied with bpf_skb_load_bytes(),
 * which also reads paged data, so a header split across fragments of the
 * skb is never mistaken for a truncated one (and never skipped). Length fields are
 * checked against what the packet really holds: anything that does not add
 * up is BF_PARSE_INVALID and is dropped by the caller.
 *
 * Fragments (IPv4 and IPv6 alike): the first fragment must carry the whole
 * transport header (RFC 7112 for IPv6; a shorter one is INVALID). It is
 * parsed like any packet and its verdict is stored in `frags`. A later
 * fragment has no ports: it is reported as BF_FRAG_LATER with the datagram id
 * and follows the stored verdict.
 */
#ifndef BPFENCE_BPF_PARSE_H
#define BPFENCE_BPF_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "bpfence/datapath_abi.h"

#define BF_IPPROTO_ICMPV6 58
#define BF_IPPROTO_SCTP 132
#define BF_MAX_EXT_HDRS 8  /* header slots walked: at most 7 extension headers, then L4 */

enum bf_parse_result {
	BF_PARSE_OK = 0,
	BF_PARSE_NON_IP,
	BF_PARSE_NDP,
	BF_PARSE_INVALID,
};

enum bf_frag_kind {
	BF_FRAG_NONE = 0,
	BF_FRAG_FIRST,
	BF_FRAG_LATER,
};

struct bf_pkt {
	struct bf_flow_key key;  /* src, dst, ports, proto; the caller sets direction + endpoint */
	__u32 frag_id;           /* IPv4 id or IPv6 fragment identification */
	__u8 frag;               /* enum bf_frag_kind */
	__u8 frag_proto;         /* protocol named by the IP/fragment header */
	__u8 tcp_flags;
	__u8 pad;
};

/* `len` bytes at `off`: a pointer into the packet, or into `buf` after a
 * copy; NULL when the packet is shorter. */
static __always_inline const void *bf_hdr(struct __sk_buff *skb, __u32 off, void *buf, __u32 len)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;

	if (off <= 1024 && data + off + len <= data_end)
		return data + off;
	if (bpf_skb_load_bytes(skb, off, buf, len))
		return 0;
	return buf;
}

static __always_inline void bf_map_v4(__u8 *dst, __be32 addr)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &addr, 4);
}

/* Transport header at `off`, `avail` bytes of it in this packet. */
static __always_inline int bf_parse_l4(struct __sk_buff *skb, struct bf_pkt *p,
				       __u32 off, __u32 avail, int v6)
{
	__u8 buf[20];
	const __u8 *hdr;

	switch (p->key.proto) {
	case IPPROTO_TCP:
		if (avail < 20 || !(hdr = bf_hdr(skb, off, buf, 20)))
			return BF_PARSE_INVALID;
		/* data offset below 5 words, or past the datagram */
		if ((hdr[12] >> 4) < 5 || (__u32)(hdr[12] >> 4) * 4 > avail)
			return BF_PARSE_INVALID;
		__builtin_memcpy(&p->key.sport, hdr, 2);
		__builtin_memcpy(&p->key.dport, hdr + 2, 2);
		p->tcp_flags = hdr[13];
		return BF_PARSE_OK;
	case IPPROTO_UDP:
	case BF_IPPROTO_SCTP:
		/* UDP header is 8 bytes, SCTP's common header 12 */
		if (avail < (p->key.proto == IPPROTO_UDP ? 8u : 12u) ||
		    !(hdr = bf_hdr(skb, off, buf, 4)))
			return BF_PARSE_INVALID;
		__builtin_memcpy(&p->key.sport, hdr, 2);
		__builtin_memcpy(&p->key.dport, hdr + 2, 2);
		return BF_PARSE_OK;
	case IPPROTO_ICMP:
	case BF_IPPROTO_ICMPV6:
		if (avail < 8 || !(hdr = bf_hdr(skb, off, buf, 8)))
			return BF_PARSE_INVALID;
		if (v6 && p->key.proto == BF_IPPROTO_ICMPV6) {
			/* router/neighbour solicitation/advertisement, redirect */
			if (hdr[0] >= 133 && hdr[0] <= 137)
				return BF_PARSE_NDP;
			/* echo request/reply: the id pairs the two */
			if (hdr[0] == 128 || hdr[0] == 129) {
				__builtin_memcpy(&p->key.sport, hdr + 4, 2);
				p->key.dport = p->key.sport;
			}
		} else if (!v6 && p->key.proto == IPPROTO_ICMP) {
			if (hdr[0] == 8 || hdr[0] == 0) {
				__builtin_memcpy(&p->key.sport, hdr + 4, 2);
				p->key.dport = p->key.sport;
			}
		}
		return BF_PARSE_OK;
	default:
		/* other protocols: no ports; only "every protocol" rules match */
		return BF_PARSE_OK;
	}
}

static __always_inline int bf_parse_ipv4(struct __sk_buff *skb, struct bf_pkt *p)
{
	struct iphdr buf;
	const struct iphdr *ip = bf_hdr(skb, ETH_HLEN, &buf, sizeof(buf));
	__u32 hlen, tot;
	__u16 frag_off;

	if (!ip)
		return BF_PARSE_INVALID;
	hlen = ip->ihl * 4;
	tot = bpf_ntohs(ip->tot_len);
	if (ip->version != 4 || hlen < sizeof(buf) || tot < hlen || ETH_HLEN + tot > skb->len)
		return BF_PARSE_INVALID;

	bf_map_v4(p->key.src, ip->saddr);
	bf_map_v4(p->key.dst, ip->daddr);
	p->key.proto = ip->protocol;
	p->frag_proto = ip->protocol;

	frag_off = bpf_ntohs(ip->frag_off);
	if (frag_off & 0x1fff) {
		p->frag = BF_FRAG_LATER;
		p->frag_id = bpf_ntohs(ip->id);
		return BF_PARSE_OK;
	}
	if (frag_off & 0x2000) {
		p->frag = BF_FRAG_FIRST;
		p->frag_id = bpf_ntohs(ip->id);
	}
	return bf_parse_l4(skb, p, ETH_HLEN + hlen, tot - hlen, 0);
}

static __always_inline int bf_parse_ipv6(struct __sk_buff *skb, struct bf_pkt *p)
{
	struct ipv6hdr buf;
	const struct ipv6hdr *ip = bf_hdr(skb, ETH_HLEN, &buf, sizeof(buf));
	__u32 off = ETH_HLEN + sizeof(buf), end;
	__u8 nh, ext[8];
	int i;

	if (!ip)
		return BF_PARSE_INVALID;
	end = off + bpf_ntohs(ip->payload_len);
	/* payload_len 0 is a jumbogram: never on a pod veth */
	if (ip->version != 6 || ip->payload_len == 0 || end > skb->len)
		return BF_PARSE_INVALID;

	__builtin_memcpy(p->key.src, &ip->saddr, 16);
	__builtin_memcpy(p->key.dst, &ip->daddr, 16);
	nh = ip->nexthdr;

	for (i = 0; i < BF_MAX_EXT_HDRS; i++) {
		switch (nh) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			if (off + 8 > end || bpf_skb_load_bytes(skb, off, ext, 2))
				return BF_PARSE_INVALID;
			nh = ext[0];
			off += ((__u32)ext[1] + 1) * 8;
			continue;
		case IPPROTO_AH:
			if (off + 8 > end || bpf_skb_load_bytes(skb, off, ext, 2))
				return BF_PARSE_INVALID;
			nh = ext[0];
			off += ((__u32)ext[1] + 2) * 4;
			continue;
		case IPPROTO_FRAGMENT: {
			__u16 fo;
			__u32 id;

			if (off + 8 > end || bpf_skb_load_bytes(skb, off, ext, 8))
				return BF_PARSE_INVALID;
			nh = ext[0];
			fo = ((__u16)ext[2] << 8) | ext[3];
			__builtin_memcpy(&id, ext + 4, 4);
			p->frag_id = bpf_ntohl(id);
			p->frag_proto = nh;
			off += 8;
			if (fo & 0xfff8) {
				p->frag = BF_FRAG_LATER;
				p->key.proto = nh;
				return BF_PARSE_OK;
			}
			/* offset 0 and no M flag is an atomic fragment: a whole datagram */
			if (fo & 1)
				p->frag = BF_FRAG_FIRST;
			continue;
		}
		default:
			goto l4;
		}
	}
	/* still inside the header chain after BF_MAX_EXT_HDRS headers */
	return BF_PARSE_INVALID;
l4:
	if (off > end)
		return BF_PARSE_INVALID;
	p->key.proto = nh;
	if (p->frag != BF_FRAG_FIRST)
		p->frag_proto = nh;
	return bf_parse_l4(skb, p, off, end - off, 1);
}

static __always_inline int bf_parse(struct __sk_buff *skb, struct bf_pkt *p)
{
	switch (skb->protocol) {
	case bpf_htons(ETH_P_IP):
		return bf_parse_ipv4(skb, p);
	case bpf_htons(ETH_P_IPV6):
		return bf_parse_ipv6(skb, p);
	case bpf_htons(ETH_P_8021Q):
	case bpf_htons(ETH_P_8021AD):
		/* A pod veth carries no VLANs; forwarding a tagged frame would
		 * let an IP packet inside the tag skip policy. */
		return BF_PARSE_INVALID;
	default:
		return BF_PARSE_NON_IP;
	}
}

#endif /* BPFENCE_BPF_PARSE_H */
