// ClusterNetworkPolicy in the CLI and the agent's API: flows decided by a
// cluster rule name it (`cnp/<name> egress[0] Deny`) beside D(AdminDeny);
// explain walks the tiers to the rule that decided; `policy` lists them by
// tier and priority; /metrics counts per cluster rule; and what the agent
// serves (/v1/rules, /v1/verdict, /v1/policies) reads back in the CLI.
// Expected texts written by hand.
#include <arpa/inet.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "api_json.h"
#include "bpfence/agent_api.h"
#include "bpfence/parse.h"
#include "bpfence/reasons.h"
#include "cli_cluster_policies.h"
#include "cli_explain.h"
#include "cli_flows.h"
#include "cluster_rule_metrics.h"

using namespace bpfence;
using namespace bpfence::cli;

namespace {

constexpr uint32_t kDenyMeta = BF_CNP_RULE_FIRST + 2;
constexpr uint32_t kScrape = BF_CNP_RULE_FIRST + 5;
constexpr uint32_t kBaseline = BF_CNP_RULE_FIRST + 9;

CnpRuleRef deny_meta() {
  return {"deny-metadata", CnpTier::Admin, 1, BF_DIR_EGRESS, 0, "no-instance-metadata", CnpAction::Deny};
}
CnpRuleRef scrape() {
  return {"monitoring-may-scrape", CnpTier::Admin, 10, BF_DIR_INGRESS, 0, "prometheus-scrapes", CnpAction::Accept};
}
CnpRuleRef baseline() {
  return {"default-deny-pod-ingress", CnpTier::Baseline, 100, BF_DIR_INGRESS, 0, "", CnpAction::Deny};
}

bf_flow_key key(const char* src, const char* dst, uint16_t dport, bf_direction dir) {
  bf_flow_key k{};
  auto s = *IpAddress::parse(src), d = *IpAddress::parse(dst);
  std::copy(s.bytes.begin(), s.bytes.end(), k.src);
  std::copy(d.bytes.begin(), d.bytes.end(), k.dst);
  k.sport = htons(40000);
  k.dport = htons(dport);
  k.proto = 6;
  k.direction = dir;
  k.endpoint_id = 1;
  return k;
}

bf_flow_value value(uint8_t action, uint8_t reason, uint32_t rule, uint64_t packets = 1) {
  bf_flow_value v{};
  v.action = action;
  v.reason = reason;
  v.rule_id = rule;
  v.packets = packets;
  v.bytes = packets * 60;
  return v;
}

// The story's objects plus its pods (offline/pods.yaml), compiled.
Compiler story() {
  Compiler c({"", {}});
  for (const char* file : {"/story.yaml", "/offline/pods.yaml"}) {
    std::ifstream in(std::string(BPFENCE_SOURCE_DIR "/manifests/examples/cluster-network-policy") + file);
    REQUIRE(in);
    std::stringstream text;
    text << in.rdbuf();
    ParseResult parsed = parse_manifests(text.str(), file);
    for (const auto& e : parsed.errors) FAIL(e.str());
    for (auto& o : parsed.objects)
      std::visit(
          [&](auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, Namespace>) x.labels["kubernetes.io/metadata.name"] = x.name;
            c.upsert(x);
          },
          o);
  }
  c.commit();
  return c;
}

ExplainResult explain(const Compiler& c, const Names& n, const std::string& from, const std::string& to,
                      const std::string& port) {
  ExplainResult r;
  REQUIRE(resolve_host(from, n, &r.from));
  REQUIRE(resolve_host(to, n, &r.to));
  REQUIRE(parse_port_spec(port, &r.proto, &r.port));
  r.verdict = c.verdict(r.from.ip, r.to.ip, r.proto, r.port);
  r.source = "manifests story";
  r.policies = c.policies();
  r.show_tiers = !c.cluster_policies().empty();
  return r;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// A table row's cells (columns are separated by two spaces or more).
std::vector<std::string> fields(const std::string& row) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < row.size()) {
    size_t gap = row.find("  ", i);
    out.push_back(row.substr(i, gap == std::string::npos ? std::string::npos : gap - i));
    if (gap == std::string::npos) break;
    i = row.find_first_not_of(' ', gap);
  }
  return out;
}

