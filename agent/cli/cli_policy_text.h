// NetworkPolicy pieces in words, one line each, for `policy` and `explain`:
// selectors as `app=web,tier In (a,b)`, peers and ports as operators write
// them, and a rule as "from <peers> on <ports>".
#pragma once

#include <string>

#include "bpfence/model.h"

namespace bpfence::cli {

std::string selector_text(const LabelSelector& s);  // "{}" for the empty one
std::string peer_text(const PolicyPeer& p);         // "namespaceSelector{...} podSelector{...}", "ipBlock 10/8 except ..."
std::string port_text(const PolicyPort& p);         // "80/TCP", "8000-8080/TCP", "http/TCP", "all TCP"
// "from podSelector{app=client} on 80/TCP", "from anywhere on any port".
std::string rule_text(const PolicyRule& rule, bool ingress);
// The policyTypes in effect (with the defaulting), "Ingress,Egress".
std::string policy_types_text(const NetworkPolicy& p);

// ClusterNetworkPolicy pieces: "namespaces{}", "pods{ns: {...}, {app=web}}".
std::string cnp_subject_text(const CnpSubject& s);
// "Deny to networks 169.254.169.254/32", "Accept from pods{...} on 9090/TCP".
std::string cnp_rule_text(const CnpRule& rule, bool ingress);

}  // namespace bpfence::cli
