// Policy semantics through the real program: packets crafted per case, run
// with BPF_PROG_TEST_RUN on maps filled by the real compiler.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <catch2/catch.hpp>

#include "cases.h"
#include "cluster.h"

using namespace bpfence;
using namespace bpfence::testdp;
using namespace bpfence::testpkt;

namespace {
constexpr auto IN = BF_DIR_INGRESS;
constexpr auto OUT = BF_DIR_EGRESS;
}  // namespace

TEST_CASE("no policy: pods are not isolated", "[policy]") {
  Fixture f;
  add_cluster(f);
  f.commit();
  run_cases(f, {
      {"client->web at web ingress", kWeb, IN, tcp4("10.0.1.11", 40000, "10.0.1.10", 80), kPass, BF_R_NOT_ISOLATED, ""},
      {"client->web at client egress", kClient, OUT, tcp4("10.0.1.11", 40000, "10.0.1.10", 80), kPass,
       BF_R_NOT_ISOLATED, ""},
      {"external ping", kWeb, IN, ping4("192.168.5.5", "10.0.1.10", 7), kPass, BF_R_NOT_ISOLATED},
  });
}

TEST_CASE("ingress by pod identity and port; host, self, ICMP, IPv6, NDP, ARP", "[policy]") {
  Fixture f;
  add_cluster(f);
  PolicyRule r;
  r.peers = {pod_peer({{"app", "client"}})};
  r.ports = {port(80)};
  f.compiler().upsert(ingress_policy("dev", "web-allow", {{"app", "web"}}, {r}));
  f.commit();
  const std::string rule = "dev/web-allow ingress[0]";
  Bytes arp = eth(0x0806, Bytes(28, 0));
  Bytes ns_solicit = eth6(ipv6("fd00::12", "ff02::1:ff00:10", 58, icmp(135, 0)));
  run_cases(f, {
      {"allowed pod, allowed port", kWeb, IN, tcp4("10.0.1.11", 40000, "10.0.1.10", 80), kPass, BF_R_POLICY, rule},
      {"other pod", kWeb, IN, tcp4("10.0.1.12", 40000, "10.0.1.10", 80), kDrop, BF_R_FW_POLICY, ""},
      {"remote pod", kWeb, IN, tcp4("10.0.3.30", 40000, "10.0.1.10", 80), kDrop, BF_R_FW_POLICY, ""},
      {"allowed pod, other port", kWeb, IN, tcp4("10.0.1.11", 40001, "10.0.1.10", 81), kDrop, BF_R_FW_POLICY, ""},
      {"allowed pod, UDP on the TCP port", kWeb, IN, udp4("10.0.1.11", 40000, "10.0.1.10", 80), kDrop,
       BF_R_FW_POLICY, ""},
      {"ICMP denied once ports are listed", kWeb, IN, ping4("10.0.1.11", "10.0.1.10", 9), kDrop, BF_R_FW_POLICY, ""},
      {"host (kubelet probe) always allowed", kWeb, IN, tcp4("10.0.0.1", 50000, "10.0.1.10", 8081), kPass, BF_R_HOST,
       ""},
      {"pod to host always allowed", kWeb, OUT, tcp4("10.0.1.10", 50000, "10.0.0.1", 10250), kPass, BF_R_HOST, ""},
      {"pod to itself", kWeb, IN, tcp4("10.0.1.10", 50001, "10.0.1.10", 9999), kPass, BF_R_SELF, ""},
      {"web egress is not isolated", kWeb, OUT, tcp4("10.0.1.10", 50002, "10.0.3.30", 443), kPass,
       BF_R_NOT_ISOLATED, ""},
      {"IPv6 allowed pod", kWeb, IN, tcp6("fd00::11", 40000, "fd00::10", 80), kPass, BF_R_POLICY, rule},
      {"IPv6 other pod", kWeb, IN, tcp6("fd00::12", 40000, "fd00::10", 80), kDrop, BF_R_FW_POLICY, ""},
      {"IPv6 allowed pod, other port", kWeb, IN, tcp6("fd00::11", 40000, "fd00::10", 443), kDrop, BF_R_FW_POLICY,
       ""},
      {"ICMPv6 echo denied once ports are listed", kWeb, IN, ping6("fd00::11", "fd00::10", 3), kDrop,
       BF_R_FW_POLICY, ""},
      {"NDP passes an isolated pod", kWeb, IN, raw(ns_solicit), kPass, BF_R_NDP},
      {"ARP passes an isolated pod", kWeb, IN, raw(arp), kPass, BF_R_NON_IP},
  });
}

