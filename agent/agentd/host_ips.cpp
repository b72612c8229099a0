// getifaddrs: every IPv4 and IPv6 address configured on this node.
#include "host_ips.h"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>

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

namespace {
bool v6_link_local(const IpAddress& ip) { return !ip.is_v4() && ip.bytes[0] == 0xfe && (ip.bytes[1] & 0xc0) == 0x80; }
}  // namespace

bool host_ips_changed(const std::vector<IpAddress>& before, const std::vector<IpAddress>& after) {
  std::vector<IpAddress> a, b;
  std::copy_if(before.begin(), before.end(), std::back_inserter(a), [](const IpAddress& ip) { return !v6_link_local(ip); });
  std::copy_if(after.begin(), after.end(), std::back_inserter(b), [](const IpAddress& ip) { return !v6_link_local(ip); });
  return a != b;
}

}  // namespace bpfence
