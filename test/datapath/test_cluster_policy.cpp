// ClusterNetworkPolicy through the real program: one case per step of the
// evaluation (self -> fail-closed -> Admin -> Baseline when not isolated,
// else host -> NetworkPolicy), IPv4 and IPv6, with the cluster_policy
// entries written as the compiler emits them (Fixture::add_cnp) next to
// NetworkPolicies the real compiler compiles.
#include <catch2/catch.hpp>

#include "cases.h"
#include "cluster.h"

using namespace bpfence;
using namespace bpfence::testdp;
using namespace bpfence::testpkt;

namespace {

constexpr auto IN = BF_DIR_INGRESS;
constexpr auto OUT = BF_DIR_EGRESS;

uint32_t rank(uint32_t priority, uint32_t ordinal, uint32_t index) { return priority << 16 | ordinal << 5 | index; }

CnpRuleRef cnp_rule(const std::string& policy, CnpTier tier, int32_t priority, bf_direction dir, uint32_t index,
                    CnpAction action) {
  CnpRuleRef r;
  r.policy = policy;
  r.tier = tier;
  r.priority = priority;
  r.direction = dir;
  r.index = index;
  r.action = action;
  return r;
}

// One rule's entries: every port prefix of [first, last] (proto 0: one
// entry, every protocol), as the compiler emits a rule.
void add_rule(Fixture& f, const std::string& pod, const CnpRuleRef& rule, uint32_t peer, const std::string& cidr,
              uint8_t proto, uint16_t first, uint16_t last, uint32_t r) {
  Fixture::CnpEntry e;
  e.pod = pod;
  e.dir = rule.direction;
  e.tier = rule.tier == CnpTier::Admin ? BF_TIER_ADMIN : BF_TIER_BASELINE;
  e.peer = peer;
  e.cidr = cidr;
  e.proto = proto;
  e.rank = r;
  e.rule = rule;
  if (proto == 0) {
    f.add_cnp(e);
    return;
  }
  for (auto [value, bits] : port_range_prefixes(first, last)) {
    e.port = value;
    e.port_bits = bits;
    f.add_cnp(e);
  }
}

Pkt udp6(const std::string& src, uint16_t sport, const std::string& dst, uint16_t dport) {
  return {eth6(ipv6(src, dst, 17, udp(sport, dport, 4))), Tuple{src, dst, 17, sport, dport}};
}

// web's ingress from client on 80/TCP, by NetworkPolicy.
void allow_client_to_web_80(Fixture& f) {
  PolicyRule r;
  r.peers = {pod_peer({{"app", "client"}})};
  r.ports = {port(80)};
  f.compiler().upsert(ingress_policy("dev", "web-allow", {{"app", "web"}}, {r}));
}

const std::string kNpRule = "dev/web-allow ingress[0]";

}  // namespace

TEST_CASE("CNP: an Admin Deny beats a NetworkPolicy allow", "[policy][cnp]") {
  Fixture f;
  add_cluster(f);
  allow_client_to_web_80(f);
  f.commit();
  auto deny = cnp_rule("deny-client", CnpTier::Admin, 10, IN, 0, CnpAction::Deny);
  uint32_t client = f.identity_of("10.0.1.11");
  add_rule(f, kWeb, deny, client, "", 6, 80, 80, rank(10, 0, 0));
  f.commit();
  run_cases(f, {
      {"client->web:80, allowed by NetworkPolicy, denied by Admin", kWeb, IN, tcp4("10.0.1.11", 40000, "10.0.1.10", 80),
       kDrop, BF_R_ADMIN_DENY, deny.str()},
      {"IPv6 client->web:80", kWeb, IN, tcp6("fd00::11", 40000, "fd00::10", 80), kDrop, BF_R_ADMIN_DENY, deny.str()},
      {"other pod: no Admin entry, NetworkPolicy denies", kWeb, IN, tcp4("10.0.1.12", 40000, "10.0.1.10", 80),
       kDrop, BF_R_FW_POLICY, ""},
      {"client->web:81: the Admin rule is 80 only, NetworkPolicy denies", kWeb, IN,
       tcp4("10.0.1.11", 40000, "10.0.1.10", 81), kDrop, BF_R_FW_POLICY, ""},
  });
}

