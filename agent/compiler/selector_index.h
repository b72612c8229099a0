// Which policies' podSelectors can select a pod, without asking every
// policy of its namespace.
//
// Each policy is filed under its namespace and one label its podSelector
// requires (the first of matchLabels), or under its namespace alone when it
// requires none. A pod's candidates are the policies filed under its
// namespace with one of its labels, or with none: a superset, the caller
// checks each. A local pod that comes or goes asks the few policies that
// may select it, not the hundreds of its namespace.
#pragma once

#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "bpfence/model.h"

namespace bpfence {

class SelectorIndex {
 public:
  // `p` must stay at its address (a node of the compiler's policy map)
  // until removed.
  void add(const NetworkPolicy& p);
  void remove(const NetworkPolicy& p);
  void for_each_candidate(const std::string& ns, const Labels& labels,
                          const std::function<void(const NetworkPolicy&)>& visit) const;

 private:
  std::unordered_map<std::string, std::vector<const NetworkPolicy*>> buckets_;
};

}  // namespace bpfence
