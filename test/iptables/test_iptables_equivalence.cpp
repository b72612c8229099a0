// The rendered rules must give the compiler's verdict() (which the BPF
// datapath also gives) on every probe: every conformance scenario, step by
// step; a dual-stack cluster; and a large synthetic cluster with random
// probes. The incremental renderer must also land on exactly what a full
// render gives after every change.
#include <filesystem>
#include <random>

#include "bpfence/scenario.h"
#include "fixture.h"
#include "support/synthetic_cluster.h"
#include "unit/named_port_ipblock.h"

using namespace bpfence;
using namespace bpfence::test;

namespace {

std::vector<std::string> scenario_files() {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(BPFENCE_SOURCE_DIR "/test/conformance"))
    if (e.path().extension() == ".yaml") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

// How many probes were allowed and denied (a test where every probe has
// one answer proves little).
struct Tally {
  int allowed = 0, denied = 0;
} tally;

// verdict() and the walk through the chains agree on one probe.
void check_probe(const ipt::Model& m, const Compiler& c, const std::string& from, const std::string& to,
                 uint8_t proto, uint16_t port, const std::string& where) {
  bool want = c.verdict(address_of(c, from), address_of(c, to), proto, port).allowed;
  ++(want ? tally.allowed : tally.denied);
  // What the dataplane re-decides established flows with, from the state alone.
  if (StateVerdicts(c.state()).verdict(address_of(c, from), address_of(c, to), proto, port).allowed != want) {
    INFO(where << ": StateVerdicts disagrees on " << from << " -> " << to << " port " << port);
    CHECK(false);
  }
  bool got = walk_allows(m, c, from, to, proto, port);
  if (got != want) {
    INFO(where << ": " << from << " -> " << to << " proto " << int(proto) << " port " << port << " verdict "
               << (want ? "allow" : "deny"));
    CHECK(got == want);
  }
}

}  // namespace

TEST_CASE("conformance scenarios: the rendered chains give verdict() on every probe", "[iptables][conformance]") {
  const std::vector<std::string> dirs = {BPFENCE_SOURCE_DIR "/test/conformance", BPFENCE_SOURCE_DIR "/manifests"};
  int scenarios = 0, probes = 0;
  for (const auto& file : scenario_files()) {
    Scenario sc;
    auto loaded = load_scenario(file, dirs, sc);
    INFO(loaded.message());
    REQUIRE(loaded.is_ok());
    Compiler c({"", {}});
    for (const auto& ns : sc.namespaces) c.upsert(ns);
    for (const auto& pod : sc.pods([](size_t) { return "node-a"; })) c.upsert(pod);
    c.commit();
    ipt::Renderer r(test_names(), true);
    REQUIRE(r.render_all(c.state(), bind_all(c.state()), {}).is_ok());
    for (const auto& step : sc.steps) {
      for (const auto& p : step.apply) c.upsert(p);
      for (const auto& key : step.remove) c.erase_policy(key);
      for (const auto& ns : step.relabel) c.upsert(ns);
      auto diff = c.commit();
      REQUIRE(r.render_changes(c.state(), diff, bind_all(c.state()), {}, {}).is_ok());
      auto full = render_model(c.state());
      {
        INFO(sc.name << " [" << step.name << "]: incremental render");
        check_same(r.model(), full);
      }
      for (const auto& probe : sc.probes()) {
        std::string where = sc.name + " [" + step.name + "]";
        check_probe(full, c, sc.ip_of(probe.from), sc.ip_of(probe.to), probe.port.proto, probe.port.port, where);
        // And the scenario's own truth table, so neither side drifts.
        bool allowed = walk_allows(full, c, sc.ip_of(probe.from), sc.ip_of(probe.to), probe.port.proto,
                                   probe.port.port);
        INFO(where << " " << probe.from << " -> " << probe.to << " " << probe.port.str());
        CHECK(allowed == sc.expected(step, probe));
        ++probes;
      }
    }
    ++scenarios;
  }
  CHECK(scenarios >= 17);
  CHECK(probes > 500);
}

