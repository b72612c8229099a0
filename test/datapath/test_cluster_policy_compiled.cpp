// ClusterNetworkPolicy manifests through the real compiler and the real
// program: every packet's verdict, reason and rule must be the ones
// Compiler::verdict() gives for the same side, so compiler and datapath
// are checked together (IPv4 and IPv6, each evaluation step).
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

}  // namespace

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
