// Lint warnings on ClusterNetworkPolicies: equal priorities over the same
// pods, rules an earlier Accept/Deny/Pass of the tier always takes first, and
// Admin Pass rules whose pods no NetworkPolicy selects. Each finding is
// written by hand; a clean set of policies raises nothing.
#include <catch2/catch.hpp>

#include "cluster.h"

using namespace bpfence;
using namespace bpfence::test;

namespace {

Cluster base() {
  Cluster c;
  c.ns("default").ns("prod", {{"env", "prod"}}).ns("monitoring");
  c.pod("default/web", "10.0.1.10", {{"app", "web"}});
  c.pod("prod/api", "10.0.2.10", {{"app", "api"}});
  c.pod("monitoring/prometheus", "10.0.3.10", {{"app", "prometheus"}});
  return c;
}

// An Admin or Baseline policy with the given subject and rules (YAML).
std::string cnp(const std::string& name, const std::string& tier, int priority, const std::string& subject,
                const std::string& rules) {
  return "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: {name: " + name +
         "}\nspec:\n  tier: " + tier + "\n  priority: " + std::to_string(priority) + "\n  subject: " + subject +
         "\n" + rules;
}

}  // namespace

TEST_CASE("lint cnp: distinct priorities, reachable rules and a Pass into a NetworkPolicy raise nothing",
          "[lint][cnp]") {
  auto c = base()
               .policy(cnp("deny-metadata", "Admin", 1, "{namespaces: {}}", R"(  egress:
  - {action: Deny, to: [{networks: [169.254.169.254/32]}]}
  - {action: Accept, to: [{networks: [169.254.0.0/16]}], protocols: [{tcp: {destinationPort: {number: 80}}}]}
)"))
               .policy(cnp("pass-prod", "Admin", 2, "{namespaces: {matchLabels: {env: prod}}}", R"(  ingress:
  - {action: Pass, from: [{namespaces: {}}]}
)"))
               .policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: api, namespace: prod}
spec: {podSelector: {}, policyTypes: [Ingress]}
)")
               .compile();
  for (const auto& w : c.warnings()) FAIL(w.policy << ": " << w.message);
}

TEST_CASE("lint cnp: equal priorities in a tier with overlapping subjects", "[lint][cnp]") {
  auto c = base()
               .policy(cnp("b-deny", "Admin", 5, "{namespaces: {}}", "  egress:\n  - {action: Deny, to: [{networks: [10.9.0.0/16]}]}\n"))
               .policy(cnp("a-accept", "Admin", 5, "{namespaces: {matchLabels: {env: prod}}}",
                           "  egress:\n  - {action: Accept, to: [{networks: [10.9.0.0/24]}]}\n"))
               // Same priority, other tier: no tie.
               .policy(cnp("c-baseline", "Baseline", 5, "{namespaces: {}}",
                           "  egress:\n  - {action: Deny, to: [{networks: [10.8.0.0/16]}]}\n"))
               .compile();
  CHECK(lint_messages(c, "cnp/a-accept").empty());
  CHECK(lint_messages(c, "cnp/c-baseline").empty());
  CHECK(lint_messages(c, "cnp/b-deny") ==
        std::vector<std::string>{"spec.priority 5 is also the priority of cnp/a-accept (Admin tier), and both select "
                                 "prod/api: upstream leaves their order undefined (bpfence evaluates them by name, "
                                 "cnp/a-accept first); give them different priorities"});

  // Disjoint subjects: the order cannot matter.
  auto d = base()
               .policy(cnp("b", "Admin", 5, "{namespaces: {matchLabels: {env: prod}}}",
                           "  egress:\n  - {action: Deny, to: [{networks: [10.9.0.0/16]}]}\n"))
               .policy(cnp("a", "Admin", 5, "{namespaces: {matchLabels: {kubernetes.io/metadata.name: default}}}",
                           "  egress:\n  - {action: Deny, to: [{networks: [10.9.0.0/16]}]}\n"))
               .compile();
  CHECK(d.warnings().empty());
}

TEST_CASE("lint cnp: a rule shadowed by an earlier Deny or Accept of the same tier", "[lint][cnp]") {
  auto c = base()
               .policy(cnp("first", "Admin", 1, "{namespaces: {}}", R"(  egress:
  - {name: no-meta, action: Deny, to: [{networks: [169.254.0.0/16]}]}
  - {name: meta-http, action: Accept, to: [{networks: [169.254.169.254/32]}], protocols: [{tcp: {destinationPort: {number: 80}}}]}
  ingress:
  - {action: Accept, from: [{namespaces: {}}], protocols: [{tcp: {destinationPort: {range: {start: 8000, end: 9000}}}}]}
  - {action: Deny, from: [{pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: prometheus}}}}], protocols: [{tcp: {destinationPort: {number: 8080}}}]}
  - {action: Deny, from: [{namespaces: {}}], protocols: [{tcp: {destinationPort: {number: 9090}}}]}
)"))
               .policy(cnp("later", "Admin", 2, "{namespaces: {matchLabels: {env: prod}}}", R"(  egress:
  - {action: Accept, to: [{networks: [169.254.169.0/24]}]}
)"))
               // A Pass ends the tier for what it matches, hiding the rest too.
               .policy(cnp("pass-first", "Baseline", 1, "{namespaces: {}}", R"(  egress:
  - {action: Pass, to: [{networks: [10.0.0.0/8]}]}
  - {action: Deny, to: [{networks: [10.1.0.0/16]}]}
)"))
               .compile();
  CHECK(lint_messages(c, "cnp/first") ==
        std::vector<std::string>{
            "spec.ingress[1] is never reached: spec.ingress[0] (Accept), earlier in the Admin tier, matches every "
            "peer and port it does",
            "spec.egress[1] (meta-http) is never reached: spec.egress[0] (no-meta) (Deny), earlier in the Admin "
            "tier, matches every peer and port it does"});
  CHECK(lint_messages(c, "cnp/later") ==
        std::vector<std::string>{"spec.egress[0] is never reached: cnp/first spec.egress[0] (no-meta) (Deny), earlier "
                                 "in the Admin tier, matches every peer and port it does for every pod it selects"});
  CHECK(lint_messages(c, "cnp/pass-first") ==
        std::vector<std::string>{"spec.egress[1] is never reached: spec.egress[0] (Pass), earlier in the Baseline "
                                 "tier, matches every peer and port it does"});
}

TEST_CASE("lint cnp: an Admin Pass where no NetworkPolicy selects the subject's pods", "[lint][cnp]") {
  Cluster cluster = base().policy(cnp("pass-prod", "Admin", 2, "{namespaces: {matchLabels: {env: prod}}}", R"(  ingress:
  - {name: to-owners, action: Pass, from: [{namespaces: {}}]}
  egress:
  - {action: Pass, to: [{networks: [10.0.0.0/8]}]}
)"));
  // An egress-only NetworkPolicy: ingress is still nobody's.
  cluster.policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: api-egress, namespace: prod}
spec: {podSelector: {}, policyTypes: [Egress]}
)");
  auto c = cluster.compile();
  CHECK(lint_messages(c, "cnp/pass-prod") ==
        std::vector<std::string>{"spec.ingress[0] (to-owners) Pass: no NetworkPolicy selects the pods of its subject "
                                 "for ingress (prod/api): passed traffic goes on to the Baseline tier, or is allowed"});
}