// The lines after "Tiers, in order ...".
std::vector<std::string> tier_lines(const ExplainResult& r) {
  std::stringstream out;
  print_explain(out, r);
  auto all = lines(out.str());
  auto it = std::find_if(all.begin(), all.end(), [](const std::string& l) { return l.starts_with("Tiers,"); });
  REQUIRE(it != all.end());
  return {it + 1, all.end()};
}

}  // namespace

TEST_CASE("flows decided by a cluster rule name it beside D(AdminDeny)", "[cli][flow][cnp]") {
  Names n;
  n.add_cluster_rule(kDenyMeta, deny_meta());
  n.add_cluster_rule(kScrape, scrape());
  n.add_cluster_rule(kBaseline, baseline());
  n.add_rule(7, RuleRef{"shop/open-shop", BF_DIR_INGRESS, 0});
  n.rules_known = true;
  const bf_flow_key out = key("10.5.1.10", "169.254.169.254", 80, BF_DIR_EGRESS);
  const bf_flow_key in = key("10.5.3.10", "10.5.0.10", 9090, BF_DIR_INGRESS);

  bf_flow_value denied = value(BF_ACT_DROP, BF_R_ADMIN_DENY, kDenyMeta);
  CHECK(bf_verdict_short(denied.action, denied.reason) == "D(AdminDeny)");
  CHECK(flow_rule_text(out, denied, nullptr, n) == "cnp/deny-metadata egress[0] Deny (no-instance-metadata)");
  CHECK(flow_rule_text(in, value(BF_ACT_FORWARD, BF_R_ADMIN_ACCEPT, kScrape), nullptr, n) ==
        "cnp/monitoring-may-scrape ingress[0] Accept (prometheus-scrapes)");
  CHECK(flow_rule_text(in, value(BF_ACT_DROP, BF_R_BASELINE_DENY, kBaseline), nullptr, n) ==
        "cnp/default-deny-pod-ingress ingress[0] Deny");
  CHECK(bf_verdict_short(BF_ACT_DROP, BF_R_BASELINE_DENY) == "D(BaselineDeny)");
  // The reply of an accepted flow, and a NetworkPolicy rule, as before.
  CHECK(flow_rule_text(in, value(BF_ACT_FORWARD, BF_R_REPLY, kScrape), nullptr, n) ==
        "reply to cnp/monitoring-may-scrape ingress[0] Accept (prometheus-scrapes)");
  CHECK(flow_rule_text(in, value(BF_ACT_FORWARD, BF_R_POLICY, 7), nullptr, n) == "shop/open-shop ingress[0]");
  // An id no cluster rule holds (and not a NetworkPolicy rule either).
  CHECK(flow_rule_text(out, value(BF_ACT_DROP, BF_R_ADMIN_DENY, BF_CNP_RULE_FIRST + 77), nullptr, n) ==
        "#" + std::to_string(BF_CNP_RULE_FIRST + 77));

  // Follow lines and their JSON.
  bf_event ev{};
  ev.type = BF_EV_DROP;
  ev.key = out;
  ev.action = BF_ACT_DROP;
  ev.reason = BF_R_ADMIN_DENY;
  ev.rule_id = kDenyMeta;
  FlowSnapshot snap;
  const std::string line = event_line(ev, 0, snap, n);
  CHECK(line.find(" DROP D(AdminDeny) ") != std::string::npos);
  CHECK(line.ends_with(": cnp/deny-metadata egress[0] Deny (no-instance-metadata)"));
  CHECK(event_json(ev, 0, snap, n)["rule_text"] == "cnp/deny-metadata egress[0] Deny (no-instance-metadata)");

  // The flow table's JSON (the shared flow form) names the rule too.
  snap.flows.push_back(FlowRecord{out, denied});
  snap.table_size = 64;
  auto rows = flow_rows(snap, FlowFilter{});
  auto j = flow_table_json(snap, rows, n);
  REQUIRE(j["flows"].size() == 1);
  CHECK(j["flows"][0]["verdict"] == "D(AdminDeny)");
  CHECK(j["flows"][0]["rule"] == "cnp/deny-metadata egress[0] Deny (no-instance-metadata)");
}

