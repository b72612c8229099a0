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
#pragma once

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

struct LabHost {
  std::string name;   // "ns/pod" or external name, as in the scenario
  std::string netns;
  std::string ip;
  bool external = false;
  int node = -1;      // index into nodes (pods only)
  std::string host_if;  // host-side interface (in the node or underlay netns)
};

struct Topology {
  std::string prefix;   // every namespace name starts with it
  std::string underlay;  // the router's netns
  std::vector<LabNode> nodes;
  std::vector<LabHost> hosts;  // in the scenario's order

  std::vector<std::string> all_netns() const;
  const LabHost* host(const std::string& name) const;
};

enum class Placement { Same, Spread };

// Pods on node 1 only (Same) or round-robin over the nodes (Spread).
Topology plan_topology(const Scenario& scenario, const std::string& prefix, int nodes, Placement placement);

// Creates the namespaces and everything in them. On error, what was made is
// still named by plan.all_netns() for the caller's cleanup.
Status build_topology(const Topology& plan);

}  // namespace bpfence::lab
