// ClusterNetworkPolicy evaluation, one rule per test case: Admin tier by
// priority and rule order, then the NetworkPolicies, then the Baseline tier,
// then default allow; Accept, Deny and Pass. Expected verdicts are written by
// hand from the ClusterNetworkPolicy worked scenarios (a small cluster with
// prod, dev, monitoring and kube-system).
#include "cluster.h"

using namespace bpfence;
using namespace bpfence::test;

namespace {

constexpr const char* kNodeIp = "172.18.0.2";

// The lines every ClusterNetworkPolicy here starts with.
std::string cnp_header(const std::string& name, const std::string& tier, int priority) {
  return "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: {name: " + name +
         "}\nspec:\n  tier: " + tier + "\n  priority: " + std::to_string(priority) + "\n";
}

// Every pod of prod, ingress rules follow.
const std::string kProdSubject = "  subject:\n    namespaces: {matchLabels: {env: prod}}\n  ingress:\n";

Cluster scenario_cluster() {
  Cluster c;
  c.ns("prod", {{"env", "prod"}}).ns("dev", {{"env", "dev"}}).ns("monitoring").ns("kube-system");
  c.pod("prod/web", "10.1.0.10,fd00:1::10", {{"app", "web"}}, {"http:8080/TCP", "metrics:9090/TCP"});
  c.pod("prod/db", "10.1.0.11", {{"app", "db"}}, {"pg:5432/TCP", "metrics:9187/TCP"});
  c.pod("prod/client", "10.1.0.12", {{"app", "client"}});
  c.pod("dev/client", "10.2.0.12,fd00:2::12", {{"app", "client"}});
  c.pod("dev/db", "10.2.0.11", {{"app", "db"}}, {"pg:5432/TCP"});
  c.pod("monitoring/prom", "10.3.0.10", {{"app", "prometheus"}});
  c.pod("kube-system/coredns", "10.4.0.10", {{"k8s-app", "kube-dns"}}, {"dns:53/UDP", "dns-tcp:53/TCP"});
  c.host_ips = {*IpAddress::parse(kNodeIp)};
  return c;
}

const std::string kIsolateProdFromDev = cnp_header("isolate-prod-from-dev", "Admin", 10) + R"(  subject:
    namespaces: {matchLabels: {env: prod}}
  ingress:
  - name: deny-dev
    action: Deny
    from:
    - namespaces: {matchLabels: {env: dev}}
)";

const char* kWebIngressNp = R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-ingress, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {env: dev}}
    - podSelector: {}
    ports:
    - {protocol: TCP, port: 8080}
)";

const char* kDefaultDenyProd = R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny-ingress, namespace: prod}
spec:
  podSelector: {}
  policyTypes: [Ingress]
)";

const std::string kAllowMonitoringScrape = cnp_header("allow-monitoring-scrape", "Admin", 20) + R"(  subject:
    namespaces: {}
  ingress:
  - name: accept-prometheus
    action: Accept
    from:
    - pods:
        namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}
        podSelector: {matchLabels: {app: prometheus}}
    protocols:
    - tcp: {destinationPort: {number: 9090}}
)";

const std::string kDevMayCallProd = cnp_header("dev-may-call-prod", "Admin", 30) + R"(  subject:
    namespaces: {matchLabels: {env: dev}}
  egress:
  - name: accept-to-prod
    action: Accept
    to:
    - namespaces: {matchLabels: {env: prod}}
)";

// prod-boundary with or without its Pass rule.
std::string prod_boundary(bool with_pass) {
  std::string s = cnp_header("prod-boundary", "Admin", 40) + kProdSubject;
  if (with_pass)
    s += R"(  - name: delegate-intra-prod
    action: Pass
    from:
    - namespaces: {matchLabels: {env: prod}}
)";
  return s + R"(  - name: deny-other-pods
    action: Deny
    from:
    - namespaces: {}
)";
}

const char* kDbIngressNp = R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-ingress, namespace: prod}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector: {matchLabels: {app: web}}
    ports:
    - {protocol: TCP, port: 5432}
)";

