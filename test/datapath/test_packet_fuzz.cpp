// BPF packet fuzzer: random and mutated packets (truncated headers, bad IHL
// and total length, bad IPv6 payload length and extension chains, fragments,
// zero-length transport headers, random bytes) through the real program with
// BPF_PROG_TEST_RUN, on maps filled by the real compiler from a real policy.
//
// The oracle is independent of bpf/lib/parse.h: a plain C++ reading of the
// packet (RFC 791/8200 layouts plus the documented rules of bpf/README.md)
// and Compiler::verdict() for the policy. It checks the safety direction
// for every packet: a forwarded (TC_ACT_OK) packet must be one the policy
// allows, a non-IP frame or NDP, a later fragment of a datagram whose
// first fragment was forwarded, or an ICMP error quoting the reply of a flow
// forwarded before (Related). For packets the oracle reads as well formed
// it also checks the other direction (an allowed packet is not dropped).
// Some ICMP errors are built to quote a forwarded flow, so Related is met.
//
// Deterministic: the seed is printed (env BPFENCE_PACKET_FUZZ_SEED to
// replay). Bounded by BPFENCE_PACKET_FUZZ_COUNT packets (default 300000)
// and BPFENCE_PACKET_FUZZ_SECONDS (default 25), whichever comes first.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <tuple>

#include "cluster.h"
#include "fixture.h"

using namespace bpfence;
using namespace bpfence::testdp;
using namespace bpfence::testpkt;

namespace {

constexpr size_t kEth = 14;

uint16_t get16(const Bytes& b, size_t at) { return static_cast<uint16_t>(b[at] << 8 | b[at + 1]); }
void put16(Bytes& b, size_t at, uint16_t v) {
  b[at] = v >> 8;
  b[at + 1] = v & 0xff;
}

std::string hex(const Bytes& b) {
  std::string s;
  char buf[4];
  for (uint8_t c : b) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    s += buf;
  }
  return s;
}

// --- the oracle's reading of a packet ---------------------------------------

enum class Kind { NonIp, Ndp, Invalid, Ok };
enum class Frag { None, First, Later };

// A flow as the program keys it: addresses, protocol, ports (the echo id
// both ways for ICMP echo, 0 when none).
struct FlowTuple {
  IpAddress src, dst;
  uint8_t proto = 0;
  uint16_t sport = 0, dport = 0;
  auto operator<=>(const FlowTuple&) const = default;
  FlowTuple reversed() const { return {dst, src, proto, dport, sport}; }
};

struct Reading {
  Kind kind = Kind::Invalid;
  IpAddress src, dst;
  uint8_t proto = 0;
  uint16_t sport = 0;
  uint16_t port = 0;  // destination port, or the ICMP echo id; 0 when none
  bool icmp_error = false;         // ICMP/ICMPv6 error of the packet's own family
  std::optional<FlowTuple> quote;  // the datagram it quotes, when readable
  Frag frag = Frag::None;
  uint32_t frag_id = 0;
  uint8_t frag_proto = 0;
  std::string why;  // for Invalid
};

Reading invalid(std::string why) {
  Reading r;
  r.why = std::move(why);
  return r;
}

IpAddress addr_at(const Bytes& b, size_t at, bool v6) {
  IpAddress a;
  if (v6) {
    std::copy(b.begin() + at, b.begin() + at + 16, a.bytes.begin());
  } else {
    a.bytes[10] = a.bytes[11] = 0xff;
    std::copy(b.begin() + at, b.begin() + at + 4, a.bytes.begin() + 12);
  }
  return a;
}

// The datagram an ICMP error quotes (bpf/README.md): IP header + 8 bytes at
// least; IPv4 not a later fragment; IPv6 with the transport header right
// after the fixed header.
std::optional<FlowTuple> read_quote(const Bytes& b, size_t off, size_t avail, bool v6) {
  FlowTuple q;
  size_t hlen = 40;
  if (v6) {
    if (avail < 48 || (b[off] >> 4) != 6) return std::nullopt;
    q.proto = b[off + 6];
    if (q.proto != 6 && q.proto != 17 && q.proto != 132 && q.proto != 58) return std::nullopt;
  } else {
    if (avail < 28 || (b[off] >> 4) != 4) return std::nullopt;
    hlen = size_t(b[off] & 0xf) * 4;
    if (hlen < 20 || avail < hlen + 8 || (get16(b, off + 6) & 0x1fff)) return std::nullopt;
    q.proto = b[off + 9];
  }
  q.src = addr_at(b, off + (v6 ? 8 : 12), v6);
  q.dst = addr_at(b, off + (v6 ? 24 : 16), v6);
  const size_t l4 = off + hlen;
  if (q.proto == 6 || q.proto == 17 || q.proto == 132) {
    q.sport = get16(b, l4);
    q.dport = get16(b, l4 + 2);
  } else if ((!v6 && q.proto == 1 && (b[l4] == 8 || b[l4] == 0)) ||
             (v6 && q.proto == 58 && (b[l4] == 128 || b[l4] == 129))) {
    q.sport = q.dport = get16(b, l4 + 4);
  }
  return q;
}

