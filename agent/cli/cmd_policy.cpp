// `bpfence policy [ns/name | cnp/name]`: what a policy selects and what it
// compiles to (its rules in words, the peer identities and map entries each
// rule produced) and the lint warnings about it; ClusterNetworkPolicies by
// tier and priority. Offline from --manifests DIR (every pod counts), or
// from the agent (its node's pods).
#include <iostream>
#include <set>


#include "cli_cluster_policies.h"
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

// What `policy` shows. Entry and identity counts are only known offline:
// the agent does not serve its per-rule map entries.
struct PolicySummary {
  std::string key;
  NetworkPolicy policy;
  std::vector<std::string> selected;  // "ns/name (ip)"
  std::vector<RuleSummary> rules;
  bool counts_known = true;
  size_t entries = 0;
  std::vector<std::string> warnings;
};

PolicySummary summarize(const Compiler& c, const std::string& key, const std::vector<Warning>& warnings) {
  PolicySummary s;
  s.key = key;
  const NetworkPolicy& p = c.policies().at(key);
  s.policy = p;
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
    if (!w.cluster && w.policy == key) s.warnings.push_back(w.message);
  return s;
}

std::string identities_text(const std::set<uint32_t>& ids) {
  if (ids.count(BF_ID_ANY)) return ids.size() == 1 ? "any" : "any+" + std::to_string(ids.size() - 1);
  return std::to_string(ids.size());
}

nlohmann::json summary_json(const PolicySummary& s) {
  const NetworkPolicy& p = s.policy;
  auto count = [&](size_t n) { return s.counts_known ? nlohmann::json(n) : nlohmann::json(nullptr); };
  nlohmann::json rules = nlohmann::json::array();
  for (const auto& r : s.rules)
    rules.push_back({{"rule", RuleRef{s.key, r.direction, r.index}.str()},
                     {"rule_id", r.rule_id ? nlohmann::json(r.rule_id) : nlohmann::json(nullptr)},
                     {"direction", r.direction == BF_DIR_INGRESS ? "ingress" : "egress"},
                     {"index", r.index},
                     {"text", r.text},
                     {"entries", count(r.entries)},
                     {"peer_identities", count(r.identities.size())},
                     {"any_peer", s.counts_known ? nlohmann::json(r.identities.count(BF_ID_ANY) > 0)
                                                 : nlohmann::json(nullptr)}});
  return {{"policy", s.key},
          {"pod_selector", selector_text(p.pod_selector)},
          {"policy_types", policy_types_text(p)},
          {"selected_pods", s.selected},
          {"rules", rules},
          {"entries", count(s.entries)},
          {"warnings", s.warnings}};
}

void print_detail(std::ostream& out, const PolicySummary& s) {
  const NetworkPolicy& p = s.policy;
  out << "Policy:     " << s.key << "\n"
      << "Selector:   podSelector" << selector_text(p.pod_selector) << "\n"
      << "Types:      " << policy_types_text(p) << "\n"
      << "Selects:    " << s.selected.size() << " pod" << (s.selected.size() == 1 ? "" : "s")
      << (s.selected.empty() ? "" : ": " + join(s.selected)) << "\n"
      << "Entries:    "
      << (s.counts_known ? std::to_string(s.entries) + " policy map entr" + (s.entries == 1 ? "y" : "ies")
                         : std::string("- (the agent does not serve them; --manifests DIR counts them)"))
      << "\n\n";
  if (s.rules.empty()) {
    out << "No rules: every selected pod is isolated and nothing is allowed"
        << " (in the directions of its policyTypes)\n";
  } else {
    Table t({"RULE", "ALLOWS", "PEER IDS", "ENTRIES"});
    for (const auto& r : s.rules)
      t.add({RuleRef{s.key, r.direction, r.index}.str(), r.text,
             s.counts_known ? identities_text(r.identities) : "-",
             s.counts_known ? std::to_string(r.entries) : "-"});
    t.print(out);
  }
  out << "\nWarnings:   " << (s.warnings.empty() ? "none" : std::to_string(s.warnings.size())) << "\n";
  for (const auto& w : s.warnings) out << "  - " << w << "\n";
}

// A cnp/NAME the user asked for, or nullptr.
const ClusterPolicySummary* cluster_named(const std::vector<ClusterPolicySummary>& cluster, const std::string& name) {
  for (const auto& s : cluster)
    if (s.key() == name) return &s;
  return nullptr;
}

int print_summaries(const std::vector<PolicySummary>& all, const std::vector<ClusterPolicySummary>& cluster,
                    const std::string& name, const std::string& source, const CommandIo& io, OutputFormat format) {
  const ClusterPolicySummary* one_cluster = cluster_named(cluster, name);
  if (format == OutputFormat::Json) {
    if (one_cluster) {
      io.out << cluster_summary_json(*one_cluster).dump(2) << "\n";
      return 0;
    }
    nlohmann::json out = {{"source", source}, {"policies", nlohmann::json::array()},
                          {"cluster_policies", nlohmann::json::array()}};
    for (const auto& s : all) out["policies"].push_back(summary_json(s));
    for (const auto& s : cluster) out["cluster_policies"].push_back(cluster_summary_json(s));
    io.out << (name.empty() ? out : out["policies"][0]).dump(2) << "\n";
    return 0;
  }
  if (one_cluster) {
    print_cluster_detail(io.out, *one_cluster);
    return 0;
  }
  if (!name.empty()) {
    print_detail(io.out, all.front());
    return 0;
  }
  io.out << "Policies (" << source << "): " << all.size() << "\n\n";
  Table t({"POLICY", "SELECTOR", "TYPES", "PODS", "RULES", "ENTRIES", "WARNINGS"});
  for (const auto& s : all)
    t.add({s.key, selector_text(s.policy.pod_selector), policy_types_text(s.policy),
           std::to_string(s.selected.size()), std::to_string(s.rules.size()),
           s.counts_known ? std::to_string(s.entries) : "-", std::to_string(s.warnings.size())});
  t.print(io.out);
  // NetworkPolicy-only clusters read as before.
  if (!cluster.empty()) {
    io.out << "\n";
    print_cluster_list(io.out, cluster);
  }
  return 0;
}

