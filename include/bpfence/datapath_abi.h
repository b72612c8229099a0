/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one contract between the BPF program (bpf/policy.bpf.c) and the C++
 * agent: map keys, map values, reasons and limits. Included by both sides,
 * so every struct uses fixed-width kernel types and explicit padding; the
 * C++ side checks the sizes with static_assert (see the bottom of this file).
 *
 * Addresses are always 16 bytes: IPv4 is stored IPv4-mapped (::ffff:a.b.c.d),
 * so one hash map and one LPM trie serve both families.
 */
#ifndef BPFENCE_DATAPATH_ABI_H
#define BPFENCE_DATAPATH_ABI_H

#include <linux/types.h>

/* Map capacities. The agent refuses a desired state that would not fit
 * before it writes anything (see agent/dataplane/bpf). */
#define BF_MAX_ENDPOINTS     4096
#define BF_MAX_POD_ADDRS     131072
#define BF_MAX_CIDRS         65536
#define BF_MAX_POLICY        262144
#define BF_MAX_RANGE_POLICY  65536
#define BF_MAX_FLOWS_DEFAULT 262144
#define BF_MAX_FRAGS         8192
#define BF_MAX_SRC_PREFIXES  16384
#define BF_EVENTS_BYTES      (1 << 20)
/* endpoint_slots: ifindexes below this have an array slot (8 bytes each,
 * 512 KiB); an ifindex above it (a node past ~65k veth creations since
 * boot) is looked up in `endpoints` alone, as before the slots. */
#define BF_ENDPOINT_SLOTS    65536
/* The program wakes the events reader only when the unread data crosses
 * this much; a reader polls on a short timer besides (`flow --follow`:
 * every BF_EVENTS_READ_MS). A wakeup per event cost ~5 us each time the
 * reader had caught up (an irq_work: a self-IPI, a VM exit on KVM). */
#define BF_EVENTS_WAKE_BYTES (BF_EVENTS_BYTES / 4)
#define BF_EVENTS_READ_MS    50

/* Reserved identities. Allocated identities start at BF_ID_FIRST_DYNAMIC. */
enum bf_identity {
	BF_ID_ANY = 0,          /* policy key: matches every peer */
	BF_ID_HOST = 1,         /* this node's own addresses: always allowed */
	BF_ID_ANY_POD = 2,      /* cluster_policy key: every pod of the cluster */
	BF_ID_FIRST_DYNAMIC = 256,
};

/* Direction from the endpoint's point of view. */
enum bf_direction {
	BF_DIR_INGRESS = 0,     /* to the pod: egress hook of the host veth */
	BF_DIR_EGRESS = 1,      /* from the pod: ingress hook of the host veth */
};

enum bf_action {
	BF_ACT_FORWARD = 0,
	BF_ACT_DROP = 1,
};

/* Why a packet was forwarded or dropped. Userspace prints these with
 * bf_reason_name() (include/bpfence/reasons.h). Append only: the values are
 * stored in pinned maps that outlive the agent. */
enum bf_reason {
	BF_R_NOT_ISOLATED = 0,  /* F: no policy isolates the pod this way */
	BF_R_POLICY = 1,        /* F: a rule allows it (flow.rule_id says which) */
	BF_R_REPLY = 2,         /* F: reply of an allowed flow */
	BF_R_HOST = 3,          /* F: to or from this node (kubelet probes) */
	BF_R_SELF = 4,          /* F: a pod talking to itself */
	BF_R_NON_IP = 5,        /* F: ARP and other non-IP frames */
	BF_R_NDP = 6,           /* F: IPv6 neighbour discovery */
	BF_R_FRAGMENT = 7,      /* F: later fragment of an allowed datagram */
	BF_R_FW_POLICY = 8,     /* D: isolated and no rule allows it */
	BF_R_INVALID = 9,       /* D: malformed or truncated headers */
	BF_R_FRAG_UNKNOWN = 10, /* D: later fragment whose first was not seen */
	BF_R_FAIL_CLOSED = 11,  /* D: the agent could not apply this pod's policy */
	BF_R_UNKNOWN_EP = 12,   /* F: program attached to an interface with no endpoint
				 * (D: its ifindex was rebound while the packet ran) */
	BF_R_RELATED = 13,      /* F: ICMP error about an allowed flow (PMTU, unreachable) */
	BF_R_SPOOFED_SOURCE = 14, /* D: the pod sent from an address that is not its own */
	BF_R_ADMIN_ACCEPT = 15, /* F: an Admin tier ClusterNetworkPolicy rule accepts it */
	BF_R_ADMIN_DENY = 16,   /* D: an Admin tier ClusterNetworkPolicy rule denies it */
	BF_R_BASELINE_ACCEPT = 17, /* F: a Baseline tier rule accepts it */
	BF_R_BASELINE_DENY = 18, /* D: a Baseline tier rule denies it */
	BF_R_COUNT,             /* one past the last reason: new reasons go above it */
	BF_R_MAX = 32,
};

