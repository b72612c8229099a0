// Every `bpfence` command on a real datapath: the BPF program loaded by
// BpfDataplane on a private pin folder, maps filled by the compiler from a
// manifests folder, crafted packets through BPF_PROG_TEST_RUN, then the real
// binary run with --pin-dir and its table and JSON output checked. Names come
// from --manifests (offline) or from a stand-in agent API.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <httplib.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "api_json.h"
#include "bpfence/agent_api.h"
#include "bpfence/parse.h"
#include "bpfence/reasons.h"
#include "cli_run.h"
#include "fixture.h"

using namespace bpfence;
using namespace bpfence::testdp;
using namespace bpfence::testcli;
using json = nlohmann::json;

namespace {

const char* kCluster = R"(
apiVersion: v1
kind: Namespace
metadata: {name: dev}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: dev, labels: {app: client}}
spec: {nodeName: n1, containers: [{name: c, image: x}]}
status: {podIP: 10.1.0.10}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: dev, labels: {app: web}}
spec: {nodeName: n1, containers: [{name: c, image: x, ports: [{containerPort: 80, name: http}]}]}
status: {podIP: 10.1.0.20}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: dev, labels: {app: db}}
spec: {nodeName: n1, containers: [{name: c, image: x, ports: [{containerPort: 5432}]}]}
status: {podIP: 10.1.0.30}
)";

const char* kPolicies = R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-allow-client, namespace: dev}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: 80}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-deny-all, namespace: dev}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
)";

const char* kClient = "10.1.0.10";
const char* kWeb = "10.1.0.20";
const char* kDb = "10.1.0.30";

testpkt::Bytes tcp4(const char* src, const char* dst, uint16_t sport, uint16_t dport, uint8_t flags) {
  return testpkt::eth4(testpkt::ipv4(src, dst, 6, testpkt::tcp(sport, dport, flags)));
}

// The fixture, filled from the same manifests the CLI reads offline.
struct Lab {
  Fixture f;
  std::string dir = "/tmp/bpfence-cli-test-" + std::to_string(getpid());
  std::string manifests = dir + "/manifests";

  Lab() {
    write_file(manifests, "cluster.yaml", kCluster);
    write_file(manifests, "policies.yaml", kPolicies);
    auto parsed = parse_manifests(std::string(kCluster) + "\n---\n" + kPolicies, "test");
    for (const auto& e : parsed.errors) FAIL(e.str());
    for (auto& o : parsed.objects) std::visit([&](auto& x) { f.compiler().upsert(x); }, o);
    f.commit();
  }
  ~Lab() { std::filesystem::remove_all(dir); }

  // client:40000 -> web:80, a full handshake through both endpoints.
  void allowed_connection() {
    CHECK(f.run("dev/client", BF_DIR_EGRESS, tcp4(kClient, kWeb, 40000, 80, testpkt::kSyn)) == kPass);
    CHECK(f.run("dev/web", BF_DIR_INGRESS, tcp4(kClient, kWeb, 40000, 80, testpkt::kSyn)) == kPass);
    CHECK(f.run("dev/web", BF_DIR_EGRESS, tcp4(kWeb, kClient, 80, 40000, testpkt::kSyn | testpkt::kAck)) == kPass);
    CHECK(f.run("dev/client", BF_DIR_INGRESS, tcp4(kWeb, kClient, 80, 40000, testpkt::kSyn | testpkt::kAck)) ==
          kPass);
    CHECK(f.run("dev/client", BF_DIR_EGRESS, tcp4(kClient, kWeb, 40000, 80, testpkt::kAck)) == kPass);
    CHECK(f.run("dev/web", BF_DIR_INGRESS, tcp4(kClient, kWeb, 40000, 80, testpkt::kAck)) == kPass);
  }
  // client:sport -> db:5432: leaves the client, dropped at db's ingress.
  void denied_connection(uint16_t sport = 40001) {
    CHECK(f.run("dev/client", BF_DIR_EGRESS, tcp4(kClient, kDb, sport, 5432, testpkt::kSyn)) == kPass);
    CHECK(f.run("dev/db", BF_DIR_INGRESS, tcp4(kClient, kDb, sport, 5432, testpkt::kSyn)) == kDrop);
  }

  std::vector<std::string> offline(std::vector<std::string> args) const {
    args.insert(args.end(), {"--pin-dir", f.pin_dir(), "--manifests", manifests});
    return args;
  }
};