const std::string kClusterDefaultDeny = cnp_header("cluster-default-deny", "Baseline", 100) + R"(  subject:
    namespaces:
      matchExpressions:
      - {key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system]}
  ingress:
  - name: deny-all-pod-ingress
    action: Deny
    from:
    - namespaces: {}
  egress:
  - name: allow-dns
    action: Accept
    to:
    - pods:
        namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
        podSelector: {matchLabels: {k8s-app: kube-dns}}
    protocols:
    - udp: {destinationPort: {number: 53}}
    - tcp: {destinationPort: {number: 53}}
  - name: deny-everything-else
    action: Deny
    to:
    - networks: [0.0.0.0/0, "::/0"]
)";

const char* kBaselineNps = R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-clients, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector: {matchLabels: {app: client}}
    ports:
    - {protocol: TCP, port: 8080}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-egress, namespace: prod}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress:
  - to:
    - podSelector: {matchLabels: {app: web}}
    ports:
    - {protocol: TCP, port: 8080}
  - to:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
      podSelector: {matchLabels: {k8s-app: kube-dns}}
    ports:
    - {protocol: UDP, port: 53}
    - {protocol: TCP, port: 53}
)";

const std::string kAllowPromMetrics = R"(  - name: allow-prom-metrics
    action: Accept
    from:
    - pods:
        namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}
        podSelector: {matchLabels: {app: prometheus}}
    protocols:
    - tcp: {destinationPort: {number: 9090}}
    - tcp: {destinationPort: {number: 9187}}
)";

const std::string kDenyMonitoring = R"(  - name: deny-monitoring
    action: Deny
    from:
    - namespaces: {matchLabels: {kubernetes.io/metadata.name: monitoring}}
)";

std::string scrape_and_lock(int scrape_priority, int lock_priority) {
  return cnp_header("scrape-metrics", "Admin", scrape_priority) + kProdSubject + kAllowPromMetrics + "---\n" +
         cnp_header("lock-monitoring", "Admin", lock_priority) + kProdSubject + kDenyMonitoring;
}

// One policy holding both rules, in the given order.
std::string scrape_and_lock_one_policy(bool accept_first) {
  return cnp_header("monitoring-rules", "Admin", 5) + kProdSubject +
         (accept_first ? kAllowPromMetrics + kDenyMonitoring : kDenyMonitoring + kAllowPromMetrics);
}

const std::string kNamedPorts = cnp_header("metrics-only", "Admin", 50) + R"(  subject:
    namespaces: {matchLabels: {env: prod}}
  ingress:
  - name: accept-metrics
    action: Accept
    from:
    - namespaces: {matchLabels: {kubernetes.io/metadata.name: monitoring}}
    protocols:
    - destinationNamedPort: metrics
  - name: deny-rest-from-monitoring
    action: Deny
    from:
    - namespaces: {matchLabels: {kubernetes.io/metadata.name: monitoring}}
---
)" + cnp_header("monitoring-egress", "Admin", 51) + R"(  subject:
    namespaces: {matchLabels: {kubernetes.io/metadata.name: monitoring}}
  egress:
  - name: scrape-by-name
    action: Accept
    to:
    - namespaces: {matchLabels: {env: prod}}
    protocols:
    - destinationNamedPort: metrics
  - name: nothing-else-to-prod
    action: Deny
    to:
    - namespaces: {matchLabels: {env: prod}}
)";

std::string dev_egress(bool with_pass) {
  std::string s = cnp_header("dev-egress", "Admin", 60) + R"(  subject:
    namespaces: {matchLabels: {env: dev}}
  egress:
)";
  if (with_pass)
    s += R"(  - name: pods-are-delegated
    action: Pass
    to:
    - namespaces: {}
)";
  return s + R"(  - name: partner-api
    action: Accept
    to:
    - networks: [203.0.113.0/24]
    protocols:
    - tcp: {destinationPort: {number: 443}}
  - name: no-other-addresses
    action: Deny
    to:
    - networks: [0.0.0.0/0, "::/0"]
)";
}

const std::string kSubjects = cnp_header("guard-prod-namespace", "Admin", 70) + R"(  subject:
    namespaces: {matchLabels: {env: prod}}
  ingress:
  - name: deny-dev
    action: Deny
    from:
    - namespaces: {matchLabels: {env: dev}}
---
)" + cnp_header("guard-all-dbs", "Admin", 71) + R"(  subject:
    pods:
      podSelector: {matchLabels: {app: db}}
  ingress:
  - name: deny-clients
    action: Deny
    from:
    - pods:
        podSelector: {matchLabels: {app: client}}
)";

}  // namespace