TEST_CASE("CNP: an Admin Accept beats NetworkPolicy isolation", "[policy][cnp]") {
  Fixture f;
  add_cluster(f);
  f.compiler().upsert(ingress_policy("dev", "web-none", {{"app", "web"}}, {}));
  f.commit();
  auto accept = cnp_rule("monitoring", CnpTier::Admin, 5, IN, 0, CnpAction::Accept);
  add_rule(f, kWeb, accept, f.identity_of("10.0.1.11"), "", 6, 9000, 9100, rank(5, 0, 0));
  f.commit();
  run_cases(f, {
      {"client->web:9090 accepted by Admin", kWeb, IN, tcp4("10.0.1.11", 40000, "10.0.1.10", 9090), kPass,
       BF_R_ADMIN_ACCEPT, accept.str()},
      {"IPv6 client->web:9100 (range end)", kWeb, IN, tcp6("fd00::11", 40000, "fd00::10", 9100), kPass,
       BF_R_ADMIN_ACCEPT, accept.str()},
      {"client->web:9101: isolated, no rule", kWeb, IN, tcp4("10.0.1.11", 40000, "10.0.1.10", 9101), kDrop,
       BF_R_FW_POLICY, ""},
      {"other->web:9090: isolated, no rule", kWeb, IN, tcp4("10.0.1.12", 40000, "10.0.1.10", 9090), kDrop,
       BF_R_FW_POLICY, ""},
      {"the accepted flow's reply", kWeb, OUT, tcp4("10.0.1.10", 9090, "10.0.1.11", 40000, kSyn | kAck), kPass,
       BF_R_REPLY, accept.str()},
  });
}

TEST_CASE("CNP: a Pass falls to the NetworkPolicy step and hides later Admin rules", "[policy][cnp]") {
  Fixture f;
  add_cluster(f);
  allow_client_to_web_80(f);
  f.commit();
  auto pass = cnp_rule("delegate", CnpTier::Admin, 5, IN, 0, CnpAction::Pass);
  auto deny = cnp_rule("deny-all", CnpTier::Admin, 50, IN, 0, CnpAction::Deny);
  add_rule(f, kWeb, pass, f.identity_of("10.0.1.11"), "", 6, 80, 80, rank(5, 0, 0));
  add_rule(f, kWeb, deny, BF_ID_ANY_POD, "", 0, 0, 0, rank(50, 0, 0));
  f.commit();
  run_cases(f, {
      {"client->web:80: Pass, then NetworkPolicy allows", kWeb, IN, tcp4("10.0.1.11", 40000, "10.0.1.10", 80), kPass,
       BF_R_POLICY, kNpRule},
      {"IPv6 client->web:80", kWeb, IN, tcp6("fd00::11", 40000, "fd00::10", 80), kPass, BF_R_POLICY, kNpRule},
      {"client->web:81: no Pass there, the later Deny decides", kWeb, IN, tcp4("10.0.1.11", 40000, "10.0.1.10", 81),
       kDrop, BF_R_ADMIN_DENY, deny.str()},
      {"other->web:80: the Deny", kWeb, IN, tcp4("10.0.1.12", 40000, "10.0.1.10", 80), kDrop, BF_R_ADMIN_DENY,
       deny.str()},
  });
}

