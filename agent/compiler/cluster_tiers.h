// The ClusterNetworkPolicy tiers of one side of a connection: which Admin
// or Baseline rule, if any, decides traffic of a subject pod in one
// direction. Pure: reads the cluster objects it is given.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bpfence/compiler.h"

namespace bpfence {

struct ClusterTierInputs {
  const std::map<std::string, Namespace>& namespaces;
  const std::map<std::string, Pod>& pods;
  const std::map<IpAddress, std::set<std::string>>& addr_pods;  // ip -> pods claiming it
  const std::map<std::string, ClusterNetworkPolicy>& policies;
};

struct TierOutcome {
  std::optional<CnpRuleRef> decided;  // an Accept or Deny rule
  std::optional<CnpRuleRef> passed;   // the Pass rule that ended the tier
};

// First match in (priority, metadata.name, rule index) order among the
// policies of `tier` whose subject selects `subject`, for traffic in
// `direction` with `peer` at the other end.
TierOutcome evaluate_cluster_tier(const ClusterTierInputs& in, CnpTier tier, const Pod& subject, bf_direction direction,
                                  const IpAddress& peer, uint8_t proto, uint16_t port);

}  // namespace bpfence
