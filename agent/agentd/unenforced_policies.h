// ClusterNetworkPolicies the agent cannot enforce are refused, never
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
  // `dataplane`: the name the errors give ("bpf", "iptables").
  explicit UnenforcedPolicies(std::string dataplane) : dataplane_(std::move(dataplane)) {}

  // Takes the objects this agent cannot enforce out of `u` and records a
  // refusal for each; forgets refusals of objects deleted or relisted away.
  void filter(SourceUpdate& u);
  // The refusals in force, sorted by object.
  std::vector<ParseError> current() const;

 private:
  std::string dataplane_;
  std::map<std::string, ParseError> refused_;  // by object ("ClusterNetworkPolicy name")
};

}  // namespace bpfence
