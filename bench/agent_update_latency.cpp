// How long from a manifest edit to the first packet it changes, at 1,000
// pods and 100 policies (most pods on other nodes).
//
// bpfence-agent runs in a node network namespace on a generated manifests
// folder. A client pod sends a UDP datagram to a server pod every 100 us,
// each stamped with its sequence number; the server records which arrive.
// Each round: at T0 the policy file admitting the client is replaced
// (atomically) by one that no longer does; the latency is the send time of
// the first datagram sent after T0 that never arrived, minus T0. Then the
// edit is reverted and the time to the first datagram that passes again is
// measured the same way. Also reported: when /readyz first said 200 for the
// new generation, as seen by a client polling it.
//
// Usage (root): agent_update_latency [--rounds 20] [--pods 1000]
//               [--policies 100] [--out results.json]
#include <cinttypes>
#include <cstring>

#include "provenance.h"
#include "test_agent_support.h"
#include "udp_probe.h"

using namespace bpfence;
using bpfence::e2e::json;
using bpfence::e2e::Node;
using namespace bpfence::bench;

namespace {

const char* kServer = "10.200.2.10";
const char* kClient = "10.200.2.11";
constexpr uint16_t kPort = 9000;

std::string labels(const std::map<std::string, std::string>& l) {
  std::string s = "{";
  for (const auto& [k, v] : l) s += (s.size() > 1 ? ", " : "") + k + ": " + v;
  return s + "}";
}

std::string pod_yaml(const std::string& ns, const std::string& name, const std::map<std::string, std::string>& l,
                     const std::string& node, const std::string& ip) {
  return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + ", namespace: " + ns + ", labels: " + labels(l) +
         "}\nspec:\n  nodeName: " + node +
         "\n  containers: [{name: c, image: x, ports: [{name: metrics, containerPort: 9090}]}]\nstatus: {podIP: " + ip +
         "}\n---\n";
}

// Generated cluster: `namespaces` namespaces, pods spread over them (two of
// them local: the bench's client and server), policies of several shapes.
struct Generated {
  std::string namespaces, pods, policies;
};

Generated generate(int pods, int policies, const std::string& local_node) {
  const int kNamespaces = 20, kApps = 40;
  Generated g;
  for (int n = 0; n < kNamespaces; ++n)
    g.namespaces += "apiVersion: v1\nkind: Namespace\nmetadata: {name: ns-" + std::to_string(n) +
                    ", labels: {team: t" + std::to_string(n % 5) + "}}\n---\n";
  g.namespaces += "apiVersion: v1\nkind: Namespace\nmetadata: {name: bench, labels: {team: t0}}\n";
  g.pods += pod_yaml("bench", "server", {{"app", "server"}}, local_node, kServer);
  g.pods += pod_yaml("bench", "client", {{"app", "client"}, {"tier", "frontend"}}, local_node, kClient);
  for (int i = 0; i < pods - 2; ++i) {
    std::string ip = "10.201." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
    g.pods += pod_yaml("ns-" + std::to_string(i % kNamespaces), "pod-" + std::to_string(i),
                       {{"app", "app-" + std::to_string(i % kApps)}, {"tier", i % 3 ? "backend" : "frontend"}},
                       "remote-" + std::to_string(i % 50), ip);
  }
  // policies - 1 generated ones; the bench's own policy is the last one.
  for (int j = 0; j < policies - 1; ++j) {
    std::string ns = j % 10 == 0 ? "bench" : "ns-" + std::to_string(j % kNamespaces);
    std::string selector = j % 10 == 0 ? "{matchLabels: {app: server}}"
                                       : "{matchLabels: {app: app-" + std::to_string(j % kApps) + "}}";
    std::string p = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: policy-" +
                    std::to_string(j) + ", namespace: " + ns + "}\nspec:\n  podSelector: " + selector +
                    "\n  ingress:\n  - from:\n    - podSelector: {matchLabels: {app: app-" +
                    std::to_string((j + 1) % kApps) + "}}\n    - namespaceSelector: {matchLabels: {team: t" +
                    std::to_string(j % 5) + "}}\n      podSelector: {matchLabels: {tier: frontend}}\n    ports:\n"
                    "    - {protocol: TCP, port: " + std::to_string(8000 + j % 100) + "}\n    - {port: metrics}\n";
    if (j % 4 == 0)
      p += "  - from:\n    - ipBlock: {cidr: 172." + std::to_string(16 + j % 16) + ".0.0/16, except: [172." +
           std::to_string(16 + j % 16) + "." + std::to_string(j % 256) + ".0/24]}\n    ports:\n"
           "    - {protocol: TCP, port: 30000, endPort: " + std::to_string(30000 + j % 1000) + "}\n";
    if (j % 3 == 0)
      p += "  egress:\n  - to:\n    - namespaceSelector: {}\n      podSelector: {matchLabels: {app: app-" +
           std::to_string((j + 7) % kApps) + "}}\n    ports:\n    - {protocol: TCP, port: 5432}\n"
           "  policyTypes: [Ingress, Egress]\n";
    g.policies += p + "---\n";
  }
  return g;
}

// The measured policy: the server admits the client on kPort/UDP (allow)
// or on kPort+1 only (deny).
std::string server_policy(bool allow) {
  return "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: server-ingress, namespace: bench}\n"
         "spec:\n  podSelector: {matchLabels: {app: server}}\n  ingress:\n  - from:\n"
         "    - podSelector: {matchLabels: {app: client}}\n    ports:\n    - {protocol: UDP, port: " +
         std::to_string(allow ? kPort : kPort + 1) + "}\n";
}

// Polls /readyz until it says 200 for a generation above `after`; returns
// when that was seen (monotonic ns), or 0.
int64_t wait_ready_ns(const Node& node, int64_t after) {
  auto deadline = e2e::Clock::now() + std::chrono::seconds(10);
  while (e2e::Clock::now() < deadline) {
    auto r = node.get("/readyz");
    if (r.status == 200) {
      int64_t t = now_ns();
      long long g = 0;
      if (std::sscanf(r.body.c_str(), "ready generation=%lld", &g) == 1 && g > after) return t;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 20, pods = 1000, policies = 100;
  std::string out;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--rounds") rounds = std::atoi(argv[i + 1]);
    else if (a == "--pods") pods = std::atoi(argv[i + 1]);
    else if (a == "--policies") policies = std::atoi(argv[i + 1]);
    else if (a == "--out") out = argv[i + 1];
  }
  if (int rc = e2e::root_or_skip("agent_update_latency")) return rc;

  Node node("lat", BPFENCE_AGENT_BIN);
  auto must = [&](Status s, const char* what) {
    if (!s) {
      std::fprintf(stderr, "%s: %s\n%s\n", what, s.message().c_str(), node.agent_log_tail().c_str());
      std::exit(1);
    }
  };
  must(node.setup(), "setup");
  must(node.add_pod("bench/server", kServer, {}), "server pod");
  must(node.add_pod("bench/client", kClient, {}), "client pod");
  Generated g = generate(pods, policies, node.node_name());
  node.write_manifest("namespaces.yaml", g.namespaces);
  node.write_manifest("pods.yaml", g.pods);
  node.write_manifest("policies.yaml", g.policies);
  node.write_manifest("server-policy.yaml", server_policy(true));
  int64_t t_start = now_ns();
  must(node.start_agent({"--log-level", std::getenv("BENCH_DEBUG") ? "debug" : "info"}), "agent");
  auto st = node.wait_ready(0, 60000);
  if (!st) must(Status::error("agent not ready"), "start");
  std::printf("agent ready in %.0f ms: %s pods, %s policies, %s endpoints bound, %s policy entries\n",
              (now_ns() - t_start) / 1e6, (*st)["objects"]["pods"].dump().c_str(),
              (*st)["objects"]["networkpolicies"].dump().c_str(), (*st)["endpoints"]["attached"].dump().c_str(),
              (*st)["entries"]["policy"].dump().c_str());
  int64_t gen = (*st)["generation"].get<int64_t>();

  {
    // How long one /readyz poll takes (thread into the node netns + HTTP).
    int64_t t = now_ns();
    for (int i = 0; i < 20; ++i) node.get("/readyz");
    std::printf("one /readyz poll takes %.3f ms\n", (now_ns() - t) / 20 / 1e6);
  }
  Traffic traffic(*node.pod("bench/client").handle, *node.pod("bench/server").handle, kServer, kPort);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  if (traffic.last_received() == 0) must(Status::error("no traffic reaches the server"), "traffic");

  std::vector<double> deny_ms, allow_ms, ready_deny_ms, ready_allow_ms;
  uint64_t scan_from = 0;
  for (int r = 0; r < rounds; ++r) {
    for (bool allow : {false, true}) {
      int64_t t0 = now_ns();
      node.write_manifest("server-policy.yaml", server_policy(allow));
      int64_t ready = wait_ready_ns(node, gen);
      if (!ready) must(Status::error("no ready after edit"), "edit");
      gen = node.status().value()["generation"].get<int64_t>();
      std::this_thread::sleep_for(std::chrono::milliseconds(150));
      uint64_t first = traffic.first_sent_after(t0, scan_from);
      uint64_t end = traffic.sent();
      uint64_t hit = end;
      for (uint64_t s = first; s < end; ++s) {
        if (traffic.received(s) == allow) {
          hit = s;
          break;
        }
      }
      if (hit == end) must(Status::error("the edit never changed the traffic"), "measure");
      double ms = (traffic.sent_at(hit) - t0) / 1e6;
      double ready_ms = (ready - t0) / 1e6;
      (allow ? allow_ms : deny_ms).push_back(ms);
      (allow ? ready_allow_ms : ready_deny_ms).push_back(ready_ms);
      std::printf("round %2d %-5s first %s packet %.3f ms after the edit; /readyz 200 seen at %.3f ms\n", r,
                  allow ? "allow" : "deny", allow ? "passing" : "dropped", ms, ready_ms);
      scan_from = end;
    }
  }
  Stats d = stats(deny_ms), a = stats(allow_ms), rd = stats(ready_deny_ms), ra = stats(ready_allow_ms);
  std::printf("\n%d pods (2 local), %d policies, %d rounds, datagram every %.0f us\n", pods, policies, rounds,
              kIntervalNs / 1e3);
  std::printf("%-34s %8s %8s %8s %8s\n", "", "p50 ms", "p90 ms", "p99 ms", "max ms");
  std::printf("%-34s %8.3f %8.3f %8.3f %8.3f\n", "edit -> first packet dropped", d.p50, d.p90, d.p99, d.max);
  std::printf("%-34s %8.3f %8.3f %8.3f %8.3f\n", "revert -> first packet passing", a.p50, a.p90, a.p99, a.max);
  std::printf("%-34s %8.3f %8.3f %8.3f %8.3f\n", "edit -> /readyz 200 (deny)", rd.p50, rd.p90, rd.p99, rd.max);
  std::printf("%-34s %8.3f %8.3f %8.3f %8.3f\n", "revert -> /readyz 200 (allow)", ra.p50, ra.p90, ra.p99, ra.max);
  auto metrics = node.get("/metrics").body;
  size_t at = metrics.find("bpfence_reconcile_duration_seconds_sum");
  if (at != std::string::npos) std::printf("\nagent %s", metrics.substr(at, metrics.find('\n', at) - at + 1).c_str());
  if (!out.empty()) {
    json j = bpfence::bench::provenance();
    j.update(json{{"pods", pods},
              {"local_pods", 2},
              {"policies", policies},
              {"rounds", rounds},
              {"interval_us", kIntervalNs / 1000},
              {"edit_to_first_drop", stats_json(d)},
              {"revert_to_first_pass", stats_json(a)},
              {"edit_to_readyz_deny", stats_json(rd)},
              {"edit_to_readyz_allow", stats_json(ra)},
              {"samples_deny_ms", deny_ms},
              {"samples_allow_ms", allow_ms}});
    std::ofstream(out) << j.dump(2) << "\n";
    std::printf("wrote %s\n", out.c_str());
  }
  return 0;
}
