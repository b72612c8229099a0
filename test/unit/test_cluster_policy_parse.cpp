// ClusterNetworkPolicy read from manifests: every field lands where the
// compiler expects it, in YAML, JSON and lists. Rejections are in the
// bad-object corpus (test/unit/data/bad/cnp-*.yaml).
#include <catch2/catch.hpp>

#include "bpfence/parse.h"
#include "bpfence/source.h"

using namespace bpfence;

namespace {

ClusterNetworkPolicy parse_one(const std::string& text) {
  ParseResult r = parse_manifests(text, "test.yaml");
  for (const auto& e : r.errors) FAIL("unexpected error: " << e.str());
  REQUIRE(r.objects.size() == 1);
  REQUIRE(std::holds_alternative<ClusterNetworkPolicy>(r.objects[0]));
  return std::get<ClusterNetworkPolicy>(r.objects[0]);
}

}  // namespace

TEST_CASE("a ClusterNetworkPolicy is read with every field", "[parse][cnp]") {
  auto p = parse_one(R"(
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: dev-egress, resourceVersion: "7"}
spec:
  tier: Baseline
  priority: 60
  subject:
    pods:
      podSelector: {matchLabels: {app: db}}
  ingress:
  - action: Accept
    from:
    - pods: {namespaceSelector: {matchLabels: {env: prod}}, podSelector: {}}
    protocols:
    - destinationNamedPort: metrics
  egress:
  - name: partner-api
    action: Pass
    to:
    - networks: [203.0.113.9/24, "fd00::/64"]
    - namespaces: {}
    protocols:
    - tcp: {destinationPort: {number: 443}}
    - sctp: {destinationPort: {range: {start: 9000, end: 9005}}}
)");
  CHECK(p.name == "dev-egress");
  CHECK(p.resource_version == "7");
  CHECK(p.tier == CnpTier::Baseline);
  CHECK(p.priority == 60);
  REQUIRE(p.subject.pods);
  CHECK_FALSE(p.subject.namespaces);
  CHECK(p.subject.pods->namespace_selector.empty());  // omitted: every namespace
  CHECK(p.subject.pods->pod_selector.match_labels == Labels{{"app", "db"}});
  REQUIRE(p.ingress.size() == 1);
  CHECK(p.ingress[0].action == CnpAction::Accept);
  CHECK(p.ingress[0].protocols.at(0).named_port == "metrics");
  REQUIRE(p.egress.size() == 1);
  const CnpRule& r = p.egress[0];
  CHECK(r.name == "partner-api");
  CHECK(r.action == CnpAction::Pass);
  REQUIRE(r.peers.size() == 2);
  REQUIRE(r.peers[0].networks.size() == 2);
  CHECK(r.peers[0].networks[0].str() == "203.0.113.0/24");  // host bits cleared, as the API server accepts it
  CHECK(r.peers[1].namespaces);
  REQUIRE(r.protocols.size() == 2);
  CHECK((r.protocols[0].protocol == Protocol::TCP && r.protocols[0].port == 443 && r.protocols[0].end_port == 443));
  CHECK((r.protocols[1].protocol == Protocol::SCTP && r.protocols[1].port == 9000 && r.protocols[1].end_port == 9005));
}

TEST_CASE("ClusterNetworkPolicies come in JSON and in lists, keyed by name alone", "[parse][cnp]") {
  ParseResult r = parse_manifests(R"({"apiVersion": "v1", "kind": "List", "items": [
    {"apiVersion": "policy.networking.k8s.io/v1alpha2", "kind": "ClusterNetworkPolicy",
     "metadata": {"name": "a"}, "spec": {"tier": "Admin", "priority": 0, "subject": {"namespaces": {}}}},
    {"apiVersion": "policy.networking.k8s.io/v1alpha2", "kind": "ClusterNetworkPolicy",
     "metadata": {"name": "b"}, "spec": {"tier": "Admin", "priority": 1000, "subject": {"namespaces": {}},
       "ingress": [{"action": "Deny", "from": [{"namespaces": {}}]}]}}]})",
                                  "list.json");
  for (const auto& e : r.errors) FAIL(e.str());
  REQUIRE(r.objects.size() == 2);
  CHECK(key_of(r.objects[0]) == ObjectKey{"ClusterNetworkPolicy", "a"});
  CHECK(key_of(r.objects[1]) == ObjectKey{"ClusterNetworkPolicy", "b"});
  CHECK(std::get<ClusterNetworkPolicy>(r.objects[1]).priority == 1000);
}

TEST_CASE("a ClusterNetworkPolicy of an older API version is refused, naming the version", "[parse][cnp]") {
  ParseResult r = parse_manifests(R"(
apiVersion: policy.networking.k8s.io/v1alpha1
kind: ClusterNetworkPolicy
metadata: {name: old}
spec: {tier: Admin, priority: 1, subject: {namespaces: {}}}
)",
                                  "old.yaml");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].object == "ClusterNetworkPolicy old");
  CHECK(r.errors[0].field == "apiVersion");
  CHECK(r.objects.empty());
}
