// Policy map full (issue 8, items 2 and 3): the agent runs with a policy
// map of 64 entries (--max-policy-entries; the real one holds 262,144) and
// a policy arrives whose entries do not fit. Shown with real packets and
// every surface an operator reads:
//   - a clear error naming the map and the policy (alpha/too-big);
//   - nothing half-applied: the entries enforced before are all still
//     there and decide traffic as before (db's policy, untouched by the
//     change, still allows client and denies other);
//   - the pods the policy selects fail closed: new flows dropped,
//     established ones kept; a new pod it selects is denied too;
//   - /readyz, /metrics, the log and `bpfence status` all show it;
//   - removing the policy recovers.
#include <catch2/catch.hpp>

#include "test_agent_support.h"
#include "test_fault_support.h"

namespace {

using bpfence::e2e::Clock;
using bpfence::e2e::json;
using bpfence::e2e::Node;
using bpfence::e2e::Stream;
using namespace bpfence::e2e::manifests;

const char* kWeb = "10.200.5.10";
const char* kClient = "10.200.5.11";
const char* kOther = "10.200.5.12";
const char* kDb = "10.200.5.13";
const char* kWeb2 = "10.200.5.14";
constexpr uint32_t kPolicyMap = 64;

// web admits client on 80/TCP, db admits client on 5432/TCP.
const std::string kPolicies =
    yaml_documents({allow_ingress_yaml("alpha", "web", "web", {pods_peer("client")}, {{"TCP", 80}}),
                    allow_ingress_yaml("alpha", "db", "db", {pods_peer("client")}, {{"TCP", 5432}})});

// 100 single ports from client to web: 100 policy entries for web alone,
// more than the whole map.
std::string too_big() {
  std::vector<PortSpec> ports;
  for (int p = 9000; p < 9100; ++p) ports.push_back({"TCP", p});
  return allow_ingress_yaml("alpha", "too-big", "web", {pods_peer("client")}, ports);
}


}  // namespace

