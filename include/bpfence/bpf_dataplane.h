// The BPF dataplane: loads bpf/policy.bpf.c (from its embedded skeleton),
// pins its maps under <bpffs>/bpfence/<node>/ (reusing them when an earlier
// agent left them there), turns the compiler's StateDiff into map updates
// and attaches the programs to pods' host-side veths with clsact.
//
// Also, for tools that run without the agent (CLI, HTTP API): PinnedMaps,
// a read-only view of a node's pinned maps, and the flow sweeper.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bpfence/compiler.h"
#include "bpfence/datapath_abi.h"
#include "bpfence/dataplane.h"
#include "bpfence/flow_record.h"
#include "bpfence/result.h"

namespace bpfence {

// <bpffs>/bpfence/<node>
std::string bpf_pin_dir(const std::string& bpffs, const std::string& node);

struct BpfDataplaneOptions {
  std::string node = "local";
  std::string bpffs = "/sys/fs/bpf";
  std::string pin_dir;  // when set, used instead of <bpffs>/bpfence/<node> (tests)
  uint32_t max_flows = BF_MAX_FLOWS_DEFAULT;
  uint32_t max_policy = 0;       // policy map entries; 0 = BF_MAX_POLICY (smaller: tests)
  bool trace_new_flows = false;  // a ring-buffer event for every new flow
  bool record_flows = true;      // false only for benchmarks: never write the flow table
  bool check_source = true;      // false only for benchmarks: what a pod sends is not checked for its source

  std::string resolved_pin_dir() const { return pin_dir.empty() ? bpf_pin_dir(bpffs, node) : pin_dir; }
};

class BpfDataplane final : public Dataplane {
 public:
  explicit BpfDataplane(BpfDataplaneOptions options);
  // Leaves programs attached and maps pinned: a node whose agent is down
  // keeps enforcing the last state.
  ~BpfDataplane() override;
  BpfDataplane(const BpfDataplane&) = delete;
  BpfDataplane& operator=(const BpfDataplane&) = delete;

  // Loads the programs; creates and pins the maps, or reuses pinned ones.
  Status open();

  std::string name() const override { return "bpf"; }
  // The cluster_policy stages (bpf/lib/policy.h) enforce both tiers.
  bool enforces_cluster_policy() const override { return true; }
  // The first apply() after open() is a full resync: entries left in reused
  // maps that the state does not hold are removed. Later ones apply the diff.
  Status apply(const StateDiff& diff, const DesiredState& state) override;
  Status bind(const InterfaceBinding& binding, const DesiredState& state) override;
  Status unbind(const std::string& pod) override;
  std::vector<InterfaceBinding> bindings() const override;
  Status set_fail_closed(const std::string& pod, bool fail_closed) override;
  Status uninstall() override;
  // Reads the pinned maps (flows, counters, fill levels) and ages flows.
  const DataplaneObserver* observer() const override;

  // Interfaces that had an endpoint entry when open() found pinned maps and
  // that no bind() has claimed since: pods deleted while the agent was down.
  std::vector<int> unclaimed_ifindexes() const override;
  // Detaches from and forgets the unclaimed interfaces (call after the
  // agent's first full sync).
  Status prune_unclaimed() override;

  // The endpoints map as open() found it in reused pins (ifindex -> endpoint
  // id, IPs): lets a restarted agent give pods their previous endpoint ids.
  std::vector<EndpointRecord> adopted_endpoints() const override;

  // Pins again every map whose pin is missing (someone removed it, or the
  // whole folder, under the running agent); `restored` names them. The
  // programs hold the maps, so enforcement never stopped. Safe from any
  // thread once open() succeeded.
  Status repin(std::vector<std::string>* restored) override;

  const std::string& pin_dir() const;
  bool reused_pinned_maps() const;
  // Loaded programs, for BPF_PROG_TEST_RUN in tests and benchmarks.
  int program_fd(bf_direction direction) const;
  // A map's descriptor by name ("flows", "policy", ...), -1 if unknown.
  int map_fd(const std::string& name) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Removes what a (possibly dead) agent left for the node at pin_dir:
// detaches bpfence's filters from every interface in the pinned endpoints
// map, unpins the maps and removes the folder.
Status bpf_uninstall_pinned(const std::string& pin_dir);

// Read-only view of one node's pinned maps.
class PinnedMaps {
 public:
  PinnedMaps();
  ~PinnedMaps();
  PinnedMaps(PinnedMaps&&) noexcept;
  PinnedMaps& operator=(PinnedMaps&&) noexcept;

  // Opens the maps pinned in pin_dir (read-only unless writable).
  Status open(const std::string& pin_dir, bool writable = false);
  Status flows(std::vector<FlowRecord>* out) const;
  Status endpoints(std::vector<EndpointRecord>* out) const;
  // Summed over CPUs; only non-zero counters.
  Status counters(std::vector<CounterRecord>* out) const;
  int flows_fd() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Flow ageing. LRU eviction only happens when the table is full, so idle
// and closed flows are removed by the agent on a timer. An entry and its
// reverse age together (the newer last_seen of the pair counts), so a
// one-way stream keeps its reply entry.
struct SweepOptions {
  uint64_t now_ns = 0;                              // CLOCK_MONOTONIC; 0 = now
  uint64_t tcp_closed_ns = 10ull * 1000000000;      // RST seen, or FIN both ways
  uint64_t tcp_ns = 6ull * 3600 * 1000000000;       // established TCP
  uint64_t other_ns = 60ull * 1000000000;           // UDP, ICMP, SCTP, other; drops
};

// Whether `v` (with its pair `reverse`, may be null) has expired at `now`.
bool flow_expired(const bf_flow_key& key, const bf_flow_value& v, const bf_flow_value* reverse,
                  const SweepOptions& options, uint64_t now_ns);
Status sweep_flows(int flows_fd, const SweepOptions& options, SweepStats* stats);

}  // namespace bpfence
