// The incremental compiler must give the same answers as a full compile,
// and its diffs must (a) turn the old state into the new one exactly and
// (b) touch only what a change changes.
#include <functional>
#include <random>

#include "../support/synthetic_cluster.h"
#include "cluster.h"

using namespace bpfence;
using bpfence::test::apply;
using bpfence::test::same_maps;

namespace {

// Every pod to every pod on a few ports, plus external addresses.
std::vector<bool> matrix(const Compiler& c) {
  std::vector<IpAddress> addrs;
  for (const auto& [_, pod] : c.pods())
    for (const auto& ip : pod.ips) addrs.push_back(ip);
  addrs.push_back(*IpAddress::parse("172.16.3.1"));
  addrs.push_back(*IpAddress::parse("172.17.1.9"));
  std::vector<bool> out;
  for (const auto& s : addrs)
    for (const auto& d : addrs)
      for (auto [proto, port] : std::vector<std::pair<uint8_t, uint16_t>>{{6, 8001}, {6, 9090}, {6, 5432}, {6, 30000}, {1, 0}})
        out.push_back(c.verdict(s, d, proto, port).allowed);
  return out;
}

Compiler fresh(const Compiler& from, const std::string& node) {
  Compiler c({node, {}});
  for (const auto& [_, n] : from.namespaces()) c.upsert(n);
  for (const auto& [_, p] : from.pods()) c.upsert(p);
  for (const auto& [_, p] : from.policies()) c.upsert(p);
  c.commit();
  return c;
}

// Commits what `inc` has buffered: the diff must turn `mirror` into the new
// state exactly, and a full compile of the same objects must agree with it
// on `probes` and in the size of every map.
void commit_and_compare(Compiler& inc, DesiredState& mirror, const std::function<std::vector<bool>(const Compiler&)>& probes) {
  apply(mirror, inc.commit());
  REQUIRE(same_maps(mirror, inc.state()));
  auto full = fresh(inc, "node-a");
  REQUIRE(probes(full) == probes(inc));
  REQUIRE(inc.state().policy.size() == full.state().policy.size());
  REQUIRE(inc.state().ranges.size() == full.state().ranges.size());
  REQUIRE(inc.state().cidrs.size() == full.state().cidrs.size());
}

}  // namespace

TEST_CASE("incremental commits agree with a full compile after random changes", "[incremental]") {
  auto cl = synthetic::make(90, 30, 30, 6, 8);
  Compiler inc({"node-a", {}});
  for (const auto& n : cl.namespaces) inc.upsert(n);
  for (const auto& p : cl.pods) inc.upsert(p);
  for (const auto& p : cl.policies) inc.upsert(p);
  DesiredState mirror;
  apply(mirror, inc.commit());
  REQUIRE(same_maps(mirror, inc.state()));

  std::mt19937 rng(42);
  for (int step = 0; step < 60; ++step) {
    int what = rng() % 6;
    if (what == 0) {  // relabel a pod
      auto p = cl.pods[rng() % cl.pods.size()];
      p.labels["app"] = "app-" + std::to_string(rng() % 8);
      inc.upsert(p);
    } else if (what == 1) {  // delete or re-add a pod
      const auto& p = cl.pods[rng() % cl.pods.size()];
      if (inc.pods().count(p.key()))
        inc.erase_pod(p.key());
      else
        inc.upsert(p);
    } else if (what == 2) {  // edit a policy
      auto p = synthetic::make_policy(rng() % 80, 6, 8);
      p.name = cl.policies[rng() % cl.policies.size()].name;
      p.namespace_ = cl.policies[rng() % cl.policies.size()].namespace_;
      inc.upsert(p);
    } else if (what == 3) {  // delete a policy
      inc.erase_policy(cl.policies[rng() % cl.policies.size()].key());
    } else if (what == 4) {  // relabel a namespace
      auto n = cl.namespaces[rng() % cl.namespaces.size()];
      n.labels["team"] = "team-" + std::to_string(rng() % 5);
      inc.upsert(n);
    } else {  // move a pod to this node or away
      auto p = cl.pods[rng() % cl.pods.size()];
      p.node_name = p.node_name == "node-a" ? "node-b" : "node-a";
      inc.upsert(p);
    }
    if (rng() % 3 == 0) continue;  // sometimes batch several changes
    INFO("step " << step);
    commit_and_compare(inc, mirror, matrix);
  }
}

TEST_CASE("a one-policy edit touches only that policy's entries", "[incremental]") {
  auto cl = synthetic::make(2000, 200, 100);
  Compiler c({"node-a", {}});
  for (const auto& n : cl.namespaces) c.upsert(n);
  for (const auto& p : cl.pods) c.upsert(p);
  for (const auto& p : cl.policies) c.upsert(p);
  c.commit();
  REQUIRE(c.state().policy.size() > 100);

  // Pick a policy that selects local pods, and change its port.
  std::string chosen;
  for (const auto& [pod, ep] : c.state().endpoints)
    if (!ep.ingress_policies.empty()) chosen = ep.ingress_policies.front();
  REQUIRE(!chosen.empty());
  size_t own_entries = 0;
  std::set<uint32_t> own_rules;
  for (const auto& [id, ref] : c.state().rules)
    if (ref.policy == chosen) own_rules.insert(id);
  for (const auto& [k, rule] : c.state().policy) own_entries += own_rules.count(rule);

  NetworkPolicy edited = c.policies().at(chosen);
  edited.ingress[0].ports[0].port = 7777;
  c.upsert(edited);
  auto diff = c.commit();

  CHECK(diff.pod_addrs.empty());
  CHECK(diff.cidrs.empty());
  CHECK(diff.endpoints.empty());  // isolation did not change
  CHECK(diff.policy.size() > 0);
  CHECK(diff.policy.size() <= 2 * own_entries);
  for (const auto& [k, rule] : diff.policy.upsert) CHECK(c.state().rules.at(rule).policy == chosen);
  for (const auto& pod : diff.touched_endpoints) {
    const auto& ep = c.state().endpoints.at(pod);
    CHECK(std::find(ep.ingress_policies.begin(), ep.ingress_policies.end(), chosen) != ep.ingress_policies.end());
  }
}

