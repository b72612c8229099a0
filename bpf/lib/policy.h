/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The verdict for a flow that is not (or no longer) in the flow table.
 *
 * Order: host peer (always allowed, even fail-closed, so kubelet probes keep
 * a pod alive) -> the pod itself -> fail-closed -> not isolated -> policy.
 * The policy step is a fixed number of lookups whatever the number of
 * policies or pods: the peer's pod identity (hash) and CIDR identity (LPM),
 * then for each of {pod identity, CIDR identity, BF_ID_ANY}: exact port,
 * every port of the protocol, every protocol, port range (LPM, only when the
 * endpoint has ranges that way).
 */
#ifndef BPFENCE_BPF_POLICY_H
#define BPFENCE_BPF_POLICY_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

#include "bpfence/datapath_abi.h"
#include "lib/maps.h"
#include "lib/parse.h"

struct bf_decision {
	__u32 rule_id;
	__u8 action;
	__u8 reason;
};

static __always_inline int bf_has_ports(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == BF_IPPROTO_SCTP;
}

static __always_inline int bf_addr_eq(const __u8 *a, const __u8 *b)
{
	__u64 a0, a1, b0, b1;

	__builtin_memcpy(&a0, a, 8);
	__builtin_memcpy(&a1, a + 8, 8);
	__builtin_memcpy(&b0, b, 8);
	__builtin_memcpy(&b1, b + 8, 8);
	return a0 == b0 && a1 == b1;
}

static __always_inline int bf_addr_zero(const __u8 *a)
{
	__u64 a0, a1;

	__builtin_memcpy(&a0, a, 8);
	__builtin_memcpy(&a1, a + 8, 8);
	return (a0 | a1) == 0;
}

/* One peer identity: exact port, every port of proto, every protocol, then
 * port ranges: the order Compiler::verdict() uses, so both name the same rule. */
static __always_inline int bf_rule_for(__u32 endpoint_id, __u32 peer, __u8 dir, __u8 proto,
				       __be16 port, int ranges, __u32 *rule_id)
{
	struct bf_policy_key k = {
		.endpoint_id = endpoint_id,
		.peer_identity = peer,
		.direction = dir,
		.proto = proto,
		.port = port,
	};
	struct bf_policy_value *v;

	if (bf_has_ports(proto)) {
		v = bpf_map_lookup_elem(&policy, &k);
		if (v)
			goto hit;
		k.port = 0;
		v = bpf_map_lookup_elem(&policy, &k);
		if (v)
			goto hit;
	}
	k.proto = 0;
	k.port = 0;
	v = bpf_map_lookup_elem(&policy, &k);
	if (v)
		goto hit;
	if (ranges && bf_has_ports(proto)) {
		struct bf_range_key rk = {
			.prefixlen = BF_RANGE_FIXED_BITS + 16,
			.endpoint_id = endpoint_id,
			.peer_identity = peer,
			.direction = dir,
			.proto = proto,
			.port = port,
		};
		v = bpf_map_lookup_elem(&range_policy, &rk);
		if (v)
			goto hit;
	}
	return 0;
hit:
	*rule_id = v->rule_id;
	return 1;
}

/* Decides the flow `key` (its direction and endpoint included) at `ep`. */
static __always_inline void bf_decide(const struct bf_endpoint *ep, const struct bf_flow_key *key,
				      struct bf_decision *d)
{
	__u8 dir = key->direction;
	const __u8 *peer = dir == BF_DIR_INGRESS ? key->src : key->dst;
	struct bf_addr_value *av;
	struct bf_cidr_key ck;
	__u32 pod_id = 0, cidr_id = 0, *cid;
	__be16 port;
	int ranges;

	d->rule_id = 0;
	av = bpf_map_lookup_elem(&pod_addrs, peer);
	if (av && av->identity == BF_ID_HOST) {
		d->action = BF_ACT_FORWARD;
		d->reason = BF_R_HOST;
		return;
	}
	if ((!bf_addr_zero(ep->ip4) && bf_addr_eq(peer, ep->ip4)) ||
	    (!bf_addr_zero(ep->ip6) && bf_addr_eq(peer, ep->ip6))) {
		d->action = BF_ACT_FORWARD;
		d->reason = BF_R_SELF;
		return;
	}
	if (ep->fail_closed) {
		d->action = BF_ACT_DROP;
		d->reason = BF_R_FAIL_CLOSED;
		return;
	}
	if (!(dir == BF_DIR_INGRESS ? ep->ingress_isolated : ep->egress_isolated)) {
		d->action = BF_ACT_FORWARD;
		d->reason = BF_R_NOT_ISOLATED;
		return;
	}

	if (av)
		pod_id = av->identity;
	ck.prefixlen = 128;
	__builtin_memcpy(ck.addr, peer, 16);
	cid = bpf_map_lookup_elem(&cidrs, &ck);
	if (cid)
		cidr_id = *cid;

	port = bf_has_ports(key->proto) ? key->dport : 0;
	ranges = ep->has_ranges & (1 << dir);
	d->action = BF_ACT_FORWARD;
	d->reason = BF_R_POLICY;
	/* A range lookup per peer kind, unless the endpoint says it has no range
	 * entry for that kind (BF_RANGES_NONE): a deny then costs the same
	 * however many ranges other peers have. */
#define BF_KIND_RANGES(kind) (ranges && !(ep->has_ranges & BF_RANGES_NONE(dir, kind)))
	if (pod_id && bf_rule_for(ep->endpoint_id, pod_id, dir, key->proto, port, BF_KIND_RANGES(BF_PEER_POD),
				  &d->rule_id))
		return;
	if (cidr_id && bf_rule_for(ep->endpoint_id, cidr_id, dir, key->proto, port, BF_KIND_RANGES(BF_PEER_CIDR),
				   &d->rule_id))
		return;
	if (bf_rule_for(ep->endpoint_id, BF_ID_ANY, dir, key->proto, port, BF_KIND_RANGES(BF_PEER_ANY),
			&d->rule_id))
		return;
#undef BF_KIND_RANGES
	d->action = BF_ACT_DROP;
	d->reason = BF_R_FW_POLICY;
}

/* Is this ICMP error part of a flow the endpoint already allows (RELATED in
 * conntrack's words)? The datagram it quotes went the other way through
 * this endpoint: the pod sent it and now gets the error (fragmentation
 * needed, port unreachable), or received it and answers with one. It must
 * have been sent by the error's destination, and have a Forward entry at the
 * endpoint's current generation (a stale entry is re-decided by the flow's
 * own next packet; until then the error is judged as plain ICMP). */
static __always_inline int bf_icmp_related(const struct bf_endpoint *ep, struct bf_pkt *p)
{
	struct bf_flow_value *f;

	if (p->icmp_error != BF_ICMP_ERR_QUOTE || !bf_addr_eq(p->inner.src, p->key.dst))
		return 0;
	p->inner.direction = p->key.direction ^ 1;
	p->inner.pad = 0;
	p->inner.endpoint_id = p->key.endpoint_id;
	f = bpf_map_lookup_elem(&flows, &p->inner);
	return f && f->action == BF_ACT_FORWARD && f->generation == ep->generation;
}

#endif /* BPFENCE_BPF_POLICY_H */
