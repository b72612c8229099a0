// Lint warnings (Compiler::warnings()): one case per mistake operators make,
// each with the exact finding expected, written by hand, and a clean policy
// that must raise nothing.
#include <catch2/catch.hpp>

#include "cluster.h"

using namespace bpfence;
using namespace bpfence::test;

namespace {

Cluster base() {
  Cluster c;
  c.ns("default").ns("prod", {{"env", "prod"}}).ns("kube-system");
  c.pod("default/web", "10.0.1.10", {{"app", "web"}});
  c.pod("default/client", "10.0.1.11", {{"app", "client"}});
  c.pod("prod/api", "10.0.2.10", {{"app", "api"}});
  return c;
}

}  // namespace

TEST_CASE("lint: a clean policy raises no warning", "[lint]") {
  auto c = base().policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - podSelector: {matchLabels: {app: client}}
    - namespaceSelector: {matchLabels: {env: prod}}
      podSelector: {matchLabels: {app: api}}
    - ipBlock: {cidr: 192.168.0.0/16, except: [192.168.1.0/24, 192.168.2.0/24]}
  - from: [{namespaceSelector: {}}, {podSelector: {}}]
)").compile();
  CHECK(c.warnings().empty());
}

TEST_CASE("lint: egress rules ignored because policyTypes lacks Egress", "[lint]") {
  auto c = base().policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: db, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  egress:
  - to: [{podSelector: {matchLabels: {app: nothing-like-this}}}]
)").compile();
  // The ignored rule's selector is not linted: it does nothing anyway.
  CHECK(lint_messages(c, "default/db") ==
        std::vector<std::string>{"has egress rules but policyTypes does not list Egress: they are ignored"});
}

TEST_CASE("lint: ingress rules ignored because policyTypes lists only Egress", "[lint]") {
  auto c = base().policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: out-only, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
)").compile();
  CHECK(lint_messages(c, "default/out-only") ==
        std::vector<std::string>{"has ingress rules but policyTypes does not list Ingress: they are ignored"});
}

TEST_CASE("lint: a policy selecting no pods", "[lint]") {
  auto c = base().policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: typo, namespace: default}
spec:
  podSelector: {matchLabels: {app: wbe}}
  ingress: [{}]
)").compile();
  CHECK(lint_messages(c, "default/typo") == std::vector<std::string>{"selects no pods in namespace default"});
}

TEST_CASE("lint: a namespaceSelector no namespace matches (story 3)", "[lint]") {
  const char* story3 = R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: metrics, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {name: kube-system}}}]
    ports: [{port: 8080}]
)";
  SECTION("the label is missing") {
    auto c = base().policy(story3).compile();
    CHECK(lint_messages(c, "default/metrics") ==
          std::vector<std::string>{
              "spec.ingress[0].from[0].namespaceSelector {name=kube-system} selects no namespace (no namespace has "
              "these labels): the peer matches nothing; namespaces carry kubernetes.io/metadata.name=<name> unless "
              "labelled"});
  }
  SECTION("once the namespace carries the label the warning goes") {
    auto cluster = base().policy(story3);
    cluster.namespaces[2].labels["name"] = "kube-system";
    CHECK(lint_messages(cluster.compile(), "default/metrics").empty());
  }
  SECTION("the automatic name label is matched") {
    auto c = base().policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: metrics, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}}]
)").compile();
    CHECK(lint_messages(c, "default/metrics").empty());
  }
}

TEST_CASE("lint: a podSelector that selects no pod", "[lint]") {
  SECTION("alone: the policy's namespace") {
    auto c = base().policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress, Egress]
  ingress: [{from: [{podSelector: {matchLabels: {app: api}}}]}]
  egress: [{to: [{podSelector: {matchLabels: {app: client}}}, {podSelector: {matchExpressions: [{key: tier, operator: Exists}]}}]}]
)").compile();
    // app=api exists, but in prod, not in default.
    CHECK(lint_messages(c, "default/web") ==
          std::vector<std::string>{
              "spec.ingress[0].from[0].podSelector {app=api} selects no pod in namespace default: the peer matches "
              "nothing until such a pod exists",
              "spec.egress[0].to[1].podSelector {tier Exists} selects no pod in namespace default: the peer matches "
              "nothing until such a pod exists"});
  }
  SECTION("with a namespaceSelector: the pods of those namespaces") {
    auto c = base().policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {env: prod}}
      podSelector: {matchLabels: {app: client}}
)").compile();
    CHECK(lint_messages(c, "default/web") ==
          std::vector<std::string>{
              "spec.ingress[0].from[0].podSelector {app=client} selects no pod in the namespaces its "
              "namespaceSelector selects (prod): the peer matches nothing until such a pod exists"});
  }
}

