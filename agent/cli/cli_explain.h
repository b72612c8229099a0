// `bpfence explain`: what the current policies say about one connection, on
// each side (egress at the source pod, ingress at the destination pod):
// the rule that allows it, or the policies that isolate the pod and none of
// whose rules match; with ClusterNetworkPolicies, the tiers walked in order
// (Admin -> NetworkPolicy -> Baseline -> default allow) up to the one that
// decided, Pass rules included. The answer is the compiler's verdict(), which makes the
// datapath's lookups; it comes from the agent (/v1/verdict) or from a local
// compile of --manifests.
#pragma once

#include <map>
#include <optional>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "bpfence/compiler.h"
#include "cli_names.h"

namespace bpfence::cli {

struct ExplainHost {
  std::string input;  // as typed
  IpAddress ip;
  std::string pod;    // "" when not a known pod
};

// "ns/name" (a pod known to `names`) or an IP address.
Status resolve_host(const std::string& text, const Names& names, ExplainHost* out);
// "80/TCP", "80" (TCP), "53/udp", "9/SCTP", "ICMP".
Status parse_port_spec(const std::string& text, uint8_t* proto, uint16_t* port);

struct ExplainResult {
  ExplainHost from, to;
  uint8_t proto = 6;  // 1 or 58 for ICMP
  uint16_t port = 0;
  Verdict verdict;
  std::string source;  // "manifests DIR", "agent ADDR"
  bool both_sides_known = true;  // false: the agent only evaluates its own pods
  // The policies, to print the allowing rule in words (from the offline
  // compile, or the agent's /v1/policies); empty: rules by name only.
  std::map<std::string, NetworkPolicy> policies;
  // Print the tier walk: ClusterNetworkPolicies exist (so the tiers were
  // evaluated, even where none matched).
  bool show_tiers = false;
};

std::string port_spec_text(uint8_t proto, uint16_t port);  // "80/TCP", "ICMP"
// One sentence for a side: why it allows or denies.
std::string side_explanation(const SideVerdict& side, bf_direction dir, const ExplainResult& r);
// The datapath's reason for a side: AdminDeny etc. when a cluster rule
// decided, whatever reason the verdict carries.
bf_reason side_reason(const SideVerdict& side);
// The tiers of one side in evaluation order, up to the one that decided:
// (tier, what happened there).
std::vector<std::pair<std::string, std::string>> tier_walk(const SideVerdict& side, bf_direction dir,
                                                           const ExplainResult& r);
void print_explain(std::ostream& out, const ExplainResult& r);
nlohmann::json explain_json(const ExplainResult& r);

// Reads the agent's /v1/verdict answer into r.verdict. Lenient: reasons as
// names or numbers, rules as objects, "ns/p ingress[0]" strings or rule ids.
Status verdict_from_agent_json(const nlohmann::json& j, const Names& names, Verdict* out);

}  // namespace bpfence::cli
