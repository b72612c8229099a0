// Counting flows per ClusterNetworkPolicy rule for /metrics.
#include "cluster_rule_metrics.h"

#include "bpfence/reasons.h"

namespace bpfence {
namespace {

MetricLabels labels_of(const CnpRuleRef& r) {
  return {{"policy", r.policy},
          {"tier", cnp_tier_name(r.tier)},
          {"direction", bf_direction_name(r.direction)},
          {"rule", std::to_string(r.index)},
          {"action", cnp_action_name(r.action)}};
}

}  // namespace

std::map<CnpRuleRef, RuleCount> cluster_rule_counts(const std::vector<FlowRecord>& flows, const AgentSnapshot& s) {
  std::map<CnpRuleRef, RuleCount> out;
  for (const FlowRecord& f : flows) {
    if ((f.value.flags & BF_FLOW_REPLY) || !bf_reason_is_cluster(f.value.reason)) continue;
    auto rule = s.cluster_rules->find(f.value.rule_id);
    if (rule == s.cluster_rules->end()) continue;
    RuleCount& c = out[rule->second];
    c.packets += f.value.packets;
    c.bytes += f.value.bytes;
    c.flows += 1;
  }
  return out;
}

void write_cluster_rule_counts(PromWriter& w, const std::map<CnpRuleRef, RuleCount>& counts) {
  w.family("bpfence_cluster_policy_rule_packets", "gauge",
           "Packets of the flows now in the flow table, by the ClusterNetworkPolicy rule that accepted or denied "
           "them (values fall as flows age out).");
  for (const auto& [r, c] : counts)
    w.sample("bpfence_cluster_policy_rule_packets", labels_of(r), static_cast<double>(c.packets));
  w.family("bpfence_cluster_policy_rule_flows", "gauge",
           "Flows now in the flow table, by ClusterNetworkPolicy rule as bpfence_cluster_policy_rule_packets.");
  for (const auto& [r, c] : counts)
    w.sample("bpfence_cluster_policy_rule_flows", labels_of(r), static_cast<double>(c.flows));
}

}  // namespace bpfence
