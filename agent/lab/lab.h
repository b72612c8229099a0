// The lab: a conformance scenario brought to life on simulated nodes. Each
// node, pod and external host is a network namespace (see topology.h); every
// pod runs an echo listener on its declared ports; every node runs a real
// bpfence-agent on the lab's manifests folder with its own bpffs folder.
// Steps of the scenario are applied by rewriting the manifests, and the lab
// waits on the agents' generations and /readyz (never on a timer) before it
// probes the full matrix with real packets.
//
// A Lab object that owns its lab tears it down when destroyed (failures,
// exceptions in tests, Ctrl-C in the CLI); `detach()` leaves it running for
// `bpfence lab up`, and `Lab::destroy(name)` removes it later from its state
// file, also after a crash.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "bpfence/result.h"
#include "bpfence/scenario.h"
#include "lab_state.h"
#include "prober.h"
#include "topology.h"
#include "truth_table.h"

namespace bpfence::lab {

struct LabOptions {
  std::string name = "lab";
  int nodes = 2;
  Placement placement = Placement::Spread;
  Cni cni = Cni::Routed;  // how pods hang off their node (topology.h)
  // The scenario over IPv6 (move_to_ipv6): refused for an `ipv4_only:` one.
  // A scenario that gives IPv6 addresses runs over IPv6 either way.
  bool ipv6 = false;
  std::string dataplane = "bpf";
  std::string agent_path;  // bpfence-agent; "" looks next to this program, then in PATH
  std::string cli_path;    // the `bpfence` binary that runs `lab listen`; "" = this program
  std::vector<std::string> policy_dirs;  // where a scenario's policy files are looked up
  std::string state_root = "/run/bpfence/lab";
  std::string bpffs_root = "/sys/fs/bpf";
  std::string agent_listen = "127.0.0.1:9617";
  // Owned: helpers die with this process (PR_SET_PDEATHSIG), and `lab gc`
  // removes the lab once this process is gone. Not owned: runs until `lab down`.
  bool owned = true;
  int ready_timeout_ms = 30000;  // agents up and every step enforced
  ProbeOptions probe;
  bool verbose = false;  // progress lines on stderr
};

// Set by the CLI's SIGINT/SIGTERM handler: waits stop and return an error,
// and the owner tears the lab down.
std::atomic<bool>& interrupted();
void install_interrupt_handlers();

// Default policy folders for a scenario file at test/conformance/X.yaml:
// the scenario's own folder (recipes/) and the repository's manifests/.
std::vector<std::string> default_policy_dirs(const std::string& scenario_path);

// Whether this kernel can open SCTP sockets (the lab's SCTP probes need it).
bool kernel_has_sctp();

// test/conformance of this source tree: next to the working directory, or
// where it was built from.
std::string find_scenario_dir();

class Lab {
 public:
  static Status up(const std::string& scenario_path, const LabOptions& options, std::unique_ptr<Lab>& out);
  // Attaches to the running lab options.name from its state file (for
  // `lab apply|probe`); destroying the object leaves the lab running.
  static Status open(const LabOptions& options, std::unique_ptr<Lab>& out);
  // Removes a lab from its state file: processes, namespaces, pins, files.
  static Status destroy(const std::string& name, const std::string& state_root);
  static std::vector<std::string> list(const std::string& state_root);
  // Destroys owned labs whose owner process is gone; returns their names.
  static std::vector<std::string> collect_stale(const std::string& state_root);

  ~Lab();
  Lab(const Lab&) = delete;
  Lab& operator=(const Lab&) = delete;

  const Scenario& scenario() const { return scenario_; }
  const LabState& state() const { return state_; }
  int steps_applied() const { return state_.steps_applied; }

  // Makes the cluster hold steps 1..n of the scenario (0: no policies) in one
  // atomic manifest write, then waits until every agent reports a newer
  // generation applied and /readyz 200.
  Status apply_steps(int n);
  // Waits until every agent enforces its latest generation and is ready.
  Status wait_ready();
  // The full matrix against the expectation of the applied step (no step:
  // everything allowed). Expected-allowed probes that timed out are tried
  // once more with a longer timeout (a loaded machine is not a policy); an
  // unexpected allow is never retried away.
  MatrixResult probe();
  // Whether this lab can probe that port: SCTP needs a kernel with SCTP;
  // without it the SCTP probes are left out and counted (MatrixResult::not_run).
  bool runs(const ProbePort& port) const;
  // The expectation in force: the last applied step's, or "all allowed".
  bool expected(const Probe& p) const;
  // A namespace handle for a host of the scenario (pods, externals) or node.
  const NetnsHandle& netns_of(const std::string& host);

  // Agents' log tails, for failure messages.
  std::string agent_logs() const;
  // Leaves the lab running when this object goes away.
  void detach() { detached_ = true; }
  Status down();

 private:
  Lab() = default;
  Status bring_up(const LabOptions& options);
  Status start_listeners(const LabOptions& options);
  Status start_agents(const LabOptions& options);
  Status write_cluster(int steps);
  Status wait_agents(const std::vector<int64_t>* newer_than, int timeout_ms);
  // The scenario's addresses as the topology placed them (the bridge layout
  // numbers unfixed pods from their node's pod CIDR).
  void take_topology_addresses();

  Scenario scenario_;
  LabState state_;
  std::vector<std::pair<std::string, NetnsHandle>> handles_;
  int ready_timeout_ms_ = 30000;
  ProbeOptions probe_options_;
  bool verbose_ = false;
  bool sctp_ = true;
  // Nothing to remove until up() has recorded its state file.
  bool detached_ = true;
  bool down_ = false;
};

}  // namespace bpfence::lab
