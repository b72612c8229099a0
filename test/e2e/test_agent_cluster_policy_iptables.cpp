// ClusterNetworkPolicy enforced by an agent in iptables mode, with real
// packets between pods of one node: an Admin Accept into a pod a
// NetworkPolicy isolates, an Admin Pass handing a peer to the
// NetworkPolicy step, a Baseline Deny only where no NetworkPolicy isolates
// the pod, an Admin Deny beating a NetworkPolicy allow and cutting an
// established TCP connection; flows and counters name the tier.
#include <catch2/catch.hpp>

#include "bpfence/datapath_abi.h"
#include "test_agent_support.h"

namespace {

using bpfence::e2e::HttpResult;
using bpfence::e2e::json;
using bpfence::e2e::Node;
using namespace bpfence::e2e::manifests;

const char* kWeb = "10.200.9.10";     // alpha/web: a NetworkPolicy admits beta on 80
const char* kClient = "10.200.9.11";  // beta/client
const char* kMon = "10.200.9.12";     // gamma/mon: no NetworkPolicy

std::string cnp(const std::string& name, const std::string& tier, int priority, const std::string& subject_ns,
                const std::string& action, const std::string& from_ns, const std::string& protocols = "") {
  std::string y = "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: {name: " +
                  name + "}\nspec:\n  tier: " + tier + "\n  priority: " + std::to_string(priority) +
                  "\n  subject:\n    namespaces: " + subject_ns + "\n  ingress:\n  - action: " + action +
                  "\n    from:\n    - namespaces: " + from_ns + "\n";
  if (!protocols.empty()) y += "    protocols: " + protocols + "\n";
  return y;
}

std::string ns_is(const std::string& name) { return "{matchLabels: {kubernetes.io/metadata.name: " + name + "}}"; }

// bpfence_packets_total{action=...,reason=...} on the node.
double packets(const Node& n, const std::string& action, const std::string& reason) {
  HttpResult r = n.get("/metrics");
  std::istringstream in(r.body);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("bpfence_packets_total{", 0) == 0 && line.find("action=\"" + action + "\"") != std::string::npos &&
        line.find("reason=\"" + reason + "\"") != std::string::npos)
      return std::stod(line.substr(line.rfind(' ') + 1));
  return 0;
}

// A TCP connection from a pod to an echo listener.
class Socket {
 public:
  Socket(const bpfence::lab::NetnsHandle& from, const std::string& ip, uint16_t port) {
    fd_ = bpfence::e2e::connect_tcp(from, ip, port, &connected_);
  }
  ~Socket() {
    if (fd_ >= 0) close(fd_);
  }
  bool connected() const { return connected_; }
  // One byte out, its echo back within timeout_ms.
  bool round_trip(int timeout_ms) const {
    if (send(fd_, "x", 1, MSG_NOSIGNAL) != 1) return false;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) != 1) return false;
    char c;
    return recv(fd_, &c, 1, 0) == 1;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

// Writes a manifest and waits until the agent enforces it.
void write_and_wait(Node& node, const std::string& name, const std::string& yaml) {
  auto before = node.status();
  REQUIRE(before);
  node.write_manifest(name, yaml);
  auto st = node.wait_ready((*before)["generation"].get<int64_t>());
  INFO("agent log:\n" << node.agent_log_tail());
  REQUIRE(st);
  // Enforced, not refused.
  for (const auto& e : (*st)["errors"]) {
    INFO(e.dump());
    CHECK(e["object"].get<std::string>().rfind("ClusterNetworkPolicy", 0) != 0);
  }
}

// Answered, with a second chance for an expected answer on a loaded
// machine; a refusal is asked once.
bool reaches(const Node& node, const std::string& from, const std::string& ip, uint16_t port) {
  return node.probe(from, ip, "tcp", port) || node.probe(from, ip, "tcp", port, 2000);
}
bool blocked(const Node& node, const std::string& from, const std::string& ip, uint16_t port) {
  return !node.probe(from, ip, "tcp", port);
}

}  // namespace

