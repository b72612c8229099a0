// Generating the network benchmark's cluster manifests (netbench_cluster.h).
#include "netbench_cluster.h"

#include <algorithm>
#include <cstdio>

namespace bpfence::bench {

using json = nlohmann::json;

namespace {

constexpr int kNamespaces = 20, kApps = 40, kTeams = 5;

json pod(const std::string& ns, const std::string& name, const json& labels, const std::string& node,
         const std::string& ip) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"labels", labels}}},
          {"spec", {{"nodeName", node}, {"containers", json::array({{{"name", "app"}, {"image", "bench"}}})}}},
          {"status", {{"phase", "Running"}, {"podIP", ip}, {"podIPs", json::array({{{"ip", ip}}})}}}};
}

json policy(const std::string& name, const json& ingress) {
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "NetworkPolicy"},
          {"metadata", {{"name", name}, {"namespace", kBenchNs}}},
          {"spec",
           {{"podSelector", {{"matchLabels", {{"app", "server"}}}}},
            {"policyTypes", json::array({"Ingress"})},
            {"ingress", ingress}}}};
}

json port(const char* proto, int p) { return {{"protocol", proto}, {"port", p}}; }

// Filler j: admits one app of the namespaces of one team, and one /24 of
// its own (a third with an `except`), on a TCP and a UDP port of its own.
// The /24 and the port make every filler's peer set distinct, so an
// iptables renderer cannot merge fillers into a few rules: N policies are
// about N rules per protocol.
json filler(int j) {
  char cidr[32], except[32], name[32];
  std::snprintf(cidr, sizeof cidr, "11.%d.%d.0/24", (j / 256) % 256, j % 256);
  std::snprintf(except, sizeof except, "11.%d.%d.128/28", (j / 256) % 256, j % 256);
  std::snprintf(name, sizeof name, "filler-%05d", j);
  json block = {{"cidr", cidr}};
  if (j % 3 == 0) block["except"] = json::array({except});
  json from = json::array(
      {{{"namespaceSelector", {{"matchLabels", {{"team", "t" + std::to_string(j % kTeams)}}}}},
        {"podSelector", {{"matchLabels", {{"app", "app-" + std::to_string(j % kApps)}}}}}},
       {{"ipBlock", block}}});
  // Own port too: the iptables renderer groups peers by port spec first, so
  // a shared port would merge fillers' peer sets into one rule.
  int p = kDeniedTcpPort + j % 50000;
  return policy(name, json::array({{{"from", from}, {"ports", json::array({port("TCP", p), port("UDP", p)})}}}));
}

json from_client() { return json::array({{{"podSelector", {{"matchLabels", {{"app", "client"}}}}}}}); }

}  // namespace

std::string cluster_manifest(int pods, int policies, const RealPods& real, int round) {
  json items = json::array();
  for (int n = 0; n < kNamespaces; ++n)
    items.push_back({{"apiVersion", "v1"},
                     {"kind", "Namespace"},
                     {"metadata",
                      {{"name", "ns-" + std::to_string(n)},
                       {"labels", {{"team", "t" + std::to_string(n % kTeams)}}}}}});
  items.push_back(
      {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", kBenchNs}, {"labels", {{"team", "bench"}}}}}});
  for (int i = 0; i < std::max(pods - 4, 0); ++i) {  // 3 real pods and the placeholder
    char ip[32];
    std::snprintf(ip, sizeof ip, "10.201.%d.%d", i / 250, i % 250 + 1);
    items.push_back(pod("ns-" + std::to_string(i % kNamespaces), "pod-" + std::to_string(i),
                        {{"app", "app-" + std::to_string(i % kApps)}, {"tier", (i / kApps) % 2 ? "backend" : "frontend"}},
                        "remote-" + std::to_string(i % 50), ip));
  }
  // Keeps the identity the client had in the lab's first cluster alive, so
  // its id is never free for a later identity to take (see the header).
  items.push_back(pod(kBenchNs, "client-initial-hold", {{"app", "client-initial"}}, "remote-0", "10.202.0.1"));
  // The real pods after the synthetic ones (see kBenchNs).
  items.push_back(pod(kBenchNs, "client", {{"app", "client"}, {"bench-round", std::to_string(round)}},
                      real.client_node, kClientIp));
  items.push_back(pod(kBenchNs, "server-remote", {{"app", "server"}}, real.server_remote_node, kServerRemoteIp));
  items.push_back(pod(kBenchNs, "server-local", {{"app", "server"}}, real.server_local_node, kServerLocalIp));
  for (int j = 0; j < policies - 1; ++j) items.push_back(filler(j));
  // The measured traffic's policy comes last, by name too ("zz-"), so a
  // renderer ordering by policy puts its rule at the end of the chain.
  items.push_back(policy("zz-allow-client",
                         json::array({{{"from", from_client()},
                                       {"ports", json::array({port("TCP", kIperfPort), port("UDP", kIperfPort),
                                                              port("TCP", kNetloadPort)})}}})));
  return json{{"apiVersion", "v1"}, {"kind", "List"}, {"items", items}}.dump() + "\n";
}

std::string toggle_manifest(bool allow) {
  json p = policy("zz-toggle", json::array({{{"from", from_client()},
                                              {"ports", json::array({port("UDP", kToggleUdpPort + (allow ? 0 : 1))})}}}));
  return p.dump(1) + "\n";
}

}  // namespace bpfence::bench
