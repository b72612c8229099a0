// ClusterNetworkPolicy in the iptables dataplane: cluster_policy entries
// written by hand (as the compiler emits them: rank, action, rule id per
// (endpoint, direction, tier, peer, proto, port prefix)) rendered into the
// endpoint chains, and packets walked through them for each step of the
// evaluation order: self, Admin, the node's own addresses, NetworkPolicy
// where isolated, else Baseline, then allow.
#include <arpa/inet.h>

#include "conntrack.h"
#include "fixture.h"

using namespace bpfence;
using namespace bpfence::test;
using ipt::Family;
using ipt::SimVerdict;
using Lines = std::vector<std::string>;

namespace {

// Pods on node-a (local) and node-b; the node's own address is 192.168.0.1.
Cluster base() {
  Cluster c;
  c.ns("default").ns("prod", {{"team", "blue"}});
  c.pod("default/web", "10.0.0.10,fd00::10", {{"app", "web"}});
  c.pod("default/client", "10.0.0.11,fd00::11", {{"app", "client"}});
  c.pod("default/db", "10.0.0.12,fd00::12", {{"app", "db"}});
  c.pod("prod/remote", "10.0.1.11,fd00:1::11", {{"app", "client"}}, {}, "node-b");
  c.host_ips = {*IpAddress::parse("192.168.0.1"), *IpAddress::parse("fd00:ff::1")};
  return c;
}

const char* kAllowClientToWeb80 = R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: 80}]
)";

const char* kDenyAllWeb = R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: deny-web, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
)";

// A rule of a ClusterNetworkPolicy, and its entries for one endpoint.
struct TestRule {
  std::string policy;
  bf_tier tier = BF_TIER_ADMIN;
  bf_direction dir = BF_DIR_INGRESS;
  uint32_t index = 0;
  uint8_t action = BF_CNP_DENY;
  uint32_t rank = 0;
};

struct Entry {
  uint32_t peer = 0;
  uint8_t proto = 0;
  uint16_t port = 0;
  int bits = 0;  // port prefix bits (0: every port)
};

// Adds the rule (id BF_CNP_RULE_FIRST + n, n its position in cluster_rules)
// with the given entries at `pod`, and marks the pod's stage.
uint32_t add_rule(DesiredState& s, const std::string& pod, const TestRule& r, const std::vector<Entry>& entries) {
  uint32_t id = 0;
  for (const auto& [rid, ref] : s.cluster_rules)
    if (ref.policy == r.policy && ref.direction == r.dir && ref.index == r.index) id = rid;
  if (id == 0) id = BF_CNP_RULE_FIRST + static_cast<uint32_t>(s.cluster_rules.size());
  CnpRuleRef ref;
  ref.policy = r.policy;
  ref.tier = r.tier == BF_TIER_ADMIN ? CnpTier::Admin : CnpTier::Baseline;
  ref.direction = r.dir;
  ref.index = r.index;
  ref.action = r.action == BF_CNP_ACCEPT ? CnpAction::Accept : r.action == BF_CNP_PASS ? CnpAction::Pass : CnpAction::Deny;
  s.cluster_rules[id] = ref;
  EndpointState& es = s.endpoints.at(pod);
  es.cnp_stages |= BF_CNP_STAGE(r.dir, r.tier);
  for (const Entry& e : entries) {
    ClusterKey k;
    k.k.endpoint_id = es.endpoint_id;
    k.k.peer_identity = e.peer;
    k.k.direction = r.dir;
    k.k.tier = r.tier;
    k.k.proto = e.proto;
    k.k.port = htons(e.port);
    k.k.prefixlen = e.proto == 0 ? BF_CNP_PEER_BITS : BF_CNP_FIXED_BITS + e.bits;
    s.cluster[k] = ClusterEntry{r.rank, id, r.action};
  }
  return id;
}

// The walk of one new connection, addressed by pod name or literal IP.
SimVerdict go(const ipt::Model& m, const Compiler& c, const std::string& from, const std::string& to,
              uint8_t proto = 6, uint16_t port = 80) {
  return walk(m, c, from, to, proto, port);
}

