// Internal state of the incremental compiler, shared by its source files.
//
// The desired state is the union of per-policy contributions. A commit finds
// the policies a change can affect (dirty), recomputes only their
// contributions, and merges the difference into reference-counted maps; the
// keys whose merged value changed form the StateDiff.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "bpfence/compiler.h"
#include "merged_map.h"
#include "peer_index.h"
#include "selector_index.h"

namespace bpfence {

// The first `bits` bits of a port: the mask of a port prefix.
inline uint16_t port_mask(uint8_t bits) { return bits == 0 ? 0 : static_cast<uint16_t>(0xffffu << (16 - bits)); }

// Stable small-integer ids: freed ids are reused, live ones never move.
// Every id below next_ is either live, reserved or in free_.
template <class Key>
class IdAllocator {
 public:
  explicit IdAllocator(uint32_t first) : first_(first), next_(first) {}
  uint32_t acquire(const Key& key) {
    auto [it, inserted] = ids_.try_emplace(key, 0);
    if (!inserted) return it->second;
    if (auto r = reserved_.find(key); r != reserved_.end()) {
      it->second = r->second;
      reserved_.erase(r);
    } else if (!free_.empty()) {
      it->second = *free_.begin();
      free_.erase(free_.begin());
    } else {
      it->second = next_++;
    }
    return it->second;
  }
  void release(const Key& key) {
    auto it = ids_.find(key);
    if (it == ids_.end()) return;
    free_.insert(it->second);
    ids_.erase(it);
  }
  const uint32_t* find(const Key& key) const {
    auto it = ids_.find(key);
    return it == ids_.end() ? nullptr : &it->second;
  }
  // Sets aside `id` for `key`'s next acquire() if nobody holds it: a
  // restarted agent gives objects the ids they had. Returns false (and the
  // key gets an ordinary id) when the id is taken, out of range, or so far
  // beyond the ids in use that keeping the gap free would cost memory.
  bool reserve(const Key& key, uint32_t id) {
    static constexpr uint32_t kMaxGap = 1u << 16;
    if (ids_.count(key) || reserved_.count(key) || id < first_) return false;
    if (id >= next_) {
      if (id - next_ > kMaxGap) return false;
      for (uint32_t gap = next_; gap < id; ++gap) free_.insert(gap);
      next_ = id + 1;
    } else if (!free_.erase(id)) {
      return false;  // live or reserved for another key
    }
    reserved_.emplace(key, id);
    return true;
  }
  // Reservations nobody claimed go back to the free ids.
  void drop_reservations() {
    for (const auto& [_, id] : reserved_) free_.insert(id);
    reserved_.clear();
  }

 private:
  std::map<Key, uint32_t> ids_;
  std::map<Key, uint32_t> reserved_;
  std::set<uint32_t> free_;
  uint32_t first_;
  uint32_t next_;
};

// CIDR identities live in their own range so ids tell their kind.
constexpr uint32_t kFirstCidrIdentity = 1u << 24;

// The order of a contribution's entries: by endpoint, then key. Each
// endpoint's entries are one block: a local pod's come or go as a block,
// found by binary search (the key order alone puts a range key's prefix
// length before its endpoint).
template <class Key>
inline bool endpoint_major_less(const Key& a, const Key& b) {
  if (a.k.endpoint_id != b.k.endpoint_id) return a.k.endpoint_id < b.k.endpoint_id;
  return a < b;
}

// Entries of one contribution: in endpoint_major_less order, one rule id
// per key (the smallest). Built by appending, then finish() sorts and
// deduplicates.
template <class Key>
struct EntryList {
  std::vector<std::pair<Key, uint32_t>> items;
  void add(const Key& k, uint32_t rule) { items.emplace_back(k, rule); }
  // The block of endpoint `ep`'s entries.
  auto endpoint_block(uint32_t ep) {
    auto first = std::partition_point(items.begin(), items.end(),
                                      [&](const auto& e) { return e.first.k.endpoint_id < ep; });
    auto last = std::partition_point(first, items.end(), [&](const auto& e) { return e.first.k.endpoint_id == ep; });
    return std::pair(first, last);
  }
  void finish() {
    std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) {
      return endpoint_major_less(a.first, b.first) || (a.first == b.first && a.second < b.second);
    });
    items.erase(std::unique(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first == b.first; }),
                items.end());
  }
};

// What one policy adds to the desired state.
struct Contribution {
  EntryList<PolicyKey> policy;
  EntryList<RangeKey> ranges;
  std::set<std::string> ingress_endpoints;  // pods it isolates for ingress
  std::set<std::string> egress_endpoints;
  std::set<Prefix> prefixes;  // every cidr and except it names
  std::vector<uint32_t> rule_ids;
};

struct Compiler::Impl {
  CompileOptions options;