TEST_CASE("CNP: Baseline applies only where no NetworkPolicy isolates that way", "[policy][cnp]") {
  Fixture f;
  add_cluster(f);
  f.commit();
  auto deny = cnp_rule("default-deny", CnpTier::Baseline, 100, IN, 1, CnpAction::Deny);
  auto accept = cnp_rule("default-deny", CnpTier::Baseline, 100, IN, 0, CnpAction::Accept);
  auto egress = cnp_rule("egress-same-ns", CnpTier::Baseline, 100, OUT, 0, CnpAction::Accept);
  add_rule(f, kWeb, accept, f.identity_of("10.0.1.12"), "", 0, 0, 0, rank(100, 0, 0));
  add_rule(f, kWeb, deny, BF_ID_ANY_POD, "", 0, 0, 0, rank(100, 0, 1));
  add_rule(f, kWeb, egress, f.identity_of("10.0.1.11"), "", 0, 0, 0, rank(100, 1, 0));
  f.commit();
  run_cases(f, {
      {"web not isolated: Baseline Deny", kWeb, IN, tcp4("10.0.1.11", 40000, "10.0.1.10", 80), kDrop,
       BF_R_BASELINE_DENY, deny.str()},
      {"IPv6: Baseline Deny", kWeb, IN, tcp6("fd00::11", 40000, "fd00::10", 80), kDrop, BF_R_BASELINE_DENY, deny.str()},
      {"other: the earlier Baseline Accept", kWeb, IN, udp4("10.0.1.12", 40000, "10.0.1.10", 53), kPass,
       BF_R_BASELINE_ACCEPT, accept.str()},
      {"not a pod: no Baseline entry matches", kWeb, IN, tcp4("192.168.5.5", 40000, "10.0.1.10", 80), kPass,
       BF_R_NOT_ISOLATED, ""},
      {"web egress to client: Baseline Accept", kWeb, OUT, tcp4("10.0.1.10", 40001, "10.0.1.11", 443), kPass,
       BF_R_BASELINE_ACCEPT, egress.str()},
      {"web egress elsewhere: default allow", kWeb, OUT, tcp4("10.0.1.10", 40002, "10.0.3.30", 443), kPass,
       BF_R_NOT_ISOLATED, ""},
  });
  // A NetworkPolicy isolating web's ingress: it decides, Baseline is not reached.
  allow_client_to_web_80(f);
  f.commit();
  run_cases(f, {
      {"isolated: NetworkPolicy allows client", kWeb, IN, tcp4("10.0.1.11", 40010, "10.0.1.10", 80), kPass,
       BF_R_POLICY, kNpRule},
      {"isolated: NetworkPolicy denies other (no Baseline Accept)", kWeb, IN, udp4("10.0.1.12", 40010, "10.0.1.10", 53),
       kDrop, BF_R_FW_POLICY, ""},
      {"IPv6 isolated: allowed", kWeb, IN, tcp6("fd00::11", 40010, "fd00::10", 80), kPass, BF_R_POLICY, kNpRule},
      {"egress still not isolated: Baseline Accept", kWeb, OUT, tcp4("10.0.1.10", 40011, "10.0.1.11", 443), kPass,
       BF_R_BASELINE_ACCEPT, egress.str()},
  });
}

