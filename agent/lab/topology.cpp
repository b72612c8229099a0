// Planning and building the lab's namespaces, veths, addresses and routes.
#include "topology.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "netns.h"
#include "topology_detail.h"

namespace bpfence::lab {

using namespace topology_detail;

const char* cni_name(Cni cni) { return cni == Cni::Bridge ? "bridge" : "routed"; }

std::optional<Cni> parse_cni(const std::string& text) {
  if (text == "routed") return Cni::Routed;
  if (text == "bridge") return Cni::Bridge;
  return std::nullopt;
}

std::string topology_detail::mac(int role, int index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "02:bf:%02x:00:%02x:%02x", role, (index >> 8) & 0xff, index & 0xff);
  return buf;
}

void topology_detail::add_external(const Family& f, const LabHost& h, int j, std::vector<std::string>* router_links,
                                   std::vector<std::string>* router) {
  router_links->push_back("link add " + h.host_if + " address " + mac(RouterToExt, j) +
                          " type veth peer name eth0 address " + mac(ExtEth, j) + " netns " + h.netns);
  router->push_back("address add " + f.addr(kRouterGateway) + f.host_len() + " dev " + h.host_if + f.nodad());
  router->push_back("link set " + h.host_if + " up");
  router->push_back("neighbor replace " + h.ip + " lladdr " + mac(ExtEth, j) + " dev " + h.host_if + " nud permanent");
  router->push_back("route add " + h.ip + f.host_len() + " dev " + h.host_if);
}

bool Topology::ipv6() const {
  return std::any_of(hosts.begin(), hosts.end(), [](const LabHost& h) { return h.ip.find(':') != std::string::npos; });
}

std::vector<std::string> Topology::all_netns() const {
  std::vector<std::string> out{underlay};
  for (const auto& n : nodes) out.push_back(n.netns);
  for (const auto& h : hosts) out.push_back(h.netns);
  return out;
}

const LabHost* Topology::host(const std::string& name) const {
  for (const auto& h : hosts)
    if (h.name == name) return &h;
  return nullptr;
}

Topology plan_topology(const Scenario& scenario, const std::string& prefix, int nodes, Placement placement,
                       Cni cni) {
  Topology t;
  t.cni = cni;
  t.prefix = prefix;
  t.underlay = prefix + "-ul";
  for (int i = 0; i < nodes; ++i)
    t.nodes.push_back({"node-" + std::to_string(i + 1), prefix + "-n" + std::to_string(i + 1),
                       "192.0.2." + std::to_string(i + 1)});
  int pod = 0, ext = 0;
  std::vector<int> numbered(nodes, 0);
  for (const auto& h : scenario.hosts) {
    LabHost l;
    l.name = h.name;
    l.ip = h.ip;
    l.external = h.external;
    if (h.external) {
      l.netns = prefix + "-x" + std::to_string(ext);
      l.host_if = "x" + std::to_string(ext);
      ++ext;
    } else {
      l.netns = prefix + "-p" + std::to_string(pod);
      l.host_if = "p" + std::to_string(pod);
      l.node = placement == Placement::Same ? 0 : pod % nodes;
      // Bridge CNIs give each node a pod CIDR; unfixed pods come from it
      // (its IPv6 twin in a scenario moved to IPv6).
      if (cni == Cni::Bridge && !h.ip_fixed) {
        l.ip = "10.244." + std::to_string(l.node) + "." + std::to_string(10 + numbered[l.node]++);
        if (h.ip.find(':') != std::string::npos) l.ip = ipv6_twin(l.ip);
      }
      ++pod;
    }
    t.hosts.push_back(l);
  }
  return t;
}

