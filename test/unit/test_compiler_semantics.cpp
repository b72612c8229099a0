// The Kubernetes NetworkPolicy semantics of DESIGN.md, one rule per test
// case, each with expectations computed by hand from the spec.
#include "cluster.h"
#include "named_port_ipblock.h"

using namespace bpfence;
using namespace bpfence::test;

namespace {

// Two namespaces, a web pod with named ports, clients, and a pod elsewhere.
Cluster base() {
  Cluster c;
  c.ns("default").ns("prod", {{"purpose", "production"}}).ns("dev", {{"purpose", "testing"}});
  c.pod("default/web", "10.0.0.10", {{"app", "web"}}, {"http:80/TCP", "dns:53/UDP", "metrics:9090/TCP"});
  c.pod("default/client", "10.0.0.11", {{"app", "client"}});
  c.pod("default/db", "10.0.0.12", {{"app", "db"}}, {"sql:5432/TCP"});
  c.pod("prod/client", "10.0.1.11", {{"app", "client"}});
  c.pod("dev/client", "10.0.2.11", {{"app", "client"}, {"tier", "frontend"}});
  return c;
}

}  // namespace

TEST_CASE("a pod no policy selects is not isolated in either direction", "[semantics]") {
  auto c = base().compile();
  CHECK(allowed(c, "default/client", "default/web", "80/TCP"));
  CHECK(allowed(c, "203.0.113.9", "default/web", "ICMP"));
  CHECK(allowed(c, "default/web", "198.51.100.1", "443/TCP"));
}

TEST_CASE("policyTypes unset means Ingress, plus Egress only when egress has a rule", "[semantics][policyTypes]") {
  SECTION("ingress-only policy isolates ingress and leaves egress open") {
    auto c = base().policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: deny-web, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
)").compile();
    CHECK_FALSE(allowed(c, "default/client", "default/web", "80/TCP"));
    CHECK(allowed(c, "default/web", "default/db", "5432/TCP"));
    CHECK(c.state().endpoints.at("default/web").ingress_isolated);
    CHECK_FALSE(c.state().endpoints.at("default/web").egress_isolated);
  }
  SECTION("an egress rule without policyTypes isolates egress too") {
    auto c = base().policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web-egress, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  egress:
  - to: [{podSelector: {matchLabels: {app: db}}}]
)").compile();
    CHECK(allowed(c, "default/web", "default/db", "5432/TCP"));
    CHECK_FALSE(allowed(c, "default/web", "default/client", "80/TCP"));
    CHECK_FALSE(allowed(c, "default/client", "default/web", "80/TCP"));  // Ingress is implied too
  }
  SECTION("egress rules are ignored when policyTypes lists only Ingress") {
    auto c = base().policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: db, namespace: default}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
  egress:
  - to: [{podSelector: {matchLabels: {app: web}}}]
)").compile();
    CHECK(allowed(c, "default/db", "default/client", "80/TCP"));  // egress not isolated
    CHECK(allowed(c, "default/web", "default/db", "5432/TCP"));
    CHECK_FALSE(allowed(c, "default/client", "default/db", "5432/TCP"));
    auto warnings = c.warnings();
    CHECK(std::any_of(warnings.begin(), warnings.end(), [](const Warning& w) {
      return w.policy == "default/db" && w.message.find("Egress") != std::string::npos;
    }));
  }
  SECTION("Egress with no rules denies all egress, DNS and ICMP included") {
    auto c = base().policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: no-egress, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
)").compile();
    CHECK_FALSE(allowed(c, "default/web", "default/db", "5432/TCP"));
    CHECK_FALSE(allowed(c, "default/web", "8.8.8.8", "53/UDP"));
    CHECK_FALSE(allowed(c, "default/web", "default/client", "ICMP"));
    CHECK(allowed(c, "default/client", "default/web", "80/TCP"));  // ingress untouched
  }
}

