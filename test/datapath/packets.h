// Crafted packets for the datapath tests and the benchmark: Ethernet +
// IPv4/IPv6 (with extension headers and fragments) + TCP/UDP/SCTP/ICMP,
// with the lengths right unless a test breaks them on purpose.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bpfence::testpkt {

using Bytes = std::vector<uint8_t>;

constexpr uint8_t kSyn = 0x02, kAck = 0x10, kFin = 0x01, kRst = 0x04, kPsh = 0x08;

Bytes tcp(uint16_t sport, uint16_t dport, uint8_t flags = kSyn, size_t payload = 0);
Bytes udp(uint16_t sport, uint16_t dport, size_t payload = 0);
Bytes sctp(uint16_t sport, uint16_t dport);
Bytes icmp(uint8_t type, uint16_t id);  // ICMP or ICMPv6: same layout for echo
// An ICMP/ICMPv6 error (destination unreachable, packet too big...) quoting
// `quoted` (an IP datagram), cut to its IP header + `keep` bytes as routers do.
Bytes icmp_error(uint8_t type, uint8_t code, const Bytes& quoted, size_t keep = 8);

struct V4Opts {
  uint16_t id = 1;
  bool more_fragments = false;
  uint16_t frag_offset = 0;  // in 8-byte units
  int ihl = 5;               // a test may lie
  int tot_len_delta = 0;     // added to the real total length
};
Bytes ipv4(const std::string& src, const std::string& dst, uint8_t proto, const Bytes& payload,
           const V4Opts& o = {});
// `next` names the first header of `payload` (extension header or transport).
Bytes ipv6(const std::string& src, const std::string& dst, uint8_t next, const Bytes& payload,
           int payload_len_delta = 0);
// Extension headers, to put in front of what they name with `next`.
Bytes v6_dstopts(uint8_t next);  // 8 bytes, PadN
Bytes v6_frag(uint8_t next, uint16_t offset_units, bool more, uint32_t id);

Bytes eth(uint16_t ethertype, const Bytes& l3);
Bytes eth4(const Bytes& ip);  // ETH_P_IP
Bytes eth6(const Bytes& ip);  // ETH_P_IPV6
Bytes cat(Bytes a, const Bytes& b);

}  // namespace bpfence::testpkt
