// Cluster-wide churn through the compiler's indexes: pods moving between
// identities (old and new ones), coming and going, changing ports and node,
// namespaces relabeled, erased and recreated. After every commit the
// incremental compiler must answer as a full compile of the same cluster
// does, for peers of every kind the peer index files differently.
#include <arpa/inet.h>

#include <random>

#include "cluster.h"

using namespace bpfence;
using namespace bpfence::test;

namespace {

// One policy per way a peer is indexed: by a pod label, by the policy's
// namespace (no podSelector labels), by a namespace label, by nothing
// (matches anywhere); plus egress named ports and an ipBlock.
const char* kPolicies = R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: by-pod-label, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: api}}}]
    ports: [{port: 80}]
  - from: [{namespaceSelector: {matchLabels: {team: blue}}, podSelector: {matchLabels: {tier: fe}}}]
---
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: by-namespace, namespace: a}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchExpressions: [{key: tier, operator: In, values: [be]}]}}, {podSelector: {}}]
    ports: [{port: http}]
---
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: by-namespace-label, namespace: b}
spec:
  podSelector: {}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {env: prod}}
      podSelector: {matchExpressions: [{key: app, operator: NotIn, values: [db]}]}
---
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: anywhere, namespace: b}
spec:
  podSelector: {matchLabels: {app: api}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from: [{namespaceSelector: {matchExpressions: [{key: team, operator: Exists}]}}]
  egress:
  - to: [{namespaceSelector: {}, podSelector: {matchExpressions: [{key: app, operator: In, values: [db, cache]}]}}]
    ports: [{port: metrics}]
  - to: [{ipBlock: {cidr: 192.0.2.0/24, except: [192.0.2.128/25]}}]
---
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: named-any, namespace: c}
spec:
  podSelector: {matchLabels: {tier: fe}}
  policyTypes: [Egress]
  egress:
  - ports: [{port: http}]
)";

const std::vector<std::string> kNamespaces = {"a", "b", "c", "d"};
const std::vector<std::string> kApps = {"web", "db", "api", "cache"};

Labels random_labels(std::mt19937& rng, int& unique) {
  Labels l{{"app", kApps[rng() % kApps.size()]}, {"tier", rng() % 2 ? "fe" : "be"}};
  if (rng() % 4 == 0) l["canary"] = "c" + std::to_string(unique++);  // an identity nobody else has
  return l;
}

std::vector<ContainerPort> random_ports(std::mt19937& rng) {
  std::vector<ContainerPort> ports;
  if (rng() % 3) ports.push_back({"http", static_cast<uint16_t>(rng() % 2 ? 8080 : 8081), Protocol::TCP});
  if (rng() % 2) ports.push_back({"metrics", 9090, Protocol::TCP});
  return ports;
}

Labels random_namespace_labels(std::mt19937& rng, const std::string& name) {
  Labels l{{"kubernetes.io/metadata.name", name}};
  if (rng() % 3) l["team"] = rng() % 2 ? "blue" : "red";
  if (rng() % 2) l["env"] = rng() % 2 ? "prod" : "dev";
  return l;
}

Compiler full_compile(const Compiler& from) {
  Compiler c({"node-a", {}});
  for (const auto& [_, n] : from.namespaces()) c.upsert(n);
  for (const auto& [_, p] : from.pods()) c.upsert(p);
  for (const auto& [_, p] : from.policies()) c.upsert(p);
  c.commit();
  return c;
}

// Verdicts between every pair of pods (and two outside addresses) on the
// ports the policies name.
std::vector<bool> matrix(const Compiler& c) {
  std::vector<IpAddress> addrs;
  for (const auto& [_, pod] : c.pods())
    for (const auto& ip : pod.ips) addrs.push_back(ip);
  addrs.push_back(*IpAddress::parse("192.0.2.1"));
  addrs.push_back(*IpAddress::parse("192.0.2.200"));
  std::vector<bool> out;
  for (const auto& s : addrs)
    for (const auto& d : addrs)
      for (auto [proto, port] : std::vector<std::pair<uint8_t, uint16_t>>{{6, 80}, {6, 8080}, {6, 9090}, {1, 0}})
        out.push_back(c.verdict(s, d, proto, port).allowed);
  return out;
}

// What each local endpoint is isolated by (ids differ between compilers).
std::map<std::string, std::pair<std::vector<std::string>, std::vector<std::string>>> isolation(const Compiler& c) {
  std::map<std::string, std::pair<std::vector<std::string>, std::vector<std::string>>> out;
  for (const auto& [pod, ep] : c.state().endpoints) out[pod] = {ep.ingress_policies, ep.egress_policies};
  return out;
}

