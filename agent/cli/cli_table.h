// Plain-text tables for the CLI: a header row, rows of cells, columns padded
// to their widest cell, two spaces apart, no trailing blanks. Output stays
// greppable and diffable (no box drawing, no colours).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace bpfence::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  bool empty() const { return rows_.empty(); }
  size_t size() const { return rows_.size(); }
  void print(std::ostream& out) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// "3s", "2m05s", "1h02m", "3d04h": a compact age.
std::string age_text(uint64_t ns);
// "180", "1.5K", "2.3M": a compact count (packets, bytes).
std::string count_text(uint64_t n);
// "a, b, c" (or `none` when empty).
std::string join(const std::vector<std::string>& items, const std::string& sep = ", ",
                 const std::string& none = "-");

}  // namespace bpfence::cli
