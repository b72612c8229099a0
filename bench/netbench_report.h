// The network benchmark's report from a run's JSON: medians over repeats,
// ratios to "none" paired by repeat, the Markdown tables
// (<out>/netbench.md, or <run>.md for a quick run) and gnuplot PNGs of each
// metric against the policy count (<out>/plots/).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "bpfence/result.h"

namespace bpfence::bench {

Status write_report(const nlohmann::json& run, const std::string& out_dir);

}  // namespace bpfence::bench
