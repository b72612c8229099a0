// Prometheus text writer and histogram.
#include "metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace bpfence {
namespace {

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  char buf[64];
  // Integers print as integers (counters of packets and bytes stay exact).
  if (v == std::floor(v) && std::fabs(v) < 1e18) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.9g", v);
  }
  return buf;
}

}  // namespace

std::string prom_escape(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void PromWriter::family(const std::string& name, const std::string& type, const std::string& help) {
  out_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void PromWriter::sample(const std::string& name, const MetricLabels& labels, double value) {
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i) out_ += ',';
      out_ += labels[i].first + "=\"" + prom_escape(labels[i].second) + "\"";
    }
    out_ += '}';
  }
  out_ += ' ' + number(value) + '\n';
}

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {
  std::sort(bounds_.begin(), bounds_.end());
  counts_.assign(bounds_.size() + 1, 0);
}

void Histogram::observe(double value, uint64_t count) {
  std::lock_guard lock(mutex_);
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  counts_[i] += count;
  sum_ += value * static_cast<double>(count);
  count_ += count;
}

Histogram::Snapshot Histogram::snapshot() const {
  std::lock_guard lock(mutex_);
  Snapshot s;
  s.bounds = bounds_;
  uint64_t acc = 0;
  for (uint64_t c : counts_) s.cumulative.push_back(acc += c);
  s.sum = sum_;
  s.count = count_;
  return s;
}

void Histogram::write(PromWriter& w, const std::string& name, const std::string& help) const {
  Snapshot s = snapshot();
  w.family(name, "histogram", help);
  for (size_t i = 0; i < s.bounds.size(); ++i) w.sample(name + "_bucket", {{"le", number(s.bounds[i])}}, s.cumulative[i]);
  w.sample(name + "_bucket", {{"le", "+Inf"}}, s.cumulative.back());
  w.sample(name + "_sum", s.sum);
  w.sample(name + "_count", s.count);
}

}  // namespace bpfence
