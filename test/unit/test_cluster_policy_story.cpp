// manifests/examples/cluster-network-policy/story.yaml says what its
// policies do; the compiler's verdicts hold it to that.
#include <fstream>
#include <sstream>

#include "cluster.h"

using namespace bpfence;
using namespace bpfence::test;

TEST_CASE("the ClusterNetworkPolicy example story decides as its comments say", "[semantics][cnp][examples]") {
  std::ifstream in(BPFENCE_SOURCE_DIR "/manifests/examples/cluster-network-policy/story.yaml");
  REQUIRE(in);
  std::stringstream text;
  text << in.rdbuf();
  Cluster c;
  c.ns("payments").ns("shop").ns("monitoring").ns("dev");
  c.pod("payments/api", "10.5.0.10", {{"app", "api"}}, {"metrics:9090/TCP"});
  c.pod("shop/front", "10.5.1.10", {{"app", "front"}});
  c.pod("dev/tool", "10.5.2.10", {{"app", "tool"}});
  c.pod("monitoring/prom", "10.5.3.10", {{"app", "prometheus"}});
  ParseResult parsed = parse_manifests(text.str(), "story.yaml");
  for (const auto& e : parsed.errors) FAIL(e.str());
  for (const auto& o : parsed.objects) {
    if (const auto* p = std::get_if<NetworkPolicy>(&o)) c.policies.push_back(*p);
    if (const auto* p = std::get_if<ClusterNetworkPolicy>(&o)) c.cluster_policies.push_back(*p);
  }
  REQUIRE(c.cluster_policies.size() == 3);
  REQUIRE(c.policies.size() == 2);
  auto compiled = c.compile();

  Verdict metadata = probe(compiled, "shop/front", "169.254.169.254", "80/TCP");
  CHECK_FALSE(metadata.allowed);
  CHECK(metadata.egress.cnp_rule->str() == "cnp/deny-metadata egress[0] Deny (no-instance-metadata)");

  Verdict scrape = probe(compiled, "monitoring/prom", "payments/api", "9090/TCP");
  CHECK(scrape.allowed);
  CHECK(scrape.ingress.tier == VerdictTier::Admin);
  CHECK_FALSE(allowed(compiled, "monitoring/prom", "payments/api", "8080/TCP"));  // payments denies the rest

  Verdict baseline = probe(compiled, "shop/front", "dev/tool", "80/TCP");
  CHECK_FALSE(baseline.allowed);
  CHECK(baseline.ingress.cnp_rule->str() == "cnp/default-deny-pod-ingress ingress[0] Deny (deny-from-pods)");
  Verdict opted_out = probe(compiled, "dev/tool", "shop/front", "80/TCP");
  CHECK(opted_out.allowed);
  CHECK(opted_out.ingress.tier == VerdictTier::NetworkPolicy);
}
