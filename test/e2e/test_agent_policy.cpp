// bpfence-agent end to end: the agent runs in a node network namespace on a
// manifests folder; pods are namespaces routed over veths. Each change (add,
// edit and delete a policy, relabel a pod, relabel a namespace, add a pod)
// is written atomically, the test waits for /readyz to say 200 with a newer
// generation, and then real TCP/UDP/ICMP packets must already follow it.
#include <algorithm>

#include <catch2/catch.hpp>

#include "test_agent_support.h"

namespace {

using bpfence::e2e::json;
using bpfence::e2e::Node;
using namespace bpfence::e2e::manifests;

const char* kWeb = "10.200.0.10";
const char* kClientA = "10.200.0.11";
const char* kClientB = "10.200.0.12";
const char* kLate = "10.200.0.13";

std::string namespaces_yaml(const std::string& beta_team) {
  return yaml_documents({namespace_yaml("alpha", {{"team", "a"}}), namespace_yaml("beta", {{"team", beta_team}})});
}

// Not the shared pod_yaml on purpose: the fuller shape the API server
// hands out (block style, containers, status.podIPs), so that one e2e test
// feeds the agent that too.
std::string full_pod_yaml(const std::string& ns, const std::string& name, const std::string& app,
                          const std::string& ip, const std::string& node) {
  return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name + "\n  namespace: " + ns +
         "\n  labels: {app: " + app + "}\nspec:\n  nodeName: " + node +
         "\n  containers: [{name: c, image: x, ports: [{containerPort: 80}]}]\nstatus:\n  podIP: " + ip +
         "\n  podIPs: [{ip: " + ip + "}]\n";
}

std::string pods_yaml(const std::string& client_a_app, const std::string& node) {
  return yaml_documents({full_pod_yaml("alpha", "web", "web", kWeb, node),
                         full_pod_yaml("alpha", "client", client_a_app, kClientA, node),
                         full_pod_yaml("beta", "client", "client", kClientB, node)});
}

// web: ingress from app=client (same namespace) on 80/TCP.
const std::string kWebPolicyV1 =
    allow_ingress_yaml("alpha", "web-ingress", "web", {pods_peer("client")}, {{"TCP", 80}});

// web: also from namespaces team=b, and 5353/UDP.
const std::string kWebPolicyV2 = allow_ingress_yaml("alpha", "web-ingress", "web",
                                                    {pods_peer("client"), namespaces_peer("team", "b")},
                                                    {{"TCP", 80}, {"UDP", 5353}});

// beta: no egress at all.
const std::string kBetaDenyEgress = deny_all_yaml("beta", "deny-egress", "", "Egress");

struct Expect {
  std::string from;
  std::string to;
  std::string proto;
  uint16_t port;
  bool allowed;
};

// Probes all at once (so a step costs about one timeout) and checks each.
void check_traffic(const Node& node, const std::vector<Expect>& expects) {
  std::vector<bpfence::lab::ProbeSpec> specs;
  for (const Expect& e : expects) {
    bpfence::lab::ProbeSpec s;
    s.source = e.from == "node" ? &node.node_handle() : const_cast<Node&>(node).pod(e.from).handle.get();
    s.dst_ip = e.to;
    s.port.proto = e.proto == "tcp" ? 6 : e.proto == "udp" ? 17 : 1;
    s.port.port = e.port;
    specs.push_back(s);
  }
  bpfence::lab::ProbeOptions o;
  o.timeout_ms = 500;
  auto results = bpfence::lab::run_probes(specs, o);
  REQUIRE(results.size() == expects.size());
  for (size_t i = 0; i < expects.size(); ++i) {
    const Expect& e = expects[i];
    INFO(e.from << " -> " << e.to << " " << e.proto << "/" << e.port << ": got "
                << bpfence::lab::outcome_name(results[i].outcome) << " " << results[i].detail << ", expected "
                << (e.allowed ? "allowed" : "denied"));
    CHECK((results[i].outcome == bpfence::lab::Outcome::Allowed) == e.allowed);
    CHECK(results[i].outcome != bpfence::lab::Outcome::Error);
  }
}

int64_t gen(const json& st) { return st["generation"].get<int64_t>(); }

json require_ready(const Node& node, int64_t after) {
  auto st = node.wait_ready(after);
  INFO("agent log:\n" << node.agent_log_tail());
  REQUIRE(st.has_value());
  // One atomic file replace is one change.
  CHECK(gen(*st) == after + 1);
  return *st;
}

}  // namespace

