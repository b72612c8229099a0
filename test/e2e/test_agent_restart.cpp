// bpfence-agent killed with SIGKILL under traffic: enforcement goes on
// without it (denied stays denied, an established allowed TCP connection
// keeps flowing, new allowed connections still open), and a restarted agent
// adopts the pinned maps and attached programs, reconciles a policy change
// made while it was down, and keeps the established connection and its
// flow entry. Endpoint ids survive the restart (read back from the pinned
// endpoints map), also when a pod that sorts first was deleted meanwhile.
// SIGTERM leaves enforcement in place too.
#include <catch2/catch.hpp>

#include <map>

#include "test_agent_support.h"

namespace {

using bpfence::e2e::json;
using bpfence::e2e::Node;
using bpfence::e2e::Stream;
using namespace bpfence::e2e::manifests;

const char* kWeb = "10.200.1.10";
const char* kClient = "10.200.1.11";
const char* kOther = "10.200.1.12";
const char* kGone = "10.200.1.13";
// The deleted pod's namespace sorts before every other on purpose: endpoint
// ids are handed out in pod-name order, so without carrying them over the
// restart its deletion would renumber the others and orphan their cached
// flows (a reply entry keyed by the old id would no longer let replies in).
const char* kGoneNs = "aa";

// Whether bpfence's programs are attached to a host-side veth.
bool attached(const Node& node, const std::string& host) {
  std::string out;
  bool ok = bpfence::lab::run_command({"tc", "-n", node.node_netns(), "filter", "show", "dev", host, "ingress"}, "",
                                      &out).is_ok();
  return ok && out.find("from_pod") != std::string::npos;
}

// web admits app=client on 80/TCP; open_up adds namespace beta and 8080/TCP.
std::string policy(bool open_up) {
  std::vector<std::string> from = {pods_peer("client")};
  std::vector<PortSpec> ports = {{"TCP", 80}};
  if (open_up) {
    from.push_back(namespaces_peer("kubernetes.io/metadata.name", "beta"));
    ports.push_back({"TCP", 8080});
  }
  return allow_ingress_yaml("alpha", "web", "web", from, ports);
}

struct FlowSeen {
  uint64_t packets = 0;
  uint64_t first_seen_ns = 0;
};

// The stream's flow entry at web's ingress (client -> web:80).
std::optional<FlowSeen> stream_flow(const Node& node, uint16_t client_port) {
  auto r = node.get("/v1/flows?match=" + std::string(kClient) + ":" + std::to_string(client_port) + "%20" + kWeb +
                    ":80%20ingress");
  if (r.status != 200) return std::nullopt;
  json flows = json::parse(r.body);  // named: a temporary would die before the loop
  for (const auto& f : flows["flows"])
    if (f["src"] == kClient && f["sport"] == client_port)
      return FlowSeen{f["packets"].get<uint64_t>(), f["first_seen_ns"].get<uint64_t>()};
  return std::nullopt;
}

uint16_t local_port_of_stream(const Node& node) {
  auto r = node.get("/v1/flows?match=" + std::string(kWeb) + ":80%20ingress%20forward");
  if (r.status != 200) return 0;
  uint16_t port = 0;
  uint64_t most = 0;
  json flows = json::parse(r.body);
  for (const auto& f : flows["flows"])
    if (f["src"] == kClient && f["packets"].get<uint64_t>() > most) {
      most = f["packets"].get<uint64_t>();
      port = f["sport"].get<uint16_t>();
    }
  return port;
}

// pod -> endpoint id, from /v1/endpoints.
std::map<std::string, uint32_t> endpoint_ids(const Node& node) {
  std::map<std::string, uint32_t> out;
  auto r = node.get("/v1/endpoints");
  if (r.status != 200) return out;
  json j = json::parse(r.body);
  for (const auto& e : j["endpoints"]) out[e["pod"].get<std::string>()] = e["endpoint_id"].get<uint32_t>();
  return out;
}

}  // namespace