// Transport header at `off` with `avail` bytes of datagram left.
Reading read_l4(const Bytes& b, Reading r, size_t off, size_t avail, bool v6) {
  switch (r.proto) {
    case 6:
      if (avail < 20) return invalid("TCP header shorter than 20");
      if ((b[off + 12] >> 4) < 5 || size_t(b[off + 12] >> 4) * 4 > avail) return invalid("TCP data offset");
      r.sport = get16(b, off);
      r.port = get16(b, off + 2);
      break;
    case 17:
    case 132:
      if (avail < (r.proto == 17 ? 8u : 12u)) return invalid("UDP/SCTP header short");
      r.sport = get16(b, off);
      r.port = get16(b, off + 2);
      break;
    case 1:
    case 58:
      if (avail < 8) return invalid("ICMP header short");
      if (v6 && r.proto == 58 && b[off] >= 133 && b[off] <= 137) {
        r.kind = Kind::Ndp;
        return r;
      }
      if ((v6 && r.proto == 58 && (b[off] == 128 || b[off] == 129)) || (!v6 && r.proto == 1 && (b[off] == 8 || b[off] == 0)))
        r.sport = r.port = get16(b, off + 4);
      // errors: v4 3, 11, 12; v6 1-4 (of the packet's own family only)
      if ((v6 && r.proto == 58 && b[off] >= 1 && b[off] <= 4) ||
          (!v6 && r.proto == 1 && (b[off] == 3 || b[off] == 11 || b[off] == 12))) {
        r.icmp_error = true;
        r.quote = read_quote(b, off + 8, avail - 8, v6);
      }
      break;
    default:
      break;
  }
  r.kind = Kind::Ok;
  return r;
}

Reading read_packet(const Bytes& b) {
  const uint16_t ethertype = get16(b, 12);
  if (ethertype == 0x8100 || ethertype == 0x88a8) return invalid("VLAN tag on a pod veth");
  if (ethertype != 0x0800 && ethertype != 0x86dd) {
    Reading r;
    r.kind = Kind::NonIp;
    return r;
  }
  Reading r;
  if (ethertype == 0x0800) {
    if (b.size() < kEth + 20) return invalid("IPv4 header truncated");
    const size_t ihl = (b[kEth] & 0xf) * 4, tot = get16(b, kEth + 2);
    if ((b[kEth] >> 4) != 4) return invalid("IPv4 version");
    if (ihl < 20 || tot < ihl || kEth + tot > b.size()) return invalid("IPv4 IHL/total length");
    r.src = addr_at(b, kEth + 12, false);
    r.dst = addr_at(b, kEth + 16, false);
    r.proto = r.frag_proto = b[kEth + 9];
    const uint16_t fo = get16(b, kEth + 6);
    if (fo & 0x1fff) {
      r.frag = Frag::Later;
      r.frag_id = get16(b, kEth + 4);
      r.kind = Kind::Ok;
      return r;
    }
    if (fo & 0x2000) {
      r.frag = Frag::First;
      r.frag_id = get16(b, kEth + 4);
    }
    return read_l4(b, r, kEth + ihl, tot - ihl, false);
  }
  if (b.size() < kEth + 40) return invalid("IPv6 header truncated");
  const size_t plen = get16(b, kEth + 4), end = kEth + 40 + plen;
  if ((b[kEth] >> 4) != 6 || plen == 0 || end > b.size()) return invalid("IPv6 version/payload length");
  r.src = addr_at(b, kEth + 8, true);
  r.dst = addr_at(b, kEth + 24, true);
  uint8_t nh = b[kEth + 6];
  size_t off = kEth + 40;
  // At most 7 extension headers before the transport header (bpf/README.md:
  // a longer chain is not a real packet).
  for (int headers = 0;; ++headers) {
    const bool ext = nh == 0 || nh == 43 || nh == 60 || nh == 51 || nh == 44;
    if (!ext) break;
    if (headers == 7) return invalid("IPv6 extension chain too long");
    if (off + 8 > end) return invalid("IPv6 extension header past the datagram");
    const uint8_t next = b[off];
    if (nh == 44) {
      const uint16_t fo = get16(b, off + 2);
      r.frag_id = uint32_t(b[off + 4]) << 24 | uint32_t(b[off + 5]) << 16 | uint32_t(b[off + 6]) << 8 | b[off + 7];
      r.frag_proto = next;
      off += 8;
      if (fo & 0xfff8) {
        r.frag = Frag::Later;
        r.proto = next;
        r.kind = Kind::Ok;
        return r;
      }
      if (fo & 1) r.frag = Frag::First;  // offset 0 without M: atomic, a whole datagram
    } else {
      off += nh == 51 ? (size_t(b[off + 1]) + 2) * 4 : (size_t(b[off + 1]) + 1) * 8;
    }
    nh = next;
  }
  if (off > end) return invalid("IPv6 extension chain past the datagram");
  r.proto = nh;
  if (r.frag != Frag::First) r.frag_proto = nh;
  return read_l4(b, r, off, end - off, true);
}

// --- the generator ------------------------------------------------------------

struct Gen {
  std::mt19937_64 rng;
  explicit Gen(uint64_t seed) : rng(seed) {}

