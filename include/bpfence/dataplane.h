// A dataplane makes the kernel match the compiler's desired state: the BPF
// one (maps + TC programs) or the iptables one (ipsets + chains).
#pragma once

#include <string>
#include <vector>

#include "bpfence/compiler.h"
#include "bpfence/result.h"

namespace bpfence {

struct InterfaceBinding {
  std::string pod;   // namespace/name
  int ifindex = 0;   // the pod's host-side interface
  std::string ifname;
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

  // Removes everything this dataplane installed (programs, pins, rules).
  virtual Status uninstall() = 0;
};

}  // namespace bpfence
