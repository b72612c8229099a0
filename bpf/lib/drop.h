/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The two ways out of the program. Every verdict is counted per
 * (action, reason) in the per-CPU `counters` array; every drop also goes to
 * the `events` ring buffer (dropped silently when the buffer is full: the
 * counters stay exact), read by `bpfence flow --follow` on a timer.
 */
#ifndef BPFENCE_BPF_DROP_H
#define BPFENCE_BPF_DROP_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "bpfence/datapath_abi.h"
#include "lib/maps.h"

static __always_inline void bf_count(struct __sk_buff *skb, __u8 action, __u8 reason)
{
	/* No mask: datapath_abi.h asserts every reason fits the stride, and the
	 * array map itself refuses an index past its end. */
	__u32 idx = (__u32)action * BF_R_MAX + reason;
	struct bf_counter *c = bpf_map_lookup_elem(&counters, &idx);

	if (c) {
		c->packets += 1;
		c->bytes += skb->len;
	}
}

static __always_inline void bf_emit(struct __sk_buff *skb, __u8 type, __u8 action, __u8 reason,
				    __u32 rule_id, const struct bf_flow_key *key)
{
	struct bf_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);

	if (!ev)
		return;
	ev->type = type;
	ev->action = action;
	ev->reason = reason;
	ev->pad = 0;
	ev->ifindex = skb->ifindex;
	ev->rule_id = rule_id;
	ev->pad2 = 0;
	ev->ts_ns = bpf_ktime_get_ns();
	if (key)
		__builtin_memcpy(&ev->key, key, sizeof(ev->key));
	else
		__builtin_memset(&ev->key, 0, sizeof(ev->key));
	ev->pad3 = 0;
	/* No wakeup per event: waking a reader that had caught up costs
	 * ~5 us (irq_work), five first packets' worth. The reader polls every
	 * BF_EVENTS_READ_MS; only the record that makes the unread data cross
	 * BF_EVENTS_WAKE_BYTES wakes it, so a burst is read before the
	 * buffer fills. (The reserved record is counted in AVAIL_DATA.) */
	__u64 unread = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	__u64 rec = (sizeof(*ev) + 8 + 7) & ~7ULL; /* + the ring's record header */

	bpf_ringbuf_submit(ev, unread >= BF_EVENTS_WAKE_BYTES && unread < BF_EVENTS_WAKE_BYTES + rec
				       ? BPF_RB_FORCE_WAKEUP
				       : BPF_RB_NO_WAKEUP);
}

/* The one place a packet is dropped. `key` may be partly filled (a packet
 * that failed to parse) or NULL. */
static __always_inline int bf_drop(struct __sk_buff *skb, __u8 reason, __u32 rule_id,
				   const struct bf_flow_key *key)
{
	bf_count(skb, BF_ACT_DROP, reason);
	bf_emit(skb, BF_EV_DROP, BF_ACT_DROP, reason, rule_id, key);
	return TC_ACT_SHOT;
}

static __always_inline int bf_forward(struct __sk_buff *skb, __u8 reason)
{
	bf_count(skb, BF_ACT_FORWARD, reason);
	return TC_ACT_OK;
}

#endif /* BPFENCE_BPF_DROP_H */