// Routed pods, or bridged ones (cni0, no per-pod route: a restarted agent
// finds them again by their veths' peers).
void survives_sigkill(bool bridged) {
  Node node(bridged ? "rsbr" : "rst", BPFENCE_AGENT_BIN);
  if (bridged) node.use_bridge("10.200.1.1/24");
  BFE2E_REQUIRE_OK(node.setup());
  const std::string n = node.node_name();
  BFE2E_REQUIRE_OK(node.add_pod("alpha/web", kWeb, {"80/TCP", "8080/TCP"}));
  BFE2E_REQUIRE_OK(node.add_pod("alpha/client", kClient, {}));
  BFE2E_REQUIRE_OK(node.add_pod("beta/other", kOther, {}));
  BFE2E_REQUIRE_OK(node.add_pod("aa/gone", kGone, {}));
  const std::string pods = yaml_documents({pod_yaml("alpha", "web", "web", kWeb, n),
                                           pod_yaml("alpha", "client", "client", kClient, n),
                                           pod_yaml("beta", "other", "client", kOther, n)});
  node.write_manifest("pods.yaml", pods);
  node.write_manifest("pod-gone.yaml", pod_yaml(kGoneNs, "gone", "x", kGone, n));
  node.write_manifest("policy.yaml", policy(false));
  BFE2E_REQUIRE_OK(node.start_agent());
  auto st = node.wait_ready(0);
  INFO("agent log:\n" << node.agent_log_tail());
  REQUIRE(st);
  CHECK((*st)["adopted_previous_state"] == false);
  CHECK(attached(node, node.pod("aa/gone").host));

  Stream stream(*node.pod("alpha/client").handle, kWeb, 80);
  REQUIRE(stream.connected());
  REQUIRE(stream.flows());
  CHECK(node.probe("alpha/client", kWeb, "tcp", 80));
  CHECK_FALSE(node.probe("alpha/client", kWeb, "tcp", 8080));
  CHECK_FALSE(node.probe("beta/other", kWeb, "tcp", 80));
  auto ids_before = endpoint_ids(node);
  REQUIRE(ids_before.size() == 4);
  REQUIRE(ids_before.at("aa/gone") < ids_before.at("alpha/web"));  // the deleted pod holds the lowest id
  uint16_t sport = local_port_of_stream(node);
  REQUIRE(sport != 0);
  auto before = stream_flow(node, sport);
  REQUIRE(before);

  // SIGKILL: no goodbye, nothing cleaned up.
  stream.reset_gap();
  node.kill_agent(SIGKILL);
  REQUIRE_FALSE(node.agent_running());
  CHECK(node.get("/readyz").status == 0);
  CHECK(stream.flows(100));
  CHECK(node.probe("alpha/client", kWeb, "tcp", 80));            // new allowed connections open
  CHECK_FALSE(node.probe("alpha/client", kWeb, "tcp", 8080));   // denied stays denied
  CHECK_FALSE(node.probe("beta/other", kWeb, "tcp", 80));

  // A policy change while no agent runs: nothing changes until one does.
  // And a pod is deleted (its interface stays, as if the CNI were slow).
  node.write_manifest("policy.yaml", policy(true));
  node.remove_manifest("pod-gone.yaml");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK_FALSE(node.probe("alpha/client", kWeb, "tcp", 8080));
  CHECK_FALSE(node.probe("beta/other", kWeb, "tcp", 80));
  CHECK(stream.flows());

  // The restarted agent adopts the pins and reconciles the change.
  BFE2E_REQUIRE_OK(node.start_agent());
  st = node.wait_ready(0);
  REQUIRE(st);
  CHECK((*st)["adopted_previous_state"] == true);
  CHECK((*st)["endpoints"]["attached"] == 3);
  // The remaining pods kept their endpoint ids although the first one is gone.
  auto ids_after = endpoint_ids(node);
  CHECK(ids_after.size() == 3);
  for (const char* pod : {"alpha/web", "alpha/client", "beta/other"}) {
    INFO(pod);
    CHECK(ids_after[pod] == ids_before.at(pod));
  }
  CHECK(node.agent_log_tail(20000).find("matched_pods=3") != std::string::npos);
  // The deleted pod's interface is let go once the first full sync applied.
  CHECK_FALSE(attached(node, node.pod("aa/gone").host));
  CHECK(attached(node, node.pod("alpha/web").host));
  CHECK(node.probe("alpha/client", kWeb, "tcp", 8080));
  CHECK(node.probe("beta/other", kWeb, "tcp", 80));
  CHECK(stream.flows(100));
  CHECK_FALSE(stream.failed());
  // The established connection's flow entry is the same one, still counting.
  auto after = stream_flow(node, sport);
  REQUIRE(after);
  CHECK(after->first_seen_ns == before->first_seen_ns);
  CHECK(after->packets > before->packets);
  // Through kill and restart the stream never stalled (a lost packet would
  // cost a TCP retransmission timeout, 200 ms or more).
  INFO("longest gap between two echoes: " << stream.max_gap_ms() << " ms");
  std::printf("restart: %llu round trips, longest gap between two echoes %.1f ms (2 ms pacing)\n",
              static_cast<unsigned long long>(stream.round_trips()), stream.max_gap_ms());
  CHECK(stream.max_gap_ms() < 150);

  // A change after the restart applies as usual.
  int64_t g = (*st)["generation"].get<int64_t>();
  node.write_manifest("policy.yaml", policy(false));
  st = node.wait_ready(g);
  REQUIRE(st);
  CHECK_FALSE(node.probe("beta/other", kWeb, "tcp", 80));
  CHECK_FALSE(node.probe("alpha/client", kWeb, "tcp", 8080));
  CHECK(stream.flows());

  // SIGTERM: a clean stop still leaves enforcement in place.
  node.kill_agent(SIGTERM);
  CHECK_FALSE(node.probe("beta/other", kWeb, "tcp", 80));
  CHECK(node.probe("alpha/client", kWeb, "tcp", 80));
  CHECK(stream.flows());
  CHECK_FALSE(stream.failed());
  CHECK(node.agent_log_tail().find("programs stay attached") != std::string::npos);
}

TEST_CASE("enforcement survives SIGKILL of the agent; a restart reconciles and keeps flows", "[e2e][agent]") {
  survives_sigkill(false);
}

TEST_CASE("bridged pods: enforcement survives SIGKILL of the agent; a restart reconciles and keeps flows",
          "[e2e][agent][bridge]") {
  survives_sigkill(true);
}
