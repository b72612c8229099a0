// rtnetlink over libmnl: dump requests (addresses also from another network
// namespace, named by the id this namespace gives it) and the parsing of
// link, host route and address messages, for the interface watcher.
#pragma once

#include <linux/netlink.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "bpfence/net.h"
#include "bpfence/result.h"

namespace bpfence::rtnl {

struct Link {
  int ifindex = 0;
  std::string name;
  std::string kind;       // IFLA_INFO_KIND: "veth", "bridge", ... ("" for none)
  int master = 0;         // IFLA_MASTER: the bridge it is a port of, 0 for none
  // A veth's peer: its namespace as this namespace numbers it
  // (IFLA_LINK_NETNSID; -1 when the peer is in this namespace) and its
  // ifindex there (IFLA_LINK).
  int peer_netnsid = -1;
  int peer_ifindex = 0;
  bool veth() const { return kind == "veth"; }
  bool operator==(const Link&) const = default;
};

struct HostRoute {
  IpAddress dst;
  int oif = 0;
};

struct Address {
  int ifindex = 0;
  IpAddress ip;
};

// RTM_NEWLINK / RTM_DELLINK (not a bridge's AF_BRIDGE notices about its ports).
std::optional<Link> parse_link(const nlmsghdr* h);
// RTM_NEWROUTE / RTM_DELROUTE of a unicast /32 or /128 with an output
// interface in the main table; nullopt for every other route.
std::optional<HostRoute> parse_host_route(const nlmsghdr* h);
// RTM_NEWADDR / RTM_DELADDR (IPv4 and IPv6).
std::optional<Address> parse_address(const nlmsghdr* h);

// Sends one dump request of `type` with `header` as its family header and
// hands every reply to fn. address_netnsid >= 0 asks for the addresses of
// that namespace (RTM_GETADDR with IFA_TARGET_NETNSID, strict checking on).
// A dump the kernel reports interrupted (a concurrent change) fails with
// EINTR's text; the caller starts it again.
Status dump(uint16_t type, const void* header, size_t header_len, const std::function<void(const nlmsghdr*)>& fn,
            int address_netnsid = -1);

}  // namespace bpfence::rtnl
