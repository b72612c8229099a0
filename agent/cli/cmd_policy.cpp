// `bpfence policy [ns/name]`: what a policy selects and what it compiles
// to (its rules in words, the peer identities and map entries each rule
// produced) and the lint warnings about it. Offline from --manifests DIR
// (every pod counts), or from the agent (its node's pods).
#include <iostream>
#include <set>

#include "cli_context.h"
#include "cli_policy_text.h"
#include "cli_table.h"
#include "command.h"

namespace bpfence::cli {
namespace {

struct RuleSummary {
  bf_direction direction;
  uint32_t index;
  uint32_t rule_id = 0;
  std::string text;
  size_t entries = 0;
  std::set<uint32_t> identities;
};

struct PolicySummary {
  std::string key;
  const NetworkPolicy* policy = nullptr;
  std::vector<std::string> selected;  // "ns/name (ip)"
  std::vector<RuleSummary> rules;
  size_t entries = 0;
  std::vector<std::string> warnings;
};

PolicySummary summarize(const Compiler& c, const std::string& key, const std::vector<Warning>& warnings) {
  PolicySummary s;
  s.key = key;
  const NetworkPolicy& p = c.policies().at(key);
  s.policy = &p;
  for (const auto& [pk, pod] : c.pods())
    if (pod.namespace_ == p.namespace_ && !pod.host_network && p.pod_selector.matches(pod.labels)) {
      std::string ips;
      for (const auto& ip : pod.ips) ips += (ips.empty() ? "" : ",") + ip.str();
      s.selected.push_back(pk + (ips.empty() ? "" : " (" + ips + ")"));
    }
  const DesiredState& st = c.state();
  std::map<uint32_t, size_t> by_id;
  auto add_rules = [&](const std::vector<PolicyRule>& rules, bf_direction dir, bool in_effect) {
    if (!in_effect) return;
    for (uint32_t i = 0; i < rules.size(); ++i) {
      RuleSummary r{dir, i};
      r.text = rule_text(rules[i], dir == BF_DIR_INGRESS);
      for (const auto& [id, ref] : st.rules)
        if (ref.policy == key && ref.direction == dir && ref.index == i) r.rule_id = id;
      if (r.rule_id) by_id[r.rule_id] = s.rules.size();
      s.rules.push_back(std::move(r));
    }
  };
  add_rules(p.ingress, BF_DIR_INGRESS, p.affects_ingress());
  add_rules(p.egress, BF_DIR_EGRESS, p.affects_egress());
  auto count = [&](uint32_t rule_id, uint32_t peer) {
    auto it = by_id.find(rule_id);
    if (it == by_id.end()) return;
    s.rules[it->second].entries++;
    s.rules[it->second].identities.insert(peer);
    s.entries++;
  };
  for (const auto& [k, id] : st.policy) count(id, k.k.peer_identity);
  for (const auto& [k, id] : st.ranges) count(id, k.k.peer_identity);
  for (const auto& w : warnings)
    if (w.policy == key) s.warnings.push_back(w.message);
  return s;
}

std::string identities_text(const std::set<uint32_t>& ids) {
  if (ids.count(BF_ID_ANY)) return ids.size() == 1 ? "any" : "any+" + std::to_string(ids.size() - 1);
  return std::to_string(ids.size());
}

nlohmann::json summary_json(const PolicySummary& s) {
  const NetworkPolicy& p = *s.policy;
  nlohmann::json rules = nlohmann::json::array();
  for (const auto& r : s.rules)
    rules.push_back({{"rule", RuleRef{s.key, r.direction, r.index}.str()},
                     {"direction", r.direction == BF_DIR_INGRESS ? "ingress" : "egress"},
                     {"index", r.index},
                     {"text", r.text},
                     {"entries", r.entries},
                     {"peer_identities", r.identities.size()},
                     {"any_peer", r.identities.count(BF_ID_ANY) > 0}});
  return {{"policy", s.key},
          {"pod_selector", selector_text(p.pod_selector)},
          {"policy_types", policy_types_text(p)},
          {"selected_pods", s.selected},
          {"rules", rules},
          {"entries", s.entries},
          {"warnings", s.warnings}};
}

void print_detail(std::ostream& out, const PolicySummary& s) {
  const NetworkPolicy& p = *s.policy;
  out << "Policy:     " << s.key << "\n"
      << "Selector:   podSelector" << selector_text(p.pod_selector) << "\n"
      << "Types:      " << policy_types_text(p) << "\n"
      << "Selects:    " << s.selected.size() << " pod" << (s.selected.size() == 1 ? "" : "s")
      << (s.selected.empty() ? "" : ": " + join(s.selected)) << "\n"
      << "Entries:    " << s.entries << " policy map entr" << (s.entries == 1 ? "y" : "ies") << "\n\n";
  if (s.rules.empty()) {
    out << "No rules: every selected pod is isolated and nothing is allowed"
        << " (in the directions of its policyTypes)\n";
  } else {
    Table t({"RULE", "ALLOWS", "PEER IDS", "ENTRIES"});
    for (const auto& r : s.rules)
      t.add({RuleRef{s.key, r.direction, r.index}.str(), r.text, identities_text(r.identities),
             std::to_string(r.entries)});
    t.print(out);
  }
  out << "\nWarnings:   " << (s.warnings.empty() ? "none" : std::to_string(s.warnings.size())) << "\n";
  for (const auto& w : s.warnings) out << "  - " << w << "\n";
}

int offline(const Context& ctx, const std::string& name, const CommandIo& io) {
  const Compiler& c = *ctx.offline;
  auto warnings = c.warnings();
  std::vector<std::string> keys;
  if (!name.empty()) {
    if (!c.policies().count(name)) {
      io.err << "bpfence: no policy " << name << " in " << ctx.common.manifests << "\n";
      return 1;
    }
    keys.push_back(name);
  } else {
    for (const auto& [k, p] : c.policies()) keys.push_back(k);
  }
  std::vector<PolicySummary> all;
  for (const auto& k : keys) all.push_back(summarize(c, k, warnings));
  if (ctx.common.format() == OutputFormat::Json) {
    nlohmann::json out = {{"source", ctx.names.source}, {"policies", nlohmann::json::array()}};
    for (const auto& s : all) out["policies"].push_back(summary_json(s));
    io.out << (name.empty() ? out : out["policies"][0]).dump(2) << "\n";
    return 0;
  }
  if (!name.empty()) {
    print_detail(io.out, all.front());
    return 0;
  }
  io.out << "Policies (" << ctx.names.source << "): " << all.size() << "\n\n";
  Table t({"POLICY", "SELECTOR", "TYPES", "PODS", "RULES", "ENTRIES", "WARNINGS"});
  for (const auto& s : all)
    t.add({s.key, selector_text(s.policy->pod_selector), policy_types_text(*s.policy),
           std::to_string(s.selected.size()), std::to_string(s.rules.size()), std::to_string(s.entries),
           std::to_string(s.warnings.size())});
  t.print(io.out);
  return 0;
}

std::string json_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    std::vector<std::string> items;
    for (const auto& x : v) items.push_back(json_text(x));
    return join(items);
  }
  return v.dump();
}