TEST_CASE("the agent's cluster rules: /v1/flows names them, /v1/rules reads back in the CLI", "[cli][names][cnp]") {
  AgentSnapshot s;
  s.cluster_rules = std::make_shared<const std::map<uint32_t, CnpRuleRef>>(
      std::map<uint32_t, CnpRuleRef>{{kDenyMeta, deny_meta()}});
  s.rules = std::make_shared<const std::map<uint32_t, RuleRef>>(std::map<uint32_t, RuleRef>{{3, RuleRef{"shop/open-shop", BF_DIR_INGRESS, 0}}});
  // As /v1/rules lists them: NetworkPolicy rules, then cluster rules.
  nlohmann::json list = nlohmann::json::array();
  list.push_back({{"id", 3u}, {"policy", "shop/open-shop"}, {"direction", "ingress"}, {"index", 0}});
  nlohmann::json c = cluster_rule_ref_json(deny_meta());
  c["id"] = kDenyMeta;
  list.push_back(c);
  Names n;
  decode_agent_rules(nlohmann::json{{"rules", list}}, &n);
  CHECK(n.rule_text(3) == "shop/open-shop ingress[0]");
  CHECK(n.rule_text(kDenyMeta) == "cnp/deny-metadata egress[0] Deny (no-instance-metadata)");
  REQUIRE(n.cluster_rule(kDenyMeta));
  CHECK(*n.cluster_rule(kDenyMeta) == deny_meta());
}

TEST_CASE("explain walks the tiers to the rule that decided", "[cli][explain][cnp]") {
  Compiler c = story();
  Names n;
  names_from_compiler(c, "manifests story", &n);

  SECTION("Admin Deny to the metadata address") {
    ExplainResult r = explain(c, n, "shop/front", "169.254.169.254", "80/TCP");
    std::stringstream out;
    print_explain(out, r);
    auto l = lines(out.str());
    CHECK(l[3] == "Verdict:  DENY  D(AdminDeny) at shop/front egress");
    CHECK(tier_lines(r) == std::vector<std::string>{
                               "  egress at shop/front:",
                               "    Admin           cnp/deny-metadata egress[0] Deny (no-instance-metadata; Admin "
                               "tier, priority 1): decided"});
    auto j = explain_json(r);
    CHECK(j["verdict"] == "D(AdminDeny)");
    CHECK(j["egress"]["reason"] == "AdminDeny");
    CHECK(j["egress"]["tier"] == "Admin");
    CHECK(j["egress"]["cluster_rule"]["text"] == "cnp/deny-metadata egress[0] Deny (no-instance-metadata)");
  }
  SECTION("Admin Accept into a namespace whose NetworkPolicy denies everything") {
    ExplainResult r = explain(c, n, "monitoring/prom", "payments/api", "9090/TCP");
    CHECK(r.verdict.allowed);
    CHECK(tier_lines(r) ==
          std::vector<std::string>{
              "  egress at monitoring/prom:", "    Admin           no rule matches",
              "    NetworkPolicy   not isolated for egress: on to the Baseline tier",
              "    Baseline        no rule matches", "    default         allowed: no tier denies it",
              "  ingress at payments/api:",
              "    Admin           cnp/monitoring-may-scrape ingress[0] Accept (prometheus-scrapes; Admin tier, "
              "priority 10): decided"});
    CHECK(explain_json(r)["ingress"]["reason"] == "AdminAccept");
  }
  SECTION("Baseline Deny, and the namespace that opts out with a NetworkPolicy") {
    ExplainResult denied = explain(c, n, "shop/front", "dev/tool", "80/TCP");
    std::stringstream out;
    print_explain(out, denied);
    CHECK(lines(out.str())[3] == "Verdict:  DENY  D(BaselineDeny) at dev/tool ingress");
    auto steps = tier_lines(denied);
    REQUIRE(steps.size() >= 4);
    CHECK(std::vector<std::string>(steps.end() - 4, steps.end()) ==
          std::vector<std::string>{"  ingress at dev/tool:", "    Admin           no rule matches",
                                   "    NetworkPolicy   not isolated for ingress: on to the Baseline tier",
                                   "    Baseline        cnp/default-deny-pod-ingress ingress[0] Deny (deny-from-pods; "
                                   "Baseline tier, priority 100): decided"});

    ExplainResult opted = explain(c, n, "dev/tool", "shop/front", "80/TCP");
    CHECK(opted.verdict.allowed);
    auto o = tier_lines(opted);
    REQUIRE(o.size() >= 3);
    CHECK(std::vector<std::string>(o.end() - 3, o.end()) ==
          std::vector<std::string>{"  ingress at shop/front:", "    Admin           no rule matches",
                                   "    NetworkPolicy   allowed by shop/open-shop ingress[0]: from anywhere on any "
                                   "port: decided"});
  }
  SECTION("a Pass is named, and where evaluation went on") {
    auto parsed = parse_manifests(R"(
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: payments-owners-decide}
spec:
  tier: Admin
  priority: 5
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: payments}}}
  ingress:
  - {name: to-networkpolicy, action: Pass, from: [{namespaces: {}}]}
)");
    REQUIRE(parsed.errors.empty());
    Compiler with_pass = story();
    with_pass.upsert(std::get<ClusterNetworkPolicy>(parsed.objects.front()));
    with_pass.commit();
    ExplainResult r = explain(with_pass, n, "monitoring/prom", "payments/api", "9090/TCP");
    CHECK_FALSE(r.verdict.allowed);  // the Pass comes first: payments' deny-all decides
    auto steps = tier_lines(r);
    REQUIRE(steps.size() >= 3);
    CHECK(std::vector<std::string>(steps.end() - 3, steps.end()) ==
          std::vector<std::string>{
              "  ingress at payments/api:",
              "    Admin           cnp/payments-owners-decide ingress[0] Pass (to-networkpolicy; Admin tier, priority "
              "5): on to the NetworkPolicy step",
              "    NetworkPolicy   denied: isolated for ingress by payments/deny-all-ingress; none of its ingress "
              "rules allows monitoring/prom (10.5.3.10) on 9090/TCP: decided"});
    auto j = explain_json(r);
    CHECK(j["ingress"]["tier"] == "NetworkPolicy");
    REQUIRE(j["ingress"]["passed"].size() == 1);
    CHECK(j["ingress"]["passed"][0]["action"] == "Pass");
  }
  SECTION("the agent's /v1/verdict carries the tiers to the CLI") {
    ExplainResult r = explain(c, n, "shop/front", "169.254.169.254", "80/TCP");
    Verdict back;
    REQUIRE(verdict_from_agent_json(verdict_json(r.verdict), n, &back));
    CHECK(back.egress.tier == VerdictTier::Admin);
    REQUIRE(back.egress.cnp_rule);
    CHECK(*back.egress.cnp_rule == *r.verdict.egress.cnp_rule);
    CHECK(side_reason(back.egress) == BF_R_ADMIN_DENY);
  }
}