TEST_CASE("traffic needs both the source's egress and the destination's ingress", "[semantics]") {
  auto c = base()
               .policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: client-egress, namespace: default}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app: db}}}]
)")
               .compile();
  auto v = probe(c, "default/client", "default/web", "80/TCP");
  CHECK_FALSE(v.allowed);
  CHECK_FALSE(v.egress.allowed);
  CHECK(v.ingress.allowed);
  CHECK(v.egress.reason == BF_R_FW_POLICY);
  CHECK(v.egress.isolating == std::vector<std::string>{"default/client-egress"});
  auto ok = probe(c, "default/client", "default/db", "5432/TCP");
  CHECK(ok.allowed);
  REQUIRE(ok.egress.rule);
  CHECK(ok.egress.rule->str() == "default/client-egress egress[0]");
}

TEST_CASE("a rule without from admits every peer; without ports every port and protocol", "[semantics][ports]") {
  auto c = base()
               .policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: allow-all, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{}]
)")
               .compile();
  CHECK(allowed(c, "dev/client", "default/web", "80/TCP"));
  CHECK(allowed(c, "203.0.113.7", "default/web", "12345/UDP"));
  CHECK(allowed(c, "default/client", "default/web", "ICMP"));
  CHECK(allowed(c, "default/client", "default/web", "7/SCTP"));
}

TEST_CASE("listing ports admits only those, so ICMP is denied; protocol defaults to TCP", "[semantics][ports]") {
  auto c = base()
               .policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web-80, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - ports:
    - port: 80
    - protocol: UDP
      port: 53
    - protocol: SCTP
)")
               .compile();
  CHECK(allowed(c, "default/client", "default/web", "80/TCP"));
  CHECK_FALSE(allowed(c, "default/client", "default/web", "80/UDP"));
  CHECK(allowed(c, "default/client", "default/web", "53/UDP"));
  CHECK_FALSE(allowed(c, "default/client", "default/web", "53/TCP"));
  CHECK(allowed(c, "default/client", "default/web", "9999/SCTP"));  // no port: every SCTP port
  CHECK_FALSE(allowed(c, "default/client", "default/web", "ICMP"));
}

TEST_CASE("named ports resolve against the destination pod's container ports", "[semantics][ports]") {
  SECTION("ingress: the selected pod's own ports") {
    auto c = base()
                 .policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web-named, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - ports: [{port: http}, {port: dns, protocol: UDP}, {port: metrics, protocol: UDP}]
)")
                 .compile();
    CHECK(allowed(c, "default/client", "default/web", "80/TCP"));
    CHECK(allowed(c, "default/client", "default/web", "53/UDP"));
    CHECK_FALSE(allowed(c, "default/client", "default/web", "9090/TCP"));  // metrics is TCP, rule says UDP
    CHECK_FALSE(allowed(c, "default/client", "default/web", "8080/TCP"));
  }
  SECTION("egress: the peer pods' ports") {
    auto c = base()
                 .policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: client-to-sql, namespace: default}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress:
  - ports: [{port: sql}]
)")
                 .compile();
    CHECK(allowed(c, "default/client", "default/db", "5432/TCP"));
    CHECK_FALSE(allowed(c, "default/client", "default/web", "5432/TCP"));  // web has no port named sql
    CHECK_FALSE(allowed(c, "default/client", "default/db", "80/TCP"));
  }
}

TEST_CASE("endPort admits a whole range and nothing outside it", "[semantics][ports]") {
  auto c = base()
               .policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: range, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - ports: [{port: 32000, endPort: 32768}]
)")
               .compile();
  for (int port : {32000, 32001, 32255, 32256, 32767, 32768})
    CHECK(allowed(c, "default/client", "default/web", std::to_string(port) + "/TCP"));
  for (int port : {31999, 32769, 80, 65535})
    CHECK_FALSE(allowed(c, "default/client", "default/web", std::to_string(port) + "/TCP"));
  CHECK_FALSE(allowed(c, "default/client", "default/web", "32100/UDP"));
  // Ingress ranges, all of them for any peer: no pod or CIDR identity has one.
  CHECK(c.state().endpoints.at("default/web").has_ranges ==
        (1 | BF_RANGES_NONE(BF_DIR_INGRESS, BF_PEER_POD) | BF_RANGES_NONE(BF_DIR_INGRESS, BF_PEER_CIDR)));
}

