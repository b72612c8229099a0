// The flow view from the agent's API instead of pinned maps: a node whose
// agent runs `--dataplane iptables` has no flow table to read, and its
// agent serves conntrack's entries on /v1/flows in the same form.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "bpfence/result.h"
#include "cli_agent.h"
#include "cli_flows.h"

namespace bpfence::cli {

// /v1/flows and /v1/endpoints -> a FlowSnapshot the table printer takes.
// `location` names where the flows come from in the header line.
Status agent_flow_snapshot(const AgentClient& agent, const std::string& location, FlowSnapshot* out);

// One /v1/flows entry (flow_to_json's form) back into a record.
Status flow_from_json(const nlohmann::json& j, FlowRecord* out);

}  // namespace bpfence::cli
