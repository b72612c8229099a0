/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The maps of policy.bpf.c. Keys and values come from
 * include/bpfence/datapath_abi.h; the agent pins every one of these under
 * <bpffs>/bpfence/<node>/<map name> and reuses them on restart, so a change
 * here (type, key or value size, flags) is an ABI change.
 */
#ifndef BPFENCE_BPF_MAPS_H
#define BPFENCE_BPF_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "bpfence/datapath_abi.h"

/* ifindex of the host-side veth -> endpoint. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BF_MAX_ENDPOINTS);
	__type(key, __u32);
	__type(value, struct bf_endpoint);
} endpoints SEC(".maps");

/* ifindex -> BF_SLOT(endpoint id, generation) for ifindexes below
 * BF_ENDPOINT_SLOTS: the endpoint of a flow-table hit as an array load the
 * verifier inlines, instead of a hash lookup per packet. A copy of two
 * fields of `endpoints`, which stays the truth (everything else, and every
 * ifindex without a slot, is looked up there). The agent writes a slot
 * after the entry and clears it before removing the entry. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BF_ENDPOINT_SLOTS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} endpoint_slots SEC(".maps");

/* Pod and host addresses -> identity. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BF_MAX_POD_ADDRS);
	__type(key, struct bf_addr_key);
	__type(value, struct bf_addr_value);
} pod_addrs SEC(".maps");

/* Every prefix a policy names -> CIDR identity (longest match wins). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, BF_MAX_CIDRS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct bf_cidr_key);
	__type(value, __u32);
} cidrs SEC(".maps");

/* {endpoint, prefix} a pod may send from beside its own addresses
 * (bf_endpoint.ip4/ip6). Only looked up for a first packet whose source is
 * not one of those. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, BF_MAX_SRC_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct bf_src_key);
	__type(value, __u32);
} src_prefixes SEC(".maps");

/* {endpoint, peer identity, direction, proto, port} -> rule. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BF_MAX_POLICY);
	__type(key, struct bf_policy_key);
	__type(value, struct bf_policy_value);
} policy SEC(".maps");

/* Port ranges as port prefixes. Only consulted when the endpoint's
 * has_ranges bit for the direction is set. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, BF_MAX_RANGE_POLICY);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct bf_range_key);
	__type(value, struct bf_policy_value);
} range_policy SEC(".maps");

/* ClusterNetworkPolicy rules per {endpoint, peer identity, direction, tier,
 * proto, port prefix} -> (rank, action, rule). Only looked up for a first
 * packet of an endpoint whose cnp_stages bit for that direction and tier is
 * set. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, BF_MAX_CNP);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct bf_cnp_key);
	__type(value, struct bf_cnp_value);
} cluster_policy SEC(".maps");

/* The flow table. max_entries is set by the agent before load. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, BF_MAX_FLOWS_DEFAULT);
	__type(key, struct bf_flow_key);
	__type(value, struct bf_flow_value);
} flows SEC(".maps");

/* First fragment's verdict, for the later fragments of the datagram. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, BF_MAX_FRAGS);
	__type(key, struct bf_frag_key);
	__type(value, struct bf_frag_value);
} frags SEC(".maps");

/* Packets and bytes per (action, reason). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BF_COUNTERS);
	__type(key, __u32);
	__type(value, struct bf_counter);
} counters SEC(".maps");

/* Drop events (and new-flow events when trace_new_flows is set). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, BF_EVENTS_BYTES);
} events SEC(".maps");

#endif /* BPFENCE_BPF_MAPS_H */
