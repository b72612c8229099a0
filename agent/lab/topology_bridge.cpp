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

// An address of either family as one number, so that the subnet
// arithmetic is the same: a /24 (IPv4) or a /120 (IPv6) is the address
// without its last byte.
using Addr = unsigned __int128;

Addr num(const std::string& text) {
  Addr out = 0;
  if (text.find(':') == std::string::npos) {
    in_addr a{};
    inet_pton(AF_INET, text.c_str(), &a);
    return ntohl(a.s_addr);
  }
  in6_addr a{};
  inet_pton(AF_INET6, text.c_str(), &a);
  for (uint8_t byte : a.s6_addr) out = out << 8 | byte;
  return out;
}

std::string text(Addr ip, const Family& f) {
  char buf[INET6_ADDRSTRLEN];
  if (!f.v6) {
    in_addr a{htonl(static_cast<uint32_t>(ip))};
    inet_ntop(AF_INET, &a, buf, sizeof buf);
    return buf;
  }
  in6_addr a{};
  for (int i = 15; i >= 0; --i, ip >>= 8) a.s6_addr[i] = static_cast<uint8_t>(ip);
  inet_ntop(AF_INET6, &a, buf, sizeof buf);
  return buf;
}

constexpr Addr kSubnetMask = ~static_cast<Addr>(0xff);

// Where each pod of a node sits: in a /24 only its node uses (on-link
// behind cni0, the node holds the gateway), or alone as a /32 routed to
// cni0 when its /24 also holds another node's pod or an external host.
struct NodePlan {
  std::map<Addr, Addr> subnets;  // /24 (/120) network -> gateway on cni0
  std::vector<Addr> strays;      // /32s (/128s) routed to cni0
  Addr pod_cidr_gateway = 0;     // 10.244.<node-1>.1 (or its IPv6 twin)
};

std::vector<NodePlan> plan_addresses(const Topology& t, const Family& f, Status* error) {
  std::vector<NodePlan> plans(t.nodes.size());
  std::set<Addr> used;
  for (const auto& h : t.hosts) used.insert(num(h.ip));
  auto pod_cidr = [&](size_t i) { return num(f.addr("10.244." + std::to_string(i) + ".0")); };
  // Each node's pod CIDR, whether or not a pod uses it.
  for (size_t i = 0; i < t.nodes.size(); ++i) plans[i].subnets[pod_cidr(i)] = 0;
  auto owner_of = [&](Addr net) -> int {
    for (size_t i = 0; i < t.nodes.size(); ++i)
      if (pod_cidr(i) == net) return static_cast<int>(i);
    return -1;
  };
  for (const auto& h : t.hosts) {
    if (h.external) continue;
    Addr ip = num(h.ip), net = ip & kSubnetMask;
    bool shared = owner_of(net) >= 0 && owner_of(net) != h.node;
    for (const auto& g : t.hosts)
      if (&g != &h && (num(g.ip) & kSubnetMask) == net && (g.external || g.node != h.node)) shared = true;
    if (shared)
      plans[h.node].strays.push_back(ip);
    else
      plans[h.node].subnets[net] = 0;
  }
  for (auto& p : plans) {
    for (auto& [net, gw] : p.subnets) {
      for (Addr cand = net + 1; cand < net + 255 && !gw; ++cand)
        if (!used.count(cand)) gw = cand;
      if (!gw)
        *error = Status::error("bridge layout: no free gateway address in " + text(net, f) + f.subnet_len());
      used.insert(gw);
    }
  }
  for (size_t i = 0; i < plans.size(); ++i) plans[i].pod_cidr_gateway = plans[i].subnets.at(pod_cidr(i));
  return plans;
}

}  // namespace

