// rtnetlink: dumps and events for links, host routes and the addresses of
// the veth peers in the pods' namespaces (see interfaces.h).
#include "interfaces.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "log.h"

#ifndef NETLINK_LISTEN_ALL_NSID
#define NETLINK_LISTEN_ALL_NSID 8
#endif

namespace bpfence {
namespace {

std::string errtext(int e) { return std::strerror(e); }

bool interrupted(const Status& s) { return !s && s.message().find(std::strerror(EINTR)) != std::string::npos; }

// A dump interrupted by a concurrent change is started again from empty.
template <class Reset, class Dump>
Status dump_retrying(Reset&& reset, Dump&& dump) {
  Status s;
  for (int attempt = 0; attempt < 5; ++attempt) {
    reset();
    s = dump();
    if (!interrupted(s)) break;
  }
  return s;
}

UniqueFd open_events_socket(uint32_t groups, int* error) {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE));
  if (!fd) {
    *error = errno;
    return fd;
  }
  int rcvbuf = 4 << 20;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf))
    (void)::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = groups;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa)) {
    *error = errno;
    return UniqueFd();
  }
  return fd;
}

}  // namespace

InterfaceWatcher::InterfaceWatcher() = default;

InterfaceWatcher::~InterfaceWatcher() {
  stop();
}

bool InterfaceWatcher::apply(const nlmsghdr* h, Tables* t) {
  if (auto link = rtnl::parse_link(h)) {
    auto old = t->links.find(link->ifindex);
    // The peer of a veth that goes (or changes peer) takes its addresses along.
    if (old != t->links.end() && old->second.peer_netnsid >= 0 &&
        (h->nlmsg_type == RTM_DELLINK || old->second.peer_netnsid != link->peer_netnsid ||
         old->second.peer_ifindex != link->peer_ifindex))
      t->peer_addrs.erase({old->second.peer_netnsid, old->second.peer_ifindex});
    if (h->nlmsg_type == RTM_DELLINK)
      t->links.erase(link->ifindex);
    else
      t->links[link->ifindex] = *link;
    return true;
  }
  if (auto route = rtnl::parse_host_route(h)) {
    if (h->nlmsg_type == RTM_NEWROUTE)
      t->routes.insert({route->dst, route->oif});
    else
      t->routes.erase({route->dst, route->oif});
  }
  return false;
}

Status InterfaceWatcher::dump_links(Tables* t) {
  ifinfomsg req{};
  req.ifi_family = AF_UNSPEC;
  return dump_retrying([&] { t->links.clear(); },
                       [&] { return rtnl::dump(RTM_GETLINK, &req, sizeof req, [&](const nlmsghdr* h) {
                               if (auto l = rtnl::parse_link(h)) t->links[l->ifindex] = *l;
                             }); });
}

Status InterfaceWatcher::dump_routes(Tables* t) {
  for (int family : {AF_INET, AF_INET6}) {
    rtmsg req{};
    req.rtm_family = static_cast<unsigned char>(family);
    std::set<std::pair<IpAddress, int>> got;
    Status s = dump_retrying([&] { got.clear(); },
                             [&] { return rtnl::dump(RTM_GETROUTE, &req, sizeof req, [&](const nlmsghdr* h) {
                                     if (auto r = rtnl::parse_host_route(h)) got.insert({r->dst, r->oif});
                                   }); });
    if (!s) return s;
    if (family == AF_INET) t->routes.clear();
    t->routes.insert(got.begin(), got.end());
  }
  return Status::ok();
}

Status InterfaceWatcher::dump_peer_addresses(int netnsid, Tables* t) {
  std::map<std::pair<int, int>, std::set<IpAddress>> got;
  for (int family : {AF_INET, AF_INET6}) {
    ifaddrmsg req{};
    req.ifa_family = static_cast<unsigned char>(family);
    std::map<std::pair<int, int>, std::set<IpAddress>> fam;
    Status s = dump_retrying([&] { fam.clear(); }, [&] {
      return rtnl::dump(
          RTM_GETADDR, &req, sizeof req,
          [&](const nlmsghdr* h) {
            if (auto a = rtnl::parse_address(h)) fam[{netnsid, a->ifindex}].insert(a->ip);
          },
          netnsid);
    });
    // The namespace went away meanwhile (its id is no longer valid): it
    // holds no addresses any more.
    if (!s && s.message().find(std::strerror(EINVAL)) == std::string::npos) return s;
    for (auto& [k, ips] : fam) got[k].insert(ips.begin(), ips.end());
  }
  for (auto it = t->peer_addrs.lower_bound({netnsid, 0}); it != t->peer_addrs.end() && it->first.first == netnsid;)
    it = t->peer_addrs.erase(it);
  for (auto& [k, ips] : got) t->peer_addrs[k] = std::move(ips);
  return Status::ok();
}

