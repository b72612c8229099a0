// Asking a lab node's agent what it enforces. Each agent listens on loopback
// inside its node's network namespace, so the HTTP client runs on a thread
// that has entered that namespace.
#pragma once

#include <cstdint>
#include <string>

#include "bpfence/result.h"

namespace bpfence::lab {

struct AgentStatus {
  int64_t generation = -1;          // latest accepted change
  int64_t applied_generation = -1;  // what the kernel enforces
  bool ready = false;               // /readyz said 200
  std::string readyz_body;          // why not, when it says
};

// GET /v1/status and /readyz from the agent at `listen` (ADDR:PORT) in `netns`.
Status query_agent(const std::string& netns, const std::string& listen, AgentStatus& out);

}  // namespace bpfence::lab
