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

// The run's address family (Topology::ipv6). The lab's own addresses are
// written as IPv4 and become their ipv6_twin in an IPv6 run, so both
// families share one layout; /24 subnets become /120 (the same last byte).
struct Family {
  bool v6 = false;
  std::string addr(const std::string& ipv4) const { return v6 ? ipv6_twin(ipv4) : ipv4; }
  const char* host_len() const { return v6 ? "/128" : "/32"; }
  const char* subnet_len() const { return v6 ? "/120" : "/24"; }
  const char* any() const { return v6 ? "::/0" : "default"; }
  // No duplicate address detection: an address is usable at once, and no
  // DAD packet crosses the programs.
  const char* nodad() const { return v6 ? " nodad" : ""; }
};

// Locally administered MACs, one role byte: unique on every segment.
enum Role { PodEth = 1, PodHost = 2, NodeUplink = 3, RouterToNode = 4, ExtEth = 5, RouterToExt = 6, NodeBridge = 7,
            UnderlayBridge = 8 };
std::string mac(int role, int index);

// An external host j: its link on the underlay router, the router's side
// (address, neighbour, route), in both layouts alike.
void add_external(const Family& f, const LabHost& h, int j, std::vector<std::string>* router_links, std::vector<std::string>* router);

// The bridge layout's links, addresses and routes (topology.h).
Status build_bridge_layout(const Topology& t);
// Before any link exists, in an IPv6 run: no link-local addresses, DAD,
// router solicitations or advertisements, on the links made after it.
Status write_ipv6_link_defaults(const Topology& t);
// Forwarding, rp_filter, IPv6 off (IPv4 runs), br_netfilter on bridge nodes.
Status write_lab_sysctls(const Topology& t);

}  // namespace bpfence::lab::topology_detail