TEST_CASE("ipBlock with except: denied inside the except, allowed outside", "[policy]") {
  Fixture f;
  add_cluster(f);
  PolicyRule r;
  r.peers = {cidr_peer("10.0.0.0/16", {"10.0.2.0/24"})};
  f.compiler().upsert(ingress_policy("dev", "nfs", {{"app", "web"}}, {r}));
  f.commit();
  const std::string rule = "dev/nfs ingress[0]";
  run_cases(f, {
      {"remote pod inside the cidr", kWeb, IN, tcp4("10.0.3.30", 40000, "10.0.1.10", 2049), kPass, BF_R_POLICY, rule},
      {"local pod inside the cidr", kWeb, IN, tcp4("10.0.1.11", 40000, "10.0.1.10", 2049), kPass, BF_R_POLICY, rule},
      {"non-pod address inside the cidr", kWeb, IN, udp4("10.0.9.9", 40000, "10.0.1.10", 111), kPass, BF_R_POLICY,
       rule},
      {"ping allowed: no ports listed", kWeb, IN, ping4("10.0.3.30", "10.0.1.10", 5), kPass, BF_R_POLICY, rule},
      {"pod inside the except", kWeb, IN, tcp4("10.0.2.20", 40000, "10.0.1.10", 2049), kDrop, BF_R_FW_POLICY, ""},
      {"address inside the except", kWeb, IN, tcp4("10.0.2.99", 40000, "10.0.1.10", 2049), kDrop, BF_R_FW_POLICY,
       ""},
      {"outside the cidr", kWeb, IN, tcp4("192.168.5.5", 40000, "10.0.1.10", 2049), kDrop, BF_R_FW_POLICY, ""},
  });
}

TEST_CASE("port ranges, named ports, SCTP and UDP", "[policy]") {
  Fixture f;
  add_cluster(f);
  PolicyRule r;  // every peer
  r.ports = {port(1000, Protocol::TCP, 2000), named_port("http"), port(5000, Protocol::SCTP),
             port(53, Protocol::UDP)};
  f.compiler().upsert(ingress_policy("dev", "ports", {{"app", "web"}}, {r}));
  f.commit();
  const std::string rule = "dev/ports ingress[0]";
  const char* c = "10.0.3.30";
  const char* w = "10.0.1.10";
  run_cases(f, {
      {"range start", kWeb, IN, tcp4(c, 40000, w, 1000), kPass, BF_R_POLICY, rule},
      {"range middle", kWeb, IN, tcp4(c, 40000, w, 1500), kPass, BF_R_POLICY, rule},
      {"range end", kWeb, IN, tcp4(c, 40000, w, 2000), kPass, BF_R_POLICY, rule},
      {"below the range", kWeb, IN, tcp4(c, 40000, w, 999), kDrop, BF_R_FW_POLICY, ""},
      {"above the range", kWeb, IN, tcp4(c, 40000, w, 2001), kDrop, BF_R_FW_POLICY, ""},
      {"range is TCP only", kWeb, IN, udp4(c, 40000, w, 1500), kDrop, BF_R_FW_POLICY, ""},
      {"named port http = 8080", kWeb, IN, tcp4(c, 40000, w, 8080), kPass, BF_R_POLICY, rule},
      {"not the named port", kWeb, IN, tcp4(c, 40000, w, 80), kDrop, BF_R_FW_POLICY, ""},
      {"SCTP port", kWeb, IN, sctp4(c, 40000, w, 5000), kPass, BF_R_POLICY, rule},
      {"SCTP other port", kWeb, IN, sctp4(c, 40000, w, 5001), kDrop, BF_R_FW_POLICY, ""},
      {"TCP on the SCTP port", kWeb, IN, tcp4(c, 40000, w, 5000), kDrop, BF_R_FW_POLICY, ""},
      {"UDP 53", kWeb, IN, udp4(c, 40000, w, 53), kPass, BF_R_POLICY, rule},
      {"UDP 54", kWeb, IN, udp4(c, 40000, w, 54), kDrop, BF_R_FW_POLICY, ""},
  });
}

