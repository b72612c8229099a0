// What a benchmark result was measured on: the source commit (and whether
// the tree had uncommitted changes) and the machine. Every result file
// carries it, so a figure can be traced back and compared like for like.
#pragma once

#include <nlohmann/json.hpp>

namespace bpfence::bench {

// {"commit": "<sha>[-dirty]" | "unknown", "machine": {"cpu_model", "cpus",
// "kernel", "mem_mib"}}; the commit is read with git from the source tree
// the benchmark was built from.
nlohmann::json provenance();

// The "machine" part alone.
nlohmann::json machine_info();

}  // namespace bpfence::bench