bool rule_with(const ipt::Model& m, const std::string& chain, const std::string& text, Family f = Family::V4) {
  for (const std::string& l : lines(m, chain, f))
    if (l.find(text) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("cnp: an Admin Deny beats a NetworkPolicy allow, counted by its comment", "[iptables][cnp]") {
  auto c = base().policy(kAllowClientToWeb80).compile("node-a");
  DesiredState s = c.state();
  add_rule(s, "default/web", {"no-client", BF_TIER_ADMIN, BF_DIR_INGRESS, 0, BF_CNP_DENY, 100 << 16},
           {{identity_of(c, "default/client"), 6, 80, 16}});
  auto m = render_model(s);
  std::string in = chain_of(c, "default/web", BF_DIR_INGRESS);
  CHECK(rule_with(m, in, "-m comment --comment \"AdminDeny cnp/no-client ingress[0]\" -j DROP"));
  CHECK(go(m, c, "default/client", "default/web", 6, 80) == SimVerdict::Drop);
  CHECK(go(m, c, "fd00::11", "fd00::10", 6, 80) == SimVerdict::Drop);
  // Another port: the NetworkPolicy step decides (isolated, not allowed).
  CHECK(go(m, c, "default/client", "default/web", 6, 81) == SimVerdict::Drop);
  // Without the Admin rule the NetworkPolicy allows it.
  auto plain = render_model(c.state());
  CHECK(go(plain, c, "default/client", "default/web", 6, 80) == SimVerdict::Pass);
  // The node is exempt only after the Admin stage; it is no pod, so this
  // pod-identity rule does not match it.
  CHECK(go(m, c, "192.168.0.1", "default/web", 6, 80) == SimVerdict::Pass);
  // The pod itself is not subject to cluster policies.
  CHECK(go(m, c, "default/web", "default/web", 6, 80) == SimVerdict::Pass);
  // Established flows are accepted first (the dataplane deletes those a
  // change denies from conntrack).
  CHECK(walk(m, c, "default/client", "default/web", 6, 80, ipt::SimPacket::Ct::Established) == SimVerdict::Accept);

  // The counters read the comment's first word.
  std::string saved = "*filter\n[7:420] -A " + in +
                      " -s 10.0.0.11/32 -p tcp -m tcp --dport 80 -m comment --comment \"AdminDeny cnp/no-client "
                      "ingress[0]\" -j DROP\n[3:180] -A " +
                      in + " -m comment --comment \"BaselineAccept cnp/b ingress[1]\" -j RETURN\n[2:120] -A " + in +
                      " -m comment --comment \"AdminPass cnp/p ingress[0]\" -g " + in + "P\nCOMMIT\n";
  auto counters = ipt::parse_rule_counters(saved, test_names());
  REQUIRE(counters.size() == 2);
  CHECK(counters[0].action == BF_ACT_FORWARD);
  CHECK(counters[0].reason == BF_R_BASELINE_ACCEPT);
  CHECK(counters[0].packets == 3);
  CHECK(counters[1].action == BF_ACT_DROP);
  CHECK(counters[1].reason == BF_R_ADMIN_DENY);
  CHECK(counters[1].packets == 7);
}

TEST_CASE("cnp: an Admin Accept lets a peer into a pod a NetworkPolicy isolates, IPv4 and IPv6", "[iptables][cnp]") {
  auto c = base().policy(kDenyAllWeb).compile("node-a");
  DesiredState s = c.state();
  add_rule(s, "default/web", {"monitoring", BF_TIER_ADMIN, BF_DIR_INGRESS, 0, BF_CNP_ACCEPT, 5 << 16},
           {{identity_of(c, "prod/remote"), 6, 9090, 16}});
  auto m = render_model(s);
  CHECK(go(m, c, "prod/remote", "default/web", 6, 9090) == SimVerdict::Pass);
  CHECK(go(m, c, "fd00:1::11", "fd00::10", 6, 9090) == SimVerdict::Pass);
  CHECK(go(m, c, "prod/remote", "default/web", 6, 9091) == SimVerdict::Drop);
  CHECK(go(m, c, "fd00:1::11", "fd00::10", 6, 9091) == SimVerdict::Drop);
  CHECK(go(m, c, "default/client", "default/web", 6, 9090) == SimVerdict::Drop);
  CHECK(rule_with(m, chain_of(c, "default/web", BF_DIR_INGRESS), "AdminAccept cnp/monitoring ingress[0]\" -j RETURN",
                  Family::V6));
}

TEST_CASE("cnp: an Admin Pass skips the rest of its stage, to the NetworkPolicy step or Baseline", "[iptables][cnp]") {
  auto c = base().policy(kAllowClientToWeb80).compile("node-a");
  DesiredState s = c.state();
  // Admin: pass client (rank 1), then deny every pod every protocol (rank 2).
  add_rule(s, "default/web", {"pass-client", BF_TIER_ADMIN, BF_DIR_INGRESS, 0, BF_CNP_PASS, 1 << 16},
           {{identity_of(c, "default/client"), 0, 0, 0}});
  add_rule(s, "default/web", {"deny-pods", BF_TIER_ADMIN, BF_DIR_INGRESS, 0, BF_CNP_DENY, 2 << 16},
           {{BF_ID_ANY_POD, 0, 0, 0}});
  // Not isolated db: the same Pass, then a Baseline Deny of every pod.
  add_rule(s, "default/db", {"pass-client", BF_TIER_ADMIN, BF_DIR_INGRESS, 0, BF_CNP_PASS, 1 << 16},
           {{identity_of(c, "default/client"), 0, 0, 0}});
  add_rule(s, "default/db", {"deny-pods", BF_TIER_ADMIN, BF_DIR_INGRESS, 0, BF_CNP_DENY, 2 << 16},
           {{identity_of(c, "prod/remote"), 0, 0, 0}});
  add_rule(s, "default/db", {"baseline", BF_TIER_BASELINE, BF_DIR_INGRESS, 0, BF_CNP_DENY, 1 << 16},
           {{BF_ID_ANY_POD, 6, 0, 0}});
  auto m = render_model(s);
  std::string in = chain_of(c, "default/web", BF_DIR_INGRESS);
  CHECK(rule_with(m, in, "-m comment --comment \"AdminPass cnp/pass-client ingress[0]\" -g " + in + "P"));
  // client: passed to the NetworkPolicy step, which allows 80 only.
  CHECK(go(m, c, "default/client", "default/web", 6, 80) == SimVerdict::Pass);
  CHECK(go(m, c, "default/client", "default/web", 6, 81) == SimVerdict::Drop);
  CHECK(go(m, c, "fd00::11", "fd00::10", 6, 80) == SimVerdict::Pass);
  // Every other pod: denied by the Admin rule, whatever the protocol.
  CHECK(go(m, c, "prod/remote", "default/web", 17, 53) == SimVerdict::Drop);
  CHECK(go(m, c, "fd00:1::11", "fd00::10", 1, 0) == SimVerdict::Drop);
  // The node is no pod: the NetworkPolicy step's host exemption.
  CHECK(go(m, c, "192.168.0.1", "default/web", 6, 81) == SimVerdict::Pass);
  // db: client passed to Baseline, which denies TCP from every pod.
  CHECK(go(m, c, "default/client", "default/db", 6, 5432) == SimVerdict::Drop);
  CHECK(go(m, c, "default/client", "default/db", 17, 53) == SimVerdict::Pass);
  CHECK(go(m, c, "prod/remote", "default/db", 17, 53) == SimVerdict::Drop);
  CHECK(rule_with(m, chain_of(c, "default/db", BF_DIR_INGRESS) + "P", "BaselineDeny cnp/baseline ingress[0]"));
}

TEST_CASE("cnp: Baseline decides only where no NetworkPolicy isolates the pod that way", "[iptables][cnp]") {
  auto base_cluster = base();
  auto c = base_cluster.compile("node-a");
  DesiredState s = c.state();
  TestRule deny_rule{"default-deny", BF_TIER_BASELINE, BF_DIR_INGRESS, 1, BF_CNP_DENY, 7 << 16};
  TestRule accept_rule{"default-deny", BF_TIER_BASELINE, BF_DIR_INGRESS, 0, BF_CNP_ACCEPT, 7 << 16 | 0};
  deny_rule.rank = 7 << 16 | 1;
  add_rule(s, "default/web", accept_rule, {{identity_of(c, "default/db"), 6, 5432, 16}});
  add_rule(s, "default/web", deny_rule, {{BF_ID_ANY_POD, 0, 0, 0}});
  auto m = render_model(s);
  std::string in = chain_of(c, "default/web", BF_DIR_INGRESS);
  CHECK(rule_with(m, in, "BaselineDeny cnp/default-deny ingress[1]\" -j DROP"));
  CHECK(go(m, c, "default/client", "default/web", 6, 80) == SimVerdict::Drop);
  CHECK(go(m, c, "fd00::11", "fd00::10", 6, 80) == SimVerdict::Drop);
  CHECK(go(m, c, "default/db", "default/web", 6, 5432) == SimVerdict::Pass);
  CHECK(go(m, c, "default/db", "default/web", 6, 5433) == SimVerdict::Drop);
  CHECK(go(m, c, "192.168.0.1", "default/web", 6, 80) == SimVerdict::Pass);
  // Egress is not isolated by the ingress stage: no egress chain.
  CHECK(lines(m, chain_of(c, "default/web", BF_DIR_EGRESS)).empty());

  // A NetworkPolicy isolating web's ingress: its step decides, Baseline is gone.
  auto isolated = base_cluster.policy(kAllowClientToWeb80).compile("node-a");
  DesiredState si = isolated.state();
  add_rule(si, "default/web", accept_rule, {{identity_of(isolated, "default/db"), 6, 5432, 16}});
  add_rule(si, "default/web", deny_rule, {{BF_ID_ANY_POD, 0, 0, 0}});
  auto mi = render_model(si);
  CHECK_FALSE(rule_with(mi, in, "Baseline"));
  CHECK(go(mi, isolated, "default/client", "default/web", 6, 80) == SimVerdict::Pass);
  CHECK(go(mi, isolated, "default/db", "default/web", 6, 5432) == SimVerdict::Drop);
}

TEST_CASE("cnp: Admin egress to a network covering the node comes before the node's exemption", "[iptables][cnp]") {
  auto c = base().policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: egress, namespace: default}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 192.168.0.0/16}}, {ipBlock: {cidr: "fd00:ff::/64"}}]
)").compile("node-a");
  DesiredState s = c.state();
  uint32_t v4 = cidr_identity(c, "192.168.0.0/16"), v6 = cidr_identity(c, "fd00:ff::/64");
  add_rule(s, "default/client", {"no-nodes", BF_TIER_ADMIN, BF_DIR_EGRESS, 0, BF_CNP_DENY, 1 << 16},
           {{v4, 6, 10250, 16}, {v6, 6, 10250, 16}});
  auto m = render_model(s);
  CHECK(go(m, c, "default/client", "192.168.0.1", 6, 10250) == SimVerdict::Drop);
  CHECK(go(m, c, "default/client", "fd00:ff::1", 6, 10250) == SimVerdict::Drop);
  CHECK(go(m, c, "default/client", "192.168.0.1", 6, 22) == SimVerdict::Pass);
  CHECK(go(m, c, "default/client", "192.168.7.7", 6, 10250) == SimVerdict::Drop);
  CHECK(go(m, c, "default/client", "192.168.7.7", 6, 22) == SimVerdict::Pass);
  // A bridged frame (in by the bridge, from the client's port) meets it too.
  ipt::SimPacket p;
  p.src = address_of(c, "default/client");
  p.dst = *IpAddress::parse("192.168.7.7");
  p.proto = 6;
  p.dport = 10250;
  p.in_iface = "cni0";
  p.out_iface = "uplink";
  p.physdev_in = ifname_of("default/client");
  CHECK(ipt::simulate_forward(m, test_names(), Family::V4, p) == SimVerdict::Drop);
  p.dport = 22;
  CHECK(ipt::simulate_forward(m, test_names(), Family::V4, p) == SimVerdict::Pass);
}

