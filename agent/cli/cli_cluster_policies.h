// `bpfence policy` for ClusterNetworkPolicies: the list by tier and priority
// (the order they are evaluated in), and one policy in detail (subject, the
// pods it selects, its rules in words, lint warnings). From a local compile
// of --manifests DIR (every pod) or the agent's /v1/policies (its pods).
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bpfence/compiler.h"

namespace bpfence::cli {

struct ClusterPolicySummary {
  ClusterNetworkPolicy policy;
  std::vector<std::string> selected;  // "ns/name"
  std::vector<std::string> warnings;
  std::string key() const { return "cnp/" + policy.name; }
};

// Sorted by tier (Admin first), priority, name.
std::vector<ClusterPolicySummary> cluster_summaries(const Compiler& c, const std::vector<Warning>& warnings);
// From /v1/policies' "cluster_policies"; entries that do not decode are
// reported in `errors` and skipped.
std::vector<ClusterPolicySummary> cluster_summaries_from_agent(const nlohmann::json& list,
                                                               std::vector<std::string>* errors);

void print_cluster_list(std::ostream& out, const std::vector<ClusterPolicySummary>& all);
void print_cluster_detail(std::ostream& out, const ClusterPolicySummary& s);
nlohmann::json cluster_summary_json(const ClusterPolicySummary& s);

}  // namespace bpfence::cli
