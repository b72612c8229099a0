// rtnetlink dumps and message parsing with libmnl (see rtnl.h).
#include "rtnl.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <vector>

#ifndef NETLINK_GET_STRICT_CHK
#define NETLINK_GET_STRICT_CHK 12
#endif

namespace bpfence::rtnl {
namespace {

// Attributes of one level, indexed by type (types above `max` are skipped).
struct Attrs {
  explicit Attrs(int max) : v(max + 1, nullptr) {}
  std::vector<const nlattr*> v;
  const nlattr* operator[](int type) const { return type < static_cast<int>(v.size()) ? v[type] : nullptr; }
};

int collect(const nlattr* a, void* data) {
  auto* t = static_cast<Attrs*>(data);
  int type = mnl_attr_get_type(a);
  if (type < static_cast<int>(t->v.size())) t->v[type] = a;
  return MNL_CB_OK;
}

std::optional<IpAddress> address_of(const nlattr* a, int family) {
  if (!a) return std::nullopt;
  size_t len = mnl_attr_get_payload_len(a);
  IpAddress ip;
  if (family == AF_INET && len >= 4) {
    uint32_t be;
    std::memcpy(&be, mnl_attr_get_payload(a), 4);
    return IpAddress::from_v4(ntohl(be));
  }
  if (family == AF_INET6 && len >= 16) {
    std::memcpy(ip.bytes.data(), mnl_attr_get_payload(a), 16);
    return ip;
  }
  return std::nullopt;
}

struct MnlCloser {
  void operator()(mnl_socket* s) const { mnl_socket_close(s); }
};

}  // namespace

std::optional<Link> parse_link(const nlmsghdr* h) {
  if (h->nlmsg_type != RTM_NEWLINK && h->nlmsg_type != RTM_DELLINK) return std::nullopt;
  const auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(h));
  // A bridge's notices about its ports (AF_BRIDGE) share the message type
  // but not the content (no link kind, no peer), and its RTM_DELLINK means
  // "left the bridge", not "gone".
  if (ifi->ifi_family == AF_BRIDGE) return std::nullopt;
  Attrs a(IFLA_MAX);
  if (mnl_attr_parse(h, sizeof(ifinfomsg), collect, &a) < 0) return std::nullopt;
  Link l;
  l.ifindex = ifi->ifi_index;
  if (a[IFLA_IFNAME]) l.name = mnl_attr_get_str(a[IFLA_IFNAME]);
  if (a[IFLA_MASTER]) l.master = static_cast<int>(mnl_attr_get_u32(a[IFLA_MASTER]));
  if (a[IFLA_LINK]) l.peer_ifindex = static_cast<int>(mnl_attr_get_u32(a[IFLA_LINK]));
  if (a[IFLA_LINK_NETNSID]) l.peer_netnsid = static_cast<int32_t>(mnl_attr_get_u32(a[IFLA_LINK_NETNSID]));
  if (a[IFLA_LINKINFO]) {
    Attrs info(IFLA_INFO_MAX);
    if (mnl_attr_parse_nested(a[IFLA_LINKINFO], collect, &info) >= 0 && info[IFLA_INFO_KIND])
      l.kind = mnl_attr_get_str(info[IFLA_INFO_KIND]);
  }
  return l;
}

std::optional<HostRoute> parse_host_route(const nlmsghdr* h) {
  if (h->nlmsg_type != RTM_NEWROUTE && h->nlmsg_type != RTM_DELROUTE) return std::nullopt;
  const auto* rt = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(h));
  if (rt->rtm_family != AF_INET && rt->rtm_family != AF_INET6) return std::nullopt;
  bool v4 = rt->rtm_family == AF_INET;
  if (rt->rtm_dst_len != (v4 ? 32 : 128) || rt->rtm_type != RTN_UNICAST || (rt->rtm_flags & RTM_F_CLONED))
    return std::nullopt;
  Attrs a(RTA_MAX);
  if (mnl_attr_parse(h, sizeof(rtmsg), collect, &a) < 0) return std::nullopt;
  uint32_t table = a[RTA_TABLE] ? mnl_attr_get_u32(a[RTA_TABLE]) : rt->rtm_table;
  int oif = a[RTA_OIF] ? static_cast<int>(mnl_attr_get_u32(a[RTA_OIF])) : 0;
  std::optional<IpAddress> dst = address_of(a[RTA_DST], rt->rtm_family);
  if (table != RT_TABLE_MAIN || !oif || !dst) return std::nullopt;
  return HostRoute{*dst, oif};
}