Status build_topology(const Topology& t) {
  if (auto s = netns_add(t.all_netns()); !s) return s;
  if (t.ipv6())
    if (auto s = write_ipv6_link_defaults(t); !s) return s;
  if (t.cni == Cni::Bridge) {
    if (auto s = build_bridge_layout(t); !s) return s;
    return write_lab_sysctls(t);
  }

  const Family f{t.ipv6()};
  const std::string len = f.host_len(), pod_gw = f.addr(kPodGateway), router_gw = f.addr(kRouterGateway);
  std::vector<std::string> router, router_links;
  std::vector<std::vector<std::string>> node_links(t.nodes.size()), node_cfg(t.nodes.size());

  // Links first: each veth pair is created with its peer directly in the
  // other namespace.
  for (size_t i = 0; i < t.nodes.size(); ++i) {
    const auto& n = t.nodes[i];
    std::string rif = "n" + std::to_string(i + 1);
    router_links.push_back("link add " + rif + " address " + mac(RouterToNode, i) + " type veth peer name ul address " +
                           mac(NodeUplink, i) + " netns " + n.netns);
    const std::string node_ip = f.addr(n.ip);
    router.push_back("address add " + router_gw + len + " dev " + rif + f.nodad());
    router.push_back("link set " + rif + " up");
    router.push_back("route add " + node_ip + len + " dev " + rif);
    router.push_back("neighbor replace " + node_ip + " lladdr " + mac(NodeUplink, i) + " dev " + rif + " nud permanent");
    node_cfg[i] = {
        "link set lo up",
        "address add " + node_ip + len + " dev ul" + f.nodad(),
        "link set ul up",
        "neighbor replace " + router_gw + " lladdr " + mac(RouterToNode, i) + " dev ul nud permanent",
        "route add " + std::string(f.any()) + " via " + router_gw + " dev ul onlink",
    };
  }

  int pod_index = 0, ext_index = 0;
  for (const auto& h : t.hosts) {
    if (h.external) {
      add_external(f, h, ext_index++, &router_links, &router);
    } else {
      int k = pod_index++;
      auto& links = node_links[h.node];
      auto& cfg = node_cfg[h.node];
      links.push_back("link add " + h.host_if + " address " + mac(PodHost, k) + " type veth peer name eth0 address " +
                      mac(PodEth, k) + " netns " + h.netns);
      cfg.push_back("address add " + pod_gw + len + " dev " + h.host_if + f.nodad());
      cfg.push_back("link set " + h.host_if + " up");
      cfg.push_back("neighbor replace " + h.ip + " lladdr " + mac(PodEth, k) + " dev " + h.host_if + " nud permanent");
      cfg.push_back("route add " + h.ip + len + " dev " + h.host_if);
      router.push_back("route add " + h.ip + len + " via " + f.addr(t.nodes[h.node].ip) + " dev n" +
                       std::to_string(h.node + 1) + " onlink");
    }
  }

  if (auto s = ip_batch(t.underlay, router_links); !s) return s;
  for (size_t i = 0; i < t.nodes.size(); ++i)
    if (auto s = ip_batch(t.nodes[i].netns, node_links[i]); !s) return s;

  // Hosts (pods, externals): addresses and routes inside their own netns.
  pod_index = ext_index = 0;
  for (const auto& h : t.hosts) {
    std::string gw = h.external ? router_gw : pod_gw;
    int idx = h.external ? ext_index++ : pod_index++;
    std::string peer_mac = h.external ? mac(RouterToExt, idx) : mac(PodHost, idx);
    if (auto s = ip_batch(h.netns, {"link set lo up", "address add " + h.ip + len + " dev eth0" + f.nodad(),
                                    "link set eth0 up",
                                    "neighbor replace " + gw + " lladdr " + peer_mac + " dev eth0 nud permanent",
                                    "route add " + std::string(f.any()) + " via " + gw + " dev eth0 onlink"});
        !s)
      return s;
  }
  for (size_t i = 0; i < t.nodes.size(); ++i)
    if (auto s = ip_batch(t.nodes[i].netns, node_cfg[i]); !s) return s;
  if (auto s = ip_batch(t.underlay, router); !s) return s;

  return write_lab_sysctls(t);
}

Status topology_detail::write_ipv6_link_defaults(const Topology& t) {
  // Set before the links exist, so that they inherit it: no link-local
  // address (every next hop is a static neighbour or found by NDP on a
  // global address), no DAD, no router solicitation or advertisement. The
  // probes and their replies, NDP on the bridges and MLD reports are then
  // the only IPv6 packets the programs see.
  const std::vector<std::pair<std::string, std::string>> v6 = {
      {"net/ipv6/conf/all/disable_ipv6", "0"},         {"net/ipv6/conf/default/disable_ipv6", "0"},
      {"net/ipv6/conf/default/addr_gen_mode", "1"},    {"net/ipv6/conf/all/accept_dad", "0"},
      {"net/ipv6/conf/default/accept_dad", "0"},       {"net/ipv6/conf/default/dad_transmits", "0"},
      {"net/ipv6/conf/all/accept_ra", "0"},            {"net/ipv6/conf/default/accept_ra", "0"},
      {"net/ipv6/conf/all/router_solicitations", "0"}, {"net/ipv6/conf/default/router_solicitations", "0"}};
  for (const auto& ns : t.all_netns())
    if (auto s = write_sysctls(ns, v6); !s) return s;
  return Status::ok();
}

Status topology_detail::write_lab_sysctls(const Topology& t) {
  // Forwarding on the nodes and the router; no reverse-path filter (a pod's
  // replies leave by the default route, not by the /32 they came in on);
  // in an IPv4 run no IPv6, so no router solicitations or DAD packets cross
  // the programs (an IPv6 run turned those off before making the links).
  std::vector<std::pair<std::string, std::string>> common = {{"net/ipv4/conf/all/rp_filter", "0"},
                                                             {"net/ipv4/conf/*/rp_filter", "0"}};
  if (!t.ipv6()) {
    common.push_back({"net/ipv6/conf/all/disable_ipv6", "1"});
    common.push_back({"net/ipv6/conf/default/disable_ipv6", "1"});
  }
  auto forwarding = common;
  forwarding.push_back({"net/ipv4/ip_forward", "1"});
  if (t.ipv6()) forwarding.push_back({"net/ipv6/conf/all/forwarding", "1"});
  if (auto s = write_sysctls(t.underlay, forwarding); !s) return s;
  auto node = forwarding;
  // As flannel setups do: bridged IPv4 frames cross iptables, which the
  // iptables dataplane needs to see same-node traffic (br_netfilter).
  if (t.cni == Cni::Bridge && std::filesystem::exists("/proc/sys/net/bridge/bridge-nf-call-iptables")) {
    node.push_back({"net/bridge/bridge-nf-call-iptables", "1"});
    if (t.ipv6()) node.push_back({"net/bridge/bridge-nf-call-ip6tables", "1"});
  }
  for (const auto& n : t.nodes)
    if (auto s = write_sysctls(n.netns, node); !s) return s;
  for (const auto& h : t.hosts)
    if (auto s = write_sysctls(h.netns, common); !s) return s;
  return Status::ok();
}

}  // namespace bpfence::lab