// Policy-map entries by what they mean (pod, peer identity's labels, port,
// rule), since the two compilers number things differently.
std::set<std::string> entries(const Compiler& c) {
  std::map<uint32_t, std::string> pod_of;
  for (const auto& [pod, ep] : c.state().endpoints) pod_of[ep.endpoint_id] = pod;
  std::set<std::string> out;
  for (const auto& [k, rule] : c.state().policy) {
    std::string peer = std::to_string(k.k.peer_identity);
    if (auto it = c.state().identities.find(k.k.peer_identity); it != c.state().identities.end()) {
      peer = it->second.namespace_ + "{";
      for (const auto& [a, b] : it->second.labels) peer += a + "=" + b + ",";
      peer += "}";
    }
    out.insert(pod_of[k.k.endpoint_id] + " " + peer + " d" + std::to_string(k.k.direction) + " p" +
               std::to_string(k.k.proto) + ":" + std::to_string(ntohs(k.k.port)) + " " + c.state().rules.at(rule).str());
  }
  return out;
}

// The entries only one of the two compilers has, one per line.
std::string entry_differences(const Compiler& a, const Compiler& b) {
  auto x = entries(a), y = entries(b);
  std::string out;
  for (const auto& e : x)
    if (!y.count(e)) out += "only incremental: " + e + "\n";
  for (const auto& e : y)
    if (!x.count(e)) out += "only full: " + e + "\n";
  return out;
}

// After a commit: its diff kept `mirror` (what a dataplane holds) equal to
// the state, and the state answers as a full compile of the same cluster.
void require_agrees_with_full_compile(const DesiredState& mirror, const Compiler& inc) {
  REQUIRE(same_maps(mirror, inc.state()));
  auto full = full_compile(inc);
  REQUIRE(matrix(inc) == matrix(full));
  REQUIRE(isolation(inc) == isolation(full));
  REQUIRE(entry_differences(inc, full) == "");
  REQUIRE(inc.state().ranges.size() == full.state().ranges.size());
  REQUIRE(inc.state().identities.size() == full.state().identities.size());
  // Which kinds of range entries each endpoint has (range_counts).
  for (const auto& [pod, ep] : inc.state().endpoints) REQUIRE(ep.has_ranges == full.state().endpoints.at(pod).has_ranges);
}

// A cluster of the namespaces a-d with random labels and these policies.
Cluster random_cluster(std::mt19937& rng, const char* policies) {
  Cluster cl;
  for (const auto& ns : kNamespaces) cl.namespaces.push_back({ns, random_namespace_labels(rng, ns), ""});
  cl.policy(policies);
  return cl;
}

}  // namespace

TEST_CASE("incremental commits agree with a full compile under pod and namespace churn", "[incremental][churn]") {
  std::mt19937 rng(7);
  int unique = 0, next_pod = 0;
  Cluster cl = random_cluster(rng, kPolicies);
  auto make_pod = [&] {
    Pod p;
    p.namespace_ = kNamespaces[rng() % kNamespaces.size()];
    p.name = "pod-" + std::to_string(next_pod);
    p.labels = random_labels(rng, unique);
    p.node_name = rng() % 2 ? "node-a" : "node-b";
    p.ips = {IpAddress::from_v4((10u << 24) | static_cast<uint32_t>(next_pod + 1))};
    p.ports = random_ports(rng);
    ++next_pod;
    return p;
  };
  for (int i = 0; i < 24; ++i) cl.pods.push_back(make_pod());
  Compiler inc = cl.compile("node-a");
  DesiredState mirror = inc.state();  // what the dataplane holds, kept by the diffs alone

  for (int step = 0; step < 80; ++step) {
    std::vector<Pod> live;
    for (const auto& [_, p] : inc.pods()) live.push_back(p);
    if (live.empty()) live.push_back(make_pod());
    Pod p = live[rng() % live.size()];
    switch (rng() % 9) {
      case 0:  // to another identity, maybe one nobody has
        p.labels = random_labels(rng, unique);
        inc.upsert(p);
        break;
      case 1:  // into the identity of another pod
        p.labels = live[rng() % live.size()].labels;
        inc.upsert(p);
        break;
      case 2:
        inc.upsert(make_pod());
        break;
      case 3:
        inc.erase_pod(p.key());
        break;
      case 4:
        p.ports = random_ports(rng);
        inc.upsert(p);
        break;
      case 5:
        p.node_name = p.node_name == "node-a" ? "node-b" : "node-a";
        inc.upsert(p);
        break;
      case 6: {
        const auto& ns = kNamespaces[rng() % kNamespaces.size()];
        inc.upsert(Namespace{ns, random_namespace_labels(rng, ns), ""});
        break;
      }
      case 7: {  // a policy deleted or back, in the same batch as other changes
        const auto& policy = cl.policies[rng() % cl.policies.size()];
        if (inc.policies().count(policy.key()))
          inc.erase_policy(policy.key());
        else
          inc.upsert(policy);
        break;
      }
      default: {  // erased (its pods keep the implicit name label) or back
        const auto& ns = kNamespaces[rng() % kNamespaces.size()];
        if (inc.namespaces().count(ns))
          inc.erase_namespace(ns);
        else
          inc.upsert(Namespace{ns, random_namespace_labels(rng, ns), ""});
      }
    }
    if (rng() % 3 == 0) continue;  // sometimes batch several changes
    apply(mirror, inc.commit());
    INFO("step " << step);
    require_agrees_with_full_compile(mirror, inc);
  }
}

