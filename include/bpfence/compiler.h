// The policy compiler: cluster state + node name -> desired datapath state.
//
// Pure: no kernel, no I/O. It is the one place that knows Kubernetes
// NetworkPolicy semantics. The dataplanes (BPF maps, iptables) only copy
// what it produces; `explain` and the tests ask verdict(), which reads the
// same entries the datapath reads.
//
// It is incremental: feed changes with upsert()/erase(), then commit()
// returns the map entries to add, change and delete. Identifiers (endpoint
// ids, identities, rule ids) are stable across commits, so a change touches
// only the entries it really changes.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "bpfence/datapath_abi.h"
#include "bpfence/model.h"
#include "bpfence/net.h"

namespace bpfence {

// Map keys with the ordering and hashing the compiler's maps need. They wrap
// the ABI structs so the dataplane copies them into the kernel as they are.
// The order compares the packed bytes as words: cheap, and stable, which is
// all the maps need (it is not the order of the fields).
namespace detail {
template <class T>
struct PackedKey {
  static constexpr size_t kWords = sizeof(T) / 4;
  static_assert(sizeof(T) % 4 == 0, "packed key must be whole 32-bit words");
  static std::array<uint32_t, kWords> words(const T& t) {
    std::array<uint32_t, kWords> w;
    std::memcpy(w.data(), &t, sizeof(T));
    return w;
  }
  // Word by word, inline: the compiler's maps compare keys millions of times.
  static bool equal(const T& a, const T& b) {
    auto x = words(a), y = words(b);
    for (size_t i = 0; i < kWords; ++i)
      if (x[i] != y[i]) return false;
    return true;
  }
};
}  // namespace detail

struct PolicyKey {
  bf_policy_key k{};
  bool operator<(const PolicyKey& o) const { return detail::PackedKey<bf_policy_key>::words(k) < detail::PackedKey<bf_policy_key>::words(o.k); }
  bool operator==(const PolicyKey& o) const { return detail::PackedKey<bf_policy_key>::equal(k, o.k); }
};

struct RangeKey {
  bf_range_key k{};
  bool operator<(const RangeKey& o) const { return detail::PackedKey<bf_range_key>::words(k) < detail::PackedKey<bf_range_key>::words(o.k); }
  bool operator==(const RangeKey& o) const { return detail::PackedKey<bf_range_key>::equal(k, o.k); }
};

struct ClusterKey {
  bf_cnp_key k{};
  bool operator<(const ClusterKey& o) const { return detail::PackedKey<bf_cnp_key>::words(k) < detail::PackedKey<bf_cnp_key>::words(o.k); }
  bool operator==(const ClusterKey& o) const { return detail::PackedKey<bf_cnp_key>::equal(k, o.k); }
};

// A cluster_policy entry's value: the rank and action of the rule that
// decides there (bf_cnp_value without padding).
struct ClusterEntry {
  uint32_t rank = 0;
  uint32_t rule_id = 0;
  uint8_t action = BF_CNP_DENY;  // enum bf_cnp_action
  auto operator<=>(const ClusterEntry&) const = default;
};

struct KeyHash {
  template <class Key>
  size_t operator()(const Key& key) const {
    uint64_t h = 0;
    for (uint32_t w : detail::PackedKey<decltype(key.k)>::words(key.k)) {
      // splitmix64 finaliser per word: every input bit reaches every output bit.
      h += w + 0x9e3779b97f4a7c15ull;
      h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
      h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
      h ^= h >> 31;
    }
    return static_cast<size_t>(h);
  }
};

// What a rule id stands for: "dev/policy1 ingress[0]".
struct RuleRef {
  std::string policy;  // namespace/name
  bf_direction direction = BF_DIR_INGRESS;
  uint32_t index = 0;
  std::string str() const;
  auto operator<=>(const RuleRef&) const = default;
};

// A set of pods that policies cannot tell apart: same namespace, same pod
// labels (and so the same namespace labels).
struct IdentityInfo {
  std::string namespace_;
  Labels labels;
  auto operator<=>(const IdentityInfo&) const = default;
};

// A ClusterNetworkPolicy rule that decided, or passed, a side:
// "cnp/deny-metadata egress[0] Deny".
struct CnpRuleRef {
  std::string policy;  // metadata.name
  CnpTier tier = CnpTier::Admin;
  int32_t priority = 0;
  bf_direction direction = BF_DIR_INGRESS;
  uint32_t index = 0;
  std::string rule_name;  // spec.*[index].name, may be empty
  CnpAction action = CnpAction::Deny;
  std::string where() const;  // "cnp/deny-metadata egress[0]"
  std::string str() const;
  auto operator<=>(const CnpRuleRef&) const = default;
};

struct EndpointState {
  std::string pod;  // namespace/name
  uint32_t endpoint_id = 0;
  uint32_t identity = 0;
  std::vector<IpAddress> ips;
  std::vector<Prefix> source_prefixes;  // it may also send from these (Pod::allowed_source_prefixes)
  bool ingress_isolated = false;
  bool egress_isolated = false;
  uint8_t has_ranges = 0;  // bit 0 ingress, bit 1 egress, BF_RANGES_NONE(dir, kind) bits
  uint8_t cnp_stages = 0;  // BF_CNP_STAGE(dir, tier) bits
  // Policies that select the pod for each direction (namespace/name).
  std::vector<std::string> ingress_policies;
  std::vector<std::string> egress_policies;
  bool operator==(const EndpointState&) const = default;
};

struct DesiredState {
  std::map<std::string, EndpointState> endpoints;  // local pods, by namespace/name
  std::map<IpAddress, uint32_t> pod_addrs;         // every pod IP, and host IPs -> BF_ID_HOST
  std::map<Prefix, uint32_t> cidrs;                // every prefix a policy names
  std::unordered_map<PolicyKey, uint32_t, KeyHash> policy;  // -> rule id
  std::unordered_map<RangeKey, uint32_t, KeyHash> ranges;   // -> rule id
  std::map<uint32_t, RuleRef> rules;
  std::map<uint32_t, IdentityInfo> identities;
  // ClusterNetworkPolicy: the cluster_policy trie, and its rule ids
  // (from BF_CNP_RULE_FIRST) -> rule.
  std::unordered_map<ClusterKey, ClusterEntry, KeyHash> cluster;
  std::map<uint32_t, CnpRuleRef> cluster_rules;
};

template <class K, class V>
struct MapDiff {
  std::vector<std::pair<K, V>> upsert;  // added or changed
  std::vector<K> erase;
  bool empty() const { return upsert.empty() && erase.empty(); }
  size_t size() const { return upsert.size() + erase.size(); }
};

struct StateDiff {
  MapDiff<std::string, EndpointState> endpoints;
  MapDiff<IpAddress, uint32_t> pod_addrs;
  MapDiff<Prefix, uint32_t> cidrs;
  MapDiff<PolicyKey, uint32_t> policy;
  MapDiff<RangeKey, uint32_t> ranges;
  MapDiff<uint32_t, RuleRef> rules;
  MapDiff<ClusterKey, ClusterEntry> cluster;
  MapDiff<uint32_t, CnpRuleRef> cluster_rules;
  // Endpoints whose cached flow verdicts may now be wrong: their generation
  // must be bumped. Holds every endpoint when an address's identity changed.
  std::set<std::string> touched_endpoints;
  bool empty() const;
  size_t size() const;  // map entries changed
};

struct CompileOptions {
  std::string node;  // "" compiles every pod as local (explain, tests)
  std::vector<IpAddress> host_ips;
};


// Where the evaluation of one side ended. Admin and Baseline are the
// ClusterNetworkPolicy tiers; NetworkPolicy is the namespaced policies'
// step (including the own-node and not-isolated shortcuts); Default is the
// final allow after every tier let the traffic through.
enum class VerdictTier : uint8_t { Admin, NetworkPolicy, Baseline, Default };
const char* verdict_tier_name(VerdictTier t);

// The answer for one side (source egress or destination ingress).
struct SideVerdict {
  bool evaluated = false;  // false: the pod is not local (or not a pod)
  bool isolated = false;
  bool allowed = true;
  bf_reason reason = BF_R_NOT_ISOLATED;
  std::optional<RuleRef> rule;            // the rule that allowed it
  std::vector<std::string> isolating;     // policies that select the pod
  std::string pod;                        // namespace/name of the endpoint
  // ClusterNetworkPolicy tiers: where evaluation ended, the rule that
  // decided there (Admin or Baseline Accept/Deny), and the Pass rules met on
  // the way, in order.
  VerdictTier tier = VerdictTier::NetworkPolicy;
  std::optional<CnpRuleRef> cnp_rule;
  std::vector<CnpRuleRef> passed;
};

struct Verdict {
  bool allowed = true;
  SideVerdict egress;   // at the source
  SideVerdict ingress;  // at the destination
};

// A lint finding on a policy (issue #5 adds more kinds).
struct Warning {
  std::string policy;  // namespace/name; cnp/<name> for a ClusterNetworkPolicy
  std::string message;
  // A namespace may be called "cnp": the kind, not the text, tells a
  // NetworkPolicy cnp/x from the ClusterNetworkPolicy x.
  bool cluster = false;
  auto operator<=>(const Warning&) const = default;
};

class Compiler {
 public:
  explicit Compiler(CompileOptions options);
  ~Compiler();
  Compiler(Compiler&&) noexcept;
  Compiler& operator=(Compiler&&) noexcept;