TEST_CASE("cnp: port prefixes are port ranges, proto 0 every protocol, the smallest rank first", "[iptables][cnp]") {
  auto c = base().compile("node-a");
  DesiredState s = c.state();
  uint32_t client = identity_of(c, "default/client");
  // Rank 3 accepts client on 8192-8447 (a /8 port prefix); rank 4 denies
  // client everything; rank 2 denies 8200 (its pushed-down copy on the
  // more specific prefix carries rank 2 too).
  add_rule(s, "default/web", {"a", BF_TIER_ADMIN, BF_DIR_INGRESS, 0, BF_CNP_ACCEPT, 3}, {{client, 6, 8192, 8}});
  add_rule(s, "default/web", {"a", BF_TIER_ADMIN, BF_DIR_INGRESS, 1, BF_CNP_DENY, 4}, {{client, 0, 0, 0}});
  add_rule(s, "default/web", {"a", BF_TIER_ADMIN, BF_DIR_INGRESS, 2, BF_CNP_DENY, 2},
           {{client, 6, 8200, 16}, {client, 6, 8200, 16}});
  auto m = render_model(s);
  CHECK(rule_with(m, chain_of(c, "default/web", BF_DIR_INGRESS), "--dport 8192:8447"));
  CHECK(go(m, c, "default/client", "default/web", 6, 8192) == SimVerdict::Pass);
  CHECK(go(m, c, "default/client", "default/web", 6, 8447) == SimVerdict::Pass);
  CHECK(go(m, c, "default/client", "default/web", 6, 8200) == SimVerdict::Drop);
  CHECK(go(m, c, "default/client", "default/web", 6, 8448) == SimVerdict::Drop);
  CHECK(go(m, c, "default/client", "default/web", 17, 8192) == SimVerdict::Drop);
  CHECK(go(m, c, "default/client", "default/web", 1, 0) == SimVerdict::Drop);
  CHECK(go(m, c, "default/db", "default/web", 6, 8192) == SimVerdict::Pass);
}