TEST_CASE("a pod joining an existing identity changes only its address", "[incremental][churn]") {
  Cluster cl;
  cl.ns("a", {{"team", "blue"}}).ns("b", {{"env", "prod"}}).ns("c").ns("d");
  cl.pod("a/web", "10.0.0.1", {{"app", "web"}});
  cl.pod("b/api-0", "10.0.1.1", {{"app", "api"}}, {}, "node-b");
  cl.policy(kPolicies);
  auto c = cl.compile("node-a");
  REQUIRE_FALSE(allowed(c, "10.0.1.2", "a/web", "80/TCP"));

  Pod twin = c.pods().at("b/api-0");
  twin.name = "api-1";
  twin.ips = {*IpAddress::parse("10.0.1.2")};
  c.upsert(twin);
  auto diff = c.commit();
  CHECK(diff.pod_addrs.size() == 1);
  CHECK(diff.policy.empty());
  CHECK(diff.ranges.empty());
  CHECK(diff.rules.empty());
  CHECK(diff.endpoints.empty());
  CHECK_FALSE(allowed(c, "b/api-1", "a/web", "80/TCP"));  // b/api is not a's api
}

TEST_CASE("a policy that selected no local pod catches up on what changed meanwhile", "[incremental][churn]") {
  Cluster cl;
  cl.ns("a").ns("b", {{"team", "red"}}).ns("c").ns("d");
  cl.pod("b/fe", "10.0.1.1", {{"app", "cache"}, {"tier", "fe"}}, {}, "node-b");
  cl.policy(kPolicies);
  auto c = cl.compile("node-a");  // by-pod-label selects a/web: none here yet

  c.upsert(Namespace{"b", {{"kubernetes.io/metadata.name", "b"}, {"team", "blue"}}, ""});
  c.commit();
  Pod api = c.pods().at("b/fe");
  api.name = "fe-2";
  api.namespace_ = "a";
  api.labels = {{"app", "api"}};
  api.ips = {*IpAddress::parse("10.0.0.9")};
  c.upsert(api);
  c.commit();

  Pod web;
  web.namespace_ = "a";
  web.name = "web";
  web.labels = {{"app", "web"}};
  web.node_name = "node-a";
  web.ips = {*IpAddress::parse("10.0.0.1")};
  c.upsert(web);
  c.commit();
  CHECK(allowed(c, "b/fe", "a/web", "443/TCP"));     // team=blue namespace, tier=fe
  CHECK(allowed(c, "a/fe-2", "a/web", "80/TCP"));    // app=api of a
  CHECK_FALSE(allowed(c, "a/fe-2", "a/web", "443/TCP"));
}

