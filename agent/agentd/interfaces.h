// InterfaceWatcher: which host-side interface leads to each pod, from the
// kernel's routing table, kept current with rtnetlink.
//
// In the routed layout of Calico and the CNI ptp plugin every pod has a
// host route (/32 or /128) in the main table whose output interface is the
// pod's host-side veth. The watcher mirrors those host routes and the links
// (RTMGRP_LINK, RTMGRP_IPV4_ROUTE, RTMGRP_IPV6_ROUTE) and calls back on
// every change; address events (RTMGRP_IPV*_IFADDR) get a callback of
// their own, for the node's host IPs. A link event triggers a fresh dump of the routes, because
// the kernel drops IPv4 routes of a link going down or away without telling.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "bpfence/net.h"
#include "bpfence/result.h"

namespace bpfence {

struct RouteTarget {
  int ifindex = 0;
  std::string ifname;
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

  // The interface of the host route to `ip`, if there is one and its link exists.
  std::optional<RouteTarget> lookup(const IpAddress& ip) const;
  std::optional<std::string> link_name(int ifindex) const;
  // The link called `name` if it exists and no host route leads to it yet:
  // a pod's veth recreated under its old name, before the CNI adds its route.
  std::optional<RouteTarget> unrouted_link(const std::string& name) const;
  size_t host_routes() const;

 private:
  struct Tables {
    std::map<int, std::string> links;           // ifindex -> name
    std::set<std::pair<IpAddress, int>> routes;  // host route dst, oif
  };
  Status dump_links(Tables* t);
  Status dump_routes(Tables* t);
  // Applies one netlink message; returns true for a link event.
  bool apply(const void* nlh, Tables* t);
  void run();

  int events_fd_ = -1;
  int stop_fd_ = -1;
  std::thread thread_;
  std::function<void()> on_change_;
  std::function<void()> on_addresses_;
  mutable std::mutex mutex_;
  Tables tables_;
};

}  // namespace bpfence