TEST_CASE("CNP: the smallest rank wins across port prefixes, peers and protocols", "[policy][cnp]") {
  Fixture f;
  add_cluster(f);
  f.commit();
  uint32_t client = f.identity_of("10.0.1.11");
  // deny-range (rank 1): client 8000-8099/TCP. accept-wide (rank 2): client
  // 8000-8999/TCP. The compiler keeps each port prefix's best rank: on
  // 8000-8099 the longest match is deny-range's.
  auto deny_range = cnp_rule("a-deny-range", CnpTier::Admin, 1, IN, 0, CnpAction::Deny);
  auto accept_wide = cnp_rule("b-accept-wide", CnpTier::Admin, 2, IN, 0, CnpAction::Accept);
  add_rule(f, kWeb, accept_wide, client, "", 6, 8000, 8999, rank(2, 0, 0));
  add_rule(f, kWeb, deny_range, client, "", 6, 8000, 8099, rank(1, 0, 0));
  // Across candidates: ANY_POD every protocol (rank 3, Deny) against the pod
  // identity's TCP 7000 (rank 4, Accept): the ANY_POD entry is earlier.
  auto any_deny = cnp_rule("c-any-pod", CnpTier::Admin, 3, IN, 0, CnpAction::Deny);
  auto pod_accept = cnp_rule("d-client-7000", CnpTier::Admin, 4, IN, 0, CnpAction::Accept);
  add_rule(f, kWeb, any_deny, BF_ID_ANY_POD, "", 17, 7000, 7000, rank(3, 0, 0));
  add_rule(f, kWeb, pod_accept, client, "", 17, 7000, 7000, rank(4, 0, 0));
  add_rule(f, kWeb, pod_accept, client, "", 6, 7000, 7000, rank(4, 0, 0));
  // CIDRs: 10.0.0.0/16 Deny (rank 6) and the longer 10.0.1.0/24 Accept
  // (rank 5): the /24 is the longest named prefix and the earlier rule.
  // The /16 rule's rank 7 Deny on 6000 is copied onto the /24 identity.
  auto net_accept = cnp_rule("e-net24", CnpTier::Admin, 5, IN, 0, CnpAction::Accept);
  auto net_deny = cnp_rule("f-net16", CnpTier::Admin, 6, IN, 0, CnpAction::Deny);
  add_rule(f, kWeb, net_accept, 0, "10.0.1.0/24", 6, 6000, 6000, rank(5, 0, 0));
  add_rule(f, kWeb, net_deny, 0, "10.0.0.0/16", 6, 6000, 6001, rank(6, 0, 0));
  add_rule(f, kWeb, net_deny, 0, "10.0.1.0/24", 6, 6001, 6001, rank(6, 0, 0));
  // The pod identity's earlier Deny on 6000 against the /24's Accept.
  auto pod_deny = cnp_rule("d0-client-6000", CnpTier::Admin, 4, IN, 1, CnpAction::Deny);
  add_rule(f, kWeb, pod_deny, client, "", 6, 6000, 6000, rank(4, 0, 1));
  f.commit();
  const char* c = "10.0.1.11";
  const char* w = "10.0.1.10";
  run_cases(f, {
      {"8050 in both ranges: the earlier Deny", kWeb, IN, tcp4(c, 40000, w, 8050), kDrop, BF_R_ADMIN_DENY,
       deny_range.str()},
      {"8099: last port of the Deny", kWeb, IN, tcp4(c, 40000, w, 8099), kDrop, BF_R_ADMIN_DENY, deny_range.str()},
      {"8100: only the wide Accept", kWeb, IN, tcp4(c, 40000, w, 8100), kPass, BF_R_ADMIN_ACCEPT, accept_wide.str()},
      {"8999", kWeb, IN, tcp4(c, 40000, w, 8999), kPass, BF_R_ADMIN_ACCEPT, accept_wide.str()},
      {"UDP 7000: ANY_POD's earlier Deny beats the pod's Accept", kWeb, IN, udp4(c, 40000, w, 7000), kDrop,
       BF_R_ADMIN_DENY, any_deny.str()},
      {"TCP 7000: only the pod's Accept", kWeb, IN, tcp4(c, 40000, w, 7000), kPass, BF_R_ADMIN_ACCEPT,
       pod_accept.str()},
      {"6000 from 10.0.1.99 (/24): the /24 Accept", kWeb, IN, tcp4("10.0.1.99", 40000, w, 6000), kPass,
       BF_R_ADMIN_ACCEPT, net_accept.str()},
      {"6000 from client (in the /24): the pod's earlier Deny", kWeb, IN, tcp4(c, 40000, w, 6000), kDrop,
       BF_R_ADMIN_DENY, pod_deny.str()},
      {"6000 from 10.0.9.9 (/16 only): the /16 Deny", kWeb, IN, tcp4("10.0.9.9", 40000, w, 6000), kDrop,
       BF_R_ADMIN_DENY, net_deny.str()},
      {"6001 from 10.0.1.99: the /16 Deny copied onto the /24", kWeb, IN, tcp4("10.0.1.99", 40000, w, 6001), kDrop,
       BF_R_ADMIN_DENY, net_deny.str()},
      {"IPv6 client 8050", kWeb, IN, tcp6("fd00::11", 40000, "fd00::10", 8050), kDrop, BF_R_ADMIN_DENY,
       deny_range.str()},
      {"IPv6 client UDP 7000", kWeb, IN, udp6("fd00::11", 40000, "fd00::10", 7000), kDrop, BF_R_ADMIN_DENY,
       any_deny.str()},
  });
}