TEST_CASE("a new identity reaches the policies that admit it by namespace, namespace label or anywhere",
          "[incremental][churn]") {
  Cluster cl;
  cl.ns("a", {{"team", "blue"}}).ns("b", {{"env", "prod"}}).ns("c").ns("d");
  cl.pod("a/db", "10.0.0.1", {{"app", "db"}}, {"http:8080/TCP"});
  cl.pod("b/cache", "10.0.1.1", {{"app", "cache"}});
  cl.pod("b/api", "10.0.1.2", {{"app", "api"}});
  cl.policy(kPolicies);
  auto c = cl.compile("node-a");
  auto add = [&](const std::string& ns, const std::string& name, const std::string& ip, Labels labels) {
    Pod p;
    p.namespace_ = ns;
    p.name = name;
    p.labels = std::move(labels);
    p.node_name = "node-b";
    p.ips = {*IpAddress::parse(ip)};
    c.upsert(p);
    c.commit();
  };
  REQUIRE_FALSE(allowed(c, "10.0.0.9", "a/db", "8080/TCP"));
  add("a", "new", "10.0.0.9", {{"app", "web"}, {"canary", "z1"}});
  CHECK(allowed(c, "a/new", "a/db", "8080/TCP"));   // by-namespace: any pod of a
  CHECK(allowed(c, "a/new", "b/api", "443/TCP"));   // anywhere: a namespace with a team
  CHECK_FALSE(allowed(c, "a/new", "b/cache", "443/TCP"));

  add("b", "new", "10.0.1.9", {{"app", "web"}, {"canary", "z2"}});
  CHECK(allowed(c, "b/new", "b/cache", "443/TCP"));  // by-namespace-label: env=prod, app not db
  CHECK_FALSE(allowed(c, "b/new", "a/db", "8080/TCP"));  // by-namespace admits only a
}

namespace {

// Policies of deployment web in namespace a (see below).
const char* kReplicaPolicies = R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web-from-api, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: api}}}]
    ports: [{port: 80}]
  - from: [{ipBlock: {cidr: 192.0.2.0/24}}]
    ports: [{port: 30000, endPort: 30100}]
---
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web-from-api-too, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: api}}}]
    ports: [{port: 80}]
  - from: [{namespaceSelector: {matchLabels: {team: blue}}, podSelector: {matchLabels: {tier: fe}}}]
    ports: [{port: 30000, endPort: 30100}]
---
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web-named, namespace: a}
spec:
  podSelector: {matchLabels: {tier: fe}}
  ingress:
  - from: [{namespaceSelector: {}}]
    ports: [{port: http}]
---
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: all-of-a, namespace: a}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: api}}}]
  egress:
  - to: [{namespaceSelector: {}, podSelector: {matchLabels: {app: db}}}]
    ports: [{port: 5432}]
)";

}  // namespace

// Replicas of one deployment on this node are selected by the same
// policies: a new replica's merged entries are copied whole from one that
// stayed (references and all), not made reference by reference. Several
// policies share keys (several rules per entry), one has port ranges, one
// an ingress named port (replicas with other container ports cannot copy),
// one egress; identities and other replicas change in the same batches.
TEST_CASE("replicas of a local deployment agree with a full compile as they come and go", "[incremental][churn]") {
  std::mt19937 rng(11);
  int unique = 0, next_pod = 0;
  Cluster cl = random_cluster(rng, kReplicaPolicies);
  auto make_pod = [&](const std::string& ns, Labels labels, const std::string& node) {
    Pod p;
    p.namespace_ = ns;
    p.name = "pod-" + std::to_string(next_pod);
    p.labels = std::move(labels);
    p.node_name = node;
    p.ips = {IpAddress::from_v4((10u << 24) | static_cast<uint32_t>(next_pod + 1))};
    p.ports = {{"http", static_cast<uint16_t>(rng() % 4 ? 8080 : 8081), Protocol::TCP}};
    ++next_pod;
    return p;
  };
  auto replica = [&] {
    return make_pod("a", {{"app", "web"}, {"tier", rng() % 3 ? "fe" : "be"}}, rng() % 4 ? "node-a" : "node-b");
  };
  auto remote = [&] {
    Labels l = random_labels(rng, unique);
    return make_pod(kNamespaces[rng() % kNamespaces.size()], l, "node-b");
  };
  for (int i = 0; i < 4; ++i) cl.pods.push_back(replica());
  for (int i = 0; i < 12; ++i) cl.pods.push_back(remote());
  Compiler inc = cl.compile("node-a");
  DesiredState mirror = inc.state();

  for (int step = 0; step < 120; ++step) {
    std::vector<Pod> web, others;
    for (const auto& [_, p] : inc.pods()) (p.labels.count("app") && p.labels.at("app") == "web" ? web : others).push_back(p);
    switch (rng() % 6) {
      case 0:
      case 1:
        inc.upsert(replica());
        break;
      case 2:
        if (!web.empty()) inc.erase_pod(web[rng() % web.size()].key());
        break;
      case 3:  // a replica relabeled, out of the deployment or to the other tier
        if (!web.empty()) {
          Pod p = web[rng() % web.size()];
          if (rng() % 2) p.labels["tier"] = p.labels["tier"] == "fe" ? "be" : "fe";
          else p.labels["app"] = "db";
          inc.upsert(p);
        }
        break;
      case 4:  // a peer identity comes (maybe a new one) in the same batch
        inc.upsert(remote());
        break;
      default:
        if (!others.empty()) inc.erase_pod(others[rng() % others.size()].key());
    }
    if (rng() % 3 == 0) continue;  // sometimes batch several changes
    apply(mirror, inc.commit());
    INFO("step " << step);
    require_agrees_with_full_compile(mirror, inc);
  }
}

