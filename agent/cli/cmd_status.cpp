// `bpfence status`: is the node enforcing what the cluster says? The agent's
// view (generations, endpoints, errors, warnings) and the datapath's (pinned
// maps: flows, endpoints, packets by verdict), each shown when available.
#include <algorithm>
#include <iostream>

#include "bpfence/reasons.h"
#include "cli_context.h"
#include "cli_flows.h"
#include "cli_table.h"
#include "command.h"

namespace bpfence::cli {
namespace {

std::string scalar_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "-";
  return v.dump();
}

std::string warning_text(const nlohmann::json& w) {
  if (w.is_string()) return w.get<std::string>();
  if (w.is_object() && w.contains("text") && w["text"].is_string()) return w["text"].get<std::string>();
  if (w.is_object() && w.contains("message")) {
    std::string policy = w.contains("policy") ? scalar_text(w["policy"]) : "";
    return (policy.empty() ? "" : policy + ": ") + scalar_text(w["message"]);
  }
  return w.dump();
}

void print_agent(std::ostream& out, const nlohmann::json& s) {
  out << "Agent:\n";
  // The fields operators look at first, then anything else the agent says.
  const char* first[] = {"node",   "generation",       "applied_generation", "dataplane",    "source",
                         "synced", "source_state",     "source_health",      "ready",        "not_ready_reason"};
  for (const char* k : first)
    if (s.contains(k)) out << "  " << k << ": " << scalar_text(s[k]) << "\n";
  for (const auto& [k, v] : s.items()) {
    if (std::find(std::begin(first), std::end(first), k) != std::end(first)) continue;
    if (k == "errors" || k == "warnings") continue;
    if (v.is_object()) {
      std::string line;
      for (const auto& [sk, sv] : v.items()) line += (line.empty() ? "" : ", ") + sk + " " + scalar_text(sv);
      out << "  " << k << ": " << line << "\n";
    } else if (v.is_array()) {
      std::vector<std::string> items;
      for (const auto& x : v) items.push_back(scalar_text(x));
      out << "  " << k << ": " << join(items) << "\n";
    } else {
      out << "  " << k << ": " << scalar_text(v) << "\n";
    }
  }
  for (const char* list : {"errors", "warnings"}) {
    if (!s.contains(list) || !s[list].is_array()) continue;
    out << "  " << list << ": " << (s[list].empty() ? "none" : std::to_string(s[list].size())) << "\n";
    for (const auto& w : s[list]) out << "    - " << warning_text(w) << "\n";
  }
}

int run_status(const Args& args, const CommandIo& io) {
  Context ctx;
  OptionParser p("bpfence status [--node NAME] [-o json]",
                 "The node's enforcement status: the agent's generations, endpoints, errors and\n"
                 "policy warnings (when it answers), and the pinned datapath maps (always).");
  ctx.common.add_to(p);
  if (auto rc = parse_command_line(p, args, nullptr, ctx.common, io)) return *rc;
  if (Status s = ctx.init(io.err, /*want_names=*/false); !s) {
    io.err << "bpfence: " << s.message() << "\n";
    return 1;
  }
  nlohmann::json out = nlohmann::json::object();
  nlohmann::json agent_status;
  bool have_agent = false;
  if (ctx.agent_up) {
    if (Status s = ctx.agent.get("/v1/status", &agent_status); s)
      have_agent = true;
    else
      io.err << "note: " << s.message() << "\n";
  }
  out["agent"] = have_agent ? agent_status
                            : nlohmann::json{{"reachable", false},
                                             {"address", ctx.common.agent},
                                             {"error", ctx.common.no_agent ? "not asked (--no-agent)" : ctx.agent.error()}};

  std::string pin_dir;
  FlowSnapshot snap;
  Status maps = ctx.pin_dir(&pin_dir, io.err);
  if (maps) maps = read_flow_snapshot(pin_dir, &snap);
  if (maps) {
    nlohmann::json fwd = nlohmann::json::object(), drop = nlohmann::json::object();
    for (const auto& c : snap.counters)
      (c.action == BF_ACT_DROP ? drop : fwd)[bf_reason_name(c.reason)] = c.packets;
    size_t fail_closed = 0;
    for (const auto& e : snap.endpoints) fail_closed += e.endpoint.fail_closed != 0;
    out["datapath"] = {{"pin_dir", pin_dir},
                       {"flows", snap.flows.size()},
                       {"flow_table_size", snap.table_size},
                       {"endpoints", snap.endpoints.size()},
                       {"fail_closed_endpoints", fail_closed},
                       {"forwarded_packets", fwd},
                       {"dropped_packets", drop}};
  } else {
    out["datapath"] = {{"error", maps.message()}};
  }
  if (ctx.offline_mode()) {
    nlohmann::json warnings = nlohmann::json::array();
    for (const auto& w : ctx.offline->warnings()) warnings.push_back({{"policy", w.policy}, {"message", w.message}});
    out["manifests"] = {{"dir", ctx.common.manifests},
                        {"namespaces", ctx.manifests.namespaces.size()},
                        {"pods", ctx.manifests.pods.size()},
                        {"policies", ctx.manifests.policies.size()},
                        {"errors", ctx.manifests.errors},
                        {"warnings", warnings}};
  }

  if (ctx.common.format() == OutputFormat::Json) {
    io.out << out.dump(2) << "\n";
  } else {
    if (have_agent)
      print_agent(io.out, agent_status);
    else if (ctx.common.no_agent)
      io.out << "Agent: not asked (--no-agent)\n";
    else
      io.out << "Agent: not reachable at " << ctx.common.agent << " (" << ctx.agent.error() << ")\n";
    io.out << "\nDatapath:\n";
    if (maps) {
      const auto& d = out["datapath"];
      io.out << "  pin dir: " << pin_dir << "\n"
             << "  endpoints: " << snap.endpoints.size() << " (" << d["fail_closed_endpoints"].get<size_t>()
             << " fail-closed)\n"
             << "  flows: " << snap.flows.size() << " of " << snap.table_size << "\n";
      for (const auto& [label, key] : {std::pair{"forwarded", "forwarded_packets"}, {"dropped", "dropped_packets"}}) {
        std::vector<std::string> items;
        uint64_t total = 0;
        for (const auto& [reason, n] : d[key].items()) {
          items.push_back(reason + " " + std::to_string(n.get<uint64_t>()));
          total += n.get<uint64_t>();
        }
        io.out << "  " << label << " packets: " << total << (items.empty() ? "" : " (" + join(items) + ")") << "\n";
      }
    } else {
      io.out << "  " << maps.message() << "\n";
    }
    if (ctx.offline_mode()) {
      const auto& m = out["manifests"];
      io.out << "\nManifests " << ctx.common.manifests << ": " << ctx.manifests.namespaces.size() << " namespaces, "
             << ctx.manifests.pods.size() << " pods, " << ctx.manifests.policies.size() << " policies, "
             << ctx.manifests.errors.size() << " errors\n";
      io.out << "  warnings: " << (m["warnings"].empty() ? "none" : std::to_string(m["warnings"].size())) << "\n";
      for (const auto& w : m["warnings"]) io.out << "    - " << warning_text(w) << "\n";
    }
  }
  return have_agent || maps || ctx.offline_mode() ? 0 : 1;
}

Command status_command("status", "the agent's and the datapath's state on this node",
                       [](const Args& args) { return run_status(args, {std::cout, std::cerr}); });

}  // namespace
}  // namespace bpfence::cli