  // Changes are buffered until commit().
  void upsert(const Namespace& ns);
  void upsert(const Pod& pod);
  void upsert(const NetworkPolicy& policy);
  void erase_namespace(const std::string& name);
  void erase_pod(const std::string& key);     // namespace/name
  void erase_policy(const std::string& key);  // namespace/name
  void upsert(const ClusterNetworkPolicy& policy);
  void erase_cluster_policy(const std::string& name);
  void set_host_ips(std::vector<IpAddress> ips);

  // Endpoint ids the pods had before an agent restart (namespace/name ->
  // endpoint id, e.g. read from the pinned `endpoints` map), honoured by the
  // next commit(): a local pod keeps its old id when no other pod holds it.
  // Flow entries are keyed by endpoint id, so a pod that kept its id keeps
  // its cached flows (a reply entry still lets the replies of an established
  // connection through). Call it before the first commit:
  //   Compiler c(options);
  //   c.prefer_endpoint_ids({{"dev/web-0", 7}, {"dev/db-0", 3}});
  //   ... upsert the cluster ...; c.commit();
  // Ids of pods that are gone, or not local, are simply not used; an id
  // already taken, 0, or absurdly large is ignored (the pod gets a new one).
  // Identities and rule ids are not preserved: cached flows do not store
  // them (see DECISIONS.md, "Ids across an agent restart").
  void prefer_endpoint_ids(const std::map<std::string, uint32_t>& ids);

