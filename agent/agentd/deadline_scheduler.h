// The reconciler's one clock: each job that must run later (an apply
// retry, the lint, a rebind after an error, noticing the source's
// recovery, the idle refresh) keeps its deadline here, and the loop sleeps
// until the earliest one or until work arrives. Used by one thread.
#pragma once

#include <chrono>
#include <map>
#include <optional>

namespace bpfence {

template <class Job>
class DeadlineScheduler {
 public:
  using Clock = std::chrono::steady_clock;

  void set(Job job, Clock::time_point at) { at_[job] = at; }
  void clear(Job job) { at_.erase(job); }
  bool due(Job job, Clock::time_point now) const {
    auto it = at_.find(job);
    return it != at_.end() && now >= it->second;
  }
  // The earliest deadline; none while no job waits for time.
  std::optional<Clock::time_point> next() const {
    std::optional<Clock::time_point> earliest;
    for (const auto& [job, at] : at_)
      if (!earliest || at < *earliest) earliest = at;
    return earliest;
  }

 private:
  std::map<Job, Clock::time_point> at_;
};

}  // namespace bpfence
