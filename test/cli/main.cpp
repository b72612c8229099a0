// Entry point of the CLI's datapath tests: they load BPF programs and create
// interfaces, so they need root. Without it they skip (exit 77) loudly,
// except in CI, where they fail. They run in a private network namespace
// (the `bpfence` processes they start inherit it).
#define CATCH_CONFIG_RUNNER
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fixture.h"

int main(int argc, char** argv) {
  if (geteuid() != 0) {
    const char* ci = std::getenv("CI");
    if (ci && std::string(ci) == "true") {
      std::fprintf(stderr, "FAIL: CLI datapath tests need root (BPF_PROG_TEST_RUN, tc) and CI=true\n");
      return 1;
    }
    std::fprintf(stderr, "\n*** SKIP: CLI datapath tests need root (BPF_PROG_TEST_RUN, tc); run them as root ***\n\n");
    return 77;
  }
  bpfence::testdp::enter_private_netns();
  return Catch::Session().run(argc, argv);
}
