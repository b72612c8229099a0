// bpfence-agent end to end against the fake API server (in the node
// namespace, as in test_agent_kubeapi.cpp), for what a real API server
// showed: a service account that may not list networkpolicies (HTTP 403)
// is named in /readyz, /v1/status, /metrics, `bpfence status` and one
// error line, and a fixed token file clears it without a restart (checked
// with real TCP); then the server goes away and comes back on the same
// port: the retries stay within the reconnect schedule's 1 s cap, and the
// time to reconnect is measured (printed, not asserted).
#include <catch2/catch.hpp>

#include <regex>

#include "fake_api_server.h"
#include "kubeapi_e2e.h"

namespace {

namespace fs = std::filesystem;
using bpfence::e2e::Clock;
using bpfence::e2e::json;
using bpfence::e2e::Node;
using bpfence::test::FakeApiServer;
using bpfence::test::kNamespaces;
using bpfence::test::kPods;
using bpfence::test::kPolicies;

const char* kWeb = "10.202.0.10";
const char* kClient = "10.202.0.11";
const char* kForbidden =
    "forbidden: cannot list networkpolicies at cluster scope (HTTP 403): check the ClusterRole bound to the agent's "
    "service account";

size_t count(const std::string& text, const std::string& a, const std::string& b = "") {
  size_t n = 0;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);)
    n += line.find(a) != std::string::npos && line.find(b) != std::string::npos;
  return n;
}

// The API server's objects: web isolated for ingress, nothing allowed in.
std::unique_ptr<FakeApiServer> start_server(const Node& node, int port) {
  std::unique_ptr<FakeApiServer> api;
  // Its sockets are made by a thread inside the node namespace, where the agent runs.
  BFE2E_REQUIRE_OK(bpfence::lab::run_in_netns(node.node_netns(), [&]() -> bpfence::Status {
    api = port ? std::make_unique<FakeApiServer>(port) : std::make_unique<FakeApiServer>();
    return bpfence::Status::ok();
  }));
  api->upsert(kNamespaces, bpfence::test::namespace_json("shop"));
  api->upsert(kPods, bpfence::e2e::kube_pod("web", "web", kWeb, node.node_name()));
  api->upsert(kPods, bpfence::e2e::kube_pod("client", "client", kClient, node.node_name()));
  json isolate;
  isolate["metadata"] = {{"name", "web-isolated"}, {"namespace", "shop"}};
  isolate["spec"] = {{"podSelector", {{"matchLabels", {{"app", "web"}}}}}, {"policyTypes", json::array({"Ingress"})}};
  api->upsert(kPolicies, isolate);
  return api;
}

}  // namespace