TEST_CASE("replies of an allowed flow pass although the reverse direction denies", "[policy]") {
  Fixture f;
  add_cluster(f);
  PolicyRule r;
  r.peers = {pod_peer({{"app", "client"}})};
  r.ports = {port(80)};
  f.compiler().upsert(ingress_policy("dev", "web-in", {{"app", "web"}}, {r}));
  f.compiler().upsert(egress_policy("dev", "web-no-egress", {{"app", "web"}}, {}));
  PolicyRule any;
  f.compiler().upsert(ingress_policy("dev", "client-ping", {{"app", "client"}}, {any}));
  f.commit();
  run_cases(f, {
      {"SYN client->web", kWeb, IN, tcp4("10.0.1.11", 40000, "10.0.1.10", 80, kSyn), kPass, BF_R_POLICY,
       "dev/web-in ingress[0]"},
      {"SYN-ACK web->client is a reply", kWeb, OUT, tcp4("10.0.1.10", 80, "10.0.1.11", 40000, kSyn | kAck), kPass,
       BF_R_REPLY, "dev/web-in ingress[0]"},
      {"new connection web->client is denied", kWeb, OUT, tcp4("10.0.1.10", 40001, "10.0.1.11", 80), kDrop,
       BF_R_FW_POLICY, ""},
      {"web pings client: denied by web's egress", kWeb, OUT, ping4("10.0.1.10", "10.0.1.11", 77), kDrop,
       BF_R_FW_POLICY},
      {"client pings web: denied (web ingress lists ports)", kWeb, IN, ping4("10.0.1.11", "10.0.1.10", 78), kDrop,
       BF_R_FW_POLICY},
  });
  auto reply = f.flow(kWeb, OUT, "10.0.1.10", "10.0.1.11", 6, 80, 40000);
  REQUIRE(reply);
  CHECK((reply->flags & BF_FLOW_REPLY) != 0);
}

TEST_CASE("ICMP echo replies pass back to the pinging pod", "[policy]") {
  Fixture f;
  add_cluster(f);
  PolicyRule any;  // web: ingress from anyone, any protocol
  f.compiler().upsert(ingress_policy("dev", "web-any", {{"app", "web"}}, {any}));
  f.compiler().upsert(ingress_policy("dev", "client-none", {{"app", "client"}}, {}));
  f.commit();
  run_cases(f, {
      {"client pings web (client egress open)", kClient, OUT, ping4("10.0.1.11", "10.0.1.10", 42), kPass,
       BF_R_NOT_ISOLATED},
      {"echo reply into client (isolated ingress) is a reply", kClient, IN,
       ping4("10.0.1.10", "10.0.1.11", 42, true), kPass, BF_R_REPLY},
      {"web pings client: client ingress denies", kClient, IN, ping4("10.0.1.10", "10.0.1.11", 43), kDrop,
       BF_R_FW_POLICY},
      {"IPv6: client pings web", kClient, OUT, ping6("fd00::11", "fd00::10", 44), kPass, BF_R_NOT_ISOLATED},
      {"IPv6 echo reply is a reply", kClient, IN, ping6("fd00::10", "fd00::11", 44, true), kPass, BF_R_REPLY},
  });
}

