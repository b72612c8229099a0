// IP addresses and prefixes in the datapath's form: 16 bytes, IPv4 stored
// IPv4-mapped (::ffff:a.b.c.d), prefix lengths counted on that form.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bpfence {

struct IpAddress {
  std::array<uint8_t, 16> bytes{};

  bool is_v4() const;
  bool is_zero() const;
  std::string str() const;
  static std::optional<IpAddress> parse(std::string_view text);
  static IpAddress from_v4(uint32_t host_order);
  auto operator<=>(const IpAddress&) const = default;
};

struct Prefix {
  IpAddress addr;   // host bits cleared
  uint8_t len = 0;  // 0..128 on the mapped form (an IPv4 /24 is 120)

  bool is_v4() const { return addr.is_v4() && len >= 96; }
  // The length as the user wrote it (24 for 10.0.0.0/24).
  int user_len() const { return is_v4() ? len - 96 : len; }
  bool contains(const IpAddress& ip) const;
  bool contains(const Prefix& other) const;
  std::string str() const;
  // The prefix of length `len` (on the mapped form) around `ip`, host bits
  // cleared: the one place that masks an address.
  static Prefix around(const IpAddress& ip, int len);
  // Accepts "10.0.0.0/8", "fd00::/64". Host bits are cleared, as the API
  // server's sloppy CIDR parsing does.
  static std::optional<Prefix> parse(std::string_view text, std::string* error = nullptr);
  auto operator<=>(const Prefix&) const = default;
};

// IP protocol numbers. TCP, UDP and SCTP flows have ports; policies match
// the others (ICMP, ICMPv6, ...) by protocol alone.
constexpr bool ip_proto_has_ports(uint8_t proto) { return proto == 6 || proto == 17 || proto == 132; }
// "tcp", "udp", "sctp", "icmp", "icmpv6" or the number.
std::string ip_proto_name(uint8_t proto);
std::optional<uint8_t> parse_ip_proto(std::string_view name);

}  // namespace bpfence
