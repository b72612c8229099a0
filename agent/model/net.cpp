// IpAddress and Prefix: parsing, printing and containment on the 16-byte
// IPv4-mapped form the datapath uses.
#include "bpfence/net.h"

#include <arpa/inet.h>

#include <cctype>
#include <charconv>
#include <cstring>

namespace bpfence {
namespace {

constexpr uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

void clear_host_bits(IpAddress& a, int len) {
  for (int i = 0; i < 16; ++i) {
    int keep = len - i * 8;
    if (keep >= 8) continue;
    a.bytes[i] &= keep <= 0 ? 0 : static_cast<uint8_t>(0xff << (8 - keep));
  }
}

}  // namespace

bool IpAddress::is_v4() const { return std::memcmp(bytes.data(), kV4MappedPrefix, 12) == 0; }

bool IpAddress::is_zero() const {
  for (auto b : bytes)
    if (b) return false;
  return true;
}

std::string IpAddress::str() const {
  char buf[INET6_ADDRSTRLEN];
  if (is_v4()) return inet_ntop(AF_INET, bytes.data() + 12, buf, sizeof buf);
  return inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  std::string s(text);
  IpAddress a;
  if (inet_pton(AF_INET, s.c_str(), a.bytes.data() + 12) == 1) {
    std::memcpy(a.bytes.data(), kV4MappedPrefix, 12);
    return a;
  }
  if (s.find(':') != std::string::npos && inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1)
    return a;
  return std::nullopt;
}

IpAddress IpAddress::from_v4(uint32_t host_order) {
  IpAddress a;
  std::memcpy(a.bytes.data(), kV4MappedPrefix, 12);
  uint32_t be = htonl(host_order);
  std::memcpy(a.bytes.data() + 12, &be, 4);
  return a;
}

Prefix Prefix::around(const IpAddress& ip, int len) {
  Prefix p{ip, static_cast<uint8_t>(len)};
  clear_host_bits(p.addr, len);
  return p;
}

bool Prefix::contains(const IpAddress& ip) const { return around(ip, len).addr == addr; }

bool Prefix::contains(const Prefix& other) const { return other.len >= len && contains(other.addr); }

std::string Prefix::str() const { return addr.str() + "/" + std::to_string(user_len()); }

std::optional<Prefix> Prefix::parse(std::string_view text, std::string* error) {
  auto fail = [&](const char* why) -> std::optional<Prefix> {
    if (error) *error = why;
    return std::nullopt;
  };
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return fail("must be a CIDR such as 10.0.0.0/16 (no '/' found)");
  auto ip = IpAddress::parse(text.substr(0, slash));
  if (!ip) return fail("not a valid IPv4 or IPv6 address before '/'");
  auto len_text = text.substr(slash + 1);
  int len = -1;
  auto [end, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
  bool v4 = text.substr(0, slash).find(':') == std::string_view::npos;
  int max = v4 ? 32 : 128;
  if (ec != std::errc() || end != len_text.data() + len_text.size() || len_text.empty() || len < 0 ||
      len > max)
    return fail(v4 ? "prefix length must be 0..32" : "prefix length must be 0..128");
  Prefix p;
  p.addr = *ip;
  p.len = static_cast<uint8_t>(v4 ? 96 + len : len);
  clear_host_bits(p.addr, p.len);
  return p;
}

std::string ip_proto_name(uint8_t proto) {
  switch (proto) {
    case 6: return "tcp";
    case 17: return "udp";
    case 132: return "sctp";
    case 1: return "icmp";
    case 58: return "icmpv6";
    default: return std::to_string(proto);
  }
}

std::optional<uint8_t> parse_ip_proto(std::string_view name) {
  std::string l(name);
  for (char& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (l == "tcp") return 6;
  if (l == "udp") return 17;
  if (l == "sctp") return 132;
  if (l == "icmp") return 1;
  if (l == "icmpv6" || l == "icmp6") return 58;
  unsigned v = 0;
  auto [p, ec] = std::from_chars(l.data(), l.data() + l.size(), v);
  if (ec == std::errc() && p == l.data() + l.size() && v <= 255) return static_cast<uint8_t>(v);
  return std::nullopt;
}

}  // namespace bpfence
