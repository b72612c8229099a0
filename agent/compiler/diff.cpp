// Small value-type helpers: printing rule references and sizing diffs. The
// lint warnings (Compiler::warnings()) live in lint.cpp.
#include "compiler_impl.h"

namespace bpfence {

std::string RuleRef::str() const {
  return policy + (direction == BF_DIR_INGRESS ? " ingress[" : " egress[") + std::to_string(index) + "]";
}

bool StateDiff::empty() const { return size() == 0 && touched_endpoints.empty(); }

size_t StateDiff::size() const {
  return endpoints.size() + pod_addrs.size() + cidrs.size() + policy.size() + ranges.size() + rules.size() +
         cluster.size() + cluster_rules.size();
}

}  // namespace bpfence
