// main() of the agent's end-to-end tests: skips without root (outside CI),
// and doubles as the pods' echo listener (`--bfe2e-listener 80/TCP ...`),
// so the tests need no other helper binary.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "listener.h"
#include "test_agent_support.h"

int bpfence::e2e::listener_main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) != "--bfe2e-listener") return -1;
  std::vector<ProbePort> ports;
  for (int i = 2; i < argc; ++i) {
    auto p = ProbePort::parse(argv[i]);
    if (!p) {
      std::fprintf(stderr, "bad port %s\n", argv[i]);
      return 2;
    }
    ports.push_back(*p);
  }
  return lab::run_listener(ports, 3);
}

int main(int argc, char** argv) {
  if (int rc = bpfence::e2e::listener_main(argc, argv); rc >= 0) return rc;
  if (int rc = bpfence::e2e::root_or_skip(argv[0])) return rc;
  return Catch::Session().run(argc, argv);
}
