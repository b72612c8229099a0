// rtnetlink: dumps and events for links and host routes.
#include "interfaces.h"

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "log.h"
#include "unique_fd.h"

namespace bpfence {
namespace {

std::string errtext(int e) { return std::strerror(e); }

// Sends one dump request and hands every reply message to fn.
template <class Req, class F>
Status netlink_dump(uint16_t type, const Req& body, F&& fn) {
  UniqueFd sock(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (sock.get() < 0) return Status::error("netlink socket: " + errtext(errno));
  struct {
    nlmsghdr h;
    Req r;
  } req{};
  req.h.nlmsg_len = NLMSG_LENGTH(sizeof(Req));
  req.h.nlmsg_type = type;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.h.nlmsg_seq = 1;
  req.r = body;
  if (::send(sock.get(), &req, req.h.nlmsg_len, 0) < 0) return Status::error("netlink dump: " + errtext(errno));
  std::vector<char> buf(1 << 16);
  for (;;) {
    ssize_t n = ::recv(sock.get(), buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::error("netlink dump: " + errtext(errno));
    }
    int len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_DONE) return Status::ok();
      if (h->nlmsg_type == NLMSG_ERROR) {
        auto* e = static_cast<nlmsgerr*>(NLMSG_DATA(h));
        // EINTR: the table changed during the dump; the caller retries.
        return Status::error("netlink dump: " + errtext(-e->error));
      }
      fn(h);
    }
  }
}

}  // namespace

InterfaceWatcher::InterfaceWatcher() = default;

InterfaceWatcher::~InterfaceWatcher() {
  stop();
  if (events_fd_ >= 0) ::close(events_fd_);
  if (stop_fd_ >= 0) ::close(stop_fd_);
}

bool InterfaceWatcher::apply(const void* msg, Tables* t) {
  const auto* h = static_cast<const nlmsghdr*>(msg);
  if (h->nlmsg_type == RTM_NEWLINK || h->nlmsg_type == RTM_DELLINK) {
    const auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
    if (h->nlmsg_type == RTM_DELLINK) {
      t->links.erase(ifi->ifi_index);
      return true;
    }
    int len = static_cast<int>(IFLA_PAYLOAD(h));
    std::string name;
    for (auto* a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len))
      if (a->rta_type == IFLA_IFNAME) name = static_cast<const char*>(RTA_DATA(a));
    t->links[ifi->ifi_index] = name;
    return true;
  }
  if (h->nlmsg_type != RTM_NEWROUTE && h->nlmsg_type != RTM_DELROUTE) return false;
  const auto* rt = static_cast<const rtmsg*>(NLMSG_DATA(h));
  if (rt->rtm_family != AF_INET && rt->rtm_family != AF_INET6) return false;
  bool v4 = rt->rtm_family == AF_INET;
  if (rt->rtm_dst_len != (v4 ? 32 : 128) || rt->rtm_type != RTN_UNICAST || (rt->rtm_flags & RTM_F_CLONED))
    return false;
  uint32_t table = rt->rtm_table;
  int oif = 0;
  IpAddress dst;
  bool have_dst = false;
  int len = static_cast<int>(RTM_PAYLOAD(h));
  for (auto* a = RTM_RTA(rt); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    if (a->rta_type == RTA_TABLE) table = *static_cast<const uint32_t*>(RTA_DATA(a));
    if (a->rta_type == RTA_OIF) oif = *static_cast<const int*>(RTA_DATA(a));
    if (a->rta_type == RTA_DST) {
      if (v4) {
        uint32_t be;
        std::memcpy(&be, RTA_DATA(a), 4);
        dst = IpAddress::from_v4(ntohl(be));
      } else {
        std::memcpy(dst.bytes.data(), RTA_DATA(a), 16);
      }
      have_dst = true;
    }
  }
  if (table != RT_TABLE_MAIN || !oif || !have_dst) return false;
  if (h->nlmsg_type == RTM_NEWROUTE)
    t->routes.insert({dst, oif});
  else
    t->routes.erase({dst, oif});
  return false;
}

