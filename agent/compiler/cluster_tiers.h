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

// Selection, shared by the object-level evaluation below and the compiled
// entries (namespace labels from namespace_labels_of, name label included).
bool cnp_pods_select(const CnpPods& sel, const Labels& pod_labels, const Labels& ns_labels);
bool cnp_subject_selects(const CnpSubject& s, const Labels& pod_labels, const Labels& ns_labels);
// A namespaces or pods peer (false for a networks peer).
bool cnp_peer_selects_pod(const CnpPeer& peer, const Labels& pod_labels, const Labels& ns_labels);

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
