// InterfaceWatcher: which host-side interface leads to each pod, kept
// current with rtnetlink, on routed and on bridged nodes alike.
//
// A pod is reached through its host-side veth. The watcher finds it two ways:
// - the veth whose peer, in the pod's network namespace, holds the pod's
//   address: the link's IFLA_LINK_NETNSID and IFLA_LINK name the peer, and
//   RTM_GETADDR with IFA_TARGET_NETNSID reads its addresses from here,
//   without entering the pod's namespace. This is the only way on bridge
//   CNIs (flannel, k3s, CNI bridge), whose pods hang off cni0 with no route
//   of their own; address events from the pods' namespaces arrive on a
//   socket with NETLINK_LISTEN_ALL_NSID.
// - the host route (/32 or /128) in the main table whose output interface
//   is a veth: the routed layout (Calico, CNI ptp, kindnet, AWS VPC CNI).
// Only veths are ever returned: a host route through a bridge (a pod
// outside the node's pod CIDR) leads to every port of it, not to one pod.
//
// The watcher mirrors the links (RTMGRP_LINK), the host routes
// (RTMGRP_IPV4_ROUTE, RTMGRP_IPV6_ROUTE) and the veth peers' addresses, and
// calls back on every change; the node's own address events
// (RTMGRP_IPV*_IFADDR) get a callback of their own, for its host IPs. A
// link event triggers a fresh dump of the routes, because the kernel drops
// IPv4 routes of a link going down or away without telling; a veth whose
// peer is new triggers a dump of that namespace's addresses.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "bpfence/net.h"
#include "bpfence/result.h"
#include "rtnl.h"
#include "poll_thread.h"
#include "unique_fd.h"

namespace bpfence {

struct RouteTarget {
  int ifindex = 0;
  std::string ifname;
  int peer_netnsid = -1;  // the pod's namespace, as the node numbers it (-1: unknown)
};

class InterfaceWatcher {
 public:
  InterfaceWatcher();
  ~InterfaceWatcher();
  InterfaceWatcher(const InterfaceWatcher&) = delete;
  InterfaceWatcher& operator=(const InterfaceWatcher&) = delete;

  // Subscribes, then reads the current links and routes (so nothing that
  // changes in between is missed).
  Status open();
  // Reads events on a thread of its own; the callbacks run on that thread.
  // on_addresses (optional) runs when an address is added to or removed
  // from any interface (RTMGRP_IPV4_IFADDR/IPV6_IFADDR), and after lost
  // events: the node's own addresses may have changed.
  void start(std::function<void()> on_change, std::function<void()> on_addresses = {});
  void stop();

  // The pod's veth for `ip`: the one whose peer holds it, else the one the
  // host route to it leads out of. Never a bridge or any other kind of link.
  std::optional<RouteTarget> lookup(const IpAddress& ip) const;
  std::optional<std::string> link_name(int ifindex) const;
  // The link called `name` if it exists and no host route leads to it yet:
  // a pod's veth recreated under its old name, before the CNI adds its route.
  std::optional<RouteTarget> unrouted_link(const std::string& name) const;
  // A veth whose peer is in namespace `netnsid` (as this one numbers it):
  // a pod's veth recreated into the pod's namespace, before its address is
  // set there.
  std::optional<RouteTarget> veth_into(int netnsid) const;
  size_t host_routes() const;
  // False when the agent may not follow address changes in the pods'
  // namespaces (NETLINK_LISTEN_ALL_NSID needs CAP_NET_BROADCAST).
  bool pod_address_events() const { return peers_fd_.valid(); }

 private:
  struct Tables {
    std::map<int, rtnl::Link> links;             // ifindex -> link
    std::set<std::pair<IpAddress, int>> routes;  // host route dst, oif
    // Addresses in other namespaces: {netnsid, ifindex there} -> addresses.
    std::map<std::pair<int, int>, std::set<IpAddress>> peer_addrs;
  };
  Status dump_links(Tables* t);
  Status dump_routes(Tables* t);
  // Reads the addresses of namespace `netnsid` again.
  Status dump_peer_addresses(int netnsid, Tables* t);
  // The namespaces of veth peers that are new in `now` (all when was is null).
  static std::set<int> new_peer_namespaces(const Tables* was, const Tables& now);
  // Applies one netlink message of this namespace; returns true for a link event.
  bool apply(const nlmsghdr* h, Tables* t);
  // Reads the address events of the pods' namespaces; true when one applied.
  bool read_peer_events(std::vector<char>& buf, bool* lost);
  std::optional<RouteTarget> veth_target(int ifindex) const;  // mutex_ held
  void run();

  UniqueFd events_fd_;
  UniqueFd peers_fd_;  // NETLINK_LISTEN_ALL_NSID, address groups only
  PollThread worker_;  // the destructor stops it before any member goes
  std::function<void()> on_change_;
  std::function<void()> on_addresses_;
  mutable std::mutex mutex_;
  Tables tables_;
};

}  // namespace bpfence