TEST_CASE("CNP: ANY_POD matches pods only; a proto-0 rule matches ICMP and UDP", "[policy][cnp]") {
  Fixture f({"10.0.0.1", "fd00::1"});
  add_cluster(f);
  f.commit();
  auto deny = cnp_rule("no-pods", CnpTier::Admin, 1, OUT, 0, CnpAction::Deny);
  auto tcp_only = cnp_rule("tcp-only", CnpTier::Admin, 1, IN, 0, CnpAction::Deny);
  add_rule(f, kWeb, deny, BF_ID_ANY_POD, "", 0, 0, 0, rank(1, 0, 0));
  add_rule(f, kWeb, tcp_only, BF_ID_ANY_POD, "", 6, 1, 65535, rank(1, 1, 0));
  f.commit();
  const char* w = "10.0.1.10";
  run_cases(f, {
      {"ping to a local pod", kWeb, OUT, ping4(w, "10.0.1.11", 5), kDrop, BF_R_ADMIN_DENY, deny.str()},
      {"UDP to a remote pod", kWeb, OUT, udp4(w, 40000, "10.0.2.20", 53), kDrop, BF_R_ADMIN_DENY, deny.str()},
      {"SCTP to a pod", kWeb, OUT, sctp4(w, 40000, "10.0.3.30", 5000), kDrop, BF_R_ADMIN_DENY, deny.str()},
      {"IPv6 ping to a pod", kWeb, OUT, ping6("fd00::10", "fd00::12", 6), kDrop, BF_R_ADMIN_DENY, deny.str()},
      {"to an address outside the cluster: no pod", kWeb, OUT, udp4(w, 40000, "192.168.5.5", 53), kPass,
       BF_R_NOT_ISOLATED, ""},
      {"to the node: no pod", kWeb, OUT, ping4(w, "10.0.0.1", 7), kPass, BF_R_HOST, ""},
      {"IPv6 to the node", kWeb, OUT, ping6("fd00::10", "fd00::1", 7), kPass, BF_R_HOST, ""},
      {"a TCP rule does not match ICMP", kWeb, IN, ping4("10.0.1.11", w, 8), kPass, BF_R_NOT_ISOLATED, ""},
      {"nor UDP", kWeb, IN, udp4("10.0.1.11", 40000, w, 53), kPass, BF_R_NOT_ISOLATED, ""},
      {"it matches TCP", kWeb, IN, tcp4("10.0.1.11", 40000, w, 22), kDrop, BF_R_ADMIN_DENY, tcp_only.str()},
      {"IPv6 TCP", kWeb, IN, tcp6("fd00::11", 40000, "fd00::10", 22), kDrop, BF_R_ADMIN_DENY, tcp_only.str()},
  });
}

TEST_CASE("CNP: an egress networks rule decides traffic to the node; self is exempt", "[policy][cnp]") {
  Fixture f({"10.0.0.1", "fd00::1"});
  add_cluster(f);
  f.compiler().upsert(egress_policy("dev", "web-none", {{"app", "web"}}, {}));
  f.commit();
  auto kubelet = cnp_rule("no-kubelet", CnpTier::Admin, 1, OUT, 0, CnpAction::Deny);
  auto all_in = cnp_rule("deny-all-in", CnpTier::Admin, 9, IN, 0, CnpAction::Deny);
  add_rule(f, kWeb, kubelet, 0, "10.0.0.0/24", 6, 10250, 10250, rank(1, 0, 0));
  add_rule(f, kWeb, kubelet, 0, "fd00::/120", 6, 10250, 10250, rank(1, 0, 0));
  add_rule(f, kWeb, all_in, BF_ID_ANY_POD, "", 0, 0, 0, rank(9, 0, 0));
  f.commit();
  const char* w = "10.0.1.10";
  run_cases(f, {
      {"web->node:10250 denied by the networks rule", kWeb, OUT, tcp4(w, 40000, "10.0.0.1", 10250), kDrop,
       BF_R_ADMIN_DENY, kubelet.str()},
      {"IPv6 web->node:10250", kWeb, OUT, tcp6("fd00::10", 40000, "fd00::1", 10250), kDrop, BF_R_ADMIN_DENY,
       kubelet.str()},
      {"web->node:22: own-node exemption (egress isolated)", kWeb, OUT, tcp4(w, 40001, "10.0.0.1", 22), kPass,
       BF_R_HOST, ""},
      {"node->web: ANY_POD is no host", kWeb, IN, tcp4("10.0.0.1", 40000, w, 8080), kPass, BF_R_HOST, ""},
      {"web to itself: not subject to CNP", kWeb, IN, tcp4(w, 40002, w, 8080), kPass, BF_R_SELF, ""},
      {"IPv6 web to itself", kWeb, IN, tcp6("fd00::10", 40002, "fd00::10", 8080), kPass, BF_R_SELF, ""},
      {"client->web denied", kWeb, IN, tcp4("10.0.1.11", 40003, w, 8080), kDrop, BF_R_ADMIN_DENY, all_in.str()},
  });
}