TEST_CASE("an Admin Deny is final: a NetworkPolicy allow is never consulted", "[semantics][cnp]") {
  auto c = scenario_cluster().policy(kWebIngressNp).policy(kIsolateProdFromDev).compile();
  Verdict v = probe(c, "dev/client", "prod/web", "8080/TCP");
  CHECK_FALSE(v.allowed);
  CHECK(v.ingress.tier == VerdictTier::Admin);
  REQUIRE(v.ingress.cnp_rule);
  CHECK(v.ingress.cnp_rule->str() == "cnp/isolate-prod-from-dev ingress[0] Deny (deny-dev)");
  CHECK_FALSE(v.ingress.rule);  // the NetworkPolicy rule that allows dev did not decide
  CHECK(allowed(c, "prod/client", "prod/web", "8080/TCP"));        // no Admin match; the NetworkPolicy allows
  CHECK_FALSE(allowed(c, "prod/client", "prod/web", "9090/TCP"));  // the NetworkPolicy isolates
  CHECK(probe(c, "prod/client", "prod/web", "9090/TCP").ingress.tier == VerdictTier::NetworkPolicy);
  CHECK_FALSE(allowed(c, "monitoring/prom", "prod/web", "8080/TCP"));
  CHECK_FALSE(allowed(c, "dev/client", "prod/db", "5432/TCP"));  // the subject is the whole namespace
  // Only connections initiated in the rule's direction: prod may call dev.
  CHECK(allowed(c, "prod/db", "dev/client", "80/TCP"));
}

TEST_CASE("a rule without protocols matches ICMP; a rule with protocols never does", "[semantics][cnp]") {
  auto c = scenario_cluster().policy(kIsolateProdFromDev).policy(kAllowMonitoringScrape).compile();
  CHECK_FALSE(allowed(c, "dev/client", "prod/db", "ICMP"));
  CHECK(allowed(c, "monitoring/prom", "prod/db", "ICMP"));  // the Accept is TCP 9090 only: no match, default
  CHECK(probe(c, "monitoring/prom", "prod/db", "ICMP").ingress.tier == VerdictTier::Default);
}

TEST_CASE("an Admin Accept is final even when a NetworkPolicy isolates the pod", "[semantics][cnp]") {
  auto c = scenario_cluster().policy(kDefaultDenyProd).policy(kAllowMonitoringScrape).policy(kDevMayCallProd).compile();
  Verdict v = probe(c, "monitoring/prom", "prod/web", "9090/TCP");
  CHECK(v.allowed);
  CHECK(v.ingress.tier == VerdictTier::Admin);
  CHECK(v.ingress.cnp_rule->str() == "cnp/allow-monitoring-scrape ingress[0] Accept (accept-prometheus)");
  CHECK_FALSE(allowed(c, "monitoring/prom", "prod/web", "8080/TCP"));
  CHECK_FALSE(allowed(c, "monitoring/prom", "prod/db", "9187/TCP"));
}

TEST_CASE("an egress Accept settles the source side only: the destination's ingress still decides",
          "[semantics][cnp]") {
  auto c = scenario_cluster().policy(kDefaultDenyProd).policy(kAllowMonitoringScrape).policy(kDevMayCallProd).compile();
  Verdict v = probe(c, "dev/client", "prod/web", "8080/TCP");
  CHECK_FALSE(v.allowed);
  CHECK(v.egress.allowed);
  CHECK(v.egress.tier == VerdictTier::Admin);
  CHECK(v.ingress.tier == VerdictTier::NetworkPolicy);
  CHECK_FALSE(v.ingress.allowed);
}

TEST_CASE("a ClusterNetworkPolicy does not isolate its subjects: unmatched traffic is allowed", "[semantics][cnp]") {
  auto c = scenario_cluster().policy(kAllowMonitoringScrape).compile();
  Verdict v = probe(c, "dev/client", "monitoring/prom", "9090/TCP");
  CHECK(v.allowed);
  CHECK(v.ingress.tier == VerdictTier::Default);
  CHECK_FALSE(v.ingress.cnp_rule);
}

