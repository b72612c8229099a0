/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * bpfence's enforcement program, attached with clsact to every local pod's
 * host-side veth:
 *   from_pod: ingress hook of the host veth = what the pod sends = its EGRESS policy
 *   to_pod:   egress hook of the host veth  = what the pod gets  = its INGRESS policy
 *
 * Per packet: endpoint (by ifindex: its slot, else `endpoints`) -> parse ->
 * flow table hit at the endpoint's current generation -> cached verdict.
 * What the pod sends from an address that is not its own is dropped
 * (lib/source.h). An ICMP error quoting a flow this endpoint allows is
 * forwarded as Related. Otherwise decide (lib/policy.h), record the flow
 * and, on Forward, its reverse entry.
 * A stale reply entry is re-decided as the flow it answers, so a new deny
 * cuts established connections and a kept allow does not disturb them.
 * The per-packet cost does not depend on the number of policies or pods.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "bpfence/datapath_abi.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/drop.h"
#include "lib/flow.h"
#include "lib/policy.h"
#include "lib/source.h"

/* Load-time settings, set by the agent between open and load. */
const volatile __u8 trace_new_flows = 0;  /* emit BF_EV_NEW_FLOW for every new flow */
/* Benchmark only: 0 never writes the flow table, so every packet of a
 * BPF_PROG_TEST_RUN repeat takes the full decision path (bench/). */
const volatile __u8 record_flows = 1;
/* Benchmark only: 0 skips the source check, so bench/datapath_bench can
 * show what it costs. The agent always loads 1. */
const volatile __u8 check_source = 1;

static __always_inline int bf_verdict(struct __sk_buff *skb, const struct bf_pkt *p, __u8 action,
				      __u8 reason, __u32 rule_id)
{
	if (p->frag == BF_FRAG_FIRST)
		bf_frag_record(p, action, reason, rule_id);
	if (action == BF_ACT_FORWARD)
		return bf_forward(skb, reason);
	return bf_drop(skb, reason, rule_id, &p->key);
}