json run_json(const std::vector<std::string>& args) {
  auto r = run_cli(args);
  INFO(r.err);
  REQUIRE(r.rc == 0);
  auto j = json::parse(r.out, nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  return j;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string l; std::getline(ss, l);) out.push_back(l);
  return out;
}

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

// The rows of a flow table (after the header lines), as cells by column name.
std::vector<std::map<std::string, std::string>> table_rows(const std::string& out) {
  auto l = lines(out);
  std::vector<std::map<std::string, std::string>> rows;
  size_t h = 0;
  while (h < l.size() && !l[h].starts_with("INDEX")) ++h;
  REQUIRE(h < l.size());
  auto header = cells(l[h]);
  for (size_t i = h + 1; i < l.size(); ++i) {
    auto c = cells(l[i]);
    REQUIRE(c.size() == header.size());
    std::map<std::string, std::string> row;
    for (size_t k = 0; k < c.size(); ++k) row[header[k]] = c[k];
    rows.push_back(row);
  }
  return rows;
}

bool mentions(const json& flow, const std::string& ip) { return flow["src"] == ip || flow["dst"] == ip; }

// A stand-in for the agent's API: the agent's own JSON forms (api_json.h)
// and routes' shapes, filled from the fixture's compiler and interfaces.
class FakeAgent {
 public:
  explicit FakeAgent(Fixture& f, std::string location = "") {
    const Compiler& c = f.compiler();
    AgentInfo info;
    info.node = "n1";
    info.dataplane = "bpf";
    info.dataplane_location = location.empty() ? f.pin_dir() : location;
    AgentSnapshot snap;
    snap.generation = snap.applied_generation = 1;
    snap.synced = snap.ready = true;
    snap.warnings = c.warnings();
    json endpoints = json::array(), rules = json::array(), policies = json::array();
    std::map<std::string, std::pair<json, json>> selects;
    for (const auto& [pod, ep] : c.state().endpoints) {
      EndpointView v;
      v.pod = pod;
      v.ips = ep.ips;
      v.endpoint_id = ep.endpoint_id;
      v.identity = ep.identity;
      v.ingress_isolated = ep.ingress_isolated;
      v.egress_isolated = ep.egress_isolated;
      v.ingress_policies = ep.ingress_policies;
      v.egress_policies = ep.egress_policies;
      v.state = EndpointView::State::bound;
      v.ifindex = f.ifindex(pod);
      char ifname[IF_NAMESIZE] = {};
      if (if_indextoname(v.ifindex, ifname)) v.ifname = ifname;
      endpoints.push_back(endpoint_json(v));
      snap.endpoints.push_back(v);
      for (const auto& p : ep.ingress_policies) selects[p].first.push_back(pod);
      for (const auto& p : ep.egress_policies) selects[p].second.push_back(pod);
    }
    for (const auto& [id, r] : c.state().rules)
      rules.push_back({{"id", id},
                       {"policy", r.policy},
                       {"direction", bf_direction_name(r.direction)},
                       {"index", r.index},
                       {"text", r.str()}});
    for (const auto& [key, p] : c.policies()) {
      json j = policy_json(p);
      j["selects"] = {{"ingress", selects[key].first.is_null() ? json::array() : selects[key].first},
                      {"egress", selects[key].second.is_null() ? json::array() : selects[key].second}};
      json ids = json::array(), warns = json::array();
      for (const auto& [id, r] : c.state().rules)
        if (r.policy == key) ids.push_back({{"id", id}, {"direction", bf_direction_name(r.direction)}, {"index", r.index}});
      for (const auto& w : snap.warnings)
        if (w.policy == key) warns.push_back(w.message);
      j["rules"] = ids;
      j["warnings"] = warns;
      policies.push_back(j);
    }
    serve("/healthz", "ok\n");
    serve("/v1/status", status_json(info, snap).dump());
    serve("/v1/endpoints", json{{"generation", 1}, {"endpoints", endpoints}}.dump());
    serve("/v1/rules", json{{"rules", rules}}.dump());
    serve("/v1/policies", json{{"policies", policies}}.dump());
    server_.Get("/v1/verdict", [&c](const httplib::Request& req, httplib::Response& res) {
      auto from = IpAddress::parse(req.get_param_value("from")), to = IpAddress::parse(req.get_param_value("to"));
      auto proto = parse_ip_proto(req.get_param_value("proto"));
      if (!from || !to || !proto) {
        res.status = 400;
        return;
      }
      json j = verdict_json(c.verdict(*from, *to, *proto, static_cast<uint16_t>(std::stoi(req.get_param_value("port")))));
      res.set_content(j.dump(), "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    // The socket listens from bind: early connections wait in its backlog.
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~FakeAgent() {
    server_.stop();
    thread_.join();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  void serve(const std::string& path, std::string body) {
    server_.Get(path, [body](const httplib::Request&, httplib::Response& res) {
      res.set_content(body, "application/json");
    });
  }
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace

TEST_CASE("flow: a forwarded TCP connection is a pair with F on both sides", "[cli]") {
  Lab lab;
  lab.allowed_connection();

  SECTION("JSON") {
    auto j = run_json(lab.offline({"flow", "--match", "10.1.0.20:80", "-o", "json"}));
    CHECK(j["table_size"] == 4096);
    CHECK(j["entries"] == 4);
    auto flows = j["flows"];
    REQUIRE(flows.size() == 4);
    std::map<uint32_t, json> by_index;
    for (const auto& f : flows) by_index[f["index"].get<uint32_t>()] = f;
    REQUIRE(by_index.size() == 4);
    for (const auto& f : flows) {
      CHECK(f["verdict"] == "F");
      // Each entry's reverse is listed, and points back.
      REQUIRE(f["reverse_index"].is_number());
      const json& rev = by_index.at(f["reverse_index"].get<uint32_t>());
      CHECK(rev["reverse_index"] == f["index"]);
      CHECK(rev["src"] == f["dst"]);
      CHECK(rev["pod"] == f["pod"]);
      CHECK(rev["direction"] != f["direction"]);
    }
    // At the server, the rule; at the client, no isolation.
    auto at = [&](const char* pod, const char* dir) {
      auto it = std::find_if(flows.begin(), flows.end(),
                             [&](const json& f) { return f["pod"] == pod && f["direction"] == dir; });
      REQUIRE(it != flows.end());
      return *it;
    };
    json web_in = at("dev/web", "ingress");
    CHECK(web_in["reason"] == "Policy");
    CHECK(lab.f.rule(web_in["rule_id"].get<uint32_t>()) == "dev/web-allow-client ingress[0]");
    CHECK(web_in["src_pod"] == "dev/client");
    CHECK(web_in["dst_pod"] == "dev/web");
    CHECK(web_in["packets"] == 2);
    CHECK(web_in["tcp_flags"] == "SA");
    CHECK(at("dev/web", "egress")["reason"] == "Reply");
    CHECK(at("dev/web", "egress")["tcp_flags"] == "SA");
    CHECK(at("dev/client", "egress")["reason"] == "NotIsolated");
    CHECK(at("dev/client", "ingress")["reason"] == "Reply");
  }
  SECTION("table") {
    auto r = run_cli(lab.offline({"flow", "--match", "10.1.0.20:80"}));
    INFO(r.out << r.err);
    REQUIRE(r.rc == 0);
    auto l = lines(r.out);
    CHECK(l[0] == "Flow table " + lab.f.pin_dir() + ": 4 entries of 4096, showing 4");
    CHECK(l[1].starts_with("Packets: forwarded 6 (NotIsolated 2, Policy 2, Reply 2), dropped 0"));
    auto rows = table_rows(r.out);
    REQUIRE(rows.size() == 4);
    for (size_t i = 0; i < 4; i += 2) {
      // A pair: "a<=>b" then "b<=>a", F on both.
      auto a = rows[i]["INDEX"], b = rows[i + 1]["INDEX"];
      auto sep = a.find("<=>");
      REQUIRE(sep != std::string::npos);
      CHECK(b == a.substr(sep + 3) + "<=>" + a.substr(0, sep));
      CHECK(rows[i]["ACTION"] == "F");
      CHECK(rows[i + 1]["ACTION"] == "F");
      CHECK(rows[i]["SOURCE"] == "10.1.0.10:40000 (dev/client)");
      CHECK(rows[i]["DESTINATION"] == "10.1.0.20:80 (dev/web)");
      CHECK(rows[i + 1]["SOURCE"] == "10.1.0.20:80 (dev/web)");
      CHECK(rows[i]["ENDPOINT"] == rows[i + 1]["ENDPOINT"]);
    }
    std::set<std::string> rules;
    for (auto& row : rows) rules.insert(row["ENDPOINT"] + " " + row["DIR"] + ": " + row["RULE"]);
    // Rule ids belong to the agent: offline they print as ids.
    uint32_t id = 0;
    for (const auto& [rid, ref] : lab.f.compiler().state().rules)
      if (ref.str() == "dev/web-allow-client ingress[0]") id = rid;
    CHECK(rules == std::set<std::string>{"dev/client egress: (not isolated)", "dev/client ingress: reply",
                                         "dev/web ingress: #" + std::to_string(id),
                                         "dev/web egress: reply to #" + std::to_string(id)});
  }
  SECTION("names from the agent's API, rules included") {
    FakeAgent agent(lab.f);
    auto r = run_cli({"flow", "--match", "10.1.0.20:80", "--pin-dir", lab.f.pin_dir(), "--agent", agent.address()});
    INFO(r.out << r.err);
    REQUIRE(r.rc == 0);
    CHECK(lines(r.out)[3].ends_with("names: agent " + agent.address()));
    std::set<std::string> rules;
    for (auto& row : table_rows(r.out)) rules.insert(row["ENDPOINT"] + " " + row["DIR"] + ": " + row["RULE"]);
    CHECK(rules == std::set<std::string>{"dev/client egress: (not isolated)", "dev/client ingress: reply",
                                         "dev/web ingress: dev/web-allow-client ingress[0]",
                                         "dev/web egress: reply to dev/web-allow-client ingress[0]"});
  }
  SECTION("a policy change marks verdicts stale; the next packet re-decides") {
    auto parsed = parse_manifests(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-allow-client, namespace: dev}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {app: nobody}}}], ports: [{port: 80}]}]
)");
    REQUIRE(parsed.errors.empty());
    lab.f.compiler().upsert(std::get<NetworkPolicy>(parsed.objects.front()));
    lab.f.commit();
    auto web_in = [&] {
      auto r = run_cli(lab.offline({"flow", "--match", "10.1.0.20:80 ingress"}));
      INFO(r.out << r.err);
      REQUIRE(r.rc == 0);
      for (auto& row : table_rows(r.out))
        if (row["ENDPOINT"] == "dev/web") return row;
      FAIL("no row at dev/web");
      return std::map<std::string, std::string>{};
    };
    CHECK(web_in()["ACTION"] == "F*");
    CHECK(lab.f.run("dev/web", BF_DIR_INGRESS, tcp4(kClient, kWeb, 40000, 80, testpkt::kAck)) == kDrop);
    auto row = web_in();
    CHECK(row["ACTION"] == "D(FwPolicy)");
    CHECK(row["RULE"] == "isolated by dev/web-allow-client");
    CHECK(row["PKTS/BYTES"] == "3/162");  // the counters carry over
  }
  SECTION("an agent of another node does not name this node's rule ids") {
    FakeAgent other(lab.f, "/sys/fs/bpf/bpfence/some-other-node");
    auto r = run_cli({"flow", "--match", "10.1.0.20:80", "--pin-dir", lab.f.pin_dir(), "--agent", other.address(),
                      "--manifests", lab.manifests});
    INFO(r.out << r.err);
    REQUIRE(r.rc == 0);
    CHECK(r.err.find("its rule names are not used") != std::string::npos);
    for (auto& row : table_rows(r.out))
      if (row["ENDPOINT"] == "dev/web" && row["DIR"] == "ingress") CHECK(row["RULE"].starts_with("#"));
    // Pods are still named from the manifests.
    CHECK(r.out.find("10.1.0.20:80 (dev/web)") != std::string::npos);
  }
  SECTION("--manifests names the pods, the agent of this node the rules") {
    FakeAgent agent(lab.f);
    auto r = run_cli(lab.offline({"flow", "--match", "10.1.0.20:80", "--agent", agent.address()}));
    INFO(r.out << r.err);
    REQUIRE(r.rc == 0);
    CHECK(lines(r.out)[3].ends_with("names: manifests " + lab.manifests + ", rule ids from agent " + agent.address()));
    CHECK(r.out.find("dev/web-allow-client ingress[0]") != std::string::npos);
  }
}

