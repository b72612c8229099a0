// The CLI's output formats on made-up flows and a small compiled cluster:
// flow indexes and pairing, --match filtering, the flow table and its JSON,
// follow lines, explain's words, tables and numbers, option parsing, and the
// lenient decoding of the agent's JSON. No kernel: the datapath tests
// (test_cli_datapath.cpp) run the same code on real flows.
#include <arpa/inet.h>

#include <catch2/catch.hpp>
#include <set>
#include <sstream>

#include "bpfence/parse.h"
#include "bpfence/reasons.h"
#include "cli_explain.h"
#include "cli_flows.h"
#include "cli_options.h"
#include "cli_table.h"

using namespace bpfence;
using namespace bpfence::cli;

namespace {

constexpr uint64_t kSec = 1000000000ull;

bf_flow_key key(const char* src, uint16_t sport, const char* dst, uint16_t dport, uint8_t proto, bf_direction dir,
                uint32_t endpoint) {
  bf_flow_key k{};
  auto s = *IpAddress::parse(src), d = *IpAddress::parse(dst);
  std::copy(s.bytes.begin(), s.bytes.end(), k.src);
  std::copy(d.bytes.begin(), d.bytes.end(), k.dst);
  k.sport = htons(sport);
  k.dport = htons(dport);
  k.proto = proto;
  k.direction = dir;
  k.endpoint_id = endpoint;
  return k;
}

bf_flow_key reversed(const bf_flow_key& k) {
  bf_flow_key r = k;
  std::copy(k.dst, k.dst + 16, r.src);
  std::copy(k.src, k.src + 16, r.dst);
  r.sport = k.dport;
  r.dport = k.sport;
  r.direction = k.direction ^ 1;
  return r;
}

FlowRecord flow(const bf_flow_key& k, uint8_t action, uint8_t reason, uint32_t rule, uint64_t packets,
                uint64_t bytes, uint8_t tcp, uint64_t first, uint64_t last, bool reply = false) {
  FlowRecord f{k, {}};
  f.value.reverse = reversed(k);
  f.value.action = action;
  f.value.reason = reason;
  f.value.rule_id = rule;
  f.value.packets = packets;
  f.value.bytes = bytes;
  f.value.tcp_flags = tcp;
  f.value.first_seen_ns = first;
  f.value.last_seen_ns = last;
  f.value.flags = reply ? BF_FLOW_REPLY : 0;
  return f;
}

EndpointRecord endpoint(uint32_t ifindex, uint32_t id, const char* ip, bool in, bool out) {
  EndpointRecord e{ifindex, {}};
  e.endpoint.endpoint_id = id;
  e.endpoint.ingress_isolated = in;
  e.endpoint.egress_isolated = out;
  auto a = *IpAddress::parse(ip);
  std::copy(a.bytes.begin(), a.bytes.end(), e.endpoint.ip4);
  return e;
}

// client 10.1.0.10 (endpoint 1) -> web 10.1.0.20:80 (endpoint 2) allowed by
// rule 7; client -> db 10.1.0.30:5432 (endpoint 3) dropped at db's ingress.
FlowSnapshot snapshot() {
  FlowSnapshot s;
  s.pin_dir = "/sys/fs/bpf/bpfence/n1";
  s.table_size = 4096;
  s.now_ns = 100 * kSec;
  auto c2w = key("10.1.0.10", 40000, "10.1.0.20", 80, 6, BF_DIR_EGRESS, 1);
  auto w_in = key("10.1.0.10", 40000, "10.1.0.20", 80, 6, BF_DIR_INGRESS, 2);
  auto c2d = key("10.1.0.10", 40001, "10.1.0.30", 5432, 6, BF_DIR_EGRESS, 1);
  auto d_in = key("10.1.0.10", 40001, "10.1.0.30", 5432, 6, BF_DIR_INGRESS, 3);
  s.flows = {
      flow(c2w, BF_ACT_FORWARD, BF_R_NOT_ISOLATED, 0, 3, 180, 0x12, 90 * kSec, 99 * kSec),
      flow(reversed(c2w), BF_ACT_FORWARD, BF_R_REPLY, 0, 2, 120, 0x12, 90 * kSec, 99 * kSec, true),
      flow(w_in, BF_ACT_FORWARD, BF_R_POLICY, 7, 3, 180, 0x12, 90 * kSec, 99 * kSec),
      flow(reversed(w_in), BF_ACT_FORWARD, BF_R_REPLY, 7, 2, 120, 0x12, 90 * kSec, 99 * kSec, true),
      flow(c2d, BF_ACT_FORWARD, BF_R_NOT_ISOLATED, 0, 1, 60, 0x02, 95 * kSec, 95 * kSec),
      flow(reversed(c2d), BF_ACT_FORWARD, BF_R_REPLY, 0, 0, 0, 0, 95 * kSec, 95 * kSec, true),
      flow(d_in, BF_ACT_DROP, BF_R_FW_POLICY, 0, 1, 60, 0x02, 95 * kSec, 95 * kSec),
  };
  // Interface indexes no test machine has, so no interface name shows up.
  s.endpoints = {endpoint(900011, 1, "10.1.0.10", false, false), endpoint(900012, 2, "10.1.0.20", true, false),
                 endpoint(900013, 3, "10.1.0.30", true, false)};
  s.counters = {{BF_ACT_FORWARD, BF_R_NOT_ISOLATED, 4, 240}, {BF_ACT_FORWARD, BF_R_POLICY, 3, 180},
                {BF_ACT_FORWARD, BF_R_REPLY, 4, 240}, {BF_ACT_DROP, BF_R_FW_POLICY, 1, 60}};
  return s;
}

Names names() {
  Names n;
  n.source = "agent 127.0.0.1:9617";
  n.rules_known = true;
  n.add_pod({"dev/client", {*IpAddress::parse("10.1.0.10")}, {}, {}, true});
  n.add_pod({"dev/web", {*IpAddress::parse("10.1.0.20")}, {"dev/web-allow"}, {}, true});
  n.add_pod({"dev/db", {*IpAddress::parse("10.1.0.30")}, {"dev/db-deny"}, {}, true});
  n.add_rule(7, RuleRef{"dev/web-allow", BF_DIR_INGRESS, 0});
  return n;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string l; std::getline(ss, l);) out.push_back(l);
  return out;
}