TEST_CASE("lint: an ipBlock that covers pod IPs", "[lint]") {
  SECTION("pods inside the cidr and outside the excepts are named") {
    auto c = base().policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: nfs, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.2.0/24]}}]
)").compile();
    CHECK(lint_messages(c, "default/nfs") ==
          std::vector<std::string>{
              "spec.ingress[0].from[0].ipBlock 10.0.0.0/16 covers the IPs of 2 pods: default/client (10.0.1.11), "
              "default/web (10.0.1.10); pod IPs change when pods restart, use a podSelector/namespaceSelector to "
              "select pods"});
  }
  SECTION("more than two pods are summarised") {
    auto c = base().policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: nfs, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8}}]}]
)").compile();
    CHECK(lint_messages(c, "default/nfs") ==
          std::vector<std::string>{
              "spec.egress[0].to[0].ipBlock 10.0.0.0/8 covers the IPs of 3 pods: default/client (10.0.1.11), "
              "default/web (10.0.1.10) and 1 more; pod IPs change when pods restart, use a "
              "podSelector/namespaceSelector to select pods"});
  }
  SECTION("at thousands of pods, every pod inside the block is counted, whatever order their names give") {
    // More pods than the linter sorts at once (it sorts addresses in runs
    // and merges them): names in one order, addresses scattered.
    Cluster cl = base();
    int inside = 0;
    for (int i = 0; i < 20000; ++i) {
      const uint32_t scrambled = (static_cast<uint32_t>(i) * 7919u) % 20000u;
      const bool in_block = scrambled % 7 == 0;
      inside += in_block;
      const std::string ip = (in_block ? "10.9." : "10.8.") + std::to_string(scrambled / 250) + "." +
                             std::to_string(scrambled % 250 + 1);
      cl.pod("default/p" + std::to_string(i), ip, {}, {}, "node-b");
    }
    auto c = cl.policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: nfs, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{ipBlock: {cidr: 10.9.0.0/16}}]}]
)").compile();
    auto messages = lint_messages(c, "default/nfs");
    REQUIRE(messages.size() == 1);
    CHECK_THAT(messages[0], Catch::Contains("covers the IPs of " + std::to_string(inside) + " pods"));
  }
  SECTION("a /0 is 'everywhere' on purpose, and an external block says nothing") {
    auto c = base().policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: out, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 0.0.0.0/0}}, {ipBlock: {cidr: 172.16.0.0/12}}]}]
)").compile();
    CHECK(lint_messages(c, "default/out").empty());
  }
  SECTION("excepts that remove every pod leave nothing to warn about") {
    auto c = base().policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: ext, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.0.0.0/16]}}]}]
)").compile();
    CHECK(lint_messages(c, "default/ext").empty());
  }
}

TEST_CASE("lint: overlapping except entries", "[lint]") {
  auto c = base().policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: ext, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - ipBlock:
        cidr: 192.168.0.0/16
        except: [192.168.1.0/24, 192.168.0.0/20, 192.168.8.0/24, 192.168.8.0/24]
)").compile();
  CHECK(lint_messages(c, "default/ext") ==
        std::vector<std::string>{
            "spec.ingress[0].from[0].ipBlock.except[0] 192.168.1.0/24 lies inside except[1] 192.168.0.0/20: the "
            "overlapping entries are redundant",
            "spec.ingress[0].from[0].ipBlock.except[2] 192.168.8.0/24 lies inside except[1] 192.168.0.0/20: the "
            "overlapping entries are redundant",
            "spec.ingress[0].from[0].ipBlock.except[3] 192.168.8.0/24 lies inside except[1] 192.168.0.0/20: the "
            "overlapping entries are redundant",
            "spec.ingress[0].from[0].ipBlock.except[3] 192.168.8.0/24 repeats except[2] 192.168.8.0/24: the "
            "overlapping entries are redundant"});
}

// The agent lints while idle and a waiting change interrupts it. At cluster
// scale indexing the pods alone is tens of milliseconds: it must ask
// whether to give way while it indexes, not only between policies.
TEST_CASE("lint: gives way while it indexes many pods, and an interrupted run says so", "[lint]") {
  Cluster cluster = base();
  for (int i = 0; i < 20000; ++i)
    cluster.pod("default/p" + std::to_string(i),
                "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1), {{"app", "x"}});
  auto c = cluster.policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {app: nothing}}}]}]
)").compile();
  int asked = 0;
  std::vector<Warning> out;
  CHECK(c.warnings(&out, [&] { return ++asked > 1000; }));  // never interrupted: the whole run
  CHECK(asked >= 1 + 20000 / 4096);                         // the policy, and every few thousand pods
  CHECK(out.size() == 1);
  asked = 0;
  CHECK_FALSE(c.warnings(&out, [&] { return ++asked >= 2; }));  // stops at the second question
  CHECK(asked == 2);
}
