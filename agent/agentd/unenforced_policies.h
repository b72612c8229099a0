// ClusterNetworkPolicies a dataplane cannot enforce are refused, never
// half-applied: an operator who writes "no pod may reach the metadata
// service" must not get a node that silently lets it through. Each refused
// object stays listed (as an error naming object, field and dataplane, in
// /v1/status and the log) until it is deleted or gone from a relist.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "bpfence/source.h"

namespace bpfence {

class UnenforcedPolicies {
 public:
  // `dataplane`: the name the errors give ("bpf", "iptables");
  // `enforces_cluster_policy`: it does (Dataplane::enforces_cluster_policy),
  // so nothing is refused.
  UnenforcedPolicies(std::string dataplane, bool enforces_cluster_policy)
      : dataplane_(std::move(dataplane)), enforces_cluster_policy_(enforces_cluster_policy) {}

  // Takes the objects this agent cannot enforce out of `u` and records a
  // refusal for each; forgets refusals of objects deleted or relisted away.
  void filter(SourceUpdate& u);
  // The refusals in force, sorted by object.
  std::vector<ParseError> current() const;

 private:
  std::string dataplane_;
  bool enforces_cluster_policy_;
  std::map<std::string, ParseError> refused_;  // by object ("ClusterNetworkPolicy name")
};

}  // namespace bpfence