TEST_CASE("iptables mode enforces ClusterNetworkPolicy tiers with real packets", "[e2e][cnp][iptables]") {
  Node node("cnpi", BPFENCE_AGENT_BIN);
  BFE2E_REQUIRE_OK(node.setup());
  const std::string n = node.node_name();
  BFE2E_REQUIRE_OK(node.add_pod("alpha/web", kWeb, {"80/TCP", "81/TCP"}));
  BFE2E_REQUIRE_OK(node.add_pod("beta/client", kClient, {}));
  BFE2E_REQUIRE_OK(node.add_pod("gamma/mon", kMon, {"80/TCP"}));
  node.write_manifest("cluster.yaml",
                      yaml_documents({namespace_yaml("alpha"), namespace_yaml("beta"), namespace_yaml("gamma"),
                                      pod_yaml("alpha", "web", "web", kWeb, n),
                                      pod_yaml("beta", "client", "client", kClient, n),
                                      pod_yaml("gamma", "mon", "mon", kMon, n),
                                      allow_ingress_yaml("alpha", "beta-on-80", "web",
                                                         {namespaces_peer("kubernetes.io/metadata.name", "beta")},
                                                         {{"TCP", 80}})}));
  BFE2E_REQUIRE_OK(node.start_agent({"--dataplane", "iptables"}));
  REQUIRE(node.wait_ready(0));
  INFO("agent log:\n" << node.agent_log_tail());
  REQUIRE(reaches(node, "beta/client", kWeb, 80));
  CHECK(blocked(node, "beta/client", kWeb, 81));
  CHECK(blocked(node, "gamma/mon", kWeb, 80));
  CHECK(reaches(node, "beta/client", kMon, 80));

  SECTION("Admin Accept into an isolated pod; Pass to the NetworkPolicy step; Baseline only where not isolated") {
    std::string tcp80 = "[{tcp: {destinationPort: {number: 80}}}]";
    write_and_wait(node, "cnp.yaml",
                   yaml_documents({cnp("pass-beta", "Admin", 5, "{}", "Pass", ns_is("beta")),
                                   cnp("mon-scrapes", "Admin", 10, ns_is("alpha"), "Accept", ns_is("gamma"), tcp80),
                                   cnp("deny-rest", "Admin", 20, ns_is("alpha"), "Deny", "{}"),
                                   cnp("baseline-deny", "Baseline", 1, "{}", "Deny", "{}")}));
    // gamma -> alpha:80: the Admin Accept, though alpha/web is isolated.
    CHECK(reaches(node, "gamma/mon", kWeb, 80));
    CHECK(blocked(node, "gamma/mon", kWeb, 81));  // the Admin Deny after it
    // beta: passed to the NetworkPolicy step, which admits 80 only.
    CHECK(reaches(node, "beta/client", kWeb, 80));
    CHECK(blocked(node, "beta/client", kWeb, 81));
    // gamma/mon has no NetworkPolicy: Baseline decides (Pass skips Admin only).
    CHECK(blocked(node, "beta/client", kMon, 80));
    CHECK(blocked(node, "alpha/web", kMon, 80));
    CHECK(packets(node, "Drop", "AdminDeny") > 0);
    CHECK(packets(node, "Drop", "BaselineDeny") > 0);
    CHECK(packets(node, "Forward", "AdminAccept") > 0);

    // A flow let in by the Admin Accept says so, with its rule.
    Socket scrape(*node.pod("gamma/mon").handle, kWeb, 80);
    REQUIRE(scrape.connected());
    HttpResult flows = node.get(std::string("/v1/flows?match=") + kWeb + ":80");
    INFO(flows.body);
    REQUIRE(flows.status == 200);
    bool named = false;
    const json parsed = json::parse(flows.body);
    for (const auto& f : parsed["flows"])
      if (f["src"] == kMon && f["direction"] == "ingress" && f["reason"] == "AdminAccept" &&
          f["rule_id"].get<uint32_t>() >= BF_CNP_RULE_FIRST)
        named = true;
    CHECK(named);
  }

  SECTION("a new Admin Deny beats the NetworkPolicy allow and cuts the established connection") {
    // An established connection, quiet after one round trip (the server
    // only echoes what it receives).
    Socket conn(*node.pod("beta/client").handle, kWeb, 80);
    REQUIRE(conn.connected());
    REQUIRE(conn.round_trip(2000));
    write_and_wait(node, "cnp.yaml", cnp("deny-beta", "Admin", 1, ns_is("alpha"), "Deny", ns_is("beta")));
    CHECK(blocked(node, "beta/client", kWeb, 80));
    CHECK(reaches(node, "beta/client", kMon, 80));  // only alpha is its subject
    // Its conntrack entry went: the next segment meets the Deny, no echo.
    CHECK_FALSE(conn.round_trip(2000));
    CHECK(packets(node, "Drop", "AdminDeny") > 0);

    // Gone again, new connections are the NetworkPolicy's.
    auto before = node.status();
    REQUIRE(before);
    node.remove_manifest("cnp.yaml");
    REQUIRE(node.wait_ready((*before)["generation"].get<int64_t>()));
    CHECK(reaches(node, "beta/client", kWeb, 80));
  }
}
