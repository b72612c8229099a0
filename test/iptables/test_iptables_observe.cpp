// The readers behind `flow --match` and the counters in iptables mode: the
// conntrack listing (both the /proc file's and conntrack -L's format) and
// iptables-save -c counters mapped to the datapath's reasons.
#include <catch2/catch.hpp>

#include "bpfence/reasons.h"
#include "conntrack.h"

using namespace bpfence;

TEST_CASE("conntrack entries parse from /proc/net/nf_conntrack and from conntrack -L", "[iptables][observe]") {
  auto e = ipt::parse_conntrack(
      "ipv4     2 tcp      6 431999 ESTABLISHED src=10.77.1.10 dst=10.77.0.10 sport=40112 dport=8080 "
      "src=10.77.0.10 dst=10.77.1.10 sport=8080 dport=40112 [ASSURED] mark=0 zone=0 use=2\n"
      "udp      17 29 src=10.0.0.1 dst=10.0.0.53 sport=5353 dport=53 packets=1 bytes=60 [UNREPLIED] "
      "src=10.0.0.53 dst=10.0.0.1 sport=53 dport=5353 packets=0 bytes=0 mark=0 use=1\n"
      "ipv6     10 icmpv6   58 29 src=fd00::1 dst=fd00::2 type=128 code=0 id=7 src=fd00::2 dst=fd00::1 type=129 "
      "code=0 id=7 mark=0 zone=0 use=2\n"
      "conntrack v1.4.7 (conntrack-tools): 3 flow entries have been shown.\n");
  REQUIRE(e.size() == 3);
  CHECK(e[0].proto == 6);
  CHECK(e[0].state == "ESTABLISHED");
  CHECK(e[0].timeout_s == 431999);
  CHECK(e[0].src == *IpAddress::parse("10.77.1.10"));
  CHECK(e[0].dst == *IpAddress::parse("10.77.0.10"));
  CHECK(e[0].sport == 40112);
  CHECK(e[0].dport == 8080);
  CHECK(e[0].reply_src == *IpAddress::parse("10.77.0.10"));
  CHECK(e[0].reply_dport == 40112);
  CHECK(e[0].assured);
  CHECK_FALSE(e[0].unreplied);
  CHECK(e[1].proto == 17);
  CHECK(e[1].state.empty());
  CHECK(e[1].unreplied);
  CHECK(e[1].packets == 1);
  CHECK(e[1].bytes == 60);
  CHECK(e[2].proto == 58);
  CHECK(e[2].dport == 128);  // ICMP type
  CHECK(e[2].sport == 7);    // echo id
  CHECK(e[2].reply_dport == 129);
}

TEST_CASE("rule counters add up by the reason each rule stands for", "[iptables][observe]") {
  ipt::Names n{"t1"};
  auto c = ipt::parse_rule_counters(
      "*filter\n:FORWARD ACCEPT [0:0]\n"
      "[100:9000] -A FORWARD -m comment --comment \"bpfence t1\" -j BPFENCE-t1-FWD\n"
      "[40:4000] -A BPFENCE-t1-FWD -o v-web -m comment --comment \"default/web\" -j BPFENCE-t1-I1\n"
      "[30:3000] -A BPFENCE-t1-I1 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
      "[1:40] -A BPFENCE-t1-I1 -m conntrack --ctstate INVALID -j DROP\n"
      "[2:120] -A BPFENCE-t1-I1 -m set --match-set bpfence-t1-host-4 src -j RETURN\n"
      "[0:0] -A BPFENCE-t1-I1 -s 10.0.0.10/32 -j RETURN\n"
      "[3:180] -A BPFENCE-t1-I1 -p tcp -m tcp --dport 80 -m set --match-set bpfence-t1-0123456789ab-4 src -j RETURN\n"
      "[1:60] -A BPFENCE-t1-I1 -p udp -m udp --dport 53 -j RETURN\n"
      "[4:240] -A BPFENCE-t1-I1 -j DROP\n"
      "[50:5000] -A BPFENCE-t1-S1 -s 10.0.0.10/32 -j RETURN\n"
      "[5:300] -A BPFENCE-t1-S1 -m comment --comment \"spoofed source\" -j DROP\n"
      "[9:900] -A BPFENCE-t2-I1 -j DROP\n"
      "COMMIT\n",
      n);
  std::map<std::string, std::pair<uint64_t, uint64_t>> got;
  for (const auto& r : c)
    got[std::string(r.action == BF_ACT_DROP ? "D(" : "F(") + bf_reason_name(r.reason) + ")"] = {r.packets, r.bytes};
  CHECK(got == std::map<std::string, std::pair<uint64_t, uint64_t>>{{"F(Reply)", {30, 3000}},
                                                                     {"D(Invalid)", {1, 40}},
                                                                     {"F(Host)", {2, 120}},
                                                                     {"F(Policy)", {4, 240}},
                                                                     {"D(FwPolicy)", {4, 240}},
                                                                     {"D(SpoofedSource)", {5, 300}}});
}
