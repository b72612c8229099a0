// The lab's network: which namespaces, links, addresses and routes stand for
// the scenario's nodes, pods and external hosts, and building them.
//
// Layout (every link a veth pair, every address a /32, neighbours static so
// no probe ever waits on ARP):
//
//   pod netns        eth0 <pod IP>/32, default via 169.254.1.1 dev eth0 onlink
//   node netns       p<k> 169.254.1.1/32 (host side of pod k),
//                    <pod IP>/32 dev p<k>   (the route the agent follows to
//                                            find a pod's interface),
//                    ul 192.0.2.<i>/32, default via 169.254.0.1 dev ul onlink,
//                    ip_forward=1
//   underlay netns   a router: n<i> to node i, x<j> to external host j,
//                    pod /32s via their node, external /32s on their link
//   external netns   eth0 <ip>/32, default via 169.254.0.1 onlink: outside the
//                    cluster, its packets reach pods through the underlay
//
// The bridge layout (`--cni bridge`: flannel host-gw, k3s, the CNI bridge
// plugin) instead hangs every pod's veth off a cni0 bridge, with real ARP:
//
//   node netns       cni0 bridge: the gateway .1/24 of each pod subnet of the
//                    node (10.244.<node-1>.0/24, the pod CIDR, and any other
//                    /24 only this node's pods use); p<k> a port of cni0, no
//                    address and no route; a pod whose /24 is shared with
//                    another node's host gets <ip>/32 dev cni0 (a pod
//                    outside the node's pod CIDR); host-gw routes to the
//                    other nodes' subnets via their node IP
//   pod netns        eth0 <ip>/24 (or /32), default via its gateway
//   underlay netns   ulbr, a bridge joining the nodes' uplinks (one L2
//                    segment, as host-gw needs) that holds the router address
// Pods whose IP the scenario does not fix are numbered from their node's
// pod CIDR (10.244.<node-1>.10, .11, ...).
//
// An IPv6 run (the scenario's addresses are IPv6) is the same layout in
// IPv6: every address above becomes its ipv6_twin (fd00::169.254.1.1, ...),
// /32 becomes /128 and /24 becomes /120; NDP replaces ARP on the bridges.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "bpfence/result.h"
#include "bpfence/scenario.h"

namespace bpfence::lab {

struct LabNode {
  std::string name;   // Kubernetes node name: node-1, node-2, ...
  std::string netns;
  std::string ip;     // on the uplink
};

enum class Cni { Routed, Bridge };
const char* cni_name(Cni cni);  // "routed", "bridge"
std::optional<Cni> parse_cni(const std::string& text);

struct LabHost {
  std::string name;   // "ns/pod" or external name, as in the scenario
  std::string netns;
  std::string ip;
  bool external = false;
  int node = -1;      // index into nodes (pods only)
  std::string host_if;  // host-side interface (in the node or underlay netns)
};

struct Topology {
  Cni cni = Cni::Routed;
  std::string prefix;   // every namespace name starts with it
  std::string underlay;  // the router's netns
  std::vector<LabNode> nodes;
  std::vector<LabHost> hosts;  // in the scenario's order

  std::vector<std::string> all_netns() const;
  const LabHost* host(const std::string& name) const;
  // An IPv6 run: the hosts' addresses are IPv6 (a run is of one family), and
  // so are the nodes', gateways' and routes (IPv4 ones moved to their twin).
  bool ipv6() const;
};

enum class Placement { Same, Spread };

// Pods on node 1 only (Same) or round-robin over the nodes (Spread).
Topology plan_topology(const Scenario& scenario, const std::string& prefix, int nodes, Placement placement,
                       Cni cni = Cni::Routed);

// Creates the namespaces and everything in them. On error, what was made is
// still named by plan.all_netns() for the caller's cleanup.
Status build_topology(const Topology& plan);

}  // namespace bpfence::lab