TEST_CASE("an Admin Pass hands the decision to the NetworkPolicies, and hides the tier's later rules",
          "[semantics][cnp]") {
  auto c = scenario_cluster().policy(prod_boundary(true)).policy(kDbIngressNp).compile();
  Verdict v = probe(c, "prod/web", "prod/db", "5432/TCP");
  CHECK(v.allowed);
  CHECK(v.ingress.tier == VerdictTier::NetworkPolicy);
  REQUIRE(v.ingress.passed.size() == 1);
  CHECK(v.ingress.passed[0].str() == "cnp/prod-boundary ingress[0] Pass (delegate-intra-prod)");
  CHECK_FALSE(allowed(c, "prod/client", "prod/db", "5432/TCP"));  // Pass, then db is isolated
  CHECK(allowed(c, "prod/client", "prod/web", "8080/TCP"));        // Pass, web not isolated, default
  CHECK_FALSE(allowed(c, "dev/client", "prod/web", "8080/TCP"));   // deny-other-pods
  CHECK(probe(c, "dev/client", "prod/web", "8080/TCP").ingress.cnp_rule->index == 1);

  auto without_pass = scenario_cluster().policy(prod_boundary(false)).policy(kDbIngressNp).compile();
  CHECK_FALSE(allowed(without_pass, "prod/web", "prod/db", "5432/TCP"));  // namespaces: {} includes prod
}

TEST_CASE("ingress rules match only pods: outside and node sources fall through", "[semantics][cnp]") {
  auto c = scenario_cluster().policy(prod_boundary(true)).policy(kDbIngressNp).compile();
  CHECK(allowed(c, "203.0.113.10", "prod/web", "8080/TCP"));
  CHECK(allowed(c, kNodeIp, "prod/web", "8080/TCP"));
  auto b = scenario_cluster().policy(kClusterDefaultDeny).compile();
  CHECK(allowed(b, "203.0.113.10", "dev/client", "80/TCP"));
}

TEST_CASE("the Baseline tier is reached only when no NetworkPolicy isolates the pod that way",
          "[semantics][cnp]") {
  auto c = scenario_cluster().policy(kClusterDefaultDeny).policy(kBaselineNps).compile();
  Verdict v = probe(c, "prod/client", "prod/web", "8080/TCP");
  CHECK(v.allowed);
  CHECK(v.egress.tier == VerdictTier::NetworkPolicy);
  CHECK(v.ingress.tier == VerdictTier::NetworkPolicy);
  CHECK_FALSE(allowed(c, "prod/client", "prod/db", "5432/TCP"));  // egress-isolated, no rule allows

  // db is selected by no NetworkPolicy: its ingress meets the Baseline.
  Verdict db = probe(c, "prod/web", "prod/db", "5432/TCP");
  CHECK_FALSE(db.allowed);
  CHECK(db.ingress.tier == VerdictTier::Baseline);
  CHECK(db.ingress.cnp_rule->str() == "cnp/cluster-default-deny ingress[0] Deny (deny-all-pod-ingress)");
  // Per direction: web's ingress-only NetworkPolicy leaves its egress to the Baseline.
  CHECK(db.egress.tier == VerdictTier::Baseline);
  CHECK_FALSE(db.egress.allowed);

  Verdict dev = probe(c, "dev/client", "prod/web", "8080/TCP");
  CHECK_FALSE(dev.allowed);
  CHECK(dev.egress.cnp_rule->str() == "cnp/cluster-default-deny egress[1] Deny (deny-everything-else)");
  Verdict dns = probe(c, "dev/client", "kube-system/coredns", "53/UDP");
  CHECK(dns.allowed);
  CHECK(dns.egress.cnp_rule->str() == "cnp/cluster-default-deny egress[0] Accept (allow-dns)");
  CHECK(dns.ingress.tier == VerdictTier::Default);  // coredns is outside the subject
  CHECK_FALSE(allowed(c, "dev/client", "198.51.100.7", "443/TCP"));
  CHECK_FALSE(allowed(c, "dev/client", "dev/db", "5432/TCP"));
}

