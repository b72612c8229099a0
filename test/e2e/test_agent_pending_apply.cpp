// What the reconciler hands a dataplane: every part of the compiler's diff,
// the ClusterNetworkPolicy entries and rule ids included, also after several
// diffs were merged while an apply was pending; and a failed apply
// fail-closes the pods whose cluster entries it carried.
#include <catch2/catch.hpp>

#include "bpfence/parse.h"
#include "pending_apply.h"

using namespace bpfence;

namespace {

// Records the diffs it is given; fails while `fail` is set.
struct RecordingDataplane : Dataplane {
  std::vector<StateDiff> applied;
  std::set<std::string> closed;
  bool fail = false;
  std::string name() const override { return "recording"; }
  Status apply(const StateDiff& diff, const DesiredState&) override {
    if (fail) return Status::error("map full");
    applied.push_back(diff);
    return Status::ok();
  }
  Status bind(const InterfaceBinding&, const DesiredState&) override { return Status::ok(); }
  Status unbind(const std::string&) override { return Status::ok(); }
  std::vector<InterfaceBinding> bindings() const override { return {}; }
  Status set_fail_closed(const std::string& pod, bool on) override {
    if (on) closed.insert(pod);
    else closed.erase(pod);
    return Status::ok();
  }
  Status uninstall() override { return Status::ok(); }
  const DataplaneObserver* observer() const override { return nullptr; }
};

Compiler cluster_without_policy() {
  Compiler c({"node-1", {}});
  c.upsert(Namespace{"dev", {{"kubernetes.io/metadata.name", "dev"}}, ""});
  Pod p;
  p.namespace_ = "dev";
  p.name = "client";
  p.node_name = "node-1";
  p.ips.push_back(*IpAddress::parse("10.0.0.10"));
  c.upsert(p);
  return c;
}

ClusterNetworkPolicy deny_metadata() {
  auto parsed = parse_manifests(R"(
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: deny-metadata}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  egress:
  - {action: Deny, to: [{networks: [169.254.169.254/32]}]}
)",
                                "cnp.yaml");
  REQUIRE(parsed.errors.empty());
  return std::get<ClusterNetworkPolicy>(parsed.objects.at(0));
}

}  // namespace

TEST_CASE("the ClusterNetworkPolicy entries reach the dataplane, merged diffs included", "[pending_apply]") {
  Compiler c = cluster_without_policy();
  PendingApply pending;
  pending.add(c.commit());
  c.upsert(deny_metadata());
  StateDiff with_cnp = c.commit();
  REQUIRE_FALSE(with_cnp.cluster.empty());
  REQUIRE_FALSE(with_cnp.cluster_rules.empty());
  pending.add(with_cnp);  // merged with the first, not yet applied

  RecordingDataplane dp;
  REQUIRE(pending.apply(dp, c.state()).status.is_ok());
  REQUIRE(dp.applied.size() == 1);
  CHECK(dp.applied[0].cluster.upsert.size() == with_cnp.cluster.upsert.size());
  CHECK(dp.applied[0].cluster_rules.upsert.size() == with_cnp.cluster_rules.upsert.size());

  // Deleting it: the erasures travel too.
  c.erase_cluster_policy("deny-metadata");
  pending.add(c.commit());
  REQUIRE(pending.apply(dp, c.state()).status.is_ok());
  CHECK(dp.applied.back().cluster.erase.size() == with_cnp.cluster.upsert.size());
  CHECK(dp.applied.back().cluster_rules.erase.size() == with_cnp.cluster_rules.upsert.size());
}

TEST_CASE("a failed apply fail-closes the pods whose cluster entries it carries", "[pending_apply]") {
  Compiler c = cluster_without_policy();
  RecordingDataplane dp;
  PendingApply pending;
  pending.add(c.commit());
  REQUIRE(pending.apply(dp, c.state()).status.is_ok());

  c.upsert(deny_metadata());
  StateDiff diff = c.commit();
  diff.endpoints = {};  // only its cluster entries name the pod
  pending.add(std::move(diff));
  dp.fail = true;
  auto out = pending.apply(dp, c.state());
  CHECK_FALSE(out.status.is_ok());
  CHECK(dp.closed.count("dev/client") == 1);
}
