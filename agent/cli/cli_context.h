// What every command sets up after parsing its options: the agent client,
// the offline compile of --manifests, the names, and the pin folder.
#pragma once

#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "bpfence/compiler.h"
#include "cli_agent.h"
#include "cli_manifests.h"
#include "cli_names.h"
#include "cli_options.h"

namespace bpfence::cli {

struct Context {
  CommonOptions common;
  AgentClient agent{""};
  bool agent_up = false;
  std::string agent_node;        // "node" of /v1/status when the agent is up
  std::unique_ptr<Compiler> offline;  // --manifests, compiled with node ""
  Manifests manifests;
  Names names;

  // With --manifests: loads and compiles them (parse errors go to `err` as
  // warnings). Otherwise asks the agent, unless --no-agent; an agent that
  // does not answer is noted on `err` and leaves `names` empty.
  Status init(std::ostream& err, bool want_names = true);
  bool offline_mode() const { return offline != nullptr; }
  Status pin_dir(std::string* out) const { return common.resolve_pin_dir(agent_node, out); }
};

// Parses, validates and handles --help in one call: returns nullopt when the
// command should go on, or the exit code (0 for --help, 2 for a bad line).
std::optional<int> parse_command_line(const OptionParser& parser, const Args& args,
                                      std::vector<std::string>* positional, const CommonOptions& common,
                                      const CommandIo& io);

}  // namespace bpfence::cli