TEST_CASE("ICMP errors about an allowed flow pass as Related; others follow policy", "[policy]") {
  Fixture f;
  add_cluster(f);
  PolicyRule r;
  r.peers = {pod_peer({{"app", "client"}})};
  r.ports = {port(80), port(53, Protocol::UDP)};  // ports listed: plain ICMP is denied
  f.compiler().upsert(ingress_policy("dev", "web-in", {{"app", "web"}}, {r}));
  f.compiler().upsert(ingress_policy("dev", "web-no-ingress", {{"app", "web"}}, {}));
  f.compiler().upsert(egress_policy("dev", "web-no-egress", {{"app", "web"}}, {}));
  f.commit();
  const char* w = "10.0.1.10";
  const char* c = "10.0.1.11";
  const char* router = "10.0.9.1";
  // What web sends back on the connection, as a router quotes it.
  Bytes web_reply = ipv4(w, c, 6, tcp(80, 40000, kAck, 1400));
  Bytes fragmentation_needed = eth4(ipv4(router, w, 1, icmp_error(3, 4, web_reply)));
  auto error_from_router = [&](const Bytes& quoted, size_t keep = 8) {
    return Pkt{eth4(ipv4(router, w, 1, icmp_error(3, 4, quoted, keep))), Tuple{router, w, 1, 0, 0}};
  };

  run_cases(f, {
      {"SYN client->web", kWeb, IN, tcp4(c, 40000, w, 80), kPass, BF_R_POLICY, "dev/web-in ingress[0]"},
      {"web's reply", kWeb, OUT, tcp4(w, 80, c, 40000, kSyn | kAck), kPass, BF_R_REPLY},
      {"UDP client->web:53", kWeb, IN, udp4(c, 40000, w, 53), kPass, BF_R_POLICY, "dev/web-in ingress[0]"},
      {"fragmentation needed for web's reply: related", kWeb, IN, raw(fragmentation_needed), kPass, BF_R_RELATED},
      {"web answers UDP with port unreachable: related", kWeb, OUT,
       raw(eth4(ipv4(w, c, 1, icmp_error(3, 3, ipv4(c, w, 17, udp(40000, 53, 4)))))), kPass, BF_R_RELATED},
  });
  // A related error is not recorded: its key (no ports) would be shared by
  // errors about every flow between the two addresses.
  CHECK_FALSE(f.flow(kWeb, IN, router, w, 1, 0, 0).has_value());

  run_cases(f, {
      {"error about a flow web never had", kWeb, IN, error_from_router(ipv4(w, c, 6, tcp(80, 40001))), kDrop,
       BF_R_FW_POLICY, ""},
      {"quote cut before the ports", kWeb, IN, error_from_router(web_reply, 2), kDrop, BF_R_FW_POLICY, ""},
      {"quote of a later fragment (no ports)", kWeb, IN,
       error_from_router(ipv4(w, c, 6, tcp(80, 40000), V4Opts{.frag_offset = 10})), kDrop, BF_R_FW_POLICY, ""},
      {"error about web's flow, addressed to another pod", kWeb, IN,
       raw(eth4(ipv4(router, "10.0.1.12", 1, icmp_error(3, 4, web_reply)))), kDrop, BF_R_FW_POLICY},
      {"port unreachable for a datagram web never received", kWeb, OUT,
       raw(eth4(ipv4(w, c, 1, icmp_error(3, 3, ipv4(c, w, 17, udp(40000, 54, 4)))))), kDrop, BF_R_FW_POLICY},
      // a cached verdict never decides an error: the same router again, about the allowed flow
      {"related again after a dropped error from the same router", kWeb, IN, raw(fragmentation_needed), kPass,
       BF_R_RELATED},
  });
  auto recorded = f.flow(kWeb, IN, router, w, 1, 0, 0);
  REQUIRE(recorded);  // an unrelated error is recorded like any ICMP, without a reverse entry
  CHECK(recorded->action == BF_ACT_DROP);
  CHECK((recorded->flags & BF_FLOW_ICMP_ERROR) != 0);

  SECTION("IPv6: packet too big for web's reply") {
    Bytes web_reply6 = ipv6("fd00::10", "fd00::11", 6, tcp(80, 40000, kAck, 1400));
    run_cases(f, {
        {"SYN client->web (IPv6)", kWeb, IN, tcp6("fd00::11", 40000, "fd00::10", 80), kPass, BF_R_POLICY},
        {"web's reply (IPv6)", kWeb, OUT, tcp6("fd00::10", 80, "fd00::11", 40000, kSyn | kAck), kPass, BF_R_REPLY},
        {"packet too big: related", kWeb, IN,
         raw(eth6(ipv6("fd00::99", "fd00::10", 58, icmp_error(2, 0, web_reply6)))), kPass, BF_R_RELATED},
        {"packet too big for another flow", kWeb, IN,
         raw(eth6(ipv6("fd00::99", "fd00::10", 58, icmp_error(2, 0, ipv6("fd00::10", "fd00::11", 6, tcp(80, 1)))))),
         kDrop, BF_R_FW_POLICY},
    });
  }

  SECTION("once the policy no longer allows the flow, its errors are plain ICMP") {
    f.compiler().erase_policy("dev/web-in");
    f.commit();
    run_cases(f, {{"fragmentation needed after the allow is gone", kWeb, IN, raw(fragmentation_needed), kDrop,
                   BF_R_FW_POLICY}});
  }
}