FlowFilter filter(const std::string& match) {
  FlowFilter f;
  REQUIRE(FlowMatch::parse(match, &f.match));
  return f;
}

std::string i(uint32_t v) { return std::to_string(v); }

// A table row's cells: columns are two or more spaces apart, and cells
// hold single spaces only.
std::vector<std::string> cells(const std::string& line) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < line.size()) {
    size_t end = line.find("  ", pos);
    out.push_back(line.substr(pos, end == std::string::npos ? std::string::npos : end - pos));
    if (end == std::string::npos) break;
    pos = line.find_first_not_of(' ', end);
  }
  return out;
}

}  // namespace

TEST_CASE("flow indexes: stable, distinct, inside the table", "[cli][flow]") {
  auto s = snapshot();
  auto idx = flow_indexes(s.flows, s.table_size);
  REQUIRE(idx.size() == s.flows.size());
  std::set<uint32_t> distinct(idx.begin(), idx.end());
  CHECK(distinct.size() == idx.size());
  for (auto v : idx) CHECK(v < 4096);
  // The order the map was read in does not change a flow's index.
  auto shuffled = s.flows;
  std::reverse(shuffled.begin(), shuffled.end());
  auto idx2 = flow_indexes(shuffled, s.table_size);
  for (size_t n = 0; n < idx.size(); ++n) CHECK(idx2[idx.size() - 1 - n] == idx[n]);
  // Collisions move to the next free slot: a table of 7 holds 7 distinct.
  auto tiny = flow_indexes(s.flows, 7);
  CHECK(std::set<uint32_t>(tiny.begin(), tiny.end()).size() == 7);
}

TEST_CASE("flow rows: each original followed by its reverse, indexes cross-linked", "[cli][flow]") {
  auto s = snapshot();
  auto idx = flow_indexes(s.flows, s.table_size);
  auto rows = flow_rows(s, {});
  REQUIRE(rows.size() == 7);
  for (size_t n = 0; n < rows.size(); ++n) {
    const auto& r = rows[n];
    if (r.flow->value.flags & BF_FLOW_REPLY) {
      // A reply row comes right after the flow it answers.
      REQUIRE(n > 0);
      CHECK(rows[n - 1].reverse_index == r.index);
      CHECK(r.reverse_index == rows[n - 1].index);
    }
  }
  // The drop has no reverse entry.
  auto drop = std::find_if(rows.begin(), rows.end(), [](const FlowRow& r) { return r.flow->value.action; });
  REQUIRE(drop != rows.end());
  CHECK_FALSE(drop->reverse_index);
  CHECK(drop->index == idx[6]);
}

