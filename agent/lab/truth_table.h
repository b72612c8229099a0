// The connectivity matrix as the upstream netpol e2e tests print it: one row
// per source, one column per destination and port, `.` reached, `X` denied,
// and `!` after a cell that differs from the scenario's expected table.
#pragma once

#include <string>
#include <vector>

#include "bpfence/scenario.h"
#include "prober.h"

namespace bpfence::lab {

struct MatrixResult {
  std::vector<Probe> probes;
  std::vector<ProbeResult> results;
  std::vector<bool> expected;  // per probe: allowed?
  int retried = 0;             // probes that needed a second, longer try
  size_t not_run = 0;          // SCTP probes left out: the kernel has no SCTP
  double elapsed_ms = 0;

  std::vector<size_t> mismatches() const;
};

std::string format_matrix(const Scenario& scenario, const MatrixResult& m);

}  // namespace bpfence::lab
