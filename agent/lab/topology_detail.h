// Shared by the two layouts' builders (topology.cpp: routed,
// topology_bridge.cpp: bridge): addresses, MACs, and the last step.
#pragma once

#include <string>
#include <vector>

#include "bpfence/result.h"
#include "topology.h"

namespace bpfence::lab::topology_detail {

inline constexpr const char* kPodGateway = "169.254.1.1";     // routed: every pod's next hop, on its host veth
inline constexpr const char* kRouterGateway = "169.254.0.1";  // the underlay router, on each of its links

// Locally administered MACs, one role byte: unique on every segment.
enum Role { PodEth = 1, PodHost = 2, NodeUplink = 3, RouterToNode = 4, ExtEth = 5, RouterToExt = 6, NodeBridge = 7,
            UnderlayBridge = 8 };
std::string mac(int role, int index);

// An external host j: its link on the underlay router, the router's side
// (address, neighbour, route), in both layouts alike.
void add_external(const LabHost& h, int j, std::vector<std::string>* router_links, std::vector<std::string>* router);

// The bridge layout's links, addresses and routes (topology.h).
Status build_bridge_layout(const Topology& t);
// Forwarding, rp_filter, IPv6 off, br_netfilter on bridge nodes.
Status write_lab_sysctls(const Topology& t);

}  // namespace bpfence::lab::topology_detail