Status InterfaceWatcher::dump_links(Tables* t) {
  t->links.clear();
  ifinfomsg req{};
  req.ifi_family = AF_UNSPEC;
  return netlink_dump(RTM_GETLINK, req, [&](const nlmsghdr* h) { apply(h, t); });
}

Status InterfaceWatcher::dump_routes(Tables* t) {
  t->routes.clear();
  for (int family : {AF_INET, AF_INET6}) {
    rtmsg req{};
    req.rtm_family = static_cast<unsigned char>(family);
    Status s;
    // A dump interrupted by a concurrent change (EINTR) is retried.
    for (int attempt = 0; attempt < 5; ++attempt) {
      s = netlink_dump(RTM_GETROUTE, req, [&](const nlmsghdr* h) { apply(h, t); });
      if (s || s.message().find(std::strerror(EINTR)) == std::string::npos) break;
    }
    if (!s) return s;
  }
  return Status::ok();
}

Status InterfaceWatcher::open() {
  events_fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
  if (events_fd_ < 0) return Status::error("netlink socket: " + errtext(errno));
  int rcvbuf = 4 << 20;
  if (::setsockopt(events_fd_, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf))
    (void)::setsockopt(events_fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
  if (::bind(events_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa))
    return Status::error("netlink bind: " + errtext(errno));
  stop_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (stop_fd_ < 0) return Status::error("eventfd: " + errtext(errno));
  Tables t;
  if (Status s = dump_links(&t); !s) return s;
  if (Status s = dump_routes(&t); !s) return s;
  std::lock_guard lock(mutex_);
  tables_ = std::move(t);
  return Status::ok();
}

void InterfaceWatcher::start(std::function<void()> on_change, std::function<void()> on_addresses) {
  if (thread_.joinable()) return;
  on_change_ = std::move(on_change);
  on_addresses_ = std::move(on_addresses);
  thread_ = std::thread([this] { run(); });
}

void InterfaceWatcher::stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  (void)!::write(stop_fd_, &one, sizeof one);
  thread_.join();
}

void InterfaceWatcher::run() {
  std::vector<char> buf(1 << 16);
  for (;;) {
    pollfd fds[2] = {{events_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      agentlog::error("poll netlink", "error=" + agentlog::q(errtext(errno)));
      return;
    }
    if (fds[1].revents) return;
    bool changed = false, link_event = false, resync = false, addresses = false;
    {
      std::lock_guard lock(mutex_);
      for (;;) {
        ssize_t n = ::recv(events_fd_, buf.data(), buf.size(), 0);
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
        t.links = tables_.links;
      }
      Status s = resync ? dump_links(&t) : Status::ok();
      if (s) s = dump_routes(&t);
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

std::optional<RouteTarget> InterfaceWatcher::lookup(const IpAddress& ip) const {
  std::lock_guard lock(mutex_);
  for (auto it = tables_.routes.lower_bound({ip, 0}); it != tables_.routes.end() && it->first == ip; ++it) {
    auto l = tables_.links.find(it->second);
    if (l != tables_.links.end()) return RouteTarget{it->second, l->second};
  }
  return std::nullopt;
}

std::optional<std::string> InterfaceWatcher::link_name(int ifindex) const {
  std::lock_guard lock(mutex_);
  auto l = tables_.links.find(ifindex);
  if (l == tables_.links.end()) return std::nullopt;
  return l->second;
}

std::optional<RouteTarget> InterfaceWatcher::unrouted_link(const std::string& name) const {
  if (name.empty()) return std::nullopt;
  std::lock_guard lock(mutex_);
  for (const auto& [ifindex, n] : tables_.links) {
    if (n != name) continue;
    for (const auto& [dst, oif] : tables_.routes)
      if (oif == ifindex) return std::nullopt;
    return RouteTarget{ifindex, n};
  }
  return std::nullopt;
}

size_t InterfaceWatcher::host_routes() const {
  std::lock_guard lock(mutex_);
  return tables_.routes.size();
}

}  // namespace bpfence