TEST_CASE("relabeling a remote pod changes its address identity and the rules that name it", "[incremental]") {
  test::Cluster cl;
  cl.ns("default");
  cl.pod("default/web", "10.0.0.1", {{"app", "web"}});
  cl.pod("default/far", "10.0.9.9", {{"app", "other"}}, {}, "node-b");
  cl.policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {app: client}}}]}]
)");
  auto c = cl.compile("node-a");
  CHECK_FALSE(test::allowed(c, "default/far", "default/web", "80/TCP"));
  Pod far = c.pods().at("default/far");
  far.labels["app"] = "client";
  c.upsert(far);
  auto diff = c.commit();
  CHECK(diff.pod_addrs.size() == 1);
  CHECK(diff.policy.upsert.size() == 1);
  CHECK(diff.touched_endpoints == std::set<std::string>{"default/web"});
  CHECK(test::allowed(c, "default/far", "default/web", "80/TCP"));
}

TEST_CASE("a commit with no changes is empty", "[incremental]") {
  auto cl = synthetic::make(300, 30, 30);
  Compiler c({"node-a", {}});
  for (const auto& p : cl.pods) c.upsert(p);
  for (const auto& p : cl.policies) c.upsert(p);
  c.commit();
  CHECK(c.commit().empty());
  c.upsert(cl.pods[5]);  // same object again
  CHECK(c.commit().size() == 0);
}

TEST_CASE("a pod's allowed source prefixes reach its endpoint; a change upserts only that endpoint",
          "[incremental]") {
  test::Cluster cl;
  cl.ns("default");
  cl.pod("default/gw", "10.0.0.5,fd00::5", {{"app", "gw"}});
  cl.pod("default/web", "10.0.0.6", {{"app", "web"}});
  Compiler c = cl.compile("node-a");
  CHECK(c.state().endpoints.at("default/gw").source_prefixes.empty());
  Pod gw = c.pods().at("default/gw");
  gw.allowed_source_prefixes = {*Prefix::parse("10.9.0.0/16"), *Prefix::parse("fd00:9::/64")};
  c.upsert(gw);
  StateDiff d = c.commit();
  REQUIRE(d.endpoints.upsert.size() == 1);
  CHECK(d.endpoints.upsert[0].first == "default/gw");
  CHECK(d.endpoints.upsert[0].second.source_prefixes == gw.allowed_source_prefixes);
  CHECK(d.policy.empty());
  CHECK(d.pod_addrs.empty());
}

TEST_CASE("named egress ports towards an ipBlock follow pods that move, change ports or share an address",
          "[incremental][ipblock]") {
  test::Cluster cl;
  cl.ns("default");
  cl.pod("default/client", "10.244.9.1", {{"app", "client"}}, {}, "node-a");
  for (int i = 0; i < 6; ++i)
    cl.pod("default/s" + std::to_string(i), "10.244." + std::to_string(i % 3) + ".1" + std::to_string(i),
           {{"app", "s" + std::to_string(i % 2)}}, {"web:" + std::to_string(80 + i % 2) + "/TCP"}, "node-b");
  cl.policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: out, namespace: default}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 10.244.0.0/16, except: [10.244.1.0/24]}}]
    ports: [{port: web}]
)");
  Compiler inc({"node-a", {}});
  for (const auto& n : cl.namespaces) inc.upsert(n);
  for (const auto& p : cl.pods) inc.upsert(p);
  for (const auto& p : cl.policies) inc.upsert(p);
  DesiredState mirror;
  apply(mirror, inc.commit());

  auto probes = [](const Compiler& c) {
    std::vector<bool> out;
    const IpAddress client = *IpAddress::parse("10.244.9.1");
    for (int net = 0; net < 3; ++net)
      for (int host = 10; host < 16; ++host)
        for (uint16_t port : {80, 81})
          out.push_back(c.verdict(client, IpAddress::from_v4((10u << 24) | (244u << 16) | (net << 8) | host), 6, port)
                            .allowed);
    return out;
  };
  std::mt19937 rng(7);
  for (int step = 0; step < 80; ++step) {
    auto p = cl.pods[1 + rng() % 6];
    if (auto it = inc.pods().find(p.key()); it != inc.pods().end()) p = it->second;
    switch (rng() % 4) {
      case 0:  // move to another address, maybe one another pod holds
        p.ips = {IpAddress::from_v4((10u << 24) | (244u << 16) | ((rng() % 3) << 8) | (10 + rng() % 6))};
        inc.upsert(p);
        break;
      case 1:  // change what the name means, or drop it
        p.ports = rng() % 3 ? std::vector<ContainerPort>{{"web", static_cast<uint16_t>(80 + rng() % 2), Protocol::TCP}}
                            : std::vector<ContainerPort>{};
        inc.upsert(p);
        break;
      case 2:  // relabel: a new identity, same address
        p.labels["app"] = "s" + std::to_string(rng() % 3);
        inc.upsert(p);
        break;
      default:  // delete or re-add
        if (inc.pods().count(p.key()))
          inc.erase_pod(p.key());
        else
          inc.upsert(p);
    }
    if (rng() % 3 == 0) continue;
    INFO("step " << step);
    commit_and_compare(inc, mirror, probes);
  }
}
