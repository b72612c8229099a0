// ClusterNetworkPolicy manifests through the real compiler and the real
// program: every packet's verdict, reason and rule must be the ones
// Compiler::verdict() gives for the same side, so compiler and datapath
// are checked together (IPv4 and IPv6, each evaluation step).
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include <catch2/catch.hpp>

#include "bpfence/parse.h"
#include "cases.h"
#include "cluster.h"

using namespace bpfence;
using namespace bpfence::testdp;
using namespace bpfence::testpkt;

namespace {

void apply_manifests(Fixture& f, const std::string& yaml) {
  ParseResult r = parse_manifests(yaml, "test.yaml");
  for (const ParseError& e : r.errors) FAIL(e.str());
  for (const Object& o : r.objects)
    std::visit([&](const auto& obj) { f.compiler().upsert(obj); }, o);
}

struct Probe {
  std::string name;
  std::string pod;  // the local endpoint whose side is checked
  bf_direction dir;
  Pkt pkt;
  bf_reason expect;  // written by hand from the spec: the compiler must agree too
};

// The program's verdict at `pod` must be Compiler::verdict()'s for that side.
void check_against_compiler(Fixture& f, const std::vector<Probe>& probes) {
  for (const Probe& p : probes) {
    INFO("probe: " << p.name);
    const Tuple& t = *p.pkt.tuple;
    Verdict v = f.compiler().verdict(*IpAddress::parse(t.src), *IpAddress::parse(t.dst), t.proto, t.dport);
    const SideVerdict& side = p.dir == BF_DIR_INGRESS ? v.ingress : v.egress;
    REQUIRE(side.evaluated);
    CHECK(side.reason == p.expect);
    int tc = f.run(p.pod, p.dir, p.pkt.bytes);
    CHECK(tc == (side.allowed ? kPass : kDrop));
    auto flow = f.flow(p.pod, p.dir, t.src, t.dst, t.proto, t.sport, t.dport);
    REQUIRE(flow.has_value());
    CHECK(flow->reason == side.reason);
    std::string want = side.cnp_rule ? side.cnp_rule->str() : side.rule ? side.rule->str() : "";
    CHECK(f.rule(flow->rule_id) == want);
  }
}

const char* kPolicies = R"(
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: deny-client-web}
spec:
  tier: Admin
  priority: 10
  subject:
    pods:
      namespaceSelector: {}
      podSelector: {matchLabels: {app: web}}
  ingress:
  - name: pass-client-80
    action: Pass
    from:
    - pods:
        namespaceSelector: {}
        podSelector: {matchLabels: {app: client}}
    protocols:
    - tcp: {destinationPort: {number: 80}}
  - name: accept-other-9000s
    action: Accept
    from:
    - pods:
        namespaceSelector: {}
        podSelector: {matchLabels: {app: other}}
    protocols:
    - tcp: {destinationPort: {range: {start: 9000, end: 9100}}}
  - name: deny-pods
    action: Deny
    from:
    - namespaces: {}
  egress:
  - name: no-kubelet
    action: Deny
    to:
    - networks: [10.0.0.0/24, "fd00::/120"]
    protocols:
    - tcp: {destinationPort: {number: 10250}}
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: baseline-client}
spec:
  tier: Baseline
  priority: 5
  subject:
    pods:
      namespaceSelector: {}
      podSelector: {matchLabels: {app: client}}
  ingress:
  - name: deny-all
    action: Deny
    from:
    - namespaces: {}
)";

// Rules of one policy on one peer (client pods), for every protocol and
// for TCP ports, in both orders: a single lookup per peer must still give
// the first matching rule.
const char* kSamePeer = R"(
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: client-rules}
spec:
  tier: Admin
  priority: 20
  subject:
    pods:
      namespaceSelector: {}
      podSelector: {matchLabels: {app: web}}
  ingress:
  - name: accept-8080
    action: Accept
    from:
    - pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: client}}}
    protocols:
    - tcp: {destinationPort: {number: 8080}}
  - name: deny-client
    action: Deny
    from:
    - pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: client}}}
  - name: accept-9000s
    action: Accept
    from:
    - pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: client}}}
    protocols:
    - tcp: {destinationPort: {range: {start: 9000, end: 9100}}}
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: every-pod}
spec:
  tier: Admin
  priority: 30
  subject:
    pods:
      namespaceSelector: {}
      podSelector: {matchLabels: {app: web}}
  ingress:
  - name: accept-pods-9050
    action: Accept
    from:
    - namespaces: {}
    protocols:
    - tcp: {destinationPort: {number: 9050}}
  - name: deny-pods
    action: Deny
    from:
    - namespaces: {}
)";