static __always_inline int bf_handle(struct __sk_buff *skb, __u8 dir)
{
	__u32 ifindex = skb->ifindex;
	struct bf_endpoint *ep;
	struct bf_flow_value *f;
	struct bf_decision d;
	struct bf_pkt p = {};
	__u32 endpoint_id, generation;
	__u8 flags = 0;
	__u64 *slot;
	__u64 now, sv = 0;
	int rc;

	/* A hit needs only the endpoint's id and generation: its slot (an
	 * inlined array load) has both. The full entry is looked up when there
	 * is no slot, and below, when the packet is decided. Only the two
	 * numbers cross to the parse, so the verifier walks it once for both
	 * ways in. */
	slot = bpf_map_lookup_elem(&endpoint_slots, &ifindex);
	if (slot)
		sv = *(volatile __u64 *)slot;
	if (!sv) {
		struct bf_endpoint *e = bpf_map_lookup_elem(&endpoints, &ifindex);

		if (!e)
			return bf_forward(skb, BF_R_UNKNOWN_EP);
		sv = BF_SLOT(e->endpoint_id, e->generation);
	}
	endpoint_id = BF_SLOT_ENDPOINT(sv);
	generation = BF_SLOT_GENERATION(sv);

	rc = bf_parse(skb, &p);
	p.key.direction = dir;
	p.key.endpoint_id = endpoint_id;
	if (rc == BF_PARSE_NON_IP)
		return bf_forward(skb, BF_R_NON_IP);
	if (rc == BF_PARSE_NDP)
		return bf_forward(skb, BF_R_NDP);
	if (rc != BF_PARSE_OK)
		return bf_drop(skb, BF_R_INVALID, 0, &p.key);

	if (p.frag == BF_FRAG_LATER) {
		struct bf_frag_value *fv = bf_frag_lookup(&p);

		if (!fv)
			return bf_drop(skb, BF_R_FRAG_UNKNOWN, 0, &p.key);
		if (fv->action == BF_ACT_FORWARD)
			return bf_forward(skb, BF_R_FRAGMENT);
		return bf_drop(skb, fv->reason, fv->rule_id, &p.key);
	}

	f = bpf_map_lookup_elem(&flows, &p.key);
	/* An ICMP error is judged per packet, never by a cached verdict: the
	 * next one from the same router may quote another flow. */
	if (f && f->generation == generation && !p.icmp_error) {
		bf_flow_touch(f, skb, &p);
		return bf_verdict(skb, &p, f->action, f->reason, f->rule_id);
	}
	ep = bpf_map_lookup_elem(&endpoints, &ifindex);
	if (!ep)
		return bf_forward(skb, BF_R_UNKNOWN_EP);
	/* The slot was read a moment before the entry: an ifindex that went to
	 * another endpoint in between (unbound and bound again within one
	 * packet's run) leaves the packet judged by neither. Dropped: the
	 * sender retries, and the next packet meets one endpoint. */
	if (ep->endpoint_id != p.key.endpoint_id)
		return bf_drop(skb, BF_R_UNKNOWN_EP, 0, &p.key);
	if (check_source && dir == BF_DIR_EGRESS && !bf_source_allowed(ep, p.key.src)) {
		/* Whatever the policy: judged by a borrowed source, the packet
		 * would be taken for another pod's (or the node's). Recorded, so
		 * the next one is a cached drop and `flow` shows it. */
		d.action = BF_ACT_DROP;
		d.reason = BF_R_SPOOFED_SOURCE;
		d.rule_id = 0;
		if (p.icmp_error)
			flags = BF_FLOW_ICMP_ERROR;
	} else if (bf_icmp_related(ep, &p)) {
		/* Not recorded as a flow of its own: the entry would be keyed
		 * without ports, shared by errors about every flow between the
		 * two addresses. */
		return bf_verdict(skb, &p, BF_ACT_FORWARD, BF_R_RELATED, 0);
	} else if (p.icmp_error) {
		/* An error about no allowed flow: plain ICMP to policy, recorded
		 * without a reverse entry (no reply may follow an error). */
		bf_decide(ep, &p.key, &d);
		flags = BF_FLOW_ICMP_ERROR;
	} else if (f && (f->flags & BF_FLOW_REPLY)) {
		/* A reply entry from an older generation: is the flow it answers
		 * still allowed? (It was decided at the opposite direction.) */
		struct bf_flow_key orig;

		__builtin_memcpy(&orig, &f->reverse, sizeof(orig));
		bf_decide(ep, &orig, &d);
		flags = BF_FLOW_REPLY;
		if (d.action == BF_ACT_FORWARD)
			d.reason = BF_R_REPLY;
	} else {
		bf_decide(ep, &p.key, &d);
		/* A flow into the pod to an address it may not send from (routed
		 * or bridged to it all the same) gets no reverse entry: its
		 * replies would be cached hits that skip the source check. */
		if (check_source && dir == BF_DIR_INGRESS && d.action == BF_ACT_FORWARD &&
		    !bf_source_allowed(ep, p.key.dst))
			flags = BF_FLOW_NO_REVERSE;
	}
	/* Coarse clock (tick resolution, CLOCK_MONOTONIC base): a few ns cheaper
	 * per packet, and flow ageing counts in seconds. */
	now = bpf_ktime_get_coarse_ns();

	if (record_flows) {
		bf_flow_record(skb, &p.key, &p, f, d.action, d.reason, d.rule_id, flags,
			       ep->generation, now);
		if (trace_new_flows && !f)
			bf_emit(skb, BF_EV_NEW_FLOW, d.action, d.reason, d.rule_id, &p.key);
	}
	return bf_verdict(skb, &p, d.action, d.reason, d.rule_id);
}

SEC("tc")
int from_pod(struct __sk_buff *skb)
{
	return bf_handle(skb, BF_DIR_EGRESS);
}

SEC("tc")
int to_pod(struct __sk_buff *skb)
{
	return bf_handle(skb, BF_DIR_INGRESS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