TEST_CASE("an endpoint says which peer kinds have no port ranges", "[semantics][ports]") {
  auto c = base()
               .policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: range, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {}}]
    ports: [{port: 32000, endPort: 32768}]
  - from: [{ipBlock: {cidr: 192.168.0.0/16}}]
    ports: [{port: 80}]
)")
               .compile();
  // Ranges name pod identities only; the CIDR rule is an exact port.
  CHECK(c.state().endpoints.at("default/web").has_ranges ==
        (1 | BF_RANGES_NONE(BF_DIR_INGRESS, BF_PEER_CIDR) | BF_RANGES_NONE(BF_DIR_INGRESS, BF_PEER_ANY)));
  CHECK(allowed(c, "default/client", "default/web", "32100/TCP"));
  CHECK_FALSE(allowed(c, "default/client", "default/web", "31000/TCP"));
}

TEST_CASE("port ranges decompose into aligned prefixes", "[ports]") {
  CHECK(port_range_prefixes(80, 80) == std::vector<std::pair<uint16_t, uint8_t>>{{80, 16}});
  CHECK(port_range_prefixes(0, 65535) == std::vector<std::pair<uint16_t, uint8_t>>{{0, 0}});
  CHECK(port_range_prefixes(32000, 32768).size() <= 32);
  CHECK(port_range_prefixes(1, 65535).size() == 16);
}

TEST_CASE("peers: podSelector alone means the policy's namespace", "[semantics][peers]") {
  auto c = base()
               .policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: from-clients, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
)")
               .compile();
  CHECK(allowed(c, "default/client", "default/web", "80/TCP"));
  CHECK_FALSE(allowed(c, "prod/client", "default/web", "80/TCP"));
  CHECK_FALSE(allowed(c, "default/db", "default/web", "80/TCP"));
}

TEST_CASE("peers: namespaceSelector alone admits every pod of matching namespaces", "[semantics][peers]") {
  auto c = base()
               .policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: from-prod, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {purpose: production}}}]
)")
               .compile();
  CHECK(allowed(c, "prod/client", "default/web", "80/TCP"));
  CHECK_FALSE(allowed(c, "dev/client", "default/web", "80/TCP"));
  CHECK_FALSE(allowed(c, "default/client", "default/web", "80/TCP"));
}

TEST_CASE("peers: both selectors in one peer AND, separate peers OR", "[semantics][peers]") {
  Cluster cl = base();
  cl.pod("prod/frontend", "10.0.1.12", {{"tier", "frontend"}});
  SECTION("AND") {
    auto c = Cluster(cl).policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: and, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {purpose: testing}}
      podSelector: {matchLabels: {tier: frontend}}
)").compile();
    CHECK(allowed(c, "dev/client", "default/web", "80/TCP"));
    CHECK_FALSE(allowed(c, "prod/frontend", "default/web", "80/TCP"));  // right pod, wrong namespace
    CHECK_FALSE(allowed(c, "prod/client", "default/web", "80/TCP"));
  }
  SECTION("OR") {
    auto c = Cluster(cl).policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: or, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {purpose: testing}}
    - podSelector: {matchLabels: {app: db}}
)").compile();
    CHECK(allowed(c, "dev/client", "default/web", "80/TCP"));
    CHECK(allowed(c, "default/db", "default/web", "80/TCP"));
    CHECK_FALSE(allowed(c, "prod/frontend", "default/web", "80/TCP"));
    CHECK_FALSE(allowed(c, "default/client", "default/web", "80/TCP"));
  }
}

TEST_CASE("peers: empty selectors match everything, pods only", "[semantics][peers]") {
  auto c = base()
               .policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: all-ns, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{namespaceSelector: {}}]
)")
               .compile();
  CHECK(allowed(c, "dev/client", "default/web", "80/TCP"));
  CHECK(allowed(c, "prod/client", "default/web", "80/TCP"));
  CHECK(allowed(c, "default/client", "default/web", "80/TCP"));
  CHECK_FALSE(allowed(c, "203.0.113.5", "default/web", "80/TCP"));  // an external host is not a pod
}

