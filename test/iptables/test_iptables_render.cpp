// The renderer on small clusters, with the expected chains and sets written
// out by hand: what Calico-style rules for each NetworkPolicy look like.
#include "fixture.h"

using namespace bpfence;
using namespace bpfence::test;
using ipt::Family;
using Lines = std::vector<std::string>;

namespace {

// Pods on node-a (local) and node-b; the node's own address is 192.168.0.1.
Cluster base() {
  Cluster c;
  c.ns("default").ns("prod", {{"team", "blue"}});
  c.pod("default/web", "10.0.0.10", {{"app", "web"}}, {"http:80/TCP"});
  c.pod("default/client", "10.0.0.11", {{"app", "client"}});
  c.pod("default/db", "10.0.0.12", {{"app", "db"}}, {"pg:5432/TCP"});
  c.pod("default/db2", "10.0.0.13", {{"app", "db2"}}, {"pg:6432/TCP"}, "node-b");
  c.pod("prod/client", "10.0.1.11", {{"app", "client"}}, {}, "node-b");
  c.host_ips = {*IpAddress::parse("192.168.0.1")};
  return c;
}

const char* kDenyAll = R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: deny-web, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
)";

// The rules every isolated chain starts with: conntrack, the node, the pod itself.
Lines preamble(const std::string& self, bool ingress) {
  return {"-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", "-m conntrack --ctstate INVALID -j DROP",
          std::string("-m set --match-set bpfence-t1-host-4 ") + (ingress ? "src" : "dst") + " -j RETURN",
          std::string(ingress ? "-s " : "-d ") + self + "/32 -j RETURN"};
}

Lines concat(Lines a, const Lines& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

TEST_CASE("deny all ingress: the pod's ingress chain only lets replies, the node and itself in", "[iptables][render]") {
  auto c = base().policy(kDenyAll).compile("node-a");
  auto m = render_model(c.state());
  std::string in = chain_of(c, "default/web", BF_DIR_INGRESS);
  CHECK(in == "BPFENCE-t1-I" + std::to_string(c.state().endpoints.at("default/web").endpoint_id));
  CHECK(lines(m, in) == concat(preamble("10.0.0.10", true), {"-j DROP"}));
  // Only isolated directions get a chain and a jump.
  CHECK(lines(m, chain_of(c, "default/web", BF_DIR_EGRESS)).empty());
  // The second jump: the same pod behind a bridge (br_netfilter), by address.
  CHECK(lines(m, "BPFENCE-t1-FWD") ==
        Lines{"-j BPFENCE-t1-SRC", "-o v-web -m comment --comment \"default/web\" -j " + in,
              "! -o v-web -d 10.0.0.10/32 -m comment --comment \"default/web\" -j " + in});
  CHECK(lines(m, "BPFENCE-t1-FWD", Family::V6) == Lines{"-j BPFENCE-t1-SRC", "-o v-web -m comment --comment \"default/web\" -j " + in});
  CHECK(entries(m, "bpfence-t1-host-4") == Lines{"192.168.0.1/32"});
  // IPv6 has the same chains, with the IPv6 sets and no v4 self rule.
  CHECK(lines(m, in, Family::V6) ==
        Lines{"-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", "-m conntrack --ctstate INVALID -j DROP",
              "-m set --match-set bpfence-t1-host-6 src -j RETURN", "-j DROP"});

  CHECK(walk(m, c, "default/client", "default/web", 6, 80) == ipt::SimVerdict::Drop);
  CHECK(walk(m, c, "default/client", "default/web", 6, 80, ipt::SimPacket::Ct::Established) ==
        ipt::SimVerdict::Accept);
  CHECK(walk(m, c, "default/web", "default/client", 6, 80) == ipt::SimVerdict::Pass);
}

TEST_CASE("pod selector peer on one port: one rule matching the peer identity's set", "[iptables][render]") {
  auto c = base()
               .policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: 80}]
)")
               .compile("node-a");
  auto m = render_model(c.state());
  std::string set = set_of({identity_of(c, "default/client")});
  CHECK(lines(m, chain_of(c, "default/web", BF_DIR_INGRESS)) ==
        concat(preamble("10.0.0.10", true), {"-p tcp -m tcp --dport 80 -m set --match-set " + set + " src -j RETURN",
                                             "-j DROP"}));
  CHECK(entries(m, set) == Lines{"10.0.0.11/32"});
  CHECK(m.set_identities.at(set) == std::vector<uint32_t>{identity_of(c, "default/client")});
  CHECK(walk_allows(m, c, "default/client", "default/web", 6, 80));
  CHECK_FALSE(walk_allows(m, c, "default/client", "default/web", 6, 81));
  CHECK_FALSE(walk_allows(m, c, "prod/client", "default/web", 6, 80));  // same labels, other namespace
}

