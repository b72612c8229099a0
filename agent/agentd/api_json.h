// JSON renderings of the agent's state for /v1/*: status, endpoints,
// policies, verdicts. Kept apart from the routes so they read as the API's
// schema.
#pragma once

#include <nlohmann/json.hpp>

#include "api_routes.h"
#include "bpfence/compiler.h"
#include "bpfence/model.h"

namespace bpfence {

nlohmann::json status_json(const AgentInfo& info, const AgentSnapshot& s);
nlohmann::json endpoint_json(const EndpointView& v);
nlohmann::json pod_json(const PodView& p);
nlohmann::json policy_json(const NetworkPolicy& p);
// name, tier, priority, subject, ingress, egress in the API's own form.
nlohmann::json cluster_policy_json(const ClusterNetworkPolicy& p);
nlohmann::json verdict_json(const Verdict& v);
nlohmann::json parse_error_json(const ParseError& e);

}  // namespace bpfence
