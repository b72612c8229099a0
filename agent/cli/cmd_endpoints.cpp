// `bpfence endpoints`: the node's local pods as the datapath sees them: IPs,
// host-side interface, isolation per direction, attached or pending. From
// the agent (which also knows pods whose interface is not there yet), or
// from the pinned endpoints map when the agent is down.

#include <algorithm>
#include <iostream>
#include <map>

#include "cli_context.h"
#include "cli_flows.h"
#include "cli_table.h"
#include "command.h"

namespace bpfence::cli {
namespace {

struct EndpointRow {
  std::string pod;
  std::vector<std::string> ips;
  std::string ifname;
  int64_t ifindex = 0;
  int64_t endpoint_id = -1;
  std::optional<bool> ingress_isolated, egress_isolated;
  std::vector<std::string> ingress_policies, egress_policies;
  std::string state;  // attached, pending, error: why
  bool fail_closed = false;
  int64_t generation = -1;
};

std::string isolation_text(const EndpointRow& r) {
  std::vector<std::string> dirs;
  if (r.ingress_isolated.value_or(false)) dirs.push_back("ingress");
  if (r.egress_isolated.value_or(false)) dirs.push_back("egress");
  if (!r.ingress_isolated && !r.egress_isolated) return "?";
  return join(dirs, "+", "none");
}

nlohmann::json row_json(const EndpointRow& r) {
  auto opt = [](const std::optional<bool>& b) { return b ? nlohmann::json(*b) : nlohmann::json(nullptr); };
  return {{"pod", r.pod.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.pod)},
          {"ips", r.ips},
          {"interface", r.ifname},
          {"ifindex", r.ifindex},
          {"endpoint_id", r.endpoint_id < 0 ? nlohmann::json(nullptr) : nlohmann::json(r.endpoint_id)},
          {"ingress_isolated", opt(r.ingress_isolated)},
          {"egress_isolated", opt(r.egress_isolated)},
          {"ingress_policies", r.ingress_policies},
          {"egress_policies", r.egress_policies},
          {"state", r.state},
          {"fail_closed", r.fail_closed},
          {"generation", r.generation < 0 ? nlohmann::json(nullptr) : nlohmann::json(r.generation)}};
}

template <class T>
T field(const nlohmann::json& j, std::initializer_list<const char*> keys, T fallback) {
  for (const char* k : keys)
    if (j.contains(k) && !j[k].is_null()) {
      try {
        return j[k].get<T>();
      } catch (...) {
      }
    }
  return fallback;
}

// The agent's /v1/endpoints entries, read leniently (see cli_names.h).
std::vector<EndpointRow> rows_from_agent(const nlohmann::json& j) {
  std::vector<EndpointRow> rows;
  const nlohmann::json* list = j.is_array() ? &j : j.contains("endpoints") ? &j["endpoints"] : nullptr;
  if (!list || !list->is_array()) return rows;
  for (const auto& e : *list) {
    if (!e.is_object()) continue;
    EndpointRow r;
    r.pod = field<std::string>(e, {"pod"}, "");
    if (r.pod.empty()) r.pod = field<std::string>(e, {"namespace"}, "") + "/" + field<std::string>(e, {"name"}, "");
    r.ips = field<std::vector<std::string>>(e, {"ips"}, {});
    r.ifname = field<std::string>(e, {"ifname", "interface"}, "");
    r.ifindex = field<int64_t>(e, {"ifindex"}, 0);
    r.endpoint_id = field<int64_t>(e, {"endpoint_id", "id"}, -1);
    r.ingress_policies = field<std::vector<std::string>>(e, {"ingress_policies"}, {});
    r.egress_policies = field<std::vector<std::string>>(e, {"egress_policies"}, {});
    if (e.contains("isolation") && e["isolation"].is_object()) {
      r.ingress_isolated = field<bool>(e["isolation"], {"ingress"}, false);
      r.egress_isolated = field<bool>(e["isolation"], {"egress"}, false);
    }
    if (e.contains("ingress_isolated")) r.ingress_isolated = field<bool>(e, {"ingress_isolated"}, false);
    if (e.contains("egress_isolated")) r.egress_isolated = field<bool>(e, {"egress_isolated"}, false);
    if (!r.ingress_isolated && e.contains("ingress_policies")) r.ingress_isolated = !r.ingress_policies.empty();
    if (!r.egress_isolated && e.contains("egress_policies")) r.egress_isolated = !r.egress_policies.empty();
    // The agent says bound (or adopted from an earlier agent) for what the
    // pinned map calls attached.
    r.state = field<std::string>(e, {"state", "status"}, "");
    if (r.state == "bound" || r.state == "adopted") r.state = "attached";
    if (r.state == "error") r.state = "error: " + field<std::string>(e, {"error"}, "?");
    if (r.state.empty()) {
      if (e.contains("bound")) r.state = field<bool>(e, {"bound"}, false) ? "attached" : "pending";
      if (e.contains("attached")) r.state = field<bool>(e, {"attached"}, false) ? "attached" : "pending";
      if (e.contains("pending")) r.state = field<bool>(e, {"pending"}, false) ? "pending" : "attached";
    }
    r.fail_closed = field<bool>(e, {"fail_closed"}, false);
    r.generation = field<int64_t>(e, {"generation"}, -1);
    rows.push_back(std::move(r));
  }
  return rows;
}

std::vector<EndpointRow> rows_from_maps(const FlowSnapshot& snap, const Names& names) {
  std::vector<EndpointRow> rows;
  for (const auto& e : snap.endpoints) {
    EndpointRow r;
    const bf_endpoint& ep = e.endpoint;
    if (const PodInfo* pod = names.endpoint_pod(ep)) {
      r.pod = pod->pod;
      r.ingress_policies = pod->ingress_policies;
      r.egress_policies = pod->egress_policies;
    }
    for (const auto& ip : endpoint_ips(ep)) r.ips.push_back(ip.str());
    r.ifname = endpoint_ifname(e.ifindex);
    r.ifindex = e.ifindex;
    r.endpoint_id = ep.endpoint_id;
    r.ingress_isolated = ep.ingress_isolated != 0;
    r.egress_isolated = ep.egress_isolated != 0;
    // An entry in the map means the programs were attached to it.
    r.state = "attached";
    r.fail_closed = ep.fail_closed != 0;
    r.generation = ep.generation;
    rows.push_back(std::move(r));
  }
  std::sort(rows.begin(), rows.end(), [](const EndpointRow& a, const EndpointRow& b) {
    return std::tie(a.pod, a.ifindex) < std::tie(b.pod, b.ifindex);
  });
  return rows;
}

int run_endpoints(const Args& args, const CommandIo& io) {
  Context ctx;
  OptionParser p("bpfence endpoints [--node NAME] [-o json]",
                 "The node's local pods: IPs, host-side interface, isolation (ingress, egress),\n"
                 "attached or pending. From the agent, or from the pinned endpoints map when it is\n"
                 "down (names then come from --manifests DIR, if given).");
  ctx.common.add_to(p);
  if (auto rc = parse_command_line(p, args, nullptr, ctx.common, io)) return *rc;
  if (Status s = ctx.init(io.err); !s) {
    io.err << "bpfence: " << s.message() << "\n";
    return 1;
  }
  std::vector<EndpointRow> rows;
  std::string source;
  FlowSnapshot snap;
  std::string pin_dir;
  Status maps = ctx.pin_dir(&pin_dir, io.err);
  if (maps) maps = read_flow_snapshot(pin_dir, &snap);
  nlohmann::json j;
  // Another node's agent (the lab runs several) does not describe these maps.
  bool agent_here = ctx.agent_up && (!maps || ctx.agent_enforces(pin_dir));
  if (agent_here && ctx.agent.get("/v1/endpoints", &j)) {
    rows = rows_from_agent(j);
    source = "agent " + ctx.common.agent;
    // The pinned map says what is really attached, and with which flags.
    if (maps)
      for (auto& r : rows)
        for (const auto& e : snap.endpoints)
          if (r.ifindex > 0 && static_cast<int64_t>(e.ifindex) == r.ifindex) {
            r.fail_closed = r.fail_closed || e.endpoint.fail_closed;
            if (!r.ingress_isolated) r.ingress_isolated = e.endpoint.ingress_isolated != 0;
            if (!r.egress_isolated) r.egress_isolated = e.endpoint.egress_isolated != 0;
            if (r.state.empty()) r.state = "attached";
          }
  } else if (maps) {
    rows = rows_from_maps(snap, ctx.names);
    source = "pinned maps " + pin_dir;
  } else {
    io.err << "bpfence: no agent and no pinned maps: " << maps.message() << "\n";
    return 1;
  }

  if (ctx.common.format() == OutputFormat::Json) {
    nlohmann::json out = {{"source", source}, {"endpoints", nlohmann::json::array()}};
    for (const auto& r : rows) out["endpoints"].push_back(row_json(r));
    io.out << out.dump(2) << "\n";
    return 0;
  }
  io.out << "Endpoints (" << source << "): " << rows.size() << "\n\n";
  Table t({"POD", "IPS", "INTERFACE", "ISOLATED", "STATE", "ID", "POLICIES"});
  for (const auto& r : rows) {
    std::vector<std::string> pols;
    for (const auto& x : r.ingress_policies) pols.push_back(x + " (in)");
    for (const auto& x : r.egress_policies) pols.push_back(x + " (out)");
    std::string iface = r.ifname.empty() ? (r.ifindex ? "if" + std::to_string(r.ifindex) : "-") : r.ifname;
    t.add({r.pod.empty() ? "?" : r.pod, join(r.ips, ","), iface, isolation_text(r),
           (r.state.empty() ? "?" : r.state) + (r.fail_closed ? " fail-closed" : ""),
           r.endpoint_id < 0 ? "-" : std::to_string(r.endpoint_id), join(pols)});
  }
  t.print(io.out);
  return 0;
}

Command endpoints_command("endpoints", "local pods: IPs, interface, isolation, attached or pending",
                          [](const Args& args) { return run_endpoints(args, {std::cout, std::cerr}); });

}  // namespace
}  // namespace bpfence::cli