TEST_CASE("ipBlock with except: the CIDR with the except as a nomatch entry", "[iptables][render]") {
  auto c = base()
               .policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: nfs, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{ipBlock: {cidr: 100.96.0.0/16, except: [100.96.2.0/24]}}]
---
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: inner, namespace: default}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{ipBlock: {cidr: 100.96.2.128/25}}, {ipBlock: {cidr: 100.96.7.0/24}}]
)")
               .compile("node-a");
  auto m = render_model(c.state());
  // web admits the /16's identity and the /24 at 100.96.7 (inside the /16,
  // named by another policy, not excepted); not the except nor the /25 in it.
  std::string web_set = set_of({cidr_identity(c, "100.96.0.0/16"), cidr_identity(c, "100.96.7.0/24")});
  CHECK(lines(m, chain_of(c, "default/web", BF_DIR_INGRESS)) ==
        concat(preamble("10.0.0.10", true), {"-m set --match-set " + web_set + " src -j RETURN", "-j DROP"}));
  CHECK(entries(m, web_set) ==
        Lines{"100.96.0.0/16", "100.96.2.0/24 nomatch", "100.96.2.128/25 nomatch", "100.96.7.0/24"});
  // db admits the /25 and the /24: the /25 alone, nothing around it.
  std::string db_set = set_of({cidr_identity(c, "100.96.2.128/25"), cidr_identity(c, "100.96.7.0/24")});
  CHECK(entries(m, db_set) == Lines{"100.96.2.128/25", "100.96.7.0/24"});

  CHECK(walk_allows(m, c, "100.96.1.5", "default/web", 6, 2049));
  CHECK(walk_allows(m, c, "100.96.7.5", "default/web", 6, 2049));
  CHECK_FALSE(walk_allows(m, c, "100.96.2.5", "default/web", 6, 2049));    // the except
  CHECK_FALSE(walk_allows(m, c, "100.96.2.200", "default/web", 6, 2049));  // inside the except
  CHECK_FALSE(walk_allows(m, c, "100.97.0.1", "default/web", 6, 2049));
  CHECK(walk_allows(m, c, "100.96.2.200", "default/db", 6, 5432));
  CHECK_FALSE(walk_allows(m, c, "100.96.2.5", "default/db", 6, 5432));
}

TEST_CASE("ipBlock 0.0.0.0/0 except the cluster: two /1 halves and a nomatch", "[iptables][render]") {
  auto c = base()
               .policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: external, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]
)")
               .compile("node-a");
  auto m = render_model(c.state());
  std::string set = set_of({cidr_identity(c, "0.0.0.0/0")});
  CHECK(entries(m, set) == Lines{"0.0.0.0/1", "10.0.0.0/8 nomatch", "128.0.0.0/1"});
  CHECK(walk_allows(m, c, "203.0.113.7", "default/web", 6, 80));
  CHECK(walk_allows(m, c, "8.8.8.8", "default/web", 17, 53));
  CHECK_FALSE(walk_allows(m, c, "default/client", "default/web", 6, 80));
}