TEST_CASE("dual stack: IPv4 and IPv6 chains and sets each give verdict()", "[iptables][conformance]") {
  Cluster cl;
  cl.ns("default").ns("other", {{"team", "x"}});
  cl.pod("default/web", "10.0.0.10,fd00::10", {{"app", "web"}});
  cl.pod("default/client", "10.0.0.11,fd00::11", {{"app", "client"}});
  cl.pod("default/nfs", "10.0.0.12,fd00::12", {{"app", "nfs"}});
  cl.pod("other/client", "10.0.1.11,fd00:1::11", {{"app", "client"}}, {}, "node-b");
  cl.policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: x}}, podSelector: {matchLabels: {app: client}}}]
    ports: [{port: 80}, {port: 9000, endPort: 9100, protocol: UDP}]
  - from: [{ipBlock: {cidr: "fd00::/16", except: ["fd00:1::/32"]}}]
    ports: [{port: 443}]
---
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: nfs, namespace: default}
spec:
  podSelector: {matchLabels: {app: nfs}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from: [{ipBlock: {cidr: "::/0", except: ["fd00::10/128"]}}, {ipBlock: {cidr: 10.0.0.0/8, except: [10.0.0.10/32]}}]
  egress:
  - to: [{ipBlock: {cidr: "fd00::/64"}}]
)");
  auto c = cl.compile("node-a");
  auto m = render_model(c.state());
  std::vector<std::string> hosts = {"10.0.0.10", "10.0.0.11", "10.0.0.12", "10.0.1.11", "192.0.2.1",
                                    "fd00::10",  "fd00::11",  "fd00::12",  "fd00:1::11", "2001:db8::1"};
  int probes = 0;
  for (const auto& from : hosts)
    for (const auto& to : hosts) {
      if (from == to || IpAddress::parse(from)->is_v4() != IpAddress::parse(to)->is_v4()) continue;
      for (auto [proto, port] : std::vector<std::pair<uint8_t, uint16_t>>{{6, 80}, {6, 443}, {17, 9050}, {6, 2049}}) {
        check_probe(m, c, from, to, proto, port, "dual stack");
        ++probes;
      }
      check_probe(m, c, from, to, IpAddress::parse(from)->is_v4() ? 1 : 58, 0, "dual stack");
    }
  CHECK(probes > 100);
  // The IPv6 side really is enforced, not left open.
  CHECK_FALSE(walk_allows(m, c, "fd00:1::11", "fd00::10", 6, 443));
  CHECK(walk_allows(m, c, "fd00::11", "fd00::10", 6, 443));
  CHECK_FALSE(walk_allows(m, c, "fd00::10", "fd00::12", 6, 2049));
}

TEST_CASE("a named egress port towards an ipBlock: the pods' addresses only, in both families", "[iptables][conformance]") {
  Cluster cl = named_port_ipblock_cluster();
  auto c = cl.compile("node-a");
  auto m = render_model(c.state());
  const std::vector<std::string> to = {"10.244.2.10",  "10.244.1.10",    "10.244.3.10",    "10.244.2.99", "10.245.0.10",
                                       "fd00:244::10", "fd00:244::1:10", "fd00:244::3:10", "fd00:244::99", "fd00:245::10"};
  for (const auto& dst : to) {
    const std::string src = IpAddress::parse(dst)->is_v4() ? "10.244.2.11" : "fd00:244::11";
    for (auto [proto, port] : std::vector<std::pair<uint8_t, uint16_t>>{{6, 80}, {6, 8080}, {17, 53}, {17, 80}})
      check_probe(m, c, src, dst, proto, port, "named port to ipBlock");
  }
  // By hand: the pod's own number, never the external address in the block.
  CHECK(walk_allows(m, c, "10.244.2.11", "10.244.2.10", 6, 80));
  CHECK(walk_allows(m, c, "fd00:244::11", "fd00:244::10", 6, 80));
  CHECK(walk_allows(m, c, "10.244.2.11", "10.244.3.10", 6, 8080));
  CHECK_FALSE(walk_allows(m, c, "10.244.2.11", "10.244.3.10", 6, 80));
  CHECK_FALSE(walk_allows(m, c, "10.244.2.11", "10.244.2.99", 6, 80));
  CHECK_FALSE(walk_allows(m, c, "fd00:244::11", "fd00:244::99", 6, 80));
  CHECK_FALSE(walk_allows(m, c, "10.244.2.11", "10.244.1.10", 6, 80));
  CHECK_FALSE(walk_allows(m, c, "fd00:244::11", "fd00:244::1:10", 6, 80));
  // The pod's host prefix does not take it out of the block's other rule.
  CHECK(walk_allows(m, c, "10.244.2.11", "10.244.2.10", 17, 53));
  CHECK(walk_allows(m, c, "10.244.2.11", "10.244.2.99", 17, 53));
}

