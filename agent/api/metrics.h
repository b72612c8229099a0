// Prometheus text exposition (version 0.0.4) without a client library: a
// writer that prints each family's HELP/TYPE once, and a thread-safe
// cumulative histogram for latencies.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace bpfence {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class PromWriter {
 public:
  // Declares a family; samples of it follow. type: counter, gauge, histogram.
  void family(const std::string& name, const std::string& type, const std::string& help);
  void sample(const std::string& name, const MetricLabels& labels, double value);
  void sample(const std::string& name, double value) { sample(name, {}, value); }
  const std::string& text() const { return out_; }

 private:
  std::string out_;
};

// Label values escaped as the format wants (backslash, quote, newline).
std::string prom_escape(const std::string& value);

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  // `count` observations of the same value (a batch of events that waited
  // equally long).
  void observe(double value, uint64_t count = 1);
  // Writes name_bucket{le=...}, name_sum, name_count (family declared here).
  void write(PromWriter& w, const std::string& name, const std::string& help) const;

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // per bound, then +Inf last
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  mutable std::mutex mutex_;
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative), +Inf last
  double sum_ = 0;
  uint64_t count_ = 0;
};

}  // namespace bpfence
