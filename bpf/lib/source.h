/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * May this pod send from this source address? Policy decides by the
 * packet's source, so a pod that borrowed another pod's (or the node's)
 * address would be judged as that one. Allowed: the pod's own addresses
 * (bf_endpoint.ip4/ip6: two compares, no lookup), the IPv6 link-local and
 * unspecified addresses (neighbour discovery, MLD, DAD: the kernel never
 * routes them off the link), and the endpoint's extra prefixes in
 * `src_prefixes` (one LPM lookup, only for a source that is none of the
 * above). Called only when no flow entry at the current generation
 * decided the packet: every entry this endpoint holds for what it sends
 * was made after this check (see bf_handle), so a hit costs nothing more.
 */
#ifndef BPFENCE_BPF_SOURCE_H
#define BPFENCE_BPF_SOURCE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "bpfence/datapath_abi.h"
#include "lib/maps.h"
#include "lib/policy.h"

static __always_inline int bf_source_allowed(const struct bf_endpoint *ep, const __u8 *src)
{
	struct bf_src_key k;

	/* A zero ip4 never equals an IPv4-mapped source; a zero ip6 only
	 * equals ::, which is allowed anyway. */
	if (bf_addr_eq(src, ep->ip4) || bf_addr_eq(src, ep->ip6))
		return 1;
	/* fe80::/10 and :: */
	if ((src[0] == 0xfe && (src[1] & 0xc0) == 0x80) || bf_addr_zero(src))
		return 1;
	k.prefixlen = BF_SRC_FIXED_BITS + 128;
	k.endpoint_id = ep->endpoint_id;
	__builtin_memcpy(k.addr, src, 16);
	return bpf_map_lookup_elem(&src_prefixes, &k) != 0;
}

#endif /* BPFENCE_BPF_SOURCE_H */