std::optional<Address> parse_address(const nlmsghdr* h) {
  if (h->nlmsg_type != RTM_NEWADDR && h->nlmsg_type != RTM_DELADDR) return std::nullopt;
  const auto* ifa = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(h));
  Attrs a(IFA_MAX);
  if (mnl_attr_parse(h, sizeof(ifaddrmsg), collect, &a) < 0) return std::nullopt;
  // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's on
  // point-to-point links, and the only one IPv6 sends otherwise.
  std::optional<IpAddress> ip = address_of(a[IFA_LOCAL], ifa->ifa_family);
  if (!ip) ip = address_of(a[IFA_ADDRESS], ifa->ifa_family);
  if (!ip) return std::nullopt;
  return Address{static_cast<int>(ifa->ifa_index), *ip};
}

Status dump(uint16_t type, const void* header, size_t header_len, const std::function<void(const nlmsghdr*)>& fn,
            int address_netnsid) {
  std::unique_ptr<mnl_socket, MnlCloser> nl(mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC));
  if (!nl) return Status::error(std::string("netlink socket: ") + std::strerror(errno));
  if (mnl_socket_bind(nl.get(), 0, MNL_SOCKET_AUTOPID) < 0)
    return Status::error(std::string("netlink bind: ") + std::strerror(errno));
  if (address_netnsid >= 0) {
    // The kernel reads IFA_TARGET_NETNSID of a dump only under strict checking.
    int one = 1;
    if (mnl_socket_setsockopt(nl.get(), NETLINK_GET_STRICT_CHK, &one, sizeof one) < 0)
      return Status::error(std::string("netlink strict checking: ") + std::strerror(errno));
  }
  std::vector<char> buf(1 << 16);
  nlmsghdr* req = mnl_nlmsg_put_header(buf.data());
  req->nlmsg_type = type;
  req->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req->nlmsg_seq = static_cast<uint32_t>(std::time(nullptr));
  std::memcpy(mnl_nlmsg_put_extra_header(req, header_len), header, header_len);
  if (address_netnsid >= 0) mnl_attr_put_u32(req, IFA_TARGET_NETNSID, static_cast<uint32_t>(address_netnsid));
  if (mnl_socket_sendto(nl.get(), req, req->nlmsg_len) < 0)
    return Status::error(std::string("netlink dump: ") + std::strerror(errno));
  uint32_t seq = req->nlmsg_seq, portid = mnl_socket_get_portid(nl.get());
  struct Ctx {
    const std::function<void(const nlmsghdr*)>* fn;
    bool interrupted = false;
  } ctx{&fn};
  auto cb = [](const nlmsghdr* h, void* data) -> int {
    auto* c = static_cast<Ctx*>(data);
    if (h->nlmsg_flags & NLM_F_DUMP_INTR) c->interrupted = true;
    (*c->fn)(h);
    return MNL_CB_OK;
  };
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(nl.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::error(std::string("netlink dump: ") + std::strerror(errno));
    }
    int r = mnl_cb_run(buf.data(), static_cast<size_t>(n), seq, portid, cb, &ctx);
    if (r < 0) return Status::error(std::string("netlink dump: ") + std::strerror(errno));
    if (r == MNL_CB_STOP) break;
  }
  if (ctx.interrupted) return Status::error(std::string("netlink dump: ") + std::strerror(EINTR));
  return Status::ok();
}

}  // namespace bpfence::rtnl
