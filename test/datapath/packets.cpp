// Packet builders for the datapath tests and the benchmark.
#include "packets.h"

#include <arpa/inet.h>

#include <algorithm>
#include <stdexcept>

namespace bpfence::testpkt {
namespace {

void put16(Bytes& b, size_t at, uint16_t v) {
  b[at] = v >> 8;
  b[at + 1] = v & 0xff;
}

uint16_t csum(const uint8_t* p, size_t n) {
  uint32_t s = 0;
  for (size_t i = 0; i + 1 < n; i += 2) s += (p[i] << 8) | p[i + 1];
  if (n & 1) s += p[n - 1] << 8;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return ~s & 0xffff;
}

}  // namespace

Bytes tcp(uint16_t sport, uint16_t dport, uint8_t flags, size_t payload) {
  Bytes b(20 + payload, 0);
  put16(b, 0, sport);
  put16(b, 2, dport);
  b[12] = 5 << 4;
  b[13] = flags;
  put16(b, 14, 65535);
  return b;
}

Bytes udp(uint16_t sport, uint16_t dport, size_t payload) {
  Bytes b(8 + payload, 0);
  put16(b, 0, sport);
  put16(b, 2, dport);
  put16(b, 4, 8 + payload);
  return b;
}

Bytes sctp(uint16_t sport, uint16_t dport) {
  Bytes b(12 + 20, 0);  // common header + an INIT chunk
  put16(b, 0, sport);
  put16(b, 2, dport);
  b[12] = 1;             // INIT
  put16(b, 14, 20);
  return b;
}

Bytes icmp(uint8_t type, uint16_t id) {
  Bytes b(8 + 8, 0);
  b[0] = type;
  put16(b, 4, id);
  put16(b, 6, 1);
  return b;
}

Bytes icmp_error(uint8_t type, uint8_t code, const Bytes& quoted, size_t keep) {
  Bytes b(8, 0);
  b[0] = type;
  b[1] = code;
  const size_t ip_hlen = !quoted.empty() && (quoted[0] >> 4) == 6 ? 40 : size_t(quoted.empty() ? 0 : quoted[0] & 0xf) * 4;
  Bytes q(quoted.begin(), quoted.begin() + std::min(quoted.size(), ip_hlen + keep));
  return cat(b, q);
}

Bytes ipv4(const std::string& src, const std::string& dst, uint8_t proto, const Bytes& payload, const V4Opts& o) {
  Bytes b(20, 0);
  b[0] = 0x40 | (o.ihl & 0xf);
  put16(b, 2, static_cast<uint16_t>(20 + payload.size() + o.tot_len_delta));
  put16(b, 4, o.id);
  put16(b, 6, (o.more_fragments ? 0x2000 : 0) | (o.frag_offset & 0x1fff));
  b[8] = 64;
  b[9] = proto;
  if (inet_pton(AF_INET, src.c_str(), &b[12]) != 1 || inet_pton(AF_INET, dst.c_str(), &b[16]) != 1)
    throw std::invalid_argument("ipv4 address " + src + " / " + dst);
  put16(b, 10, csum(b.data(), 20));
  return cat(b, payload);
}

Bytes ipv6(const std::string& src, const std::string& dst, uint8_t next, const Bytes& payload, int delta) {
  Bytes b(40, 0);
  b[0] = 0x60;
  put16(b, 4, static_cast<uint16_t>(payload.size() + delta));
  b[6] = next;
  b[7] = 64;
  if (inet_pton(AF_INET6, src.c_str(), &b[8]) != 1 || inet_pton(AF_INET6, dst.c_str(), &b[24]) != 1)
    throw std::invalid_argument("ipv6 address " + src + " / " + dst);
  return cat(b, payload);
}

Bytes v6_dstopts(uint8_t next) {
  Bytes b(8, 0);
  b[0] = next;
  b[1] = 0;     // 8 bytes
  b[2] = 1;     // PadN
  b[3] = 4;
  return b;
}

Bytes v6_frag(uint8_t next, uint16_t offset_units, bool more, uint32_t id) {
  Bytes b(8, 0);
  b[0] = next;
  put16(b, 2, static_cast<uint16_t>((offset_units << 3) | (more ? 1 : 0)));
  b[4] = id >> 24;
  b[5] = id >> 16;
  b[6] = id >> 8;
  b[7] = id;
  return b;
}

Bytes eth(uint16_t ethertype, const Bytes& l3) {
  Bytes b = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0, 0};
  put16(b, 12, ethertype);
  return cat(b, l3);
}

Bytes eth4(const Bytes& ip) { return eth(0x0800, ip); }
Bytes eth6(const Bytes& ip) { return eth(0x86dd, ip); }

Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace bpfence::testpkt