/* endpoints: ifindex of the host-side veth -> endpoint. */
struct bf_endpoint {
	__u32 endpoint_id;      /* key for the policy maps */
	__u32 identity;         /* the pod's own identity */
	__u32 generation;       /* bumped when anything about its policy changes */
	__u8 ingress_isolated;
	__u8 egress_isolated;
	__u8 fail_closed;       /* drop everything not yet allowed by a flow */
	__u8 has_ranges;        /* bit 0: ingress ranges, bit 1: egress ranges,
				 * BF_RANGES_NONE(dir, kind): none for that peer kind */
	__u8 ip4[16];           /* IPv4-mapped, zero if none */
	__u8 ip6[16];           /* zero if none */
	__u8 cnp_stages;        /* BF_CNP_STAGE(dir, tier): cluster_policy has entries for it */
	__u8 pad[3];
};

/* endpoint_slots value: what a flow-table hit needs of its endpoint, the
 * id and the generation, in one 8-byte word the agent stores at once (the
 * map is mmapped), so a program never reads half of an update. 0: no slot,
 * look `endpoints` up (generations start at 1, so a real slot is never 0). */
#define BF_SLOT(endpoint_id, generation) (((__u64)(generation) << 32) | (__u32)(endpoint_id))
#define BF_SLOT_ENDPOINT(slot)           ((__u32)(slot))
#define BF_SLOT_GENERATION(slot)         ((__u32)((slot) >> 32))

/* Kinds of peer a policy entry names: the program makes one port-range
 * lookup per kind. BF_RANGES_NONE(dir, kind) set in bf_endpoint.has_ranges
 * says the endpoint has no range entry for that kind that way, so the
 * program skips that lookup (a walk of the range trie, whose depth grows
 * with the number of range entries). Clear bits only cost a lookup that
 * misses, so older values (bits 0 and 1 only) stay correct. */
enum bf_peer_kind {
	BF_PEER_POD = 0,        /* BF_ID_FIRST_DYNAMIC .. CIDR identities */
	BF_PEER_CIDR = 1,       /* CIDR identities (from 2^24) */
	BF_PEER_ANY = 2,        /* BF_ID_ANY */
};
#define BF_RANGES_NONE(dir, kind) (1u << (2 + 3 * (dir) + (kind)))

/* pod_addrs: pod or host address -> identity. */
struct bf_addr_key {
	__u8 addr[16];
};

struct bf_addr_value {
	__u32 identity;
	__u32 pad;
};

/* cidrs (LPM trie): prefix -> CIDR identity. prefixlen counts bits of the
 * IPv4-mapped address, so an IPv4 /24 is stored with prefixlen 96 + 24. */
struct bf_cidr_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* src_prefixes (LPM trie): the extra source prefixes a pod may send from
 * (annotation bpfence.io/allowed-source-prefixes), beside its own addresses
 * in bf_endpoint. prefixlen counts the endpoint id's 32 bits, then the bits
 * of the IPv4-mapped address: an IPv4 /16 is 32 + 96 + 16. */
struct bf_src_key {
	__u32 prefixlen;
	__u32 endpoint_id;
	__u8 addr[16];
};

#define BF_SRC_FIXED_BITS 32  /* endpoint_id */

