/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The verdict for a flow that is not (or no longer) in the flow table.
 *
 * Order, per direction (the one Compiler::verdict() follows):
 *   the pod itself -> fail-closed (a host peer still passes, so kubelet
 *   probes keep a pod alive) -> ClusterNetworkPolicy Admin stage -> not
 *   isolated: Baseline stage, else allowed -> isolated: host peer allowed,
 *   else the NetworkPolicy lookups.
 * Every step is a fixed number of lookups whatever the number of policies or
 * pods. A ClusterNetworkPolicy stage is at most 3 LPM lookups, one per peer
 * identity (pod identity, BF_ID_ANY_POD, CIDR identity: the entries for
 * every protocol are shorter prefixes of the same trie, their rank copied
 * onto the protocol entries they cover), and is skipped when the
 * endpoint's cnp_stages bit for it is clear. The bound, per direction of
 * a first packet's decision: pod_addrs (1) + cidrs (1) + Admin stage (3) + either the
 * Baseline stage (3) or the NetworkPolicy step (12): at most 17 lookups,
 * whatever the number of policies (what grows is the depth of a trie
 * walk). The policy
 * step: the peer's CIDR identity (LPM), then for each of {pod identity, CIDR
 * identity, BF_ID_ANY}: exact port, every port of the protocol, every
 * protocol, port range (LPM, only when the endpoint has ranges that way).
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

/* The best (smallest rank) cluster_policy entry seen so far in a stage. */
struct bf_cnp_best {
	__u32 rank;
	__u32 rule_id;
	__u8 action;
};

/* One LPM lookup of a stage: the longest match for this (peer, proto, port),
 * a port prefix of the protocol or else the peer's every-protocol entry,
 * already carries the best rank of the entries covering it (the compiler
 * copies it down), so only the peers' minimum is left to take. */
static __always_inline void bf_cnp_try(struct bf_cnp_key *k, __u32 peer, struct bf_cnp_best *best)
{
	struct bf_cnp_value *v;

	k->peer_identity = peer;
	v = bpf_map_lookup_elem(&cluster_policy, k);
	if (v && v->rank < best->rank) {
		best->rank = v->rank;
		best->rule_id = v->rule_id;
		best->action = v->action;
	}
}

/* What bf_cnp_stage() returns: 0 (a Pass, or no entry: the stage ends and
 * evaluation goes on), else the deciding rule id << 8 | one of these. */
enum {
	BF_CNP_DECIDED_ACCEPT = 1,
	BF_CNP_DECIDED_DENY = 2,
};

/* A ClusterNetworkPolicy stage (one tier, one direction): of the entries
 * matching the peer's pod identity, BF_ID_ANY_POD (when the peer is a pod)
 * and its CIDR identity, for the packet's protocol and port or for every
 * protocol, the smallest rank decides: one lookup per peer identity.
 *
 * A global function: the verifier checks it once, on its own, whatever
 * the number of call sites (bf_decide() is inlined three times, each with
 * two stages), instead of walking its lookups' branches again at every
 * one of them. So it takes scalars only (what kernels before 5.12 allow)
 * and returns a scalar: dir_tier_proto = direction | tier << 8 | proto << 16. */
__attribute__((noinline)) __u64 bf_cnp_stage(__u32 endpoint_id, __u32 dir_tier_proto, __u32 pod_id, __u32 cidr_id,
					     __u32 port)
{
	__u8 proto = dir_tier_proto >> 16;
	/* port is 0 for a protocol without ports: only the every-protocol
	 * entries match it (the compiler writes none for such a protocol). */
	struct bf_cnp_key k = {
		.prefixlen = BF_CNP_FIXED_BITS + 16,
		.endpoint_id = endpoint_id,
		.direction = dir_tier_proto & 0xff,
		.tier = (dir_tier_proto >> 8) & 0xff,
		.proto = proto,
		.port = port,
	};
	struct bf_cnp_best best = { .rank = 0xffffffff, .action = BF_CNP_PASS };

	if (pod_id) {
		bf_cnp_try(&k, pod_id, &best);
		bf_cnp_try(&k, BF_ID_ANY_POD, &best);
	}
	if (cidr_id)
		bf_cnp_try(&k, cidr_id, &best);
	if (best.action == BF_CNP_ACCEPT)
		return (__u64)best.rule_id << 8 | BF_CNP_DECIDED_ACCEPT;
	if (best.action == BF_CNP_DENY)
		return (__u64)best.rule_id << 8 | BF_CNP_DECIDED_DENY;
	return 0;
}