TEST_CASE("flow --match: an IP, IP:port, two terms, protocol and action", "[cli][flow]") {
  auto s = snapshot();
  auto count = [&](const std::string& m) { return flow_rows(s, filter(m)).size(); };
  CHECK(count("") == 7);
  CHECK(count("10.1.0.20") == 4);         // both endpoints of client -> web
  CHECK(count("10.1.0.20:80") == 4);      // the port on the web side, either direction
  CHECK(count("10.1.0.20:81") == 0);
  CHECK(count("10.1.0.10:40000") == 4);   // the client's side of the same connection
  CHECK(count("10.1.0.10") == 7);
  CHECK(count("10.1.0.10,10.1.0.30") == 3);            // two terms: flows between them
  CHECK(count("10.1.0.10:40001,10.1.0.30:5432") == 3);
  CHECK(count("10.1.0.20,10.1.0.30") == 0);
  CHECK(count("10.1.0.0/24 drop") == 1);
  CHECK(count("udp") == 0);
  CHECK(count("D(FwPolicy)") == 1);
  FlowFilter pod;
  pod.pod_ips = {*IpAddress::parse("10.1.0.30")};
  CHECK(flow_rows(s, pod).size() == 3);
}

TEST_CASE("flow table: header, pairs, verdicts, rules and isolating policies", "[cli][flow]") {
  auto s = snapshot();
  auto idx = flow_indexes(s.flows, s.table_size);
  std::stringstream out;
  auto n = names();
  print_flow_table(out, s, flow_rows(s, filter("10.1.0.20")), n);
  auto l = lines(out.str());
  REQUIRE(l.size() == 10);
  CHECK(l[0] == "Flow table /sys/fs/bpf/bpfence/n1: 7 entries of 4096, showing 4");
  CHECK(l[1] == "Packets: forwarded 11 (NotIsolated 4, Policy 3, Reply 4), dropped 1 (FwPolicy 1)");
  CHECK(l[2] ==
        "Action: F=Forward, D(reason)=Drop, *=decided before the last policy change (re-decided on its next "
        "packet)");
  CHECK(l[3] == "TCP flags seen: F=FIN S=SYN R=RST P=PSH A=ACK U=URG; names: agent 127.0.0.1:9617");
  CHECK(l[4].empty());
  CHECK(l[5].starts_with("INDEX"));
  // The two pairs of client -> web, in index order of their originals.
  std::vector<std::string> want_client = {
      i(idx[0]) + "<=>" + i(idx[1]), "10.1.0.10:40000 (dev/client)", "10.1.0.20:80 (dev/web)", "tcp",
      "dev/client", "egress", "F", "(not isolated)", "SA", "3/180", "10s", "1s"};
  std::vector<std::string> want_client_reply = {
      i(idx[1]) + "<=>" + i(idx[0]), "10.1.0.20:80 (dev/web)", "10.1.0.10:40000 (dev/client)", "tcp",
      "dev/client", "ingress", "F", "reply", "SA", "2/120", "10s", "1s"};
  std::vector<std::string> want_web = {
      i(idx[2]) + "<=>" + i(idx[3]), "10.1.0.10:40000 (dev/client)", "10.1.0.20:80 (dev/web)", "tcp", "dev/web",
      "ingress", "F", "dev/web-allow ingress[0]", "SA", "3/180", "10s", "1s"};
  std::vector<std::string> want_web_reply = {
      i(idx[3]) + "<=>" + i(idx[2]), "10.1.0.20:80 (dev/web)", "10.1.0.10:40000 (dev/client)", "tcp", "dev/web",
      "egress", "F", "reply to dev/web-allow ingress[0]", "SA", "2/120", "10s", "1s"};
  std::vector<std::vector<std::string>> want = idx[0] < idx[2]
                                                   ? std::vector{want_client, want_client_reply, want_web, want_web_reply}
                                                   : std::vector{want_web, want_web_reply, want_client, want_client_reply};
  for (size_t r = 0; r < 4; ++r) CHECK(cells(l[6 + r]) == want[r]);

  SECTION("a drop names the policies that isolate the pod") {
    std::stringstream drop;
    print_flow_table(drop, s, flow_rows(s, filter("drop")), n);
    auto dl = lines(drop.str());
    REQUIRE(dl.size() == 7);
    CHECK(cells(dl[6]) == std::vector<std::string>{i(idx[6]), "10.1.0.10:40001 (dev/client)",
                                                   "10.1.0.30:5432 (dev/db)", "tcp", "dev/db", "ingress",
                                                   "D(FwPolicy)", "isolated by dev/db-deny", "S", "1/60", "5s",
                                                   "5s"});
  }
  SECTION("without names: ids, and the interface when it exists") {
    std::stringstream bare;
    print_flow_table(bare, s, flow_rows(s, filter("drop")), Names{});
    auto bl = lines(bare.str());
    CHECK(bl[3].ends_with("names: none (agent down; try --manifests DIR)"));
    CHECK(cells(bl[6]) == std::vector<std::string>{i(idx[6]), "10.1.0.10:40001", "10.1.0.30:5432", "tcp", "ep3",
                                                   "ingress", "D(FwPolicy)", "-", "S", "1/60", "5s", "5s"});
    std::stringstream ids;
    print_flow_table(ids, s, flow_rows(s, filter("10.1.0.20 ingress")), Names{});
    auto il = lines(ids.str());
    REQUIRE(il.size() == 8);
    std::set<std::string> rules;
    for (size_t r = 6; r < 8; ++r) rules.insert(cells(il[r])[7]);
    CHECK(rules == std::set<std::string>{"#7", "reply"});
  }
  SECTION("a verdict from before the last policy change is marked") {
    s.endpoints[2].endpoint.generation = 1;  // db's policy changed since the drop
    std::stringstream stale;
    print_flow_table(stale, s, flow_rows(s, filter("drop")), n);
    CHECK(cells(lines(stale.str())[6])[6] == "D(FwPolicy)*");
    CHECK(flow_table_json(s, flow_rows(s, filter("drop")), n)["flows"][0]["stale"] == true);
    CHECK(flow_table_json(s, flow_rows(s, filter("10.1.0.20")), n)["flows"][0]["stale"] == false);
  }
  SECTION("nothing matches") {
    std::stringstream none;
    print_flow_table(none, s, flow_rows(s, filter("udp")), n);
    CHECK(lines(none.str()).back() == "no flows match");
  }
}

