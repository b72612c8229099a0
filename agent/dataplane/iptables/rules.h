// From policy entries to rules: one endpoint's entries of the compiler's
// policy and range maps regrouped into (peer set, port specs) groups, and a
// group written as iptables rules. See README.md, "Rules from the policy
// entries".
#pragma once

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "bpfence/compiler.h"
#include "model.h"

namespace bpfence::ipt {

// A port spec as the datapath's lookups see it: every protocol (proto 0,
// all), every port of one protocol (all), or a port range of one protocol.
struct PortSpec {
  uint8_t proto = 0;
  bool all = true;
  PortRange range;
  auto operator<=>(const PortSpec&) const = default;
};

// Peer identities, sorted and unique (BF_ID_ANY, 0, first when present).
using PeerSet = std::vector<uint32_t>;
inline bool has_any_peer(const PeerSet& p) { return !p.empty() && p.front() == BF_ID_ANY; }
inline bool holds(const PeerSet& p, uint32_t id) { return std::binary_search(p.begin(), p.end(), id); }

// One endpoint's entries of the policy, range and cluster_policy maps, by
// direction (the state's maps are hashed, so the renderer keeps them by
// endpoint).
struct EndpointKeys {
  std::set<PolicyKey> policy[2];
  std::set<RangeKey> ranges[2];
  std::map<ClusterKey, ClusterEntry> cluster[2];
  bool empty() const {
    return policy[0].empty() && policy[1].empty() && ranges[0].empty() && ranges[1].empty() && cluster[0].empty() &&
           cluster[1].empty();
  }
};

// For one endpoint and direction: each set of peer identities with the
// port specs they may use (what broader specs allow taken out).
using RuleGroups = std::map<PeerSet, std::vector<PortSpec>>;
RuleGroups rule_groups(const EndpointKeys& keys, bf_direction dir);

Rule ct_rule(Rule::Ct state, Rule::Target target);
Rule target_rule(Rule::Target target);

// A group as rules like `base` (RETURN: a NetworkPolicy allow): one per
// protocol (multiport, 15 ports a rule), matching `set` against src or dst
// ("" = any peer, no set match).
void append_group(const std::vector<PortSpec>& specs, const std::string& set, bool set_src, Chain& chain,
                  const Rule& base = target_rule(Rule::Target::Return));

// One ClusterNetworkPolicy rule of an endpoint's stage: its entries
// regrouped as peers -> port specs, with the rule's rank and action.
struct CnpStageRule {
  uint32_t rank = 0;
  uint32_t rule_id = 0;
  uint8_t action = BF_CNP_DENY;  // enum bf_cnp_action
  RuleGroups groups;
  bool operator==(const CnpStageRule&) const = default;
};
// A stage (one direction and tier of an endpoint) in rank order: the first
// rule that matches a packet is the one of smallest rank, which is what the
// datapath's lookups find.
using CnpStage = std::vector<CnpStageRule>;
CnpStage cnp_stage(const EndpointKeys& keys, bf_direction dir, bf_tier tier);

}  // namespace bpfence::ipt