  // Recomputes what the buffered changes affect and returns the difference
  // from the previous commit.
  StateDiff commit();

  const DesiredState& state() const;

  // Answers from the committed state, with the same lookups the datapath
  // makes. proto is an IP protocol number (6, 17, 132, 1, 58).
  Verdict verdict(const IpAddress& src, const IpAddress& dst, uint8_t proto, uint16_t port) const;

  std::vector<Warning> warnings() const;
  // The same, giving up (false, *out incomplete) as soon as interrupted()
  // says so between two policies: the agent lints only while idle and
  // lets the next change in at once.
  bool warnings(std::vector<Warning>* out, const std::function<bool()>& interrupted) const;

  // The committed cluster objects, for display (explain, policy).
  const std::map<std::string, Namespace>& namespaces() const;
  const std::map<std::string, Pod>& pods() const;
  const std::map<std::string, NetworkPolicy>& policies() const;
  const std::map<std::string, ClusterNetworkPolicy>& cluster_policies() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Compiler::verdict() from a desired state alone: for a dataplane that
// decides its established flows again after a change (the iptables
// dataplane keeps the conntrack entries of the flows still allowed). Holds
// a reference to `state`, which must outlive it and not change meanwhile.
class StateVerdicts {
 public:
  explicit StateVerdicts(const DesiredState& state);
  Verdict verdict(const IpAddress& src, const IpAddress& dst, uint8_t proto, uint16_t port) const;

 private:
  const DesiredState& state_;
  std::map<IpAddress, const EndpointState*> local_by_ip_;
};

// A port range as the fewest aligned port prefixes: (first port, prefix bits).
std::vector<std::pair<uint16_t, uint8_t>> port_range_prefixes(uint16_t first, uint16_t last);

// Full compile in one call.
DesiredState compile(const std::vector<Namespace>& namespaces, const std::vector<Pod>& pods,
                     const std::vector<NetworkPolicy>& policies, const CompileOptions& options);

}  // namespace bpfence
