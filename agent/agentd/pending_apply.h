// What the compiler committed and the kernel does not hold yet. A failed
// apply (a full map, say) leaves the kernel's previous state (the dataplane
// checks capacity before writing); the diff stays here, merged with later
// ones, and is retried with backoff. Meanwhile every local pod whose own
// entries it touches is fail-closed: established flows go on, new ones wait
// until its policy is in place. Used by the reconciler's thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "bpfence/compiler.h"
#include "bpfence/dataplane.h"
#include "bpfence/fail_closed.h"

namespace bpfence {

class PendingApply {
 public:
  using Clock = std::chrono::steady_clock;

  struct Outcome {
    Status status;
    size_t entries = 0;          // the diff's size
    bool recovered = false;      // success after failures
    size_t newly_fail_closed = 0;
    std::chrono::duration<double, std::milli> took{};
  };

  // Later changes to a key override earlier ones.
  void add(StateDiff diff);
  // Applies everything pending to `dp` (state: the compiler's committed
  // state the diff leads to).
  Outcome apply(Dataplane& dp, const DesiredState& state);

  bool pending() const { return pending_; }
  Clock::time_point retry_at() const { return retry_at_; }
  std::chrono::milliseconds backoff() const { return backoff_; }
  // The last apply's error while it is unresolved.
  const std::string& error() const { return error_; }
  const FailClosedPods& fail_closed() const { return fail_closed_; }
  uint64_t errors_total() const { return errors_total_; }

 private:
  size_t mark_fail_closed(Dataplane& dp, const DesiredState& state);

  StateDiff diff_;
  bool pending_ = false;
  std::string error_;
  Clock::time_point retry_at_{};
  std::chrono::milliseconds backoff_{0};
  FailClosedPods fail_closed_;
  uint64_t errors_total_ = 0;
};

}  // namespace bpfence
