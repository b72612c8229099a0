// The bpf dataplane enforces a ClusterNetworkPolicy (no refusal in
// /v1/status): the connection it denies is dropped, and deleting the object
// lets it through again. The refusal of a dataplane that would not enforce
// it is test_agent_unenforced_policies; the iptables dataplane's tiers are
// test_agent_cluster_policy_iptables.
#include <catch2/catch.hpp>

#include "test_agent_support.h"

namespace {

using bpfence::e2e::json;
using bpfence::e2e::Node;
using namespace bpfence::e2e::manifests;

const char* kWeb = "10.200.7.10";
const char* kClient = "10.200.7.11";

const char* kAdminDeny = R"(apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata:
  name: deny-beta-to-web
spec:
  tier: Admin
  priority: 10
  subject:
    namespaces: {matchLabels: {kubernetes.io/metadata.name: alpha}}
  ingress:
  - action: Deny
    from:
    - namespaces: {matchLabels: {kubernetes.io/metadata.name: beta}}
)";

const json* refusal(const json& status) {
  for (const auto& e : status["errors"])
    if (e["object"] == "ClusterNetworkPolicy deny-beta-to-web") return &e;
  return nullptr;
}

}  // namespace

TEST_CASE("a ClusterNetworkPolicy is enforced by the bpf dataplane: its Deny drops, deleting it lifts it",
          "[e2e][cnp]") {
  Node node("cnpbpf", BPFENCE_AGENT_BIN);
  BFE2E_REQUIRE_OK(node.setup());
  const std::string n = node.node_name();
  BFE2E_REQUIRE_OK(node.add_pod("alpha/web", kWeb, {"80/TCP"}));
  BFE2E_REQUIRE_OK(node.add_pod("beta/client", kClient, {}));
  node.write_manifest("pods.yaml", yaml_documents({pod_yaml("alpha", "web", "web", kWeb, n),
                                                   pod_yaml("beta", "client", "client", kClient, n)}));
  node.write_manifest("cnp.yaml", kAdminDeny);
  BFE2E_REQUIRE_OK(node.start_agent({}));
  auto st = node.wait_ready(0);
  INFO("agent log:\n" << node.agent_log_tail());
  REQUIRE(st);
  INFO("status: " << st->dump());
  CHECK_FALSE(refusal(*st));
  CHECK_FALSE(node.probe("beta/client", kWeb, "tcp", 80));

  node.remove_manifest("cnp.yaml");
  REQUIRE(node.wait_ready((*st)["generation"].get<int64_t>()));
  CHECK(node.probe("beta/client", kWeb, "tcp", 80));
}
