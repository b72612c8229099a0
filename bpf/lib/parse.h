/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parsing: Ethernet -> IPv4/IPv6 (extension headers walked) ->
 * TCP/UDP/SCTP ports, ICMP/ICMPv6 echo id, and for an ICMP error the
 * addresses and ports of the datagram it quotes. Fills the flow key the rest
 * of the program works on.
 *
 * Headers are read in place (direct packet access, no copy). When one lies
 * past the linear part of the skb (paged data), bf_at() pulls the packet's
 * bytes up to that header's end into the linear part with
 * bpf_skb_pull_data() and reads it in place: a header split across
 * fragments of the skb is never mistaken for a truncated one (and never
 * skipped). The common packet (headers in the linear part, GSO TCP too)
 * makes no helper call: a pull of a cloned skb copies its head. Only the
 * ICMP quote is copied (bpf_skb_load_bytes), once, into a buffer. Length
 * fields are checked against what the packet really holds: anything that
 * does not add up is BF_PARSE_INVALID and is dropped by the caller.
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

/* Header sizes (bytes) a packet must hold to be parsed. */
#define BF_IPV4_HDR_MIN 20
#define BF_IPV6_HDR 40
#define BF_L4_PORTS 4       /* source + destination port */
#define BF_TCP_HDR_MIN 20
#define BF_UDP_HDR 8
#define BF_SCTP_HDR 12      /* SCTP common header */
#define BF_ICMP_HDR 8       /* type, code, checksum, echo id + sequence (or unused) */
#define BF_QUOTE_L4 8       /* what an ICMP error quotes past the IP header (RFC 792) */
#define BF_IPV6_EXT_MIN 8   /* every extension header is at least 8 bytes */
#define BF_IPV6_FRAG_HDR 8

/* IPv4 frag_off (host order) and IPv6 fragment header fields. */
#define BF_IPV4_MF 0x2000
#define BF_IPV4_OFFSET 0x1fff
#define BF_IPV6_FRAG_OFFSET 0xfff8
#define BF_IPV6_FRAG_MF 0x0001

/* ICMP / ICMPv6 types the parser tells apart. */
#define BF_ICMP_ECHO_REPLY 0
#define BF_ICMP_DEST_UNREACH 3
#define BF_ICMP_ECHO 8
#define BF_ICMP_TIME_EXCEEDED 11
#define BF_ICMP_PARAMETER_PROB 12
#define BF_ICMPV6_ERROR_FIRST 1   /* destination unreachable */
#define BF_ICMPV6_ERROR_LAST 4    /* parameter problem (2: packet too big, 3: time exceeded) */
#define BF_ICMPV6_ECHO_REQUEST 128
#define BF_ICMPV6_ECHO_REPLY 129
#define BF_ICMPV6_NDP_FIRST 133   /* router solicitation */
#define BF_ICMPV6_NDP_LAST 137    /* redirect */

/* For the verifier: a packet pointer's variable offset must be bounded.
 * No header a valid packet has starts further in: Ethernet + IPv6 + 7
 * extension headers of at most 2,048 bytes each + a TCP header stay below
 * 16 KiB, so a header past this is INVALID, never skipped. */
#define BF_HDR_OFF_MAX 0x4000

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

/* `len` bytes at `off`, in place: a pointer into the packet; NULL when the
 * packet is shorter. A header past the linear part is pulled into it first
 * (only those bytes: the payload of a GSO packet stays paged). A pull
 * invalidates every packet pointer taken before it, so callers copy what
 * they need from one header before asking for the next. */
/* The linear part's bounds, loaded afresh at each use: after a pull the old
 * ones are void (and a compiler reusing a register of an earlier load would
 * hand the verifier a pointer it refuses to shift). */
static __always_inline void *bf_data(struct __sk_buff *skb)
{
	return (void *)(long)*(volatile __u32 *)&skb->data;
}

static __always_inline void *bf_data_end(struct __sk_buff *skb)
{
	return (void *)(long)*(volatile __u32 *)&skb->data_end;
}

static __always_inline const void *bf_at(struct __sk_buff *skb, __u32 off, __u32 len)
{
	void *data;

	if (off > BF_HDR_OFF_MAX)  /* for the verifier, and see BF_HDR_OFF_MAX */
		return 0;
	data = bf_data(skb);
	if (data + off + len <= bf_data_end(skb))
		return data + off;
	if (off + len > skb->len || bpf_skb_pull_data(skb, off + len))
		return 0;
	data = bf_data(skb);
	if (data + off + len > bf_data_end(skb))
		return 0;
	return data + off;
}