TEST_CASE("a policy change re-evaluates existing flows on their next packet", "[policy]") {
  Fixture f;
  add_cluster(f);
  PolicyRule from_client;
  from_client.peers = {pod_peer({{"app", "client"}})};
  f.compiler().upsert(ingress_policy("dev", "allow-client", {{"app", "web"}}, {from_client}));
  // Keeps web isolated both ways whatever happens to allow-client.
  f.compiler().upsert(ingress_policy("dev", "web-no-ingress", {{"app", "web"}}, {}));
  f.compiler().upsert(egress_policy("dev", "web-no-egress", {{"app", "web"}}, {}));
  f.commit();

  Pkt syn = tcp4("10.0.1.11", 40000, "10.0.1.10", 80, kSyn);
  Pkt data = tcp4("10.0.1.11", 40000, "10.0.1.10", 80, kAck | kPsh, 100);
  Pkt reply = tcp4("10.0.1.10", 80, "10.0.1.11", 40000, kAck, 10);
  run_cases(f, {
      {"established: SYN", kWeb, IN, syn, kPass, BF_R_POLICY, "dev/allow-client ingress[0]"},
      {"established: reply", kWeb, OUT, reply, kPass, BF_R_REPLY},
  });
  uint32_t gen1 = f.flow(kWeb, IN, "10.0.1.11", "10.0.1.10", 6, 40000, 80)->generation;
  // A new generation for web whose verdict for the client stays allow.
  auto unrelated_change = [&f] {
    PolicyRule from_other;
    from_other.peers = {pod_peer({{"app", "other"}})};
    from_other.ports = {port(443)};
    f.compiler().upsert(ingress_policy("dev", "also-other", {{"app", "web"}}, {from_other}));
    f.commit();
  };

  SECTION("an unrelated change keeps the allow") {
    unrelated_change();
    run_cases(f, {
        {"kept: data", kWeb, IN, data, kPass, BF_R_POLICY, "dev/allow-client ingress[0]"},
        {"kept: reply", kWeb, OUT, reply, kPass, BF_R_REPLY},
    });
    auto fl = f.flow(kWeb, IN, "10.0.1.11", "10.0.1.10", 6, 40000, 80);
    CHECK(fl->generation != gen1);
    CHECK(fl->packets == 2);  // counters carry over the re-evaluation
  }

  SECTION("a flow whose own entry went alone finds its reply entry and refreshes it, counters kept") {
    // The program inserts a new flow's reverse entry only if none is there
    // (BPF_NOEXIST); one that is (the flow's own entry evicted or swept
    // alone) must still be refreshed to the current generation, keeping its
    // counters, as a re-decided flow's is.
    unrelated_change();
    bf_flow_key own = flow_key("10.0.1.11", "10.0.1.10", 6, 40000, 80, IN, f.endpoint_id(kWeb));
    REQUIRE(bpf_map_delete_elem(f.dataplane().map_fd("flows"), &own) == 0);
    auto before = f.flow(kWeb, OUT, "10.0.1.10", "10.0.1.11", 6, 80, 40000);
    REQUIRE(before);
    REQUIRE(before->generation == gen1);
    run_cases(f, {{"again: data", kWeb, IN, data, kPass, BF_R_POLICY, "dev/allow-client ingress[0]"}});
    auto fl = f.flow(kWeb, IN, "10.0.1.11", "10.0.1.10", 6, 40000, 80);
    auto rev = f.flow(kWeb, OUT, "10.0.1.10", "10.0.1.11", 6, 80, 40000);
    REQUIRE(fl);
    REQUIRE(rev);
    CHECK(fl->generation != gen1);
    CHECK(fl->packets == 1);  // the own entry is new
    CHECK((rev->flags & BF_FLOW_REPLY) != 0);
    CHECK(rev->generation == fl->generation);
    CHECK(rev->rule_id == fl->rule_id);
    CHECK(rev->packets == 1);  // the reply counted before stays
    CHECK(rev->bytes == before->bytes);
  }

  SECTION("removing the allow cuts the connection both ways") {
    f.compiler().erase_policy("dev/allow-client");
    f.commit();
    run_cases(f, {
        {"cut: data", kWeb, IN, data, kDrop, BF_R_FW_POLICY, ""},
        {"cut: reply", kWeb, OUT, reply, kDrop, BF_R_FW_POLICY},
    });
    SECTION("and allowing again restores it") {
      f.compiler().upsert(ingress_policy("dev", "allow-client", {{"app", "web"}}, {from_client}));
      f.commit();
      run_cases(f, {
          {"restored: data", kWeb, IN, data, kPass, BF_R_POLICY, "dev/allow-client ingress[0]"},
          {"restored: reply", kWeb, OUT, reply, kPass, BF_R_REPLY},
      });
    }
  }

  SECTION("a label change moves the client out of the allow") {
    f.compiler().upsert(make_pod("dev", "client", {{"app", "not-client"}}, {"10.0.1.11", "fd00::11"}));
    f.commit();
    run_cases(f, {{"relabelled: data", kWeb, IN, data, kDrop, BF_R_FW_POLICY, ""}});
  }
}

