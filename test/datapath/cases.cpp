// Runs table-driven packet cases through a Fixture (see cases.h).
#include "cases.h"

#include <catch2/catch.hpp>

namespace bpfence::testdp {

using namespace testpkt;

Pkt tcp4(const std::string& src, uint16_t sport, const std::string& dst, uint16_t dport, uint8_t flags,
         size_t payload) {
  return {eth4(ipv4(src, dst, 6, tcp(sport, dport, flags, payload))), Tuple{src, dst, 6, sport, dport}};
}
Pkt udp4(const std::string& src, uint16_t sport, const std::string& dst, uint16_t dport) {
  return {eth4(ipv4(src, dst, 17, udp(sport, dport, 4))), Tuple{src, dst, 17, sport, dport}};
}
Pkt sctp4(const std::string& src, uint16_t sport, const std::string& dst, uint16_t dport) {
  return {eth4(ipv4(src, dst, 132, sctp(sport, dport))), Tuple{src, dst, 132, sport, dport}};
}
Pkt ping4(const std::string& src, const std::string& dst, uint16_t id, bool reply) {
  return {eth4(ipv4(src, dst, 1, icmp(reply ? 0 : 8, id))), Tuple{src, dst, 1, id, id}};
}
Pkt tcp6(const std::string& src, uint16_t sport, const std::string& dst, uint16_t dport, uint8_t flags) {
  return {eth6(ipv6(src, dst, 6, tcp(sport, dport, flags))), Tuple{src, dst, 6, sport, dport}};
}
Pkt ping6(const std::string& src, const std::string& dst, uint16_t id, bool reply) {
  return {eth6(ipv6(src, dst, 58, icmp(reply ? 129 : 128, id))), Tuple{src, dst, 58, id, id}};
}
Pkt raw(Bytes bytes) { return {std::move(bytes), std::nullopt}; }

void run_cases(Fixture& f, const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    INFO("case: " << c.name);
    bf_action action = c.tc == kPass ? BF_ACT_FORWARD : BF_ACT_DROP;
    bf_counter before = f.counter(action, c.reason);
    int tc = f.run(c.pod, c.dir, c.pkt.bytes);
    CHECK(tc == c.tc);
    bf_counter after = f.counter(action, c.reason);
    CHECK(after.packets == before.packets + 1);
    CHECK(after.bytes == before.bytes + c.pkt.bytes.size());
    if (!c.pkt.tuple) continue;
    const Tuple& t = *c.pkt.tuple;
    // Packets the program never records: host-side ICMPv6 NDP etc.
    if (c.reason == BF_R_NDP || c.reason == BF_R_NON_IP || c.reason == BF_R_INVALID) continue;
    auto flow = f.flow(c.pod, c.dir, t.src, t.dst, t.proto, t.sport, t.dport);
    REQUIRE(flow.has_value());
    CHECK(flow->action == action);
    CHECK(flow->reason == c.reason);
    if (c.rule != "-") CHECK(f.rule(flow->rule_id) == c.rule);
  }
}

}  // namespace bpfence::testdp