TEST_CASE("a Baseline Pass ends the tier: default allow", "[semantics][cnp]") {
  auto c = scenario_cluster().policy(cnp_header("baseline", "Baseline", 1) + R"(  subject: {namespaces: {}}
  ingress:
  - {name: dev-passes, action: Pass, from: [{namespaces: {matchLabels: {env: dev}}}]}
  - {name: deny-pods, action: Deny, from: [{namespaces: {}}]}
)").compile();
  Verdict v = probe(c, "dev/client", "prod/web", "8080/TCP");
  CHECK(v.allowed);
  CHECK(v.ingress.tier == VerdictTier::Default);
  REQUIRE(v.ingress.passed.size() == 1);
  CHECK(v.ingress.passed[0].tier == CnpTier::Baseline);
  CHECK_FALSE(allowed(c, "prod/client", "prod/web", "8080/TCP"));
}

TEST_CASE("after an Admin Pass with no isolating NetworkPolicy, the Baseline tier still runs", "[semantics][cnp]") {
  auto c = scenario_cluster().policy(prod_boundary(true)).policy(cnp_header("baseline-deny-prod", "Baseline", 1) + R"(  subject: {namespaces: {matchLabels: {env: prod}}}
  ingress:
  - {action: Deny, from: [{namespaces: {matchLabels: {env: prod}}}]}
)").compile();
  Verdict v = probe(c, "prod/client", "prod/web", "8080/TCP");
  CHECK_FALSE(v.allowed);
  CHECK(v.ingress.tier == VerdictTier::Baseline);
  CHECK(v.ingress.passed.size() == 1);
  CHECK(v.ingress.cnp_rule->str() == "cnp/baseline-deny-prod ingress[0] Deny");
}

TEST_CASE("Admin policies apply by priority, lower first; equal priorities by name", "[semantics][cnp]") {
  auto first = scenario_cluster().policy(scrape_and_lock(5, 10)).compile();
  CHECK(allowed(first, "monitoring/prom", "prod/web", "9090/TCP"));
  CHECK(allowed(first, "monitoring/prom", "prod/db", "9187/TCP"));
  CHECK_FALSE(allowed(first, "monitoring/prom", "prod/web", "8080/TCP"));

  auto later = scenario_cluster().policy(scrape_and_lock(15, 10)).compile();
  CHECK_FALSE(allowed(later, "monitoring/prom", "prod/web", "9090/TCP"));

  // Tie: "lock-monitoring" sorts before "scrape-metrics".
  auto tie = scenario_cluster().policy(scrape_and_lock(10, 10)).compile();
  Verdict v = probe(tie, "monitoring/prom", "prod/web", "9090/TCP");
  CHECK_FALSE(v.allowed);
  CHECK(v.ingress.cnp_rule->policy == "lock-monitoring");
}

TEST_CASE("inside one policy, rule order is precedence", "[semantics][cnp]") {
  auto accept_first = scenario_cluster().policy(scrape_and_lock_one_policy(true)).compile();
  CHECK(allowed(accept_first, "monitoring/prom", "prod/web", "9090/TCP"));
  CHECK(allowed(accept_first, "monitoring/prom", "prod/db", "9187/TCP"));
  CHECK_FALSE(allowed(accept_first, "monitoring/prom", "prod/web", "8080/TCP"));
  auto deny_first = scenario_cluster().policy(scrape_and_lock_one_policy(false)).compile();
  for (const char* port : {"9090/TCP", "8080/TCP"}) CHECK_FALSE(allowed(deny_first, "monitoring/prom", "prod/web", port));
  CHECK_FALSE(allowed(deny_first, "monitoring/prom", "prod/db", "9187/TCP"));
}

TEST_CASE("a named port resolves on the destination pod: name, protocol and number", "[semantics][cnp]") {
  auto c = scenario_cluster().policy(kNamedPorts).compile();
  CHECK(allowed(c, "monitoring/prom", "prod/web", "9090/TCP"));
  CHECK(allowed(c, "monitoring/prom", "prod/db", "9187/TCP"));
  Verdict wrong_pod = probe(c, "monitoring/prom", "prod/db", "9090/TCP");
  CHECK_FALSE(wrong_pod.allowed);
  CHECK(wrong_pod.egress.cnp_rule->str() == "cnp/monitoring-egress egress[1] Deny (nothing-else-to-prod)");
  CHECK_FALSE(allowed(c, "monitoring/prom", "prod/web", "9090/UDP"));
  CHECK_FALSE(allowed(c, "monitoring/prom", "prod/web", "8080/TCP"));
  CHECK_FALSE(allowed(c, "monitoring/prom", "prod/client", "9090/TCP"));
}

