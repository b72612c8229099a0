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
  std::string agent_location;    // its "dataplane_location" (pin folder)
  std::string agent_dataplane;   // its "dataplane": "bpf" or "iptables"
  std::unique_ptr<Compiler> offline;  // --manifests, compiled with node ""
  Manifests manifests;
  Names names;

  // With --manifests: loads and compiles them (parse errors go to `err` as
  // warnings); pods and policies are named from them, and rule ids by the
  // agent if it answers. Otherwise names come from the agent, unless
  // --no-agent; an agent that does not answer is noted on `err`.
  Status init(std::ostream& err, bool want_names = true);
  bool offline_mode() const { return offline != nullptr; }
  // The pin folder to read. Forgets the agent's rule names when the agent
  // enforces another folder (another node).
  Status pin_dir(std::string* out, std::ostream& err);
  // Whether the agent that answered enforces the maps pinned in `dir`.
  bool agent_enforces(const std::string& dir) const;
};

// Parses, validates and handles --help in one call: returns nullopt when the
// command should go on, or the exit code (0 for --help, 2 for a bad line).
std::optional<int> parse_command_line(const OptionParser& parser, const Args& args,
                                      std::vector<std::string>* positional, const CommonOptions& common,
                                      const CommandIo& io);

}  // namespace bpfence::cli
