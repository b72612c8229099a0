// A dataplane makes the kernel match the compiler's desired state: the BPF
// one (maps + TC programs) or the iptables one (ipsets + chains).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bpfence/compiler.h"
#include "bpfence/flow_record.h"
#include "bpfence/result.h"

namespace bpfence {

struct InterfaceBinding {
  std::string pod;   // namespace/name
  int ifindex = 0;   // the pod's host-side interface
  std::string ifname;
};

struct MapFill {
  std::string map;
  uint64_t entries = 0;
  uint64_t max_entries = 0;
};

// A dataplane's read side, for the HTTP API and the flow sweeper. Safe from
// any thread while the dataplane is open.
class DataplaneObserver {
 public:
  virtual ~DataplaneObserver() = default;
  virtual bool has_flows() const = 0;
  virtual Status flows(std::vector<FlowRecord>* out) const = 0;
  virtual Status counters(std::vector<CounterRecord>* out) const = 0;
  // Every map but the flow table (its size comes from flows()).
  virtual Status map_fill(std::vector<MapFill>* out) const = 0;
  virtual uint64_t max_flows() const = 0;
  virtual Status sweep(SweepStats* stats) const = 0;
  // True when flows() cannot say which rule or tier let a flow through (no
  // per-flow verdict: iptables' conntrack); the agent then names them from
  // the compiler's verdict.
  virtual bool flows_need_verdicts() const { return false; }
};

class Dataplane {
 public:
  virtual ~Dataplane() = default;
  virtual std::string name() const = 0;

  // Applies a diff from Compiler::commit(). `state` is the full state after
  // the diff. Capacity is checked before anything is written: an error
  // leaves the kernel as it was.
  virtual Status apply(const StateDiff& diff, const DesiredState& state) = 0;

  // Starts enforcing for a local pod on its host-side interface (attach
  // programs, write the endpoint entry), or stops (the interface is gone or
  // the pod is deleted).
  virtual Status bind(const InterfaceBinding& binding, const DesiredState& state) = 0;
  virtual Status unbind(const std::string& pod) = 0;

  // Interfaces currently enforced, by pod.
  virtual std::vector<InterfaceBinding> bindings() const = 0;

  // Marks a pod fail-closed: it drops every new flow until a later apply()
  // clears it (used when its policy could not be applied).
  virtual Status set_fail_closed(const std::string& pod, bool fail_closed) = 0;

  // Whether it enforces the ClusterNetworkPolicy tiers (the cluster_policy
  // entries and the endpoints' cnp_stages). The agent refuses every
  // ClusterNetworkPolicy, visibly, on a dataplane that does not, rather
  // than apply part of what the operator wrote.
  virtual bool enforces_cluster_policy() const { return false; }

  // Removes everything this dataplane installed (programs, pins, rules).
  virtual Status uninstall() = 0;

  // Its read side, owned by the dataplane (null before it is open).
  virtual const DataplaneObserver* observer() const = 0;

  // Taking over from an earlier agent. A dataplane that finds nothing to
  // take over before its first apply (iptables reads the kernel then) keeps
  // these defaults.
  // Interfaces enforced by an earlier agent that no bind() has claimed yet.
  virtual std::vector<int> unclaimed_ifindexes() const { return {}; }
  // Forgets (and detaches from) those once the first full sync is applied:
  // their pods were deleted while no agent ran.
  virtual Status prune_unclaimed() { return Status::ok(); }
  // The endpoints an earlier agent left (ifindex -> endpoint id and IPs),
  // so pods keep their endpoint ids across a restart.
  virtual std::vector<EndpointRecord> adopted_endpoints() const { return {}; }
  // Puts back state removed under the running agent (bpf: map pins);
  // `restored` names what it put back. Safe from any thread once open.
  virtual Status repin(std::vector<std::string>* restored) {
    restored->clear();
    return Status::ok();
  }
};

}  // namespace bpfence