  uint64_t u(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng); }
  bool chance(int percent) { return u(100) < uint64_t(percent); }
  template <class T>
  const T& pick(const std::vector<T>& v) { return v[u(v.size())]; }

  std::string v4(const std::vector<std::string>& pool) {
    if (chance(10)) return std::to_string(u(256)) + "." + std::to_string(u(256)) + "." + std::to_string(u(256)) + "." + std::to_string(u(256));
    return pick(pool);
  }
  std::string v6(const std::vector<std::string>& pool) {
    if (chance(10)) {
      std::ostringstream s;
      s << std::hex << "2001:db8:" << u(65536) << "::" << u(65536);
      return s.str();
    }
    return pick(pool);
  }
  uint16_t port() {
    static const std::vector<uint16_t> ports = {80, 81, 53, 54, 443, 999, 1000, 1500, 2000, 2001, 5000, 5001, 8080, 30000, 30050, 30101, 0};
    return chance(15) ? static_cast<uint16_t>(u(65536)) : pick(ports);
  }
  uint8_t proto() {
    static const std::vector<uint8_t> protos = {6, 6, 6, 17, 17, 132, 1, 58, 47, 0, 255};
    return pick(protos);
  }

  Bytes l4(uint8_t proto, bool v6) {
    const uint16_t sport = static_cast<uint16_t>(1024 + u(64));  // few flows: the cache gets hits
    switch (proto) {
      case 6: return tcp(sport, port(), pick(std::vector<uint8_t>{kSyn, kAck, kSyn | kAck, kFin | kAck, kRst}), u(3) * 8);
      case 17: return udp(sport, port(), u(3) * 4);
      case 132: return sctp(sport, port());
      case 1:
      case 58: {
        static const std::vector<uint8_t> t4 = {8, 0, 3, 11, 5}, t6 = {128, 129, 1, 2, 135, 136, 133, 143};
        return icmp(v6 ? pick(t6) : pick(t4), static_cast<uint16_t>(u(4)));
      }
      default: {
        Bytes b(u(24), 0);
        for (auto& c : b) c = static_cast<uint8_t>(u(256));
        return b;
      }
    }
  }

  // A random chain of IPv6 extension headers in front of `first`.
  std::pair<uint8_t, Bytes> v6_chain(uint8_t first) {
    Bytes chain;
    uint8_t next = first;
    const int n = chance(85) ? int(u(3)) : int(u(10));
    for (int i = 0; i < n; ++i) {
      static const std::vector<uint8_t> kinds = {0, 43, 60, 51, 44};
      const uint8_t kind = pick(kinds);
      Bytes h;
      if (kind == 44) {
        h = v6_frag(next, chance(70) ? 0 : static_cast<uint16_t>(u(4)), chance(50), static_cast<uint32_t>(u(6)));
      } else if (kind == 51) {
        h.assign(12, 0);  // AH: length 1 = (1 + 2) * 4 bytes
        h[0] = next;
        h[1] = 1;
      } else {
        h = v6_dstopts(next);
        if (chance(20)) {  // a longer option header, padded with PadN
          h.resize(16, 0);
          h[1] = 1;
          h[3] = 12;
        }
      }
      chain = cat(h, chain);
      next = kind;
    }
    return {next, chain};
  }
};

// The pods under test: web's ingress and client's egress (both isolated).
struct Target {
  const char* pod;
  bf_direction dir;
  std::string self4, self6;
  std::vector<std::string> peers4, peers6;
  std::vector<Prefix> source_prefixes;  // the pod's allowed-source-prefixes annotation
};

// The source check (bpf/lib/source.h, bpf/README.md): may t's pod send
// from `src`? Its own addresses, IPv6 link-local and unspecified, and its
// annotated prefixes.
bool may_send_from(const Target& t, const IpAddress& src) {
  if (src == *IpAddress::parse(t.self4) || src == *IpAddress::parse(t.self6)) return true;
  if (src.is_zero() || (src.bytes[0] == 0xfe && (src.bytes[1] & 0xc0) == 0x80)) return true;
  for (const Prefix& p : t.source_prefixes)
    if (p.contains(src)) return true;
  return false;
}

Bytes well_formed(Gen& g, const Target& t, bool& v6out) {
  const bool v6 = g.chance(35);
  v6out = v6;
  const uint8_t proto = g.proto();
  std::string peer = v6 ? g.v6(t.peers6) : g.v4(t.peers4);
  std::string self = v6 ? t.self6 : t.self4;
  if (g.chance(3)) self = v6 ? g.v6(t.peers6) : g.v4(t.peers4);  // not addressed to the pod at all (or, sent: spoofed)
  if (t.dir == BF_DIR_EGRESS && g.chance(8)) {
    // Sent from another pod's, the node's, a link-local, the unspecified
    // address, or one of the pod's annotated prefixes.
    static const std::vector<std::string> s4 = {"10.0.1.10", "10.0.1.12", "10.0.0.1", "10.0.9.9", "10.0.9.200",
                                                "10.0.8.1"};
    static const std::vector<std::string> s6 = {"fd00::10", "fd00:9::1", "fd00:9:0:1::1", "fe80::11", "::",
                                                "::ffff:10.0.1.10", "::ffff:10.0.1.11"};
    self = v6 ? g.pick(s6) : g.pick(s4);
  }
  const std::string& src = t.dir == BF_DIR_INGRESS ? peer : self;
  const std::string& dst = t.dir == BF_DIR_INGRESS ? self : peer;
  const bool frag = g.chance(15);
  const bool later = frag && g.chance(50);
  const uint8_t l4proto = v6 ? (proto == 1 ? 58 : proto) : (proto == 58 ? 1 : proto);  // ICMP of the family
  Bytes payload = g.l4(l4proto, v6);
  if (!v6) {
    V4Opts o;
    o.id = static_cast<uint16_t>(1 + g.u(6));  // few ids: later fragments meet their first
    if (frag) {
      o.more_fragments = !later || g.chance(50);
      o.frag_offset = later ? static_cast<uint16_t>(1 + g.u(8)) : 0;
    }
    if (g.chance(10)) {  // IPv4 options (NOPs), a correct IHL
      o.ihl = 5 + 1 + int(g.u(3));
      Bytes ip = ipv4(src, dst, l4proto, payload, o);
      ip.insert(ip.begin() + 20, size_t(o.ihl - 5) * 4, 1);
      put16(ip, 2, static_cast<uint16_t>(ip.size()));
      return eth4(ip);
    }
    return eth4(ipv4(src, dst, l4proto, payload, o));
  }
  auto [first, chain] = g.v6_chain(l4proto);
  if (frag) {
    Bytes fh = v6_frag(first, later ? static_cast<uint16_t>(1 + g.u(8)) : 0, !later || g.chance(50),
                       static_cast<uint32_t>(1 + g.u(6)));
    chain = cat(fh, chain);
    first = 44;
  }
  return eth6(ipv6(src, dst, first, cat(chain, payload)));
}