TEST_CASE("a new replica copies its entries only from an endpoint selected by exactly its policies",
          "[incremental][churn]") {
  Cluster cl;
  cl.ns("a", {{"team", "blue"}}).ns("b");
  // aaa-fe sorts first: every policy's first endpoint, also web-named's
  // (tier fe), which does not select the be replicas.
  cl.pod("a/aaa-fe", "10.0.0.1", {{"app", "web"}, {"tier", "fe"}}, {"http:8080/TCP"});
  cl.pod("a/web-be-0", "10.0.0.2", {{"app", "web"}, {"tier", "be"}}, {"http:8080/TCP"});
  cl.pod("a/api", "10.0.1.1", {{"app", "api"}}, {}, "node-b");
  cl.pod("b/other", "10.0.2.1", {{"app", "other"}}, {}, "node-b");
  cl.policy(kReplicaPolicies);
  Compiler c = cl.compile("node-a");
  DesiredState mirror = c.state();

  Pod be = c.pods().at("a/web-be-0");
  be.name = "web-be-1";
  be.ips = {*IpAddress::parse("10.0.0.3")};
  c.upsert(be);
  apply(mirror, c.commit());
  REQUIRE(same_maps(mirror, c.state()));
  REQUIRE(entry_differences(c, full_compile(c)) == "");
  CHECK(allowed(c, "a/api", "a/web-be-1", "80/TCP"));
  CHECK_FALSE(allowed(c, "b/other", "a/web-be-1", "8080/TCP"));  // web-named selects only tier fe

  Pod fe = c.pods().at("a/aaa-fe");
  fe.name = "web-fe-1";
  fe.ips = {*IpAddress::parse("10.0.0.4")};
  c.upsert(fe);
  apply(mirror, c.commit());
  REQUIRE(same_maps(mirror, c.state()));
  REQUIRE(entry_differences(c, full_compile(c)) == "");
  CHECK(allowed(c, "b/other", "a/web-fe-1", "8080/TCP"));
}

// A local pod that comes asks only the policies whose podSelector may
// select it (by a label it requires, or none): a policy edited to another
// selector, or erased, must be asked by its new one only.
TEST_CASE("a local pod added is selected by the policies' current podSelectors", "[incremental][churn]") {
  Cluster cl;
  cl.ns("a").ns("b");
  cl.pod("a/api", "10.0.1.1", {{"app", "api"}}, {}, "node-b");
  cl.policy(kReplicaPolicies);
  Compiler c = cl.compile("node-a");
  DesiredState mirror = c.state();
  auto add_local = [&](const std::string& name, const std::string& ip, Labels labels) {
    Pod p;
    p.namespace_ = "a";
    p.name = name;
    p.labels = std::move(labels);
    p.node_name = "node-a";
    p.ips = {*IpAddress::parse(ip)};
    c.upsert(p);
    apply(mirror, c.commit());
    REQUIRE(same_maps(mirror, c.state()));
    REQUIRE(entry_differences(c, full_compile(c)) == "");
  };

  NetworkPolicy p = c.policies().at("a/web-from-api");
  p.pod_selector.match_labels = {{"app", "db"}};  // no longer web
  c.upsert(p);
  c.erase_policy("a/all-of-a");
  apply(mirror, c.commit());
  add_local("db-0", "10.0.0.1", {{"app", "db"}});
  add_local("web-0", "10.0.0.2", {{"app", "web"}});
  CHECK(allowed(c, "a/api", "a/db-0", "80/TCP"));       // web-from-api now selects app=db
  CHECK_FALSE(allowed(c, "a/api", "a/db-0", "81/TCP"));  // all-of-a is gone
  CHECK(c.state().endpoints.at("a/web-0").ingress_policies == std::vector<std::string>{"a/web-from-api-too"});

  p.pod_selector = {};  // every pod of a
  c.upsert(p);
  apply(mirror, c.commit());
  add_local("other-0", "10.0.0.3", {{"app", "other"}});
  CHECK(allowed(c, "a/api", "a/other-0", "80/TCP"));
}