TEST_CASE("flow table JSON: the shared flow form plus index, pair, names", "[cli][flow]") {
  auto s = snapshot();
  auto idx = flow_indexes(s.flows, s.table_size);
  auto j = flow_table_json(s, flow_rows(s, {}), names());
  CHECK(j["table_size"] == 4096);
  CHECK(j["entries"] == 7);
  CHECK(j["dropped"]["FwPolicy"]["packets"] == 1);
  CHECK(j["forwarded"]["Policy"]["bytes"] == 180);
  REQUIRE(j["flows"].size() == 7);
  for (const auto& f : j["flows"]) {
    if (f["verdict"] == "D(FwPolicy)") {
      CHECK(f["index"] == idx[6]);
      CHECK(f["reverse_index"].is_null());
      CHECK(f["pod"] == "dev/db");
      CHECK(f["src_pod"] == "dev/client");
      CHECK(f["isolating"] == nlohmann::json::array({"dev/db-deny"}));
      CHECK(f["rule_text"] == "isolated by dev/db-deny");
      CHECK(f["last_seen_ago_s"] == 5.0);
    }
    if (f["reason"] == "Policy") {
      CHECK(f["index"] == idx[2]);
      CHECK(f["reverse_index"] == idx[3]);
      CHECK(f["rule"] == "dev/web-allow ingress[0]");
      CHECK(f["tcp_flags"] == "SA");
      CHECK(f["verdict"] == "F");
    }
  }
}

