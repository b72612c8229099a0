// Names for the ids and addresses in the pinned maps: which pod an IP or an
// endpoint is, which policies isolate it, what rule id 12 stands for.
//
// Two sources: the agent's API (authoritative, rule ids included), or a
// manifests folder compiled locally (pods and isolating policies; not rule
// ids, which are allocated by the agent and differ from a local compile).
// Endpoints are matched by their IPs from the pinned endpoints map, never by
// the agent's endpoint ids, so both sources name them the same way.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bpfence/bpf_dataplane.h"
#include "bpfence/compiler.h"
#include "cli_agent.h"

namespace bpfence::cli {

struct PodInfo {
  std::string pod;  // namespace/name
  std::vector<IpAddress> ips;
  // Policies that select it, per direction (known for local pods with the
  // agent, for every pod offline).
  std::vector<std::string> ingress_policies, egress_policies;
  bool isolation_known = false;
};

class Names {
 public:
  // Where the names came from: "agent 127.0.0.1:9617", "manifests DIR", "".
  std::string source;
  bool rules_known = false;  // rule ids can be named

  void add_pod(PodInfo info);
  void add_rule(uint32_t id, RuleRef ref) { rules_[id] = std::move(ref); }
  void add_cluster_rule(uint32_t id, CnpRuleRef ref) { cluster_rules_[id] = std::move(ref); }
  void take_rules(const Names& other) {
    rules_ = other.rules_;
    cluster_rules_ = other.cluster_rules_;
    rules_known = other.rules_known;
  }
  void forget_rules() {
    rules_.clear();
    cluster_rules_.clear();
    rules_known = false;
  }

  // "ns/name" or "".
  std::string pod_at(const IpAddress& ip) const;
  const PodInfo* pod(const std::string& name) const;
  // The pod behind an endpoint of the pinned map (by its addresses).
  const PodInfo* endpoint_pod(const bf_endpoint& ep) const;
  std::optional<RuleRef> rule(uint32_t id) const;
  // Ids from BF_CNP_RULE_FIRST: a ClusterNetworkPolicy rule.
  std::optional<CnpRuleRef> cluster_rule(uint32_t id) const;
  // "ns/x ingress[0]", "cnp/x egress[0] Deny", or "#12" when the id cannot
  // be named.
  std::string rule_text(uint32_t id) const;
  const std::map<std::string, PodInfo>& pods() const { return pods_; }

 private:
  std::map<std::string, PodInfo> pods_;
  std::map<IpAddress, std::string> by_ip_;
  std::map<uint32_t, RuleRef> rules_;
  std::map<uint32_t, CnpRuleRef> cluster_rules_;
};

// From the agent: /v1/endpoints (local pods, their policies), /v1/rules, and
// /v1/pods when the agent serves it (every pod it knows, for remote IPs).
Status names_from_agent(const AgentClient& agent, Names* out);
// From a local compile with node "" (every pod is an endpoint).
void names_from_compiler(const Compiler& compiler, const std::string& source, Names* out);

// Decoders for the agent's JSON, lenient about the shape (a list, or an
// object under "endpoints"/"rules"/"pods"; ids as numbers or strings) so
// the CLI keeps working while the API grows.
void decode_agent_pods(const nlohmann::json& j, Names* out);
void decode_agent_rules(const nlohmann::json& j, Names* out);
std::optional<RuleRef> decode_rule_ref(const nlohmann::json& j);
// A /v1/rules entry with "cluster_policy" (a ClusterNetworkPolicy rule).
std::optional<CnpRuleRef> decode_cluster_rule_ref(const nlohmann::json& j);

// One policy of the agent's /v1/policies (key, podSelector, policyTypes,
// ingress, egress in the API's own form) as a NetworkPolicy.
Status policy_from_agent_json(const nlohmann::json& j, NetworkPolicy* out);
// One entry of /v1/policies' "cluster_policies" (name, tier, priority,
// subject, ingress, egress) as a ClusterNetworkPolicy.
Status cluster_policy_from_agent_json(const nlohmann::json& j, ClusterNetworkPolicy* out);

// The endpoint's addresses from the pinned map (IPv4-mapped v4, and v6).
std::vector<IpAddress> endpoint_ips(const bf_endpoint& ep);
IpAddress address_of(const __u8 (&bytes)[16]);

}  // namespace bpfence::cli