TEST_CASE("networks peers match addresses of their own family, pods and nodes included", "[semantics][cnp]") {
  auto c = scenario_cluster().policy(dev_egress(true)).compile();
  CHECK(allowed(c, "dev/client", "203.0.113.10", "443/TCP"));
  Verdict v = probe(c, "dev/client", "203.0.113.10", "80/TCP");
  CHECK_FALSE(v.allowed);
  CHECK(v.egress.cnp_rule->str() == "cnp/dev-egress egress[2] Deny (no-other-addresses)");
  CHECK_FALSE(allowed(c, "dev/client", "198.51.100.7", "443/TCP"));
  CHECK_FALSE(allowed(c, "dev/client", "198.51.100.7", "ICMP"));
  CHECK_FALSE(allowed(c, "fd00:2::12", "2001:db8::7", "443/TCP"));  // ::/0
  CHECK(allowed(c, "dev/client", "prod/web", "8080/TCP"));           // Pass to pods
  CHECK(allowed(c, "dev/client", "kube-system/coredns", "53/UDP"));
  // The own-node exemption belongs to the NetworkPolicy step: an Admin Deny
  // to 0.0.0.0/0 covers node addresses.
  CHECK_FALSE(allowed(c, "dev/client", kNodeIp, "10250/TCP"));

  auto without_pass = scenario_cluster().policy(dev_egress(false)).compile();
  CHECK_FALSE(allowed(without_pass, "dev/client", "prod/web", "8080/TCP"));
  CHECK_FALSE(allowed(without_pass, "dev/client", "prod/web", "ICMP"));

  // A v4 prefix does not match IPv6 traffic, nor a v6 prefix IPv4.
  auto v4_only = scenario_cluster().policy(cnp_header("v4-only", "Admin", 1) + R"(  subject: {namespaces: {matchLabels: {env: dev}}}
  egress:
  - {action: Deny, to: [{networks: [0.0.0.0/0]}]}
)").compile();
  CHECK_FALSE(allowed(v4_only, "10.2.0.12", "10.1.0.10", "8080/TCP"));
  CHECK(allowed(v4_only, "fd00:2::12", "fd00:1::10", "8080/TCP"));
}

TEST_CASE("a namespaces subject takes every pod of the namespace; a pods subject spans namespaces",
          "[semantics][cnp]") {
  auto c = scenario_cluster().policy(kSubjects).compile();
  CHECK_FALSE(allowed(c, "dev/client", "prod/web", "8080/TCP"));
  CHECK(allowed(c, "prod/client", "prod/web", "8080/TCP"));
  Verdict db = probe(c, "prod/client", "prod/db", "5432/TCP");
  CHECK_FALSE(db.allowed);
  CHECK(db.ingress.cnp_rule->str() == "cnp/guard-all-dbs ingress[0] Deny (deny-clients)");
  CHECK(allowed(c, "prod/web", "prod/db", "5432/TCP"));
  CHECK_FALSE(allowed(c, "dev/client", "dev/db", "5432/TCP"));
  CHECK(allowed(c, "monitoring/prom", "dev/db", "5432/TCP"));
}

TEST_CASE("a pod talking to itself is not subject to ClusterNetworkPolicy", "[semantics][cnp]") {
  auto c = scenario_cluster().policy(kClusterDefaultDeny).compile();
  CHECK(allowed(c, "dev/client", "dev/client", "80/TCP"));
}

TEST_CASE("priority only orders policies of one tier: an Admin rule at 1000 precedes a Baseline rule at 0",
          "[semantics][cnp]") {
  auto c = scenario_cluster().policy(cnp_header("late-admin", "Admin", 1000) + R"(  subject: {namespaces: {matchLabels: {env: prod}}}
  ingress:
  - {action: Deny, from: [{namespaces: {matchLabels: {env: dev}}}]}
---
)" + cnp_header("early-baseline", "Baseline", 0) + R"(  subject: {namespaces: {matchLabels: {env: prod}}}
  ingress:
  - {action: Accept, from: [{namespaces: {matchLabels: {env: dev}}}]}
)").compile();
  Verdict v = probe(c, "dev/client", "prod/web", "8080/TCP");
  CHECK_FALSE(v.allowed);
  CHECK(v.ingress.tier == VerdictTier::Admin);
  CHECK(v.ingress.cnp_rule->policy == "late-admin");
}

