// The `bpfence` CLI is a set of subcommands; each cmd_*.cpp registers one
// with a static Command object, so adding a command touches no shared file.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace bpfence::cli {

using Args = std::vector<std::string>;

struct Command {
  Command(std::string name, std::string summary, std::function<int(const Args&)> run);
};

struct CommandInfo {
  std::string summary;
  std::function<int(const Args&)> run;
};

std::map<std::string, CommandInfo>& commands();

}  // namespace bpfence::cli
