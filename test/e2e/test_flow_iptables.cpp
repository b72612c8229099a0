// `bpfence flow --match` against an agent running `--dataplane iptables`:
// there is no flow table to read, the agent serves the node's conntrack
// entries on /v1/flows, and the CLI shows them in the same table. A real
// TCP connection between two lab pods must appear, allowed (F), at both
// ends (the client's egress and the server's ingress), named. (A policy is
// applied first: in a namespace where no rule uses conntrack, the kernel
// does not track connections at all.)
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "lab.h"
#include "netns.h"
#include "process.h"

using namespace bpfence;
using namespace bpfence::lab;

namespace {

// An established TCP connection from a lab host to the echo listener.
struct Connection {
  int fd = -1;
  ~Connection() {
    if (fd >= 0) close(fd);
  }
  bool open(const NetnsHandle& ns, const std::string& ip, uint16_t port) {
    fd = socket_in(ns, AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
    timeval tv{2, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  uint16_t local_port() const {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    return getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0 ? ntohs(a.sin_port) : 0;
  }
  bool round_trip(int timeout_ms) {
    if (send(fd, "x", 1, MSG_NOSIGNAL) != 1) return false;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) != 1) return false;
    char c;
    return recv(fd, &c, 1, 0) == 1;
  }
};

// `bpfence ARGS...` in the node's namespace, where its agent listens.
std::string cli_in_node(const Lab& lab, int node, std::vector<std::string> args) {
  std::vector<std::string> argv = {"ip", "netns", "exec", lab.state().topology.nodes.at(node).netns, BPFENCE_CLI_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--agent", lab.state().agent_listen});
  std::string out;
  Status s = run_command(argv, "", &out);
  INFO(s.message() << "\n" << out);
  CHECK(s.is_ok());
  return out;
}

}  // namespace

TEST_CASE("flow --match shows a real allowed connection on an iptables-mode agent", "[flow][iptables]") {
  LabOptions o;
  o.name = "flowipt" + std::to_string(getpid());
  o.nodes = 2;
  o.placement = Placement::Same;  // client and web on node-1
  o.dataplane = "iptables";
  o.agent_path = BPFENCE_AGENT_BIN;
  o.cli_path = BPFENCE_CLI_BIN;
  o.policy_dirs = {BPFENCE_SOURCE_DIR "/test/conformance", BPFENCE_SOURCE_DIR "/manifests"};
  std::unique_ptr<Lab> lab;
  // Story 2: step 1 isolates dev/webserver and admits dev/client1 on 80/TCP.
  auto up = Lab::up(BPFENCE_SOURCE_DIR "/test/conformance/story2-web-db.yaml", o, lab);
  INFO(up.message());
  REQUIRE(up.is_ok());
  const auto& topo = lab->state().topology;
  REQUIRE(lab->apply_steps(1).is_ok());
  const LabHost* web = topo.host("dev/webserver");
  const LabHost* client = topo.host("dev/client1");
  REQUIRE(web);
  REQUIRE(client);
  REQUIRE(web->node == 0);
  REQUIRE(client->node == 0);
  NetnsHandle client_ns(client->netns);
  REQUIRE(client_ns.valid());

  Connection c;
  REQUIRE(c.open(client_ns, web->ip, 80));
  REQUIRE(c.round_trip(2000));

  std::string match = web->ip + ":80";
  auto text = cli_in_node(*lab, 0, {"flow", "--match", match, "-o", "json"});
  auto j = nlohmann::json::parse(text, nullptr, false);
  INFO(text);
  REQUIRE(j.is_object());
  REQUIRE(j["flows"].is_array());
  bool egress_at_client = false, ingress_at_web = false;
  for (const auto& f : j["flows"]) {
    if (f["src"] != client->ip || f["sport"] != c.local_port() || f["dst"] != web->ip || f["dport"] != 80 ||
        f["proto"] != "tcp")
      continue;
    CHECK(f["verdict"] == "F");
    CHECK(f["src_pod"] == "dev/client1");
    CHECK(f["dst_pod"] == "dev/webserver");
    if (f["direction"] == "egress" && f["endpoint"] == "dev/client1") egress_at_client = true;
    if (f["direction"] == "ingress" && f["endpoint"] == "dev/webserver") {
      ingress_at_web = true;
      CHECK(f["reason"] == "Policy");  // webserver is isolated: a rule let it in
    }
  }
  CHECK(egress_at_client);
  CHECK(ingress_at_web);

  // The table form names the source of the flows and the pods.
  auto table = cli_in_node(*lab, 0, {"flow", "--match", match});
  INFO(table);
  CHECK(table.find("conntrack") != std::string::npos);
  CHECK(table.find(client->ip) != std::string::npos);
  CHECK(table.find("(dev/webserver)") != std::string::npos);
  CHECK(lab->down().is_ok());
}

int main(int argc, char** argv) {
  if (geteuid() != 0) {
    const char* ci = std::getenv("CI");
    if (ci && std::string(ci) == "true") {
      std::fprintf(stderr, "FAIL: %s needs root (network namespaces, iptables) and CI=true\n", argv[0]);
      return 1;
    }
    std::fprintf(stderr, "\n*** SKIP: %s needs root (network namespaces, iptables); run as root to test ***\n\n",
                 argv[0]);
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