  std::map<std::string, Namespace> namespaces;
  std::map<std::string, Pod> pods;
  std::map<std::string, NetworkPolicy> policies;
  std::map<std::string, ClusterNetworkPolicy> cluster_policies;

  // Derived, kept between commits.
  IdAllocator<IdentityInfo> identity_ids{BF_ID_FIRST_DYNAMIC};
  IdAllocator<Prefix> cidr_ids{kFirstCidrIdentity};
  IdAllocator<std::string> endpoint_ids{1};
  IdAllocator<std::tuple<std::string, int, uint32_t>> rule_ids{1};
  std::map<uint32_t, std::set<std::string>> identity_pods;    // id -> pods
  std::map<std::string, std::set<uint32_t>> identities_by_ns;  // ns -> ids
  std::map<std::string, uint32_t> pod_identity;               // pod -> id
  std::map<IpAddress, std::set<std::string>> addr_pods;       // ip -> pods claiming it
  std::map<Prefix, int> prefix_refs;                          // prefix -> policies naming it
  std::map<std::string, Contribution> contributions;          // policy -> contribution
  MergedMap<PolicyKey> policy_refs;
  MergedMap<RangeKey> range_refs;
  std::map<std::string, std::set<std::string>> ep_ingress, ep_egress;  // pod -> policies
  std::map<std::tuple<uint32_t, int, int>, int> range_counts;  // (endpoint, dir, bf_peer_kind) -> entries
  std::map<IpAddress, std::string> local_by_ip;                        // ip -> local pod
  // Local pods by namespace: a policy selects pods of its own namespace
  // that run here, a handful among the namespace's pods.
  std::map<std::string, std::set<std::string>> local_pods_by_ns;
  // The policies that select a local pod (the only ones whose entries
  // depend on identities), by the labels their peers need.
  PeerIndex peer_index;
  // Every policy, by what its podSelector requires: which may select a pod.
  SelectorIndex selector_index;

  DesiredState state;

  // Buffered since the last commit.
  std::set<std::string> dirty_policies;
  // Policies whose only change is identities that came or went (or whose
  // namespace was relabeled): their entries for those identities are
  // dropped, then made again for those that exist, nothing else.
  std::set<std::string> peer_dirty_policies;
  std::set<uint32_t> added_identities, removed_identities;
  // Policies whose only change is which local pods they select (a local
  // pod came, went, or changed labels, ports or node), with those pods:
  // the entries of every other endpoint stay as they are.
  std::map<std::string, std::set<std::string>> endpoint_dirty_policies;
  // Local pods that lost or may have lost their endpoint in this batch:
  // the endpoint id they had at the last commit (their entries carry it).
  std::map<std::string, uint32_t> old_endpoint_ids;
  std::set<std::string> dirty_pods;        // pods upserted or erased
  std::set<std::string> dirty_namespaces;  // namespaces upserted or erased
  bool host_ips_dirty = false;
  // The version each object had at the last commit (nullopt: it did not
  // exist), recorded on its first change in a batch.
  std::map<std::string, std::optional<Pod>> old_pods;
  std::map<std::string, std::optional<Namespace>> old_namespaces;
  std::map<uint32_t, std::string> pod_by_endpoint;  // endpoint id -> pod
  // Identities that lost their last pod in this batch; released only if no
  // pod took them back (a relabel there and back keeps its id).
  std::map<uint32_t, IdentityInfo> orphaned;

  // ClusterNetworkPolicy (cluster_entries.cpp). CNPs are few: any change
  // that can move their entries recomputes the entries of every local
  // endpoint; a change that cannot (most pod events) costs nothing.
  IdAllocator<std::tuple<std::string, int, uint32_t>> cnp_rule_ids{BF_CNP_RULE_FIRST};
  bool cnp_objects_dirty = false;  // a ClusterNetworkPolicy came, changed or went
  bool cnp_inputs_dirty = false;   // a local pod, a namespace's labels, a pod's ports or address owner moved
  std::set<Prefix> cnp_prefixes;   // prefixes the CNPs need (one reference each in prefix_refs)
  // Names of the CNPs' egress named ports: only a pod with such a port
  // moves entries through its ports or addresses.
  std::set<std::string> cnp_egress_port_names;
  std::set<Prefix> prefixes_changed;  // named prefixes that came or went in this commit so far
  std::map<uint32_t, std::vector<std::pair<ClusterKey, ClusterEntry>>> cnp_entries;  // endpoint id -> sorted
  std::map<std::string, uint8_t> cnp_stages;  // local pod -> BF_CNP_STAGE bits
  MapDiff<ClusterKey, ClusterEntry> cluster_diff;  // this commit's, handed to collect_diff
  MapDiff<uint32_t, CnpRuleRef> cluster_rules_diff;
  std::set<std::string> cnp_touched;  // pods whose cluster entries changed

