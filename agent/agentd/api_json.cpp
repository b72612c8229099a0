// JSON forms of the agent's state (the /v1 schema).
#include "api_json.h"

#include "bpfence/agent_api.h"
#include "bpfence/reasons.h"

namespace bpfence {
namespace {

using json = nlohmann::json;

json ips_json(const std::vector<IpAddress>& ips) {
  json a = json::array();
  for (const IpAddress& ip : ips) a.push_back(ip.str());
  return a;
}

json selector_json(const LabelSelector& s) {
  json j = json::object();
  if (!s.match_labels.empty()) j["matchLabels"] = s.match_labels;
  if (!s.match_expressions.empty()) {
    json ex = json::array();
    for (const LabelRequirement& r : s.match_expressions) {
      static const char* ops[] = {"In", "NotIn", "Exists", "DoesNotExist"};
      json e = {{"key", r.key}, {"operator", ops[static_cast<int>(r.op)]}};
      if (!r.values.empty()) e["values"] = r.values;
      ex.push_back(e);
    }
    j["matchExpressions"] = ex;
  }
  return j;
}

json rule_json(const PolicyRule& r, bool ingress) {
  json peers = json::array();
  for (const PolicyPeer& p : r.peers) {
    json j = json::object();
    if (p.pod_selector) j["podSelector"] = selector_json(*p.pod_selector);
    if (p.namespace_selector) j["namespaceSelector"] = selector_json(*p.namespace_selector);
    if (p.ip_block) {
      json b = {{"cidr", p.ip_block->cidr.str()}};
      if (!p.ip_block->except.empty()) {
        b["except"] = json::array();
        for (const Prefix& e : p.ip_block->except) b["except"].push_back(e.str());
      }
      j["ipBlock"] = b;
    }
    peers.push_back(j);
  }
  json ports = json::array();
  for (const PolicyPort& p : r.ports) {
    json j = {{"protocol", protocol_name(p.proto())}};
    if (p.port) j["port"] = *p.port;
    if (!p.port_name.empty()) j["port"] = p.port_name;
    if (p.end_port) j["endPort"] = *p.end_port;
    ports.push_back(j);
  }
  json j = json::object();
  if (!r.peers.empty()) j[ingress ? "from" : "to"] = peers;
  if (!r.ports.empty()) j["ports"] = ports;
  return j;
}

json side_json(const SideVerdict& s) {
  json j = {{"evaluated", s.evaluated}, {"isolated", s.isolated}, {"allowed", s.allowed},
            {"reason", bf_reason_name(s.reason)}, {"pod", s.pod}, {"isolating", s.isolating}};
  j["rule"] = s.rule ? json(s.rule->str()) : json(nullptr);
  // The ClusterNetworkPolicy tiers: where evaluation ended, the rule that
  // decided there, the Pass rules met on the way (as /v1/rules names them).
  j["tier"] = verdict_tier_name(s.tier);
  j["cluster_rule"] = s.cnp_rule ? cluster_rule_ref_json(*s.cnp_rule) : json(nullptr);
  j["passed"] = json::array();
  for (const CnpRuleRef& p : s.passed) j["passed"].push_back(cluster_rule_ref_json(p));
  return j;
}

}  // namespace

json parse_error_json(const ParseError& e) {
  return {{"file", e.file}, {"object", e.object}, {"field", e.field}, {"message", e.message}, {"text", e.str()}};
}

json endpoint_json(const EndpointView& v) {
  return {{"pod", v.pod},
          {"ips", ips_json(v.ips)},
          {"state", endpoint_state_name(v.state)},
          {"bound", v.state == EndpointView::State::bound},
          {"ifname", v.ifname},
          {"ifindex", v.ifindex},
          {"endpoint_id", v.endpoint_id},
          {"identity", v.identity},
          {"isolation", {{"ingress", v.ingress_isolated}, {"egress", v.egress_isolated}}},
          {"ingress_policies", v.ingress_policies},
          {"egress_policies", v.egress_policies},
          {"fail_closed", v.fail_closed},
          {"error", v.error}};
}

json status_json(const AgentInfo& info, const AgentSnapshot& s) {
  json errors = json::array();
  for (const ParseError& e : s.errors) errors.push_back(parse_error_json(e));
  json warnings = json::array();
  for (const Warning& w : s.warnings) warnings.push_back({{"policy", w.policy}, {"message", w.message}});
  auto since = [](std::chrono::system_clock::time_point t) -> json {
    if (t == std::chrono::system_clock::time_point{}) return nullptr;
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  };
  return {
      {"node", info.node},
      {"version", info.version},
      {"dataplane", info.dataplane},
      {"dataplane_location", info.dataplane_location},
      {"adopted_previous_state", info.dataplane_adopted},
      {"source", info.source},
      {"synced", s.synced},
      {"source_healthy", s.source_health.empty()},
      {"source_health", s.source_health},
      {"source_state", s.source_state},
      {"source_notes", s.source_notes},
      {"generation", s.generation},
      {"applied_generation", s.applied_generation},
      {"ready", s.ready},
      {"not_ready_reason", s.not_ready_reason},
      {"endpoints",
       {{"local", s.endpoints.size()}, {"attached", s.bound}, {"pending", s.pending}, {"errors", s.bind_errors}}},
      {"objects", {{"namespaces", s.namespaces}, {"pods", s.pods}, {"networkpolicies", s.policies},
                   {"clusternetworkpolicies", s.cluster_policies}}},
      {"entries",
       {{"pod_addrs", s.pod_addrs}, {"cidrs", s.cidrs}, {"policy", s.policy_entries}, {"range_policy", s.range_entries}}},
      {"apply_error", s.apply_error},
      {"fail_closed", s.fail_closed},
      {"errors", errors},
      {"warnings", warnings},
      {"started_at", since(info.started_at)},
      {"last_applied_at", since(s.last_applied_at)},
  };
}

json pod_json(const PodView& p) {
  json ips = json::array();
  for (const IpAddress& ip : p.ips) ips.push_back(ip.str());
  return {{"pod", p.namespace_ + "/" + p.name},
          {"namespace", p.namespace_},
          {"name", p.name},
          {"node", p.node},
          {"ips", ips},
          {"labels", p.labels},
          {"host_network", p.host_network},
          {"local", p.local},
          {"identity", p.identity}};
}

json policy_json(const NetworkPolicy& p) {
  json ingress = json::array(), egress = json::array();
  for (const PolicyRule& r : p.ingress) ingress.push_back(rule_json(r, true));
  for (const PolicyRule& r : p.egress) egress.push_back(rule_json(r, false));
  return {{"key", p.key()},
          {"namespace", p.namespace_},
          {"name", p.name},
          {"podSelector", selector_json(p.pod_selector)},
          {"policyTypes", p.policy_types},
          {"affects", {{"ingress", p.affects_ingress()}, {"egress", p.affects_egress()}}},
          {"ingress", ingress},
          {"egress", egress},
          {"resourceVersion", p.resource_version}};
}

namespace {

json cnp_pods_json(const CnpPods& p) {
  return {{"namespaceSelector", selector_json(p.namespace_selector)}, {"podSelector", selector_json(p.pod_selector)}};
}

json cnp_protocol_json(const CnpProtocol& p) {
  if (!p.named_port.empty()) return {{"destinationNamedPort", p.named_port}};
  json port = p.port == p.end_port ? json{{"number", p.port}} : json{{"range", {{"start", p.port}, {"end", p.end_port}}}};
  const char* proto = p.protocol == Protocol::UDP ? "udp" : p.protocol == Protocol::SCTP ? "sctp" : "tcp";
  return {{proto, {{"destinationPort", port}}}};
}

json cnp_rules_json(const std::vector<CnpRule>& rules, const char* peers_key) {
  json out = json::array();
  for (const CnpRule& r : rules) {
    json peers = json::array();
    for (const CnpPeer& p : r.peers) {
      if (p.namespaces) peers.push_back({{"namespaces", selector_json(*p.namespaces)}});
      else if (p.pods) peers.push_back({{"pods", cnp_pods_json(*p.pods)}});
      else {
        json nets = json::array();
        for (const Prefix& n : p.networks) nets.push_back(n.str());
        peers.push_back({{"networks", nets}});
      }
    }
    json j = {{"action", cnp_action_name(r.action)}, {peers_key, peers}};
    if (!r.name.empty()) j["name"] = r.name;
    if (!r.protocols.empty()) {
      j["protocols"] = json::array();
      for (const CnpProtocol& p : r.protocols) j["protocols"].push_back(cnp_protocol_json(p));
    }
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace

json cluster_policy_json(const ClusterNetworkPolicy& p) {
  json subject = p.subject.namespaces ? json{{"namespaces", selector_json(*p.subject.namespaces)}}
                                      : json{{"pods", cnp_pods_json(p.subject.pods.value_or(CnpPods{}))}};
  return {{"name", p.name},
          {"tier", cnp_tier_name(p.tier)},
          {"priority", p.priority},
          {"subject", subject},
          {"ingress", cnp_rules_json(p.ingress, "from")},
          {"egress", cnp_rules_json(p.egress, "to")},
          {"resourceVersion", p.resource_version}};
}

json verdict_json(const Verdict& v) {
  return {{"allowed", v.allowed}, {"egress", side_json(v.egress)}, {"ingress", side_json(v.ingress)}};
}

}  // namespace bpfence