TEST_CASE("follow: one line per drop event", "[cli][flow]") {
  auto s = snapshot();
  bf_event ev{};
  ev.type = BF_EV_DROP;
  ev.action = BF_ACT_DROP;
  ev.reason = BF_R_FW_POLICY;
  ev.key = key("10.1.0.10", 40002, "10.1.0.30", 5432, 6, BF_DIR_INGRESS, 3);
  std::string line = event_line(ev, 0, s, names());
  // The time of day is local; the rest is fixed.
  CHECK(line.substr(15) ==
        " DROP D(FwPolicy) 10.1.0.10:40002 (dev/client) -> 10.1.0.30:5432 (dev/db) tcp at dev/db ingress: isolated by "
        "dev/db-deny");
  auto j = event_json(ev, 123, s, names());
  CHECK(j["type"] == "drop");
  CHECK(j["time_ns"] == 123);
  CHECK(j["verdict"] == "D(FwPolicy)");
  CHECK(j["endpoint"] == "dev/db");
  CHECK(j["rule_text"] == "isolated by dev/db-deny");
}

TEST_CASE("explain: the words and the JSON for each side", "[cli][explain]") {
  Compiler c({"", {}});
  auto parsed = parse_manifests(R"(
kind: Namespace
apiVersion: v1
metadata: {name: dev}
---
kind: Pod
apiVersion: v1
metadata: {name: client, namespace: dev, labels: {app: client}}
spec: {nodeName: n1}
status: {podIP: 10.1.0.10}
---
kind: Pod
apiVersion: v1
metadata: {name: web, namespace: dev, labels: {app: web}}
spec: {nodeName: n1}
status: {podIP: 10.1.0.20}
---
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web-allow, namespace: dev}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {app: client}}}], ports: [{port: 80}]}]
)");
  REQUIRE(parsed.errors.empty());
  for (auto& o : parsed.objects) std::visit([&](auto& x) { c.upsert(x); }, o);
  c.commit();
  Names n;
  names_from_compiler(c, "manifests test", &n);

  ExplainResult r;
  REQUIRE(resolve_host("dev/client", n, &r.from));
  REQUIRE(resolve_host("10.1.0.20", n, &r.to));
  CHECK(r.to.pod == "dev/web");
  r.source = "manifests test";
  r.policies = c.policies();

  SECTION("allowed by a rule") {
    REQUIRE(parse_port_spec("80/tcp", &r.proto, &r.port));
    r.verdict = c.verdict(r.from.ip, r.to.ip, r.proto, r.port);
    std::stringstream out;
    print_explain(out, r);
    auto l = lines(out.str());
    REQUIRE(l.size() == 9);
    CHECK(l[0] == "From:     dev/client (10.1.0.10)");
    CHECK(l[1] == "To:       dev/web (10.1.0.20)");
    CHECK(l[2] == "Port:     80/TCP");
    CHECK(l[3] == "Verdict:  ALLOW");
    CHECK(l[4] == "Source:   manifests test");
    CHECK(l[7] ==
          "egress (source)        dev/client  no        allow    allowed: not isolated for egress (no policy "
          "selecting it lists Egress)");
    CHECK(l[8] ==
          "ingress (destination)  dev/web     yes       allow    allowed by dev/web-allow ingress[0]: from "
          "podSelector{app=client} on 80/TCP");
    auto j = explain_json(r);
    CHECK(j["allowed"] == true);
    CHECK(j["verdict"] == "F");
    CHECK(j["ingress"]["rule"]["text"] == "dev/web-allow ingress[0]");
    CHECK(j["ingress"]["reason"] == "Policy");
    CHECK(j["egress"]["reason"] == "NotIsolated");
  }
  SECTION("denied: the isolating policy is named") {
    REQUIRE(parse_port_spec("ICMP", &r.proto, &r.port));
    r.verdict = c.verdict(r.from.ip, r.to.ip, r.proto, r.port);
    std::stringstream out;
    print_explain(out, r);
    auto l = lines(out.str());
    CHECK(l[3] == "Verdict:  DENY  D(FwPolicy) at dev/web ingress");
    CHECK(l[8] ==
          "ingress (destination)  dev/web     yes       deny     denied: isolated for ingress by dev/web-allow; "
          "none of its ingress rules allows dev/client (10.1.0.10) on ICMP");
    auto j = explain_json(r);
    CHECK(j["allowed"] == false);
    CHECK(j["verdict"] == "D(FwPolicy)");
    CHECK(j["ingress"]["isolating"] == nlohmann::json::array({"dev/web-allow"}));
    CHECK(j["ingress"]["rule"].is_null());
  }
  SECTION("an address outside the cluster is not a pod") {
    REQUIRE(resolve_host("192.0.2.1", n, &r.from));
    REQUIRE(parse_port_spec("80", &r.proto, &r.port));
    r.verdict = c.verdict(r.from.ip, r.to.ip, r.proto, r.port);
    CHECK(side_explanation(r.verdict.egress, BF_DIR_EGRESS, r) ==
          "not a pod: no NetworkPolicy applies at 192.0.2.1");
    CHECK_FALSE(r.verdict.allowed);
    // An agent only knows its own node's pods: it does not guess.
    r.both_sides_known = false;
    CHECK(side_explanation(r.verdict.egress, BF_DIR_EGRESS, r) ==
          "not evaluated here: 192.0.2.1 is not a pod of this agent's node (its own node's agent decides this side)");
  }
  SECTION("bad input") {
    ExplainHost h;
    CHECK_FALSE(resolve_host("dev/nope", n, &h));
    CHECK_FALSE(resolve_host("nope", n, &h));
    uint8_t proto;
    uint16_t port;
    CHECK_FALSE(parse_port_spec("80/ICMP", &proto, &port));
    CHECK_FALSE(parse_port_spec("0/TCP", &proto, &port));
    CHECK_FALSE(parse_port_spec("http", &proto, &port));
    REQUIRE(parse_port_spec("53/udp", &proto, &port));
    CHECK((proto == 17 && port == 53));
  }
  SECTION("the agent's verdict JSON reads back") {
    REQUIRE(parse_port_spec("80/TCP", &r.proto, &r.port));
    r.verdict = c.verdict(r.from.ip, r.to.ip, r.proto, r.port);
    Verdict back;
    REQUIRE(verdict_from_agent_json(explain_json(r), n, &back));
    CHECK(back.allowed == r.verdict.allowed);
    CHECK(back.ingress.rule == r.verdict.ingress.rule);
    CHECK(back.ingress.reason == r.verdict.ingress.reason);
    CHECK(back.egress.isolated == r.verdict.egress.isolated);
    Verdict s;
    REQUIRE(verdict_from_agent_json(
        nlohmann::json::parse(R"({"allowed":false,"egress":{"evaluated":false},
          "ingress":{"evaluated":true,"isolated":true,"allowed":false,"reason":8,"isolating":["dev/x"]}})"),
        n, &s));
    CHECK(s.ingress.reason == BF_R_FW_POLICY);
    CHECK_FALSE(s.egress.evaluated);
    CHECK_FALSE(verdict_from_agent_json(nlohmann::json::parse("{}"), n, &s));
  }
}