void mutate(Gen& g, Bytes& b, bool v6) {
  const size_t l3 = kEth, l4 = kEth + (v6 ? 40 : 20);
  switch (g.u(10)) {
    case 0:  // truncated anywhere after Ethernet
      if (b.size() > kEth) b.resize(kEth + g.u(b.size() - kEth));
      break;
    case 1:  // a few random bytes anywhere, ethertype included
      for (int i = 0, n = 1 + int(g.u(4)); i < n; ++i) b[g.u(b.size())] = static_cast<uint8_t>(g.u(256));
      break;
    case 2:  // bad IHL / bad IPv6 version nibble
      if (b.size() > l3) b[l3] = static_cast<uint8_t>((b[l3] & 0xf0) | g.u(16));
      if (v6 && b.size() > l3 && g.chance(30)) b[l3] = static_cast<uint8_t>(g.u(256));
      break;
    case 3:  // total length / payload length off by a little or a lot
      if (b.size() >= l4) {
        const size_t at = l3 + (v6 ? 4 : 2);
        const int delta = g.chance(50) ? int(g.u(9)) - 4 : int(g.u(65536));
        put16(b, at, static_cast<uint16_t>(g.chance(50) ? get16(b, at) + delta : delta));
      }
      break;
    case 4:  // zero-length (or short) transport header: the IP header claims it, the datagram ends
      if (b.size() >= l4) {
        const size_t keep = g.u(9);
        size_t ip_hlen = v6 ? 40 : size_t(b[l3] & 0xf) * 4;
        if (ip_hlen < 20) ip_hlen = 20;
        if (kEth + ip_hlen + keep < b.size()) b.resize(kEth + ip_hlen + keep);
        if (v6) put16(b, l3 + 4, static_cast<uint16_t>(b.size() - l4));
        else put16(b, l3 + 2, static_cast<uint16_t>(b.size() - l3));
      }
      break;
    case 5:  // trailing bytes after the datagram (Ethernet padding): still well formed
      for (int i = 0, n = 1 + int(g.u(20)); i < n; ++i) b.push_back(static_cast<uint8_t>(g.u(256)));
      break;
    case 6:  // the next-header / protocol byte replaced
      if (b.size() >= l4) b[l3 + (v6 ? 6 : 9)] = g.chance(50) ? g.pick(std::vector<uint8_t>{0, 43, 44, 51, 60, 6, 17, 58, 1, 132}) : static_cast<uint8_t>(g.u(256));
      break;
    case 7:  // fragment bits flipped (IPv4 flags/offset)
      if (!v6 && b.size() >= l4) put16(b, l3 + 6, static_cast<uint16_t>(g.u(65536)));
      if (v6 && b.size() >= l4 + 8 && b[l3 + 6] == 44) put16(b, l4 + 2, static_cast<uint16_t>(g.u(65536)));
      break;
    case 8:  // an extension header's length byte
      if (v6 && b.size() >= l4 + 8) b[l4 + 1] = static_cast<uint8_t>(g.u(256));
      break;
    default: {  // random bytes behind a plausible Ethernet header
      const size_t n = g.u(120);
      b.resize(kEth + n);
      for (size_t i = kEth; i < b.size(); ++i) b[i] = static_cast<uint8_t>(g.u(256));
      static const std::vector<uint16_t> types = {0x0800, 0x86dd, 0x0806, 0x8100, 0x88a8, 0x0001};
      put16(b, 12, g.chance(80) ? g.pick(types) : static_cast<uint16_t>(g.u(65536)));
      if (n > 0 && g.chance(60)) b[kEth] = get16(b, 12) == 0x86dd ? 0x60 : 0x45;  // a plausible version nibble
    }
  }
}

uint64_t env_or(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 0) : fallback;
}

// Sets up the cluster and policy the fuzzer runs against.
struct FuzzWorld {
  Fixture f;
  std::vector<Target> targets;

