/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The least a flow-table hit can cost: the same parse as policy.bpf.c and
 * one lookup of the flow key in an LRU hash of the same key and value, the
 * verdict read from the entry. bench/datapath_bench.cpp measures the hit
 * path against it. `lookup_only` is less still: the one lookup of a fixed
 * key, no parse: the floor of any design that keeps per-flow state in a
 * kernel hash map. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "bpfence/datapath_abi.h"
#include "lib/parse.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, BF_MAX_FLOWS_DEFAULT);
	__type(key, struct bf_flow_key);
	__type(value, struct bf_flow_value);
} min_flows SEC(".maps");

SEC("tc")
int parse_lookup(struct __sk_buff *skb)
{
	struct bf_pkt p = {};
	struct bf_flow_value *f;

	if (bf_parse(skb, &p) != BF_PARSE_OK)
		return TC_ACT_SHOT;
	p.key.direction = BF_DIR_INGRESS;
	p.key.endpoint_id = 1;
	f = bpf_map_lookup_elem(&min_flows, &p.key);
	if (!f)
		return TC_ACT_SHOT;
	return f->action == BF_ACT_FORWARD ? TC_ACT_OK : TC_ACT_SHOT;
}

SEC("tc")
int lookup_only(struct __sk_buff *skb)
{
	struct bf_flow_key k = { .endpoint_id = 1 };
	struct bf_flow_value *f = bpf_map_lookup_elem(&min_flows, &k);

	return f && f->action == BF_ACT_FORWARD ? TC_ACT_OK : TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