TEST_CASE("flow: a denied connection is D(FwPolicy) with the isolating policy", "[cli]") {
  Lab lab;
  lab.denied_connection();
  SECTION("table") {
    auto r = run_cli(lab.offline({"flow", "--match", "10.1.0.30", "--action", "drop"}));
    INFO(r.out << r.err);
    REQUIRE(r.rc == 0);
    CHECK(lines(r.out)[1] == "Packets: forwarded 1 (NotIsolated 1), dropped 1 (FwPolicy 1)");
    auto rows = table_rows(r.out);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0]["ACTION"] == "D(FwPolicy)");
    CHECK(rows[0]["RULE"] == "isolated by dev/db-deny-all");
    CHECK(rows[0]["ENDPOINT"] == "dev/db");
    CHECK(rows[0]["DIR"] == "ingress");
    CHECK(rows[0]["SOURCE"] == "10.1.0.10:40001 (dev/client)");
    CHECK(rows[0]["DESTINATION"] == "10.1.0.30:5432 (dev/db)");
    CHECK(rows[0]["TCP"] == "S");
    CHECK(rows[0]["PKTS/BYTES"] == "1/54");
    CHECK(rows[0]["INDEX"].find("<=>") == std::string::npos);  // a drop has no reverse
  }
  SECTION("JSON, names from the agent") {
    FakeAgent agent(lab.f);
    auto j = run_json({"flow", "--match", "D(FwPolicy)", "-o", "json", "--pin-dir", lab.f.pin_dir(), "--agent",
                       agent.address()});
    REQUIRE(j["flows"].size() == 1);
    auto f = j["flows"][0];
    CHECK(f["verdict"] == "D(FwPolicy)");
    CHECK(f["action"] == "Drop");
    CHECK(f["isolating"] == json::array({"dev/db-deny-all"}));
    CHECK(f["rule_text"] == "isolated by dev/db-deny-all");
    CHECK(f["reverse_index"].is_null());
    CHECK(j["dropped"]["FwPolicy"]["packets"] == 1);
  }
  SECTION("without any names: addresses and ids") {
    auto r = run_cli({"flow", "--action", "drop", "--pin-dir", lab.f.pin_dir(), "--no-agent"});
    INFO(r.out << r.err);
    REQUIRE(r.rc == 0);
    auto rows = table_rows(r.out);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0]["SOURCE"] == "10.1.0.10:40001");
    CHECK(rows[0]["ENDPOINT"].starts_with("ep" + std::to_string(lab.f.endpoint_id("dev/db")) + " (bft"));
    CHECK(rows[0]["RULE"] == "-");
  }
}

