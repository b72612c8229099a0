// Small pieces of the model: protocol names and policyTypes defaulting.
#include "bpfence/model.h"

#include <algorithm>

namespace bpfence {

const char* protocol_name(Protocol p) {
  switch (p) {
    case Protocol::TCP: return "TCP";
    case Protocol::UDP: return "UDP";
    case Protocol::SCTP: return "SCTP";
  }
  return "?";
}

const char* cnp_tier_name(CnpTier t) { return t == CnpTier::Admin ? "Admin" : "Baseline"; }

Labels namespace_labels_of(const std::map<std::string, Namespace>& namespaces, const std::string& ns) {
  auto it = namespaces.find(ns);
  Labels labels = it == namespaces.end() ? Labels{} : it->second.labels;
  labels["kubernetes.io/metadata.name"] = ns;
  return labels;
}

bool cnp_subject_selects(const CnpSubject& s, const Pod& pod, const std::map<std::string, Namespace>& namespaces) {
  const Labels ns = namespace_labels_of(namespaces, pod.namespace_);
  if (s.namespaces) return s.namespaces->matches(ns);
  if (s.pods) return s.pods->namespace_selector.matches(ns) && s.pods->pod_selector.matches(pod.labels);
  return false;
}

const char* cnp_action_name(CnpAction a) {
  switch (a) {
    case CnpAction::Accept: return "Accept";
    case CnpAction::Deny: return "Deny";
    case CnpAction::Pass: return "Pass";
  }
  return "?";
}

std::optional<Protocol> parse_protocol(std::string_view name) {
  if (name == "TCP") return Protocol::TCP;
  if (name == "UDP") return Protocol::UDP;
  if (name == "SCTP") return Protocol::SCTP;
  return std::nullopt;
}

static bool lists(const std::vector<std::string>& types, const char* t) {
  return std::find(types.begin(), types.end(), t) != types.end();
}

// Unset policyTypes means Ingress, plus Egress when `egress` has at least one
// rule (networking.k8s.io/v1 defaulting).
bool NetworkPolicy::affects_ingress() const { return policy_types.empty() || lists(policy_types, "Ingress"); }

bool NetworkPolicy::affects_egress() const {
  if (policy_types.empty()) return !egress.empty();
  return lists(policy_types, "Egress");
}

}  // namespace bpfence
