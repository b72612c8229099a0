// Choosing and opening a dataplane by name (--dataplane): "bpf" or
// "iptables". Besides the Dataplane itself the agent gets a
// read side for the API (flows, counters, map fill levels, flow ageing) and
// the hooks a restart needs.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "bpfence/bpf_dataplane.h"
#include "bpfence/dataplane.h"
#include "bpfence/result.h"

namespace bpfence {

struct DataplaneConfig {
  std::string kind = "bpf";
  std::string node;
  std::string bpffs = "/sys/fs/bpf";
  uint32_t max_flows = 0;   // bpf: flow table size, 0 = BF_MAX_FLOWS_DEFAULT
  uint32_t max_policy = 0;  // bpf: policy map size, 0 = BF_MAX_POLICY
  bool trace_new_flows = false;  // bpf: ring-buffer events for new flows too
};

struct MapFill {
  std::string map;
  uint64_t entries = 0;
  uint64_t max_entries = 0;
};

// What the HTTP API and the flow sweeper read. Safe from any thread while
// the dataplane is open.
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
};

struct DataplaneHandle {
  std::unique_ptr<Dataplane> dataplane;
  std::unique_ptr<DataplaneObserver> observer;
  std::string location;  // where its state lives (the pin folder)
  bool adopted = false;  // state left by an earlier agent was found and reused
  // Interfaces enforced by an earlier agent that no bind() has claimed yet.
  std::function<std::set<int>()> unclaimed;
  // Forgets (and detaches from) those once the first full sync is applied:
  // their pods were deleted while no agent ran.
  std::function<Status()> prune_unclaimed;
  // Optional (bpf): the endpoints an earlier agent left (ifindex -> endpoint
  // id and IPs), so pods keep their endpoint ids across a restart.
  std::function<std::vector<EndpointRecord>()> adopted_endpoints;
  // Optional (bpf): pins again maps whose pins were removed under the agent;
  // names what it restored. Any thread.
  std::function<Status(std::vector<std::string>*)> repin;
};

Status open_dataplane(const DataplaneConfig& config, DataplaneHandle* out);
// Removes everything a dataplane of this kind left for the node.
Status uninstall_dataplane(const DataplaneConfig& config, std::string* location);

}  // namespace bpfence
