// The verifier's work on each program stays within a budget: a change that
// makes the verifier explore many more instructions (a new path through the
// parser, a loop it can no longer bound) fails here before it reaches the
// kernel's one-million limit on some other kernel. The count is the one the
// kernel reports for the loaded program (bpf_prog_info.verified_insns).
#include <bpf/bpf.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include <catch2/catch.hpp>

#include "bpfence/bpf_dataplane.h"

using namespace bpfence;

namespace {

// Verified instructions on the kernel CI runs (6.18), with headroom for
// ordinary changes: about 1.5x what the programs took when this was set
// (from_pod 92,596 / 94,177 with trace_new_flows, to_pod 81,798 / 84,392).
// Raise a budget only with the reason in the commit.
struct Budget {
  bf_direction direction;
  bool trace_new_flows;
  uint32_t max_insns;
};
constexpr Budget kBudgets[] = {
    {BF_DIR_EGRESS, false, 140000},
    {BF_DIR_INGRESS, false, 125000},
    {BF_DIR_EGRESS, true, 142000},
    {BF_DIR_INGRESS, true, 128000},
};

// Uninstalls (pins, folder) even when a check fails.
struct Loaded {
  explicit Loaded(bool trace_new_flows) {
    static int count = 0;
    BpfDataplaneOptions o;
    o.pin_dir = "/sys/fs/bpf/bpfence-verifier-" + std::to_string(::getpid()) + "-" + std::to_string(count++);
    o.trace_new_flows = trace_new_flows;
    dp = std::make_unique<BpfDataplane>(o);
  }
  ~Loaded() { (void)dp->uninstall(); }
  std::unique_ptr<BpfDataplane> dp;
};

}  // namespace

TEST_CASE("each program verifies within its instruction budget", "[verifier]") {
  for (bool trace : {false, true}) {
    Loaded loaded(trace);
    REQUIRE(loaded.dp->open());
    for (const Budget& b : kBudgets) {
      if (b.trace_new_flows != trace) continue;
      const char* name = b.direction == BF_DIR_EGRESS ? "from_pod" : "to_pod";
      bpf_prog_info info{};
      __u32 len = sizeof(info);
      REQUIRE(bpf_obj_get_info_by_fd(loaded.dp->program_fd(b.direction), &info, &len) == 0);
      std::printf("level=info msg=\"verified\" prog=%s trace_new_flows=%s verified_insns=%u budget=%u\n", name,
                  trace ? "true" : "false", info.verified_insns, b.max_insns);
      INFO("program " << name << (trace ? " (trace_new_flows)" : "") << ": " << info.verified_insns
                      << " instructions verified, budget " << b.max_insns);
      // Kernels before 5.16 do not report the count: the README's minimum.
      REQUIRE(info.verified_insns > 0);
      CHECK(info.verified_insns <= b.max_insns);
    }
  }
}
