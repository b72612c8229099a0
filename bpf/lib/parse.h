/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parsing: Ethernet -> IPv4/IPv6 (extension headers walked) ->
 * TCP/UDP/SCTP ports, ICMP/ICMPv6 echo id, and for an ICMP error the
 * addresses and ports of the datagram it quotes. Fills the flow key the rest
 * of the program works on.
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

enum bf_icmp_error_kind {
	BF_ICMP_ERR_NONE = 0,
	BF_ICMP_ERR_QUOTE,       /* an ICMP error whose quoted datagram was read into `inner` */
	BF_ICMP_ERR_UNREADABLE,  /* an ICMP error whose quote is cut short or not understood */
};

struct bf_pkt {
	struct bf_flow_key key;  /* src, dst, ports, proto; the caller sets direction + endpoint */
	struct bf_flow_key inner; /* ICMP error: the datagram it quotes (src, dst, ports, proto) */
	__u32 frag_id;           /* IPv4 id or IPv6 fragment identification */
	__u8 frag;               /* enum bf_frag_kind */
	__u8 frag_proto;         /* protocol named by the IP/fragment header */
	__u8 tcp_flags;
	__u8 icmp_error;         /* enum bf_icmp_error_kind */
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

/* ICMP types that quote the datagram they report on (RFC 792, RFC 4443):
 * destination unreachable (incl. fragmentation needed), time exceeded,
 * parameter problem; ICMPv6 also packet too big. */
static __always_inline int bf_icmp_is_error(__u8 type, int v6)
{
	if (v6)
		return type >= 1 && type <= 4;
	return type == 3 || type == 11 || type == 12;
}

/* Ports of a transport header's first 8 bytes, as bf_parse_l4 keys them:
 * TCP/UDP/SCTP ports, the echo id of an ICMP echo, else none. */
static __always_inline void bf_quote_ports(struct bf_flow_key *k, const __u8 *l4, int v6)
{
	switch (k->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case BF_IPPROTO_SCTP:
		__builtin_memcpy(&k->sport, l4, 2);
		__builtin_memcpy(&k->dport, l4 + 2, 2);
		return;
	case IPPROTO_ICMP:
	case BF_IPPROTO_ICMPV6:
		if ((!v6 && (l4[0] == 8 || l4[0] == 0)) || (v6 && (l4[0] == 128 || l4[0] == 129))) {
			__builtin_memcpy(&k->sport, l4 + 4, 2);
			k->dport = k->sport;
		}
		return;
	}
}

/* The datagram an ICMP error quotes, `avail` bytes at `off`: its addresses,
 * protocol and ports into p->inner, so the caller can find the flow it
 * belongs to. Returns 0 when that cannot be read: the quote is shorter than
 * the IP header + 8 bytes every router sends, it quotes a later fragment
 * (no ports), or an IPv6 datagram with extension headers (not walked here). */
static __always_inline int bf_parse_quote(struct __sk_buff *skb, struct bf_pkt *p, __u32 off,
					  __u32 avail, int v6)
{
	__u8 buf[40];
	const __u8 *h;
	__u32 hlen = 40;
	__be32 a;

	if (v6) {
		if (avail < 40 + 8 || !(h = bf_hdr(skb, off, buf, 40)) || (h[0] >> 4) != 6)
			return 0;
		__builtin_memcpy(p->inner.src, h + 8, 16);
		__builtin_memcpy(p->inner.dst, h + 24, 16);
		p->inner.proto = h[6];
		if (p->inner.proto != IPPROTO_TCP && p->inner.proto != IPPROTO_UDP &&
		    p->inner.proto != BF_IPPROTO_SCTP && p->inner.proto != BF_IPPROTO_ICMPV6)
			return 0;
	} else {
		if (avail < 20 + 8 || !(h = bf_hdr(skb, off, buf, 20)) || (h[0] >> 4) != 4)
			return 0;
		hlen = (h[0] & 0xf) * 4;
		if (hlen < 20 || avail < hlen + 8 || (h[6] & 0x1f) || h[7])
			return 0;
		__builtin_memcpy(&a, h + 12, 4);
		bf_map_v4(p->inner.src, a);
		__builtin_memcpy(&a, h + 16, 4);
		bf_map_v4(p->inner.dst, a);
		p->inner.proto = h[9];
	}
	if (!(h = bf_hdr(skb, off + hlen, buf, 8)))
		return 0;
	bf_quote_ports(&p->inner, h, v6);
	return 1;
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
		} else {
			return BF_PARSE_OK;  /* ICMPv6 in IPv4 or ICMP in IPv6: no types */
		}
		if (bf_icmp_is_error(hdr[0], v6))
			p->icmp_error = bf_parse_quote(skb, p, off + 8, avail - 8, v6) ?
						BF_ICMP_ERR_QUOTE : BF_ICMP_ERR_UNREADABLE;
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
				/* the last header slot: 7 headers came before this
				 * one, as many as a whole datagram may have */
				if (i == BF_MAX_EXT_HDRS - 1)
					return BF_PARSE_INVALID;
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