TEST_CASE("cnp: incremental renders equal full ones as rules, stages and pods come and go", "[iptables][cnp]") {
  auto c = base().policy(kAllowClientToWeb80).compile("node-a");
  const DesiredState s0 = c.state();
  ipt::Renderer r(test_names(), true);
  auto ifnames = bind_all(s0);
  REQUIRE(r.render_all(s0, ifnames, {}).is_ok());

  // Step by step: the state after each change, and the change as a diff.
  DesiredState cur = s0;
  auto step = [&](const DesiredState& next, const char* what) {
    INFO(what);
    StateDiff d;
    for (const auto& [k, e] : next.cluster)
      if (auto it = cur.cluster.find(k); it == cur.cluster.end() || !(it->second == e)) d.cluster.upsert.push_back({k, e});
    for (const auto& [k, e] : cur.cluster)
      if (!next.cluster.count(k)) d.cluster.erase.push_back(k);
    for (const auto& [id, ref] : next.cluster_rules)
      if (auto it = cur.cluster_rules.find(id); it == cur.cluster_rules.end() || !(it->second == ref))
        d.cluster_rules.upsert.push_back({id, ref});
    for (const auto& [id, ref] : cur.cluster_rules)
      if (!next.cluster_rules.count(id)) d.cluster_rules.erase.push_back(id);
    for (const auto& [pod, es] : next.endpoints)
      if (!(cur.endpoints.at(pod) == es)) d.endpoints.upsert.push_back({pod, es});
    for (const auto& [ip, id] : next.pod_addrs)
      if (auto it = cur.pod_addrs.find(ip); it == cur.pod_addrs.end() || it->second != id)
        d.pod_addrs.upsert.push_back({ip, id});
    for (const auto& [ip, id] : cur.pod_addrs)
      if (!next.pod_addrs.count(ip)) d.pod_addrs.erase.push_back(ip);
    REQUIRE(r.render_changes(next, d, ifnames, {}, {}).is_ok());
    ipt::Model full;
    ipt::RenderInput in;
    in.state = &next;
    in.names = test_names();
    in.ifnames = ifnames;
    REQUIRE(ipt::render(in, &full).is_ok());
    check_same(r.model(), full);
    cur = next;
  };

  DesiredState s1 = cur;
  uint32_t client = identity_of(c, "default/client");
  add_rule(s1, "default/web", {"pass", BF_TIER_ADMIN, BF_DIR_INGRESS, 0, BF_CNP_PASS, 1}, {{client, 6, 80, 16}});
  add_rule(s1, "default/web", {"deny", BF_TIER_ADMIN, BF_DIR_INGRESS, 0, BF_CNP_DENY, 2}, {{BF_ID_ANY_POD, 0, 0, 0}});
  add_rule(s1, "default/client", {"base", BF_TIER_BASELINE, BF_DIR_EGRESS, 0, BF_CNP_DENY, 1},
           {{BF_ID_ANY_POD, 17, 0, 0}});
  step(s1, "an Admin Pass and Deny at web, a Baseline Deny at client");

  DesiredState s2 = s1;
  // A new pod address joins the every-pod set.
  s2.pod_addrs[*IpAddress::parse("10.0.3.3")] = identity_of(c, "prod/remote");
  step(s2, "a new pod address");

  DesiredState s3 = s2;
  for (auto it = s3.cluster.begin(); it != s3.cluster.end();)
    it = it->second.action == BF_CNP_PASS ? s3.cluster.erase(it) : std::next(it);
  step(s3, "the Pass goes: its -P chain with it");

  DesiredState s3b = s3;
  for (auto& [k, e] : s3b.cluster)
    if (e.action == BF_CNP_DENY && k.k.tier == BF_TIER_ADMIN) e.action = BF_CNP_ACCEPT;
  step(s3b, "an entry changes action, nothing else");
  CHECK(walk(r.model(), c, "prod/remote", "default/web", 17, 53) == SimVerdict::Pass);

  DesiredState s4 = s3b;
  for (auto& [id, ref] : s4.cluster_rules)
    if (ref.policy == "deny") ref.policy = "renamed";
  step(s4, "a rule renamed: comments follow");

  DesiredState s5 = s4;
  s5.cluster.clear();
  s5.cluster_rules.clear();
  for (auto& [pod, es] : s5.endpoints) es.cnp_stages = 0;
  step(s5, "every cluster policy gone");
  auto before = render_model(s0);
  CHECK(r.model().chains_v4 == before.chains_v4);
  CHECK(r.model().chains_v6 == before.chains_v6);
}

