// Every manifest of test/conformance/recipes parses with no error, and
// each recipe's policy reads as the recipe's README describes it.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "bpfence/parse.h"

using namespace bpfence;

namespace {

const std::string kRecipes = BPFENCE_SOURCE_DIR "/test/conformance/recipes";

std::vector<NetworkPolicy> load_recipe(const std::string& file) {
  std::ifstream in(kRecipes + "/" + file);
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  ParseResult r = parse_manifests(ss.str(), file);
  for (const auto& e : r.errors) FAIL_CHECK(e.str());
  CHECK(r.ignored == 0);
  std::vector<NetworkPolicy> policies;
  for (const auto& o : r.objects) {
    REQUIRE(std::holds_alternative<NetworkPolicy>(o));
    policies.push_back(std::get<NetworkPolicy>(o));
  }
  return policies;
}

Labels labels(std::initializer_list<std::pair<const std::string, std::string>> l) { return Labels(l); }

// One peer with only a podSelector.
void check_pod_peer(const PolicyPeer& p, const Labels& match) {
  REQUIRE(p.pod_selector);
  CHECK(p.pod_selector->match_labels == match);
  CHECK(p.pod_selector->match_expressions.empty());
  CHECK_FALSE(p.namespace_selector);
  CHECK_FALSE(p.ip_block);
}

void check_dns_egress(const NetworkPolicy& p) {
  CHECK(p.policy_types == std::vector<std::string>{"Egress"});
  CHECK(p.egress_present);
  CHECK(p.ingress.empty());
  CHECK_FALSE(p.affects_ingress());
  CHECK(p.affects_egress());
  REQUIRE(p.egress.size() == 1);
  const PolicyRule& rule = p.egress[0];
  REQUIRE(rule.peers.size() == 1);
  const PolicyPeer& peer = rule.peers[0];
  // One peer holding both selectors: pods matching both (AND).
  REQUIRE(peer.namespace_selector);
  REQUIRE(peer.pod_selector);
  CHECK(peer.namespace_selector->match_labels == labels({{"kubernetes.io/metadata.name", "kube-system"}}));
  CHECK(peer.pod_selector->match_labels == labels({{"k8s-app", "kube-dns"}}));
  REQUIRE(rule.ports.size() == 2);
  CHECK(rule.ports[0].port == 53);
  CHECK(rule.ports[0].protocol == Protocol::UDP);
  CHECK(rule.ports[1].port == 53);
  CHECK(rule.ports[1].protocol == Protocol::TCP);
  for (const auto& port : rule.ports) {
    CHECK(port.port_name.empty());
    CHECK_FALSE(port.end_port);
  }
}

// Expectations per recipe file: how many documents and what they say.
const std::map<std::string, std::function<void(const std::vector<NetworkPolicy>&)>> kExpect = {
    {"01-deny-all-traffic-to-an-application.yaml",
     [](const auto& ps) {
       REQUIRE(ps.size() == 1);
       CHECK(ps[0].name == "web-deny-all");
       CHECK(ps[0].pod_selector.match_labels == labels({{"app", "web"}}));
       CHECK(ps[0].ingress.empty());
       CHECK(ps[0].policy_types.empty());
       CHECK(ps[0].affects_ingress());
       CHECK_FALSE(ps[0].affects_egress());
     }},
    {"02-limit-traffic-to-an-application.yaml",
     [](const auto& ps) {
       REQUIRE(ps.size() == 1);
       CHECK(ps[0].name == "api-allow");
       CHECK(ps[0].pod_selector.match_labels == labels({{"app", "bookstore"}, {"role", "api"}}));
       REQUIRE(ps[0].ingress.size() == 1);
       REQUIRE(ps[0].ingress[0].peers.size() == 1);
       check_pod_peer(ps[0].ingress[0].peers[0], labels({{"app", "bookstore"}}));
       CHECK(ps[0].ingress[0].ports.empty());
     }},
    {"02a-allow-all-traffic-to-an-application.yaml",
     [](const auto& ps) {
       REQUIRE(ps.size() == 1);
       CHECK(ps[0].name == "web-allow-all");
       // `ingress: [{}]`: one rule with no peers and no ports, every source.
       REQUIRE(ps[0].ingress.size() == 1);
       CHECK(ps[0].ingress[0].peers.empty());
       CHECK(ps[0].ingress[0].ports.empty());
     }},
    {"03-deny-all-non-whitelisted-traffic-in-the-namespace.yaml",
     [](const auto& ps) {
       REQUIRE(ps.size() == 1);
       CHECK(ps[0].name == "default-deny-all");
       CHECK(ps[0].pod_selector.empty());
       CHECK(ps[0].ingress.empty());
     }},
    {"04-deny-traffic-from-other-namespaces.yaml",
     [](const auto& ps) {
       REQUIRE(ps.size() == 1);
       CHECK(ps[0].name == "deny-from-other-namespaces");
       // `matchLabels:` left empty (null) selects every pod.
       CHECK(ps[0].pod_selector.empty());
       REQUIRE(ps[0].ingress.size() == 1);
       REQUIRE(ps[0].ingress[0].peers.size() == 1);
       check_pod_peer(ps[0].ingress[0].peers[0], {});
     }},
    {"05-allow-traffic-from-all-namespaces.yaml",
     [](const auto& ps) {
       REQUIRE(ps.size() == 1);
       REQUIRE(ps[0].ingress.size() == 1);
       REQUIRE(ps[0].ingress[0].peers.size() == 1);
       const auto& peer = ps[0].ingress[0].peers[0];
       REQUIRE(peer.namespace_selector);
       CHECK(peer.namespace_selector->empty());
       CHECK_FALSE(peer.pod_selector);
       CHECK_FALSE(peer.ip_block);
     }},
    {"06-allow-traffic-from-a-namespace.yaml",
     [](const auto& ps) {
       REQUIRE(ps.size() == 1);
       CHECK(ps[0].name == "web-allow-prod");
       REQUIRE(ps[0].ingress.size() == 1);
       REQUIRE(ps[0].ingress[0].peers.size() == 1);
       const auto& peer = ps[0].ingress[0].peers[0];
       REQUIRE(peer.namespace_selector);
       CHECK(peer.namespace_selector->match_labels == labels({{"purpose", "production"}}));
       CHECK_FALSE(peer.pod_selector);
     }},
    {"07-allow-traffic-from-some-pods-in-another-namespace.yaml",
     [](const auto& ps) {
       REQUIRE(ps.size() == 1);
       CHECK(ps[0].name == "web-allow-all-ns-monitoring");
       REQUIRE(ps[0].ingress.size() == 1);
       // One peer with both selectors (AND), not two peers (OR).
       REQUIRE(ps[0].ingress[0].peers.size() == 1);
       const auto& peer = ps[0].ingress[0].peers[0];
       REQUIRE(peer.namespace_selector);
       REQUIRE(peer.pod_selector);
       CHECK(peer.namespace_selector->match_labels == labels({{"team", "operations"}}));
       CHECK(peer.pod_selector->match_labels == labels({{"type", "monitoring"}}));
     }},
    {"08-allow-external-traffic.yaml",
     [](const auto& ps) {
       REQUIRE(ps.size() == 1);
       CHECK(ps[0].name == "web-allow-external");
       REQUIRE(ps[0].ingress.size() == 1);
       CHECK(ps[0].ingress[0].peers.empty());
       CHECK(ps[0].ingress[0].ports.empty());
     }},
    {"09-allow-traffic-only-to-a-port.yaml",
     [](const auto& ps) {
       REQUIRE(ps.size() == 1);
       CHECK(ps[0].name == "api-allow-5000");
       REQUIRE(ps[0].ingress.size() == 1);
       const auto& rule = ps[0].ingress[0];
       REQUIRE(rule.ports.size() == 1);
       CHECK(rule.ports[0].port == 5000);
       CHECK_FALSE(rule.ports[0].protocol);  // unset: TCP
       CHECK(rule.ports[0].proto() == Protocol::TCP);
       REQUIRE(rule.peers.size() == 1);
       check_pod_peer(rule.peers[0], labels({{"role", "monitoring"}}));
     }},
    {"10-allowing-traffic-with-multiple-selectors.yaml",
     [](const auto& ps) {
       REQUIRE(ps.size() == 1);
       CHECK(ps[0].pod_selector.match_labels == labels({{"app", "bookstore"}, {"role", "db"}}));
       REQUIRE(ps[0].ingress.size() == 1);
       const auto& peers = ps[0].ingress[0].peers;
       REQUIRE(peers.size() == 3);
       check_pod_peer(peers[0], labels({{"app", "bookstore"}, {"role", "search"}}));
       check_pod_peer(peers[1], labels({{"app", "bookstore"}, {"role", "api"}}));
       check_pod_peer(peers[2], labels({{"app", "inventory"}, {"role", "web"}}));
     }},
    {"11-deny-egress-traffic-from-an-application.yaml",
     [](const auto& ps) {
       // Two documents: two successive versions of one policy.
       REQUIRE(ps.size() == 2);
       CHECK(ps[0].key() == "default/foo-deny-egress");
       CHECK(ps[1].key() == "default/foo-deny-egress");
       CHECK(ps[0].policy_types == std::vector<std::string>{"Egress"});
       CHECK(ps[0].egress_present);
       CHECK(ps[0].egress.empty());
       CHECK(ps[0].affects_egress());
       CHECK_FALSE(ps[0].affects_ingress());
       check_dns_egress(ps[1]);
     }},
    {"12-deny-all-non-whitelisted-traffic-from-the-namespace.yaml",
     [](const auto& ps) {
       REQUIRE(ps.size() == 1);
       CHECK(ps[0].name == "default-deny-all-egress");
       CHECK(ps[0].pod_selector.empty());
       CHECK(ps[0].policy_types == std::vector<std::string>{"Egress"});
       CHECK(ps[0].egress_present);
       CHECK(ps[0].egress.empty());
       CHECK(ps[0].affects_egress());
     }},
    {"14-deny-external-egress-traffic.yaml",
     [](const auto& ps) {
       REQUIRE(ps.size() == 1);
       CHECK(ps[0].name == "foo-deny-external-egress");
       check_dns_egress(ps[0]);
     }},
};

}  // namespace

TEST_CASE("every conformance recipe parses with no error into NetworkPolicies of namespace default",
          "[parse][recipes]") {
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kRecipes)) {
    if (entry.path().extension() != ".yaml") continue;
    ++files;
    std::string file = entry.path().filename().string();
    DYNAMIC_SECTION(file) {
      auto policies = load_recipe(file);
      CHECK(!policies.empty());
      for (const auto& p : policies) CHECK(p.namespace_ == "default");
      // A new recipe must come with its expectations below.
      CHECK(kExpect.count(file) == 1);
    }
  }
  CHECK(files == static_cast<int>(kExpect.size()));
}

TEST_CASE("each conformance recipe reads as its README describes", "[parse][recipes]") {
  for (const auto& [file, expect] : kExpect) {
    DYNAMIC_SECTION(file) { expect(load_recipe(file)); }
  }
}