int offline(const Context& ctx, const std::string& name, const CommandIo& io) {
  const Compiler& c = *ctx.offline;
  auto warnings = c.warnings();
  std::vector<ClusterPolicySummary> cluster = cluster_summaries(c, warnings);
  std::vector<std::string> keys;
  if (cluster_named(cluster, name)) {
    // a ClusterNetworkPolicy: nothing else to summarize
  } else if (!name.empty()) {
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
  return print_summaries(all, cluster, name, ctx.names.source, io, ctx.common.format());
}

// One entry of the agent's /v1/policies: the policy in the API's own form
// (key, podSelector, policyTypes, ingress, egress), the local pods it
// selects per direction, its rule ids and its warnings.
Status summary_from_agent(const nlohmann::json& j, PolicySummary* out) {
  PolicySummary s;
  if (Status st = policy_from_agent_json(j, &s.policy); !st) return st;
  s.key = s.policy.key();
  s.counts_known = false;
  std::set<std::string> selected;
  if (j.contains("selects") && j["selects"].is_object())
    for (const auto& [dir, pods] : j["selects"].items())
      if (pods.is_array())
        for (const auto& pod : pods)
          if (pod.is_string()) selected.insert(pod.get<std::string>());
  s.selected.assign(selected.begin(), selected.end());
  std::map<std::pair<int, uint32_t>, uint32_t> ids;
  if (j.contains("rules") && j["rules"].is_array())
    for (const auto& r : j["rules"])
      if (r.is_object() && r.contains("id") && r.contains("index") && r["id"].is_number() && r["index"].is_number())
        ids[{r.value("direction", "") == "egress" ? BF_DIR_EGRESS : BF_DIR_INGRESS, r["index"].get<uint32_t>()}] =
            r["id"].get<uint32_t>();
  auto add = [&](const std::vector<PolicyRule>& rules, bf_direction dir, bool in_effect) {
    if (!in_effect) return;
    for (uint32_t i = 0; i < rules.size(); ++i) {
      RuleSummary r{dir, i};
      r.text = rule_text(rules[i], dir == BF_DIR_INGRESS);
      if (auto it = ids.find({dir, i}); it != ids.end()) r.rule_id = it->second;
      s.rules.push_back(std::move(r));
    }
  };
  add(s.policy.ingress, BF_DIR_INGRESS, s.policy.affects_ingress());
  add(s.policy.egress, BF_DIR_EGRESS, s.policy.affects_egress());
  if (j.contains("warnings") && j["warnings"].is_array())
    for (const auto& w : j["warnings"])
      if (w.is_string()) s.warnings.push_back(w.get<std::string>());
  *out = std::move(s);
  return Status::ok();
}

// The agent knows only its node's pods: "selects" lists the local ones.
int from_agent(const Context& ctx, const std::string& name, const CommandIo& io) {
  nlohmann::json j;
  if (Status s = ctx.agent.get("/v1/policies", &j); !s) {
    io.err << "bpfence: " << s.message() << "\n";
    return 1;
  }
  const nlohmann::json* list = j.is_array() ? &j : j.contains("policies") ? &j["policies"] : nullptr;
  if (!list || !list->is_array()) {
    io.err << "bpfence: agent /v1/policies: no list of policies\n";
    return 1;
  }
  std::vector<PolicySummary> all;
  for (const auto& p : *list) {
    PolicySummary s;
    if (Status st = summary_from_agent(p, &s); !st) {
      io.err << "warning: agent /v1/policies: " << st.message() << "\n";
      continue;
    }
    if (name.empty() || s.key == name) all.push_back(std::move(s));
  }
  std::vector<std::string> errors;
  std::vector<ClusterPolicySummary> cluster;
  if (j.is_object() && j.contains("cluster_policies"))
    cluster = cluster_summaries_from_agent(j["cluster_policies"], &errors);
  for (const auto& e : errors) io.err << "warning: agent /v1/policies: " << e << "\n";
  if (!name.empty() && all.empty() && !cluster_named(cluster, name)) {
    io.err << "bpfence: the agent has no policy " << name << "\n";
    return 1;
  }
  return print_summaries(all, cluster, name, "agent " + ctx.common.agent + " (local pods)", io, ctx.common.format());
}

int run_policy(const Args& args, const CommandIo& io) {
  Context ctx;
  std::vector<std::string> positional;
  OptionParser p("bpfence policy [NS/NAME | cnp/NAME] [--manifests DIR] [-o json]",
                 "What policies select and compile to: selected pods, each rule in words with the\n"
                 "peer identities and policy map entries it produced, and lint warnings. Without a\n"
                 "name, one line per policy, then the ClusterNetworkPolicies by tier and priority\n"
                 "(cnp/NAME for one of them). From --manifests DIR (compiled locally) or the agent.");
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
