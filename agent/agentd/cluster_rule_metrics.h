// /metrics per ClusterNetworkPolicy rule: packets and flows of the flows now
// in the flow table, by the Admin or Baseline rule that accepted or denied
// them (the flow's rule id names it), as bpfence_policy_packets does per
// NetworkPolicy.
#pragma once

#include <map>
#include <vector>

#include "agent_snapshot.h"
#include "api/metrics.h"
#include "bpfence/flow_record.h"

namespace bpfence {

struct RuleCount {
  uint64_t packets = 0, bytes = 0, flows = 0;
};

// Replies are not counted: they follow the rule of their flow.
std::map<CnpRuleRef, RuleCount> cluster_rule_counts(const std::vector<FlowRecord>& flows, const AgentSnapshot& s);

// bpfence_cluster_policy_rule_packets / _flows{policy, tier, direction,
// rule (index), action}.
void write_cluster_rule_counts(PromWriter& w, const std::map<CnpRuleRef, RuleCount>& counts);

}  // namespace bpfence
