// Setting up a command: options, agent, offline compile, names.
#include "cli_context.h"

namespace bpfence::cli {

std::optional<int> parse_command_line(const OptionParser& parser, const Args& args,
                                      std::vector<std::string>* positional, const CommonOptions& common,
                                      const CommandIo& io) {
  bool help = false;
  Status s = parser.parse(args, positional, &help);
  if (help) {
    parser.print_help(io.out);
    return 0;
  }
  if (s) s = common.validate();
  if (!s) {
    io.err << "bpfence: " << s.message() << " (--help for usage)\n";
    return 2;
  }
  return std::nullopt;
}

Status Context::init(std::ostream& err, bool want_names) {
  if (!common.manifests.empty()) {
    if (Status s = load_manifests(common.manifests, &manifests); !s) return s;
    for (const auto& e : manifests.errors) err << "warning: " << e << "\n";
    offline = std::make_unique<Compiler>(CompileOptions{"", {}});
    compile_manifests(manifests, *offline);
    names_from_compiler(*offline, "manifests " + common.manifests, &names);
    return Status::ok();
  }
  if (common.no_agent) return Status::ok();
  agent = AgentClient(common.agent);
  agent_up = agent.reachable();
  if (!agent_up) {
    err << "note: " << agent.error() << ": no names (ids only); use --manifests DIR for names offline\n";
    return Status::ok();
  }
  nlohmann::json status;
  if (agent.get("/v1/status", &status) && status.is_object() && status.contains("node") &&
      status["node"].is_string())
    agent_node = status["node"].get<std::string>();
  if (want_names) {
    if (Status s = names_from_agent(agent, &names); !s)
      err << "note: " << s.message() << ": some names are missing\n";
  }
  return Status::ok();
}

}  // namespace bpfence::cli