TEST_CASE("malformed and truncated packets are dropped as Invalid", "[policy]") {
  Fixture f;
  add_cluster(f);
  f.commit();  // not isolated: Invalid must not depend on policy
  const char* c = "10.0.1.11";
  const char* w = "10.0.1.10";
  Bytes good = ipv4(c, w, 6, tcp(1, 80));
  auto trunc = [](Bytes b, size_t n) {
    b.resize(n);
    return b;
  };
  V4Opts ihl4;
  ihl4.ihl = 4;
  V4Opts too_long;
  too_long.tot_len_delta = 40;
  V4Opts too_short;
  too_short.tot_len_delta = -30;  // total length 10: shorter than the header
  Bytes bad_doff = tcp(1, 80);
  bad_doff[12] = 4 << 4;
  Bytes v6_chain;
  // nine destination-options headers: more than the walk accepts
  for (int i = 0; i < 9; ++i) v6_chain = cat(v6_chain, v6_dstopts(i == 8 ? 6 : 60));
  v6_chain = cat(v6_chain, tcp(1, 80));
  Bytes ext_past_end = v6_dstopts(6);
  ext_past_end[1] = 10;  // claims 88 bytes
  Bytes vlan = eth(0x8100, cat({0, 1, 0x08, 0x00}, good));
  Bytes v6_in_v4 = eth4(ipv6("fd00::11", "fd00::10", 6, tcp(1, 80)));
  // Recent kernels' BPF_PROG_TEST_RUN refuses frames shorter than their L3
  // header; whatever length it does accept must come out Invalid.
  Bytes good6 = ipv6("fd00::11", "fd00::10", 6, tcp(1, 80));
  int accepted = 0;
  for (size_t n = 1; n < 40; ++n) {
    for (Bytes cut : {eth4(trunc(good, std::min<size_t>(n, 19))), eth6(trunc(good6, n))}) {
      __sk_buff ctx{};
      ctx.ifindex = f.ifindex(kWeb);
      LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = cut.data(), .data_size_in = static_cast<__u32>(cut.size()),
                  .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);
      if (bpf_prog_test_run_opts(f.dataplane().program_fd(IN), &opts) != 0) continue;
      INFO("L3 header cut to " << n << " bytes");
      CHECK(opts.retval == kDrop);
      ++accepted;
    }
  }
  if (!accepted) WARN("this kernel's BPF_PROG_TEST_RUN refuses cut L3 headers: covered by the length checks below");
  run_cases(f, {
      {"IPv4 IHL 4", kWeb, IN, raw(eth4(ipv4(c, w, 6, tcp(1, 80), ihl4))), kDrop, BF_R_INVALID},
      {"IPv4 total length past the packet", kWeb, IN, raw(eth4(ipv4(c, w, 6, tcp(1, 80), too_long))), kDrop,
       BF_R_INVALID},
      {"IPv4 total length below the header", kWeb, IN, raw(eth4(ipv4(c, w, 6, tcp(1, 80), too_short))), kDrop,
       BF_R_INVALID},
      {"IPv6 in an IPv4 frame", kWeb, IN, raw(v6_in_v4), kDrop, BF_R_INVALID},
      {"TCP header cut short", kWeb, IN, raw(eth4(ipv4(c, w, 6, trunc(tcp(1, 80), 10)))), kDrop, BF_R_INVALID},
      {"TCP data offset 4", kWeb, IN, raw(eth4(ipv4(c, w, 6, bad_doff))), kDrop, BF_R_INVALID},
      {"UDP header cut short", kWeb, IN, raw(eth4(ipv4(c, w, 17, trunc(udp(1, 53), 4)))), kDrop, BF_R_INVALID},
      {"SCTP header cut short", kWeb, IN, raw(eth4(ipv4(c, w, 132, trunc(sctp(1, 5000), 8)))), kDrop,
       BF_R_INVALID},
      {"ICMP header cut short", kWeb, IN, raw(eth4(ipv4(c, w, 1, trunc(icmp(8, 1), 4)))), kDrop, BF_R_INVALID},
      {"IPv6 payload length past the packet", kWeb, IN,
       raw(eth6(ipv6("fd00::11", "fd00::10", 6, tcp(1, 80), 16))), kDrop, BF_R_INVALID},
      {"IPv6 nine extension headers", kWeb, IN, raw(eth6(ipv6("fd00::11", "fd00::10", 60, v6_chain))), kDrop,
       BF_R_INVALID},
      {"IPv6 extension header past the end", kWeb, IN,
       raw(eth6(ipv6("fd00::11", "fd00::10", 60, cat(ext_past_end, tcp(1, 80))))), kDrop, BF_R_INVALID},
      {"VLAN-tagged frame", kWeb, IN, raw(vlan), kDrop, BF_R_INVALID},
  });
  // Well-formed extension headers are walked, not rejected.
  run_cases(f, {{"IPv6 with a destination-options header", kWeb, IN,
                 Pkt{eth6(ipv6("fd00::11", "fd00::10", 60, cat(v6_dstopts(6), tcp(1, 80)))),
                     Tuple{"fd00::11", "fd00::10", 6, 1, 80}},
                 kPass, BF_R_NOT_ISOLATED}});
}