TEST_CASE("flow --match: IP, IP:port and two terms", "[cli]") {
  Lab lab;
  lab.allowed_connection();
  lab.denied_connection();
  auto flows = [&](const std::string& match) {
    auto j = run_json(lab.offline({"flow", "--match", match, "-o", "json"}));
    CHECK(j["entries"] == 7);  // 4 for client -> web, 3 for client -> db
    return j["flows"];
  };
  auto f = flows("10.1.0.20");
  CHECK(f.size() == 4);
  for (const auto& x : f) CHECK(mentions(x, kWeb));
  f = flows("10.1.0.20:80");
  CHECK(f.size() == 4);
  for (const auto& x : f) CHECK(((x["src"] == kWeb && x["sport"] == 80) || (x["dst"] == kWeb && x["dport"] == 80)));
  CHECK(flows("10.1.0.20:8080").empty());
  CHECK(flows("10.1.0.10").size() == 7);
  f = flows("10.1.0.10,10.1.0.30");
  CHECK(f.size() == 3);
  for (const auto& x : f) CHECK((mentions(x, kClient) && mentions(x, kDb)));
  CHECK(flows("10.1.0.10:40001,10.1.0.30:5432").size() == 3);
  CHECK(flows("10.1.0.10:40000,10.1.0.30").empty());
  CHECK(flows("10.1.0.0/24,udp").empty());

  SECTION("--proto, --action, --pod") {
    CHECK(run_json(lab.offline({"flow", "--proto", "udp", "-o", "json"}))["flows"].empty());
    CHECK(run_json(lab.offline({"flow", "--action", "forward", "-o", "json"}))["flows"].size() == 6);
    CHECK(run_json(lab.offline({"flow", "--pod", "dev/db", "-o", "json"}))["flows"].size() == 3);
  }
  SECTION("bad terms are refused") {
    auto r = run_cli(lab.offline({"flow", "--match", "10.1.0.300"}));
    CHECK(r.rc == 2);
    CHECK(r.err.find("--match") != std::string::npos);
    CHECK(run_cli(lab.offline({"flow", "--proto", "gre"})).rc == 2);
    CHECK(run_cli(lab.offline({"flow", "-o", "yaml"})).rc == 2);
  }
}