TEST_CASE("CNP: a Baseline egress networks rule decides traffic to the node of a pod no NetworkPolicy isolates",
          "[policy][cnp]") {
  Fixture f({"10.0.0.1", "fd00::1"});
  add_cluster(f);
  f.commit();
  auto deny = cnp_rule("no-addresses", CnpTier::Baseline, 1, OUT, 0, CnpAction::Deny);
  add_rule(f, kWeb, deny, 0, "0.0.0.0/0", 0, 0, 0, rank(1, 0, 0));
  add_rule(f, kWeb, deny, 0, "::/0", 0, 0, 0, rank(1, 0, 0));
  f.commit();
  const char* w = "10.0.1.10";
  run_cases(f, {
      {"not isolated: web->node denied by Baseline", kWeb, OUT, tcp4(w, 40000, "10.0.0.1", 10250), kDrop,
       BF_R_BASELINE_DENY, deny.str()},
      {"IPv6 not isolated: web->node denied", kWeb, OUT, tcp6("fd00::10", 40000, "fd00::1", 10250), kDrop,
       BF_R_BASELINE_DENY, deny.str()},
  });
  // Isolated for egress: the NetworkPolicy step is final, and lets the own node through.
  f.compiler().upsert(egress_policy("dev", "web-none", {{"app", "web"}}, {}));
  f.commit();
  run_cases(f, {
      {"isolated: own-node exemption", kWeb, OUT, tcp4(w, 40001, "10.0.0.1", 10250), kPass, BF_R_HOST, ""},
      {"isolated: elsewhere denied by the NetworkPolicy", kWeb, OUT, tcp4(w, 40002, "10.0.3.30", 443), kDrop,
       BF_R_FW_POLICY, ""},
  });
}

TEST_CASE("CNP: fail-closed comes before an Admin Accept", "[policy][cnp]") {
  Fixture f;
  add_cluster(f);
  f.commit();
  auto accept = cnp_rule("accept-all", CnpTier::Admin, 1, IN, 0, CnpAction::Accept);
  add_rule(f, kWeb, accept, BF_ID_ANY_POD, "", 0, 0, 0, rank(1, 0, 0));
  f.commit();
  REQUIRE(f.dataplane().set_fail_closed(kWeb, true));
  run_cases(f, {
      {"fail-closed drops what Admin accepts", kWeb, IN, tcp4("10.0.1.11", 40000, "10.0.1.10", 80), kDrop,
       BF_R_FAIL_CLOSED, ""},
      {"the node still reaches it", kWeb, IN, tcp4("10.0.0.1", 40000, "10.0.1.10", 80), kPass, BF_R_HOST, ""},
  });
}

TEST_CASE("CNP: a new Admin Deny cuts an established flow at the generation bump", "[policy][cnp]") {
  Fixture f;
  add_cluster(f);
  allow_client_to_web_80(f);
  f.commit();
  for (bool v6 : {false, true}) {
    INFO((v6 ? "IPv6" : "IPv4"));
    std::string c = v6 ? "fd00::11" : "10.0.1.11", w = v6 ? "fd00::10" : "10.0.1.10";
    auto tcp = [&](const std::string& s, uint16_t sp, const std::string& d, uint16_t dp, uint8_t flags) {
      return v6 ? tcp6(s, sp, d, dp, flags) : tcp4(s, sp, d, dp, flags);
    };
    f.clear_cnp();
    f.commit();
    run_cases(f, {
        {"SYN allowed", kWeb, IN, tcp(c, 41000, w, 80, kSyn), kPass, BF_R_POLICY, kNpRule},
        {"SYN-ACK: reply", kWeb, OUT, tcp(w, 80, c, 41000, kSyn | kAck), kPass, BF_R_REPLY, kNpRule},
        {"ACK: cached", kWeb, IN, tcp(c, 41000, w, 80, kAck), kPass, BF_R_POLICY, kNpRule},
    });
    auto deny = cnp_rule("cut", CnpTier::Admin, 1, IN, 0, CnpAction::Deny);
    add_rule(f, kWeb, deny, f.identity_of(c), "", 6, 80, 80, rank(1, 0, 0));
    f.commit();
    run_cases(f, {
        {"next packet of the flow: denied", kWeb, IN, tcp(c, 41000, w, 80, kAck), kDrop, BF_R_ADMIN_DENY, deny.str()},
        {"web's next reply: denied too", kWeb, OUT, tcp(w, 80, c, 41000, kAck), kDrop, BF_R_ADMIN_DENY, deny.str()},
    });
  }
}
