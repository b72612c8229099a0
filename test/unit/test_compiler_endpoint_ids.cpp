// Endpoint ids across an agent restart: Compiler::prefer_endpoint_ids() lets
// a restarted agent give each local pod the id it had in the pinned maps,
// so flow entries keyed by that id keep their meaning.
#include "cluster.h"

using namespace bpfence;

namespace {

test::Cluster three_pods() {
  test::Cluster cl;
  cl.ns("dev")
      .pod("dev/a", "10.0.0.1", {{"app", "a"}})
      .pod("dev/b", "10.0.0.2", {{"app", "b"}})
      .pod("dev/c", "10.0.0.3", {{"app", "c"}})
      .pod("dev/remote", "10.0.1.1", {{"app", "a"}}, {}, "node-b")
      .policy(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: only-a, namespace: dev}
spec:
  podSelector: {}
  ingress:
  - from:
    - podSelector: {matchLabels: {app: a}}
)");
  return cl;
}

Compiler compile_with(const test::Cluster& cl, const std::map<std::string, uint32_t>& prefer) {
  Compiler c({"node-a", {}});
  c.prefer_endpoint_ids(prefer);
  for (const auto& n : cl.namespaces) c.upsert(n);
  for (const auto& p : cl.pods) c.upsert(p);
  for (const auto& p : cl.policies) c.upsert(p);
  c.commit();
  return c;
}

uint32_t id_of(const Compiler& c, const std::string& pod) { return c.state().endpoints.at(pod).endpoint_id; }

// Same policy entries, once the endpoint ids are renamed from `a` to `b`'s.
bool same_policy_up_to_ids(const Compiler& a, const Compiler& b) {
  std::map<uint32_t, uint32_t> a_to_b;
  for (const auto& [pod, ep] : a.state().endpoints) a_to_b[ep.endpoint_id] = b.state().endpoints.at(pod).endpoint_id;
  if (a.state().policy.size() != b.state().policy.size()) return false;
  for (const auto& [key, rule] : a.state().policy) {
    PolicyKey k = key;
    k.k.endpoint_id = a_to_b.at(k.k.endpoint_id);
    auto it = b.state().policy.find(k);
    if (it == b.state().policy.end() || it->second != rule) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("without preferences endpoint ids follow pod names", "[compiler][endpoint-ids]") {
  auto c = compile_with(three_pods(), {});
  CHECK(id_of(c, "dev/a") == 1);
  CHECK(id_of(c, "dev/b") == 2);
  CHECK(id_of(c, "dev/c") == 3);
}

TEST_CASE("a restarted compiler gives pods the endpoint ids they had", "[compiler][endpoint-ids]") {
  auto cl = three_pods();
  // Before the restart "dev/a" was deleted and re-created: it got a late id.
  auto c = compile_with(cl, {{"dev/a", 9}, {"dev/b", 1}, {"dev/c", 4}});
  CHECK(id_of(c, "dev/a") == 9);
  CHECK(id_of(c, "dev/b") == 1);
  CHECK(id_of(c, "dev/c") == 4);
  // The entries are the ones a plain compile makes, under the kept ids.
  auto plain = compile_with(cl, {});
  CHECK(same_policy_up_to_ids(plain, c));
  for (const auto& [k, _] : c.state().policy) CHECK((k.k.endpoint_id == 9 || k.k.endpoint_id == 1 || k.k.endpoint_id == 4));
  CHECK(c.verdict(*IpAddress::parse("10.0.0.1"), *IpAddress::parse("10.0.0.2"), 6, 80).allowed);
  CHECK_FALSE(c.verdict(*IpAddress::parse("10.0.0.3"), *IpAddress::parse("10.0.0.2"), 6, 80).allowed);
}

TEST_CASE("a preferred endpoint id that is taken or invalid is not used", "[compiler][endpoint-ids]") {
  auto cl = three_pods();
  // Two pods claim 2 (the first by name wins), 0 is not an endpoint id, a
  // remote pod and a pod that no longer exists get nothing.
  auto c = compile_with(cl, {{"dev/a", 2}, {"dev/b", 2}, {"dev/c", 0}, {"dev/remote", 5}, {"dev/gone", 1}});
  CHECK(id_of(c, "dev/a") == 2);
  uint32_t b = id_of(c, "dev/b"), cc = id_of(c, "dev/c");
  CHECK(b != 2);
  CHECK(cc != 0);
  CHECK(b != cc);
  CHECK_FALSE(c.state().endpoints.count("dev/remote"));
  // Unclaimed reservations are free again: the next new local pod gets the
  // smallest free id, not a fresh one past them.
  std::set<uint32_t> used{2, b, cc};
  uint32_t smallest_free = 1;
  while (used.count(smallest_free)) ++smallest_free;
  Pod d = cl.pods[0];
  d.name = "d";
  d.ips = {*IpAddress::parse("10.0.0.4")};
  c.upsert(d);
  c.commit();
  CHECK(id_of(c, "dev/d") == smallest_free);
}

TEST_CASE("preferences never move a pod that already has an id", "[compiler][endpoint-ids]") {
  auto cl = three_pods();
  auto c = compile_with(cl, {});
  c.prefer_endpoint_ids({{"dev/a", 3}, {"dev/c", 1}});
  Pod a = cl.pods[0];
  a.labels["tier"] = "x";
  c.upsert(a);
  c.commit();
  CHECK(id_of(c, "dev/a") == 1);
  CHECK(id_of(c, "dev/c") == 3);
}

TEST_CASE("an absurd preferred endpoint id is ignored", "[compiler][endpoint-ids]") {
  auto c = compile_with(three_pods(), {{"dev/b", 4000000000u}});
  CHECK(id_of(c, "dev/b") < 10);
}
