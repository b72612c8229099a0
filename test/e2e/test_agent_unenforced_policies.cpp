// The agent's refusal of ClusterNetworkPolicy follows the dataplane: one
// that does not enforce the tiers gets none of them (each refused, named),
// one that does gets them all, deletes and relists included.
#include <catch2/catch.hpp>

#include "unenforced_policies.h"

using namespace bpfence;

namespace {

ClusterNetworkPolicy cnp(const std::string& name) {
  ClusterNetworkPolicy p;
  p.name = name;
  p.tier = CnpTier::Baseline;
  return p;
}

SourceUpdate update_with_policies() {
  SourceUpdate u;
  u.upserts.push_back(Namespace{"dev", {}, ""});
  u.upserts.push_back(cnp("deny-metadata"));
  u.deletes.push_back({"ClusterNetworkPolicy", "old"});
  u.deletes.push_back({"Pod", "dev/gone"});
  return u;
}

}  // namespace

TEST_CASE("a dataplane without the tiers: every ClusterNetworkPolicy is refused, named, until it goes",
          "[unit][cnp]") {
  UnenforcedPolicies refusals("iptables", false);
  SourceUpdate u = update_with_policies();
  refusals.filter(u);
  REQUIRE(u.upserts.size() == 1);
  CHECK(std::holds_alternative<Namespace>(u.upserts[0]));
  REQUIRE(u.deletes.size() == 1);
  CHECK(u.deletes[0].kind == "Pod");
  auto current = refusals.current();
  REQUIRE(current.size() == 1);
  CHECK(current[0].object == "ClusterNetworkPolicy deny-metadata");
  CHECK(current[0].field == "spec.tier");
  CHECK_THAT(current[0].message, Catch::Contains("the iptables dataplane does not enforce ClusterNetworkPolicy "
                                                 "(Baseline tier)"));

  SourceUpdate gone;
  gone.deletes.push_back({"ClusterNetworkPolicy", "deny-metadata"});
  refusals.filter(gone);
  CHECK(gone.deletes.empty());
  CHECK(refusals.current().empty());
}

TEST_CASE("a dataplane that enforces the tiers gets every ClusterNetworkPolicy, its deletes and relists",
          "[unit][cnp]") {
  UnenforcedPolicies refusals("bpf", true);
  SourceUpdate u = update_with_policies();
  refusals.filter(u);
  REQUIRE(u.upserts.size() == 2);
  CHECK(std::get<ClusterNetworkPolicy>(u.upserts[1]).name == "deny-metadata");
  CHECK(u.deletes.size() == 2);
  CHECK(refusals.current().empty());

  SourceUpdate relist;
  relist.resync_kind = "ClusterNetworkPolicy";
  relist.upserts.push_back(cnp("a"));
  refusals.filter(relist);
  CHECK(relist.resync_kind == "ClusterNetworkPolicy");
  CHECK(relist.upserts.size() == 1);
}