TEST_CASE("agent applies policy, pod, namespace changes from manifests to real traffic", "[e2e][agent]") {
  Node node("pol", BPFENCE_AGENT_BIN);
  BFE2E_REQUIRE_OK(node.setup());
  const std::string n = node.node_name();
  BFE2E_REQUIRE_OK(node.add_pod("alpha/web", kWeb, {"80/TCP", "5353/UDP"}));
  BFE2E_REQUIRE_OK(node.add_pod("alpha/client", kClientA, {"80/TCP"}));
  BFE2E_REQUIRE_OK(node.add_pod("beta/client", kClientB, {"80/TCP"}));
  node.write_manifest("namespaces.yaml", namespaces_yaml("b"));
  node.write_manifest("pods.yaml", pods_yaml("client", n));
  BFE2E_REQUIRE_OK(node.start_agent());

  // Initial state: one update (the folder as found).
  auto st0 = node.wait_ready(0);
  INFO("agent log:\n" << node.agent_log_tail());
  REQUIRE(st0.has_value());
  CHECK((*st0)["endpoints"]["attached"] == 3);
  CHECK((*st0)["endpoints"]["pending"] == 0);
  CHECK((*st0)["synced"] == true);
  int64_t g = gen(*st0);
  {
    auto eps = json::parse(node.get("/v1/endpoints").body);
    REQUIRE(eps["endpoints"].size() == 3);
    for (const auto& e : eps["endpoints"]) {
      CHECK(e["state"] == "bound");
      CHECK(e["ifindex"].get<int>() > 0);
      CHECK(!e["ifname"].get<std::string>().empty());
    }
  }
  check_traffic(node, {{"alpha/client", kWeb, "tcp", 80, true},
                       {"beta/client", kWeb, "tcp", 80, true},
                       {"alpha/client", kWeb, "udp", 5353, true},
                       {"alpha/client", kWeb, "icmp", 0, true}});

  SECTION("add, edit, relabel, add pod, delete") {
    // 1. Add a policy: web admits app=client of its namespace on 80/TCP.
    node.write_manifest("policy-web.yaml", kWebPolicyV1);
    g = gen(require_ready(node, g));
    check_traffic(node, {{"alpha/client", kWeb, "tcp", 80, true},
                         {"beta/client", kWeb, "tcp", 80, false},
                         {"alpha/client", kWeb, "udp", 5353, false},
                         {"alpha/client", kWeb, "icmp", 0, false},
                         {"node", kWeb, "icmp", 0, true},       // the node is always allowed
                         {"alpha/web", kClientA, "tcp", 80, true}});  // web's egress is not isolated
    {
      // The drop is in the flow table and in the counters.
      auto flows = json::parse(node.get("/v1/flows?match=" + std::string(kWeb) + ":80%20drop").body);
      bool found = false;
      for (const auto& f : flows["flows"])
        if (f["src"] == kClientB && f["verdict"] == "D(FwPolicy)" && f["pod"] == "alpha/web") found = true;
      CHECK(found);
      std::string metrics = node.get("/metrics").body;
      CHECK(metrics.find("bpfence_packets_total{action=\"Drop\",reason=\"FwPolicy\"}") != std::string::npos);
      CHECK(metrics.find("bpfence_policy_packets{policy=\"alpha/web-ingress\",direction=\"ingress\",action=\"allow\"}") !=
            std::string::npos);
      auto verdict = json::parse(node.get("/v1/verdict?from=" + std::string(kClientB) + "&to=" + kWeb +
                                          "&proto=tcp&port=80").body);
      CHECK(verdict["allowed"] == false);
      CHECK(verdict["ingress"]["isolating"][0] == "alpha/web-ingress");
    }

    // 2. Edit it: also namespaces team=b, and 5353/UDP.
    node.write_manifest("policy-web.yaml", kWebPolicyV2);
    g = gen(require_ready(node, g));
    check_traffic(node, {{"alpha/client", kWeb, "tcp", 80, true},
                         {"beta/client", kWeb, "tcp", 80, true},
                         {"alpha/client", kWeb, "udp", 5353, true},
                         {"alpha/client", kWeb, "icmp", 0, false}});

    // 3. Relabel a pod: alpha/client is no longer app=client.
    node.write_manifest("pods.yaml", pods_yaml("other", n));
    g = gen(require_ready(node, g));
    check_traffic(node, {{"alpha/client", kWeb, "tcp", 80, false},
                         {"alpha/client", kWeb, "udp", 5353, false},
                         {"beta/client", kWeb, "tcp", 80, true}});

    // 4. Relabel a namespace: beta is no longer team=b, then is again.
    node.write_manifest("namespaces.yaml", namespaces_yaml("c"));
    g = gen(require_ready(node, g));
    check_traffic(node, {{"beta/client", kWeb, "tcp", 80, false}, {"beta/client", kWeb, "udp", 5353, false}});
    node.write_manifest("namespaces.yaml", namespaces_yaml("b"));
    g = gen(require_ready(node, g));
    check_traffic(node, {{"beta/client", kWeb, "tcp", 80, true}});

    // 5. Add a pod: first its manifest (no interface yet: pending, and
    // /readyz says so), then its interface.
    node.write_manifest("pod-late.yaml", full_pod_yaml("alpha", "late", "client", kLate, n));
    {
      std::optional<json> st;
      bpfence::e2e::wait_until(
          [&] {
            st = node.status();
            return st && gen(*st) > g && (*st)["applied_generation"] == (*st)["generation"];
          },
          10000);
      REQUIRE(st.has_value());
      CHECK(gen(*st) == g + 1);
      CHECK((*st)["endpoints"]["pending"] == 1);
      auto ready = node.get("/readyz");
      CHECK(ready.status == 503);
      CHECK(ready.body.find("alpha/late") != std::string::npos);
      auto eps = json::parse(node.get("/v1/endpoints").body);
      for (const auto& e : eps["endpoints"])
        if (e["pod"] == "alpha/late") CHECK(e["state"] == "pending");
    }
    BFE2E_REQUIRE_OK(node.add_pod("alpha/late", kLate, {"80/TCP"}));
    {
      // No new generation: the interface came, not a change of the cluster.
      bool ready = bpfence::e2e::wait_until([&] { return node.get("/readyz").status == 200; }, 10000);
      INFO("agent log:\n" << node.agent_log_tail());
      REQUIRE(ready);
      g = gen(*node.status());
    }
    check_traffic(node, {{"alpha/late", kWeb, "tcp", 80, true},
                         {"alpha/late", kWeb, "icmp", 0, false},
                         {"alpha/client", kLate, "tcp", 80, true}});

    // 6. Another policy, for egress: beta sends nothing.
    node.write_manifest("policy-beta.yaml", kBetaDenyEgress);
    g = gen(require_ready(node, g));
    check_traffic(node, {{"beta/client", kWeb, "tcp", 80, false},
                         {"beta/client", kClientA, "tcp", 80, false},
                         {"beta/client", node.node_ip(), "icmp", 0, true},  // to the node: always
                         {"alpha/late", kWeb, "tcp", 80, true}});

    // 6b. A policy that selects no pod: enforced at once (nothing changes),
    // linted once changes pause, so its warning shows in /v1/status within
    // a second (the agent waits 250 ms of quiet); removing it clears it.
    auto has_warning = [&](const std::string& policy) {
      auto st = node.status();
      return st && std::any_of((*st)["warnings"].begin(), (*st)["warnings"].end(),
                               [&](const json& w) { return w["policy"] == policy; });
    };
    auto wait_lint = [&](const std::string& policy, bool present) {
      return bpfence::e2e::wait_until([&] { return has_warning(policy) == present; }, 5000, 20);
    };
    node.write_manifest("policy-ghost.yaml", deny_all_yaml("alpha", "ghost", "ghost", "Ingress"));
    g = gen(require_ready(node, g));
    CHECK(wait_lint("alpha/ghost", true));
    node.remove_manifest("policy-ghost.yaml");
    g = gen(require_ready(node, g));
    CHECK(wait_lint("alpha/ghost", false));

    // 7. Delete the policies, one file at a time.
    node.remove_manifest("policy-beta.yaml");
    g = gen(require_ready(node, g));
    check_traffic(node, {{"beta/client", kWeb, "tcp", 80, true}, {"beta/client", kClientA, "tcp", 80, true}});
    node.remove_manifest("policy-web.yaml");
    g = gen(require_ready(node, g));
    check_traffic(node, {{"alpha/client", kWeb, "tcp", 80, true},
                         {"alpha/client", kWeb, "udp", 5353, true},
                         {"alpha/client", kWeb, "icmp", 0, true},
                         {"alpha/late", kWeb, "icmp", 0, true}});

    // 8. The pod's interface goes away: the endpoint turns pending.
    BFE2E_REQUIRE_OK(node.remove_pod("alpha/late"));
    bool pending = bpfence::e2e::wait_until(
        [&] {
          auto st = node.status();
          return st && (*st)["endpoints"]["pending"] == 1 && (*st)["endpoints"]["attached"] == 3;
        },
        10000);
    CHECK(pending);
    CHECK(node.get("/readyz").status == 503);
  }

  SECTION("the API is read-only and rejects bad input") {
    bpfence::e2e::HttpResult r;
    REQUIRE(bpfence::lab::run_in_netns(node.node_netns(), [&]() -> bpfence::Status {
      httplib::Client cli("127.0.0.1", node.listen_port());
      auto post = cli.Post("/v1/status", std::string(100000, 'x'), "application/json");
      r.status = post ? post->status : 0;
      return bpfence::Status::ok();
    }));
    CHECK(r.status == 405);
    CHECK(node.get("/v1/verdict?from=nope&to=1.2.3.4").status == 400);
    CHECK(node.get("/v1/flows?match=999.1.1.1").status == 400);
    CHECK(node.get("/nothing").status == 404);
    CHECK(node.get("/healthz").status == 200);
    auto rules = json::parse(node.get("/v1/rules").body);
    CHECK(rules["rules"].is_array());
  }
}
