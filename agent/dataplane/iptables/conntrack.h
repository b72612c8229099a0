// Reading what the iptables dataplane has no table of its own for: the
// kernel's connection tracking entries (what was allowed and is still
// going: `flow --match` in iptables mode) and the packet counters of our
// rules, by the reason each rule stands for.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "bpfence/iptables_dataplane.h"
#include "model.h"
#include "tools.h"

namespace bpfence::ipt {

// /proc/net/nf_conntrack or `conntrack -L` text -> entries. Lines that do
// not parse are skipped.
std::vector<ConntrackEntry> parse_conntrack(const std::string& text);

// `iptables-save -c -t filter` text -> packets and bytes summed per
// (action, reason) over our endpoint chains: the conntrack accept is a
// reply (BF_R_REPLY), INVALID drops BF_R_INVALID, the host set BF_R_HOST,
// the self rule BF_R_SELF, a rule's RETURN BF_R_POLICY, the final DROP
// BF_R_FW_POLICY; ClusterNetworkPolicy rules by their comment's first word
// (AdminAccept, AdminDeny, BaselineAccept, BaselineDeny; a Pass decides
// nothing and is not counted). Counters that are zero are left out.
std::vector<RuleCounter> parse_rule_counters(const std::string& text, const Names& names);

// The conntrack entries of tools.netns: /proc's file, or `conntrack -L`
// where the file is missing.
Status list_conntrack(const Tools& tools, std::vector<ConntrackEntry>* out);

// Deletes the conntrack entries the addresses take part in (as the
// original source, or as the reply's source: the destination after a
// Service's DNAT) that still_allowed() rejects. Their next packet is then
// NEW to conntrack (TCP is picked up mid-stream) and meets the rules as
// they are now. The flows still allowed keep their entries, so their
// reply side may speak first even where its own direction is denied.
// *deletes: the `conntrack -D` calls made, one per (protocol, source,
// destination, port, DNAT target) with entries to delete; retries not
// counted.
Status forget_flows(const Tools& tools, const std::set<IpAddress>& ips,
                    const std::function<bool(const ConntrackEntry&)>& still_allowed, size_t* deletes);

}  // namespace bpfence::ipt
