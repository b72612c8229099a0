// ClusterNetworkPolicies as `bpfence policy` lists and details them.
#include "cli_cluster_policies.h"

#include <algorithm>
#include <tuple>

#include "cli_names.h"
#include "cli_policy_text.h"
#include "cli_table.h"

namespace bpfence::cli {
namespace {

void sort_by_evaluation(std::vector<ClusterPolicySummary>& all) {
  std::sort(all.begin(), all.end(), [](const ClusterPolicySummary& a, const ClusterPolicySummary& b) {
    return std::tie(a.policy.tier, a.policy.priority, a.policy.name) <
           std::tie(b.policy.tier, b.policy.priority, b.policy.name);
  });
}

std::string rules_count_text(const ClusterNetworkPolicy& p) {
  return std::to_string(p.ingress.size()) + " in, " + std::to_string(p.egress.size()) + " out";
}

}  // namespace

std::vector<ClusterPolicySummary> cluster_summaries(const Compiler& c, const std::vector<Warning>& warnings) {
  std::vector<ClusterPolicySummary> out;
  for (const auto& [name, p] : c.cluster_policies()) {
    ClusterPolicySummary s;
    s.policy = p;
    for (const auto& [key, pod] : c.pods())
      if (!pod.host_network && cnp_subject_selects(p.subject, pod, c.namespaces())) s.selected.push_back(key);
    for (const Warning& w : warnings)
      if (w.cluster && w.policy == s.key()) s.warnings.push_back(w.message);
    out.push_back(std::move(s));
  }
  sort_by_evaluation(out);
  return out;
}

std::vector<ClusterPolicySummary> cluster_summaries_from_agent(const nlohmann::json& list,
                                                               std::vector<std::string>* errors) {
  std::vector<ClusterPolicySummary> out;
  if (!list.is_array()) return out;
  for (const auto& j : list) {
    ClusterPolicySummary s;
    if (Status st = cluster_policy_from_agent_json(j, &s.policy); !st) {
      errors->push_back(st.message());
      continue;
    }
    for (const char* field : {"selects", "warnings"}) {
      if (!j.contains(field) || !j[field].is_array()) continue;
      auto& into = std::string_view(field) == "selects" ? s.selected : s.warnings;
      for (const auto& v : j[field])
        if (v.is_string()) into.push_back(v.get<std::string>());
    }
    out.push_back(std::move(s));
  }
  sort_by_evaluation(out);
  return out;
}

void print_cluster_list(std::ostream& out, const std::vector<ClusterPolicySummary>& all) {
  out << "ClusterNetworkPolicies, in evaluation order (Admin, then NetworkPolicies, then Baseline): " << all.size()
      << "\n\n";
  if (all.empty()) return;
  Table t({"TIER", "PRIORITY", "POLICY", "SUBJECT", "PODS", "RULES", "WARNINGS"});
  for (const auto& s : all)
    t.add({cnp_tier_name(s.policy.tier), std::to_string(s.policy.priority), s.key(), cnp_subject_text(s.policy.subject),
           std::to_string(s.selected.size()), rules_count_text(s.policy), std::to_string(s.warnings.size())});
  t.print(out);
}

void print_cluster_detail(std::ostream& out, const ClusterPolicySummary& s) {
  const ClusterNetworkPolicy& p = s.policy;
  out << "Policy:     " << s.key() << " (ClusterNetworkPolicy)\n"
      << "Tier:       " << cnp_tier_name(p.tier) << ", priority " << p.priority << "\n"
      << "Subject:    " << cnp_subject_text(p.subject) << "\n"
      << "Selects:    " << s.selected.size() << " pod" << (s.selected.size() == 1 ? "" : "s")
      << (s.selected.empty() ? "" : ": " + join(s.selected)) << "\n\n";
  Table t({"RULE", "NAME", "DOES"});
  for (bf_direction dir : {BF_DIR_INGRESS, BF_DIR_EGRESS}) {
    const auto& rules = dir == BF_DIR_INGRESS ? p.ingress : p.egress;
    for (uint32_t i = 0; i < rules.size(); ++i)
      t.add({std::string(dir == BF_DIR_INGRESS ? "ingress[" : "egress[") + std::to_string(i) + "]",
             rules[i].name.empty() ? "-" : rules[i].name, cnp_rule_text(rules[i], dir == BF_DIR_INGRESS)});
  }
  t.print(out);
  out << "\nWarnings:   " << (s.warnings.empty() ? "none" : std::to_string(s.warnings.size())) << "\n";
  for (const auto& w : s.warnings) out << "  - " << w << "\n";
}

nlohmann::json cluster_summary_json(const ClusterPolicySummary& s) {
  const ClusterNetworkPolicy& p = s.policy;
  nlohmann::json rules = nlohmann::json::array();
  for (bf_direction dir : {BF_DIR_INGRESS, BF_DIR_EGRESS}) {
    const auto& list = dir == BF_DIR_INGRESS ? p.ingress : p.egress;
    for (uint32_t i = 0; i < list.size(); ++i)
      rules.push_back({{"rule", CnpRuleRef{p.name, p.tier, p.priority, dir, i, list[i].name, list[i].action}.str()},
                       {"direction", dir == BF_DIR_INGRESS ? "ingress" : "egress"},
                       {"index", i},
                       {"name", list[i].name},
                       {"action", cnp_action_name(list[i].action)},
                       {"text", cnp_rule_text(list[i], dir == BF_DIR_INGRESS)}});
  }
  return {{"policy", s.key()},
          {"name", p.name},
          {"tier", cnp_tier_name(p.tier)},
          {"priority", p.priority},
          {"subject", cnp_subject_text(p.subject)},
          {"selected_pods", s.selected},
          {"rules", rules},
          {"warnings", s.warnings}};
}

}  // namespace bpfence::cli