TEST_CASE("ports, protocols and ranges: one multiport rule per protocol, ranges merged back", "[iptables][render]") {
  auto c = base()
               .policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: blue}}}]
    ports:
    - {port: 80}
    - {port: 443, protocol: TCP}
    - {port: 53, protocol: UDP}
    - {port: 8000, endPort: 8999}
    - {protocol: SCTP}
  - ports: [{port: http}]
)")
               .compile("node-a");
  auto m = render_model(c.state());
  std::string blue = set_of({identity_of(c, "prod/client")});
  CHECK(lines(m, chain_of(c, "default/web", BF_DIR_INGRESS)) ==
        concat(preamble("10.0.0.10", true),
               {// any peer: the named port resolves on web itself
                "-p tcp -m tcp --dport 80 -j RETURN",
                "-p sctp -m set --match-set " + blue + " src -j RETURN",
                // 80 is left out: every peer may use it already
                "-p tcp -m multiport --dports 443,8000:8999 -m set --match-set " + blue + " src -j RETURN",
                "-p udp -m udp --dport 53 -m set --match-set " + blue + " src -j RETURN", "-j DROP"}));
  CHECK(walk_allows(m, c, "prod/client", "default/web", 6, 8500));
  CHECK(walk_allows(m, c, "prod/client", "default/web", 132, 9));
  CHECK_FALSE(walk_allows(m, c, "prod/client", "default/web", 6, 9000));
  CHECK_FALSE(walk_allows(m, c, "prod/client", "default/web", 1, 0));  // ports listed: no ICMP
  CHECK(walk_allows(m, c, "default/client", "default/web", 6, 80));
  CHECK_FALSE(walk_allows(m, c, "default/client", "default/web", 6, 443));
}

TEST_CASE("multiport takes 15 ports: longer lists are split", "[iptables][render]") {
  std::string ports;
  for (int p = 1000; p < 1020; p += 2) ports += "    - {port: " + std::to_string(p) + "}\n";
  ports += "    - {port: 2000, endPort: 2100}\n    - {port: 3000, endPort: 3100}\n    - {port: 4000, endPort: 4100}\n";
  auto c = base()
               .policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - ports:
)" + ports)
               .compile("node-a");
  auto m = render_model(c.state());
  auto l = lines(m, chain_of(c, "default/web", BF_DIR_INGRESS));
  REQUIRE(l.size() == 4 + 2 + 1);
  // Ten ports and two ranges weigh 14; the third range starts a new rule.
  CHECK(l[4] ==
        "-p tcp -m multiport --dports 1000,1002,1004,1006,1008,1010,1012,1014,1016,1018,2000:2100,3000:3100 -j RETURN");
  CHECK(l[5] == "-p tcp -m tcp --dport 4000:4100 -j RETURN");
}

TEST_CASE("egress: the peer is the destination; DNS to anyone; named ports per destination", "[iptables][render]") {
  auto c = base()
               .policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web-out, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchExpressions: [{key: app, operator: In, values: [db, db2]}]}}]
    ports: [{port: pg}]
  - ports: [{port: 53, protocol: UDP}]
)")
               .compile("node-a");
  auto m = render_model(c.state());
  std::string out = chain_of(c, "default/web", BF_DIR_EGRESS);
  std::string db = set_of({identity_of(c, "default/db")}), db2 = set_of({identity_of(c, "default/db2")});
  // "pg" is 5432 on db and 6432 on db2: one rule each, never 6432 to db.
  Lines want_rules = {"-p udp -m udp --dport 53 -j RETURN",
                      "-p tcp -m tcp --dport 5432 -m set --match-set " + db + " dst -j RETURN",
                      "-p tcp -m tcp --dport 6432 -m set --match-set " + db2 + " dst -j RETURN"};
  // Groups come out in identity order.
  if (identity_of(c, "default/db2") < identity_of(c, "default/db")) std::swap(want_rules[1], want_rules[2]);
  want_rules.push_back("-j DROP");
  CHECK(lines(m, out) == concat(preamble("10.0.0.10", false), want_rules));
  // The second jump: the same pod behind a bridge, by the port it came in by.
  CHECK(lines(m, "BPFENCE-t1-FWD") ==
        Lines{"-j BPFENCE-t1-SRC", "-i v-web -m comment --comment \"default/web\" -j " + out,
              "-m physdev --physdev-in v-web -m comment --comment \"default/web\" -j " + out});
  CHECK(walk_allows(m, c, "default/web", "default/db", 6, 5432));
  CHECK_FALSE(walk_allows(m, c, "default/web", "default/db", 6, 6432));
  CHECK(walk_allows(m, c, "default/web", "default/db2", 6, 6432));
  CHECK(walk_allows(m, c, "default/web", "8.8.8.8", 17, 53));
  CHECK_FALSE(walk_allows(m, c, "default/web", "8.8.8.8", 6, 53));
  CHECK(walk_allows(m, c, "default/web", "192.168.0.1", 6, 10250));  // the node
}