TEST_CASE("flow --follow prints a drop within 100 ms of it happening", "[cli][follow]") {
  Lab lab;
  constexpr int kDrops = 20;
  CliProcess follow({"flow", "--follow", "-o", "json", "--count", std::to_string(kDrops), "--pin-dir",
                     lab.f.pin_dir(), "--manifests", lab.manifests});
  // It says so on stderr once it listens.
  std::optional<std::string> ready;
  while ((ready = follow.read_err_line(std::chrono::seconds(10))) && ready->find("following") == std::string::npos) {
  }
  REQUIRE(ready);
  std::vector<double> ms;
  for (int i = 0; i < kDrops; ++i) {
    uint16_t sport = static_cast<uint16_t>(41000 + i);
    auto t0 = std::chrono::steady_clock::now();
    REQUIRE(lab.f.run("dev/db", BF_DIR_INGRESS, tcp4(kClient, kDb, sport, 5432, testpkt::kSyn)) == kDrop);
    auto line = follow.read_line(std::chrono::seconds(2));
    auto t1 = std::chrono::steady_clock::now();
    REQUIRE(line);
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    auto ev = json::parse(*line);
    CHECK(ev["type"] == "drop");
    CHECK(ev["verdict"] == "D(FwPolicy)");
    CHECK(ev["sport"] == sport);
    CHECK(ev["dport"] == 5432);
    CHECK(ev["src_pod"] == "dev/client");
    CHECK(ev["endpoint"] == "dev/db");
    CHECK(ev["rule_text"] == "isolated by dev/db-deny-all");
  }
  CHECK(follow.wait(std::chrono::seconds(5)) == 0);  // --count ends it
  std::sort(ms.begin(), ms.end());
  WARN("flow --follow drop-to-line latency over " << kDrops << " drops: p50 " << ms[ms.size() / 2] << " ms, max "
                                                   << ms.back() << " ms");
  CHECK(ms.back() < 100.0);
}

