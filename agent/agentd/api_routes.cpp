// The agent's HTTP routes.
#include "api_routes.h"

#include <algorithm>
#include <charconv>

#include "api/metrics.h"
#include "api_json.h"
#include "flow_verdicts.h"
#include "bpfence/agent_api.h"
#include "bpfence/reasons.h"
#include "cluster_rule_metrics.h"

namespace bpfence {
namespace {

using json = nlohmann::json;

std::string param(const QueryParams& q, const std::string& name, const std::string& fallback = "") {
  auto it = q.find(name);
  return it == q.end() ? fallback : it->second;
}

HttpResponse bad_request(const std::string& message) {
  return HttpResponse::json(json{{"error", message}}.dump() + "\n", 400);
}

HttpResponse ok_json(const json& j) { return HttpResponse::json(j.dump(2) + "\n"); }

// What a flow's rule id stands for: a NetworkPolicy rule, or from
// BF_CNP_RULE_FIRST a ClusterNetworkPolicy rule; "" when unknown.
std::string rule_name(const AgentSnapshot& s, uint32_t id) {
  if (id >= BF_CNP_RULE_FIRST) {
    auto it = s.cluster_rules->find(id);
    return it == s.cluster_rules->end() ? "" : it->second.str();
  }
  auto it = s.rules->find(id);
  return it == s.rules->end() ? "" : it->second.str();
}

FlowNames names_of(const AgentSnapshot& s) {
  FlowNames n;
  n.pod = [&s](uint32_t id) {
    auto it = s.endpoint_pods.find(id);
    return it == s.endpoint_pods.end() ? std::string() : it->second;
  };
  n.rule = [&s](uint32_t id) { return rule_name(s, id); };
  return n;
}

// Packets and flows per policy, derived from the flows now in the table: a
// forwarded flow counts for the policy of the rule that allowed it; a flow
// dropped by policy counts for every policy isolating the pod that way.
struct PolicyCount {
  uint64_t packets = 0, bytes = 0, flows = 0;
};
using PolicyCounts = std::map<std::tuple<std::string, std::string, std::string>, PolicyCount>;

PolicyCounts policy_counts(const std::vector<FlowRecord>& flows, const AgentSnapshot& s) {
  std::map<std::string, const EndpointView*> by_pod;
  for (const EndpointView& v : s.endpoints) by_pod[v.pod] = &v;
  PolicyCounts out;
  auto add = [&](const std::string& policy, uint8_t dir, const char* action, const bf_flow_value& v) {
    PolicyCount& c = out[{policy, bf_direction_name(dir), action}];
    c.packets += v.packets;
    c.bytes += v.bytes;
    c.flows += 1;
  };
  for (const FlowRecord& f : flows) {
    if (f.value.flags & BF_FLOW_REPLY) continue;
    if (f.value.action == BF_ACT_FORWARD && f.value.reason == BF_R_POLICY && f.value.rule_id) {
      auto r = s.rules->find(f.value.rule_id);
      if (r != s.rules->end()) add(r->second.policy, f.key.direction, "allow", f.value);
    } else if (f.value.action == BF_ACT_DROP && f.value.reason == BF_R_FW_POLICY) {
      auto pod = s.endpoint_pods.find(f.key.endpoint_id);
      if (pod == s.endpoint_pods.end()) continue;
      auto ep = by_pod.find(pod->second);
      if (ep == by_pod.end()) continue;
      const auto& isolating =
          f.key.direction == BF_DIR_INGRESS ? ep->second->ingress_policies : ep->second->egress_policies;
      for (const std::string& p : isolating) add(p, f.key.direction, "drop", f.value);
    }
  }
  return out;
}

std::string metrics_text(const AgentInfo& info, const Reconciler& rec, const DataplaneObserver* obs,
                         const AgentCounters& counters) {
  auto snap = rec.snapshot();
  const AgentSnapshot& s = *snap;
  PromWriter w;
  w.family("bpfence_agent_info", "gauge", "The agent: node, dataplane and source (always 1).");
  w.sample("bpfence_agent_info", {{"node", info.node}, {"dataplane", info.dataplane}, {"version", info.version}}, 1);
  w.family("bpfence_generation", "gauge", "Accepted changes from the source so far.");
  w.sample("bpfence_generation", static_cast<double>(s.generation));
  w.family("bpfence_applied_generation", "gauge", "The generation the kernel enforces.");
  w.sample("bpfence_applied_generation", static_cast<double>(s.applied_generation));
  w.family("bpfence_ready", "gauge", "1 when the latest generation is enforced and every local endpoint is bound.");
  w.sample("bpfence_ready", s.ready ? 1 : 0);
  w.family("bpfence_synced", "gauge", "1 once the source delivered its initial state.");
  w.sample("bpfence_synced", s.synced ? 1 : 0);
  w.family("bpfence_source_healthy", "gauge",
           "0 while the source cannot reach its inputs (the API server down): the last applied state stays enforced.");
  w.sample("bpfence_source_healthy", s.source_health.empty() ? 1 : 0);
  w.family("bpfence_source_state", "gauge",
           "1 for the source's current state: ok, unreachable (no connection), error (the server answers errors), "
           "unauthorized (HTTP 401) or forbidden (HTTP 403); 0 for the others.");
  for (const char* state : {"ok", "unreachable", "error", "unauthorized", "forbidden"})
    w.sample("bpfence_source_state", {{"state", state}}, s.source_state == state ? 1 : 0);
  w.family("bpfence_endpoints", "gauge", "Local pods by binding state.");
  w.sample("bpfence_endpoints", {{"state", "bound"}}, static_cast<double>(s.bound));
  w.sample("bpfence_endpoints", {{"state", "pending"}}, static_cast<double>(s.pending));
  w.sample("bpfence_endpoints", {{"state", "error"}}, static_cast<double>(s.bind_errors));
  w.family("bpfence_fail_closed_endpoints", "gauge", "Local pods dropping new flows because their policy could not be applied.");
  w.sample("bpfence_fail_closed_endpoints", static_cast<double>(s.fail_closed.size()));
  w.family("bpfence_apply_failing", "gauge", "1 while the latest state could not be applied to the dataplane.");
  w.sample("bpfence_apply_failing", s.apply_error.empty() ? 0 : 1);
  w.family("bpfence_objects", "gauge", "Objects in the agent's store.");
  w.sample("bpfence_objects", {{"kind", "Namespace"}}, static_cast<double>(s.namespaces));
  w.sample("bpfence_objects", {{"kind", "Pod"}}, static_cast<double>(s.pods));
  w.sample("bpfence_objects", {{"kind", "NetworkPolicy"}}, static_cast<double>(s.policies));
  w.sample("bpfence_objects", {{"kind", "ClusterNetworkPolicy"}}, static_cast<double>(s.cluster_policies));
  w.family("bpfence_source_errors", "gauge", "Objects the source rejects now (their last good version is used).");
  w.sample("bpfence_source_errors", static_cast<double>(s.errors.size()));
  w.family("bpfence_policy_warnings", "gauge", "Lint warnings on the policies.");
  w.sample("bpfence_policy_warnings", static_cast<double>(s.warnings.size()));
  w.family("bpfence_updates_total", "counter", "Updates received from the source.");
  w.sample("bpfence_updates_total", static_cast<double>(s.updates_total));
  w.family("bpfence_commits_total", "counter", "Compiler commits (bursts of updates coalesce into one).");
  w.sample("bpfence_commits_total", static_cast<double>(s.commits_total));
  w.family("bpfence_apply_errors_total", "counter", "Failed dataplane applies.");
  w.sample("bpfence_apply_errors_total", static_cast<double>(s.apply_errors_total));
  w.family("bpfence_bind_errors_total", "counter", "Failed endpoint binds.");
  w.sample("bpfence_bind_errors_total", static_cast<double>(s.bind_errors_total));
  rec.latency().write(w, "bpfence_reconcile_duration_seconds",
                      "From an update's arrival to the kernel enforcing it (endpoints bound included).");
  rec.update_lag().write(w, "bpfence_update_lag_seconds",
                         "Per object changed by the source (a relist counts once): from its delivery to the "
                         "dataplane applying it.");

  w.family("bpfence_desired_entries", "gauge", "Entries of the compiled state, by map.");
  w.sample("bpfence_desired_entries", {{"map", "pod_addrs"}}, static_cast<double>(s.pod_addrs));
  w.sample("bpfence_desired_entries", {{"map", "cidrs"}}, static_cast<double>(s.cidrs));
  w.sample("bpfence_desired_entries", {{"map", "policy"}}, static_cast<double>(s.policy_entries));
  w.sample("bpfence_desired_entries", {{"map", "range_policy"}}, static_cast<double>(s.range_entries));

  w.family("bpfence_flows_swept_total", "counter", "Idle or closed flows removed by the agent's ageing.");
  w.sample("bpfence_flows_swept_total", static_cast<double>(counters.flows_swept.load()));
  w.family("bpfence_flow_sweep_errors_total", "counter", "Flow ageing passes that failed.");
  w.sample("bpfence_flow_sweep_errors_total", static_cast<double>(counters.sweep_errors.load()));

  uint64_t read_errors = 0;
  if (obs) {
    std::vector<CounterRecord> cs;
    if (Status st = obs->counters(&cs); st) {
      w.family("bpfence_packets_total", "counter", "Packets seen by the datapath, by action and reason.");
      for (const CounterRecord& c : cs)
        w.sample("bpfence_packets_total", {{"action", bf_action_name(c.action)}, {"reason", bf_reason_name(c.reason)}},
                 static_cast<double>(c.packets));
      w.family("bpfence_bytes_total", "counter", "Bytes seen by the datapath, by action and reason.");
      for (const CounterRecord& c : cs)
        w.sample("bpfence_bytes_total", {{"action", bf_action_name(c.action)}, {"reason", bf_reason_name(c.reason)}},
                 static_cast<double>(c.bytes));
    } else {
      ++read_errors;
    }
    std::vector<MapFill> fills;
    std::vector<FlowRecord> flows;
    Status fs = obs->flows(&flows);
    if (!fs) ++read_errors;
    if (Status st = obs->map_fill(&fills); !st) ++read_errors;
    if (fs) fills.push_back(MapFill{"flows", flows.size(), obs->max_flows()});
    w.family("bpfence_map_entries", "gauge", "Entries in each BPF map.");
    for (const MapFill& f : fills) w.sample("bpfence_map_entries", {{"map", f.map}}, static_cast<double>(f.entries));
    w.family("bpfence_map_max_entries", "gauge", "Capacity of each BPF map.");
    for (const MapFill& f : fills) w.sample("bpfence_map_max_entries", {{"map", f.map}}, static_cast<double>(f.max_entries));
    w.family("bpfence_map_fill_ratio", "gauge", "Entries / capacity of each BPF map.");
    for (const MapFill& f : fills)
      if (f.max_entries) w.sample("bpfence_map_fill_ratio", {{"map", f.map}}, double(f.entries) / double(f.max_entries));
    if (fs) {
      w.family("bpfence_flows", "gauge", "Entries in the flow table.");
      w.sample("bpfence_flows", static_cast<double>(flows.size()));
      PolicyCounts pc = policy_counts(flows, s);
      w.family("bpfence_policy_packets", "gauge",
               "Packets of the flows now in the flow table, by the policy that allowed them or that isolates the pod "
               "that dropped them (a drop counts for every isolating policy; values fall as flows age out).");
      for (const auto& [k, c] : pc)
        w.sample("bpfence_policy_packets",
                 {{"policy", std::get<0>(k)}, {"direction", std::get<1>(k)}, {"action", std::get<2>(k)}},
                 static_cast<double>(c.packets));
      w.family("bpfence_policy_flows", "gauge", "Flows now in the flow table, by policy as bpfence_policy_packets.");
      for (const auto& [k, c] : pc)
        w.sample("bpfence_policy_flows",
                 {{"policy", std::get<0>(k)}, {"direction", std::get<1>(k)}, {"action", std::get<2>(k)}},
                 static_cast<double>(c.flows));
      write_cluster_rule_counts(w, cluster_rule_counts(flows, s));
    }
  }
  w.family("bpfence_dataplane_read_errors", "gauge", "Dataplane maps that could not be read for this scrape.");
  w.sample("bpfence_dataplane_read_errors", static_cast<double>(read_errors));
  return w.text();
}

HttpResponse flows_response(const QueryParams& q, const Reconciler& rec, const DataplaneObserver* obs) {
  FlowMatch match;
  if (Status s = FlowMatch::parse(param(q, "match"), &match); !s) return bad_request(s.message());
  size_t limit = 1000;
  if (std::string l = param(q, "limit"); !l.empty()) {
    auto [p, ec] = std::from_chars(l.data(), l.data() + l.size(), limit);
    if (ec != std::errc() || p != l.data() + l.size()) return bad_request("limit: not a number: " + l);
  }
  if (!obs || !obs->has_flows()) return bad_request("this dataplane has no flow table");
  std::vector<FlowRecord> flows;
  if (Status s = obs->flows(&flows); !s) return HttpResponse::json(json{{"error", s.message()}}.dump() + "\n", 500);
  std::vector<FlowRecord*> hits;
  for (FlowRecord& f : flows)
    if (match.matches(f.key, f.value)) hits.push_back(&f);
  std::sort(hits.begin(), hits.end(),
            [](const FlowRecord* a, const FlowRecord* b) { return a->value.last_seen_ns > b->value.last_seen_ns; });
  if (obs->flows_need_verdicts()) {
    std::vector<FlowRecord*> named(hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(std::min(limit, hits.size())));
    rec.read([&](const Compiler& c) {
      name_flows_from_verdicts(c, named);
      return 0;
    });
  }
  auto snap = rec.snapshot();
  FlowNames names = names_of(*snap);
  json out = json::array();
  for (size_t i = 0; i < hits.size() && i < limit; ++i) out.push_back(flow_to_json(*hits[i], names));
  return ok_json({{"flows", out},
                  {"total", flows.size()},
                  {"matched", hits.size()},
                  {"truncated", hits.size() > limit},
                  {"now_ns", monotonic_now_ns()}});
}

HttpResponse verdict_response(const QueryParams& q, const Reconciler& rec) {
  auto from = IpAddress::parse(param(q, "from"));
  auto to = IpAddress::parse(param(q, "to"));
  if (!from) return bad_request("from: not an IP address: \"" + param(q, "from") + "\"");
  if (!to) return bad_request("to: not an IP address: \"" + param(q, "to") + "\"");
  auto proto = parse_ip_proto(param(q, "proto", "tcp"));
  if (!proto) return bad_request("proto: unknown protocol \"" + param(q, "proto") + "\"");
  unsigned port = 0;
  if (std::string p = param(q, "port"); !p.empty()) {
    auto [e, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
    if (ec != std::errc() || e != p.data() + p.size() || port > 65535) return bad_request("port: bad port \"" + p + "\"");
  }
  json j = rec.read([&](const Compiler& c) {
    json v = verdict_json(c.verdict(*from, *to, *proto, static_cast<uint16_t>(port)));
    // Whether the tiers were walked at all (the CLI prints them then).
    v["cluster_policies"] = c.cluster_policies().size();
    return v;
  });
  j["query"] = {{"from", from->str()}, {"to", to->str()}, {"proto", ip_proto_name(*proto)}, {"port", port}};
  return ok_json(j);
}

HttpResponse policies_response(const Reconciler& rec) {
  auto snap = rec.snapshot();
  std::map<std::string, std::pair<std::vector<std::string>, std::vector<std::string>>> selects;
  for (const EndpointView& v : snap->endpoints) {
    for (const std::string& p : v.ingress_policies) selects[p].first.push_back(v.pod);
    for (const std::string& p : v.egress_policies) selects[p].second.push_back(v.pod);
  }
  std::map<std::string, json> rules;
  for (const auto& [id, r] : *snap->rules)
    rules[r.policy].push_back({{"id", id}, {"direction", bf_direction_name(r.direction)}, {"index", r.index}});
  std::map<std::string, json> warnings, cluster_warnings;
  for (const Warning& w : snap->warnings) (w.cluster ? cluster_warnings : warnings)[w.policy].push_back(w.message);
  json list = rec.read([&](const Compiler& c) {
    json l = json::array();
    for (const auto& [key, p] : c.policies()) {
      json j = policy_json(p);
      j["selects"] = {{"ingress", selects[key].first}, {"egress", selects[key].second}};
      j["rules"] = rules.count(key) ? rules[key] : json::array();
      j["warnings"] = warnings.count(key) ? warnings[key] : json::array();
      l.push_back(std::move(j));
    }
    return l;
  });
  // ClusterNetworkPolicies with the local pods their subject selects.
  json cluster = rec.read([&](const Compiler& c) {
    json l = json::array();
    for (const auto& [name, p] : c.cluster_policies()) {
      json j = cluster_policy_json(p);
      json selects = json::array();
      for (const EndpointView& v : snap->endpoints) {
        auto pod = c.pods().find(v.pod);
        if (pod != c.pods().end() && cnp_subject_selects(p.subject, pod->second, c.namespaces())) selects.push_back(v.pod);
      }
      j["selects"] = selects;
      const std::string key = "cnp/" + name;
      j["warnings"] = cluster_warnings.count(key) ? cluster_warnings[key] : json::array();
      l.push_back(std::move(j));
    }
    return l;
  });
  return ok_json({{"policies", list}, {"cluster_policies", cluster}});
}

}  // namespace

void register_agent_routes(HttpServer& server, const AgentInfo& info, const Reconciler& rec,
                           const DataplaneObserver* obs, const AgentCounters& counters) {
  server.handle("/healthz", [](const QueryParams&) { return HttpResponse::text(200, "ok\n"); });
  server.handle("/readyz", [&rec](const QueryParams&) {
    auto s = rec.snapshot();
    if (s->ready) return HttpResponse::text(200, "ready generation=" + std::to_string(s->generation) + "\n");
    return HttpResponse::text(503, "not ready: " + s->not_ready_reason + "\n");
  });
  server.handle("/metrics", [&info, &rec, obs, &counters](const QueryParams&) {
    return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", metrics_text(info, rec, obs, counters)};
  });
  server.handle("/v1/status", [&info, &rec](const QueryParams&) { return ok_json(status_json(info, *rec.snapshot())); });
  server.handle("/v1/endpoints", [&rec](const QueryParams&) {
    auto s = rec.snapshot();
    json list = json::array();
    for (const EndpointView& v : s->endpoints) list.push_back(endpoint_json(v));
    return ok_json({{"generation", s->generation}, {"endpoints", list}});
  });
  server.handle("/v1/pods", [&rec](const QueryParams&) {
    json list = json::array();
    for (const PodView& p : rec.pods()) list.push_back(pod_json(p));
    return ok_json({{"generation", rec.snapshot()->generation}, {"pods", list}});
  });
  server.handle("/v1/flows", [&rec, obs](const QueryParams& q) { return flows_response(q, rec, obs); });
  server.handle("/v1/rules", [&rec](const QueryParams&) {
    auto s = rec.snapshot();
    json list = json::array();
    for (const auto& [id, r] : *s->rules)
      list.push_back({{"id", id},
                      {"policy", r.policy},
                      {"direction", bf_direction_name(r.direction)},
                      {"index", r.index},
                      {"text", r.str()}});
    for (const auto& [id, r] : *s->cluster_rules) {
      json j = cluster_rule_ref_json(r);
      j["id"] = id;
      list.push_back(std::move(j));
    }
    return ok_json({{"rules", list}});
  });
  server.handle("/v1/policies", [&rec](const QueryParams&) { return policies_response(rec); });
  server.handle("/v1/verdict", [&rec](const QueryParams& q) { return verdict_response(q, rec); });
}

}  // namespace bpfence