TEST_CASE("same-node traffic passes the source's egress chain and then the destination's ingress chain",
          "[iptables][render]") {
  auto c = base()
               .policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: client-out, namespace: default}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress: [{to: [{podSelector: {matchLabels: {app: web}}}]}]
)")
               .policy(kDenyAll)
               .compile("node-a");
  auto m = render_model(c.state());
  // client's egress allows web, web's ingress denies everyone.
  CHECK(walk(m, c, "default/client", "default/web", 6, 80) == ipt::SimVerdict::Drop);
  CHECK(walk(m, c, "default/client", "default/db", 6, 80) == ipt::SimVerdict::Drop);
  CHECK(walk(m, c, "default/db", "default/client", 6, 80) == ipt::SimVerdict::Pass);
}

TEST_CASE("a fail-closed pod drops every new flow both ways, replies and the node still pass", "[iptables][render]") {
  auto c = base().compile("node-a");
  auto m = render_model(c.state(), {"default/db"});
  auto id = c.state().endpoints.at("default/db").endpoint_id;
  CHECK(lines(m, "BPFENCE-t1-I" + std::to_string(id)) == concat(preamble("10.0.0.12", true), {"-j DROP"}));
  CHECK(lines(m, "BPFENCE-t1-E" + std::to_string(id)) == concat(preamble("10.0.0.12", false), {"-j DROP"}));
  CHECK(walk(m, c, "default/client", "default/db", 6, 5432) == ipt::SimVerdict::Drop);
  CHECK(walk(m, c, "default/db", "default/client", 6, 80) == ipt::SimVerdict::Drop);
  CHECK(walk(m, c, "default/client", "default/db", 6, 5432, ipt::SimPacket::Ct::Established) ==
        ipt::SimVerdict::Accept);
  CHECK(walk(m, c, "default/client", "default/web", 6, 80) == ipt::SimVerdict::Pass);
}

TEST_CASE("a peer set is named by its identities: the same identities, the same set", "[iptables][render]") {
  ipt::Names n{"ab12"};
  CHECK(n.peer_set(0x0123456789abull, Family::V4) == "bpfence-ab12-0123456789ab-4");
  CHECK(n.peer_set(0x0123456789abull, Family::V6).size() <= 31);  // ipset's limit
  CHECK(n.endpoint_chain(BF_DIR_EGRESS, 4095) == "BPFENCE-ab12-E4095");
  CHECK(ipt::identities_hash({256, 257}) == ipt::identities_hash({256, 257}));
  CHECK(ipt::identities_hash({256, 257}) != ipt::identities_hash({256, 258}));
  CHECK(ipt::Names{"abcdef12"}.endpoint_chain(BF_DIR_INGRESS, 4294967295u).size() <= 28);  // iptables' limit
  CHECK(ipt::valid_ifname("lxc12ab-x"));
  CHECK_FALSE(ipt::valid_ifname("eth0; -j ACCEPT"));
  CHECK_FALSE(ipt::valid_ifname("a-very-long-interface"));
}