// The cluster_policy keys in a map, sorted.
std::vector<ClusterKey> cluster_keys(int fd) {
  std::vector<ClusterKey> keys;
  bf_cnp_key k{}, next{};
  const bf_cnp_key* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    keys.push_back(ClusterKey{next});
    k = next;
    prev = &k;
  }
  std::sort(keys.begin(), keys.end());
  return keys;
}

}  // namespace

TEST_CASE("CNP manifests: every-protocol and port rules of one peer decide in rule order", "[policy][cnp]") {
  Fixture f;
  add_cluster(f);
  apply_manifests(f, kSamePeer);
  f.commit();
  const char* w = "10.0.1.10";
  const char* c = "10.0.1.11";
  const char* o = "10.0.1.12";
  check_against_compiler(
      f, {
             {"client 8080: the Accept before the every-protocol Deny", kWeb, BF_DIR_INGRESS,
              tcp4(c, 40000, w, 8080), BF_R_ADMIN_ACCEPT},
             {"IPv6 client 8080", kWeb, BF_DIR_INGRESS, tcp6("fd00::11", 40000, "fd00::10", 8080),
              BF_R_ADMIN_ACCEPT},
             {"client 8081: the Deny", kWeb, BF_DIR_INGRESS, tcp4(c, 40000, w, 8081), BF_R_ADMIN_DENY},
             {"client 9050: the Deny before the later Accepts", kWeb, BF_DIR_INGRESS, tcp4(c, 40000, w, 9050),
              BF_R_ADMIN_DENY},
             {"IPv6 client 9000", kWeb, BF_DIR_INGRESS, tcp6("fd00::11", 40000, "fd00::10", 9000),
              BF_R_ADMIN_DENY},
             {"client UDP", kWeb, BF_DIR_INGRESS, udp4(c, 40000, w, 8080), BF_R_ADMIN_DENY},
             {"client ping", kWeb, BF_DIR_INGRESS, ping4(c, w, 3), BF_R_ADMIN_DENY},
             {"other 9050: every pod's port Accept first", kWeb, BF_DIR_INGRESS, tcp4(o, 40000, w, 9050),
              BF_R_ADMIN_ACCEPT},
             {"other 9051: every pod's Deny", kWeb, BF_DIR_INGRESS, tcp4(o, 40000, w, 9051), BF_R_ADMIN_DENY},
             {"other ping", kWeb, BF_DIR_INGRESS, ping4(o, w, 4), BF_R_ADMIN_DENY},
         });
  // The port Accepts behind the every-protocol Deny of their peer say
  // nothing of their own: only 8080 is written beside the Deny.
  size_t client_entries = 0;
  const uint32_t client = f.identity_of(c);
  for (const auto& [k, e] : f.compiler().state().cluster)
    if (k.k.peer_identity == client) ++client_entries;
  CHECK(client_entries == 2);
}

// An agent of the previous layout wrote an every-protocol entry as proto 0
// at BF_CNP_FIXED_BITS, next to port entries that did not carry its rank.
// The new agent's first apply after open makes the trie hold exactly its
// own entries: a stale port entry would otherwise win the one lookup.
TEST_CASE("CNP: an agent upgrade drops the cluster_policy entries of the previous layout", "[policy][cnp][pinning]") {
  Fixture f;
  add_cluster(f);
  apply_manifests(f, kSamePeer);
  f.commit();
  const DesiredState& state = f.compiler().state();
  const std::vector<ClusterKey> desired = [&] {
    std::vector<ClusterKey> keys;
    for (const auto& [k, e] : state.cluster) keys.push_back(k);
    std::sort(keys.begin(), keys.end());
    return keys;
  }();
  uint32_t deny_id = 0, accept_id = 0;
  for (const auto& [id, ref] : state.cluster_rules) {
    if (ref.policy == "client-rules" && ref.index == 1) deny_id = id;
    if (ref.policy == "client-rules" && ref.index == 2) accept_id = id;
  }
  REQUIRE(deny_id);
  REQUIRE(accept_id);

  // What the previous agent left for client: Deny every protocol (proto 0
  // at 96 bits) and Accept on 9000-9100 at its own rank (the prefix
  // 9024-9087 here).
  const int fd = f.dataplane().map_fd("cluster_policy");
  bf_cnp_key old{};
  old.prefixlen = BF_CNP_FIXED_BITS;
  old.endpoint_id = f.endpoint_id(kWeb);
  old.peer_identity = f.identity_of("10.0.1.11");
  old.direction = BF_DIR_INGRESS;
  old.tier = BF_TIER_ADMIN;
  bf_cnp_value deny{20u << 16 | 1, deny_id, BF_CNP_DENY, {}};
  REQUIRE(bpf_map_update_elem(fd, &old, &deny, BPF_ANY) == 0);
  old.prefixlen = BF_CNP_FIXED_BITS + 10;
  old.proto = 6;
  old.port = htons(9024);
  bf_cnp_value accept{20u << 16 | 2, accept_id, BF_CNP_ACCEPT, {}};
  REQUIRE(bpf_map_update_elem(fd, &old, &accept, BPF_ANY) == 0);
  REQUIRE(cluster_keys(fd).size() == desired.size() + 2);

  BpfDataplaneOptions o;
  o.pin_dir = f.pin_dir();
  o.max_flows = 8192;  // a pinned flow table keeps its own size
  BpfDataplane again(o);
  REQUIRE(again.open());
  REQUIRE(again.reused_pinned_maps());
  REQUIRE(again.apply(StateDiff{}, state));  // full resync
  REQUIRE(again.bind({kWeb, f.ifindex(kWeb), "web"}, state));
  CHECK(cluster_keys(again.map_fd("cluster_policy")) == desired);

  Pkt syn = tcp4("10.0.1.11", 40000, "10.0.1.10", 9050);
  __sk_buff ctx{};
  ctx.ifindex = f.ifindex(kWeb);
  LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = syn.bytes.data(), .data_size_in = static_cast<__u32>(syn.bytes.size()),
              .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);
  REQUIRE(bpf_prog_test_run_opts(again.program_fd(BF_DIR_INGRESS), &run) == 0);
  CHECK(run.retval == kDrop);
}