std::set<int> InterfaceWatcher::new_peer_namespaces(const Tables* was, const Tables& now) {
  std::set<int> out;
  for (const auto& [ifindex, l] : now.links) {
    if (!l.veth() || l.peer_netnsid < 0) continue;
    if (was) {
      auto o = was->links.find(ifindex);
      if (o != was->links.end() && o->second.peer_netnsid == l.peer_netnsid &&
          o->second.peer_ifindex == l.peer_ifindex)
        continue;
    }
    out.insert(l.peer_netnsid);
  }
  return out;
}

Status InterfaceWatcher::open() {
  int err = 0;
  events_fd_ = open_events_socket(
      RTMGRP_LINK | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR, &err);
  if (!events_fd_) return Status::error("netlink events socket: " + errtext(err));
  // Address events of every namespace this one has an id for (the pods'
  // namespaces get one as soon as a veth into them is reported). Needs
  // CAP_NET_BROADCAST; without it, a peer's addresses are read again on
  // every event of its veth only.
  peers_fd_ = open_events_socket(RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR, &err);
  if (!peers_fd_) return Status::error("netlink events socket: " + errtext(err));
  int one = 1;
  if (::setsockopt(peers_fd_.get(), SOL_NETLINK, NETLINK_LISTEN_ALL_NSID, &one, sizeof one)) {
    agentlog::warn("no address events from the pods' namespaces; a bridged pod's address set after its veth "
                   "appeared is seen on that veth's next event only",
                   "error=" + agentlog::q(errtext(errno)) + " needs=CAP_NET_BROADCAST");
    peers_fd_.reset();
  }
  if (Status s = worker_.open(); !s) return s;
  Tables t;
  if (Status s = dump_links(&t); !s) return s;
  if (Status s = dump_routes(&t); !s) return s;
  for (int netnsid : new_peer_namespaces(nullptr, t))
    if (Status s = dump_peer_addresses(netnsid, &t); !s) return s;
  std::lock_guard lock(mutex_);
  tables_ = std::move(t);
  return Status::ok();
}

void InterfaceWatcher::start(std::function<void()> on_change, std::function<void()> on_addresses) {
  if (worker_.running()) return;
  on_change_ = std::move(on_change);
  on_addresses_ = std::move(on_addresses);
  worker_.start([this] { run(); });
}

void InterfaceWatcher::stop() {
  worker_.stop();
}

bool InterfaceWatcher::read_peer_events(std::vector<char>& buf, bool* lost) {
  bool applied = false;
  for (;;) {
    iovec iov{buf.data(), buf.size()};
    char control[CMSG_SPACE(sizeof(int))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(peers_fd_.get(), &msg, 0);
    if (n < 0) {
      if (errno == ENOBUFS) *lost = true;
      return applied;
    }
    // This namespace's own events carry no id; the host socket has them.
    int netnsid = -1;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
      if (c->cmsg_level == SOL_NETLINK && c->cmsg_type == NETLINK_LISTEN_ALL_NSID)
        std::memcpy(&netnsid, CMSG_DATA(c), sizeof netnsid);
    if (netnsid < 0) continue;
    int len = static_cast<int>(n);
    std::lock_guard lock(mutex_);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      auto a = rtnl::parse_address(h);
      if (!a) continue;
      auto& ips = tables_.peer_addrs[{netnsid, a->ifindex}];
      if (h->nlmsg_type == RTM_NEWADDR) {
        ips.insert(a->ip);
      } else {
        ips.erase(a->ip);
        if (ips.empty()) tables_.peer_addrs.erase({netnsid, a->ifindex});
      }
      applied = true;
    }
  }
}