/* Runs the stage of `tier`; Accept or Deny fills `d` and returns 1. */
static __always_inline int bf_cnp_decide(const struct bf_endpoint *ep, __u8 dir, __u8 tier, __u32 pod_id,
					 __u32 cidr_id, __u8 proto, __be16 port, struct bf_decision *d)
{
	__u64 r = bf_cnp_stage(ep->endpoint_id, dir | tier << 8 | (__u32)proto << 16, pod_id, cidr_id, port);
	__u8 admin = tier == BF_TIER_ADMIN;

	if (!r)
		return 0;
	d->rule_id = r >> 8;
	if ((r & 0xff) == BF_CNP_DECIDED_ACCEPT) {
		d->action = BF_ACT_FORWARD;
		d->reason = admin ? BF_R_ADMIN_ACCEPT : BF_R_BASELINE_ACCEPT;
	} else {
		d->action = BF_ACT_DROP;
		d->reason = admin ? BF_R_ADMIN_DENY : BF_R_BASELINE_DENY;
	}
	return 1;
}

/* The longest prefix named by a policy that holds `addr`: its CIDR identity,
 * or 0. */
static __always_inline __u32 bf_cidr_identity(const __u8 *addr)
{
	struct bf_cidr_key ck;
	__u32 *cid;

	ck.prefixlen = 128;
	__builtin_memcpy(ck.addr, addr, 16);
	cid = bpf_map_lookup_elem(&cidrs, &ck);
	return cid ? *cid : 0;
}

/* Decides the flow `key` (its direction and endpoint included) at `ep`. */
static __always_inline void bf_decide(const struct bf_endpoint *ep, const struct bf_flow_key *key,
				      struct bf_decision *d)
{
	__u8 dir = key->direction;
	const __u8 *peer = dir == BF_DIR_INGRESS ? key->src : key->dst;
	__u8 admin = ep->cnp_stages & BF_CNP_STAGE(dir, BF_TIER_ADMIN);
	struct bf_addr_value *av;
	__u32 pod_id = 0, cidr_id = 0;
	__be16 port;
	int host, isolated, baseline, ranges;

	d->rule_id = 0;
	if ((!bf_addr_zero(ep->ip4) && bf_addr_eq(peer, ep->ip4)) ||
	    (!bf_addr_zero(ep->ip6) && bf_addr_eq(peer, ep->ip6))) {
		d->action = BF_ACT_FORWARD;
		d->reason = BF_R_SELF;
		return;
	}
	av = bpf_map_lookup_elem(&pod_addrs, peer);
	host = av && av->identity == BF_ID_HOST;
	if (ep->fail_closed) {
		d->action = host ? BF_ACT_FORWARD : BF_ACT_DROP;
		d->reason = host ? BF_R_HOST : BF_R_FAIL_CLOSED;
		return;
	}
	/* Pod identities only: a host address is no pod (nor BF_ID_ANY_POD). */
	if (av && av->identity >= BF_ID_FIRST_DYNAMIC)
		pod_id = av->identity;
	port = bf_has_ports(key->proto) ? key->dport : 0;

	/* Cluster rules decide traffic to and from the node too (an egress
	 * `networks` rule covering a node address): the own-node exemption
	 * belongs to the NetworkPolicy step, after the Admin stage, and a pod
	 * no NetworkPolicy isolates meets the Baseline stage first. */
	isolated = dir == BF_DIR_INGRESS ? ep->ingress_isolated : ep->egress_isolated;
	baseline = !isolated && (ep->cnp_stages & BF_CNP_STAGE(dir, BF_TIER_BASELINE));
	/* The peer's CIDR identity, once, where a later step reads it. */
	if (admin || baseline || (isolated && !host))
		cidr_id = bf_cidr_identity(peer);
	if (admin && bf_cnp_decide(ep, dir, BF_TIER_ADMIN, pod_id, cidr_id, key->proto, port, d))
		return;
	if (!isolated) {
		if (baseline && bf_cnp_decide(ep, dir, BF_TIER_BASELINE, pod_id, cidr_id, key->proto, port, d))
			return;
		d->action = BF_ACT_FORWARD;
		d->reason = host ? BF_R_HOST : BF_R_NOT_ISOLATED;
		return;
	}
	if (host) {
		d->action = BF_ACT_FORWARD;
		d->reason = BF_R_HOST;
		return;
	}

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
