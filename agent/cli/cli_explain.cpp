// `explain`: resolving the two ends, and the verdict in words and JSON.
#include "cli_explain.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <regex>
#include <tuple>

#include "bpfence/agent_api.h"
#include "bpfence/reasons.h"
#include "cli_policy_text.h"
#include "cli_table.h"

namespace bpfence::cli {
namespace {

const char* dir_word(bf_direction d) { return d == BF_DIR_INGRESS ? "ingress" : "egress"; }
const char* dir_type(bf_direction d) { return d == BF_DIR_INGRESS ? "Ingress" : "Egress"; }

std::string host_text(const ExplainHost& h) {
  return h.pod.empty() ? h.ip.str() : h.pod + " (" + h.ip.str() + ")";
}

std::string rule_words(const RuleRef& ref, const std::map<std::string, NetworkPolicy>& policies) {
  std::string out = ref.str();
  auto it = policies.find(ref.policy);
  if (it == policies.end()) return out;
  const auto& rules = ref.direction == BF_DIR_INGRESS ? it->second.ingress : it->second.egress;
  if (ref.index < rules.size()) out += ": " + rule_text(rules[ref.index], ref.direction == BF_DIR_INGRESS);
  return out;
}

nlohmann::json rule_json(const std::optional<RuleRef>& ref, const std::map<std::string, NetworkPolicy>& policies) {
  if (!ref) return nullptr;
  nlohmann::json j = {{"policy", ref->policy},
                      {"direction", dir_word(ref->direction)},
                      {"index", ref->index},
                      {"text", ref->str()}};
  if (policies.count(ref->policy)) j["description"] = rule_words(*ref, policies);
  return j;
}

nlohmann::json host_json(const ExplainHost& h) {
  return {{"input", h.input}, {"ip", h.ip.str()}, {"pod", h.pod.empty() ? nlohmann::json(nullptr) : nlohmann::json(h.pod)}};
}

// "cnp/x ingress[0] Deny (no-metadata; Admin tier, priority 1)": the rule's
// name and its place in the tiers in one parenthesis.
std::string cluster_rule_words(const CnpRuleRef& ref) {
  std::string named = ref.rule_name.empty() ? "" : ref.rule_name + "; ";
  return ref.where() + " " + cnp_action_name(ref.action) + " (" + named + cnp_tier_name(ref.tier) + " tier, priority " +
         std::to_string(ref.priority) + ")";
}

std::optional<VerdictTier> tier_of(const std::string& name) {
  for (VerdictTier t : {VerdictTier::Admin, VerdictTier::NetworkPolicy, VerdictTier::Baseline, VerdictTier::Default})
    if (name == verdict_tier_name(t)) return t;
  return std::nullopt;
}

std::optional<uint8_t> reason_of(const nlohmann::json& j) {
  if (j.is_number_unsigned()) return j.get<uint8_t>();
  if (j.is_string()) return bf_reason_from_name(j.get<std::string>());
  return std::nullopt;
}

bool bool_field(const nlohmann::json& j, const char* key, bool fallback) {
  return j.contains(key) && j[key].is_boolean() ? j[key].get<bool>() : fallback;
}

SideVerdict side_from_json(const nlohmann::json& j, const Names& names) {
  SideVerdict s;
  if (!j.is_object()) return s;
  s.evaluated = bool_field(j, "evaluated", true);
  s.isolated = bool_field(j, "isolated", false);
  s.allowed = bool_field(j, "allowed", true);
  if (j.contains("reason"))
    if (auto r = reason_of(j["reason"])) s.reason = static_cast<bf_reason>(*r);
  if (j.contains("rule")) {
    const auto& r = j["rule"];
    if (r.is_object()) {
      s.rule = decode_rule_ref(r);
    } else if (r.is_string()) {
      static const std::regex re(R"((\S+/\S+) (ingress|egress)\[(\d+)\])");
      std::smatch m;
      std::string text = r.get<std::string>();
      if (std::regex_match(text, m, re))
        s.rule = RuleRef{m[1], m[2] == "ingress" ? BF_DIR_INGRESS : BF_DIR_EGRESS,
                         static_cast<uint32_t>(std::stoul(m[3]))};
    }
  }
  if (!s.rule && j.contains("rule_id") && j["rule_id"].is_number_unsigned())
    s.rule = names.rule(j["rule_id"].get<uint32_t>());
  if (j.contains("isolating") && j["isolating"].is_array())
    for (const auto& p : j["isolating"])
      if (p.is_string()) s.isolating.push_back(p.get<std::string>());
  if (j.contains("pod") && j["pod"].is_string()) s.pod = j["pod"].get<std::string>();
  if (j.contains("tier") && j["tier"].is_string())
    if (auto t = tier_of(j["tier"].get<std::string>())) s.tier = *t;
  if (j.contains("cluster_rule")) s.cnp_rule = decode_cluster_rule_ref(j["cluster_rule"]);
  if (j.contains("passed") && j["passed"].is_array())
    for (const auto& p : j["passed"])
      if (auto ref = decode_cluster_rule_ref(p)) s.passed.push_back(*ref);
  return s;
}

}  // namespace

Status resolve_host(const std::string& text, const Names& names, ExplainHost* out) {
  out->input = text;
  if (auto ip = IpAddress::parse(text)) {
    out->ip = *ip;
    out->pod = names.pod_at(*ip);
    return Status::ok();
  }
  if (text.find('/') == std::string::npos)
    return Status::error("\"" + text + "\" is neither an IP address nor namespace/pod");
  const PodInfo* pod = names.pod(text);
  if (!pod) return Status::error("pod " + text + " is not known" + (names.source.empty() ? "" : " to " + names.source));
  if (pod->ips.empty()) return Status::error("pod " + text + " has no IP yet");
  out->ip = pod->ips.front();
  out->pod = pod->pod;
  return Status::ok();
}

Status parse_port_spec(const std::string& text, uint8_t* proto, uint16_t* port) {
  std::string upper = text;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper == "ICMP" || upper == "ICMPV6") {
    *proto = 1;
    *port = 0;
    return Status::ok();
  }
  auto slash = upper.find('/');
  std::string number = upper.substr(0, slash), name = slash == std::string::npos ? "TCP" : upper.substr(slash + 1);
  auto p = parse_protocol(name);
  if (!p) return Status::error("--port " + text + ": protocol must be TCP, UDP or SCTP (or the port ICMP)");
  unsigned v = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), v);
  if (ec != std::errc() || end != number.data() + number.size() || v == 0 || v > 65535)
    return Status::error("--port " + text + ": \"" + number + "\" is not a port number (1-65535)");
  *proto = static_cast<uint8_t>(*p);
  *port = static_cast<uint16_t>(v);
  return Status::ok();
}

