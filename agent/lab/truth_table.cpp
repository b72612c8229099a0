// Printing the probe matrix as a truth table (see truth_table.h).
#include "truth_table.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>

namespace bpfence::lab {

std::vector<size_t> MatrixResult::mismatches() const {
  std::vector<size_t> out;
  for (size_t i = 0; i < probes.size(); ++i)
    if (results[i].outcome == Outcome::Error || results[i].reached() != expected[i]) out.push_back(i);
  return out;
}

namespace {

struct Column {
  std::string to;
  ProbePort port;
  size_t width;
};

std::string pad(const std::string& s, size_t width) { return s.size() >= width ? s : s + std::string(width - s.size(), ' '); }

}  // namespace

std::string format_matrix(const Scenario& sc, const MatrixResult& m) {
  // Columns in the order probes() made them: destination by destination.
  std::vector<Column> cols;
  std::map<std::pair<std::string, ProbePort>, size_t> col_of;
  std::map<std::pair<std::string, size_t>, size_t> cell;  // (from, column) -> probe index
  for (size_t i = 0; i < m.probes.size(); ++i) {
    const auto& p = m.probes[i];
    auto key = std::make_pair(p.to, p.port);
    if (!col_of.count(key)) {
      col_of[key] = cols.size();
      cols.push_back({p.to, p.port, std::max<size_t>(p.port.str().size(), 2)});
    }
    cell[{p.from, col_of[key]}] = i;
  }
  // Destinations in the scenario's order (pods, then external hosts), each
  // one's ports as declared, ICMP last.
  auto rank = [&](const std::string& host) {
    for (size_t i = 0; i < sc.hosts.size(); ++i)
      if (sc.hosts[i].name == host) return i;
    return sc.hosts.size();
  };
  std::vector<size_t> order(cols.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return rank(cols[a].to) < rank(cols[b].to); });
  std::vector<Column> sorted;
  std::vector<size_t> new_index(cols.size());
  for (size_t i = 0; i < order.size(); ++i) {
    new_index[order[i]] = i;
    sorted.push_back(cols[order[i]]);
  }
  cols = std::move(sorted);
  cell.clear();
  for (size_t i = 0; i < m.probes.size(); ++i)
    cell[{m.probes[i].from, new_index[col_of[{m.probes[i].to, m.probes[i].port}]]}] = i;

  size_t row_width = 4;
  for (const auto& h : sc.hosts) row_width = std::max(row_width, h.name.size());
  row_width += 2;

  // Widen a destination's last column when its name is longer than its ports.
  for (size_t c = 0; c < cols.size();) {
    size_t end = c, sum = 0;
    while (end < cols.size() && cols[end].to == cols[c].to) sum += cols[end++].width + 1;
    if (cols[c].to.size() + 1 > sum) cols[end - 1].width += cols[c].to.size() + 1 - sum;
    c = end;
  }

  std::ostringstream out;
  std::string line1 = pad("to:", row_width), line2 = pad("from", row_width);
  for (size_t c = 0; c < cols.size(); ++c) {
    size_t sum = 0, end = c;
    if (c == 0 || cols[c - 1].to != cols[c].to) {
      while (end < cols.size() && cols[end].to == cols[c].to) sum += cols[end++].width + 1;
      line1 += pad(cols[c].to, sum);
    }
    line2 += pad(cols[c].port.str(), cols[c].width + 1);
  }
  out << line1 << "\n" << line2 << "\n";
  for (const auto& h : sc.hosts) {
    std::string row = pad(h.name, row_width);
    bool any = false;
    for (size_t c = 0; c < cols.size(); ++c) {
      auto it = cell.find({h.name, c});
      std::string mark = "-";
      if (it != cell.end()) {
        any = true;
        size_t i = it->second;
        const auto& r = m.results[i];
        mark = r.outcome == Outcome::Error ? "E" : r.reached() ? "." : "X";
        if (r.outcome == Outcome::Error || r.reached() != m.expected[i]) mark += "!";
      }
      row += pad(mark, cols[c].width + 1);
    }
    if (any) out << row << "\n";
  }
  auto bad = m.mismatches();
  char summary[200];
  std::snprintf(summary, sizeof summary, "%zu probes in %.0f ms, %zu mismatches", m.probes.size(), m.elapsed_ms,
                bad.size());
  out << "(. reached  X denied  E probe error  ! differs from the expected table)  " << summary;
  if (m.retried) out << ", " << m.retried << " retried with a longer timeout";
  if (m.not_run) out << ", " << m.not_run << " SCTP probes NOT RUN (this kernel has no SCTP)";
  out << "\n";
  for (size_t i : bad) {
    const auto& p = m.probes[i];
    const auto& r = m.results[i];
    out << "  MISMATCH " << p.from << " -> " << p.to << " " << p.port.str() << ": got " << outcome_name(r.outcome)
        << (r.detail.empty() ? "" : " (" + r.detail + ")") << ", want " << (m.expected[i] ? "allowed" : "denied")
        << "\n";
  }
  for (size_t i = 0; i < m.probes.size(); ++i) {
    const auto& r = m.results[i];
    if (r.outcome == Outcome::Refused && r.reached() == m.expected[i])
      out << "  note " << m.probes[i].from << " -> " << m.probes[i].to << " " << m.probes[i].port.str() << ": "
          << outcome_name(r.outcome) << " (" << r.detail << ")\n";
  }
  return out.str();
}

}  // namespace bpfence::lab