TEST_CASE("flow --follow: old events are not replayed, forwards are not drops", "[cli][follow]") {
  Lab lab;
  lab.denied_connection(42000);  // before --follow starts
  CliProcess follow({"flow", "--follow", "-o", "json", "--count", "1", "--pin-dir", lab.f.pin_dir(), "--no-agent"});
  std::optional<std::string> ready;
  while ((ready = follow.read_err_line(std::chrono::seconds(10))) && ready->find("following") == std::string::npos) {
  }
  REQUIRE(ready);
  lab.allowed_connection();
  lab.denied_connection(42001);
  auto line = follow.read_line(std::chrono::seconds(2));
  REQUIRE(line);
  CHECK(json::parse(*line)["sport"] == 42001);
}

TEST_CASE("flow --follow --all: new flows too, when the program traces them", "[cli][follow]") {
  // The fixture loads without trace_new_flows: set it up by hand.
  BpfDataplaneOptions o;
  o.pin_dir = "/sys/fs/bpf/bpfence-cli-trace-" + std::to_string(getpid());
  o.max_flows = 1024;
  o.trace_new_flows = true;
  BpfDataplane dp(o);
  REQUIRE(dp.open());
  struct Cleanup {
    BpfDataplane& dp;
    ~Cleanup() {
      (void)dp.uninstall();
      std::system("ip link del bfttr0 2>/dev/null");
    }
  } cleanup{dp};
  Compiler c({"n1", {}});
  auto parsed = parse_manifests(std::string(kCluster) + "\n---\n" + kPolicies, "test");
  for (auto& obj : parsed.objects) std::visit([&](auto& x) { c.upsert(x); }, obj);
  REQUIRE(dp.apply(c.commit(), c.state()));
  sh("ip link add bfttr0 type veth peer name bfttr0p");  // veth: not every kernel has dummy
  int ifindex = static_cast<int>(if_nametoindex("bfttr0"));
  REQUIRE(dp.bind({"dev/web", ifindex, "bfttr0"}, c.state()));
  auto to_web = [&](const char* src, uint16_t sport) {
    auto pkt = tcp4(src, kWeb, sport, 80, testpkt::kSyn);
    __sk_buff ctx{};
    ctx.ifindex = ifindex;
    LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = pkt.data(), .data_size_in = static_cast<__u32>(pkt.size()),
                .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);
    REQUIRE(bpf_prog_test_run_opts(dp.program_fd(BF_DIR_INGRESS), &run) == 0);
    return static_cast<int>(run.retval);
  };
  CliProcess follow(
      {"flow", "--follow", "--all", "-o", "json", "--count", "2", "--pin-dir", o.pin_dir, "--no-agent"});
  std::optional<std::string> ready;
  while ((ready = follow.read_err_line(std::chrono::seconds(10))) && ready->find("following") == std::string::npos) {
  }
  REQUIRE(ready);
  CHECK(to_web(kClient, 43000) == kPass);
  CHECK(to_web(kClient, 43000) == kPass);  // the same flow: no second event
  CHECK(to_web(kDb, 43001) == kDrop);
  auto first = follow.read_line(std::chrono::seconds(2)), second = follow.read_line(std::chrono::seconds(2));
  REQUIRE(first);
  REQUIRE(second);
  auto a = json::parse(*first), b = json::parse(*second);
  CHECK(a["type"] == "new_flow");
  CHECK(a["verdict"] == "F");
  CHECK(a["sport"] == 43000);
  CHECK(b["type"] == "drop");  // a dropped new flow is told once, as the drop
  CHECK(b["sport"] == 43001);
  CHECK(follow.wait(std::chrono::seconds(5)) == 0);
}

