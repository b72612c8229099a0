// Small value-type helpers: printing rule references, sizing diffs, and the
// lint warnings about policies that probably do not do what was meant.
#include "compiler_impl.h"

namespace bpfence {

std::string RuleRef::str() const {
  return policy + (direction == BF_DIR_INGRESS ? " ingress[" : " egress[") + std::to_string(index) + "]";
}

bool StateDiff::empty() const { return size() == 0 && touched_endpoints.empty(); }

size_t StateDiff::size() const {
  return endpoints.size() + pod_addrs.size() + cidrs.size() + policy.size() + ranges.size() + rules.size();
}

std::vector<Warning> Compiler::warnings() const {
  const Impl& d = *impl_;
  std::vector<Warning> out;
  for (const auto& [key, p] : d.policies) {
    if (!p.egress.empty() && !p.affects_egress())
      out.push_back({key, "has egress rules but policyTypes does not list Egress: they are ignored"});
    bool selects = false;
    for (auto it = d.pods.lower_bound(p.namespace_ + "/"); it != d.pods.end() && it->second.namespace_ == p.namespace_;
         ++it)
      selects = selects || (!it->second.host_network && p.pod_selector.matches(it->second.labels));
    if (!selects) out.push_back({key, "selects no pods in namespace " + p.namespace_});
  }
  return out;
}

}  // namespace bpfence
