// When the agent cannot apply a policy (here: it names more CIDRs than the
// cidrs map holds), the previous state stays enforced, the pods the change
// touches are fail-closed (established flows go on, new ones are dropped),
// a new pod selected meanwhile is denied rather than left open, and the
// failure shows in /readyz, /metrics and /v1/status. Removing the policy
// recovers everything. (Issue 8, item 3.)
#include <catch2/catch.hpp>

#include "bpfence/datapath_abi.h"
#include "test_agent_support.h"
#include "test_fault_support.h"

namespace {

using bpfence::e2e::json;
using bpfence::e2e::Node;
using bpfence::e2e::Stream;
using namespace bpfence::e2e::manifests;

const char* kWeb = "10.200.3.10";
const char* kClient = "10.200.3.11";
const char* kOther = "10.200.3.12";
const char* kWeb2 = "10.200.3.13";

// web admits app=client on 80/TCP.
const std::string kAllowClient = allow_ingress_yaml("alpha", "web", "web", {pods_peer("client")}, {{"TCP", 80}});

// A policy for web naming more /32 blocks than the cidrs map holds (JSON:
// quick to write and to parse).
std::string too_many_cidrs() {
  json peers = json::array();
  for (uint32_t i = 0; i < BF_MAX_CIDRS + 64; ++i) {
    uint32_t a = (10u << 24) | (128u << 16) | i;
    std::string ip = std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." +
                     std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255) + "/32";
    peers.push_back({{"ipBlock", {{"cidr", ip}}}});
  }
  json p = {{"apiVersion", "networking.k8s.io/v1"},
            {"kind", "NetworkPolicy"},
            {"metadata", {{"name", "huge"}, {"namespace", "alpha"}}},
            {"spec",
             {{"podSelector", {{"matchLabels", {{"app", "web"}}}}},
              {"ingress", json::array({{{"from", peers}, {"ports", json::array({{{"protocol", "TCP"}, {"port", 8080}}})}}})}}}};
  return p.dump();
}


using bpfence::e2e::metric;

}  // namespace

TEST_CASE("a policy that cannot be applied leaves the old state enforced and fails closed", "[e2e][agent]") {
  Node node("fcl", BPFENCE_AGENT_BIN);
  BFE2E_REQUIRE_OK(node.setup());
  const std::string n = node.node_name();
  BFE2E_REQUIRE_OK(node.add_pod("alpha/web", kWeb, {"80/TCP", "8080/TCP"}));
  BFE2E_REQUIRE_OK(node.add_pod("alpha/client", kClient, {"80/TCP"}));
  BFE2E_REQUIRE_OK(node.add_pod("alpha/other", kOther, {"80/TCP"}));
  node.write_manifest("pods.yaml", yaml_documents({pod_yaml("alpha", "web", "web", kWeb, n),
                                                   pod_yaml("alpha", "client", "client", kClient, n),
                                                   pod_yaml("alpha", "other", "other", kOther, n)}));
  node.write_manifest("policy.yaml", kAllowClient);
  BFE2E_REQUIRE_OK(node.start_agent());
  auto st = node.wait_ready(0);
  INFO("agent log:\n" << node.agent_log_tail());
  REQUIRE(st);
  int64_t g = (*st)["generation"].get<int64_t>();

  Stream stream(*node.pod("alpha/client").handle, kWeb, 80);
  REQUIRE(stream.connected());
  REQUIRE(stream.flows());
  CHECK(node.probe("alpha/client", kWeb, "tcp", 80));
  CHECK_FALSE(node.probe("alpha/other", kWeb, "tcp", 80));

  // The change that cannot be applied.
  node.write_manifest("huge.json", too_many_cidrs());
  st = node.wait_status([&](const json& s) { return s["generation"].get<int64_t>() > g && !s["apply_error"].get<std::string>().empty(); });
  REQUIRE(st);
  CHECK((*st)["applied_generation"].get<int64_t>() == g);
  CHECK((*st)["apply_error"].get<std::string>().find("cidrs") != std::string::npos);
  CHECK((*st)["fail_closed"] == json::array({"alpha/web"}));
  auto ready = node.get("/readyz");
  CHECK(ready.status == 503);
  CHECK(ready.body.find("not applied") != std::string::npos);
  std::string metrics = node.get("/metrics").body;
  CHECK(metric(metrics, "bpfence_apply_failing") == 1);
  CHECK(metric(metrics, "bpfence_fail_closed_endpoints") == 1);
  CHECK(metric(metrics, "bpfence_apply_errors_total") >= 1);
  CHECK(node.agent_log_tail(20000).find("apply failed; previous state stays enforced") != std::string::npos);
  // Every surface, the CLI's included, names the map and the policy.
  bpfence::e2e::check_failure_visible(node, BPFENCE_CLI_BIN, {"map cidrs", "alpha/huge"}, {"alpha/web"});

  // Established flows go on; new ones to or from the touched pod are
  // dropped; pods the change does not touch are as before.
  CHECK(stream.flows());
  CHECK_FALSE(node.probe("alpha/client", kWeb, "tcp", 80));
  CHECK_FALSE(node.probe("alpha/client", kWeb, "tcp", 8080));
  CHECK_FALSE(node.probe("alpha/other", kWeb, "tcp", 80));
  CHECK(node.probe("alpha/other", kClient, "tcp", 80));

  // A new pod the failed policy selects is denied, not left open.
  BFE2E_REQUIRE_OK(node.add_pod("alpha/web2", kWeb2, {"80/TCP"}));
  node.write_manifest("pod-web2.yaml", pod_yaml("alpha", "web2", "web", kWeb2, n));
  st = node.wait_status([&](const json& s) {
    for (const auto& p : s["fail_closed"])
      if (p == "alpha/web2") return s["endpoints"]["attached"] == 4;
    return false;
  });
  REQUIRE(st);
  CHECK_FALSE(node.probe("alpha/client", kWeb2, "tcp", 80));
  CHECK_FALSE(node.probe("alpha/other", kWeb2, "tcp", 80));

  // The policy goes: everything is applied, nothing is fail-closed.
  node.remove_manifest("huge.json");
  st = node.wait_status([&](const json& s) {
    return s["ready"] == true && s["applied_generation"] == s["generation"] && s["fail_closed"].empty();
  });
  REQUIRE(st);
  CHECK(node.get("/readyz").status == 200);
  CHECK(metric(node.get("/metrics").body, "bpfence_apply_failing") == 0);
  CHECK(node.probe("alpha/client", kWeb, "tcp", 80));
  CHECK(node.probe("alpha/client", kWeb2, "tcp", 80));
  CHECK_FALSE(node.probe("alpha/other", kWeb2, "tcp", 80));
  CHECK_FALSE(node.probe("alpha/client", kWeb, "tcp", 8080));
  CHECK(stream.flows());
  CHECK_FALSE(stream.failed());
}