namespace {

// Cluster policies with every action, both tiers, both directions,
// overlapping priorities, networks over the node and outside, port ranges
// and every-protocol rules, applied one at a time through the compiler.
const char* kCnps[] = {
    R"(
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: pass-client}
spec:
  tier: Admin
  priority: 5
  subject: {namespaces: {}}
  ingress:
  - action: Pass
    from: [{pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: client}}}}]
    protocols: [{tcp: {destinationPort: {range: {start: 80, end: 90}}}}]
)",
    R"(
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: admin-deny}
spec:
  tier: Admin
  priority: 10
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: default}}}
  ingress:
  - action: Accept
    from: [{pods: {namespaceSelector: {matchLabels: {team: blue}}, podSelector: {}}}]
    protocols: [{tcp: {destinationPort: {number: 9090}}}]
  - action: Deny
    from: [{namespaces: {}}]
  egress:
  - action: Deny
    to: [{networks: [192.168.0.0/16, "fd00:ff::/64"]}]
    protocols: [{tcp: {destinationPort: {range: {start: 10000, end: 10300}}}}]
  - action: Accept
    to: [{networks: [8.8.8.0/24]}]
)",
    R"(
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: same-priority-a}
spec:
  tier: Admin
  priority: 10
  subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: db}}}}
  ingress:
  - action: Accept
    from: [{pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: web}}}}]
)",
    R"(
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: baseline}
spec:
  tier: Baseline
  priority: 3
  subject: {namespaces: {}}
  ingress:
  - action: Accept
    from: [{pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: web}}}}]
    protocols: [{udp: {destinationPort: {number: 53}}}]
  - action: Deny
    from: [{namespaces: {}}]
  egress:
  - action: Pass
    to: [{networks: [8.8.0.0/16]}]
  - action: Deny
    to: [{networks: [0.0.0.0/0, "::/0"]}]
)",
};

}  // namespace

