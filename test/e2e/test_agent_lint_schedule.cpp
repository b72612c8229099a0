// When the agent lints: an attempt a change interrupts is retried later and
// later while changes keep coming (so steady churn does not pay for a lint
// that never finishes), and a lint that finishes starts the count again.
#include <catch2/catch.hpp>

#include "lint_schedule.h"

using namespace bpfence;
using std::chrono::milliseconds;

namespace {

Compiler compiler_with_a_policy() {
  Compiler c({"", {}});
  c.upsert(Namespace{"dev", {}, ""});
  NetworkPolicy p;
  p.namespace_ = "dev";
  p.name = "deny-all";
  c.upsert(p);
  c.commit();
  return c;
}

}  // namespace

TEST_CASE("an interrupted lint waits longer each time in a row, up to a bound", "[lint]") {
  CHECK(LintSchedule::retry_delay(1) == milliseconds(250));
  CHECK(LintSchedule::retry_delay(2) == milliseconds(500));
  CHECK(LintSchedule::retry_delay(3) == milliseconds(1000));
  CHECK(LintSchedule::retry_delay(5) == milliseconds(4000));
  CHECK(LintSchedule::retry_delay(50) == milliseconds(4000));
}

TEST_CASE("lint under steady churn: retries back off, a finished lint resets them", "[lint]") {
  auto c = compiler_with_a_policy();
  LintSchedule lint;
  auto now = LintSchedule::Clock::now();
  lint.changed(now);
  // The first question (is a change waiting before starting?) says no; the
  // next, asked between policies, says yes: the lint gives way.
  auto interrupt_midway = [] {
    auto calls = std::make_shared<int>(0);
    return [calls] { return ++*calls > 1; };
  };
  for (int attempt = 1; attempt <= 4; ++attempt) {
    now = lint.due();
    auto before = LintSchedule::Clock::now();
    CHECK_FALSE(lint.run_if_due(c, now, interrupt_midway()));
    auto after = LintSchedule::Clock::now();
    CHECK(lint.gave_way() == attempt);
    CHECK(lint.dirty());
    // Retried no sooner than the delay for this many in a row; a change
    // arriving meanwhile may push the retry later (it debounces), never
    // earlier.
    CHECK(lint.due() >= before + LintSchedule::retry_delay(attempt));
    CHECK(lint.due() <= after + LintSchedule::retry_delay(attempt));
    auto due = lint.due();
    lint.changed(after);
    CHECK(lint.due() >= due);
    CHECK_FALSE(lint.run_if_due(c, due - milliseconds(1), [] { return false; }));
  }
  CHECK(lint.run_if_due(c, lint.due(), [] { return false; }));
  CHECK(lint.gave_way() == 0);
  CHECK_FALSE(lint.dirty());
  CHECK(lint.warnings().size() >= 1);  // the policy selects no pod
}
