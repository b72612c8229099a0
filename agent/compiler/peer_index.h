// Which policies' peers can admit an identity, without asking every policy.
//
// Only policies that select a local pod have entries that depend on the
// cluster's identities; the index holds those. Each of their peers is filed
// under one label that every identity it admits must carry (a pod label of
// its podSelector, the namespace for a lone podSelector, a namespace label
// of its namespaceSelector, or a pair of both when it has both selectors),
// or under "anything" when no such label exists.
// A lookup reads the buckets of the identity's own labels: its cost follows
// the policies that may match, not the cluster. The answer is a superset;
// the caller checks each candidate.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "bpfence/model.h"

namespace bpfence {

class PeerIndex {
 public:
  // Files (or refiles) `p`; it must stay in the index while it selects a
  // local pod.
  void add(const NetworkPolicy& p);
  void remove(const std::string& policy);
  bool contains(const std::string& policy) const { return filed_.count(policy) != 0; }

  // Policies that may have a peer admitting an identity of namespace `ns`
  // with pod labels `labels`, the namespace having `ns_labels`, each passed
  // to `visit`: in no particular order, and a policy filed in several of
  // the identity's buckets more than once. Nothing is collected: at
  // thousands of candidates a list to sort cost more than the checks.
  void for_each_candidate(const std::string& ns, const Labels& labels, const Labels& ns_labels,
                          const std::function<void(const std::string&)>& visit) const;

  // Every indexed policy (those selecting a local pod).
  const std::map<std::string, std::vector<std::string>>& policies() const { return filed_; }
  // Indexed policies with an egress named port: they resolve it on the
  // destination pods' container ports, so any pod's ports may change them.
  const std::set<std::string>& resolving_named_ports() const { return named_ports_; }

 private:
  void file(const std::string& bucket, const std::string* policy, std::vector<std::string>& buckets);

  std::unordered_map<std::string, std::set<const std::string*>> buckets_;  // bucket -> policies (keys of filed_)
  std::map<std::string, std::vector<std::string>> filed_;           // policy -> its buckets
  std::set<std::string> named_ports_;
};

}  // namespace bpfence
