// Shared by the fail-closed tests (issue 8, item 3): an apply failure must
// show on every surface an operator looks at. check_failure_visible()
// asserts each: /readyz (503 naming the failure), /metrics (failing gauge,
// error counter, fail-closed gauge), the agent's log (the error line naming
// the cause) and `bpfence status` (the CLI, run in the node's namespace
// against the agent and the pinned maps).
#pragma once

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "process.h"
#include "test_agent_support.h"

namespace bpfence::e2e {

inline double metric_value(const std::string& text, const std::string& series) {
  size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

// `bpfence status` in the node's namespace; returns its stdout ("" when it
// could not run).
inline std::string cli_status(const Node& node, const std::string& cli, const std::string& pin_dir,
                              bool json_output = false) {
  // nsenter, not `ip netns exec`: that one remounts /sys, hiding the bpffs
  // the pinned maps live on.
  std::vector<std::string> argv = {"nsenter", "--net=" + lab::netns_path(node.node_netns()),
                                   cli,       "status",
                                   "--pin-dir", pin_dir,
                                   "--agent",   "127.0.0.1:" + std::to_string(node.listen_port())};
  if (json_output) argv.insert(argv.end(), {"-o", "json"});
  std::string out;
  if (!lab::run_command(argv, "", &out)) return "";
  return out;
}

// `cause`: a word the error must contain (the map, the policy's name);
// `pods`: the pods that must be reported fail-closed.
inline void check_failure_visible(const Node& node, const std::string& cli, const std::vector<std::string>& causes,
                                  const std::vector<std::string>& pods) {
  auto st = node.status();
  REQUIRE(st);
  std::string pin_dir = (*st)["dataplane_location"].get<std::string>();
  std::string error = (*st)["apply_error"].get<std::string>();
  INFO("apply_error: " << error);

  HttpResult ready = node.get("/readyz");
  INFO("/readyz: " << ready.status << " " << ready.body);
  CHECK(ready.status == 503);
  CHECK(ready.body.find("not applied") != std::string::npos);
  for (const std::string& c : causes) CHECK(ready.body.find(c) != std::string::npos);

  std::string metrics = node.get("/metrics").body;
  CHECK(metric_value(metrics, "bpfence_apply_failing") == 1);
  CHECK(metric_value(metrics, "bpfence_ready") == 0);
  CHECK(metric_value(metrics, "bpfence_apply_errors_total") >= 1);
  CHECK(metric_value(metrics, "bpfence_fail_closed_endpoints") == static_cast<double>(pods.size()));

  std::string log = node.agent_log_tail(20000);
  size_t line_at = log.rfind("apply failed; previous state stays enforced");
  REQUIRE(line_at != std::string::npos);
  size_t line_start = log.rfind('\n', line_at);
  line_start = line_start == std::string::npos ? 0 : line_start + 1;
  std::string line = log.substr(line_start, log.find('\n', line_at) - line_start);
  INFO("log line: " << line);
  CHECK(line.starts_with("level=error"));
  for (const std::string& c : causes) CHECK(line.find(c) != std::string::npos);

  std::string text = cli_status(node, cli, pin_dir);
  INFO("bpfence status:\n" << text);
  CHECK(text.find("apply_error: ") != std::string::npos);
  for (const std::string& c : causes) CHECK(text.find(c) != std::string::npos);
  for (const std::string& p : pods) CHECK(text.find(p) != std::string::npos);
  CHECK(text.find("(" + std::to_string(pods.size()) + " fail-closed)") != std::string::npos);
  std::string js = cli_status(node, cli, pin_dir, true);
  try {
    json j = json::parse(js);
    CHECK(j["agent"]["apply_error"] == error);
    CHECK(j["datapath"]["fail_closed_endpoints"] == pods.size());
  } catch (const std::exception& e) {
    FAIL("bpfence status -o json: " << e.what() << "\n" << js);
  }
}

}  // namespace bpfence::e2e
