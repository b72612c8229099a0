// Endpoint discovery on a bridged node (flannel, k3s, the CNI bridge
// plugin): pods are ports of cni0 with no route of their own, so the agent
// binds each pod to the veth whose peer, in the pod's namespace, holds the
// pod's address. A /32 routed through the bridge (a pod outside the node's
// pod CIDR) leads to cni0, which is nobody's interface: the agent must
// never bind it. An address set in a pod's namespace after its veth exists
// (no link event on the node) is seen from the node by its event.
#include <catch2/catch.hpp>

#include "test_agent_support.h"

namespace {

using bpfence::e2e::json;
using bpfence::e2e::Node;
using bpfence::e2e::wait_until;
using namespace bpfence::e2e::manifests;
namespace lab = bpfence::lab;

const char* kWeb = "10.200.3.10";
const char* kClient = "10.200.3.11";
const char* kOther = "10.200.3.12";
const char* kLate = "10.200.9.9";  // outside cni0's subnet: a /32 through the bridge


}  // namespace

TEST_CASE("bridge: each pod is bound to its own veth, never to the bridge; pod addresses followed by events",
          "[e2e][bridge]") {
  Node node("brdi", BPFENCE_AGENT_BIN);
  node.use_bridge("10.200.3.1/24");
  BFE2E_REQUIRE_OK(node.setup());
  const std::string n = node.node_name();
  BFE2E_REQUIRE_OK(node.add_pod("alpha/web", kWeb, {"80/TCP", "8080/TCP"}));
  BFE2E_REQUIRE_OK(node.add_pod("alpha/client", kClient, {}));
  BFE2E_REQUIRE_OK(node.add_pod("beta/other", kOther, {}));
  // Its veth is a port of cni0, its namespace has no address yet.
  BFE2E_REQUIRE_OK(node.add_pod("beta/late", kLate, {}, false));
  // Host routes through the bridge, as a node has for a pod outside its pod
  // CIDR: to web (which also sits in the subnet) and to late.
  BFE2E_REQUIRE_OK(lab::ip_batch(node.node_netns(), {"route add " + std::string(kWeb) + "/32 dev cni0",
                                                     "route add " + std::string(kLate) + "/32 dev cni0"}));
  node.write_manifest("pods.yaml", yaml_documents({pod_yaml("alpha", "web", "web", kWeb, n),
                                                   pod_yaml("alpha", "client", "client", kClient, n),
                                                   pod_yaml("beta", "other", "other", kOther, n),
                                                   pod_yaml("beta", "late", "late", kLate, n)}));
  node.write_manifest("policy.yaml", allow_ingress_yaml("alpha", "web", "web", {pods_peer("client")}, {{"TCP", 80}}));
  BFE2E_REQUIRE_OK(node.start_agent());
  INFO("agent log:\n" << node.agent_log_tail());

  // Three pods bound to their veths; late pending, and /readyz says so.
  auto st = node.wait_status([](const json& j) { return j["endpoints"]["attached"] == 3; });
  REQUIRE(st);
  for (const char* pod : {"alpha/web", "alpha/client", "beta/other"}) {
    auto e = node.endpoint(pod);
    INFO(pod << ": " << (e ? e->dump() : "no endpoint"));
    REQUIRE(e);
    CHECK((*e)["state"] == "bound");
    CHECK((*e)["ifname"] == node.pod(pod).host);
  }
  auto late = node.endpoint("beta/late");
  REQUIRE(late);
  CHECK((*late)["state"] == "pending");
  CHECK((*late)["ifname"] != "cni0");
  auto ready = node.get("/readyz");
  CHECK(ready.status == 503);
  CHECK(ready.body.find("beta/late") != std::string::npos);

  // Bridged same-node traffic crosses both pods' programs.
  CHECK(node.probe("alpha/client", kWeb, "tcp", 80));
  CHECK_FALSE(node.probe("alpha/client", kWeb, "tcp", 8080));
  CHECK_FALSE(node.probe("beta/other", kWeb, "tcp", 80));
  CHECK(node.probe("beta/other", kClient, "icmp", 0));
  // The node, from cni0's gateway address, reaches a port of web that no pod
  // may (the node is always allowed); web reaches the gateway.
  CHECK(node.probe("node", kWeb, "tcp", 8080));
  CHECK(node.probe("alpha/web", "10.200.3.1", "icmp", 0));

  // late's address appears in its own namespace only: the node sees no
  // link or route change, the agent binds late from the address event.
  auto& l = node.pod("beta/late");
  BFE2E_REQUIRE_OK(lab::ip_batch(l.netns, {"link set lo up", "link set eth0 up",
                                           "addr add " + std::string(kLate) + "/32 dev eth0",
                                           "route add default via 10.200.3.1 dev eth0 onlink"}));
  st = node.wait_ready(0);
  REQUIRE(st);
  late = node.endpoint("beta/late");
  REQUIRE(late);
  CHECK((*late)["state"] == "bound");
  CHECK((*late)["ifname"] == l.host);
  // Routed onto the bridge by its /32, denied by web's policy at web's veth.
  CHECK_FALSE(node.probe("beta/late", kWeb, "tcp", 80));
  CHECK(node.probe("alpha/client", kWeb, "tcp", 80));
  CHECK(node.probe("beta/late", kClient, "icmp", 0));
}