TEST_CASE("endpoints, status, policy and explain on the same datapath", "[cli]") {
  Lab lab;
  lab.allowed_connection();
  lab.denied_connection();

  SECTION("endpoints from the pinned map, names from the manifests") {
    auto j = run_json(lab.offline({"endpoints", "-o", "json"}));
    CHECK(j["source"] == "pinned maps " + lab.f.pin_dir());
    REQUIRE(j["endpoints"].size() == 3);
    std::map<std::string, json> by_pod;
    for (const auto& e : j["endpoints"]) by_pod[e["pod"].get<std::string>()] = e;
    CHECK(by_pod.at("dev/web")["ips"] == json::array({kWeb}));
    CHECK(by_pod.at("dev/web")["ingress_isolated"] == true);
    CHECK(by_pod.at("dev/web")["egress_isolated"] == false);
    CHECK(by_pod.at("dev/web")["ingress_policies"] == json::array({"dev/web-allow-client"}));
    CHECK(by_pod.at("dev/client")["ingress_isolated"] == false);
    CHECK(by_pod.at("dev/db")["state"] == "attached");
    CHECK(by_pod.at("dev/db")["ifindex"] == lab.f.ifindex("dev/db"));
    CHECK(by_pod.at("dev/db")["endpoint_id"] == lab.f.endpoint_id("dev/db"));

    auto r = run_cli(lab.offline({"endpoints"}));
    REQUIRE(r.rc == 0);
    auto l = lines(r.out);
    REQUIRE(l.size() == 6);
    CHECK(l[0] == "Endpoints (pinned maps " + lab.f.pin_dir() + "): 3");
    CHECK(cells(l[2])[0] == "POD");
    auto client = cells(l[3]);
    CHECK(client[0] == "dev/client");
    CHECK(client[1] == kClient);
    CHECK(client[3] == "none");
    CHECK(client[4] == "attached");
    CHECK(cells(l[5])[0] == "dev/web");
    CHECK(cells(l[5])[3] == "ingress");
    CHECK(cells(l[5])[6] == "dev/web-allow-client (in)");
  }
  SECTION("endpoints from the agent") {
    FakeAgent agent(lab.f);
    auto j = run_json({"endpoints", "-o", "json", "--pin-dir", lab.f.pin_dir(), "--agent", agent.address()});
    CHECK(j["source"] == "agent " + agent.address());
    REQUIRE(j["endpoints"].size() == 3);
    for (const auto& e : j["endpoints"]) {
      CHECK(e["state"] == "attached");
      CHECK(e["ingress_isolated"] == (e["pod"] != "dev/client"));
      CHECK(e["interface"].get<std::string>().starts_with("bft"));
    }
  }
  SECTION("status, explain and policy from the agent") {
    FakeAgent agent(lab.f);
    auto st = run_json({"status", "-o", "json", "--pin-dir", lab.f.pin_dir(), "--agent", agent.address()});
    CHECK(st["agent"]["node"] == "n1");
    CHECK(st["agent"]["applied_generation"] == 1);
    CHECK(st["datapath"]["flows"] == 7);
    auto r = run_cli({"status", "--pin-dir", lab.f.pin_dir(), "--agent", agent.address()});
    REQUIRE(r.rc == 0);
    CHECK(r.out.find("  node: n1\n") != std::string::npos);

    auto ex = run_json({"explain", "--agent", agent.address(), "--from", kClient, "--to", "dev/db", "--port",
                        "5432/TCP", "-o", "json"});
    CHECK(ex["allowed"] == false);
    CHECK(ex["to"]["pod"] == "dev/db");
    CHECK(ex["ingress"]["isolating"] == json::array({"dev/db-deny-all"}));
    CHECK(ex["source"] == "agent " + agent.address() + " (node n1)");
    auto ok = run_json({"explain", "--agent", agent.address(), "--from", "dev/client", "--to", "dev/web", "--port",
                        "80/TCP", "-o", "json"});
    CHECK(ok["allowed"] == true);
    CHECK(ok["ingress"]["rule"]["text"] == "dev/web-allow-client ingress[0]");
    // The rule in words, from the agent's /v1/policies.
    CHECK(ok["ingress"]["rule"]["description"] ==
          "dev/web-allow-client ingress[0]: from podSelector{app=client} on 80/TCP");

    auto pol = run_json({"policy", "dev/web-allow-client", "-o", "json", "--agent", agent.address()});
    CHECK(pol["selected_pods"] == json::array({"dev/web"}));
    REQUIRE(pol["rules"].size() == 1);
    CHECK(pol["rules"][0]["text"] == "from podSelector{app=client} on 80/TCP");
    CHECK(lab.f.rule(pol["rules"][0]["rule_id"].get<uint32_t>()) == "dev/web-allow-client ingress[0]");
    CHECK(pol["rules"][0]["entries"].is_null());
    auto list = run_cli({"policy", "--agent", agent.address()});
    REQUIRE(list.rc == 0);
    CHECK(cells(lines(list.out)[3]) ==
          std::vector<std::string>{"dev/db-deny-all", "{app=db}", "Ingress", "1", "0", "-", "0"});
  }
  SECTION("status from the pinned maps") {
    auto j = run_json({"status", "-o", "json", "--pin-dir", lab.f.pin_dir(), "--no-agent"});
    CHECK(j["agent"]["reachable"] == false);
    CHECK(j["datapath"]["flows"] == 7);
    CHECK(j["datapath"]["endpoints"] == 3);
    CHECK(j["datapath"]["dropped_packets"]["FwPolicy"] == 1);
    CHECK(j["datapath"]["forwarded_packets"]["Policy"] == 2);
    auto r = run_cli({"status", "--pin-dir", lab.f.pin_dir(), "--no-agent"});
    REQUIRE(r.rc == 0);
    CHECK(r.out.find("  flows: 7 of 4096\n") != std::string::npos);
    CHECK(r.out.find("  dropped packets: 1 (FwPolicy 1)\n") != std::string::npos);
  }
  SECTION("policy: what it selects and compiles to") {
    auto j = run_json({"policy", "dev/web-allow-client", "-o", "json", "--manifests", lab.manifests});
    CHECK(j["selected_pods"] == json::array({"dev/web (10.1.0.20)"}));
    REQUIRE(j["rules"].size() == 1);
    CHECK(j["rules"][0]["text"] == "from podSelector{app=client} on 80/TCP");
    CHECK(j["rules"][0]["peer_identities"] == 1);
    // The entries the datapath got for this rule: count them in the compiler's state.
    size_t entries = 0;
    for (const auto& [k, id] : lab.f.compiler().state().policy)
      if (lab.f.rule(id) == "dev/web-allow-client ingress[0]") ++entries;
    CHECK(j["rules"][0]["entries"] == entries);
    CHECK(j["warnings"].empty());
    auto r = run_cli({"policy", "--manifests", lab.manifests});
    REQUIRE(r.rc == 0);
    auto l = lines(r.out);
    REQUIRE(l.size() == 5);
    CHECK(cells(l[3]) == std::vector<std::string>{"dev/db-deny-all", "{app=db}", "Ingress", "1", "0", "0", "0"});
  }
  SECTION("explain agrees with the drop and the pass above") {
    auto denied = run_json(lab.offline({"explain", "--from", "dev/client", "--to", "dev/db", "--port", "5432/TCP",
                                        "-o", "json"}));
    CHECK(denied["allowed"] == false);
    CHECK(denied["verdict"] == "D(FwPolicy)");
    CHECK(denied["ingress"]["isolating"] == json::array({"dev/db-deny-all"}));
    CHECK(denied["egress"]["allowed"] == true);
    auto allowed = run_json(lab.offline({"explain", "--from", "dev/client", "--to", "10.1.0.20", "--port", "80",
                                         "-o", "json"}));
    CHECK(allowed["allowed"] == true);
    CHECK(allowed["ingress"]["rule"]["text"] == "dev/web-allow-client ingress[0]");
    auto r = run_cli(lab.offline({"explain", "--from", "dev/client", "--to", "dev/db", "--port", "5432/TCP"}));
    REQUIRE(r.rc == 0);
    CHECK(lines(r.out)[3] == "Verdict:  DENY  D(FwPolicy) at dev/db ingress");
  }
}
