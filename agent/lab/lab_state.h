// What a lab has created, on disk (/run/bpfence/lab/<name>/state.json), so
// that `lab down`, a later `lab apply`/`probe`, or the clean-up after a crash
// find every namespace, process and pin folder. It is written before each
// thing is made, so a crash half-way through `lab up` still leaves a record.
#pragma once

#include <string>
#include <vector>

#include "bpfence/result.h"
#include "process.h"
#include "topology.h"

namespace bpfence::lab {

struct LabProcess {
  ProcessId id;
  std::string role;  // "agent node-1", "listener default/web"
  std::string log;
};

struct LabState {
  std::string name;
  std::string dir;  // the state folder
  std::string scenario_path;
  std::vector<std::string> policy_dirs;
  std::string placement;  // same | spread
  std::string dataplane;
  ProcessId owner;        // pid 0: lives until `lab down`
  Topology topology;
  std::vector<LabProcess> processes;
  std::string bpffs_dir;      // every agent's pins live below it
  std::string manifests_dir;
  std::string agent_listen;   // ADDR:PORT inside each node netns
  int steps_applied = 0;      // the cluster holds the policies of steps 1..N

  std::string state_file() const { return dir + "/state.json"; }
  std::string agent_log(const std::string& node) const { return dir + "/logs/agent-" + node + ".log"; }
};

Status save_state(const LabState& s);
Status load_state(const std::string& dir, LabState& out);

}  // namespace bpfence::lab