// The agent's /v1/policies and /v1/status warnings, shown as the agent
// gives them (it knows only its node's pods).
int from_agent(const Context& ctx, const std::string& name, const CommandIo& io) {
  nlohmann::json j, status;
  if (Status s = ctx.agent.get("/v1/policies", &j); !s) {
    io.err << "bpfence: " << s.message() << "\n";
    return 1;
  }
  const nlohmann::json* list = j.is_array() ? &j : j.contains("policies") ? &j["policies"] : nullptr;
  if (!list || !list->is_array()) {
    io.err << "bpfence: agent /v1/policies: no list of policies\n";
    return 1;
  }
  std::vector<nlohmann::json> warnings;
  if (ctx.agent.get("/v1/status", &status) && status.contains("warnings") && status["warnings"].is_array())
    for (const auto& w : status["warnings"]) warnings.push_back(w);
  std::vector<nlohmann::json> picked;
  for (auto p : *list) {
    if (!p.is_object()) continue;
    std::string key = p.contains("policy") && p["policy"].is_string() ? p["policy"].get<std::string>()
                      : p.contains("namespace") && p.contains("name")
                          ? json_text(p["namespace"]) + "/" + json_text(p["name"])
                          : "";
    p["policy"] = key;
    if (!name.empty() && key != name) continue;
    if (!p.contains("warnings")) {
      p["warnings"] = nlohmann::json::array();
      for (const auto& w : warnings)
        if (w.is_object() && w.contains("policy") && w["policy"] == key) p["warnings"].push_back(w["message"]);
    }
    picked.push_back(std::move(p));
  }
  if (!name.empty() && picked.empty()) {
    io.err << "bpfence: the agent has no policy " << name << "\n";
    return 1;
  }
  if (ctx.common.format() == OutputFormat::Json) {
    nlohmann::json out = name.empty() ? nlohmann::json{{"source", "agent " + ctx.common.agent}, {"policies", picked}}
                                      : picked.front();
    io.out << out.dump(2) << "\n";
    return 0;
  }
  for (const auto& p : picked) {
    io.out << "Policy:     " << p["policy"].get<std::string>() << "\n";
    for (const auto& [k, v] : p.items()) {
      if (k == "policy" || k == "warnings") continue;
      std::string label = k + ":";
      io.out << label << std::string(label.size() < 12 ? 12 - label.size() : 1, ' ') << json_text(v) << "\n";
    }
    io.out << "Warnings:   " << (p["warnings"].empty() ? "none" : std::to_string(p["warnings"].size())) << "\n";
    for (const auto& w : p["warnings"]) io.out << "  - " << json_text(w) << "\n";
    io.out << "\n";
  }
  return 0;
}

int run_policy(const Args& args, const CommandIo& io) {
  Context ctx;
  std::vector<std::string> positional;
  OptionParser p("bpfence policy [NS/NAME] [--manifests DIR] [-o json]",
                 "What policies select and compile to: selected pods, each rule in words with the\n"
                 "peer identities and policy map entries it produced, and lint warnings. Without a\n"
                 "name, one line per policy. From --manifests DIR (compiled locally) or the agent.");
  ctx.common.add_to(p);
  if (auto rc = parse_command_line(p, args, &positional, ctx.common, io)) return *rc;
  if (positional.size() > 1) {
    io.err << "bpfence: policy takes at most one NS/NAME\n";
    return 2;
  }
  std::string name = positional.empty() ? "" : positional.front();
  if (!name.empty() && name.find('/') == std::string::npos) name = "default/" + name;
  if (Status s = ctx.init(io.err, /*want_names=*/false); !s) {
    io.err << "bpfence: " << s.message() << "\n";
    return 1;
  }
  if (ctx.offline_mode()) return offline(ctx, name, io);
  if (!ctx.agent_up) {
    io.err << "bpfence: policy needs the agent (" << ctx.common.agent << ") or --manifests DIR\n";
    return 1;
  }
  return from_agent(ctx, name, io);
}

Command policy_command("policy", "what a policy selects and compiles to, and its warnings",
                       [](const Args& args) { return run_policy(args, {std::cout, std::cerr}); });

}  // namespace
}  // namespace bpfence::cli