Status build_bridge_layout(const Topology& t) {
  Status error;
  const Family f{t.ipv6()};
  const std::string len = f.host_len(), sub = f.subnet_len(), router_gw = f.addr(kRouterGateway);
  auto txt = [&](Addr ip) { return text(ip, f); };
  std::vector<NodePlan> plans = plan_addresses(t, f, &error);
  if (!error) return error;

  // The underlay: one bridge joining every node's uplink (host-gw needs the
  // nodes on one segment); it holds the router address for the externals.
  // No multicast snooping: NDP's solicitations reach every port, as ARP's
  // broadcasts do, whatever MLD reports the programs let through.
  const std::string bridge = std::string("type bridge") + (f.v6 ? " mcast_snooping 0" : "");
  std::vector<std::string> router_links = {"link add ulbr address " + mac(UnderlayBridge, 0) + " " + bridge};
  std::vector<std::string> router = {"address add " + router_gw + len + " dev ulbr" + f.nodad(), "link set ulbr up"};
  std::vector<std::vector<std::string>> node_links(t.nodes.size()), node_cfg(t.nodes.size());
  for (size_t i = 0; i < t.nodes.size(); ++i) {
    const auto& n = t.nodes[i];
    std::string rif = "n" + std::to_string(i + 1);
    router_links.push_back("link add " + rif + " address " + mac(RouterToNode, i) +
                           " type veth peer name ul address " + mac(NodeUplink, i) + " netns " + n.netns);
    router.push_back("link set " + rif + " master ulbr");
    router.push_back("link set " + rif + " up");
    const std::string node_ip = f.addr(n.ip);
    router.push_back("route add " + node_ip + len + " dev ulbr");
    router.push_back("neighbor replace " + node_ip + " lladdr " + mac(NodeUplink, i) + " dev ulbr nud permanent");
    node_links[i].push_back("link add cni0 address " + mac(NodeBridge, i) + " " + bridge);
    auto& cfg = node_cfg[i];
    cfg = {"link set lo up",
           "address add " + node_ip + len + " dev ul" + f.nodad(),
           "link set ul up",
           "neighbor replace " + router_gw + " lladdr " + mac(UnderlayBridge, 0) + " dev ul nud permanent",
           "route add " + std::string(f.any()) + " via " + router_gw + " dev ul onlink",
           "link set cni0 up"};
    for (const auto& [net, gw] : plans[i].subnets)
      cfg.push_back("address add " + txt(gw) + sub + " dev cni0" + f.nodad());
    // A pod outside the node's subnets: its own route, through the bridge.
    for (Addr ip : plans[i].strays) cfg.push_back("route add " + txt(ip) + len + " dev cni0");
    // host-gw: every other node's subnets and strays via that node, on L2.
    for (size_t j = 0; j < t.nodes.size(); ++j) {
      if (j == i) continue;
      const std::string via = f.addr(t.nodes[j].ip);
      cfg.push_back("neighbor replace " + via + " lladdr " + mac(NodeUplink, j) + " dev ul nud permanent");
      for (const auto& [net, gw] : plans[j].subnets)
        cfg.push_back("route add " + txt(net) + sub + " via " + via + " dev ul onlink");
      for (Addr ip : plans[j].strays) cfg.push_back("route add " + txt(ip) + len + " via " + via + " dev ul onlink");
    }
    for (const auto& [net, gw] : plans[i].subnets)
      router.push_back("route add " + txt(net) + sub + " via " + node_ip + " dev ulbr onlink");
    for (Addr ip : plans[i].strays) router.push_back("route add " + txt(ip) + len + " via " + node_ip + " dev ulbr onlink");
  }

  int pod_index = 0, ext_index = 0;
  std::vector<std::pair<std::string, std::vector<std::string>>> host_cfg;
  for (const auto& h : t.hosts) {
    if (h.external) {
      int j = ext_index++;
      add_external(f, h, j, &router_links, &router);
      host_cfg.push_back({h.netns,
                          {"link set lo up", "address add " + h.ip + len + " dev eth0" + f.nodad(), "link set eth0 up",
                           "neighbor replace " + router_gw + " lladdr " + mac(RouterToExt, j) + " dev eth0 nud permanent",
                           "route add " + std::string(f.any()) + " via " + router_gw + " dev eth0 onlink"}});
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
    Addr ip = num(h.ip);
    auto subnet = p.subnets.find(ip & kSubnetMask);
    bool stray = std::find(p.strays.begin(), p.strays.end(), ip) != p.strays.end();
    std::vector<std::string> cfg = {"link set lo up"};
    if (!stray && subnet != p.subnets.end()) {
      cfg.push_back("address add " + h.ip + sub + " dev eth0" + f.nodad());
      cfg.push_back("link set eth0 up");
      cfg.push_back("route add " + std::string(f.any()) + " via " + txt(subnet->second) + " dev eth0");
    } else {
      cfg.push_back("address add " + h.ip + len + " dev eth0" + f.nodad());
      cfg.push_back("link set eth0 up");
      cfg.push_back("route add " + std::string(f.any()) + " via " + txt(p.pod_cidr_gateway) + " dev eth0 onlink");
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
