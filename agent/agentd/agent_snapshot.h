// What the agent's API reads: the reconciler's published picture of the
// store, the endpoints and their bindings, the apply and the source.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bpfence/compiler.h"
#include "bpfence/model.h"
#include "bpfence/net.h"
#include "bpfence/parse.h"

namespace bpfence {

// One local pod as /v1/endpoints shows it.
struct EndpointView {
  enum class State { bound, pending, adopted, error };
  std::string pod;
  std::vector<IpAddress> ips;
  uint32_t endpoint_id = 0;
  uint32_t identity = 0;
  bool ingress_isolated = false;
  bool egress_isolated = false;
  std::vector<std::string> ingress_policies;
  std::vector<std::string> egress_policies;
  State state = State::pending;
  int ifindex = 0;
  std::string ifname;
  std::string error;  // why binding failed, or why it is pending
  bool fail_closed = false;
};

const char* endpoint_state_name(EndpointView::State s);

// One pod of the store as /v1/pods shows it (every pod the source knows,
// local or not: the CLI names remote addresses with it).
struct PodView {
  std::string namespace_, name;
  std::string node;
  std::vector<IpAddress> ips;
  Labels labels;
  bool host_network = false;
  bool local = false;
  uint32_t identity = 0;  // of its first address in the committed state; 0 if none
};

// What the API reads: a consistent picture published after every pass.
struct AgentSnapshot {
  uint64_t generation = 0;
  uint64_t applied_generation = 0;
  bool synced = false;
  bool first_apply_done = false;
  bool ready = false;
  std::string not_ready_reason;
  // The source's health() reason ("" when fine): the API server
  // unreachable, the agent's credentials refused. The last applied state
  // stays enforced meanwhile, but the agent cannot know it is the latest,
  // so it is not ready. source_state: "ok" or SourceHealth::state.
  std::string source_health;
  std::string source_state = "ok";
  // What the source runs without (Source::notes()): a kind whose CRD is
  // not installed. The agent is ready regardless.
  std::vector<std::string> source_notes;
  std::vector<EndpointView> endpoints;
  size_t bound = 0, pending = 0, bind_errors = 0;
  std::string apply_error;  // the last apply's error while it is unresolved
  std::vector<std::string> fail_closed;
  std::vector<ParseError> errors;  // source errors
  std::vector<Warning> warnings;   // compiler lint
  // Shared by the snapshots until a commit changes a rule: at 10,000
  // policies a copy per pass was most of the agent's CPU under pod churn.
  std::shared_ptr<const std::map<uint32_t, RuleRef>> rules = std::make_shared<const std::map<uint32_t, RuleRef>>();
  std::shared_ptr<const std::map<uint32_t, CnpRuleRef>> cluster_rules =  // ids from BF_CNP_RULE_FIRST
      std::make_shared<const std::map<uint32_t, CnpRuleRef>>();
  std::map<uint32_t, std::string> endpoint_pods;  // endpoint id -> pod
  size_t namespaces = 0, pods = 0, policies = 0, cluster_policies = 0;
  size_t pod_addrs = 0, cidrs = 0, policy_entries = 0, range_entries = 0;
  uint64_t updates_total = 0, commits_total = 0, apply_errors_total = 0, bind_errors_total = 0;
  std::chrono::system_clock::time_point last_applied_at{};
};

}  // namespace bpfence
