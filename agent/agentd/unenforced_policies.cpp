// UnenforcedPolicies: on a dataplane that does not enforce the
// ClusterNetworkPolicy tiers, every ClusterNetworkPolicy is refused.
#include "unenforced_policies.h"

#include "log.h"

namespace bpfence {

void UnenforcedPolicies::filter(SourceUpdate& u) {
  if (enforces_cluster_policy_) return;
  const std::string kind = "ClusterNetworkPolicy";
  if (u.resync_kind == kind) refused_.clear();
  for (const ObjectKey& k : u.deletes)
    if (k.kind == kind) refused_.erase(kind + " " + k.key);
  std::erase_if(u.deletes, [&](const ObjectKey& k) { return k.kind == kind; });

  std::vector<Object> kept;
  kept.reserve(u.upserts.size());
  for (Object& o : u.upserts) {
    const auto* cnp = std::get_if<ClusterNetworkPolicy>(&o);
    if (!cnp) {
      kept.push_back(std::move(o));
      continue;
    }
    std::string object = kind + " " + cnp->name;
    ParseError e{"", object, "spec.tier",
                 std::string("refused: the ") + dataplane_ + " dataplane does not enforce ClusterNetworkPolicy (" +
                     cnp_tier_name(cnp->tier) + " tier) yet; the policy is not applied"};
    auto [it, fresh] = refused_.insert_or_assign(object, e);
    if (fresh) agentlog::warn("policy refused", "error=" + agentlog::q(e.str()));
  }
  u.upserts = std::move(kept);
  // A resync of this kind is consumed here: the store holds none of them.
  if (u.resync_kind == kind) u.resync_kind.reset();
}

std::vector<ParseError> UnenforcedPolicies::current() const {
  std::vector<ParseError> out;
  out.reserve(refused_.size());
  for (const auto& [_, e] : refused_) out.push_back(e);
  return out;
}

}  // namespace bpfence
