// The BPF dataplane's read side: flows and counters from the pinned maps,
// fill levels of the other maps, flow ageing on the flow table.
#pragma once

#include "bpfence/bpf_dataplane.h"

namespace bpfence {

class BpfObserver final : public DataplaneObserver {
 public:
  // `dp` must outlive the observer (it owns it).
  BpfObserver(const BpfDataplane* dp, PinnedMaps maps) : dp_(dp), maps_(std::move(maps)) {}
  bool has_flows() const override { return true; }
  Status flows(std::vector<FlowRecord>* out) const override { return maps_.flows(out); }
  Status counters(std::vector<CounterRecord>* out) const override { return maps_.counters(out); }
  Status map_fill(std::vector<MapFill>* out) const override;
  uint64_t max_flows() const override;
  Status sweep(SweepStats* stats) const override;

 private:
  const BpfDataplane* dp_;
  PinnedMaps maps_;
};

}  // namespace bpfence