  FuzzWorld() {
    add_cluster(f);
    Compiler& c = f.compiler();
    // web ingress: client on TCP 80 and UDP 53; 10.0.0.0/16 except 10.0.2.0/24
    // on TCP 1000-2000 and SCTP 5000; every protocol from prod's pods.
    PolicyRule a, b, p;
    a.peers = {pod_peer({{"app", "client"}})};
    a.ports = {port(80), port(53, Protocol::UDP)};
    b.peers = {cidr_peer("10.0.0.0/16", {"10.0.2.0/24"})};
    b.ports = {port(1000, Protocol::TCP, 2000), port(5000, Protocol::SCTP)};
    p.peers = {ns_peer({{"team", "prod"}})};
    c.upsert(ingress_policy("dev", "web-in", {{"app", "web"}}, {a, b, p}));
    // client egress: web's named port http; UDP (every port) to 10.0.3.0/24;
    // TCP 30000-30100 to 192.168.0.0/16; everything to fd00::12; the named
    // port http towards 10.0.4.0/24 except 10.0.4.41 and fd00:4::/64, which
    // holds for the pod behind 10.0.4.40 / fd00:4::40 (http is 8080 there)
    // and not for the excepted pod or the block's other addresses.
    c.upsert(make_pod("prod", "cache", {{"app", "cache"}}, {"10.0.4.40", "fd00:4::40"}, "n2",
                      {ContainerPort{"http", 8080, Protocol::TCP}}));
    c.upsert(make_pod("prod", "cache-excepted", {{"app", "cache"}}, {"10.0.4.41", "fd00:5::41"}, "n2",
                      {ContainerPort{"http", 8080, Protocol::TCP}}));
    PolicyRule e1, e2, e3, e4, e5;
    e1.peers = {pod_peer({{"app", "web"}})};
    e1.ports = {named_port("http")};
    e2.peers = {cidr_peer("10.0.3.0/24")};
    PolicyPort any_udp;
    any_udp.protocol = Protocol::UDP;
    e2.ports = {any_udp};
    e3.peers = {cidr_peer("192.168.0.0/16")};
    e3.ports = {port(30000, Protocol::TCP, 30100)};
    e4.peers = {cidr_peer("fd00::12/128")};
    e5.peers = {cidr_peer("10.0.4.0/24", {"10.0.4.41/32"}), cidr_peer("fd00:4::/64")};
    e5.ports = {named_port("http")};
    c.upsert(egress_policy("dev", "client-out", {{"app", "client"}}, {e1, e2, e3, e4, e5}));
    // client may also send from 10.0.9.0/24 and fd00:9::/64.
    const std::vector<Prefix> client_prefixes = {*Prefix::parse("10.0.9.0/24"), *Prefix::parse("fd00:9::/64")};
    Pod client = make_pod("dev", "client", {{"app", "client"}}, {"10.0.1.11", "fd00::11"});
    client.allowed_source_prefixes = client_prefixes;
    c.upsert(client);
    f.commit();
    const std::vector<std::string> p4 = {"10.0.1.11", "10.0.1.12", "10.0.1.10", "10.0.2.20", "10.0.3.30", "10.0.3.31",
                                         "10.0.0.1", "10.0.9.9", "10.0.2.99", "192.168.5.5", "192.168.0.1", "0.0.0.0",
                                         "255.255.255.255", "10.0.4.40", "10.0.4.41", "10.0.4.42"};
    const std::vector<std::string> p6 = {"fd00::11", "fd00::12", "fd00::10", "fd00::99", "::ffff:10.0.1.11", "::",
                                         "ff02::1", "fe80::1", "fd00:4::40", "fd00:4::42", "fd00:5::41"};
    targets = {{kWeb, BF_DIR_INGRESS, "10.0.1.10", "fd00::10", p4, p6},
               {kClient, BF_DIR_EGRESS, "10.0.1.11", "fd00::11", p4, p6, client_prefixes}};
  }

  // The policy's answer for what the oracle read, at t's pod and direction;
  // what the pod sends from an address it may not use is denied whatever
  // the policy says.
  bool allowed(const Target& t, const Reading& r) {
    const bool v6 = !r.src.is_v4() || !r.dst.is_v4();
    const IpAddress self = *IpAddress::parse(v6 ? t.self6 : t.self4);
    if (t.dir == BF_DIR_INGRESS) return f.compiler().verdict(r.src, self, r.proto, r.port).ingress.allowed;
    if (!may_send_from(t, r.src)) return false;
    return f.compiler().verdict(self, r.dst, r.proto, r.port).egress.allowed;
  }
};

// Frag state the oracle keeps: (target, src, dst, id, proto) -> first fragment forwarded.
using FragKey = std::tuple<size_t, IpAddress, IpAddress, uint32_t, uint8_t>;

// What the oracle remembers between packets.
struct Memory {
  std::map<FragKey, bool> frags;
  // (target, flow) forwarded as a new flow: the program then holds its
  // reply entry, which an ICMP error quoting the reply is Related to.
  std::set<std::pair<size_t, FlowTuple>> forwarded;
  std::vector<std::pair<size_t, FlowTuple>> forwarded_list;  // the same, for the generator to pick from

  void remember(size_t target, const FlowTuple& t) {
    if (forwarded.insert({target, t}).second) forwarded_list.push_back({target, t});
  }
  // An ICMP error the program must forward as Related: it quotes the reply
  // of a forwarded flow, and goes to that reply's sender.
  bool related(size_t target, const Reading& r) const {
    return r.quote && r.dst == r.quote->src && forwarded.count({target, r.quote->reversed()});
  }
};