TEST_CASE("CNP manifests: the program agrees with Compiler::verdict() at every step", "[policy][cnp]") {
  Fixture f({"10.0.0.1", "fd00::1"});
  add_cluster(f);
  PolicyRule r;
  r.peers = {pod_peer({{"app", "client"}})};
  r.ports = {port(80)};
  f.compiler().upsert(ingress_policy("dev", "web-allow", {{"app", "web"}}, {r}));
  apply_manifests(f, kPolicies);
  f.commit();
  const char* w = "10.0.1.10";
  const char* c = "10.0.1.11";
  const char* o = "10.0.1.12";
  check_against_compiler(
      f, {
             {"Pass, then the NetworkPolicy allows", kWeb, BF_DIR_INGRESS, tcp4(c, 40000, w, 80), BF_R_POLICY},
             {"IPv6 Pass, NetworkPolicy", kWeb, BF_DIR_INGRESS, tcp6("fd00::11", 40000, "fd00::10", 80), BF_R_POLICY},
             {"client on 81: Admin Deny", kWeb, BF_DIR_INGRESS, tcp4(c, 40000, w, 81), BF_R_ADMIN_DENY},
             {"other on 9050: Admin Accept beats isolation", kWeb, BF_DIR_INGRESS, tcp4(o, 40000, w, 9050),
              BF_R_ADMIN_ACCEPT},
             {"IPv6 other on 9100", kWeb, BF_DIR_INGRESS, tcp6("fd00::12", 40000, "fd00::10", 9100),
              BF_R_ADMIN_ACCEPT},
             {"other pings: Admin Deny (every protocol)", kWeb, BF_DIR_INGRESS, ping4(o, w, 3), BF_R_ADMIN_DENY},
             {"remote pod: Admin Deny", kWeb, BF_DIR_INGRESS, tcp4("10.0.3.30", 40000, w, 80), BF_R_ADMIN_DENY},
             {"not a pod: NetworkPolicy denies", kWeb, BF_DIR_INGRESS, tcp4("192.168.5.5", 40000, w, 80),
              BF_R_FW_POLICY},
             {"the node: Host", kWeb, BF_DIR_INGRESS, tcp4("10.0.0.1", 40000, w, 80), BF_R_HOST},
             {"self", kWeb, BF_DIR_INGRESS, tcp4(w, 40001, w, 80), BF_R_SELF},
             {"web->node:10250: networks Deny", kWeb, BF_DIR_EGRESS, tcp4(w, 40002, "10.0.0.1", 10250),
              BF_R_ADMIN_DENY},
             {"IPv6 web->node:10250", kWeb, BF_DIR_EGRESS, tcp6("fd00::10", 40002, "fd00::1", 10250),
              BF_R_ADMIN_DENY},
             {"web->node:22: Host", kWeb, BF_DIR_EGRESS, tcp4(w, 40003, "10.0.0.1", 22), BF_R_HOST},
             {"client not isolated: Baseline Deny", kClient, BF_DIR_INGRESS, tcp4(o, 40004, c, 80),
              BF_R_BASELINE_DENY},
             {"IPv6 Baseline Deny", kClient, BF_DIR_INGRESS, tcp6("fd00::12", 40004, "fd00::11", 80),
              BF_R_BASELINE_DENY},
             {"client from outside: no Baseline entry", kClient, BF_DIR_INGRESS, udp4("192.168.5.5", 40004, c, 53),
              BF_R_NOT_ISOLATED},
         });
}
