// The iptables dataplane's read side. It has no flow table: conntrack holds
// the flows the rules let through, and the final DROP rules' counters the
// drops. To say which local pod a conntrack entry belongs to it keeps a
// view of the local endpoints, refreshed by the dataplane after each
// apply/bind/unbind (the agent's reconciler thread) and read by the API
// threads.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "bpfence/dataplane.h"
#include "bpfence/iptables_dataplane.h"

namespace bpfence::ipt {

class LocalEndpoints {
 public:
  struct Local {
    uint32_t endpoint_id = 0;
    bool ingress_isolated = false, egress_isolated = false;
    uint32_t ifindex = 0;
  };

  // After a call of the dataplane with `state` (the reconciler's compiler
  // state, which outlives every call), with the bindings it now holds.
  void after_apply(const StateDiff& diff, const DesiredState& state, const std::vector<InterfaceBinding>& bound) {
    refresh(state, bound, !diff.pod_addrs.empty() || !hosts_known_);
  }
  void after_bind(const DesiredState& state, const std::vector<InterfaceBinding>& bound) {
    refresh(state, bound, !hosts_known_);
  }
  // unbind() gets no state: the last one seen serves.
  void after_unbind(const std::vector<InterfaceBinding>& bound) {
    if (last_) refresh(*last_, bound, false);
  }

  // A copy, for a reader on another thread.
  void read(std::map<IpAddress, Local>* by_ip, std::vector<IpAddress>* host_ips) const;

 private:
  void refresh(const DesiredState& state, const std::vector<InterfaceBinding>& bound, bool hosts);

  mutable std::mutex mu_;
  std::map<IpAddress, Local> by_ip_;
  std::vector<IpAddress> host_ips_;
  // The writer's own (one thread).
  const DesiredState* last_ = nullptr;
  bool hosts_known_ = false;
};

// Flows from conntrack as the BPF datapath would record them, counters from
// the rules. What a conntrack entry cannot tell the records leave zero: the
// rule that allowed it (rule_id), TCP flags seen, when it started and was
// last seen (conntrack keeps only the time left; both timestamps are
// "now"), the endpoint generation, and packets/bytes unless
// nf_conntrack_acct is on.
class IptablesObserver final : public DataplaneObserver {
 public:
  IptablesObserver(IptablesDataplaneOptions options, std::shared_ptr<const LocalEndpoints> view)
      : options_(std::move(options)), view_(std::move(view)) {}
  bool has_flows() const override { return true; }
  Status flows(std::vector<FlowRecord>* out) const override;
  Status counters(std::vector<CounterRecord>* out) const override;
  Status map_fill(std::vector<MapFill>* out) const override;
  uint64_t max_flows() const override;
  Status sweep(SweepStats* stats) const override;
  // Conntrack says a flow was let through, not by which tier or rule.
  bool flows_need_verdicts() const override { return true; }

 private:
  IptablesDataplaneOptions options_;
  std::shared_ptr<const LocalEndpoints> view_;
};

}  // namespace bpfence::ipt