TEST_CASE("peers: matchExpressions In, NotIn, Exists, DoesNotExist", "[semantics][peers]") {
  Cluster cl = base();
  cl.pod("default/a", "10.0.0.21", {{"env", "prod"}});
  cl.pod("default/b", "10.0.0.22", {{"env", "qa"}});
  cl.pod("default/c", "10.0.0.23", {});
  auto with_expr = [&](const std::string& expr) {
    return Cluster(cl)
        .policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: expr, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - podSelector:
        matchExpressions: [)" + expr + R"(]
)")
        .compile();
  };
  auto in = with_expr("{key: env, operator: In, values: [prod, staging]}");
  CHECK(allowed(in, "default/a", "default/web", "80/TCP"));
  CHECK_FALSE(allowed(in, "default/b", "default/web", "80/TCP"));
  CHECK_FALSE(allowed(in, "default/c", "default/web", "80/TCP"));
  auto notin = with_expr("{key: env, operator: NotIn, values: [prod]}");
  CHECK_FALSE(allowed(notin, "default/a", "default/web", "80/TCP"));
  CHECK(allowed(notin, "default/b", "default/web", "80/TCP"));
  CHECK(allowed(notin, "default/c", "default/web", "80/TCP"));  // no env label: not in
  auto exists = with_expr("{key: env, operator: Exists}");
  CHECK(allowed(exists, "default/a", "default/web", "80/TCP"));
  CHECK(allowed(exists, "default/b", "default/web", "80/TCP"));
  CHECK_FALSE(allowed(exists, "default/c", "default/web", "80/TCP"));
  auto missing = with_expr("{key: env, operator: DoesNotExist}");
  CHECK_FALSE(allowed(missing, "default/a", "default/web", "80/TCP"));
  CHECK(allowed(missing, "default/c", "default/web", "80/TCP"));
}

TEST_CASE("every namespace carries kubernetes.io/metadata.name", "[semantics][peers]") {
  Cluster cl = base();
  cl.pod("kube-system/coredns", "10.0.9.2", {{"k8s-app", "kube-dns"}});  // namespace object never seen
  auto c = cl.policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: dns-only, namespace: default}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
      podSelector: {matchLabels: {k8s-app: kube-dns}}
    ports: [{port: 53, protocol: UDP}]
)")
               .compile();
  CHECK(allowed(c, "default/client", "kube-system/coredns", "53/UDP"));
  CHECK_FALSE(allowed(c, "default/client", "kube-system/coredns", "53/TCP"));
  CHECK_FALSE(allowed(c, "default/client", "default/web", "80/TCP"));
}

TEST_CASE("ipBlock with except selects pod IPs and external IPs alike", "[semantics][ipblock]") {
  Cluster cl;
  cl.ns("default");
  cl.pod("default/nfs", "100.96.0.5", {{"app", "nfs"}}, {"nfs:2049/TCP"});
  cl.pod("default/client1", "100.96.1.7", {{"app", "client"}});
  cl.pod("default/client2", "100.96.2.7", {{"app", "client"}});
  auto c = cl.policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: nfs, namespace: default}
spec:
  podSelector: {matchLabels: {app: nfs}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - ipBlock: {cidr: 100.96.0.0/16, except: [100.96.2.0/24]}
)")
               .compile();
  CHECK(allowed(c, "default/client1", "default/nfs", "2049/TCP"));
  CHECK_FALSE(allowed(c, "default/client2", "default/nfs", "2049/TCP"));  // inside except
  CHECK(allowed(c, "100.96.3.9", "default/nfs", "ICMP"));               // not a pod, inside cidr
  CHECK_FALSE(allowed(c, "100.97.0.1", "default/nfs", "2049/TCP"));      // outside cidr
  CHECK(allowed(c, "default/nfs", "default/client2", "ICMP"));            // ingress only: nfs may ping out
}