/* policy (hash): exact peer identity and protocol/port.
 * proto 0 + port 0: every protocol and port; proto P + port 0: every port of
 * P. The program looks up exact port, then any port, then any protocol, for
 * the pod identity, the CIDR identity and BF_ID_ANY. */
struct bf_policy_key {
	__u32 endpoint_id;
	__u32 peer_identity;
	__u8 direction;
	__u8 proto;
	__be16 port;            /* network byte order, as in the packet */
};

struct bf_policy_value {
	__u32 rule_id;          /* rules table in the agent: policy + rule index */
	__u32 pad;
};

/* range_policy (LPM trie): port ranges, decomposed into port prefixes.
 * Fields before the port always match in full (prefixlen >= 80). */
struct bf_range_key {
	__u32 prefixlen;
	__u32 endpoint_id;
	__u32 peer_identity;
	__u8 direction;
	__u8 proto;
	__be16 port;
};

#define BF_RANGE_FIXED_BITS 80  /* endpoint_id + peer_identity + direction + proto */

/* ClusterNetworkPolicy tiers, around the NetworkPolicy step of a direction:
 * Admin (Accept / Deny / Pass) -> NetworkPolicy -> Baseline (only when no
 * NetworkPolicy isolates the pod that way) -> allow. */
enum bf_tier {
	BF_TIER_ADMIN = 0,
	BF_TIER_BASELINE = 1,
};

enum bf_cnp_action {
	BF_CNP_ACCEPT = 0,
	BF_CNP_DENY = 1,
	BF_CNP_PASS = 2,        /* ends its tier: evaluation goes on at the next step */
};

/* Set in bf_endpoint.cnp_stages when cluster_policy holds entries of the
 * endpoint for that direction and tier: a stage without one is skipped. */
#define BF_CNP_STAGE(dir, tier) (1u << (2 * (dir) + (tier)))

/* cluster_policy (LPM trie): the ClusterNetworkPolicy rules that apply to
 * an endpoint, per direction and tier. peer_identity is the remote pod's
 * identity, BF_ID_ANY_POD or the remote address's CIDR identity. An entry
 * for every IP protocol ends after `tier` (prefixlen BF_CNP_PEER_BITS,
 * proto and port 0): it covers every protocol and port of its peer. Ports
 * are port prefixes after BF_CNP_FIXED_BITS, as in range_policy. Of the
 * entries matching a packet, the smallest rank decides: the compiler
 * copies a covering entry's smaller rank onto the more specific prefixes
 * (the every-protocol entry's onto its peer's protocol entries), so the
 * longest match of one lookup per peer identity is the best of that peer. */
struct bf_cnp_key {
	__u32 prefixlen;
	__u32 endpoint_id;
	__u32 peer_identity;
	__u8 direction;
	__u8 tier;              /* enum bf_tier */
	__u8 proto;
	__u8 pad;
	__be16 port;
	__u16 pad2;
};

#define BF_CNP_FIXED_BITS 96  /* endpoint_id + peer_identity + direction + tier + proto + pad */
#define BF_CNP_PEER_BITS 80   /* endpoint_id + peer_identity + direction + tier: every protocol */

struct bf_cnp_value {
	__u32 rank;             /* priority << 16 | tie ordinal << 5 | rule index */
	__u32 rule_id;          /* from BF_CNP_RULE_FIRST: the agent's cluster rules table */
	__u8 action;            /* enum bf_cnp_action */
	__u8 pad[3];
};

/* Rule ids of ClusterNetworkPolicy rules start here, so a flow's rule_id
 * names a NetworkPolicy rule below it and a cluster rule above. */
#define BF_CNP_RULE_FIRST 0x40000000u
#define BF_MAX_CNP        65536

/* flows (LRU hash): one entry per direction at each endpoint. */
struct bf_flow_key {
	__u8 src[16];
	__u8 dst[16];
	__be16 sport;           /* ICMP: echo id in both ports */
	__be16 dport;
	__u8 proto;
	__u8 direction;
	__u16 pad;
	__u32 endpoint_id;
};

