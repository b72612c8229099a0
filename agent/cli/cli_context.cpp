// Setting up a command: options, agent, offline compile, names.
#include "cli_context.h"

#include <filesystem>

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
  const bool manifests_given = !common.manifests.empty();
  if (manifests_given) {
    if (Status s = load_manifests(common.manifests, &manifests); !s) return s;
    for (const auto& e : manifests.errors) err << "warning: " << e << "\n";
    offline = std::make_unique<Compiler>(CompileOptions{"", {}});
    compile_manifests(manifests, *offline);
    names_from_compiler(*offline, "manifests " + common.manifests, &names);
  }
  if (common.no_agent) return Status::ok();
  agent = AgentClient(common.agent);
  agent_up = agent.reachable();
  if (!agent_up) {
    if (!manifests_given)
      err << "note: " << agent.error() << ": no names (ids only); use --manifests DIR for names offline\n";
    return Status::ok();
  }
  nlohmann::json status;
  if (agent.get("/v1/status", &status) && status.is_object()) {
    if (status.contains("node") && status["node"].is_string()) agent_node = status["node"].get<std::string>();
    if (status.contains("dataplane_location") && status["dataplane_location"].is_string())
      agent_location = status["dataplane_location"].get<std::string>();
    if (status.contains("dataplane") && status["dataplane"].is_string())
      agent_dataplane = status["dataplane"].get<std::string>();
  }
  if (!want_names) return Status::ok();
  Names from_agent;
  if (Status s = names_from_agent(agent, &from_agent); !s) {
    err << "note: " << s.message() << ": some names are missing\n";
    return Status::ok();
  }
  if (manifests_given) {
    // The manifests name every pod; only the agent can name its rule ids.
    names.take_rules(from_agent);
    names.source += ", rule ids from agent " + common.agent;
  } else {
    names = std::move(from_agent);
  }
  return Status::ok();
}

bool Context::agent_enforces(const std::string& dir) const {
  if (!agent_up) return false;
  if (agent_location.empty()) return true;  // an agent that does not say
  std::error_code ec1, ec2;
  auto a = std::filesystem::weakly_canonical(agent_location, ec1);
  auto b = std::filesystem::weakly_canonical(dir, ec2);
  return !ec1 && !ec2 && a == b;
}

Status Context::pin_dir(std::string* out, std::ostream& err) {
  if (Status s = common.resolve_pin_dir(agent_node, out); !s) return s;
  // Rule ids are the agent's own: another node's agent (the lab runs
  // several) would name them wrongly.
  if (agent_up && names.rules_known && !agent_enforces(*out)) {
    {
      err << "note: the agent at " << common.agent << " enforces " << agent_location << ", not " << *out
          << ": its rule names are not used\n";
      names.forget_rules();
    }
  }
  return Status::ok();
}

}  // namespace bpfence::cli
