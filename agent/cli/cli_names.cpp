// Names for pinned-map ids and addresses, from the agent or a local compile.
#include "cli_names.h"

#include <algorithm>

#include "bpfence/parse.h"

namespace bpfence::cli {
namespace {

const nlohmann::json* list_in(const nlohmann::json& j, const char* key) {
  if (j.is_array()) return &j;
  if (j.is_object() && j.contains(key) && (j[key].is_array() || j[key].is_object())) return &j[key];
  return nullptr;
}

std::string str_field(const nlohmann::json& j, const char* key) {
  if (j.is_object() && j.contains(key) && j[key].is_string()) return j[key].get<std::string>();
  return "";
}

std::vector<std::string> str_list(const nlohmann::json& j, const char* key) {
  std::vector<std::string> out;
  if (!j.is_object() || !j.contains(key) || !j[key].is_array()) return out;
  for (const auto& v : j[key])
    if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

std::optional<uint32_t> id_of(const nlohmann::json& j) {
  if (j.is_number_unsigned()) return j.get<uint32_t>();
  if (j.is_string()) {
    try {
      return static_cast<uint32_t>(std::stoul(j.get<std::string>()));
    } catch (...) {
    }
  }
  return std::nullopt;
}

// One object of /v1/policies, rebuilt as a Kubernetes object, through the
// one parser.
template <class T>
Status decode_one(const nlohmann::json& object, const char* what, T* out) {
  ParseResult parsed = decode_object(object, "agent /v1/policies");
  if (!parsed.errors.empty()) return Status::error(parsed.errors.front().str());
  if (parsed.objects.size() != 1 || !std::holds_alternative<T>(parsed.objects.front()))
    return Status::error(std::string("not ") + what);
  *out = std::get<T>(parsed.objects.front());
  return Status::ok();
}

}  // namespace

IpAddress address_of(const __u8 (&bytes)[16]) {
  IpAddress a;
  std::copy(bytes, bytes + 16, a.bytes.begin());
  return a;
}

std::vector<IpAddress> endpoint_ips(const bf_endpoint& ep) {
  std::vector<IpAddress> out;
  for (const auto* b : {&ep.ip4, &ep.ip6}) {
    IpAddress a = address_of(*b);
    if (!a.is_zero()) out.push_back(a);
  }
  return out;
}

void Names::add_pod(PodInfo info) {
  for (const auto& ip : info.ips) by_ip_.emplace(ip, info.pod);
  std::string key = info.pod;
  auto [it, inserted] = pods_.try_emplace(key, std::move(info));
  if (!inserted && !it->second.isolation_known && info.isolation_known) it->second = std::move(info);
}

std::string Names::pod_at(const IpAddress& ip) const {
  auto it = by_ip_.find(ip);
  return it == by_ip_.end() ? "" : it->second;
}

const PodInfo* Names::pod(const std::string& name) const {
  auto it = pods_.find(name);
  return it == pods_.end() ? nullptr : &it->second;
}

const PodInfo* Names::endpoint_pod(const bf_endpoint& ep) const {
  for (const auto& ip : endpoint_ips(ep))
    if (auto name = pod_at(ip); !name.empty()) return pod(name);
  return nullptr;
}

std::optional<RuleRef> Names::rule(uint32_t id) const {
  auto it = rules_.find(id);
  if (it == rules_.end()) return std::nullopt;
  return it->second;
}

std::optional<CnpRuleRef> Names::cluster_rule(uint32_t id) const {
  auto it = cluster_rules_.find(id);
  if (it == cluster_rules_.end()) return std::nullopt;
  return it->second;
}

std::string Names::rule_text(uint32_t id) const {
  if (id >= BF_CNP_RULE_FIRST) {
    if (auto r = cluster_rule(id)) return r->str();
  } else if (auto r = rule(id)) {
    return r->str();
  }
  return "#" + std::to_string(id);
}

std::optional<RuleRef> decode_rule_ref(const nlohmann::json& j) {
  if (!j.is_object()) return std::nullopt;
  RuleRef r;
  r.policy = str_field(j, "policy");
  if (r.policy.empty()) return std::nullopt;
  std::string dir = str_field(j, "direction");
  r.direction = dir == "egress" || dir == "Egress" ? BF_DIR_EGRESS : BF_DIR_INGRESS;
  if (j.contains("index")) r.index = id_of(j["index"]).value_or(0);
  return r;
}

std::optional<CnpRuleRef> decode_cluster_rule_ref(const nlohmann::json& j) {
  if (!j.is_object()) return std::nullopt;
  CnpRuleRef r;
  r.policy = str_field(j, "cluster_policy");
  if (r.policy.empty()) return std::nullopt;
  r.tier = str_field(j, "tier") == "Baseline" ? CnpTier::Baseline : CnpTier::Admin;
  if (j.contains("priority") && j["priority"].is_number_integer()) r.priority = j["priority"].get<int32_t>();
  r.direction = str_field(j, "direction") == "egress" ? BF_DIR_EGRESS : BF_DIR_INGRESS;
  if (j.contains("index")) r.index = id_of(j["index"]).value_or(0);
  r.rule_name = str_field(j, "name");
  const std::string action = str_field(j, "action");
  r.action = action == "Accept" ? CnpAction::Accept : action == "Pass" ? CnpAction::Pass : CnpAction::Deny;
  return r;
}

void decode_agent_pods(const nlohmann::json& j, Names* out) {
  const nlohmann::json* list = list_in(j, "endpoints");
  if (!list) list = list_in(j, "pods");
  if (!list) return;
  for (const auto& e : *list) {
    if (!e.is_object()) continue;
    PodInfo p;
    p.pod = str_field(e, "pod");
    if (p.pod.empty() && !str_field(e, "name").empty()) p.pod = str_field(e, "namespace") + "/" + str_field(e, "name");
    if (p.pod.empty()) continue;
    auto ips = str_list(e, "ips");
    if (auto ip = str_field(e, "ip"); !ip.empty()) ips.push_back(ip);
    for (const auto& text : ips)
      if (auto ip = IpAddress::parse(text)) p.ips.push_back(*ip);
    if (e.contains("ingress_policies") || e.contains("egress_policies")) {
      p.ingress_policies = str_list(e, "ingress_policies");
      p.egress_policies = str_list(e, "egress_policies");
      p.isolation_known = true;
    }
    out->add_pod(std::move(p));
  }
}

void decode_agent_rules(const nlohmann::json& j, Names* out) {
  const nlohmann::json* rules = list_in(j, "rules");
  if (!rules) return;
  if (rules->is_object()) {
    for (const auto& [key, value] : rules->items())
      if (auto id = id_of(nlohmann::json(key)); id)
        if (auto ref = decode_rule_ref(value)) out->add_rule(*id, *ref);
  } else {
    for (const auto& r : *rules) {
      if (!r.is_object()) continue;
      std::optional<uint32_t> id = r.contains("id") ? id_of(r["id"]) : std::nullopt;
      if (!id && r.contains("rule_id")) id = id_of(r["rule_id"]);
      if (!id) continue;
      if (auto ref = decode_rule_ref(r)) out->add_rule(*id, *ref);
      else if (auto cref = decode_cluster_rule_ref(r)) out->add_cluster_rule(*id, *cref);
    }
  }
  out->rules_known = true;
}

Status names_from_agent(const AgentClient& agent, Names* out) {
  nlohmann::json j;
  if (Status s = agent.get("/v1/endpoints", &j); !s) return s;
  decode_agent_pods(j, out);
  if (Status s = agent.get("/v1/rules", &j); !s) return s;
  decode_agent_rules(j, out);
  // Remote pods, if the agent lists them; local names are enough otherwise.
  if (agent.get("/v1/pods", &j)) decode_agent_pods(j, out);
  out->source = "agent " + agent.address();
  return Status::ok();
}

Status policy_from_agent_json(const nlohmann::json& j, NetworkPolicy* out) {
  if (!j.is_object() || !j.contains("namespace") || !j.contains("name")) return Status::error("no namespace/name");
  // Rebuilt as a Kubernetes object, so the one parser reads it.
  nlohmann::json spec = nlohmann::json::object();
  for (const char* k : {"podSelector", "policyTypes", "ingress", "egress"})
    if (j.contains(k) && !j[k].is_null()) spec[k] = j[k];
  if (spec.contains("policyTypes") && spec["policyTypes"].empty()) spec.erase("policyTypes");
  nlohmann::json object = {{"apiVersion", "networking.k8s.io/v1"},
                           {"kind", "NetworkPolicy"},
                           {"metadata", {{"namespace", j["namespace"]}, {"name", j["name"]}}},
                           {"spec", spec}};
  return decode_one(object, "a NetworkPolicy", out);
}

Status cluster_policy_from_agent_json(const nlohmann::json& j, ClusterNetworkPolicy* out) {
  if (!j.is_object() || !j.contains("name")) return Status::error("no name");
  nlohmann::json spec = nlohmann::json::object();
  for (const char* k : {"tier", "priority", "subject", "ingress", "egress"})
    if (j.contains(k) && !j[k].is_null() && !(j[k].is_array() && j[k].empty())) spec[k] = j[k];
  nlohmann::json object = {{"apiVersion", "policy.networking.k8s.io/v1alpha2"},
                           {"kind", "ClusterNetworkPolicy"},
                           {"metadata", {{"name", j["name"]}}},
                           {"spec", spec}};
  return decode_one(object, "a ClusterNetworkPolicy", out);
}

void names_from_compiler(const Compiler& compiler, const std::string& source, Names* out) {
  const DesiredState& state = compiler.state();
  for (const auto& [key, pod] : compiler.pods()) {
    if (pod.host_network) continue;
    PodInfo p;
    p.pod = key;
    p.ips = pod.ips;
    if (auto ep = state.endpoints.find(key); ep != state.endpoints.end()) {
      p.ingress_policies = ep->second.ingress_policies;
      p.egress_policies = ep->second.egress_policies;
      p.isolation_known = true;
    }
    out->add_pod(std::move(p));
  }
  out->source = source;
}

}  // namespace bpfence::cli
