// A client for the node agent's read-only HTTP API (include/bpfence/
// agent_api.h lists the endpoints). The CLI asks it for names and for the
// agent's view; every command still works, with less detail, when it is down.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "bpfence/result.h"

namespace bpfence::cli {

class AgentClient {
 public:
  // "127.0.0.1:9617", "[::1]:9617", "localhost:9617"; "" means no agent.
  explicit AgentClient(std::string address);

  // GET path (with its query); the body parsed as JSON. Errors name the
  // address and the path: unreachable, HTTP status, not JSON.
  Status get(const std::string& path, nlohmann::json* out) const;
  // Whether /healthz answered, remembered after the first call: commands
  // ask several paths and should not wait for a dead agent each time.
  bool reachable() const;
  const std::string& address() const { return address_; }
  // Why it was not reachable (after reachable() returned false).
  const std::string& error() const { return error_; }

 private:
  std::string address_, host_;
  int port_ = 0;
  mutable std::optional<bool> reachable_;
  mutable std::string error_;
};

// URL query escaping for values ("ns/name" -> "ns%2Fname").
std::string url_escape(const std::string& s);

}  // namespace bpfence::cli
