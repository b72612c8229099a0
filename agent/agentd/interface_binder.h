// Binds each local pod to its host-side veth: the one whose peer holds the
// pod's address, or its host route leads out of. A pod is bound as soon as
// both exist, pending until then, unbound when either goes. Used by the
// reconciler's thread only.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "agent_snapshot.h"
#include "bpfence/compiler.h"
#include "bpfence/dataplane.h"
#include "interfaces.h"

namespace bpfence {

class InterfaceBinder {
 public:
  struct Binding {
    EndpointView::State state = EndpointView::State::pending;
    int ifindex = 0;
    std::string ifname;
    std::string error;
    int last_ifindex = 0;  // pending: the interface it lost (a new link of its name is bound)
    int netnsid = -1;      // the pod's namespace (a new veth into it is bound)
  };

  explicit InterfaceBinder(const InterfaceWatcher& interfaces) : interfaces_(interfaces) {}

  // Makes the dataplane's bindings match the local endpoints of `state`.
  // Before the first apply succeeded, interfaces an earlier agent enforced
  // are left as it left them (adopted).
  void reconcile(Dataplane& dp, const DesiredState& state, bool first_apply_done);

  // Before the first commit: pods whose interface still carries the entry
  // an earlier agent wrote (same ifindex, same IP) keep its endpoint id, so
  // their cached flows stay valid. Pod key -> endpoint id.
  std::map<std::string, uint32_t> previous_endpoint_ids(const std::vector<EndpointRecord>& previous,
                                                         const std::map<std::string, Pod>& pods,
                                                         const std::string& node) const;

  const Binding* find(const std::string& pod) const;
  bool has_errors() const;
  uint64_t errors_total() const { return errors_total_; }

 private:
  const InterfaceWatcher& interfaces_;
  std::map<std::string, Binding> bindings_;
  uint64_t errors_total_ = 0;
};

}  // namespace bpfence
