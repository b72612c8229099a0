// bpfence-agent end to end on the Kubernetes API source: the real agent runs
// in a node network namespace with `--kubeconfig` pointing at the fake API
// server (test/kubeapi/fake_api_server.h, plain HTTP on the node namespace's
// loopback, bearer token required), pods are namespaces routed over veths,
// and every claim is checked with real TCP packets:
//   list + watch applied; a policy added by a watch event; the watch cut and
//   resumed from its resourceVersion without losing an event made while it
//   was down; 410 Gone -> relist that removes what was deleted meanwhile; a
//   relist holding an object the parser rejects keeps its last good version
//   (and says so in /v1/status and the log); the API server gone entirely:
//   enforcement continues, /readyz says why. No ClusterNetworkPolicy CRD at
//   first: the agent runs, /v1/status says so; installed later, its objects
//   reach the agent (which refuses them until a dataplane enforces them).
#include <catch2/catch.hpp>

#include "fake_api_server.h"
#include "kubeapi_e2e.h"

namespace {

namespace fs = std::filesystem;
using bpfence::e2e::Clock;
using bpfence::e2e::json;
using bpfence::e2e::Node;
using bpfence::test::FakeApiServer;
using bpfence::test::kClusterPolicies;
using bpfence::test::kNamespaces;
using bpfence::test::kPods;
using bpfence::test::kPolicies;

const char* kWeb = "10.201.0.10";
const char* kClient = "10.201.0.11";
const char* kOther = "10.201.0.12";
const char* kRemote = "10.201.9.9";  // a pod of another node: not routed here
const char* kToken = "e2e-token-1";

using bpfence::e2e::run_cli;
const auto pod = bpfence::e2e::kube_pod;

// Ingress to app=web on 80/TCP from pods labelled app=`from`; `bad_cidr`
// adds an ipBlock peer the parser rejects.
json allow_policy(const std::string& name, const std::string& from, const std::string& bad_cidr = "") {
  json peers = json::array({json{{"podSelector", {{"matchLabels", {{"app", from}}}}}}});
  if (!bad_cidr.empty()) peers.push_back(json{{"ipBlock", {{"cidr", bad_cidr}}}});
  json p;
  p["metadata"] = {{"name", name}, {"namespace", "shop"}};
  p["spec"] = {{"podSelector", {{"matchLabels", {{"app", "web"}}}}},
               {"policyTypes", json::array({"Ingress"})},
               {"ingress", json::array({json{{"from", peers},
                                             {"ports", json::array({json{{"protocol", "TCP"}, {"port", 80}}})}}})}};
  return p;
}

// web isolated for ingress: only allow_policy()s let anything in.
json isolate_web() {
  json p;
  p["metadata"] = {{"name", "web-isolated"}, {"namespace", "shop"}};
  p["spec"] = {{"podSelector", {{"matchLabels", {{"app", "web"}}}}}, {"policyTypes", json::array({"Ingress"})}};
  return p;
}

// client -> web and other -> web on 80/TCP, probed together.
std::pair<bool, bool> web_reachable(const Node& node) {
  std::vector<bpfence::lab::ProbeSpec> specs(2);
  specs[0].source = const_cast<Node&>(node).pod("client").handle.get();
  specs[1].source = const_cast<Node&>(node).pod("other").handle.get();
  for (auto& s : specs) {
    s.dst_ip = kWeb;
    s.port.proto = 6;
    s.port.port = 80;
  }
  bpfence::lab::ProbeOptions o;
  o.timeout_ms = 500;
  auto r = bpfence::lab::run_probes(specs, o);
  REQUIRE(r.size() == 2);
  for (const auto& x : r) REQUIRE(x.outcome != bpfence::lab::Outcome::Error);
  return {r[0].outcome == bpfence::lab::Outcome::Allowed, r[1].outcome == bpfence::lab::Outcome::Allowed};
}

int64_t gen(const json& st) { return st["generation"].get<int64_t>(); }

json ready_after(const Node& node, int64_t after) {
  auto st = node.wait_ready(after);
  INFO("agent log:\n" << node.agent_log_tail());
  REQUIRE(st.has_value());
  return *st;
}

size_t lists_of(const FakeApiServer& api, const std::string& path) { return api.requests(path, false).size(); }

}  // namespace

