// The agent's HTTP routes: what /healthz, /readyz, /metrics and /v1/* answer,
// from the reconciler's snapshot, the compiler (verdicts, policies) and the
// dataplane's read side (flows, counters, map fill).
#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include "api/http_server.h"
#include "dataplane_factory.h"
#include "reconciler.h"

namespace bpfence {

struct AgentInfo {
  std::string node;
  std::string dataplane;
  std::string dataplane_location;
  bool dataplane_adopted = false;
  std::string source;
  std::string version;
  std::chrono::system_clock::time_point started_at;
};

struct AgentCounters {
  std::atomic<uint64_t> flows_swept{0};
  std::atomic<uint64_t> sweeps{0};
  std::atomic<uint64_t> sweep_errors{0};
};

void register_agent_routes(HttpServer& server, const AgentInfo& info, const Reconciler& reconciler,
                           const DataplaneObserver* observer, const AgentCounters& counters);

}  // namespace bpfence