struct Tally {
  uint64_t packets = 0, forwarded = 0, well_formed = 0, invalid = 0, fragments = 0;
  uint64_t spoofed = 0;          // well formed, sent by the pod from an address it may not use
  uint64_t related = 0;          // ICMP errors quoting a forwarded flow's reply
  uint64_t related_evicted = 0;  // ... whose reply entry the LRU had evicted (dropped: fine)
  uint64_t refused = 0;  // frames BPF_PROG_TEST_RUN does not run
  uint64_t invalid_forwarded_allowed = 0;  // the oracle read it malformed, the program forwarded, the policy allows it
  std::vector<std::string> failures;
};

// Runs one packet and checks it; returns false on a failure (recorded in tally).
bool check_packet(FuzzWorld& w, size_t ti, const Bytes& pkt, Memory& mem, Tally& tally,
                  const std::string& label) {
  const Target& t = w.targets[ti];
  int rc = 0;
  try {
    rc = w.f.run(t.pod, t.dir, pkt);
  } catch (const std::exception& e) {
    // BPF_PROG_TEST_RUN refuses (EINVAL) an IPv4/IPv6 frame shorter than
    // its fixed IP header, and one with nothing after Ethernet: such a frame
    // never reaches the program here (the parser's own bounds checks cover it).
    const uint16_t et = pkt.size() >= kEth ? get16(pkt, 12) : 0;
    if (pkt.size() <= kEth || (et == 0x0800 && pkt.size() < kEth + 20) || (et == 0x86dd && pkt.size() < kEth + 40)) {
      ++tally.refused;
      return true;
    }
    tally.failures.push_back(label + ": " + e.what() + " packet=" + hex(pkt));
    return false;
  }
  const Reading r = read_packet(pkt);
  ++tally.packets;
  const bool pass = rc == kPass;
  if (pass) ++tally.forwarded;
  if (rc != kPass && rc != kDrop) {
    tally.failures.push_back(label + ": return code " + std::to_string(rc));
    return false;
  }
  auto fail = [&](const std::string& what) {
    std::ostringstream s;
    s << label << " " << t.pod << (t.dir == BF_DIR_INGRESS ? " ingress" : " egress") << ": " << what
      << " packet=" << hex(pkt);
    tally.failures.push_back(s.str());
    return false;
  };
  switch (r.kind) {
    case Kind::NonIp:
    case Kind::Ndp:
      if (!pass) return fail("non-IP/NDP frame dropped");
      return true;
    case Kind::Invalid: {
      ++tally.invalid;
      if (!pass) return true;
      // The program forwarded what the oracle reads as malformed: allowed
      // only if the policy allows the packet as its headers claim.
      const uint16_t et = get16(pkt, 12);
      Reading claim;
      const bool v6 = et == 0x86dd;
      const size_t l3len = v6 ? 40 : 20;
      if ((et != 0x0800 && !v6) || pkt.size() < kEth + l3len) return fail("malformed (" + r.why + ") forwarded");
      claim.src = addr_at(pkt, kEth + (v6 ? 8 : 12), v6);
      claim.dst = addr_at(pkt, kEth + (v6 ? 24 : 16), v6);
      claim.proto = pkt[kEth + (v6 ? 6 : 9)];
      const size_t l4 = kEth + (v6 ? 40 : std::max<size_t>(20, (pkt[kEth] & 0xf) * 4));
      claim.sport = pkt.size() >= l4 + 4 ? get16(pkt, l4) : 0;
      claim.port = pkt.size() >= l4 + 4 ? get16(pkt, l4 + 2) : 0;
      if (!w.allowed(t, claim)) return fail("malformed (" + r.why + ") forwarded, and the policy denies it");
      ++tally.invalid_forwarded_allowed;
      // The program read it as a flow and holds a reply entry for it.
      if (t.dir == BF_DIR_EGRESS || may_send_from(t, claim.dst))
        mem.remember(ti, {claim.src, claim.dst, claim.proto, claim.sport, claim.port});
      return true;
    }
    case Kind::Ok:
      break;
  }
  ++tally.well_formed;
  if (r.frag == Frag::Later) {
    ++tally.fragments;
    auto it = mem.frags.find({ti, r.src, r.dst, r.frag_id, r.frag_proto});
    const bool first_forwarded = it != mem.frags.end() && it->second;
    if (pass && !first_forwarded) return fail("later fragment forwarded, its first fragment was not");
    // A dropped later fragment of a forwarded datagram is safe (the frags
    // map is an LRU): not a failure.
    return true;
  }
  if (t.dir == BF_DIR_EGRESS && !may_send_from(t, r.src)) ++tally.spoofed;
  // What the pod sends from an address it may not use is dropped before
  // anything else, a related ICMP error too.
  const bool related = r.icmp_error && mem.related(ti, r) && (t.dir == BF_DIR_INGRESS || may_send_from(t, r.src));
  const bool allow = related || w.allowed(t, r);
  if (related) ++tally.related;
  if (r.frag == Frag::First) {
    ++tally.fragments;
    mem.frags[{ti, r.src, r.dst, r.frag_id, r.frag_proto}] = pass;
  }
  // An error gets no reply entry; a related one is not recorded at all; a
  // flow into the pod to an address it may not send from gets none either.
  if (pass && !r.icmp_error && (t.dir == BF_DIR_EGRESS || may_send_from(t, r.dst)))
    mem.remember(ti, {r.src, r.dst, r.proto, r.sport, r.port});
  if (pass && !allow) return fail(r.icmp_error ? "ICMP error forwarded, unrelated, and the policy denies it"
                                               : "forwarded, the policy denies it");
  if (!pass && related) {
    // The flow table is an LRU of 4,096 entries here: the reply entry may
    // have been evicted since, and then the program cannot know the flow.
    // Dropped with the entry still there is a failure.
    const FlowTuple& q = *r.quote;
    const auto other = t.dir == BF_DIR_INGRESS ? BF_DIR_EGRESS : BF_DIR_INGRESS;
    if (!w.f.flow(t.pod, other, q.src.str(), q.dst.str(), q.proto, q.sport, q.dport)) {
      ++tally.related_evicted;
      return true;
    }
  }
  if (!pass && allow) return fail(related ? "related ICMP error dropped" : "dropped, the policy allows it");
  return true;
}