std::string port_spec_text(uint8_t proto, uint16_t port) {
  if (proto == 1 || proto == 58) return "ICMP";
  const char* name = proto == 17 ? "UDP" : proto == 132 ? "SCTP" : "TCP";
  return std::to_string(port) + "/" + name;
}

namespace {

// What the NetworkPolicy step says about a side.
std::string network_policy_step(const SideVerdict& side, bf_direction dir, const ExplainResult& r) {
  const ExplainHost& peer = dir == BF_DIR_EGRESS ? r.to : r.from;
  switch (side.reason) {
    case BF_R_HOST: return "allowed: traffic with the node itself is always allowed";
    case BF_R_SELF: return "allowed: a pod can always reach itself";
    case BF_R_NOT_ISOLATED:
      return std::string("allowed: not isolated for ") + dir_word(dir) + " (no policy selecting it lists " +
             dir_type(dir) + ")";
    case BF_R_POLICY:
      return "allowed by " + (side.rule ? rule_words(*side.rule, r.policies) : std::string("a rule"));
    default: break;
  }
  if (!side.allowed)
    return std::string("denied: isolated for ") + dir_word(dir) + " by " + join(side.isolating) + "; none of " +
           (side.isolating.size() == 1 ? "its " : "their ") + dir_word(dir) + " rules allows " + host_text(peer) +
           " on " + port_spec_text(r.proto, r.port);
  return std::string("allowed (") + bf_reason_name(side.reason) + ")";
}

const CnpRuleRef* passed_in(const SideVerdict& side, CnpTier tier) {
  for (const CnpRuleRef& p : side.passed)
    if (p.tier == tier) return &p;
  return nullptr;
}

}  // namespace

