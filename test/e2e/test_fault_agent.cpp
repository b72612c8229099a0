// Faults under a running bpfence-agent, with real traffic (issue 8):
// - its bpffs pins removed (one map, then the whole folder): enforcement
//   goes on (the programs hold the maps), the agent pins the same maps
//   again within its periodic pass, and a restarted agent adopts them;
// - a pod's veth deleted and recreated (new ifindex, same pod and IP): the
//   agent binds the new one, no denied connection ever opens, allowed ones
//   do, and nothing is left for the old ifindex;
// - a node address added and removed: the agent re-reads its host IPs
//   (issue 4) and traffic from the new address counts as the node's.
#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <set>

#include "test_agent_support.h"

namespace {

using bpfence::e2e::Clock;
using bpfence::e2e::json;
using bpfence::e2e::Node;
using bpfence::e2e::Stream;
using bpfence::e2e::wait_until;
using namespace bpfence::e2e::manifests;
namespace lab = bpfence::lab;

const char* kWeb = "10.200.2.10";
const char* kClient = "10.200.2.11";
const char* kOther = "10.200.2.12";
const char* kBridgeGateway = "10.200.2.1/24";  // cni0 on bridged nodes

// web accepts 80/TCP from app=client only (and, open_up, from namespace beta).
std::string web_policy(bool open_up) {
  std::vector<std::string> from = {pods_peer("client")};
  if (open_up) from.push_back(namespaces_peer("kubernetes.io/metadata.name", "beta"));
  return allow_ingress_yaml("alpha", "web", "web", from, {{"TCP", 80}});
}

// web (alpha, listens on 80 and 8080), client (alpha, allowed), other (beta, denied).
void three_pods(Node& node) {
  const std::string n = node.node_name();
  BFE2E_REQUIRE_OK(node.add_pod("alpha/web", kWeb, {"80/TCP", "8080/TCP"}));
  BFE2E_REQUIRE_OK(node.add_pod("alpha/client", kClient, {}));
  BFE2E_REQUIRE_OK(node.add_pod("beta/other", kOther, {}));
  node.write_manifest("pods.yaml", yaml_documents({pod_yaml("alpha", "web", "web", kWeb, n),
                                                   pod_yaml("alpha", "client", "client", kClient, n),
                                                   pod_yaml("beta", "other", "other", kOther, n)}));
  node.write_manifest("policy.yaml", web_policy(false));
}

void check_enforced(const Node& node) {
  CHECK(node.probe("alpha/client", kWeb, "tcp", 80));
  CHECK_FALSE(node.probe("alpha/client", kWeb, "tcp", 8080));
  CHECK_FALSE(node.probe("beta/other", kWeb, "tcp", 80));
}

// The id of the map pinned at `path` (bpftool), 0 when there is none.
uint64_t pinned_map_id(const std::string& path) {
  std::string out;
  if (!lab::run_command({"bpftool", "-j", "map", "show", "pinned", path}, "", &out)) return 0;
  try {
    return json::parse(out).value("id", uint64_t{0});
  } catch (const std::exception&) {
    return 0;
  }
}


// The keys (ifindexes) of the pinned endpoints map, read with bpftool.
std::set<uint32_t> pinned_endpoint_ifindexes(const std::string& pin_dir) {
  std::set<uint32_t> out;
  std::string text;
  if (!lab::run_command({"bpftool", "-j", "map", "dump", "pinned", pin_dir + "/endpoints"}, "", &text)) return out;
  for (const auto& e : json::parse(text)) {
    // With BTF: {"key": 12, ...}; without: {"key": ["0x0c", "0x00", ...]}.
    if (e.contains("key") && e["key"].is_number()) {
      out.insert(e["key"].get<uint32_t>());
    } else if (e.contains("key") && e["key"].is_array()) {
      uint32_t v = 0;
      for (size_t i = 0; i < 4 && i < e["key"].size(); ++i)
        v |= static_cast<uint32_t>(std::stoul(e["key"][i].get<std::string>(), nullptr, 16)) << (8 * i);
      out.insert(v);
    }
  }
  return out;
}

// A TCP connection from the node namespace with a chosen source address.
bool connect_from(const lab::NetnsHandle& ns, const std::string& src, const std::string& dst, uint16_t port,
                  int timeout_ms = 400) {
  int fd = lab::socket_in(ns, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  sockaddr_in s{}, d{};
  s.sin_family = d.sin_family = AF_INET;
  inet_pton(AF_INET, src.c_str(), &s.sin_addr);
  inet_pton(AF_INET, dst.c_str(), &d.sin_addr);
  d.sin_port = htons(port);
  bool ok = false;
  if (bind(fd, reinterpret_cast<sockaddr*>(&s), sizeof s) == 0) {
    int rc = connect(fd, reinterpret_cast<sockaddr*>(&d), sizeof d);
    if (rc == 0) {
      ok = true;
    } else if (errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof err;
      ok = poll(&p, 1, timeout_ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
    }
  }
  close(fd);
  return ok;
}

}  // namespace

TEST_CASE("fault: bpffs pins removed under the agent are restored; enforcement never stops", "[e2e][fault]") {
  auto t0 = Clock::now();
  Node node("fpin", BPFENCE_AGENT_BIN);
  BFE2E_REQUIRE_OK(node.setup());
  three_pods(node);
  BFE2E_REQUIRE_OK(node.start_agent());
  auto st = node.wait_ready(0);
  INFO("agent log:\n" << node.agent_log_tail());
  REQUIRE(st);
  const std::string pins = (*st)["dataplane_location"].get<std::string>();
  check_enforced(node);
  Stream stream(*node.pod("alpha/client").handle, kWeb, 80);
  REQUIRE(stream.connected());
  REQUIRE(stream.flows());

  std::map<std::string, uint64_t> ids;
  for (const char* m : {"endpoints", "policy", "flows", "pod_addrs"}) ids[m] = pinned_map_id(pins + "/" + m);
  for (const auto& [m, id] : ids) CHECK(id != 0);

  SECTION("one map's pin") {
    REQUIRE(::unlink((pins + "/policy").c_str()) == 0);
  }
  SECTION("the whole pin folder") {
    std::error_code ec;
    std::filesystem::remove_all(pins, ec);
    REQUIRE_FALSE(ec);
    REQUIRE_FALSE(std::filesystem::exists(pins));
  }
  // Nothing changed in the kernel: the programs hold the maps.
  check_enforced(node);
  CHECK(stream.flows());
  // The agent notices on its periodic pass (every second) and pins the same
  // maps again; readers that open pins by path (CLI, bpftool) work again.
  CHECK(wait_until([&] { return pinned_map_id(pins + "/policy") == ids["policy"]; }, 3000, 20));
  for (const auto& [m, id] : ids) {
    INFO(m);
    CHECK(pinned_map_id(pins + "/" + m) == id);
  }
  CHECK(node.agent_log_tail(20000).find("pinned them again") != std::string::npos);
  CHECK(pinned_endpoint_ifindexes(pins).size() == 3);

  // A change after the re-pin is enforced through the same maps.
  int64_t g = (*st)["generation"].get<int64_t>();
  node.write_manifest("policy.yaml", web_policy(true));
  st = node.wait_ready(g);
  REQUIRE(st);
  CHECK(node.probe("beta/other", kWeb, "tcp", 80));
  CHECK_FALSE(node.probe("alpha/client", kWeb, "tcp", 8080));

  // A restarted agent adopts the re-pinned maps: established flow kept.
  node.kill_agent(SIGKILL);
  stream.reset_gap();
  BFE2E_REQUIRE_OK(node.start_agent());
  st = node.wait_ready(0);
  REQUIRE(st);
  CHECK((*st)["adopted_previous_state"] == true);
  CHECK(node.probe("beta/other", kWeb, "tcp", 80));
  CHECK(stream.flows(100));
  CHECK_FALSE(stream.failed());
  CHECK(stream.max_gap_ms() < 150);
  std::printf("fault pins: section done in %.1f s\n",
              std::chrono::duration<double>(Clock::now() - t0).count());
}

// Routed: the veth comes back under its old name, before its host route.
// Bridged: it comes back into the pod's namespace (found by the namespace
// id its peer is in, whatever its name), before its peer has the address.
void veth_recreated(bool bridged) {
  auto t0 = Clock::now();
  Node node(bridged ? "fvbr" : "fveth", BPFENCE_AGENT_BIN);
  if (bridged) node.use_bridge(kBridgeGateway);
  BFE2E_REQUIRE_OK(node.setup());
  three_pods(node);
  BFE2E_REQUIRE_OK(node.start_agent());
  auto st = node.wait_ready(0);
  INFO("agent log:\n" << node.agent_log_tail());
  REQUIRE(st);
  const std::string pins = (*st)["dataplane_location"].get<std::string>();
  check_enforced(node);
  auto before = node.endpoint("alpha/web");
  REQUIRE(before);
  const int old_ifindex = (*before)["ifindex"].get<int>();
  const uint32_t old_id = (*before)["endpoint_id"].get<uint32_t>();
  CHECK(pinned_endpoint_ifindexes(pins).count(old_ifindex));

  // Denied connection attempts (other -> web:80) and attempts to a denied
  // port (client -> web:8080), back to back, from before the veth goes
  // until after the new one is bound: none may ever open.
  std::atomic<bool> stop{false};
  std::atomic<int> attempts{0}, leaked{0};
  std::thread hammer([&] {
    while (!stop) {
      bool a = node.probe("beta/other", kWeb, "tcp", 80, 150);
      bool b = node.probe("alpha/client", kWeb, "tcp", 8080, 150);
      attempts += 2;
      leaked += a + b;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });

  auto& web = node.pod("alpha/web");
  std::string pod_mac;
  {
    std::string out;
    BFE2E_REQUIRE_OK(lab::run_command({"ip", "-n", web.netns, "-o", "link", "show", "eth0"}, "", &out));
    auto at = out.find("link/ether ");
    REQUIRE(at != std::string::npos);
    pod_mac = out.substr(at + 11, 17);
  }
  BFE2E_REQUIRE_OK(lab::ip_batch(node.node_netns(), {"link del " + web.host}));
  CHECK(wait_until([&] {
    auto e = node.endpoint("alpha/web");
    return e && (*e)["state"] == "pending";
  }, 3000, 20));
  // The old ifindex's endpoint entry is gone with its interface.
  CHECK(wait_until([&] { return !pinned_endpoint_ifindexes(pins).count(old_ifindex); }, 3000, 20));

  auto recreated = Clock::now();
  std::optional<json> after;
  double bind_ms = 0;
  auto rebound = [&] {
    after = node.endpoint("alpha/web");
    return after && (*after)["state"] == "bound" && (*after)["ifindex"].get<int>() != old_ifindex;
  };
  if (bridged) {
    // Another name: bridge CNIs name veths at random. The bridge plugin's
    // order: veth, host side into the bridge and up, then the pod's address.
    // The agent must bind the veth before the address exists (it knows the
    // pod's namespace), else a packet could pass in between: checked
    // without a race by waiting for the bind before setting the address.
    const std::string host = web.host + "b";
    // The pod keeps its MAC: the CNI bridge plugin sends a gratuitous ARP
    // that updates the other pods' neighbour entries, which this test (no
    // arping) cannot.
    BFE2E_REQUIRE_OK(lab::ip_batch(node.node_netns(), {"link add " + host + " type veth peer name eth0 address " +
                                                           pod_mac + " netns " + web.netns}));
    BFE2E_REQUIRE_OK(lab::ip_batch(node.node_netns(), {"link set " + host + " master cni0", "link set " + host + " up"}));
    CHECK(wait_until(rebound, 3000, 20));
    bind_ms = std::chrono::duration<double, std::milli>(Clock::now() - recreated).count();
    BFE2E_REQUIRE_OK(node.bridge_pod_side(web));
  } else {
    // The CNI's order: veth, pod side configured, host side up, host route.
    BFE2E_REQUIRE_OK(lab::ip_batch(node.node_netns(), {"link add " + web.host + " type veth peer name eth0 netns " +
                                                           web.netns}));
    BFE2E_REQUIRE_OK(lab::ip_batch(web.netns, {"link set eth0 up", "addr add " + web.ip + "/32 dev eth0",
                                               "route add 169.254.1.1 dev eth0 scope link",
                                               "route add default via 169.254.1.1 dev eth0"}));
    BFE2E_REQUIRE_OK(lab::write_sysctls(node.node_netns(), {{"net/ipv4/conf/" + web.host + "/proxy_arp", "1"}}));
    BFE2E_REQUIRE_OK(lab::ip_batch(node.node_netns(),
                                   {"link set " + web.host + " up", "route add " + web.ip + "/32 dev " + web.host}));
  }
  CHECK(wait_until(rebound, 3000, 20));
  if (!bridged) bind_ms = std::chrono::duration<double, std::milli>(Clock::now() - recreated).count();
  // Keep hammering a little after the bind, then stop.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  stop = true;
  hammer.join();
  std::printf("fault veth (%s): bound again %.1f ms after the veth was recreated (polled); %d denied attempts, %d "
              "opened\n",
              bridged ? "bridge" : "routed", bind_ms, attempts.load(), leaked.load());
  CHECK(leaked == 0);
  REQUIRE(after);
  const int new_ifindex = (*after)["ifindex"].get<int>();
  CHECK((*after)["endpoint_id"].get<uint32_t>() == old_id);

  check_enforced(node);
  st = node.wait_ready(0);
  REQUIRE(st);
  CHECK((*st)["endpoints"]["attached"] == 3);
  std::set<uint32_t> keys = pinned_endpoint_ifindexes(pins);
  CHECK(keys.size() == 3);
  CHECK(keys.count(new_ifindex));
  CHECK_FALSE(keys.count(old_ifindex));
  std::printf("fault veth (%s): done in %.1f s\n", bridged ? "bridge" : "routed",
              std::chrono::duration<double>(Clock::now() - t0).count());
}

TEST_CASE("fault: a pod's veth deleted and recreated is bound again; denied never passes", "[e2e][fault]") {
  veth_recreated(false);
}

TEST_CASE("fault: a bridged pod's veth deleted and recreated is bound again; denied never passes",
          "[e2e][fault][bridge]") {
  veth_recreated(true);
}

TEST_CASE("fault: a node address added while the agent runs is the node's too", "[e2e][fault]") {
  auto t0 = Clock::now();
  Node node("fhip", BPFENCE_AGENT_BIN);
  BFE2E_REQUIRE_OK(node.setup());
  three_pods(node);
  BFE2E_REQUIRE_OK(node.start_agent());
  auto st = node.wait_ready(0);
  INFO("agent log:\n" << node.agent_log_tail());
  REQUIRE(st);
  // web is isolated for ingress; the node may always reach it.
  CHECK(connect_from(node.node_handle(), node.node_ip(), kWeb, 8080));
  CHECK_FALSE(node.probe("beta/other", kWeb, "tcp", 8080));
  const int64_t addrs = (*st)["entries"]["pod_addrs"].get<int64_t>();

  const std::string extra = "10.250.0.2";
  int64_t g = (*st)["generation"].get<int64_t>();
  BFE2E_REQUIRE_OK(lab::ip_batch(node.node_netns(), {"addr add " + extra + "/32 dev lo"}));
  st = node.wait_ready(g);
  REQUIRE(st);
  CHECK((*st)["entries"]["pod_addrs"].get<int64_t>() == addrs + 1);
  CHECK(connect_from(node.node_handle(), extra, kWeb, 8080));
  CHECK(node.agent_log_tail(20000).find("host addresses changed") != std::string::npos);

  g = (*st)["generation"].get<int64_t>();
  BFE2E_REQUIRE_OK(lab::ip_batch(node.node_netns(), {"addr del " + extra + "/32 dev lo"}));
  st = node.wait_ready(g);
  REQUIRE(st);
  CHECK((*st)["entries"]["pod_addrs"].get<int64_t>() == addrs);
  CHECK(connect_from(node.node_handle(), node.node_ip(), kWeb, 8080));
  std::printf("fault host ips: done in %.1f s\n", std::chrono::duration<double>(Clock::now() - t0).count());
}