/* `len` bytes at `off` copied into `buf` (paged data too): 0 on success. */
static __always_inline int bf_copy(struct __sk_buff *skb, __u32 off, void *buf, __u32 len)
{
	return bpf_skb_load_bytes(skb, off, buf, len);
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
		return type >= BF_ICMPV6_ERROR_FIRST && type <= BF_ICMPV6_ERROR_LAST;
	return type == BF_ICMP_DEST_UNREACH || type == BF_ICMP_TIME_EXCEEDED || type == BF_ICMP_PARAMETER_PROB;
}

/* An echo request or reply, whose id pairs the two like a port. */
static __always_inline int bf_icmp_is_echo(__u8 type, int v6)
{
	if (v6)
		return type == BF_ICMPV6_ECHO_REQUEST || type == BF_ICMPV6_ECHO_REPLY;
	return type == BF_ICMP_ECHO || type == BF_ICMP_ECHO_REPLY;
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
		if (bf_icmp_is_echo(l4[0], v6)) {
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
	__u8 h[BF_IPV6_HDR];
	__u32 hlen = BF_IPV6_HDR;
	__be32 a;

	/* Copied, not read in place: the quote is read from the error's
	 * payload, and one copy of a few bytes costs less than pulling it. */
	if (v6) {
		if (avail < BF_IPV6_HDR + BF_QUOTE_L4 || bf_copy(skb, off, h, BF_IPV6_HDR) || (h[0] >> 4) != 6)
			return 0;
		__builtin_memcpy(p->inner.src, h + 8, 16);
		__builtin_memcpy(p->inner.dst, h + 24, 16);
		p->inner.proto = h[6];
		if (p->inner.proto != IPPROTO_TCP && p->inner.proto != IPPROTO_UDP &&
		    p->inner.proto != BF_IPPROTO_SCTP && p->inner.proto != BF_IPPROTO_ICMPV6)
			return 0;
	} else {
		if (avail < BF_IPV4_HDR_MIN + BF_QUOTE_L4 || bf_copy(skb, off, h, BF_IPV4_HDR_MIN) ||
		    (h[0] >> 4) != 4)
			return 0;
		hlen = (h[0] & 0xf) * 4;
		/* a later fragment (offset bits in bytes 6-7) has no ports */
		if (hlen < BF_IPV4_HDR_MIN || avail < hlen + BF_QUOTE_L4 || (h[6] & 0x1f) || h[7])
			return 0;
		__builtin_memcpy(&a, h + 12, 4);
		bf_map_v4(p->inner.src, a);
		__builtin_memcpy(&a, h + 16, 4);
		bf_map_v4(p->inner.dst, a);
		p->inner.proto = h[9];
	}
	if (bf_copy(skb, off + hlen, h, BF_QUOTE_L4))
		return 0;
	bf_quote_ports(&p->inner, h, v6);
	return 1;
}

/* Transport header at `off`, `avail` bytes of it in this packet. */
static __always_inline int bf_parse_l4(struct __sk_buff *skb, struct bf_pkt *p,
				       __u32 off, __u32 avail, int v6)
{
	const __u8 *hdr;

	switch (p->key.proto) {
	case IPPROTO_TCP:
		if (avail < BF_TCP_HDR_MIN || !(hdr = bf_at(skb, off, BF_TCP_HDR_MIN)))
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
		if (avail < (p->key.proto == IPPROTO_UDP ? BF_UDP_HDR : BF_SCTP_HDR) ||
		    !(hdr = bf_at(skb, off, BF_L4_PORTS)))
			return BF_PARSE_INVALID;
		__builtin_memcpy(&p->key.sport, hdr, 2);
		__builtin_memcpy(&p->key.dport, hdr + 2, 2);
		return BF_PARSE_OK;
	case IPPROTO_ICMP:
	case BF_IPPROTO_ICMPV6:
	{
		__u8 type;

		if (avail < BF_ICMP_HDR || !(hdr = bf_at(skb, off, BF_ICMP_HDR)))
			return BF_PARSE_INVALID;
		/* ICMPv6 in IPv4 or ICMP in IPv6: no types */
		if (v6 != (p->key.proto == BF_IPPROTO_ICMPV6))
			return BF_PARSE_OK;
		type = hdr[0];
		/* router/neighbour solicitation/advertisement, redirect */
		if (v6 && type >= BF_ICMPV6_NDP_FIRST && type <= BF_ICMPV6_NDP_LAST)
			return BF_PARSE_NDP;
		if (bf_icmp_is_echo(type, v6)) {
			__builtin_memcpy(&p->key.sport, hdr + 4, 2);
			p->key.dport = p->key.sport;
		}
		if (bf_icmp_is_error(type, v6))
			p->icmp_error = bf_parse_quote(skb, p, off + BF_ICMP_HDR, avail - BF_ICMP_HDR, v6) ?
						BF_ICMP_ERR_QUOTE : BF_ICMP_ERR_UNREADABLE;
		return BF_PARSE_OK;
	}
	default:
		/* other protocols: no ports; only "every protocol" rules match */
		return BF_PARSE_OK;
	}
}

static __always_inline int bf_parse_ipv4(struct __sk_buff *skb, struct bf_pkt *p)
{
	const struct iphdr *ip = bf_at(skb, ETH_HLEN, sizeof(*ip));
	__u32 hlen, tot;
	__u16 frag_off;

	if (!ip)
		return BF_PARSE_INVALID;
	hlen = ip->ihl * 4;
	tot = bpf_ntohs(ip->tot_len);
	if (ip->version != 4 || hlen < BF_IPV4_HDR_MIN || tot < hlen || ETH_HLEN + tot > skb->len)
		return BF_PARSE_INVALID;

	bf_map_v4(p->key.src, ip->saddr);
	bf_map_v4(p->key.dst, ip->daddr);
	p->key.proto = ip->protocol;
	p->frag_proto = ip->protocol;

	frag_off = bpf_ntohs(ip->frag_off);
	if (frag_off & BF_IPV4_OFFSET) {
		p->frag = BF_FRAG_LATER;
		p->frag_id = bpf_ntohs(ip->id);
		return BF_PARSE_OK;
	}
	if (frag_off & BF_IPV4_MF) {
		p->frag = BF_FRAG_FIRST;
		p->frag_id = bpf_ntohs(ip->id);
	}
	return bf_parse_l4(skb, p, ETH_HLEN + hlen, tot - hlen, 0);
}

static __always_inline int bf_parse_ipv6(struct __sk_buff *skb, struct bf_pkt *p)
{
	const struct ipv6hdr *ip = bf_at(skb, ETH_HLEN, sizeof(*ip));
	__u32 off = ETH_HLEN + BF_IPV6_HDR, end;
	const __u8 *ext;
	__u8 nh;
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

	/* Bounded for the verifier (BF_MAX_EXT_HDRS slots): RFC 8200 orders at
	 * most 7 extension headers before the transport header. */
	for (i = 0; i < BF_MAX_EXT_HDRS; i++) {
		switch (nh) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			/* next header, length in 8-byte units not counting the first */
			if (off + BF_IPV6_EXT_MIN > end || !(ext = bf_at(skb, off, 2)))
				return BF_PARSE_INVALID;
			nh = ext[0];
			off += ((__u32)ext[1] + 1) * 8;
			continue;
		case IPPROTO_AH:
			/* next header, length in 4-byte units minus 2 (RFC 4302) */
			if (off + BF_IPV6_EXT_MIN > end || !(ext = bf_at(skb, off, 2)))
				return BF_PARSE_INVALID;
			nh = ext[0];
			off += ((__u32)ext[1] + 2) * 4;
			continue;
		case IPPROTO_FRAGMENT: {
			__u16 fo;
			__u32 id;

			if (off + BF_IPV6_FRAG_HDR > end || !(ext = bf_at(skb, off, BF_IPV6_FRAG_HDR)))
				return BF_PARSE_INVALID;
			nh = ext[0];
			fo = ((__u16)ext[2] << 8) | ext[3];
			__builtin_memcpy(&id, ext + 4, 4);
			p->frag_id = bpf_ntohl(id);
			p->frag_proto = nh;
			off += BF_IPV6_FRAG_HDR;
			if (fo & BF_IPV6_FRAG_OFFSET) {
				/* the last header slot: 7 headers came before this
				 * one, as many as a whole datagram may have */
				if (i == BF_MAX_EXT_HDRS - 1)
					return BF_PARSE_INVALID;
				p->frag = BF_FRAG_LATER;
				p->key.proto = nh;
				return BF_PARSE_OK;
			}
			/* offset 0 and no M flag is an atomic fragment: a whole datagram */
			if (fo & BF_IPV6_FRAG_MF)
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
