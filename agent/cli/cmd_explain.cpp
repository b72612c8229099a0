// `bpfence explain --from ns/pod|IP --to ns/pod|IP --port 80/TCP`: the
// verdict the current policies give, on each side, and why.
#include <iostream>

#include "bpfence/agent_api.h"
#include "cli_context.h"
#include "cli_explain.h"
#include "command.h"

namespace bpfence::cli {
namespace {

int run_explain(const Args& args, const CommandIo& io) {
  Context ctx;
  std::string from, to, port = "";
  OptionParser p("bpfence explain --from NS/POD|IP --to NS/POD|IP --port PORT/PROTO|ICMP",
                 "What the current policies say about one connection, on each side: egress at the\n"
                 "source pod, ingress at the destination pod. Names the rule that allows it, or the\n"
                 "policies that isolate the pod when none of their rules match; with\n"
                 "ClusterNetworkPolicies, the tiers in order (Admin, NetworkPolicy, Baseline,\n"
                 "default) up to the rule that decided, Pass rules included. Asks the agent\n"
                 "(/v1/verdict), or compiles --manifests DIR locally.");
  p.value("--from", &from, "NS/POD|IP", "the client");
  p.value("--to", &to, "NS/POD|IP", "the server");
  p.value("--port", &port, "PORT[/PROTO]", "80/TCP (default TCP), 53/UDP, 9/SCTP, or ICMP");
  ctx.common.add_to(p);
  if (auto rc = parse_command_line(p, args, nullptr, ctx.common, io)) return *rc;
  if (from.empty() || to.empty() || port.empty()) {
    io.err << "bpfence: explain needs --from, --to and --port (--help for usage)\n";
    return 2;
  }
  ExplainResult r;
  if (Status s = parse_port_spec(port, &r.proto, &r.port); !s) {
    io.err << "bpfence: " << s.message() << "\n";
    return 2;
  }
  if (Status s = ctx.init(io.err); !s) {
    io.err << "bpfence: " << s.message() << "\n";
    return 1;
  }
  if (!ctx.offline_mode() && !ctx.agent_up) {
    io.err << "bpfence: explain needs the agent (" << ctx.common.agent << ") or --manifests DIR\n";
    return 1;
  }
  for (auto [text, host] : {std::pair{&from, &r.from}, std::pair{&to, &r.to}}) {
    if (Status s = resolve_host(*text, ctx.names, host); !s) {
      io.err << "bpfence: " << s.message() << "\n";
      return 1;
    }
  }
  // ICMPv6 between IPv6 ends.
  if (r.proto == 1 && !r.from.ip.is_v4()) r.proto = 58;

  if (ctx.offline_mode()) {
    r.verdict = ctx.offline->verdict(r.from.ip, r.to.ip, r.proto, r.port);
    r.source = ctx.names.source;
    r.policies = ctx.offline->policies();
    r.show_tiers = !ctx.offline->cluster_policies().empty();
  } else {
    nlohmann::json j;
    std::string path = "/v1/verdict?from=" + url_escape(r.from.ip.str()) + "&to=" + url_escape(r.to.ip.str()) +
                       "&proto=" + ip_proto_name(r.proto) + "&port=" + std::to_string(r.port);
    Status s = ctx.agent.get(path, &j);
    if (s) s = verdict_from_agent_json(j, ctx.names, &r.verdict);
    if (!s) {
      io.err << "bpfence: " << s.message() << "\n";
      return 1;
    }
    r.show_tiers = j.contains("cluster_policies") && j["cluster_policies"].is_number_unsigned() &&
                   j["cluster_policies"].get<size_t>() > 0;
    r.source = "agent " + ctx.common.agent + (ctx.agent_node.empty() ? "" : " (node " + ctx.agent_node + ")");
    // The policies, to say what the allowing rule is; optional.
    if (ctx.agent.get("/v1/policies", &j) && j.contains("policies") && j["policies"].is_array())
      for (const auto& item : j["policies"]) {
        NetworkPolicy p;
        if (policy_from_agent_json(item, &p)) r.policies[p.key()] = std::move(p);
      }
    r.both_sides_known = false;
  }
  if (ctx.common.format() == OutputFormat::Json)
    io.out << explain_json(r).dump(2) << "\n";
  else
    print_explain(io.out, r);
  return 0;
}

Command explain_command("explain", "why a connection is allowed or denied, on each side",
                        [](const Args& args) { return run_explain(args, {std::cout, std::cerr}); });

}  // namespace
}  // namespace bpfence::cli