TEST_CASE("a Baseline Accept decides an unisolated pod, and never overrides an isolating NetworkPolicy",
          "[semantics][cnp]") {
  const std::string baseline = cnp_header("baseline-monitoring", "Baseline", 5) + R"(  subject: {namespaces: {matchLabels: {env: prod}}}
  ingress:
  - {name: accept-monitoring, action: Accept, from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]}
  - {name: deny-pods, action: Deny, from: [{namespaces: {}}]}
)";
  auto open = scenario_cluster().policy(baseline).compile();
  Verdict v = probe(open, "monitoring/prom", "prod/web", "8080/TCP");
  CHECK(v.allowed);
  CHECK(v.ingress.tier == VerdictTier::Baseline);
  CHECK(v.ingress.cnp_rule->str() == "cnp/baseline-monitoring ingress[0] Accept (accept-monitoring)");
  CHECK_FALSE(allowed(open, "dev/client", "prod/web", "8080/TCP"));  // the later Deny

  auto isolated = scenario_cluster().policy(baseline).policy(kDefaultDenyProd).compile();
  Verdict w = probe(isolated, "monitoring/prom", "prod/web", "8080/TCP");
  CHECK_FALSE(w.allowed);
  CHECK(w.ingress.tier == VerdictTier::NetworkPolicy);
  CHECK_FALSE(w.ingress.cnp_rule);
}

TEST_CASE("isolation is per direction: an ingress NetworkPolicy leaves egress to the Baseline, an egress one takes it",
          "[semantics][cnp]") {
  const std::string baseline = cnp_header("prod-egress-default-deny", "Baseline", 1) + R"(  subject: {namespaces: {matchLabels: {env: prod}}}
  egress:
  - {action: Deny, to: [{namespaces: {}}]}
)";
  auto ingress_np = scenario_cluster().policy(baseline).policy(kDefaultDenyProd).compile();
  Verdict out = probe(ingress_np, "prod/web", "dev/client", "80/TCP");
  CHECK_FALSE(out.allowed);
  CHECK(out.egress.tier == VerdictTier::Baseline);

  auto egress_np = scenario_cluster().policy(baseline).policy(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-egress-anywhere, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - {}
)").compile();
  Verdict np = probe(egress_np, "prod/web", "dev/client", "80/TCP");
  CHECK(np.allowed);
  CHECK(np.egress.tier == VerdictTier::NetworkPolicy);
  CHECK_FALSE(allowed(egress_np, "prod/db", "dev/client", "80/TCP"));  // db is not selected: Baseline
}

TEST_CASE("namespaces: {} and pods with podSelector: {} mean every pod, not every address; a selector only its own",
          "[semantics][cnp]") {
  for (const char* peer : {"{namespaces: {}}", "{pods: {podSelector: {}}}"}) {
    INFO(peer);
    auto c = scenario_cluster().policy(cnp_header("dev-to-pods", "Admin", 1) +
                                       "  subject: {namespaces: {matchLabels: {env: dev}}}\n  egress:\n"
                                       "  - {action: Deny, to: [" + peer + "]}\n").compile();
    CHECK_FALSE(allowed(c, "dev/client", "prod/web", "8080/TCP"));
    CHECK_FALSE(allowed(c, "dev/client", "kube-system/coredns", "53/UDP"));
    CHECK_FALSE(allowed(c, "dev/client", "dev/db", "5432/TCP"));  // its own namespace too
    CHECK(allowed(c, "dev/client", "203.0.113.10", "443/TCP"));   // not a pod
    CHECK(allowed(c, "dev/client", kNodeIp, "10250/TCP"));
  }
  auto selected = scenario_cluster().policy(cnp_header("dev-to-prod", "Admin", 1) + R"(  subject: {namespaces: {matchLabels: {env: dev}}}
  egress:
  - {action: Deny, to: [{namespaces: {matchLabels: {env: prod}}}]}
)").compile();
  CHECK_FALSE(allowed(selected, "dev/client", "prod/web", "8080/TCP"));
  CHECK(allowed(selected, "dev/client", "dev/db", "5432/TCP"));
  CHECK(allowed(selected, "dev/client", "kube-system/coredns", "53/UDP"));
}