// An ICMP error quoting the reply of a flow forwarded at target `ti` (so
// the program must find it Related), or nothing when there is none yet. The
// quote is cut anywhere from nothing to 12 bytes past the IP header.
Bytes icmp_error_about(Gen& g, const Target& t, size_t ti, const Memory& mem, bool& v6) {
  std::vector<FlowTuple> flows;  // recent ones: the LRU flow table still holds them
  for (auto it = mem.forwarded_list.rbegin(); it != mem.forwarded_list.rend() && flows.size() < 64; ++it)
    if (it->first == ti) flows.push_back(it->second);
  if (flows.empty()) return {};
  const FlowTuple reply = g.pick(flows).reversed();
  // An IPv6 packet may carry IPv4-mapped addresses: written ::ffff:a.b.c.d then.
  v6 = !reply.src.is_v4() || !reply.dst.is_v4();
  auto text = [&](const IpAddress& a) { return v6 && a.is_v4() ? "::ffff:" + a.str() : a.str(); };
  const std::string qsrc = text(reply.src), qdst = text(reply.dst);
  Bytes l4(8, 0);
  switch (reply.proto) {
    case 6: l4 = tcp(reply.sport, reply.dport, kAck); break;
    case 17: l4 = udp(reply.sport, reply.dport); break;
    case 132: l4 = sctp(reply.sport, reply.dport); break;
    case 1:
    case 58: l4 = icmp(v6 ? 129 : 0, reply.sport); break;
  }
  Bytes quoted = v6 ? ipv6(qsrc, qdst, reply.proto, l4) : ipv4(qsrc, qdst, reply.proto, l4);
  const size_t keep = g.chance(80) ? 8 : g.u(13);
  // It goes to the reply's sender: from a router (web's ingress) or from the pod itself (client's egress).
  const std::string to = qsrc;
  const std::string from = t.dir == BF_DIR_INGRESS ? (v6 ? g.v6(t.peers6) : g.v4(t.peers4)) : qdst;
  if (v6) {
    static const std::vector<uint8_t> types = {1, 2, 3, 4};
    return eth6(ipv6(from, to, 58, icmp_error(g.pick(types), 0, quoted, keep)));
  }
  static const std::vector<uint8_t> types = {3, 11, 12};
  return eth4(ipv4(from, to, 1, icmp_error(g.pick(types), 4, quoted, keep)));
}

}  // namespace