TEST_CASE("agent on the Kubernetes API: 403 named and cleared by a token fix; reconnect after a restart",
          "[e2e][agent][kubeapi]") {
  Node node("kflt", BPFENCE_AGENT_BIN);
  BFE2E_REQUIRE_OK(node.setup());
  BFE2E_REQUIRE_OK(node.add_pod("web", kWeb, {"80/TCP"}));
  BFE2E_REQUIRE_OK(node.add_pod("client", kClient, {}));

  std::unique_ptr<FakeApiServer> api = start_server(node, 0);
  const int port = api->port();
  // The token the agent starts with may list pods and namespaces, not
  // networkpolicies (a ClusterRole missing that rule).
  api->forbid(kPolicies, "limited");
  const std::string token_file = fs::path(node.manifests_dir()).parent_path().string() + "/token";
  bpfence::test::write_file(token_file, "limited\n");
  const std::string kubeconfig = bpfence::e2e::write_kubeconfig(node, api->url(), "tokenFile: " + token_file);
  node.use_source({"--kubeconfig", kubeconfig});
  BFE2E_REQUIRE_OK(node.start_agent());

  // 1. The 403, named: /readyz, /v1/status, /metrics, `bpfence status`, and
  // one error line however many retries.
  {
    bpfence::e2e::HttpResult ready;
    bpfence::e2e::wait_until(
        [&] {
          ready = node.get("/readyz");
          return ready.body.find(kForbidden) != std::string::npos;
        },
        15000, 50);
    INFO("readyz: " << ready.status << " " << ready.body << "\nagent log:\n" << node.agent_log_tail());
    REQUIRE(ready.body.find(kForbidden) != std::string::npos);
    CHECK(ready.status == 503);
    CHECK(ready.body.find("nothing applied yet") != std::string::npos);
    auto st = node.status();
    REQUIRE(st.has_value());
    CHECK((*st)["source_state"] == "forbidden");
    CHECK((*st)["source_health"] == kForbidden);
    CHECK((*st)["source_healthy"] == false);
    const std::string metrics = node.get("/metrics").body;
    CHECK(metrics.find("bpfence_source_state{state=\"forbidden\"} 1") != std::string::npos);
    CHECK(metrics.find("bpfence_source_state{state=\"ok\"} 0") != std::string::npos);
    const std::string out = bpfence::e2e::run_cli(
        node, BPFENCE_CLI_BIN, {"status", "--node", node.node_name(), "--bpffs", node.bpffs()},
        fs::path(node.agent_log()).parent_path().string() + "/status.txt");
    INFO(out);
    CHECK(out.find("source_state: forbidden") != std::string::npos);
    CHECK(out.find(std::string("source_health: ") + kForbidden) != std::string::npos);

    REQUIRE(api->wait_for([&] { return api->requests(kPolicies, false).size() >= 3; }));
    const std::string log = node.agent_log_tail(200000);
    INFO(log);
    CHECK(count(log, "level=error", "HTTP 403") == 1);
    CHECK(count(log, "level=debug", "retrying after backoff") >= 2);
  }

  // 2. The token file fixed (written atomically, as the kubelet does): the
  // agent syncs and enforces without a restart. Real TCP: web is isolated.
  {
    bpfence::test::write_file(token_file, "full\n");
    auto st = node.wait_ready(0, 15000);
    INFO("agent log:\n" << node.agent_log_tail());
    REQUIRE(st.has_value());
    CHECK((*st)["source_state"] == "ok");
    CHECK(node.get("/readyz").status == 200);
    CHECK(node.get("/metrics").body.find("bpfence_source_state{state=\"ok\"} 1") != std::string::npos);
    CHECK_FALSE(node.probe("client", kWeb, "tcp", 80));
    CHECK(node.agent_log_tail(200000).find("accepts the agent's credentials again") != std::string::npos);
  }

  // 3. The server gone (connections refused) long enough for an unbounded
  // backoff to grow past 2 s, then back on the same port: every wait stays
  // within the 1 s cap; the time to reconnect is measured.
  {
    REQUIRE(api->wait_for([&] { return api->active_streams(kPods) == 1; }));
    const size_t log_before = node.agent_log_tail(1 << 30).size();
    api.reset();
    auto outage_retries = [&] {
      return count(node.agent_log_tail(1 << 30).substr(log_before), "retrying after backoff", "kind=Pod");
    };
    REQUIRE(bpfence::e2e::wait_until([&] { return outage_retries() >= 6; }, 30000, 20));
    api = start_server(node, port);
    const auto back = Clock::now();
    REQUIRE(api->wait_for([&] { return !api->requests().empty(); }, std::chrono::seconds(10)));
    const double first_ms = std::chrono::duration<double, std::milli>(Clock::now() - back).count();
    REQUIRE(api->wait_for(
        [&] {
          return api->active_streams(kNamespaces) == 1 && api->active_streams(kPods) == 1 &&
                 api->active_streams(kPolicies) == 1;
        },
        std::chrono::seconds(10)));
    const double all_ms = std::chrono::duration<double, std::milli>(Clock::now() - back).count();
    const std::string outage = node.agent_log_tail(1 << 30).substr(log_before);
    std::vector<long> delays;
    static const std::regex delay(R"(retrying after backoff.* delay_ms=(\d+))");
    std::istringstream lines(outage);
    for (std::string line; std::getline(lines, line);)
      if (std::smatch m; std::regex_search(line, m, delay)) delays.push_back(std::stol(m[1]));
    INFO(outage);
    REQUIRE(delays.size() >= 6);
    for (long d : delays) CHECK(d <= 1000);
    WARN("reconnect after the API server's return: first request " << first_ms << " ms, all three watches "
         << all_ms << " ms; " << delays.size() << " retries while it was down, longest wait "
         << *std::max_element(delays.begin(), delays.end()) << " ms");
    auto st = node.wait_ready(0, 15000);
    REQUIRE(st.has_value());
    CHECK_FALSE(node.probe("client", kWeb, "tcp", 80));
  }
}