TEST_CASE("a policy larger than the policy map: clear error, nothing half-applied, fail closed, visible, recovers",
          "[e2e][fault][policy-full]") {
  auto t_start = Clock::now();
  Node node("pfl", BPFENCE_AGENT_BIN);
  BFE2E_REQUIRE_OK(node.setup());
  const std::string n = node.node_name();
  BFE2E_REQUIRE_OK(node.add_pod("alpha/web", kWeb, {"80/TCP", "9000/TCP"}));
  BFE2E_REQUIRE_OK(node.add_pod("alpha/client", kClient, {"80/TCP"}));
  BFE2E_REQUIRE_OK(node.add_pod("alpha/other", kOther, {"80/TCP"}));
  BFE2E_REQUIRE_OK(node.add_pod("alpha/db", kDb, {"5432/TCP"}));
  node.write_manifest("pods.yaml", yaml_documents({pod_yaml("alpha", "web", "web", kWeb, n),
                                                   pod_yaml("alpha", "client", "client", kClient, n),
                                                   pod_yaml("alpha", "other", "other", kOther, n),
                                                   pod_yaml("alpha", "db", "db", kDb, n)}));
  node.write_manifest("policies.yaml", kPolicies);
  BFE2E_REQUIRE_OK(node.start_agent({"--max-policy-entries", std::to_string(kPolicyMap)}));
  auto st = node.wait_ready(0);
  INFO("agent log:\n" << node.agent_log_tail());
  REQUIRE(st);
  int64_t g = (*st)["generation"].get<int64_t>();
  int64_t entries_before = (*st)["entries"]["policy"].get<int64_t>();
  CHECK(entries_before > 0);
  CHECK(entries_before < kPolicyMap);

  Stream stream(*node.pod("alpha/client").handle, kWeb, 80);
  REQUIRE(stream.connected());
  REQUIRE(stream.flows());
  CHECK(node.probe("alpha/client", kWeb, "tcp", 80));
  CHECK_FALSE(node.probe("alpha/other", kWeb, "tcp", 80));
  CHECK_FALSE(node.probe("alpha/client", kWeb, "tcp", 9000));
  CHECK(node.probe("alpha/client", kDb, "tcp", 5432));
  CHECK_FALSE(node.probe("alpha/other", kDb, "tcp", 5432));

  // The policy that does not fit.
  auto t_apply = Clock::now();
  node.write_manifest("too-big.yaml", too_big());
  st = node.wait_status([&](const json& s) {
    return s["generation"].get<int64_t>() > g && !s["apply_error"].get<std::string>().empty();
  });
  REQUIRE(st);
  double detect_ms = std::chrono::duration<double, std::milli>(Clock::now() - t_apply).count();
  std::string error = (*st)["apply_error"].get<std::string>();
  INFO("apply_error: " << error);
  CHECK((*st)["applied_generation"].get<int64_t>() == g);
  CHECK(error.find("map policy") != std::string::npos);
  CHECK(error.find("holds " + std::to_string(kPolicyMap)) != std::string::npos);
  CHECK(error.find("nothing was written") != std::string::npos);
  CHECK(error.find("alpha/too-big (+100)") != std::string::npos);
  CHECK(error.find("alpha/db") == std::string::npos);  // only the policies the change adds
  CHECK((*st)["fail_closed"] == json::array({"alpha/web"}));
  bpfence::e2e::check_failure_visible(node, BPFENCE_CLI_BIN, {"map policy", "alpha/too-big"}, {"alpha/web"});

  // Nothing half-applied: the enforced entries are the ones from before
  // (db's policy decides as before), the new ones are not there (client
  // cannot reach web:9000). web is fail-closed: the established stream goes
  // on, new flows to it are dropped.
  CHECK(stream.flows());
  CHECK(node.probe("alpha/client", kDb, "tcp", 5432));
  CHECK_FALSE(node.probe("alpha/other", kDb, "tcp", 5432));
  CHECK_FALSE(node.probe("alpha/client", kWeb, "tcp", 9000));
  CHECK_FALSE(node.probe("alpha/client", kWeb, "tcp", 80));
  CHECK_FALSE(node.probe("alpha/other", kWeb, "tcp", 80));
  CHECK(node.probe("alpha/other", kClient, "tcp", 80));  // not isolated, untouched

  // A new pod the failed policy selects is denied from the start.
  BFE2E_REQUIRE_OK(node.add_pod("alpha/web2", kWeb2, {"80/TCP"}));
  node.write_manifest("pod-web2.yaml", pod_yaml("alpha", "web2", "web", kWeb2, n));
  st = node.wait_status([&](const json& s) {
    for (const auto& p : s["fail_closed"])
      if (p == "alpha/web2") return s["endpoints"]["attached"] == 5;
    return false;
  });
  REQUIRE(st);
  CHECK_FALSE(node.probe("alpha/client", kWeb2, "tcp", 80));
  CHECK_FALSE(node.probe("alpha/other", kWeb2, "tcp", 80));
  bpfence::e2e::check_failure_visible(node, BPFENCE_CLI_BIN, {"map policy", "alpha/too-big"},
                                      {"alpha/web", "alpha/web2"});

  // The policy goes: applied, nothing fail-closed, everything as the
  // remaining policies say.
  node.remove_manifest("too-big.yaml");
  st = node.wait_status([&](const json& s) {
    return s["ready"] == true && s["applied_generation"] == s["generation"] && s["fail_closed"].empty();
  });
  REQUIRE(st);
  CHECK(node.get("/readyz").status == 200);
  std::string metrics = node.get("/metrics").body;
  CHECK(bpfence::e2e::metric_value(metrics, "bpfence_apply_failing") == 0);
  CHECK(bpfence::e2e::metric_value(metrics, "bpfence_fail_closed_endpoints") == 0);
  std::string text = bpfence::e2e::cli_status(node, BPFENCE_CLI_BIN, (*st)["dataplane_location"].get<std::string>());
  INFO("bpfence status:\n" << text);
  CHECK(text.find("(0 fail-closed)") != std::string::npos);
  CHECK(node.agent_log_tail(20000).find("apply recovered") != std::string::npos);
  CHECK(node.probe("alpha/client", kWeb, "tcp", 80));
  CHECK(node.probe("alpha/client", kWeb2, "tcp", 80));
  CHECK_FALSE(node.probe("alpha/client", kWeb, "tcp", 9000));
  CHECK_FALSE(node.probe("alpha/other", kWeb2, "tcp", 80));
  CHECK(node.probe("alpha/client", kDb, "tcp", 5432));
  CHECK(stream.flows());
  CHECK_FALSE(stream.failed());
  std::printf("policy map full: detected and reported in %.0f ms; test_fault_policy_full wall time %.1f s\n",
              detect_ms, std::chrono::duration<double>(Clock::now() - t_start).count());
}
