// getifaddrs: every IPv4 and IPv6 address configured on this node.
#include "host_ips.h"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace bpfence {

Status node_addresses(std::vector<IpAddress>* out) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list)) return Status::error(std::string("getifaddrs: ") + std::strerror(errno));
  std::vector<IpAddress> ips;
  for (ifaddrs* a = list; a; a = a->ifa_next) {
    if (!a->ifa_addr) continue;
    IpAddress ip;
    if (a->ifa_addr->sa_family == AF_INET) {
      auto* sin = reinterpret_cast<sockaddr_in*>(a->ifa_addr);
      ip = IpAddress::from_v4(ntohl(sin->sin_addr.s_addr));
    } else if (a->ifa_addr->sa_family == AF_INET6) {
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(a->ifa_addr);
      std::memcpy(ip.bytes.data(), &sin6->sin6_addr, 16);
    } else {
      continue;
    }
    if (std::find(ips.begin(), ips.end(), ip) == ips.end()) ips.push_back(ip);
  }
  freeifaddrs(list);
  std::sort(ips.begin(), ips.end());
  *out = std::move(ips);
  return Status::ok();
}

}  // namespace bpfence
