// A pod may only send from its own addresses (and the prefixes its
// annotation adds): the source check of from_pod, through the real program.
#include <catch2/catch.hpp>

#include "cases.h"
#include "cluster.h"

using namespace bpfence;
using namespace bpfence::testdp;
using namespace bpfence::testpkt;

namespace {
constexpr auto IN = BF_DIR_INGRESS;
constexpr auto OUT = BF_DIR_EGRESS;

// web admits only client on TCP 80 / UDP 9999; other is denied.
void web_allows_client(Fixture& f) {
  add_cluster(f);
  PolicyRule r;
  r.peers = {pod_peer({{"app", "client"}})};
  r.ports = {port(80), port(9999, Protocol::UDP)};
  f.compiler().upsert(ingress_policy("dev", "web-allow", {{"app", "web"}}, {r}));
  f.commit();
}
}  // namespace

TEST_CASE("source check: a pod borrowing another pod's or the node's address is dropped", "[policy][source]") {
  Fixture f;
  web_allows_client(f);
  const auto spoofed = BF_R_SPOOFED_SOURCE;
  Bytes icmp_err_own = eth4(ipv4("10.0.1.12", "10.0.3.30", 1, icmp_error(3, 3, ipv4("10.0.3.30", "10.0.1.12", 17, udp(5353, 53)))));
  Bytes icmp_err_spoofed = eth4(ipv4("10.0.1.11", "10.0.3.30", 1, icmp_error(3, 3, ipv4("10.0.3.30", "10.0.1.11", 17, udp(5353, 53)))));
  Bytes mld_report = eth6(ipv6("fe80::12", "ff02::16", 58, icmp(143, 0)));
  Bytes mld_from_unspecified = eth6(ipv6("::", "ff02::16", 58, icmp(143, 0)));
  Bytes ns_dad = eth6(ipv6("::", "ff02::1:ff00:12", 58, icmp(135, 0)));
  Bytes arp = eth(0x0806, Bytes(28, 0));
  run_cases(f, {
      // other (not allowed by web) sends as client (allowed): its own egress is not isolated
      {"UDP from client's address", kOther, OUT, udp4("10.0.1.11", 40000, "10.0.1.10", 9999), kDrop, spoofed, ""},
      {"TCP SYN from client's address", kOther, OUT, tcp4("10.0.1.11", 40000, "10.0.1.10", 80), kDrop, spoofed, ""},
      {"IPv6 TCP SYN from client's address", kOther, OUT, tcp6("fd00::11", 40000, "fd00::10", 80), kDrop, spoofed, ""},
      {"IPv6 packet from client's IPv4 address, mapped", kOther, OUT,
       raw(eth6(ipv6("::ffff:10.0.1.11", "fd00::10", 6, tcp(40000, 80)))), kDrop, spoofed},
      {"from the node's address to the node (always-allowed otherwise)", kOther, OUT,
       tcp4("10.0.0.1", 40000, "10.0.0.1", 10250), kDrop, spoofed, ""},
      {"from the node's address to web", kOther, OUT, tcp4("10.0.0.1", 40000, "10.0.1.10", 80), kDrop, spoofed, ""},
      {"from an address no pod has", kOther, OUT, udp4("10.9.1.1", 40000, "10.0.3.30", 53), kDrop, spoofed, ""},
      {"from 0.0.0.0", kOther, OUT, udp4("0.0.0.0", 68, "255.255.255.255", 67), kDrop, spoofed, ""},
      {"ICMP error from a borrowed address", kOther, OUT, raw(icmp_err_spoofed), kDrop, spoofed},
      // what other really sends is unaffected
      {"own address, not isolated", kOther, OUT, udp4("10.0.1.12", 40000, "10.0.3.30", 53), kPass, BF_R_NOT_ISOLATED,
       ""},
      {"own IPv6 address", kOther, OUT, tcp6("fd00::12", 40000, "fd00::10", 443), kPass, BF_R_NOT_ISOLATED, ""},
      {"own address to the node", kOther, OUT, tcp4("10.0.1.12", 40001, "10.0.0.1", 10250), kPass, BF_R_HOST, ""},
      {"ICMP error from its own address", kOther, OUT, raw(icmp_err_own), kPass, BF_R_NOT_ISOLATED},
      {"MLD report from link-local", kOther, OUT, raw(mld_report), kPass, BF_R_NOT_ISOLATED},
      {"MLD report from ::", kOther, OUT, raw(mld_from_unspecified), kPass, BF_R_NOT_ISOLATED},
      {"DAD neighbour solicitation from ::", kOther, OUT, raw(ns_dad), kPass, BF_R_NDP},
      {"ARP", kOther, OUT, raw(arp), kPass, BF_R_NON_IP},
      // the real client is allowed through both hooks
      {"client's own UDP at its egress", kClient, OUT, udp4("10.0.1.11", 40000, "10.0.1.10", 9999), kPass,
       BF_R_NOT_ISOLATED, ""},
      {"client's own UDP at web's ingress", kWeb, IN, udp4("10.0.1.11", 40000, "10.0.1.10", 9999), kPass, BF_R_POLICY,
       "dev/web-allow ingress[0]"},
  });
  // The drop is recorded as a flow: the next packet is a cached drop.
  auto fl = f.flow(kOther, OUT, "10.0.1.11", "10.0.1.10", 17, 40000, 9999);
  REQUIRE(fl);
  CHECK(fl->action == BF_ACT_DROP);
  CHECK(fl->reason == spoofed);
  CHECK(f.run(kOther, OUT, udp4("10.0.1.11", 40000, "10.0.1.10", 9999).bytes) == kDrop);
  auto again = f.flow(kOther, OUT, "10.0.1.11", "10.0.1.10", 17, 40000, 9999);
  REQUIRE(again);
  CHECK(again->packets == 2);
  CHECK(f.counter(BF_ACT_DROP, spoofed).packets >= 10);
}