bf_reason side_reason(const SideVerdict& side) {
  if (!side.cnp_rule) return side.reason;
  const bool accept = side.cnp_rule->action == CnpAction::Accept;
  if (side.cnp_rule->tier == CnpTier::Admin) return accept ? BF_R_ADMIN_ACCEPT : BF_R_ADMIN_DENY;
  return accept ? BF_R_BASELINE_ACCEPT : BF_R_BASELINE_DENY;
}

std::vector<std::pair<std::string, std::string>> tier_walk(const SideVerdict& side, bf_direction dir,
                                                           const ExplainResult& r) {
  std::vector<std::pair<std::string, std::string>> steps;
  if (!side.evaluated) return steps;
  if (side.reason == BF_R_SELF && !side.cnp_rule) {
    steps.push_back({"-", "a pod talking to itself is not subject to any tier: allowed"});
    return steps;
  }
  auto decided = [&](const char* tier) { steps.push_back({tier, cluster_rule_words(*side.cnp_rule) + ": decided"}); };
  if (side.cnp_rule && side.cnp_rule->tier == CnpTier::Admin) {
    decided("Admin");
    return steps;
  }
  const CnpRuleRef* pass = passed_in(side, CnpTier::Admin);
  steps.push_back({"Admin", pass ? cluster_rule_words(*pass) + ": on to the NetworkPolicy step" : "no rule matches"});
  if (side.tier == VerdictTier::NetworkPolicy) {
    steps.push_back({"NetworkPolicy", network_policy_step(side, dir, r) + ": decided"});
    return steps;
  }
  steps.push_back({"NetworkPolicy", std::string("not isolated for ") + dir_word(dir) + ": on to the Baseline tier"});
  if (side.cnp_rule) {
    decided("Baseline");
    return steps;
  }
  pass = passed_in(side, CnpTier::Baseline);
  steps.push_back({"Baseline", pass ? cluster_rule_words(*pass) + ": on to the default" : "no rule matches"});
  steps.push_back({"default", "allowed: no tier denies it"});
  return steps;
}

std::string side_explanation(const SideVerdict& side, bf_direction dir, const ExplainResult& r) {
  const ExplainHost& self = dir == BF_DIR_EGRESS ? r.from : r.to;
  if (!side.evaluated) {
    // An agent evaluates only its node's pods; it cannot tell a pod of
    // another node from an address outside the cluster.
    if (!r.both_sides_known)
      return "not evaluated here: " + (self.pod.empty() ? self.ip.str() : self.pod) +
             " is not a pod of this agent's node (its own node's agent decides this side)";
    if (self.pod.empty()) return "not a pod: no NetworkPolicy applies at " + self.ip.str();
    return "not evaluated";
  }
  if (side.cnp_rule) return (side.allowed ? "allowed by " : "denied by ") + cluster_rule_words(*side.cnp_rule);
  if (side.tier == VerdictTier::Default)
    return std::string("allowed: not isolated for ") + dir_word(dir) + ", and no Baseline rule denies it";
  return network_policy_step(side, dir, r);
}

