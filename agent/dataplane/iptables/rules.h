// From policy entries to rules: one endpoint's entries of the compiler's
// policy and range maps regrouped into (peer set, port specs) groups, and a
// group written as iptables rules. See README.md, "Rules from the policy
// entries".
#pragma once

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

using PeerSet = std::set<uint32_t>;

// One endpoint's entries of the policy and range maps (the state's maps are
// hashed, so the renderer keeps them by endpoint).
struct EndpointKeys {
  std::set<PolicyKey> policy;
  std::set<RangeKey> ranges;
};

// For one endpoint and direction: each set of peer identities with the
// port specs they may use (what broader specs allow taken out).
using RuleGroups = std::map<PeerSet, std::vector<PortSpec>>;
RuleGroups rule_groups(const EndpointKeys& keys, bf_direction dir);

// A group as RETURN rules: one per protocol (multiport, 15 ports a rule),
// matching `set` against src or dst ("" = any peer, no set match).
void append_group(const std::vector<PortSpec>& specs, const std::string& set, bool set_src, Chain& chain);

Rule ct_rule(Rule::Ct state, Rule::Target target);
Rule target_rule(Rule::Target target);

}  // namespace bpfence::ipt