TEST_CASE("agent JSON: pods and rules decode from lists or objects", "[cli][names]") {
  Names n;
  decode_agent_pods(nlohmann::json::parse(R"({"endpoints":[
      {"pod":"dev/web","ips":["10.1.0.20","fd00::20"],"ingress_policies":["dev/a"],"egress_policies":[]},
      {"namespace":"dev","name":"db","ip":"10.1.0.30"}]})"),
                    &n);
  CHECK(n.pod_at(*IpAddress::parse("fd00::20")) == "dev/web");
  CHECK(n.pod_at(*IpAddress::parse("10.1.0.30")) == "dev/db");
  REQUIRE(n.pod("dev/web"));
  CHECK(n.pod("dev/web")->isolation_known);
  CHECK(n.pod("dev/web")->ingress_policies == std::vector<std::string>{"dev/a"});
  CHECK_FALSE(n.pod("dev/db")->isolation_known);
  decode_agent_rules(nlohmann::json::parse(R"({"rules":{"3":{"policy":"dev/a","direction":"egress","index":2}}})"),
                     &n);
  decode_agent_rules(nlohmann::json::parse(R"([{"id":4,"policy":"dev/b","direction":"ingress","index":0}])"), &n);
  CHECK(n.rule_text(3) == "dev/a egress[2]");
  CHECK(n.rule_text(4) == "dev/b ingress[0]");
  CHECK(n.rule_text(5) == "#5");
}