void print_explain(std::ostream& out, const ExplainResult& r) {
  const Verdict& v = r.verdict;
  std::string where;
  if (!v.allowed) {
    const bool at_egress = v.egress.evaluated && !v.egress.allowed;
    const SideVerdict& s = at_egress ? v.egress : v.ingress;
    where = "  D(" + std::string(bf_reason_name(side_reason(s))) + ") at " + (s.pod.empty() ? "?" : s.pod) + " " +
            (at_egress ? "egress" : "ingress");
  }
  out << "From:     " << host_text(r.from) << "\n"
      << "To:       " << host_text(r.to) << "\n"
      << "Port:     " << port_spec_text(r.proto, r.port) << "\n"
      << "Verdict:  " << (v.allowed ? "ALLOW" : "DENY") << where << "\n"
      << "Source:   " << r.source << "\n\n";
  Table t({"SIDE", "POD", "ISOLATED", "VERDICT", "WHY"});
  auto row = [&](const char* name, const SideVerdict& s, bf_direction dir) {
    const ExplainHost& self = dir == BF_DIR_EGRESS ? r.from : r.to;
    std::string pod = !s.pod.empty() ? s.pod : !self.pod.empty() ? self.pod : self.ip.str();
    t.add({name, pod, s.evaluated ? (s.isolated ? "yes" : "no") : "-",
           s.evaluated ? (s.allowed ? "allow" : "deny") : "-", side_explanation(s, dir, r)});
  };
  row("egress (source)", v.egress, BF_DIR_EGRESS);
  row("ingress (destination)", v.ingress, BF_DIR_INGRESS);
  t.print(out);
  if (!r.show_tiers) return;
  out << "\nTiers, in order (evaluation ends at the first decision):\n";
  for (auto [name, s, dir] : {std::tuple{"egress", &v.egress, BF_DIR_EGRESS}, std::tuple{"ingress", &v.ingress, BF_DIR_INGRESS}}) {
    auto steps = tier_walk(*s, dir, r);
    if (steps.empty()) continue;
    out << "  " << name << " at " << s->pod << ":\n";
    for (const auto& [tier, what] : steps) {
      std::string padded = tier;
      padded.resize(std::max<size_t>(padded.size(), 14), ' ');
      out << "    " << padded << "  " << what << "\n";
    }
  }
}

nlohmann::json explain_json(const ExplainResult& r) {
  auto side = [&](const SideVerdict& s, bf_direction dir) {
    nlohmann::json j{{"evaluated", s.evaluated},
                          {"pod", s.pod.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.pod)},
                          {"isolated", s.isolated},
                          {"allowed", s.allowed},
                          {"reason", bf_reason_name(side_reason(s))},
                          {"rule", rule_json(s.rule, r.policies)},
                          {"isolating", s.isolating},
                          {"explanation", side_explanation(s, dir, r)}};
    if (r.show_tiers) {
      j["tier"] = verdict_tier_name(s.tier);
      j["cluster_rule"] = s.cnp_rule ? cluster_rule_ref_json(*s.cnp_rule) : nlohmann::json(nullptr);
      j["passed"] = nlohmann::json::array();
      for (const CnpRuleRef& p : s.passed) j["passed"].push_back(cluster_rule_ref_json(p));
      j["tiers"] = nlohmann::json::array();
      for (const auto& [tier, what] : tier_walk(s, dir, r)) j["tiers"].push_back({{"tier", tier}, {"outcome", what}});
    }
    return j;
  };
  const Verdict& v = r.verdict;
  uint8_t drop_reason = BF_R_FW_POLICY;
  if (!v.allowed) drop_reason = side_reason(v.egress.evaluated && !v.egress.allowed ? v.egress : v.ingress);
  return {{"from", host_json(r.from)},
          {"to", host_json(r.to)},
          {"port", port_spec_text(r.proto, r.port)},
          {"proto", ip_proto_name(r.proto)},
          {"port_number", r.port},
          {"allowed", v.allowed},
          {"verdict", v.allowed ? "F" : bf_verdict_short(BF_ACT_DROP, drop_reason)},
          {"egress", side(v.egress, BF_DIR_EGRESS)},
          {"ingress", side(v.ingress, BF_DIR_INGRESS)},
          {"source", r.source}};
}

Status verdict_from_agent_json(const nlohmann::json& j, const Names& names, Verdict* out) {
  if (!j.is_object() || !j.contains("allowed") || !j["allowed"].is_boolean())
    return Status::error("the agent's verdict has no \"allowed\"");
  Verdict v;
  v.allowed = j["allowed"].get<bool>();
  if (j.contains("egress")) v.egress = side_from_json(j["egress"], names);
  if (j.contains("ingress")) v.ingress = side_from_json(j["ingress"], names);
  *out = std::move(v);
  return Status::ok();
}

}  // namespace bpfence::cli