TEST_CASE("a named egress port towards an ipBlock resolves on the pod behind each address", "[semantics][ipblock][ports]") {
  auto c = named_port_ipblock_cluster().compile();
  CHECK(allowed(c, "default/client", "10.244.2.10", "80/TCP"));
  CHECK(allowed(c, "default/client", "fd00:244::10", "80/TCP"));
  CHECK_FALSE(allowed(c, "default/client", "10.244.2.10", "81/TCP"));
  CHECK_FALSE(allowed(c, "default/client", "10.244.2.10", "80/UDP"));
  CHECK_FALSE(allowed(c, "default/client", "10.244.2.99", "80/TCP"));   // external, inside the block
  CHECK_FALSE(allowed(c, "default/client", "fd00:244::99", "80/TCP"));  // the same in IPv6
  CHECK_FALSE(allowed(c, "default/client", "10.244.1.10", "80/TCP"));   // a pod, but excepted
  CHECK_FALSE(allowed(c, "default/client", "fd00:244::1:10", "80/TCP"));
  CHECK_FALSE(allowed(c, "default/client", "10.245.0.10", "80/TCP"));   // a pod outside the block
  CHECK_FALSE(allowed(c, "default/client", "fd00:245::10", "80/TCP"));
  CHECK(allowed(c, "default/client", "10.244.3.10", "8080/TCP"));       // each pod's own number
  CHECK(allowed(c, "default/client", "fd00:244::3:10", "8080/TCP"));
  CHECK_FALSE(allowed(c, "default/client", "10.244.3.10", "80/TCP"));
  CHECK_FALSE(allowed(c, "default/client", "10.244.4.10", "80/TCP"));   // no port of that name
  // The pod's host prefix does not take it out of the block's other rule.
  CHECK(allowed(c, "default/client", "10.244.2.10", "53/UDP"));
  CHECK(allowed(c, "default/client", "10.244.2.99", "53/UDP"));
  // The rule names the allowing entry, as explain shows it.
  auto v = c.verdict(*IpAddress::parse("10.244.2.11"), *IpAddress::parse("10.244.2.10"), 6, 80);
  REQUIRE(v.egress.rule);
  CHECK(v.egress.rule->policy == "default/client-out");
  CHECK(v.egress.reason == BF_R_POLICY);
}

TEST_CASE("a narrower prefix named by another policy does not change a block's meaning", "[semantics][ipblock]") {
  Cluster cl;
  cl.ns("default");
  cl.pod("default/a", "10.0.0.1", {{"app", "a"}});
  cl.pod("default/b", "10.0.0.2", {{"app", "b"}});
  auto c = cl.policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: wide, namespace: default}
spec:
  podSelector: {matchLabels: {app: a}}
  ingress:
  - from: [{ipBlock: {cidr: 192.168.0.0/16}}]
---
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: narrow, namespace: default}
spec:
  podSelector: {matchLabels: {app: b}}
  ingress:
  - from: [{ipBlock: {cidr: 192.168.5.0/24, except: [192.168.5.128/25]}}]
)")
               .compile();
  CHECK(allowed(c, "192.168.5.200", "default/a", "80/TCP"));
  CHECK(allowed(c, "192.168.5.1", "default/a", "80/TCP"));
  CHECK(allowed(c, "192.168.9.1", "default/a", "80/TCP"));
  CHECK(allowed(c, "192.168.5.1", "default/b", "80/TCP"));
  CHECK_FALSE(allowed(c, "192.168.5.200", "default/b", "80/TCP"));
  CHECK_FALSE(allowed(c, "192.168.9.1", "default/b", "80/TCP"));
}