enum bf_flow_flags {
	BF_FLOW_REPLY = 1,      /* created as the reverse of an allowed flow */
	BF_FLOW_ICMP_ERROR = 2, /* an ICMP error judged by policy: no reverse entry */
	BF_FLOW_NO_REVERSE = 4, /* to the pod, at an address it may not send from: no reverse entry */
};

struct bf_flow_value {
	struct bf_flow_key reverse;
	__u32 seen_tick;        /* BPF only: low bits of jiffies when last_seen_ns was last set */
	__u64 first_seen_ns;    /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u64 last_seen_ns;
	__u64 packets;
	__u64 bytes;
	__u32 rule_id;          /* 0 when no rule decided it */
	__u32 generation;       /* endpoint generation the verdict was made at */
	__u32 ifindex;
	__u8 action;
	__u8 reason;
	__u8 tcp_flags;         /* OR of the flags seen */
	__u8 flags;             /* enum bf_flow_flags */
};

/* frags (LRU hash): first fragment's verdict for the later ones. */
struct bf_frag_key {
	__u8 src[16];
	__u8 dst[16];
	__u32 id;
	__u8 proto;
	__u8 pad[3];
	__u32 endpoint_id;
	__u8 direction;
	__u8 pad2[3];
};

struct bf_frag_value {
	__u8 action;
	__u8 reason;
	__u16 pad;
	__u32 rule_id;
};

/* counters (per-CPU array): index = action * BF_R_MAX + reason. */
struct bf_counter {
	__u64 packets;
	__u64 bytes;
};

#define BF_COUNTERS (2 * BF_R_MAX)

/* Every reason gets a counter of its own: the counters' stride (BF_R_MAX,
 * part of the pinned map's layout) must hold them all. Raising it changes
 * the pinned counters map: an upgraded agent replaces it and moves the
 * counts to the new stride (agent/dataplane/bpf/map_upgrade.cpp). */
#ifdef __cplusplus
static_assert(BF_R_COUNT <= BF_R_MAX, "more reasons than counter slots: raise BF_R_MAX");
#else
_Static_assert(BF_R_COUNT <= BF_R_MAX, "more reasons than counter slots: raise BF_R_MAX");
#endif

/* events (ring buffer): one per dropped packet, and per new flow when the
 * program was loaded with trace_new_flows. */
enum bf_event_type {
	BF_EV_DROP = 1,
	BF_EV_NEW_FLOW = 2,
};

struct bf_event {
	__u8 type;
	__u8 action;
	__u8 reason;
	__u8 pad;
	__u32 ifindex;
	__u32 rule_id;
	__u32 pad2;
	__u64 ts_ns;
	struct bf_flow_key key;
	__u32 pad3;
};

#ifdef __cplusplus
static_assert(sizeof(struct bf_endpoint) == 52, "bf_endpoint layout");
static_assert(sizeof(struct bf_cnp_key) == 20, "bf_cnp_key layout");
static_assert(sizeof(struct bf_cnp_value) == 12, "bf_cnp_value layout");
static_assert(sizeof(struct bf_addr_key) == 16, "bf_addr_key layout");
static_assert(sizeof(struct bf_addr_value) == 8, "bf_addr_value layout");
static_assert(sizeof(struct bf_cidr_key) == 20, "bf_cidr_key layout");
static_assert(sizeof(struct bf_src_key) == 24, "bf_src_key layout");
static_assert(sizeof(struct bf_policy_key) == 12, "bf_policy_key layout");
static_assert(sizeof(struct bf_policy_value) == 8, "bf_policy_value layout");
static_assert(sizeof(struct bf_range_key) == 16, "bf_range_key layout");
static_assert(sizeof(struct bf_flow_key) == 44, "bf_flow_key layout");
static_assert(sizeof(struct bf_flow_value) == 96, "bf_flow_value layout");
static_assert(sizeof(struct bf_frag_key) == 48, "bf_frag_key layout");
static_assert(sizeof(struct bf_frag_value) == 8, "bf_frag_value layout");
static_assert(sizeof(struct bf_event) == 72, "bf_event layout");
#endif

#endif /* BPFENCE_DATAPATH_ABI_H */
