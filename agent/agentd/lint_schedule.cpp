#include "lint_schedule.h"

#include <algorithm>
#include <string>

#include "log.h"

namespace bpfence {

// Each change moves the lint kQuiet later, so a burst of changes (a
// deploy, kubectl apply of a folder, an edit and its revert) is linted once
// after it; never more than kMaxDelay after the first unlinted change, so
// warnings still show under steady churn.
namespace {
constexpr auto kQuiet = std::chrono::milliseconds(250);
constexpr auto kMaxDelay = std::chrono::seconds(2);
// Under steady churn (hundreds of pod events a second across a large
// cluster) a lint of 100-300 ms never finishes: each attempt is CPU spent
// for nothing, and the interrupt is only noticed between chunks, so it
// also delays the change that interrupts it. Each attempt interrupted in a
// row doubles the wait before the next, up to kMaxRetry.
constexpr auto kMaxRetry = std::chrono::seconds(4);
}  // namespace

LintSchedule::Clock::duration LintSchedule::retry_delay(int gave_way) {
  Clock::duration d = kQuiet;
  for (int i = 1; i < gave_way && d < kMaxRetry; ++i) d *= 2;
  return std::min<Clock::duration>(d, kMaxRetry);
}

void LintSchedule::changed(Clock::time_point now) {
  if (!dirty_) dirty_since_ = now;
  dirty_ = true;
  due_ = std::max(std::min(now + kQuiet, dirty_since_ + kMaxDelay), not_before_);
}

bool LintSchedule::run_if_due(const Compiler& compiler, Clock::time_point now,
                              const std::function<bool()>& interrupted) {
  if (!dirty_ || now < due_ || interrupted()) return false;
  auto t0 = Clock::now();
  // A change that arrives meanwhile interrupts the lint (which can take
  // long at thousands of policies), so it never delays enforcement.
  std::vector<Warning> warnings;
  bool done = compiler.warnings(&warnings, interrupted);
  std::chrono::duration<double, std::milli> lint_ms = Clock::now() - t0;
  if (!done) {
    // Under a steady stream of changes (pods coming and going across the
    // cluster) every attempt would be interrupted: the next waits longer
    // each time, so failed attempts cost less and less, not every idle moment.
    ++gave_way_;
    not_before_ = due_ = Clock::now() + retry_delay(gave_way_);
    agentlog::debug("lint interrupted by a change",
                    "lint_ms=" + std::to_string(lint_ms.count()) + " in_a_row=" + std::to_string(gave_way_));
    return false;
  }
  warnings_ = std::move(warnings);
  dirty_ = false;
  gave_way_ = 0;
  agentlog::debug("linted",
                  "warnings=" + std::to_string(warnings_.size()) + " lint_ms=" + std::to_string(lint_ms.count()));
  return true;
}

}  // namespace bpfence
