/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The flow table: one entry per (5-tuple, endpoint, direction), holding the
 * verdict, the reason, the rule, counters, TCP flags seen and the endpoint
 * generation the verdict was made at. A Forward also writes its reverse
 * entry (same endpoint, opposite direction, BF_FLOW_REPLY) so replies pass
 * whatever that direction's policy says.
 *
 * Entries are never trusted across a generation change: the caller
 * re-decides a stale entry (a reply entry as the flow it answers).
 * Idle and closed entries are removed by the agent's sweeper
 * (agent/dataplane/bpf/flow_sweeper.cpp); LRU eviction is only the backstop.
 */
#ifndef BPFENCE_BPF_FLOW_H
#define BPFENCE_BPF_FLOW_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "bpfence/datapath_abi.h"
#include "lib/maps.h"
#include "lib/parse.h"

static __always_inline void bf_flow_reverse(const struct bf_flow_key *k, struct bf_flow_key *r)
{
	__builtin_memcpy(r->src, k->dst, 16);
	__builtin_memcpy(r->dst, k->src, 16);
	r->sport = k->dport;
	r->dport = k->sport;
	r->proto = k->proto;
	r->direction = k->direction ^ 1;
	r->pad = 0;
	r->endpoint_id = k->endpoint_id;
}

/* Cached verdict: count the packet on the entry. last_seen_ns comes from the
 * coarse clock, which only moves at a tick: it is read (a helper call) only
 * when jiffies (one load: the verifier inlines bpf_jiffies64) says a tick
 * passed since the entry was last refreshed, so a burst of packets within
 * one tick pays for the clock once. Same values, to within the tick the
 * clock and jiffies may be updated apart. */
static __always_inline void bf_flow_touch(struct bf_flow_value *f, struct __sk_buff *skb,
					  const struct bf_pkt *p)
{
	__u32 tick = (__u32)bpf_jiffies64();

	__sync_fetch_and_add(&f->packets, 1);
	__sync_fetch_and_add(&f->bytes, skb->len);
	if (f->seen_tick != tick) {
		f->seen_tick = tick;
		f->last_seen_ns = bpf_ktime_get_coarse_ns();
	}
	if ((f->tcp_flags | p->tcp_flags) != f->tcp_flags)
		f->tcp_flags |= p->tcp_flags;
}

/* Writes a fresh entry for `key` (and on Forward of an original flow its
 * reverse). `old` is the stale entry being replaced, or NULL: its counters
 * and first-seen time carry over. */
static __always_inline void bf_flow_record(struct __sk_buff *skb, const struct bf_flow_key *key,
					   const struct bf_pkt *p, struct bf_flow_value *old,
					   __u8 action, __u8 reason, __u32 rule_id, __u8 flags,
					   __u32 generation, __u64 now)
{
	struct bf_flow_value v = {};

	bf_flow_reverse(key, &v.reverse);
	v.seen_tick = (__u32)bpf_jiffies64();
	v.first_seen_ns = now;
	v.last_seen_ns = now;
	v.packets = 1;
	v.bytes = skb->len;
	if (old) {
		v.first_seen_ns = old->first_seen_ns;
		v.packets += old->packets;
		v.bytes += old->bytes;
		v.tcp_flags = old->tcp_flags;
	}
	v.tcp_flags |= p->tcp_flags;
	v.rule_id = rule_id;
	v.generation = generation;
	v.ifindex = skb->ifindex;
	v.action = action;
	v.reason = reason;
	v.flags = flags;
	bpf_map_update_elem(&flows, key, &v, BPF_ANY);

	if (action != BF_ACT_FORWARD || (flags & (BF_FLOW_REPLY | BF_FLOW_ICMP_ERROR | BF_FLOW_NO_REVERSE)))
		return;
	/* The reverse entry: a reply is allowed because this flow is. */
	__builtin_memcpy(&v.reverse, key, sizeof(v.reverse));
	v.first_seen_ns = now;
	v.last_seen_ns = now;
	v.packets = 0;
	v.bytes = 0;
	v.tcp_flags = 0;
	v.reason = BF_R_REPLY;
	v.flags = BF_FLOW_REPLY;
	{
		struct bf_flow_key rk;

		bf_flow_reverse(key, &rk);
		/* A new flow's reverse entry does not exist yet, but for rare
		 * cases (the flow's own entry evicted alone, a reply that came
		 * first): inserting with BPF_NOEXIST spares a lookup that would
		 * find nothing in a cold bucket (~100 ns, a tenth of the first
		 * packet), and only a refused insert looks the entry up. A
		 * stale flow being re-decided has its reply entry: looked up at
		 * once, so a full table does not evict a victim for an insert
		 * that is then refused. */
		if (!old && !bpf_map_update_elem(&flows, &rk, &v, BPF_NOEXIST))
			return;
		struct bf_flow_value *cur = bpf_map_lookup_elem(&flows, &rk);
		/* keep the counters of a reply entry that is only being refreshed */
		if (cur && (cur->flags & BF_FLOW_REPLY)) {
			cur->generation = generation;
			cur->action = BF_ACT_FORWARD;
			cur->reason = BF_R_REPLY;
			cur->rule_id = rule_id;
			return;
		}
		bpf_map_update_elem(&flows, &rk, &v, BPF_ANY);
	}
}

/* First fragment: remember the verdict for the rest of the datagram. */
static __always_inline void bf_frag_record(const struct bf_pkt *p, __u8 action, __u8 reason,
					   __u32 rule_id)
{
	struct bf_frag_key k = {};
	struct bf_frag_value v = {};

	__builtin_memcpy(k.src, p->key.src, 16);
	__builtin_memcpy(k.dst, p->key.dst, 16);
	k.id = p->frag_id;
	k.proto = p->frag_proto;
	k.endpoint_id = p->key.endpoint_id;
	k.direction = p->key.direction;
	v.action = action;
	v.reason = reason;
	v.rule_id = rule_id;
	bpf_map_update_elem(&frags, &k, &v, BPF_ANY);
}

static __always_inline struct bf_frag_value *bf_frag_lookup(const struct bf_pkt *p)
{
	struct bf_frag_key k = {};

	__builtin_memcpy(k.src, p->key.src, 16);
	__builtin_memcpy(k.dst, p->key.dst, 16);
	k.id = p->frag_id;
	k.proto = p->frag_proto;
	k.endpoint_id = p->key.endpoint_id;
	k.direction = p->key.direction;
	return bpf_map_lookup_elem(&frags, &k);
}

#endif /* BPFENCE_BPF_FLOW_H */