TEST_CASE("policy lists ClusterNetworkPolicies by tier and priority, offline and from the agent", "[cli][policy][cnp]") {
  Compiler c = story();
  auto all = cluster_summaries(c, c.warnings());
  std::stringstream out;
  print_cluster_list(out, all);
  auto l = lines(out.str());
  REQUIRE(l.size() == 6);
  CHECK(l[0] == "ClusterNetworkPolicies, in evaluation order (Admin, then NetworkPolicies, then Baseline): 3");
  CHECK(fields(l[2]) == std::vector<std::string>{"TIER", "PRIORITY", "POLICY", "SUBJECT", "PODS", "RULES", "WARNINGS"});
  CHECK(fields(l[3]) == std::vector<std::string>{"Admin", "1", "cnp/deny-metadata", "namespaces{}", "4", "0 in, 1 out", "0"});
  CHECK(fields(l[4]) ==
        std::vector<std::string>{"Admin", "10", "cnp/monitoring-may-scrape", "namespaces{}", "4", "1 in, 0 out", "0"});
  CHECK(fields(l[5]) == std::vector<std::string>{"Baseline", "100", "cnp/default-deny-pod-ingress",
                                                 "namespaces{kubernetes.io/metadata.name NotIn (kube-system,monitoring)}",
                                                 "3", "1 in, 0 out", "0"});

  std::stringstream detail;
  print_cluster_detail(detail, all[1]);
  auto d = lines(detail.str());
  CHECK(d[0] == "Policy:     cnp/monitoring-may-scrape (ClusterNetworkPolicy)");
  CHECK(d[1] == "Tier:       Admin, priority 10");
  CHECK(d[3] == "Selects:    4 pods: dev/tool, monitoring/prom, payments/api, shop/front");
  CHECK(d[6] ==
        "ingress[0]  prometheus-scrapes  Accept from pods(namespaces{kubernetes.io/metadata.name=monitoring} "
        "pods{app=prometheus}) on 9090/TCP");

  // Agent mode: /v1/policies serves each in the API's form, the CLI reads it back.
  nlohmann::json served = nlohmann::json::array();
  for (const auto& [name, p] : c.cluster_policies()) {
    nlohmann::json j = cluster_policy_json(p);
    j["selects"] = {"payments/api"};
    served.push_back(j);
  }
  std::vector<std::string> errors;
  auto from_agent = cluster_summaries_from_agent(served, &errors);
  CHECK(errors.empty());
  REQUIRE(from_agent.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(from_agent[i].key() == all[i].key());
    CHECK(cluster_summary_json(from_agent[i])["rules"] == cluster_summary_json(all[i])["rules"]);
    CHECK(from_agent[i].selected == std::vector<std::string>{"payments/api"});
  }
}