TEST_CASE("synthetic cluster: random probes agree, incremental changes land on the full render",
          "[iptables][conformance][scale]") {
  auto cl = synthetic::make(2000, 300, 60);
  Compiler c({"node-a", {*IpAddress::parse("192.168.0.1")}});
  for (const auto& n : cl.namespaces) c.upsert(n);
  for (const auto& p : cl.pods) c.upsert(p);
  c.commit();
  ipt::Renderer r(test_names(), true);
  REQUIRE(r.render_all(c.state(), bind_all(c.state()), {}).is_ok());
  for (const auto& p : cl.policies) c.upsert(p);
  auto diff = c.commit();
  REQUIRE(r.render_changes(c.state(), diff, bind_all(c.state()), {}, {}).is_ok());
  check_same(r.model(), render_model(c.state()));

  std::mt19937 rng(7);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  std::vector<std::string> local, all;
  for (const auto& [pod, es] : c.state().endpoints) local.push_back(pod);
  for (const auto& p : cl.pods) all.push_back(p.key());
  auto probe_some = [&](const ipt::Model& m, int n, const std::string& where) {
    const uint16_t ports[] = {8000, 8042, 8099, 9090, 5432, 30000, 30500, 31200, 80, 22};
    for (int i = 0; i < n; ++i) {
      std::string a = local[pick(local.size())], b;
      switch (pick(3)) {
        case 0: b = all[pick(all.size())]; break;
        case 1: b = "172." + std::to_string(16 + pick(16)) + "." + std::to_string(pick(256)) + ".9"; break;
        default: b = local[pick(local.size())]; break;
      }
      if (pick(2)) std::swap(a, b);
      if (a == b) continue;
      uint8_t proto = pick(8) == 0 ? 1 : (pick(6) == 0 ? 17 : 6);
      check_probe(m, c, a, b, proto, proto == 1 ? 0 : ports[pick(10)], where);
    }
  };
  tally = {};
  probe_some(r.model(), 4000, "initial");
  CHECK(tally.allowed > 400);
  CHECK(tally.denied > 400);

  // Churn: policies out and back in, relabels, pods gone and new, a namespace relabelled.
  for (int round = 0; round < 6; ++round) {
    for (int k = 0; k < 10; ++k) c.erase_policy(cl.policies[pick(cl.policies.size())].key());
    for (int k = 0; k < 5; ++k) c.upsert(cl.policies[pick(cl.policies.size())]);
    for (int k = 0; k < 10; ++k) {
      Pod p = cl.pods[pick(cl.pods.size())];
      p.labels["app"] = "app-" + std::to_string(pick(40));
      c.upsert(p);
    }
    for (int k = 0; k < 5; ++k) c.erase_pod(all[pick(all.size())]);
    Pod fresh = cl.pods[pick(cl.pods.size())];
    fresh.name = "fresh-" + std::to_string(round);
    fresh.ips = {IpAddress::from_v4((10u << 24) | (2u << 16) | static_cast<uint32_t>(round))};
    fresh.node_name = round % 2 ? "node-a" : "node-3";
    c.upsert(fresh);
    Namespace ns = cl.namespaces[pick(cl.namespaces.size())];
    ns.labels["team"] = "team-" + std::to_string(pick(5));
    c.upsert(ns);
    diff = c.commit();
    REQUIRE(r.render_changes(c.state(), diff, bind_all(c.state()), {}, {}).is_ok());
    auto full = render_model(c.state());
    INFO("round " << round);
    check_same(r.model(), full);
    local.clear();
    for (const auto& [pod, es] : c.state().endpoints) local.push_back(pod);
    all.clear();
    for (const auto& [key, pod] : c.pods()) all.push_back(key);
    probe_some(full, 500, "round " + std::to_string(round));
  }
}