TEST_CASE("fragments follow their first fragment", "[policy]") {
  Fixture f;
  add_cluster(f);
  PolicyRule r;
  r.peers = {pod_peer({{"app", "client"}})};
  r.ports = {port(53, Protocol::UDP)};
  f.compiler().upsert(ingress_policy("dev", "dns", {{"app", "web"}}, {r}));
  f.commit();
  const char* c = "10.0.1.11";
  const char* w = "10.0.1.10";
  auto frag4 = [&](uint16_t id, uint16_t offset, bool more, const Bytes& payload) {
    V4Opts o;
    o.id = id;
    o.frag_offset = offset;
    o.more_fragments = more;
    return eth4(ipv4(c, w, 17, payload, o));
  };
  Bytes body(64, 0xab);
  auto frag6 = [&](uint32_t id, uint16_t offset, bool more, const Bytes& payload) {
    return eth6(ipv6("fd00::11", "fd00::10", 44, cat(v6_frag(17, offset, more, id), payload)));
  };
  run_cases(f, {
      {"v4 first fragment, allowed port", kWeb, IN,
       Pkt{frag4(7, 0, true, udp(5353, 53, 32)), Tuple{c, w, 17, 5353, 53}}, kPass, BF_R_POLICY, "dev/dns ingress[0]"},
      {"v4 later fragment of it", kWeb, IN, raw(frag4(7, 5, true, body)), kPass, BF_R_FRAGMENT},
      {"v4 last fragment of it", kWeb, IN, raw(frag4(7, 13, false, body)), kPass, BF_R_FRAGMENT},
      {"v4 later fragment, first never seen", kWeb, IN, raw(frag4(8, 5, false, body)), kDrop, BF_R_FRAG_UNKNOWN},
      {"v4 first fragment, denied port", kWeb, IN,
       Pkt{frag4(9, 0, true, udp(5353, 54, 32)), Tuple{c, w, 17, 5353, 54}}, kDrop, BF_R_FW_POLICY, ""},
      {"v4 later fragment of the denied one", kWeb, IN, raw(frag4(9, 5, false, body)), kDrop, BF_R_FW_POLICY},
      {"v4 first fragment without a full UDP header", kWeb, IN, raw(frag4(10, 0, true, Bytes(4, 0))), kDrop,
       BF_R_INVALID},
      {"v6 first fragment, allowed port", kWeb, IN,
       Pkt{frag6(0x1234, 0, true, udp(5353, 53, 32)), Tuple{"fd00::11", "fd00::10", 17, 5353, 53}}, kPass,
       BF_R_POLICY, "dev/dns ingress[0]"},
      {"v6 later fragment of it", kWeb, IN, raw(frag6(0x1234, 5, false, body)), kPass, BF_R_FRAGMENT},
      {"v6 later fragment, first never seen", kWeb, IN, raw(frag6(0x9999, 5, false, body)), kDrop,
       BF_R_FRAG_UNKNOWN},
      {"v6 first fragment without a full UDP header", kWeb, IN, raw(frag6(0x4321, 0, true, Bytes(4, 0))), kDrop,
       BF_R_INVALID},
  });
}

TEST_CASE("fail-closed drops new flows and keeps established ones", "[policy]") {
  Fixture f;
  add_cluster(f);
  f.commit();
  run_cases(f, {{"before", kWeb, IN, tcp4("10.0.1.11", 40000, "10.0.1.10", 80), kPass, BF_R_NOT_ISOLATED}});
  REQUIRE(f.dataplane().set_fail_closed(kWeb, true));
  run_cases(f, {
      {"established flow goes on", kWeb, IN, tcp4("10.0.1.11", 40000, "10.0.1.10", 80, kAck), kPass,
       BF_R_NOT_ISOLATED},
      {"new flow dropped", kWeb, IN, tcp4("10.0.1.11", 40001, "10.0.1.10", 80), kDrop, BF_R_FAIL_CLOSED},
      {"host still allowed", kWeb, IN, tcp4("10.0.0.1", 40001, "10.0.1.10", 80), kPass, BF_R_HOST},
  });
  REQUIRE(f.dataplane().set_fail_closed(kWeb, false));
  run_cases(f, {{"cleared", kWeb, IN, tcp4("10.0.1.11", 40002, "10.0.1.10", 80), kPass, BF_R_NOT_ISOLATED}});
}
