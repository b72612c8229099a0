// Exponential backoff with jitter for reconnecting to the API server.
//
// The n-th consecutive failure waits a random time in [d/2, d] where
// d = min(max, initial * 2^n). Jitter keeps the agents of a whole cluster
// from reconnecting in lockstep after an API server restart.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace bpfence {

class Backoff {
 public:
  using ms = std::chrono::milliseconds;

  Backoff(ms initial, ms max, uint64_t seed = std::random_device{}())
      : initial_(std::max(initial, ms(1))), max_(std::max(max, initial_)), rng_(seed) {}

  // The wait before the next attempt; each call doubles the ceiling.
  ms next() {
    ms ceiling = initial_;
    for (int i = 0; i < failures_ && ceiling < max_; ++i) ceiling *= 2;
    ceiling = std::min(ceiling, max_);
    ++failures_;
    std::uniform_int_distribution<int64_t> pick(ceiling.count() / 2, ceiling.count());
    return ms(pick(rng_));
  }

  // After a success: the next failure waits about `initial` again.
  void reset() { failures_ = 0; }
  int failures() const { return failures_; }

 private:
  ms initial_;
  ms max_;
  int failures_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace bpfence
