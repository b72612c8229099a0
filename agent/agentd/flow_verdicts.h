// Names the reason and rule of flow records whose dataplane keeps no
// per-flow verdict (iptables: conntrack only says a flow was let through)
// from the compiler's verdict for the flow, as the state is now.
#pragma once

#include <vector>

#include "bpfence/compiler.h"
#include "bpfence/flow_record.h"

namespace bpfence {

// For each record, the side it was recorded at (egress at the source,
// ingress at the destination; the destination is the reply's source, so a
// Service's DNAT is followed): when that side is allowed, its reason
// (Policy, AdminAccept, BaselineAccept, ...) and rule id (a NetworkPolicy
// rule, or a cluster rule from BF_CNP_RULE_FIRST). A side the state now
// denies keeps what the dataplane said (its entry is about to go).
void name_flows_from_verdicts(const Compiler& compiler, const std::vector<FlowRecord*>& flows);

}  // namespace bpfence
