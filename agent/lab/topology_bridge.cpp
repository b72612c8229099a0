// The lab's bridge layout (topology.h): pods on a cni0 bridge per node with
// the pod subnets' gateways, no per-pod routes, host-gw routes between the
// nodes over an L2 underlay.
#include <arpa/inet.h>

#include <algorithm>
#include <map>
#include <set>

#include "netns.h"
#include "topology_detail.h"

namespace bpfence::lab::topology_detail {
namespace {

uint32_t v4(const std::string& text) {
  in_addr a{};
  inet_pton(AF_INET, text.c_str(), &a);
  return ntohl(a.s_addr);
}

std::string text(uint32_t ip) {
  in_addr a{htonl(ip)};
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

constexpr uint32_t kSlash24 = 0xffffff00u;

// Where each pod of a node sits: in a /24 only its node uses (on-link
// behind cni0, the node holds the gateway), or alone as a /32 routed to
// cni0 when its /24 also holds another node's pod or an external host.
struct NodePlan {
  std::map<uint32_t, uint32_t> subnets;  // /24 network -> gateway on cni0
  std::vector<uint32_t> strays;          // /32s routed to cni0
  uint32_t pod_cidr_gateway = 0;         // 10.244.<node-1>.1
};

std::vector<NodePlan> plan_addresses(const Topology& t, Status* error) {
  std::vector<NodePlan> plans(t.nodes.size());
  std::set<uint32_t> used;
  for (const auto& h : t.hosts) used.insert(v4(h.ip));
  // Each node's pod CIDR, whether or not a pod uses it.
  for (size_t i = 0; i < t.nodes.size(); ++i) {
    uint32_t net = v4("10.244." + std::to_string(i) + ".0");
    plans[i].subnets[net] = 0;
  }
  auto owner_of = [&](uint32_t net) -> int {
    for (size_t i = 0; i < t.nodes.size(); ++i)
      if (v4("10.244." + std::to_string(i) + ".0") == net) return static_cast<int>(i);
    return -1;
  };
  for (const auto& h : t.hosts) {
    if (h.external) continue;
    uint32_t ip = v4(h.ip), net = ip & kSlash24;
    bool shared = owner_of(net) >= 0 && owner_of(net) != h.node;
    for (const auto& g : t.hosts)
      if (&g != &h && (v4(g.ip) & kSlash24) == net && (g.external || g.node != h.node)) shared = true;
    if (shared)
      plans[h.node].strays.push_back(ip);
    else
      plans[h.node].subnets[net] = 0;
  }
  for (auto& p : plans) {
    for (auto& [net, gw] : p.subnets) {
      for (uint32_t cand = net + 1; cand < net + 255 && !gw; ++cand)
        if (!used.count(cand)) gw = cand;
      if (!gw) *error = Status::error("bridge layout: no free gateway address in " + text(net) + "/24");
      used.insert(gw);
    }
  }
  for (size_t i = 0; i < plans.size(); ++i)
    plans[i].pod_cidr_gateway = plans[i].subnets.at(v4("10.244." + std::to_string(i) + ".0"));
  return plans;
}

}  // namespace

Status build_bridge_layout(const Topology& t) {
  Status error;
  std::vector<NodePlan> plans = plan_addresses(t, &error);
  if (!error) return error;

  // The underlay: one bridge joining every node's uplink (host-gw needs the
  // nodes on one segment); it holds the router address for the externals.
  std::vector<std::string> router_links = {"link add ulbr address " + mac(UnderlayBridge, 0) + " type bridge"};
  std::vector<std::string> router = {"address add " + std::string(kRouterGateway) + "/32 dev ulbr",
                                     "link set ulbr up"};
  std::vector<std::vector<std::string>> node_links(t.nodes.size()), node_cfg(t.nodes.size());
  for (size_t i = 0; i < t.nodes.size(); ++i) {
    const auto& n = t.nodes[i];
    std::string rif = "n" + std::to_string(i + 1);
    router_links.push_back("link add " + rif + " address " + mac(RouterToNode, i) +
                           " type veth peer name ul address " + mac(NodeUplink, i) + " netns " + n.netns);
    router.push_back("link set " + rif + " master ulbr");
    router.push_back("link set " + rif + " up");
    router.push_back("route add " + n.ip + "/32 dev ulbr");
    router.push_back("neighbor replace " + n.ip + " lladdr " + mac(NodeUplink, i) + " dev ulbr nud permanent");
    node_links[i].push_back("link add cni0 address " + mac(NodeBridge, i) + " type bridge");
    auto& cfg = node_cfg[i];
    cfg = {"link set lo up",
           "address add " + n.ip + "/32 dev ul",
           "link set ul up",
           "neighbor replace " + std::string(kRouterGateway) + " lladdr " + mac(UnderlayBridge, 0) +
               " dev ul nud permanent",
           "route add default via " + std::string(kRouterGateway) + " dev ul onlink",
           "link set cni0 up"};
    for (const auto& [net, gw] : plans[i].subnets) cfg.push_back("address add " + text(gw) + "/24 dev cni0");
    // A pod outside the node's subnets: its own route, through the bridge.
    for (uint32_t ip : plans[i].strays) cfg.push_back("route add " + text(ip) + "/32 dev cni0");
    // host-gw: every other node's subnets and strays via that node, on L2.
    for (size_t j = 0; j < t.nodes.size(); ++j) {
      if (j == i) continue;
      const std::string& via = t.nodes[j].ip;
      cfg.push_back("neighbor replace " + via + " lladdr " + mac(NodeUplink, j) + " dev ul nud permanent");
      for (const auto& [net, gw] : plans[j].subnets)
        cfg.push_back("route add " + text(net) + "/24 via " + via + " dev ul onlink");
      for (uint32_t ip : plans[j].strays) cfg.push_back("route add " + text(ip) + "/32 via " + via + " dev ul onlink");
    }
    for (const auto& [net, gw] : plans[i].subnets)
      router.push_back("route add " + text(net) + "/24 via " + n.ip + " dev ulbr onlink");
    for (uint32_t ip : plans[i].strays) router.push_back("route add " + text(ip) + "/32 via " + n.ip + " dev ulbr onlink");
  }

  int pod_index = 0, ext_index = 0;
  std::vector<std::pair<std::string, std::vector<std::string>>> host_cfg;
  for (const auto& h : t.hosts) {
    if (h.external) {
      int j = ext_index++;
      add_external(h, j, &router_links, &router);
      host_cfg.push_back({h.netns,
                          {"link set lo up", "address add " + h.ip + "/32 dev eth0", "link set eth0 up",
                           "neighbor replace " + std::string(kRouterGateway) + " lladdr " + mac(RouterToExt, j) +
                               " dev eth0 nud permanent",
                           "route add default via " + std::string(kRouterGateway) + " dev eth0 onlink"}});
      continue;
    }
    int k = pod_index++;
    node_links[h.node].push_back("link add " + h.host_if + " address " + mac(PodHost, k) +
                                 " type veth peer name eth0 address " + mac(PodEth, k) + " netns " + h.netns);
    node_cfg[h.node].push_back("link set " + h.host_if + " master cni0");
    node_cfg[h.node].push_back("link set " + h.host_if + " up");
    // No static neighbours: pods, gateway and node find each other by ARP
    // across the bridge, through the programs on the veths.
    const NodePlan& p = plans[h.node];
    uint32_t ip = v4(h.ip);
    auto subnet = p.subnets.find(ip & kSlash24);
    bool stray = std::find(p.strays.begin(), p.strays.end(), ip) != p.strays.end();
    std::vector<std::string> cfg = {"link set lo up"};
    if (!stray && subnet != p.subnets.end()) {
      cfg.push_back("address add " + h.ip + "/24 dev eth0");
      cfg.push_back("link set eth0 up");
      cfg.push_back("route add default via " + text(subnet->second) + " dev eth0");
    } else {
      cfg.push_back("address add " + h.ip + "/32 dev eth0");
      cfg.push_back("link set eth0 up");
      cfg.push_back("route add default via " + text(p.pod_cidr_gateway) + " dev eth0 onlink");
    }
    host_cfg.push_back({h.netns, cfg});
  }

  if (auto s = ip_batch(t.underlay, router_links); !s) return s;
  for (size_t i = 0; i < t.nodes.size(); ++i)
    if (auto s = ip_batch(t.nodes[i].netns, node_links[i]); !s) return s;
  for (const auto& [netns, cfg] : host_cfg)
    if (auto s = ip_batch(netns, cfg); !s) return s;
  for (size_t i = 0; i < t.nodes.size(); ++i)
    if (auto s = ip_batch(t.nodes[i].netns, node_cfg[i]); !s) return s;
  return ip_batch(t.underlay, router);
}

}  // namespace bpfence::lab::topology_detail