TEST_CASE("source check: the annotation's prefixes may be sent from, and only by that pod", "[policy][source]") {
  Fixture f;
  add_cluster(f);
  Pod other = make_pod("dev", "other", {{"app", "other"}}, {"10.0.1.12", "fd00::12"});
  other.allowed_source_prefixes = {*Prefix::parse("10.9.0.0/16"), *Prefix::parse("fd00:9::/64")};
  f.compiler().upsert(other);
  f.commit();
  run_cases(f, {
      {"inside the IPv4 prefix", kOther, OUT, udp4("10.9.1.1", 40000, "10.0.3.30", 53), kPass, BF_R_NOT_ISOLATED, ""},
      {"inside the IPv6 prefix", kOther, OUT, tcp6("fd00:9::5", 40000, "fd00::10", 80), kPass, BF_R_NOT_ISOLATED,
       ""},
      {"just outside the IPv4 prefix", kOther, OUT, udp4("10.10.0.1", 40000, "10.0.3.30", 53), kDrop,
       BF_R_SPOOFED_SOURCE, ""},
      {"another pod may not use it", kClient, OUT, udp4("10.9.1.1", 40001, "10.0.3.30", 53), kDrop,
       BF_R_SPOOFED_SOURCE, ""},
      {"still not client's address", kOther, OUT, udp4("10.0.1.11", 40000, "10.0.3.30", 53), kDrop,
       BF_R_SPOOFED_SOURCE, ""},
  });

  // The annotation removed: the endpoint's generation moves, so the cached
  // Forward of 10.9.1.1 is decided again and dropped.
  other.allowed_source_prefixes.clear();
  f.compiler().upsert(other);
  f.commit();
  CHECK(f.run(kOther, OUT, udp4("10.9.1.1", 40000, "10.0.3.30", 53).bytes) == kDrop);
  auto fl = f.flow(kOther, OUT, "10.9.1.1", "10.0.3.30", 17, 40000, 53);
  REQUIRE(fl);
  CHECK(fl->reason == BF_R_SPOOFED_SOURCE);
  // And added back: forwarded again.
  other.allowed_source_prefixes = {*Prefix::parse("10.9.0.0/16")};
  f.compiler().upsert(other);
  f.commit();
  CHECK(f.run(kOther, OUT, udp4("10.9.1.1", 40000, "10.0.3.30", 53).bytes) == kPass);
}

TEST_CASE("source check: no reverse entry for a flow to an address the pod may not send from", "[policy][source]") {
  Fixture f;
  add_cluster(f);
  f.commit();
  // Something routes (or bridges) a packet for client's address to other's
  // interface; other is not isolated, so it is delivered, but its reply
  // from client's address must not become a cached hit.
  CHECK(f.run(kOther, IN, udp4("10.0.3.30", 53, "10.0.1.11", 40000).bytes) == kPass);
  CHECK_FALSE(f.flow(kOther, OUT, "10.0.1.11", "10.0.3.30", 17, 40000, 53));
  CHECK(f.run(kOther, OUT, udp4("10.0.1.11", 40000, "10.0.3.30", 53).bytes) == kDrop);
  // To its own address: the reverse entry is there as before.
  CHECK(f.run(kOther, IN, udp4("10.0.3.30", 53, "10.0.1.12", 40000).bytes) == kPass);
  auto rev = f.flow(kOther, OUT, "10.0.1.12", "10.0.3.30", 17, 40000, 53);
  REQUIRE(rev);
  CHECK(rev->reason == BF_R_REPLY);
}