TEST_CASE("tables, ages and counts", "[cli][format]") {
  Table t({"A", "LONGER", "C"});
  t.add({"xxxx", "y", ""});
  t.add({"", "zz", "w"});
  std::stringstream out;
  t.print(out);
  CHECK(out.str() == "A     LONGER  C\nxxxx  y\n      zz      w\n");
  CHECK(age_text(0) == "0s");
  CHECK(age_text(59 * kSec) == "59s");
  CHECK(age_text(125 * kSec) == "2m05s");
  CHECK(age_text(3720 * kSec) == "1h02m");
  CHECK(age_text(90000 * kSec) == "1d01h");
  CHECK(count_text(9999) == "9999");
  CHECK(count_text(15300) == "15K");
  CHECK(count_text(2500000) == "2.5M");
  CHECK(join({}) == "-");
  CHECK(join({"a", "b"}) == "a, b");
}

TEST_CASE("options: values, flags, numbers, --help, errors", "[cli][options]") {
  std::string node, out = "table";
  bool follow = false;
  long count = 0;
  std::vector<std::string> terms;
  OptionParser p("bpfence x", "test");
  p.value("--node", &node, "NAME", "node");
  p.value("-o,--output", &out, "FORMAT", "format");
  p.flag("-f,--follow", &follow, "follow");
  p.number("--count", &count, "N", "count");
  p.values("--term", &terms, "T", "terms");
  bool help = false;
  std::vector<std::string> pos;
  REQUIRE(p.parse({"--node", "n1", "-f", "--count=3", "--term", "a", "--term", "b", "ns/x"}, &pos,
                  &help));
  CHECK(node == "n1");
  REQUIRE(p.parse({"-o", "json"}, &pos, &help));
  CHECK(out == "json");
  CHECK(follow);
  CHECK(count == 3);
  CHECK(terms == std::vector<std::string>{"a", "b"});
  CHECK(pos == std::vector<std::string>{"ns/x"});
  CHECK_FALSE(help);
  REQUIRE(p.parse({"--node", "n", "--help"}, nullptr, &help));
  CHECK(help);
  CHECK(p.parse({"--bogus"}, nullptr, &help).message() == "unknown option --bogus");
  CHECK(p.parse({"--node"}, nullptr, &help).message() == "option --node needs a value (NAME)");
  CHECK(p.parse({"--count", "x"}, nullptr, &help).message() == "--count: \"x\" is not a number");
  CHECK(p.parse({"extra"}, nullptr, &help).message() == "unexpected argument \"extra\"");
  CHECK(p.parse({"-f=1"}, nullptr, &help).message() == "unknown option -f=1");
}

TEST_CASE("agent JSON: /v1/pods names remote pods without hiding local isolation", "[cli][names]") {
  Names n;
  // /v1/endpoints first (local pods and their isolation), then /v1/pods in
  // the agent's form (every pod, local or not), as names_from_agent does.
  decode_agent_pods(nlohmann::json::parse(R"({"generation":3,"endpoints":[
      {"pod":"dev/web","ips":["10.1.0.20"],"ingress_policies":["dev/a"],"egress_policies":[]}]})"),
                    &n);
  decode_agent_pods(nlohmann::json::parse(R"({"generation":3,"pods":[
      {"pod":"dev/web","namespace":"dev","name":"web","node":"n1","ips":["10.1.0.20"],"labels":{"app":"web"},
       "host_network":false,"local":true,"identity":7},
      {"pod":"dev/db","namespace":"dev","name":"db","node":"n2","ips":["10.2.0.30","fd00::30"],"labels":{},
       "host_network":false,"local":false,"identity":9}]})"),
                    &n);
  CHECK(n.pod_at(*IpAddress::parse("10.2.0.30")) == "dev/db");
  CHECK(n.pod_at(*IpAddress::parse("fd00::30")) == "dev/db");
  REQUIRE(n.pod("dev/web"));
  CHECK(n.pod("dev/web")->isolation_known);
  CHECK(n.pod("dev/web")->ingress_policies == std::vector<std::string>{"dev/a"});
  CHECK_FALSE(n.pod("dev/db")->isolation_known);
}