TEST_CASE("cnp: the compiler's entries rendered give verdict() on every probe, step by step", "[iptables][cnp]") {
  Cluster cl = base();
  cl.pod("prod/blue", "10.0.1.20,fd00:1::20", {{"app", "scraper"}}, {}, "node-b");
  cl.policy(kAllowClientToWeb80);
  Compiler c = cl.compile("node-a");
  ipt::Renderer r(test_names(), true);
  REQUIRE(r.render_all(c.state(), bind_all(c.state()), {}).is_ok());
  const std::vector<std::string> who = {"default/web",  "default/client", "default/db",  "prod/remote", "prod/blue",
                                        "192.168.0.1",  "192.168.3.3",    "8.8.8.8",     "8.8.4.4",     "1.1.1.1",
                                        "fd00::10",     "fd00::11",       "fd00::12",    "fd00:1::11",  "fd00:ff::1",
                                        "fd00:ff::9",   "2001:db8::1"};
  const std::vector<std::pair<uint8_t, uint16_t>> ports = {{6, 80},   {6, 85},     {6, 91},  {6, 9090}, {6, 10250},
                                                           {17, 53},  {17, 10250}, {1, 0},   {58, 0}};
  int allowed = 0, denied = 0;
  auto probe_all = [&](const std::string& step) {
    auto full = render_model(c.state());
    {
      INFO(step << ": incremental render");
      check_same(r.model(), full);
    }
    for (const auto& from : who)
      for (const auto& to : who) {
        IpAddress a = address_of(c, from), b = address_of(c, to);
        if (a.is_v4() != b.is_v4() || from == to) continue;
        for (auto [proto, port] : ports) {
          if ((proto == 1 && !a.is_v4()) || (proto == 58 && a.is_v4())) continue;
          bool want = c.verdict(a, b, proto, port).allowed;
          ++(want ? allowed : denied);
          bool states = StateVerdicts(c.state()).verdict(a, b, proto, port).allowed;
          bool got = walk_allows(full, c, from, to, proto, port);
          if (got != want || states != want) {
            INFO(step << ": " << from << " -> " << to << " proto " << int(proto) << " port " << port << " verdict "
                      << (want ? "allow" : "deny") << ", StateVerdicts " << (states ? "allow" : "deny"));
            CHECK(got == want);
            CHECK(states == want);
          }
        }
      }
  };
  probe_all("no cluster policy");
  for (const char* yaml : kCnps) {
    auto parsed = parse_manifests(yaml, "cnp.yaml");
    REQUIRE(parsed.errors.empty());
    const auto& cnp = std::get<ClusterNetworkPolicy>(parsed.objects.at(0));
    c.upsert(cnp);
    auto diff = c.commit();
    REQUIRE(r.render_changes(c.state(), diff, bind_all(c.state()), {}, {}).is_ok());
    probe_all("+ " + cnp.name);
  }
  // A pod moving into the Accept's blue namespace changes only sets.
  Namespace blue_default{"default", {{"kubernetes.io/metadata.name", "default"}, {"team", "blue"}}, ""};
  c.upsert(blue_default);
  REQUIRE(r.render_changes(c.state(), c.commit(), bind_all(c.state()), {}, {}).is_ok());
  probe_all("default labelled blue");
  for (const char* name : {"pass-client", "baseline", "admin-deny", "same-priority-a"}) {
    c.erase_cluster_policy(name);
    REQUIRE(r.render_changes(c.state(), c.commit(), bind_all(c.state()), {}, {}).is_ok());
    probe_all(std::string("- ") + name);
  }
  CHECK(allowed > 200);
  CHECK(denied > 200);
  CHECK(c.state().cluster.empty());
}
