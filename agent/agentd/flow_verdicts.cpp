// The compiler's verdict as a flow record's reason and rule (flow_verdicts.h).
#include "flow_verdicts.h"

#include <arpa/inet.h>

#include <algorithm>
#include <map>

namespace bpfence {
namespace {

IpAddress addr_of(const __u8 (&bytes)[16]) {
  IpAddress a;
  std::copy(std::begin(bytes), std::end(bytes), a.bytes.begin());
  return a;
}

}  // namespace

void name_flows_from_verdicts(const Compiler& compiler, const std::vector<FlowRecord*>& flows) {
  if (flows.empty()) return;
  const DesiredState& s = compiler.state();
  // Rules by what the verdict names, built once per call.
  std::map<RuleRef, uint32_t> rule_ids;
  std::map<CnpRuleRef, uint32_t> cnp_ids;
  for (const auto& [id, ref] : s.rules) rule_ids.emplace(ref, id);
  for (const auto& [id, ref] : s.cluster_rules) cnp_ids.emplace(ref, id);
  for (FlowRecord* f : flows) {
    const bf_flow_key& k = f->key;
    const bf_flow_key& reply = f->value.reverse;
    Verdict v = compiler.verdict(addr_of(k.src), addr_of(reply.src), k.proto, ntohs(reply.sport));
    const SideVerdict& side = k.direction == BF_DIR_EGRESS ? v.egress : v.ingress;
    if (!side.evaluated || !side.allowed) continue;
    f->value.reason = side.reason;
    f->value.rule_id = 0;
    if (side.cnp_rule) {
      if (auto it = cnp_ids.find(*side.cnp_rule); it != cnp_ids.end()) f->value.rule_id = it->second;
    } else if (side.rule) {
      if (auto it = rule_ids.find(*side.rule); it != rule_ids.end()) f->value.rule_id = it->second;
    }
  }
}

}  // namespace bpfence