TEST_CASE("source check: a pod's packets must carry its addresses or its annotated prefixes", "[iptables][render]") {
  Cluster cl = base();
  cl.pod("default/gw", "10.0.0.14,fd00::14", {{"app", "gw"}});
  cl.pods.back().allowed_source_prefixes = {*Prefix::parse("10.9.0.0/16"), *Prefix::parse("fd00:9::/64")};
  auto c = cl.compile("node-a");
  auto m = render_model(c.state());
  auto src_chain = [&](const std::string& pod) {
    return test_names().source_chain(c.state().endpoints.at(pod).endpoint_id);
  };
  const std::string drop = "-m comment --comment \"spoofed source\" -j DROP";
  CHECK(lines(m, src_chain("default/web")) == Lines{"-s 10.0.0.10/32 -j RETURN", drop});
  CHECK(lines(m, src_chain("default/web"), Family::V6) == Lines{drop});  // no IPv6 address: nothing may pass
  CHECK(lines(m, src_chain("default/gw")) == Lines{"-s 10.0.0.14/32 -j RETURN", "-s 10.9.0.0/16 -j RETURN", drop});
  CHECK(lines(m, src_chain("default/gw"), Family::V6) ==
        Lines{"-s fd00::14/128 -j RETURN", "-s fd00:9::/64 -j RETURN", drop});
  // Every bound pod's source check, even for pods no policy isolates, in
  // SRC, which comes first in FWD: before any chain that could accept.
  Lines src = lines(m, "BPFENCE-t1-SRC");
  // Each twice: by the pod's veth, and by its bridge port (bridge CNIs).
  REQUIRE(src.size() == 8);
  CHECK(src[0] == "-i v-client -m comment --comment \"default/client\" -j " + src_chain("default/client"));
  CHECK(src[1] == "-m physdev --physdev-in v-client -m comment --comment \"default/client\" -j " +
                      src_chain("default/client"));
  CHECK(lines(m, "BPFENCE-t1-FWD") == Lines{"-j BPFENCE-t1-SRC"});

  // The walk: client sending as web (allowed by nobody but itself) is dropped
  // at client's interface; gw from its prefix passes; gw as web does not.
  ipt::SimPacket p;
  p.in_iface = ifname_of("default/client");
  p.out_iface = ifname_of("default/db");
  p.src = *IpAddress::parse("10.0.0.10");
  p.dst = *IpAddress::parse("10.0.0.12");
  p.proto = 17;
  p.dport = 53;
  CHECK(ipt::simulate_forward(m, test_names(), Family::V4, p) == ipt::SimVerdict::Drop);
  p.src = *IpAddress::parse("10.0.0.11");
  CHECK(ipt::simulate_forward(m, test_names(), Family::V4, p) == ipt::SimVerdict::Pass);
  p.in_iface = ifname_of("default/gw");
  p.src = *IpAddress::parse("10.9.3.4");
  CHECK(ipt::simulate_forward(m, test_names(), Family::V4, p) == ipt::SimVerdict::Pass);
  p.src = *IpAddress::parse("10.0.0.10");
  CHECK(ipt::simulate_forward(m, test_names(), Family::V4, p) == ipt::SimVerdict::Drop);
  p.src = *IpAddress::parse("fd00:9::1");
  p.dst = *IpAddress::parse("fd00::99");
  CHECK(ipt::simulate_forward(m, test_names(), Family::V6, p) == ipt::SimVerdict::Pass);
  // Behind a bridge (br_netfilter): the frame comes in on cni0, by client's
  // bridge port; sent as web, it is dropped; as itself it passes.
  p.in_iface = "cni0";
  p.out_iface = "cni0";
  p.physdev_in = ifname_of("default/client");
  p.src = *IpAddress::parse("10.0.0.10");
  p.dst = *IpAddress::parse("10.0.0.12");
  CHECK(ipt::simulate_forward(m, test_names(), Family::V4, p) == ipt::SimVerdict::Drop);
  p.src = *IpAddress::parse("10.0.0.11");
  CHECK(ipt::simulate_forward(m, test_names(), Family::V4, p) == ipt::SimVerdict::Pass);
  p.src = *IpAddress::parse("fd00::99");
  CHECK(ipt::simulate_forward(m, test_names(), Family::V6, p) == ipt::SimVerdict::Drop);
}