TEST_CASE("a hostNetwork pod is matched by no pods or namespaces peer, in either direction", "[semantics][cnp]") {
  Cluster base = scenario_cluster();
  base.pod("dev/agent", "172.18.0.3", {{"app", "client"}});
  base.pods.back().host_network = true;
  auto c = base.policy(cnp_header("guard-prod", "Admin", 1) + R"(  subject: {namespaces: {matchLabels: {env: prod}}}
  ingress:
  - {action: Deny, from: [{namespaces: {matchLabels: {env: dev}}}]}
  egress:
  - {action: Deny, to: [{pods: {podSelector: {matchLabels: {app: client}}}}]}
)").compile();
  CHECK_FALSE(allowed(c, "dev/client", "prod/web", "8080/TCP"));
  CHECK(allowed(c, "172.18.0.3", "prod/web", "8080/TCP"));
  CHECK_FALSE(allowed(c, "prod/web", "dev/client", "80/TCP"));
  CHECK(allowed(c, "prod/web", "172.18.0.3", "80/TCP"));
}

TEST_CASE("peers and protocols of a rule combine as a cross product; a range includes both ends", "[semantics][cnp]") {
  auto c = scenario_cluster().policy(cnp_header("cross", "Admin", 1) + R"(  subject: {namespaces: {matchLabels: {env: prod}}}
  ingress:
  - action: Deny
    from:
    - namespaces: {matchLabels: {env: dev}}
    - pods: {namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}, podSelector: {}}
    protocols:
    - tcp: {destinationPort: {range: {start: 8000, end: 8080}}}
    - udp: {destinationPort: {number: 53}}
)").compile();
  for (const char* from : {"dev/client", "monitoring/prom"}) {
    INFO(from);
    for (const char* port : {"8000/TCP", "8080/TCP", "8042/TCP", "53/UDP"}) CHECK_FALSE(allowed(c, from, "prod/web", port));
    for (const char* port : {"7999/TCP", "8081/TCP", "53/TCP", "8000/UDP", "ICMP"}) CHECK(allowed(c, from, "prod/web", port));
  }
  CHECK(allowed(c, "kube-system/coredns", "prod/web", "8080/TCP"));  // neither peer
}

TEST_CASE("an ingress named port resolves on the subject itself", "[semantics][cnp]") {
  auto c = scenario_cluster().policy(cnp_header("metrics-in", "Admin", 1) + kProdSubject + R"(  - {action: Accept, from: [{namespaces: {}}], protocols: [{destinationNamedPort: metrics}]}
  - {action: Deny, from: [{namespaces: {}}]}
)").compile();
  Verdict web = probe(c, "monitoring/prom", "prod/web", "9090/TCP");
  CHECK(web.allowed);
  CHECK(web.ingress.tier == VerdictTier::Admin);
  CHECK(web.ingress.cnp_rule->action == CnpAction::Accept);
  CHECK(allowed(c, "dev/client", "prod/db", "9187/TCP"));
  CHECK_FALSE(allowed(c, "dev/client", "prod/db", "9090/TCP"));   // web's number, not db's
  CHECK_FALSE(allowed(c, "dev/client", "prod/web", "9187/TCP"));
  CHECK_FALSE(allowed(c, "dev/client", "prod/client", "9090/TCP"));  // no port of that name
}

TEST_CASE("the own-node exemption sits in the NetworkPolicy step: a Baseline egress rule decides pod -> node traffic "
          "of an unisolated pod",
          "[semantics][cnp]") {
  const std::string baseline = cnp_header("dev-no-addresses", "Baseline", 1) + R"(  subject: {namespaces: {matchLabels: {env: dev}}}
  egress:
  - {action: Deny, to: [{networks: [0.0.0.0/0]}]}
)";
  auto open = scenario_cluster().policy(baseline).compile();
  Verdict v = probe(open, "dev/client", kNodeIp, "10250/TCP");
  CHECK_FALSE(v.allowed);
  CHECK(v.egress.tier == VerdictTier::Baseline);
  // Isolated for egress: the NetworkPolicy step is final, and lets the own node through.
  auto isolated = scenario_cluster().policy(baseline).policy(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: dev-egress-none, namespace: dev}
spec:
  podSelector: {}
  policyTypes: [Egress]
)").compile();
  Verdict w = probe(isolated, "dev/client", kNodeIp, "10250/TCP");
  CHECK(w.allowed);
  CHECK(w.egress.reason == BF_R_HOST);
}