TEST_CASE("packet fuzz: regression packets", "[fuzz]") {
  // Packets kept from fuzzing runs (hex, Ethernet first) with the pod and
  // direction they went through. Each is checked like a fuzzed one.
  struct Kept {
    size_t target;  // 0: web ingress, 1: client egress
    std::string name;
    Bytes bytes;
    int forwarded = -1;  // written by hand: 1 forwarded, 0 dropped, -1 left to the oracle
  };
  auto dstopts_chain = [](int n, uint8_t last) {
    Bytes chain;
    uint8_t next = last;
    for (int i = 0; i < n; ++i) {
      chain = cat(v6_dstopts(next), chain);
      next = 60;
    }
    return chain;
  };
  V4Opts ihl15;
  ihl15.ihl = 15;
  Bytes v4_ihl15 = eth4(ipv4("10.0.1.11", "10.0.1.10", 6, Bytes(40, 1), ihl15));  // options only, no TCP header
  const std::vector<Kept> kept = {
      {0, "IPv6, 7 extension headers, TCP to an allowed port: forwarded",
       eth6(ipv6("fd00::11", "fd00::10", 60, cat(dstopts_chain(7, 6), tcp(1024, 80))))},
      {0, "IPv6, 8 extension headers, TCP to an allowed port: chain too long",
       eth6(ipv6("fd00::11", "fd00::10", 60, cat(dstopts_chain(8, 6), tcp(1024, 80))))},
      {0, "IPv6, 9 extension headers, TCP to a denied port",
       eth6(ipv6("fd00::12", "fd00::10", 60, cat(dstopts_chain(9, 6), tcp(1024, 81))))},
      {0, "IPv4 IHL 15: the options eat the TCP header", v4_ihl15},
      {0, "IPv4 zero-length TCP from a denied peer", eth4(ipv4("10.0.1.12", "10.0.1.10", 6, {}))},
      {0, "IPv6 zero-length UDP", eth6(ipv6("fd00::12", "fd00::10", 17, {}, 0))},
      {0, "IPv6 later fragment before any first", eth6(ipv6("fd00::12", "fd00::10", 44, cat(v6_frag(6, 3, false, 77), Bytes(16, 0))))},
      {1, "client egress: TCP to web's named port http (8080)", eth4(ipv4("10.0.1.11", "10.0.1.10", 6, tcp(1024, 8080)))},
      {1, "client egress: TCP to web port 80 (not allowed that way)", eth4(ipv4("10.0.1.11", "10.0.1.10", 6, tcp(1025, 80)))},
      {1, "client egress: TCP 8080 to the pod behind 10.0.4.40 (http, through the ipBlock)",
       eth4(ipv4("10.0.1.11", "10.0.4.40", 6, tcp(1026, 8080))), 1},
      {1, "client egress: TCP 8080 to fd00:4::40, the same pod over IPv6",
       eth6(ipv6("fd00::11", "fd00:4::40", 6, tcp(1027, 8080))), 1},
      {1, "client egress: TCP 8080 to 10.0.4.42, no pod there (external, inside the block)",
       eth4(ipv4("10.0.1.11", "10.0.4.42", 6, tcp(1028, 8080))), 0},
      {1, "client egress: TCP 8080 to fd00:4::42, no pod there", eth6(ipv6("fd00::11", "fd00:4::42", 6, tcp(1029, 8080))), 0},
      {1, "client egress: TCP 8080 to the excepted pod 10.0.4.41", eth4(ipv4("10.0.1.11", "10.0.4.41", 6, tcp(1030, 8080))), 0},
      {1, "client egress: TCP 80 to the pod behind 10.0.4.40 (not its http)",
       eth4(ipv4("10.0.1.11", "10.0.4.40", 6, tcp(1031, 80))), 0},
  };
  FuzzWorld w;
  Memory mem;
  Tally tally;
  for (size_t i = 0; i < kept.size(); ++i) {
    INFO("kept packet " << i << ": " << kept[i].name);
    const bool ok = check_packet(w, kept[i].target, kept[i].bytes, mem, tally, kept[i].name);
    CHECK(ok);
    if (!ok) FAIL(tally.failures.back());
    if (kept[i].forwarded >= 0) {
      const Target& t = w.targets[kept[i].target];
      CHECK((w.f.run(t.pod, t.dir, kept[i].bytes) == kPass) == (kept[i].forwarded == 1));
      const Reading r = read_packet(kept[i].bytes);
      CHECK(w.allowed(t, r) == (kept[i].forwarded == 1));
    }
  }
}

TEST_CASE("packet fuzz: random and mutated packets never forward what the policy denies", "[fuzz]") {
  const uint64_t seed = env_or("BPFENCE_PACKET_FUZZ_SEED", 20261123);
  const uint64_t max_packets = env_or("BPFENCE_PACKET_FUZZ_COUNT", 300000);
  const uint64_t max_seconds = env_or("BPFENCE_PACKET_FUZZ_SECONDS", 25);
  std::printf("level=info msg=\"packet fuzz start\" seed=%llu max_packets=%llu max_seconds=%llu\n",
              (unsigned long long)seed, (unsigned long long)max_packets, (unsigned long long)max_seconds);
  FuzzWorld w;
  Gen g(seed);
  Memory mem;
  Tally tally;
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::seconds(max_seconds);
  for (uint64_t i = 0; i < max_packets; ++i) {
    if ((i & 1023) == 0 && std::chrono::steady_clock::now() > deadline) break;
    const size_t ti = g.u(w.targets.size());
    bool v6 = false;
    Bytes pkt = g.chance(5) ? icmp_error_about(g, w.targets[ti], ti, mem, v6) : Bytes{};
    if (pkt.empty()) pkt = well_formed(g, w.targets[ti], v6);
    const int mutations = g.chance(30) ? 0 : 1 + int(g.u(2));
    for (int m = 0; m < mutations; ++m) mutate(g, pkt, v6);
    if (pkt.size() < kEth) pkt.resize(kEth, 0);  // BPF_PROG_TEST_RUN needs an Ethernet header
    if (!check_packet(w, ti, pkt, mem, tally, "seed " + std::to_string(seed) + " packet " + std::to_string(i)) &&
        tally.failures.size() >= 10)
      break;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("level=info msg=\"packet fuzz done\" seed=%llu packets=%llu forwarded=%llu well_formed=%llu "
              "malformed=%llu fragments=%llu spoofed_sources=%llu related_icmp_errors=%llu related_evicted=%llu "
              "malformed_forwarded_but_allowed=%llu refused_by_test_run=%llu seconds=%.1f failures=%zu\n",
              (unsigned long long)seed, (unsigned long long)tally.packets, (unsigned long long)tally.forwarded,
              (unsigned long long)tally.well_formed, (unsigned long long)tally.invalid,
              (unsigned long long)tally.fragments, (unsigned long long)tally.spoofed, (unsigned long long)tally.related,
              (unsigned long long)tally.related_evicted,
              (unsigned long long)tally.invalid_forwarded_allowed,
              (unsigned long long)tally.refused, secs,
              tally.failures.size());
  for (const auto& f : tally.failures) std::printf("FAIL %s\n", f.c_str());
  CHECK(tally.failures.empty());
  CHECK(tally.packets >= 10000);  // bounded, but not trivially short
  CHECK(tally.invalid > 0);
  CHECK(tally.fragments > 0);
  CHECK(tally.spoofed > 0);
  CHECK(tally.related > tally.related_evicted);  // most related errors met their flow
}
