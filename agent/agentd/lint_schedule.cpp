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
}  // namespace

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
    // cluster) every attempt would be interrupted: the next waits kQuiet,
    // so failed attempts cost a few per second, not every idle moment.
    not_before_ = due_ = Clock::now() + kQuiet;
    agentlog::debug("lint interrupted by a change", "lint_ms=" + std::to_string(lint_ms.count()));
    return false;
  }
  warnings_ = std::move(warnings);
  dirty_ = false;
  agentlog::debug("linted",
                  "warnings=" + std::to_string(warnings_.size()) + " lint_ms=" + std::to_string(lint_ms.count()));
  return true;
}

}  // namespace bpfence
