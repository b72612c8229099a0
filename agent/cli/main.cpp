// `bpfence`: the operator's CLI. Dispatches to the registered subcommands.
#include <cstdio>
#include <cstring>

#include "command.h"

namespace bpfence::cli {

std::map<std::string, CommandInfo>& commands() {
  static std::map<std::string, CommandInfo> table;
  return table;
}

Command::Command(std::string name, std::string summary, std::function<int(const Args&)> run) {
  commands()[std::move(name)] = {std::move(summary), std::move(run)};
}

}  // namespace bpfence::cli

static void usage(FILE* out) {
  std::fprintf(out, "usage: bpfence COMMAND [options]   (bpfence COMMAND --help for details)\n\ncommands:\n");
  for (const auto& [name, info] : bpfence::cli::commands())
    std::fprintf(out, "  %-10s %s\n", name.c_str(), info.summary.c_str());
}

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  auto& table = bpfence::cli::commands();
  auto it = table.find(argv[1]);
  if (it == table.end()) {
    std::fprintf(stderr, "bpfence: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
  }
  return it->second.run(bpfence::cli::Args(argv + 2, argv + argc));
}