TEST_CASE("agent on the Kubernetes API: list, watch, cut, 410, rejected objects, server down", "[e2e][agent][kubeapi]") {
  auto t0 = Clock::now();
  Node node("kapi", BPFENCE_AGENT_BIN);
  BFE2E_REQUIRE_OK(node.setup());
  BFE2E_REQUIRE_OK(node.add_pod("web", kWeb, {"80/TCP"}));
  BFE2E_REQUIRE_OK(node.add_pod("client", kClient, {}));
  BFE2E_REQUIRE_OK(node.add_pod("other", kOther, {}));

  // The fake API server listens on the node namespace's loopback, where the
  // agent runs: its sockets are made by a thread inside that namespace.
  std::unique_ptr<FakeApiServer> api;
  BFE2E_REQUIRE_OK(bpfence::lab::run_in_netns(node.node_netns(), [&]() -> bpfence::Status {
    api = std::make_unique<FakeApiServer>();
    return bpfence::Status::ok();
  }));
  api->set_token(kToken);
  api->upsert(kNamespaces, bpfence::test::namespace_json("shop", {{"team", "shop"}}));
  api->upsert(kPods, pod("web", "web", kWeb, node.node_name()));
  api->upsert(kPods, pod("client", "client", kClient, node.node_name()));
  api->upsert(kPods, pod("other", "other", kOther, node.node_name()));
  api->upsert(kPods, pod("remote", "db", kRemote, "node-elsewhere"));
  api->upsert(kPolicies, isolate_web());
  api->upsert(kPolicies, allow_policy("allow-client", "client"));

  const std::string kubeconfig = bpfence::e2e::write_kubeconfig(node, api->url(), std::string("token: ") + kToken);
  node.use_source({"--kubeconfig", kubeconfig});
  BFE2E_REQUIRE_OK(node.start_agent({"--trace-new-flows", "--crd-recheck", "1"}));

  // 1. List + watch: the listed state is enforced.
  json st = ready_after(node, 0);
  CHECK(st["source"].get<std::string>().find("kubernetes api " + api->url()) == 0);
  CHECK(st["objects"]["pods"] == 4);
  CHECK(st["objects"]["networkpolicies"] == 2);
  CHECK(st["endpoints"]["attached"] == 3);
  CHECK(web_reachable(node) == std::make_pair(true, false));
  REQUIRE(api->wait_for([&] { return api->active_streams(kPolicies) == 1; }));
  for (const auto& r : api->requests()) CHECK(r.authorization == std::string("Bearer ") + kToken);

  // /v1/pods lists every pod the agent knows, remote ones too, and the CLI
  // names a flow's remote address with it (the flow: client -> remote's IP,
  // recorded by client's egress program before the node drops it, unrouted).
  {
    auto pods = json::parse(node.get("/v1/pods").body);
    std::map<std::string, json> by_name;
    for (const auto& p : pods["pods"]) by_name[p["pod"].get<std::string>()] = p;
    REQUIRE(by_name.count("shop/remote"));
    const json& remote = by_name["shop/remote"];
    CHECK(remote["node"] == "node-elsewhere");
    CHECK(remote["ips"] == json::array({kRemote}));
    CHECK(remote["labels"]["app"] == "db");
    CHECK(remote["local"] == false);
    CHECK(remote["identity"].get<uint32_t>() != 0);
    CHECK(by_name["shop/web"]["local"] == true);
    CHECK(by_name["shop/web"]["identity"].get<uint32_t>() != 0);
    CHECK(by_name["shop/web"]["identity"] != remote["identity"]);

    (void)node.probe("client", kRemote, "tcp", 80, 200);
    std::string out = run_cli(node, BPFENCE_CLI_BIN,
                              {"flow", "--match", kRemote, "--node", node.node_name(), "--bpffs", node.bpffs(), "-o",
                               "json"},
                              fs::path(node.agent_log()).parent_path().string() + "/flow.json");
    INFO(out);
    json flows = json::parse(out, nullptr, false);
    REQUIRE(flows.is_object());
    bool named = false;
    for (const auto& f : flows["flows"])
      named |= f.value("dst_pod", "") == "shop/remote" && f.value("src_pod", "") == "shop/client";
    CHECK(named);
    CHECK(flows["names"].get<std::string>().find("agent") == 0);
  }

  // --trace-new-flows: `flow --follow --all` sees an allowed new flow (not
  // only drops), named through the agent.
  {
    const std::string log = fs::path(node.agent_log()).parent_path().string() + "/follow.log";
    bpfence::lab::SpawnOptions so;
    so.argv = {BPFENCE_CLI_BIN, "flow",   "--follow",          "--all", "--count", "1", "--match",
               std::string(kWeb) + ":80", "--node", node.node_name(), "--bpffs", node.bpffs(), "-o", "json"};
    so.netns = bpfence::lab::netns_path(node.node_netns());
    so.log_path = log;
    so.die_with_parent = true;
    bpfence::lab::ProcessId follower;
    BFE2E_REQUIRE_OK(bpfence::lab::spawn(so, follower));
    bpfence::e2e::wait_until(
        [&] { return bpfence::lab::tail_file(log, 4000).find("following drops and new flows") != std::string::npos; },
        5000, 10);
    CHECK(node.probe("client", kWeb, "tcp", 80));
    bpfence::e2e::wait_until([&] { return !follower.alive(); }, 5000, 10);
    bool exited = !follower.alive();
    if (!exited) bpfence::lab::stop_process(follower, 500);
    std::string out = bpfence::lab::tail_file(log, 4000);
    INFO(out);
    CHECK(exited);
    CHECK(out.find("\"type\":\"new_flow\"") != std::string::npos);
    CHECK(out.find("\"src_pod\":\"shop/client\"") != std::string::npos);
    CHECK(out.find("\"verdict\":\"F\"") != std::string::npos);
  }

  // 1b. No ClusterNetworkPolicy CRD: ready all the same, and said so. The
  // CRD installed later: the agent's next look (--crd-recheck 1) lists and
  // watches it, so a policy created then reaches the agent.
  {
    REQUIRE(st["source_notes"].size() == 1);
    CHECK(st["source_notes"][0].get<std::string>().find("ClusterNetworkPolicy: not served by the API server") == 0);
    CHECK(st["ready"] == true);
    CHECK(node.agent_log_tail(20000).find("kind not served by the API server; running without it") !=
          std::string::npos);
    api->set_served(kClusterPolicies, true);
    api->upsert(kClusterPolicies, bpfence::test::cluster_policy_json("deny-metadata", 1, "169.254.169.254/32"));
    // The agent has it: in its store, or refused by name while no dataplane
    // enforces the tiers.
    auto has_it = [&] {
      json s = json::parse(node.get("/v1/status").body, nullptr, false);
      if (!s.is_object() || !s["source_notes"].empty()) return false;
      if (s["objects"].value("clusternetworkpolicies", 0) == 1) return true;
      for (const auto& e : s["errors"])
        if (e.dump().find("ClusterNetworkPolicy deny-metadata") != std::string::npos) return true;
      return false;
    };
    CHECK(bpfence::e2e::wait_until(has_it, 10000, 20));
    REQUIRE(api->wait_for([&] { return api->active_streams(kClusterPolicies) == 1; }));
    // Deleted through the watch: it goes.
    api->remove(kClusterPolicies, "deny-metadata");
    CHECK(bpfence::e2e::wait_until(
        [&] { return !has_it() && json::parse(node.get("/v1/status").body)["errors"].empty(); }, 10000, 20));
    st = json::parse(node.get("/v1/status").body);
  }

  // 2. A policy added by a watch event takes effect; its lag from delivery
  // to the dataplane is one sample of the update lag histogram.
  const double lags = bpfence::e2e::metric(node.get("/metrics").body, "bpfence_update_lag_seconds_count");
  CHECK(lags >= 1);  // the initial lists
  api->upsert(kPolicies, allow_policy("allow-other", "other"));
  st = ready_after(node, gen(st));
  CHECK(st["objects"]["networkpolicies"] == 3);
  CHECK(web_reachable(node) == std::make_pair(true, true));
  CHECK(bpfence::e2e::metric(node.get("/metrics").body, "bpfence_update_lag_seconds_count") == lags + 1);

  // 3. The watch cut mid-stream; a change made while no stream is open
  // arrives through the resumed watch (from the last resourceVersion, no
  // relist).
  {
    size_t lists = lists_of(*api, kPolicies);
    size_t watches = api->requests(kPolicies, true).size();
    uint64_t rv_before = api->resource_version();
    api->cut_streams();
    REQUIRE(api->wait_for([&] { return api->active_streams(kPolicies) == 0; }));
    api->remove(kPolicies, "shop/allow-other");  // recorded: a DELETED event in the log
    REQUIRE(api->wait_for([&] { return api->active_streams(kPolicies) == 1; }));
    auto resumed = api->requests(kPolicies, true);
    REQUIRE(resumed.size() == watches + 1);
    CHECK(std::stoull(resumed.back().param("resourceVersion")) <= rv_before);
    st = ready_after(node, gen(st));
    CHECK(st["objects"]["networkpolicies"] == 2);
    CHECK(web_reachable(node) == std::make_pair(true, false));
    CHECK(lists_of(*api, kPolicies) == lists);
    CHECK(node.agent_log_tail(20000).find("watch connection lost") != std::string::npos);
  }

  // 4. 410 Gone: the history is compacted (the deletion of allow-client and
  // the new allow-other leave no events), the watch is told its version
  // expired, the agent relists and converges: the deleted policy goes.
  {
    size_t lists = lists_of(*api, kPolicies);
    api->remove(kPolicies, "shop/allow-client", /*record=*/false);
    api->upsert(kPolicies, allow_policy("allow-other", "other"), /*record=*/false);
    api->expire(kPolicies, FakeApiServer::GoneMode::HttpStatus);
    REQUIRE(api->wait_for([&] { return lists_of(*api, kPolicies) == lists + 1; }));
    st = ready_after(node, gen(st));
    CHECK(st["objects"]["networkpolicies"] == 2);
    CHECK(web_reachable(node) == std::make_pair(false, true));
    CHECK(node.agent_log_tail(20000).find("relisting") != std::string::npos);
  }

  // 5. A relist holding a version of allow-other the parser rejects: its
  // last good version stays enforced; the rejection shows in /v1/status and
  // the log. allow-client, re-added in the same relist, is applied.
  {
    size_t lists = lists_of(*api, kPolicies);
    api->upsert(kPolicies, allow_policy("allow-other", "other", "10.0.0.0/99"), /*record=*/false);
    api->upsert(kPolicies, allow_policy("allow-client", "client"), /*record=*/false);
    api->expire(kPolicies, FakeApiServer::GoneMode::ErrorEvent);
    REQUIRE(api->wait_for([&] { return lists_of(*api, kPolicies) == lists + 1; }));
    st = ready_after(node, gen(st));
    CHECK(st["objects"]["networkpolicies"] == 3);
    CHECK(web_reachable(node) == std::make_pair(true, true));
    INFO(st.dump(2));
    bool shown = false;
    for (const auto& e : st["errors"])
      shown |= e.dump().find("NetworkPolicy shop/allow-other") != std::string::npos &&
               e.dump().find("10.0.0.0/99") != std::string::npos;
    CHECK(shown);
    std::string log = node.agent_log_tail(20000);
    CHECK(log.find("object rejected; its last good version stays in force") != std::string::npos);

    // Fixed by a watch event: the error goes away, the new version applies.
    api->upsert(kPolicies, allow_policy("allow-other", "client"));
    st = ready_after(node, gen(st));
    CHECK(st["errors"].empty());
    CHECK(web_reachable(node) == std::make_pair(true, false));
  }

  // 6. The API server gone: connections refused. Enforcement of the last
  // state goes on; /readyz turns 503 and says why; /v1/status and /metrics too.
  {
    int64_t applied = st["applied_generation"].get<int64_t>();
    api.reset();
    bpfence::e2e::HttpResult ready;
    bpfence::e2e::wait_until(
        [&] {
          ready = node.get("/readyz");
          return ready.status == 503;
        },
        15000, 100);
    INFO("readyz: " << ready.status << " " << ready.body << "\nagent log:\n" << node.agent_log_tail());
    REQUIRE(ready.status == 503);
    CHECK(ready.body.find("source unhealthy: kubernetes api") != std::string::npos);
    CHECK(ready.body.find("unreachable") != std::string::npos);
    CHECK(ready.body.find("stays enforced") != std::string::npos);
    auto now = node.status();
    REQUIRE(now.has_value());
    CHECK((*now)["source_healthy"] == false);
    CHECK((*now)["applied_generation"] == applied);
    CHECK(node.get("/metrics").body.find("bpfence_source_healthy 0") != std::string::npos);
    CHECK(node.agent_running());
    CHECK(web_reachable(node) == std::make_pair(true, false));
  }
  std::chrono::duration<double> took = Clock::now() - t0;
  WARN("kubeapi e2e wall time: " << took.count() << " s");
}
