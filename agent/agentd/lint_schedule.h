// When the compiler's lint runs. Lint is slow next to a commit (tens of
// milliseconds of CPU at ten thousand pods) and only informs, so it runs
// after a change is enforced and published, once changes pause, and gives
// way to any change that arrives meanwhile (DECISIONS.md).
#pragma once

#include <chrono>
#include <functional>
#include <vector>

#include "bpfence/compiler.h"

namespace bpfence {

class LintSchedule {
 public:
  using Clock = std::chrono::steady_clock;

  // A commit changed what lint reads: lint kQuiet after the last such
  // change, and never later than kMaxDelay after the first unlinted one.
  void changed(Clock::time_point now);
  bool dirty() const { return dirty_; }
  Clock::time_point due() const { return due_; }
  // Lints when due; `interrupted` (a change waiting) stops it, and it runs
  // again on a later call. True when the warnings were replaced.
  bool run_if_due(const Compiler& compiler, Clock::time_point now, const std::function<bool()>& interrupted);
  const std::vector<Warning>& warnings() const { return warnings_; }
  // Lints given way to a change in a row since the last finished one.
  int gave_way() const { return gave_way_; }
  // The wait before the next attempt after `gave_way` interrupted in a row.
  static Clock::duration retry_delay(int gave_way);

 private:
  bool dirty_ = false;
  Clock::time_point dirty_since_{};
  Clock::time_point due_{};
  Clock::time_point not_before_{};  // an interrupted lint retries no sooner
  int gave_way_ = 0;
  std::vector<Warning> warnings_;
};

}  // namespace bpfence