TEST_CASE("IPv6 CIDRs and IPv6 pods", "[semantics][ipv6]") {
  Cluster cl;
  cl.ns("default");
  cl.pod("default/web", "10.0.0.10,fd00::10", {{"app", "web"}});
  cl.pod("default/client", "10.0.0.11,fd00::11", {{"app", "client"}});
  auto c = cl.policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: v6, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - ipBlock: {cidr: "fd00::/64", except: ["fd00::11/128"]}
    - ipBlock: {cidr: "::/0", except: ["fd00::/16"]}
)")
               .compile();
  CHECK(allowed(c, "fd00::99", "fd00::10", "80/TCP"));
  CHECK_FALSE(allowed(c, "fd00::11", "fd00::10", "80/TCP"));  // except, though a pod
  CHECK(allowed(c, "2001:db8::1", "fd00::10", "ICMP"));        // ::/0 minus fd00::/16
  CHECK_FALSE(allowed(c, "fd00:1::1", "fd00::10", "80/TCP"));  // in fd00::/16, not in fd00::/64
  CHECK(allowed(c, "fd01::1", "fd00::10", "80/TCP"));           // outside fd00::/16
  CHECK_FALSE(allowed(c, "10.0.0.11", "10.0.0.10", "80/TCP"));  // ::/0 is IPv6 only
  CHECK_FALSE(allowed(c, "203.0.113.1", "10.0.0.10", "80/TCP"));
}

TEST_CASE("several policies selecting a pod are unioned", "[semantics]") {
  auto c = base()
               .policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: one, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: 80}]
---
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: two, namespace: default}
spec:
  podSelector: {}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {purpose: production}}}]
---
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: deny-all, namespace: default}
spec:
  podSelector: {}
)")
               .compile();
  CHECK(allowed(c, "default/client", "default/web", "80/TCP"));
  CHECK_FALSE(allowed(c, "default/client", "default/web", "81/TCP"));
  CHECK(allowed(c, "prod/client", "default/web", "81/TCP"));
  CHECK(allowed(c, "prod/client", "default/db", "5432/TCP"));
  CHECK_FALSE(allowed(c, "dev/client", "default/db", "5432/TCP"));
  CHECK(c.state().endpoints.at("default/web").ingress_policies.size() == 3);
}

TEST_CASE("the node itself and the pod itself are always allowed", "[semantics]") {
  Cluster cl = base();
  cl.host_ips = {*IpAddress::parse("192.168.100.1")};
  auto c = cl.policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: deny-all, namespace: default}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
)")
               .compile("node-a");
  auto probe_in = probe(c, "192.168.100.1", "default/web", "8080/TCP");
  CHECK(probe_in.allowed);
  CHECK(probe_in.ingress.reason == BF_R_HOST);
  CHECK(allowed(c, "default/web", "192.168.100.1", "10250/TCP"));
  CHECK(allowed(c, "default/web", "default/web", "80/TCP"));
  CHECK_FALSE(allowed(c, "default/client", "default/web", "80/TCP"));
}

TEST_CASE("hostNetwork pods and pods of other nodes are not endpoints", "[semantics]") {
  Cluster cl = base();
  cl.pod("default/remote", "10.1.0.5", {{"app", "web"}}, {}, "node-b");
  cl.pod("default/hostnet", "192.168.100.1", {{"app", "web"}});
  cl.pods.back().host_network = true;
  auto c = cl.compile("node-a");
  CHECK(c.state().endpoints.count("default/web"));
  CHECK_FALSE(c.state().endpoints.count("default/remote"));
  CHECK_FALSE(c.state().endpoints.count("default/hostnet"));
  // A remote pod still has an identity, so local policies can name it.
  CHECK(c.state().pod_addrs.count(*IpAddress::parse("10.1.0.5")));
  CHECK_FALSE(c.state().pod_addrs.count(*IpAddress::parse("192.168.100.1")));
}

TEST_CASE("pods with the same namespace and labels share one identity", "[identities]") {
  Cluster cl = base();
  cl.pod("default/web2", "10.0.0.20", {{"app", "web"}});
  cl.pod("prod/web", "10.0.1.20", {{"app", "web"}});
  auto c = cl.compile();
  const auto& addrs = c.state().pod_addrs;
  auto id = [&](const char* ip) { return addrs.at(*IpAddress::parse(ip)); };
  CHECK(id("10.0.0.10") == id("10.0.0.20"));
  CHECK(id("10.0.0.10") != id("10.0.1.20"));
  CHECK(id("10.0.0.10") != id("10.0.0.11"));
  CHECK(id("10.0.0.10") >= BF_ID_FIRST_DYNAMIC);
}