void InterfaceWatcher::run() {
  std::vector<char> buf(1 << 16);
  for (;;) {
    pollfd fds[3] = {{events_fd_.get(), POLLIN, 0}, {worker_.stop_fd(), POLLIN, 0}, {peers_fd_.get(), POLLIN, 0}};
    if (::poll(fds, peers_fd_ ? 3 : 2, -1) < 0) {
      if (errno == EINTR) continue;
      agentlog::error("poll netlink", "error=" + agentlog::q(errtext(errno)));
      return;
    }
    if (fds[1].revents) return;
    bool changed = false, link_event = false, resync = false, addresses = false;
    // Only this thread writes tables_ (the mutex is for readers), so the
    // copies below cannot miss an update.
    Tables before;
    {
      std::lock_guard lock(mutex_);
      before.links = tables_.links;
    }
    if (peers_fd_ && fds[2].revents) changed |= read_peer_events(buf, &resync);
    {
      std::lock_guard lock(mutex_);
      for (;;) {
        ssize_t n = ::recv(events_fd_.get(), buf.data(), buf.size(), 0);
        if (n < 0) {
          // ENOBUFS: events were lost, so read everything again.
          if (errno == ENOBUFS) resync = true;
          break;
        }
        int len = static_cast<int>(n);
        for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
          if (h->nlmsg_type == RTM_NEWADDR || h->nlmsg_type == RTM_DELADDR) {
            addresses = true;
            continue;
          }
          link_event |= apply(h, &tables_);
          changed = true;
        }
      }
    }
    if (resync || link_event) {
      Tables t;
      {
        std::lock_guard lock(mutex_);
        t = tables_;
      }
      Status s = resync ? dump_links(&t) : Status::ok();
      if (s) s = dump_routes(&t);
      // Peers seen for the first time (a new veth, or every one after lost
      // events): their namespace's addresses, read from here. Address
      // events queued meanwhile are applied after, in order: each is
      // idempotent, so the result is current.
      for (int netnsid : new_peer_namespaces(resync ? nullptr : &before, t))
        if (s) s = dump_peer_addresses(netnsid, &t);
      if (!s) {
        agentlog::error("netlink resync failed", "error=" + agentlog::q(s.message()));
      } else {
        std::lock_guard lock(mutex_);
        tables_ = std::move(t);
      }
      if (resync) agentlog::warn("netlink events lost, tables read again");
      changed = true;
    }
    if (changed && on_change_) on_change_();
    if ((addresses || resync) && on_addresses_) on_addresses_();
  }
}

std::optional<RouteTarget> InterfaceWatcher::veth_target(int ifindex) const {
  auto l = tables_.links.find(ifindex);
  if (l == tables_.links.end() || !l->second.veth()) return std::nullopt;
  return RouteTarget{ifindex, l->second.name, l->second.peer_netnsid};
}

std::optional<RouteTarget> InterfaceWatcher::lookup(const IpAddress& ip) const {
  std::lock_guard lock(mutex_);
  // The veth whose peer holds the address: exact on every layout.
  for (const auto& [peer, ips] : tables_.peer_addrs) {
    if (!ips.count(ip)) continue;
    for (const auto& [ifindex, l] : tables_.links)
      if (l.veth() && l.peer_netnsid == peer.first && l.peer_ifindex == peer.second)
        return RouteTarget{ifindex, l.name, l.peer_netnsid};
  }
  // The routed layout's host route, when it leads out of a veth.
  for (auto it = tables_.routes.lower_bound({ip, 0}); it != tables_.routes.end() && it->first == ip; ++it)
    if (auto t = veth_target(it->second)) return t;
  return std::nullopt;
}

std::optional<std::string> InterfaceWatcher::link_name(int ifindex) const {
  std::lock_guard lock(mutex_);
  auto l = tables_.links.find(ifindex);
  if (l == tables_.links.end()) return std::nullopt;
  return l->second.name;
}

std::optional<RouteTarget> InterfaceWatcher::unrouted_link(const std::string& name) const {
  if (name.empty()) return std::nullopt;
  std::lock_guard lock(mutex_);
  for (const auto& [ifindex, l] : tables_.links) {
    if (l.name != name || !l.veth()) continue;
    for (const auto& [dst, oif] : tables_.routes)
      if (oif == ifindex) return std::nullopt;
    return RouteTarget{ifindex, l.name, l.peer_netnsid};
  }
  return std::nullopt;
}

std::optional<RouteTarget> InterfaceWatcher::veth_into(int netnsid) const {
  if (netnsid < 0) return std::nullopt;
  std::lock_guard lock(mutex_);
  for (const auto& [ifindex, l] : tables_.links) {
    if (!l.veth() || l.peer_netnsid != netnsid) continue;
    return RouteTarget{ifindex, l.name, l.peer_netnsid};
  }
  return std::nullopt;
}

size_t InterfaceWatcher::host_routes() const {
  std::lock_guard lock(mutex_);
  return tables_.routes.size();
}

}  // namespace bpfence