  // Values before this commit of the keys it touched (nullopt: absent).
  struct Before {
    std::map<IpAddress, std::optional<uint32_t>> addrs;
    std::map<Prefix, std::optional<uint32_t>> cidrs;
    std::map<uint32_t, std::optional<RuleRef>> rules;
    std::set<std::string> endpoints;  // pods whose EndpointState may change
  } before;

  void set_policy_ref(const PolicyKey& k, uint32_t rule, int delta);
  void set_range_ref(const RangeKey& k, uint32_t rule, int delta);
  void set_rule(uint32_t id, std::optional<RuleRef> ref);
  void refresh_addr(const IpAddress& ip);
  void remove_pod(const std::string& key, const Pod& pod, bool ports_changed);
  void add_pod(const std::string& key, const Pod& pod, bool ports_changed);
  void release_orphaned_identities();
  void mark_policies_mentioning(const IdentityInfo& info);
  void mark_policies_resolving_named_ports();
  void mark_policies_for_namespace(const std::string& ns, const Labels& was, const Labels& now);
  void mark_policies_selecting_local(const std::string& ns, const Labels& labels, const std::string& pod);
  // The local pod `key` if policy p selects it now.
  const Pod* selected_local_pod(const NetworkPolicy& p, const std::string& key) const;
  // An endpoint of `policy` that was selected at the last commit and still
  // is, untouched, whose entries the changed pods can copy (its ingress
  // named ports resolve as theirs do); nullopt when there is none: the
  // policy is then recomputed in full.
  std::optional<uint32_t> endpoint_template(const std::string& policy, const std::set<std::string>& changed) const;
  // Changed pods selected by the same policies as an endpoint none of this
  // commit's changes touched so far, and copying from it: their merged
  // entries are copied whole from it (MergedMap::copy_endpoint), not
  // reference by reference. Returns their endpoint ids.
  std::set<uint32_t> copy_whole_endpoints(
      const std::map<std::string, std::pair<std::set<std::string>, uint32_t>>& endpoint_only);
  // `copied`: endpoints whose merged entries copy_whole_endpoints made.
  void recompute_endpoints(const std::string& policy, const std::set<std::string>& changed, uint32_t template_ep,
                           const std::set<uint32_t>& copied);
  void refresh_prefixes();
  // cluster_entries.cpp
  bool cluster_inputs_changed() const;
  void refresh_cluster_prefixes();
  void recompute_cluster();
  void refresh_cluster_rules();
  bool names_cluster_egress_port(const Pod& pod) const;
  std::set<Prefix> cluster_prefixes() const;
  // The pod identities a namespaces or pods peer selects.
  std::vector<uint32_t> cluster_peer_identities(const CnpPeer& peer) const;
  void cluster_named_destinations(const CnpRule& rule, const std::string& name,
                                  const std::function<void(const IpAddress&, const ContainerPort&)>& found) const;
  void recompute(const std::string& policy);
  void recompute_peers(const std::string& policy);
  EndpointState endpoint_state(const std::string& pod) const;
  StateDiff collect_diff();

  // compiler.cpp
  bool is_local(const Pod& pod) const;
  const Labels& namespace_labels(const std::string& ns) const;
  uint32_t identity_of(const std::string& pod) const;
  bool peer_matches_identity(const NetworkPolicy& p, const PolicyPeer& peer, const IdentityInfo& id,
                             const Labels& ns_labels) const;
  bool policy_mentions_identity(const NetworkPolicy& p, const IdentityInfo& id, const Labels& ns_labels) const;

  // contribution.cpp
  // only_peers: just the entries whose peer is one of these identities.
  Contribution contribute(const NetworkPolicy& p, const std::set<uint32_t>* only_peers = nullptr);
  std::vector<uint32_t> peer_identities(const NetworkPolicy& p, const PolicyRule& rule, bool& named_ok,
                                        const std::set<uint32_t>* only = nullptr);
  std::vector<uint32_t> cidr_identities(const IpBlock& block) const;
  // Egress named ports towards an ipBlock resolve on the pod behind each
  // address the block covers (minus except): calls `found(address, port)`
  // for every container port of that name and protocol there.
  void resolve_named_port_in_block(const IpBlock& block, const PolicyPort& port,
                                   const std::function<void(const IpAddress&, uint16_t)>& found) const;
  // Every prefix policy p needs an identity for: collect_prefixes() plus a
  // host prefix per address an egress named port resolves on through an
  // ipBlock (so the port is allowed to that address only, not to its block
  // or to other pods of the same identity).
  std::set<Prefix> prefixes_of(const NetworkPolicy& p) const;
};

// Every cidr and except a policy names (compiler.cpp).
void collect_prefixes(const NetworkPolicy& p, std::set<Prefix>& out);


}  // namespace bpfence