TEST_CASE("a NetworkPolicy of a namespace called cnp keeps its warnings apart from the ClusterNetworkPolicy of that name",
          "[cli][policy][cnp][lint]") {
  Compiler c = story();
  auto parsed = parse_manifests(R"(
apiVersion: v1
kind: Namespace
metadata: {name: cnp}
---
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: deny-metadata, namespace: cnp}
spec:
  podSelector: {matchLabels: {app: nobody}}
  ingress: [{}]
)");
  REQUIRE(parsed.errors.empty());
  for (const auto& o : parsed.objects) std::visit([&](const auto& obj) { c.upsert(obj); }, o);
  c.commit();
  auto warnings = c.warnings();
  // Both are "cnp/deny-metadata" in text; only the NetworkPolicy has a warning.
  REQUIRE(std::count_if(warnings.begin(), warnings.end(),
                        [](const Warning& w) { return w.policy == "cnp/deny-metadata" && !w.cluster; }) == 1);
  auto all = cluster_summaries(c, warnings);
  REQUIRE(all.front().key() == "cnp/deny-metadata");
  CHECK(all.front().warnings.empty());
}

TEST_CASE("metrics count packets and flows per ClusterNetworkPolicy rule", "[metrics][cnp]") {
  AgentSnapshot s;
  s.cluster_rules = std::make_shared<const std::map<uint32_t, CnpRuleRef>>(
      std::map<uint32_t, CnpRuleRef>{{kDenyMeta, deny_meta()}, {kScrape, scrape()}});
  const bf_flow_key out = key("10.5.1.10", "169.254.169.254", 80, BF_DIR_EGRESS);
  const bf_flow_key in = key("10.5.3.10", "10.5.0.10", 9090, BF_DIR_INGRESS);
  std::vector<FlowRecord> flows = {
      {out, value(BF_ACT_DROP, BF_R_ADMIN_DENY, kDenyMeta, 3)},
      {key("10.5.2.10", "169.254.169.254", 80, BF_DIR_EGRESS), value(BF_ACT_DROP, BF_R_ADMIN_DENY, kDenyMeta, 2)},
      {in, value(BF_ACT_FORWARD, BF_R_ADMIN_ACCEPT, kScrape, 10)},
      // Not counted: a reply, and a NetworkPolicy decision.
      {in, [] {
         auto v = value(BF_ACT_FORWARD, BF_R_REPLY, kScrape, 10);
         v.flags = BF_FLOW_REPLY;
         return v;
       }()},
      {in, value(BF_ACT_FORWARD, BF_R_POLICY, 3, 4)},
  };
  PromWriter w;
  write_cluster_rule_counts(w, cluster_rule_counts(flows, s));
  const std::string text = w.text();
  CHECK(text.find("bpfence_cluster_policy_rule_packets{policy=\"deny-metadata\",tier=\"Admin\",direction=\"egress\","
                  "rule=\"0\",action=\"Deny\"} 5\n") != std::string::npos);
  CHECK(text.find("bpfence_cluster_policy_rule_flows{policy=\"deny-metadata\",tier=\"Admin\",direction=\"egress\","
                  "rule=\"0\",action=\"Deny\"} 2\n") != std::string::npos);
  CHECK(text.find("bpfence_cluster_policy_rule_packets{policy=\"monitoring-may-scrape\",tier=\"Admin\","
                  "direction=\"ingress\",rule=\"0\",action=\"Accept\"} 10\n") != std::string::npos);
  CHECK(text.find("bpfence_cluster_policy_rule_flows{policy=\"monitoring-may-scrape\",tier=\"Admin\","
                  "direction=\"ingress\",rule=\"0\",action=\"Accept\"} 1\n") != std::string::npos);
}
