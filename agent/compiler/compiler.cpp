// The incremental compiler: buffering changes, finding what they affect, and
// merging per-policy contributions into the desired state.
#include <algorithm>
#include <climits>

#include "compiler_impl.h"

namespace bpfence {

static const char* kNamespaceNameLabel = "kubernetes.io/metadata.name";

// ---------------------------------------------------------------------------
// Questions about the cluster.

bool Compiler::Impl::is_local(const Pod& pod) const {
  return !pod.host_network && !pod.ips.empty() && (options.node.empty() || pod.node_name == options.node);
}

const Labels& Compiler::Impl::namespace_labels(const std::string& ns) const {
  auto it = namespaces.find(ns);
  if (it != namespaces.end()) return it->second.labels;
  // A namespace we have not seen yet still has its automatic name label.
  thread_local Labels implicit;
  implicit = {{kNamespaceNameLabel, ns}};
  return implicit;
}

uint32_t Compiler::Impl::identity_of(const std::string& pod) const {
  auto it = pod_identity.find(pod);
  return it == pod_identity.end() ? 0 : it->second;
}

bool Compiler::Impl::peer_matches_identity(const NetworkPolicy& p, const PolicyPeer& peer, const IdentityInfo& id,
                                           const Labels& ns_labels) const {
  if (peer.ip_block) return false;
  if (peer.namespace_selector) {
    if (!peer.namespace_selector->matches(ns_labels)) return false;
  } else if (id.namespace_ != p.namespace_) {
    return false;  // a lone podSelector means the policy's own namespace
  }
  return !peer.pod_selector || peer.pod_selector->matches(id.labels);
}

static bool has_named_port(const std::vector<PolicyRule>& rules) {
  for (const auto& r : rules)
    for (const auto& port : r.ports)
      if (!port.port_name.empty()) return true;
  return false;
}

bool Compiler::Impl::policy_mentions_identity(const NetworkPolicy& p, const IdentityInfo& id,
                                              const Labels& ns_labels) const {
  for (const auto* rules : {&p.ingress, &p.egress})
    for (const auto& rule : *rules)
      for (const auto& peer : rule.peers)
        if (peer_matches_identity(p, peer, id, ns_labels)) return true;
  // Egress named ports are resolved on the destination pods, so any pod may
  // change what they mean.
  return has_named_port(p.egress);
}

// Only policies that select a local pod have entries naming identities; a
// policy that selects none is recomputed anyway when it starts to (the pod
// that it selects marks it).
void Compiler::Impl::mark_policies_mentioning(const IdentityInfo& info) {
  if (dirty_policies.size() == policies.size()) return;  // a full compile: everything is recomputed
  const Labels& ns_labels = namespace_labels(info.namespace_);
  peer_index.for_each_candidate(info.namespace_, info.labels, ns_labels, [&](const std::string& key) {
    if (dirty_policies.count(key) || peer_dirty_policies.count(key)) return;
    if (policy_mentions_identity(policies.at(key), info, ns_labels)) peer_dirty_policies.insert(key);
  });
}

// A pod's container ports came or went: its identity is unchanged, so only
// egress named ports (resolved on the destination pods) can move.
void Compiler::Impl::mark_policies_resolving_named_ports() {
  for (const auto& key : peer_index.resolving_named_ports()) dirty_policies.insert(key);
}

// A namespace's labels changed: a peer's identities move only where its
// namespaceSelector matched the old labels and not the new, or the reverse.
// For those policies the namespace's identities leave and come back: their
// entries are dropped and made again with the new labels.
void Compiler::Impl::mark_policies_for_namespace(const std::string& ns, const Labels& was, const Labels& now) {
  bool any = false;
  for (const auto& [key, _] : peer_index.policies()) {
    if (dirty_policies.count(key)) continue;  // recomputed in full (or erased)
    const NetworkPolicy& p = policies.at(key);
    for (const auto* rules : {&p.ingress, &p.egress})
      for (const auto& rule : *rules)
        for (const auto& peer : rule.peers)
          if (peer.namespace_selector && peer.namespace_selector->matches(was) != peer.namespace_selector->matches(now)) {
            peer_dirty_policies.insert(key);
            any = true;
          }
  }
  if (!any) return;
  if (auto ids = identities_by_ns.find(ns); ids != identities_by_ns.end())
    for (uint32_t id : ids->second) {
      removed_identities.insert(id);
      added_identities.insert(id);
    }
}

void Compiler::Impl::mark_policies_selecting_local(const std::string& ns, const Labels& labels,
                                                  const std::string& pod) {
  selector_index.for_each_candidate(ns, labels, [&](const NetworkPolicy& p) {
    if (p.pod_selector.matches(labels)) endpoint_dirty_policies[p.key()].insert(pod);
  });
}

// ---------------------------------------------------------------------------
// Recording merged values, remembering what they were before this commit.

void Compiler::Impl::set_policy_ref(const PolicyKey& k, uint32_t rule, int delta) {
  policy_refs.add(k, rule, delta);
}

void Compiler::Impl::set_range_ref(const RangeKey& k, uint32_t rule, int delta) {
  range_refs.add(k, rule, delta);
  uint32_t peer = k.k.peer_identity;
  int kind = peer == BF_ID_ANY ? BF_PEER_ANY : peer >= kFirstCidrIdentity ? BF_PEER_CIDR : BF_PEER_POD;
  range_counts[{k.k.endpoint_id, k.k.direction, kind}] += delta;
}

void Compiler::Impl::set_rule(uint32_t id, std::optional<RuleRef> ref) {
  auto cur = state.rules.find(id);
  before.rules.try_emplace(id, cur == state.rules.end() ? std::nullopt : std::optional(cur->second));
  if (ref)
    state.rules[id] = *ref;
  else
    state.rules.erase(id);
}

// An address maps to the host identity, or to the identity of a pod that
// claims it (the first by name if several do, as after a pod restart).
void Compiler::Impl::refresh_addr(const IpAddress& ip) {
  auto cur = state.pod_addrs.find(ip);
  before.addrs.try_emplace(ip, cur == state.pod_addrs.end() ? std::nullopt : std::optional(cur->second));
  std::optional<uint32_t> want;
  if (std::find(options.host_ips.begin(), options.host_ips.end(), ip) != options.host_ips.end()) {
    want = BF_ID_HOST;
  } else if (auto it = addr_pods.find(ip); it != addr_pods.end() && !it->second.empty()) {
    want = identity_of(*it->second.begin());
  }
  if (want)
    state.pod_addrs[ip] = *want;
  else
    state.pod_addrs.erase(ip);
}

// ---------------------------------------------------------------------------
// Pods and their identities.

void Compiler::Impl::remove_pod(const std::string& key, const Pod& pod, bool ports_changed) {
  if (pod.host_network) return;
  uint32_t id = identity_of(key);
  pod_identity.erase(key);
  auto& members = identity_pods[id];
  members.erase(key);
  if (members.empty()) orphaned.emplace(id, IdentityInfo{pod.namespace_, pod.labels});
  if (ports_changed && !pod.ports.empty()) {
    mark_policies_resolving_named_ports();
    if (names_cluster_egress_port(pod)) cnp_inputs_dirty = true;
  }
  for (const auto& ip : pod.ips) {
    // Another pod keeps the address: which one owns it may change.
    if (addr_pods[ip].size() > 1) cnp_inputs_dirty = true;
    addr_pods[ip].erase(key);
    if (addr_pods[ip].empty()) addr_pods.erase(ip);
    refresh_addr(ip);
  }
  if (is_local(pod)) {
    for (const auto& ip : pod.ips) local_by_ip.erase(ip);
    auto& local = local_pods_by_ns[pod.namespace_];
    local.erase(key);
    if (local.empty()) local_pods_by_ns.erase(pod.namespace_);
    if (const uint32_t* ep = endpoint_ids.find(key)) old_endpoint_ids.try_emplace(key, *ep);
    mark_policies_selecting_local(pod.namespace_, pod.labels, key);
    before.endpoints.insert(key);
    cnp_inputs_dirty = true;
  }
}

void Compiler::Impl::add_pod(const std::string& key, const Pod& pod, bool ports_changed) {
  if (pod.host_network) return;
  IdentityInfo info{pod.namespace_, pod.labels};
  uint32_t id = identity_ids.acquire(info);
  pod_identity[key] = id;
  identity_pods[id].insert(key);
  orphaned.erase(id);
  if (!state.identities.count(id)) {
    identities_by_ns[pod.namespace_].insert(id);
    state.identities[id] = info;
    added_identities.insert(id);
    mark_policies_mentioning(info);
  }
  // Also for a new identity: a named port towards an ipBlock resolves on the
  // pod's address, not its identity, so only a full recompute moves it.
  if (ports_changed && !pod.ports.empty()) {
    mark_policies_resolving_named_ports();
    if (names_cluster_egress_port(pod)) cnp_inputs_dirty = true;
  }
  for (const auto& ip : pod.ips) {
    auto& owners = addr_pods[ip];
    owners.insert(key);
    if (owners.size() > 1) cnp_inputs_dirty = true;
    refresh_addr(ip);
  }
  if (is_local(pod)) {
    for (const auto& ip : pod.ips) local_by_ip[ip] = key;
    local_pods_by_ns[pod.namespace_].insert(key);
    mark_policies_selecting_local(pod.namespace_, pod.labels, key);
    before.endpoints.insert(key);
    cnp_inputs_dirty = true;
  }
}

void Compiler::Impl::release_orphaned_identities() {
  for (const auto& [id, info] : orphaned) {
    identity_pods.erase(id);
    identities_by_ns[info.namespace_].erase(id);
    identity_ids.release(info);
    state.identities.erase(id);
    removed_identities.insert(id);
    mark_policies_mentioning(info);
  }
  orphaned.clear();
}

// ---------------------------------------------------------------------------
// CIDR prefixes: every prefix any policy names gets an identity; a policy
// whose ipBlock overlaps a prefix that came or went must be recomputed,
// since longest-prefix match now answers differently inside its block.

void collect_prefixes(const NetworkPolicy& p, std::set<Prefix>& out) {
  static const Prefix v4_mapped = *Prefix::parse("0.0.0.0/0");
  for (const auto* rules : {&p.ingress, &p.egress})
    for (const auto& rule : *rules)
      for (const auto& peer : rule.peers) {
        if (!peer.ip_block) continue;
        out.insert(peer.ip_block->cidr);
        for (const auto& e : peer.ip_block->except) out.insert(e);
        // An IPv6 block as wide as ::/80 would also cover IPv4-mapped
        // addresses; naming the IPv4 space keeps the families apart.
        if (!peer.ip_block->cidr.is_v4() && peer.ip_block->cidr.contains(v4_mapped)) out.insert(v4_mapped);
      }
}

static bool overlaps(const Prefix& a, const Prefix& b) { return a.contains(b) || b.contains(a); }

void Compiler::Impl::refresh_prefixes() {
  // Prefixes the ClusterNetworkPolicies took or left are in already.
  std::set<Prefix>& changed = prefixes_changed;
  for (const auto& key : dirty_policies) {
    std::set<Prefix> now;
    if (auto it = policies.find(key); it != policies.end()) now = prefixes_of(it->second);
    std::set<Prefix> was;
    if (auto it = contributions.find(key); it != contributions.end()) was = it->second.prefixes;
    for (const auto& pfx : now)
      if (!was.count(pfx) && prefix_refs[pfx]++ == 0) changed.insert(pfx);
    for (const auto& pfx : was)
      if (!now.count(pfx) && --prefix_refs[pfx] == 0) {
        prefix_refs.erase(pfx);
        changed.insert(pfx);
      }
  }
  for (const auto& pfx : changed) {
    auto cur = state.cidrs.find(pfx);
    before.cidrs.try_emplace(pfx, cur == state.cidrs.end() ? std::nullopt : std::optional(cur->second));
    if (prefix_refs.count(pfx)) {
      state.cidrs[pfx] = cidr_ids.acquire(pfx);
    } else {
      cidr_ids.release(pfx);
      state.cidrs.erase(pfx);
    }
  }
  if (changed.empty()) return;
  // Only policies selecting a local pod have entries for cidr identities.
  for (const auto& [key, _] : peer_index.policies()) {
    if (dirty_policies.count(key)) continue;
    std::set<Prefix> named;
    collect_prefixes(policies.at(key), named);
    for (const auto& pfx : named)
      if (std::any_of(changed.begin(), changed.end(), [&](const Prefix& c) { return overlaps(c, pfx); })) {
        dirty_policies.insert(key);
        break;
      }
  }
}

// ---------------------------------------------------------------------------
// Replacing one policy's contribution.

void Compiler::Impl::recompute(const std::string& key) {
  Contribution next;
  if (auto it = policies.find(key); it != policies.end()) next = contribute(it->second);
  Contribution prev;
  if (auto it = contributions.find(key); it != contributions.end()) prev = std::move(it->second);

  // Only entries that differ between the two contributions move.
  // Both lists are sorted: one merge walk finds what differs.
  auto replace = [](const auto& was_list, const auto& now_list, auto set_ref) {
    const auto &was = was_list.items, &now = now_list.items;
    size_t i = 0, j = 0;
    while (i < was.size() || j < now.size()) {
      if (j == now.size() || (i < was.size() && endpoint_major_less(was[i].first, now[j].first))) {
        set_ref(was[i].first, was[i].second, -1);
        ++i;
      } else if (i == was.size() || endpoint_major_less(now[j].first, was[i].first)) {
        set_ref(now[j].first, now[j].second, +1);
        ++j;
      } else {
        if (was[i].second != now[j].second) {
          set_ref(was[i].first, was[i].second, -1);
          set_ref(now[j].first, now[j].second, +1);
        }
        ++i, ++j;
      }
    }
  };
  replace(prev.policy, next.policy, [&](const PolicyKey& k, uint32_t r, int d) { set_policy_ref(k, r, d); });
  replace(prev.ranges, next.ranges, [&](const RangeKey& k, uint32_t r, int d) { set_range_ref(k, r, d); });

  auto update_sets = [&](auto& index, const std::set<std::string>& was, const std::set<std::string>& now) {
    for (const auto& pod : was)
      if (!now.count(pod)) {
        index[pod].erase(key);
        before.endpoints.insert(pod);
      }
    for (const auto& pod : now)
      if (!was.count(pod)) {
        index[pod].insert(key);
        before.endpoints.insert(pod);
      }
  };
  update_sets(ep_ingress, prev.ingress_endpoints, next.ingress_endpoints);
  update_sets(ep_egress, prev.egress_endpoints, next.egress_endpoints);

  for (uint32_t id : prev.rule_ids) {
    if (std::find(next.rule_ids.begin(), next.rule_ids.end(), id) != next.rule_ids.end()) continue;
    if (auto it = state.rules.find(id); it != state.rules.end())
      rule_ids.release({it->second.policy, it->second.direction, it->second.index});
    set_rule(id, std::nullopt);
  }
  auto policy = policies.find(key);
  if (policy != policies.end() && (!next.ingress_endpoints.empty() || !next.egress_endpoints.empty()))
    peer_index.add(policy->second);
  else
    peer_index.remove(key);
  if (next.rule_ids.empty() && policy == policies.end())
    contributions.erase(key);
  else
    contributions[key] = std::move(next);
}

// Takes the entries whose key `gone` picks out of a contribution's list,
// with their references.
template <class List, class Gone, class SetRef>
static void drop_entries(List& list, const Gone& gone, const SetRef& set_ref) {
  auto& items = list.items;
  items.erase(std::remove_if(items.begin(), items.end(),
                             [&](const auto& e) {
                               if (!gone(e.first)) return false;
                               set_ref(e.first, e.second, -1);
                               return true;
                             }),
              items.end());
}

// Only identities came or went since the policy's last contribution: its
// entries naming a removed identity go, the entries of the added ones come
// (an identity in both is made again); the cost follows those entries, not
// the policy's size.
void Compiler::Impl::recompute_peers(const std::string& key) {
  auto contribution = contributions.find(key);
  auto policy = policies.find(key);
  if (contribution == contributions.end() || policy == policies.end()) return recompute(key);
  Contribution& c = contribution->second;
  auto drop = [&](auto& list, auto set_ref) {
    drop_entries(list, [&](const auto& k) { return removed_identities.count(k.k.peer_identity) > 0; }, set_ref);
  };
  // The new identities' keys are new: merging keeps each list sorted and
  // without repeated keys.
  auto add = [&](auto& list, const auto& more, auto set_ref) {
    auto& items = list.items;
    for (const auto& [k, rule] : more.items) set_ref(k, rule, +1);
    size_t old_size = items.size();
    items.insert(items.end(), more.items.begin(), more.items.end());
    std::inplace_merge(items.begin(), items.begin() + old_size, items.end(),
                       [](const auto& a, const auto& b) { return endpoint_major_less(a.first, b.first); });
  };
  auto policy_ref = [&](const PolicyKey& k, uint32_t r, int d) { set_policy_ref(k, r, d); };
  auto range_ref = [&](const RangeKey& k, uint32_t r, int d) { set_range_ref(k, r, d); };
  if (!removed_identities.empty()) {
    drop(c.policy, policy_ref);
    drop(c.ranges, range_ref);
  }
  if (!added_identities.empty()) {
    Contribution more = contribute(policy->second, &added_identities);
    add(c.policy, more.policy, policy_ref);
    add(c.ranges, more.ranges, range_ref);
  }
}

const Pod* Compiler::Impl::selected_local_pod(const NetworkPolicy& p, const std::string& key) const {
  auto pod = pods.find(key);
  if (pod == pods.end() || !is_local(pod->second) || pod->second.namespace_ != p.namespace_ ||
      !p.pod_selector.matches(pod->second.labels))
    return nullptr;
  return &pod->second;
}

// The container ports the policy's ingress named ports resolve to on a pod
// it selects: two pods with the same get the same entries.
static std::vector<ContainerPort> ingress_named_ports(const NetworkPolicy& p, const Pod& pod) {
  std::vector<ContainerPort> out;
  for (const auto& cp : pod.ports)
    for (const auto& rule : p.ingress)
      if (std::any_of(rule.ports.begin(), rule.ports.end(), [&](const PolicyPort& port) {
            return !port.port_name.empty() && port.port_name == cp.name && port.proto() == cp.protocol;
          })) {
        out.push_back(cp);
        break;
      }
  std::sort(out.begin(), out.end(), [](const ContainerPort& a, const ContainerPort& b) {
    return std::tie(a.name, a.protocol, a.port) < std::tie(b.name, b.protocol, b.port);
  });
  return out;
}

std::optional<uint32_t> Compiler::Impl::endpoint_template(const std::string& key,
                                                          const std::set<std::string>& changed) const {
  auto policy = policies.find(key);
  auto contribution = contributions.find(key);
  if (policy == policies.end() || contribution == contributions.end()) return std::nullopt;
  const NetworkPolicy& p = policy->second;
  // An ingress named port is the selected pod's own container port: the
  // template must resolve it as every changed pod still selected does.
  const bool named = has_named_port(p.ingress);
  std::optional<std::vector<ContainerPort>> want;
  if (named)
    for (const auto& pod : changed)
      if (const Pod* selected = selected_local_pod(p, pod)) {
        auto ports = ingress_named_ports(p, *selected);
        if (want && *want != ports) return std::nullopt;
        want = std::move(ports);
      }
  for (const auto* selected : {&contribution->second.ingress_endpoints, &contribution->second.egress_endpoints})
    for (const auto& pod : *selected) {
      // Not among the changed pods: it stayed local and selected, with the
      // endpoint id its entries carry.
      if (changed.count(pod)) continue;
      const uint32_t* ep = endpoint_ids.find(pod);
      if (!ep) continue;
      if (want && ingress_named_ports(p, pods.at(pod)) != *want) continue;
      return *ep;
    }
  return std::nullopt;
}

std::set<uint32_t> Compiler::Impl::copy_whole_endpoints(
    const std::map<std::string, std::pair<std::set<std::string>, uint32_t>>& endpoint_only) {
  // For each changed pod: the policies that select it now, and whether
  // they all copy from one template endpoint.
  struct Plan {
    std::set<std::string> policies;
    std::optional<uint32_t> from;
    bool one_template = true;
  };
  std::map<std::string, Plan> plans;
  for (const auto& [key, how] : endpoint_only) {
    const NetworkPolicy& p = policies.at(key);
    for (const auto& pod : how.first) {
      if (!selected_local_pod(p, pod)) continue;
      Plan& plan = plans[pod];
      plan.policies.insert(key);
      if (plan.from && *plan.from != how.second) plan.one_template = false;
      plan.from = how.second;
    }
  }
  std::set<uint32_t> copied;
  for (const auto& [pod, plan] : plans) {
    if (!plan.one_template) continue;
    const uint32_t ep = *endpoint_ids.find(pod);
    const uint32_t from = *plan.from;
    // Nothing of either endpoint moved yet in this commit: `from`'s merged
    // entries are those of the last commit, the sum of its policies' blocks.
    if (!policy_refs.blank(ep) || !range_refs.blank(ep) || !policy_refs.settled(from) || !range_refs.settled(from))
      continue;
    auto from_pod = pod_by_endpoint.find(from);
    if (from_pod == pod_by_endpoint.end()) continue;
    // Exactly the policies that have entries for `from` copy them to `ep`.
    std::set<std::string> selecting;
    for (const auto* index : {&ep_ingress, &ep_egress})
      if (auto it = index->find(from_pod->second); it != index->end()) selecting.insert(it->second.begin(), it->second.end());
    if (selecting != plan.policies) continue;
    policy_refs.copy_endpoint(ep, from);
    range_refs.copy_endpoint(ep, from);
    for (int dir : {BF_DIR_INGRESS, BF_DIR_EGRESS})
      for (int kind : {BF_PEER_POD, BF_PEER_CIDR, BF_PEER_ANY})
        if (auto it = range_counts.find({from, dir, kind}); it != range_counts.end())
          range_counts[{ep, dir, kind}] += it->second;
    copied.insert(ep);
  }
  return copied;
}

// A policy's entries are the same for every endpoint it selects but for
// the endpoint id (the peers and ports are the policy's; only ingress
// named ports resolve on the endpoint, and endpoint_template picks one
// that resolves them alike). So
// the changed pods' entries go, and those still selected get the template
// endpoint's again: the cost follows their entries, not the policy's peers.
void Compiler::Impl::recompute_endpoints(const std::string& key, const std::set<std::string>& changed,
                                         uint32_t template_ep, const std::set<uint32_t>& copied) {
  Contribution& c = contributions.at(key);
  const NetworkPolicy& p = policies.at(key);
  std::set<uint32_t> gone;                  // endpoint ids whose entries go
  std::vector<uint32_t> now;                // endpoints that get the template's entries
  std::vector<std::string> selected_now;
  for (const auto& pod : changed) {
    if (auto old = old_endpoint_ids.find(pod); old != old_endpoint_ids.end()) gone.insert(old->second);
    const uint32_t* ep = endpoint_ids.find(pod);
    if (ep) gone.insert(*ep);
    if (ep && selected_local_pod(p, pod)) {
      now.push_back(*ep);
      selected_now.push_back(pod);
    }
  }
  // Endpoint-major order: each endpoint's entries are a block. The gone
  // blocks are cut out, the template's block is copied once per endpoint
  // (changing only the endpoint id keeps it sorted) and put where that
  // endpoint's block belongs; the policy's other entries are not looked at.
  auto redo = [&](auto& list, auto set_ref) {
    auto& items = list.items;
    for (uint32_t ep : gone) {
      auto [first, last] = list.endpoint_block(ep);
      for (auto e = first; e != last; ++e) set_ref(e->first, e->second, -1);
      items.erase(first, last);
    }
    for (uint32_t ep : now) {
      const bool referenced = !copied.count(ep);  // else the merged entries come whole (copy_whole_endpoints)
      // The template's block, copied within the list: room is made where
      // ep's block belongs, then filled (no block-sized allocation per policy).
      auto [tfirst, tlast] = list.endpoint_block(template_ep);
      const size_t len = tlast - tfirst, from = tfirst - items.begin();
      const size_t at = list.endpoint_block(ep).first - items.begin(), old_size = items.size();
      items.resize(old_size + len);
      std::move_backward(items.begin() + at, items.begin() + old_size, items.end());
      const size_t src = from >= at ? from + len : from;
      std::copy(items.begin() + src, items.begin() + src + len, items.begin() + at);
      for (auto it = items.begin() + at; it != items.begin() + at + len; ++it) {
        it->first.k.endpoint_id = ep;
        if (referenced) set_ref(it->first, it->second, +1);
      }
    }
  };
  redo(c.policy, [&](const PolicyKey& k, uint32_t r, int d) { set_policy_ref(k, r, d); });
  redo(c.ranges, [&](const RangeKey& k, uint32_t r, int d) { set_range_ref(k, r, d); });

  auto isolate = [&](std::set<std::string>& isolated, std::map<std::string, std::set<std::string>>& index,
                     bool affects) {
    for (const auto& pod : changed) {
      bool want = affects && std::find(selected_now.begin(), selected_now.end(), pod) != selected_now.end();
      if (want == (isolated.count(pod) > 0)) continue;
      if (want) {
        isolated.insert(pod);
        index[pod].insert(key);
      } else {
        isolated.erase(pod);
        index[pod].erase(key);
      }
      before.endpoints.insert(pod);
    }
  };
  isolate(c.ingress_endpoints, ep_ingress, p.affects_ingress());
  isolate(c.egress_endpoints, ep_egress, p.affects_egress());
}

EndpointState Compiler::Impl::endpoint_state(const std::string& key) const {
  const Pod& pod = pods.at(key);
  EndpointState ep;
  ep.pod = key;
  ep.endpoint_id = *endpoint_ids.find(key);
  ep.identity = identity_of(key);
  ep.ips = pod.ips;
  ep.source_prefixes = pod.allowed_source_prefixes;
  auto list = [&](const std::map<std::string, std::set<std::string>>& index) {
    auto it = index.find(key);
    return it == index.end() ? std::vector<std::string>{}
                             : std::vector<std::string>(it->second.begin(), it->second.end());
  };
  ep.ingress_policies = list(ep_ingress);
  ep.egress_policies = list(ep_egress);
  ep.ingress_isolated = !ep.ingress_policies.empty();
  ep.egress_isolated = !ep.egress_policies.empty();
  auto ranges = [&](int dir, int kind) {
    auto it = range_counts.find({ep.endpoint_id, dir, kind});
    return it != range_counts.end() && it->second > 0;
  };
  if (auto stages = cnp_stages.find(key); stages != cnp_stages.end()) ep.cnp_stages = stages->second;
  ep.has_ranges = 0;
  for (int dir : {BF_DIR_INGRESS, BF_DIR_EGRESS}) {
    bool kinds[3] = {ranges(dir, BF_PEER_POD), ranges(dir, BF_PEER_CIDR), ranges(dir, BF_PEER_ANY)};
    if (!kinds[0] && !kinds[1] && !kinds[2]) continue;
    ep.has_ranges |= 1u << dir;
    // The kinds with no range entry: the datapath skips those lookups.
    for (int kind : {BF_PEER_POD, BF_PEER_CIDR, BF_PEER_ANY})
      if (!kinds[kind]) ep.has_ranges |= BF_RANGES_NONE(dir, kind);
  }
  return ep;
}

// ---------------------------------------------------------------------------
// The public face.

Compiler::Compiler(CompileOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->host_ips_dirty = true;
}
Compiler::~Compiler() = default;
Compiler::Compiler(Compiler&&) noexcept = default;
Compiler& Compiler::operator=(Compiler&&) noexcept = default;

void Compiler::upsert(const Namespace& ns) {
  auto it = impl_->namespaces.find(ns.name);
  impl_->old_namespaces.try_emplace(ns.name, it == impl_->namespaces.end() ? std::nullopt : std::optional(it->second));
  impl_->namespaces[ns.name] = ns;
  impl_->dirty_namespaces.insert(ns.name);
}

void Compiler::erase_namespace(const std::string& name) {
  auto it = impl_->namespaces.find(name);
  if (it == impl_->namespaces.end()) return;
  impl_->old_namespaces.try_emplace(name, it->second);
  impl_->namespaces.erase(it);
  impl_->dirty_namespaces.insert(name);
}

void Compiler::upsert(const Pod& pod) {
  auto key = pod.key();
  auto it = impl_->pods.find(key);
  impl_->old_pods.try_emplace(key, it == impl_->pods.end() ? std::nullopt : std::optional(it->second));
  impl_->pods[key] = pod;
  impl_->dirty_pods.insert(key);
}

void Compiler::erase_pod(const std::string& key) {
  auto it = impl_->pods.find(key);
  if (it == impl_->pods.end()) return;
  impl_->old_pods.try_emplace(key, it->second);
  impl_->pods.erase(it);
  impl_->dirty_pods.insert(key);
}

void Compiler::upsert(const NetworkPolicy& policy) {
  auto [it, inserted] = impl_->policies.try_emplace(policy.key());
  if (!inserted) impl_->selector_index.remove(it->second);
  it->second = policy;
  impl_->selector_index.add(it->second);
  impl_->dirty_policies.insert(it->first);
}

void Compiler::erase_policy(const std::string& key) {
  auto it = impl_->policies.find(key);
  if (it == impl_->policies.end()) return;
  impl_->selector_index.remove(it->second);
  impl_->policies.erase(it);
  impl_->dirty_policies.insert(key);
}

void Compiler::upsert(const ClusterNetworkPolicy& policy) {
  impl_->cluster_policies[policy.key()] = policy;
  impl_->cnp_objects_dirty = true;
}

void Compiler::erase_cluster_policy(const std::string& name) {
  if (impl_->cluster_policies.erase(name)) impl_->cnp_objects_dirty = true;
}

void Compiler::prefer_endpoint_ids(const std::map<std::string, uint32_t>& ids) {
  for (const auto& [pod, id] : ids) impl_->endpoint_ids.reserve(pod, id);
}

void Compiler::set_host_ips(std::vector<IpAddress> ips) {
  for (const auto& ip : impl_->options.host_ips) impl_->before.addrs.try_emplace(ip);
  impl_->options.host_ips = std::move(ips);
  impl_->host_ips_dirty = true;
}

StateDiff Compiler::commit() {
  Impl& d = *impl_;

  // Namespaces: a label change moves the namespaceSelectors that matched
  // the old labels or match the new ones, but not both.
  for (const auto& name : d.dirty_namespaces) {
    const auto& old = d.old_namespaces[name];
    Labels was = old ? old->labels : Labels{{kNamespaceNameLabel, name}};
    const Labels& now = d.namespace_labels(name);
    if (old && was == now && d.namespaces.count(name)) continue;
    d.mark_policies_for_namespace(name, was, now);
    d.cnp_inputs_dirty = true;
  }

  // Pods: take the old version out, put the new one in.
  for (const auto& key : d.dirty_pods) {
    const auto& old = d.old_pods[key];
    auto cur = d.pods.find(key);
    if (old && cur != d.pods.end() && old->same_for_policy(cur->second)) continue;  // a resync
    // The identities' container ports (what egress named ports resolve to)
    // change when the pod's ports do, and when its ports move to another
    // identity with it. Egress named ports also resolve on the pod behind an
    // ipBlock address, so a pod with ports that moves address moves them too.
    bool ports_changed = !old || cur == d.pods.end() || old->ports != cur->second.ports ||
                         old->labels != cur->second.labels || old->host_network != cur->second.host_network ||
                         (!cur->second.ports.empty() && old->ips != cur->second.ips);
    if (old) d.remove_pod(key, *old, ports_changed);
    if (cur != d.pods.end()) d.add_pod(key, cur->second, ports_changed);
    bool local_now = cur != d.pods.end() && d.is_local(cur->second);
    if (local_now) {
      d.endpoint_ids.acquire(key);
    } else if (auto id = d.endpoint_ids.find(key)) {
      d.pod_by_endpoint.erase(*id);
      d.endpoint_ids.release(key);
    }
    if (local_now) d.pod_by_endpoint[*d.endpoint_ids.find(key)] = key;
  }

  d.release_orphaned_identities();

  if (d.host_ips_dirty) {
    for (const auto& ip : d.options.host_ips) d.before.addrs.try_emplace(ip);
    for (const auto& [ip, _] : std::map(d.before.addrs)) d.refresh_addr(ip);
  }

  // ClusterNetworkPolicies: recomputed whole, and only when something they
  // read moved (a remote pod joining an existing identity does not).
  const bool cluster_dirty = d.cluster_inputs_changed();
  if (cluster_dirty) d.refresh_cluster_prefixes();
  // Policies whose selected local pods changed: the changed pods' entries
  // are copied from an endpoint that stayed, when one did; otherwise (and
  // when a pod's entries depend on the pod) the policy is made again. This
  // comes before the prefixes: only a full recompute can change them.
  std::map<std::string, std::pair<std::set<std::string>, uint32_t>> endpoint_only;
  for (auto& [key, changed] : d.endpoint_dirty_policies) {
    if (d.dirty_policies.count(key)) continue;
    if (auto ep = d.endpoint_template(key, changed)) endpoint_only.emplace(key, std::pair(std::move(changed), *ep));
    else d.dirty_policies.insert(key);
  }
  d.refresh_prefixes();
  for (const auto& key : std::set(d.dirty_policies)) d.recompute(key);
  // Before the peers: the copies are of entries made for the identities of
  // the last commit, which recompute_peers then brings up to date.
  std::erase_if(endpoint_only, [&](const auto& entry) { return d.dirty_policies.count(entry.first) > 0; });
  const std::set<uint32_t> copied = d.copy_whole_endpoints(endpoint_only);
  for (const auto& [key, how] : endpoint_only) d.recompute_endpoints(key, how.first, how.second, copied);
  for (const auto& key : d.peer_dirty_policies)
    if (!d.dirty_policies.count(key)) d.recompute_peers(key);
  if (d.cnp_objects_dirty) d.refresh_cluster_rules();
  // Named prefixes that came or went move the networks rules onto them.
  if (cluster_dirty || (!d.cluster_policies.empty() && !d.prefixes_changed.empty())) d.recompute_cluster();

  StateDiff diff = d.collect_diff();
  d.endpoint_ids.drop_reservations();  // preferences hold for one commit
  d.dirty_policies.clear();
  d.endpoint_dirty_policies.clear();
  d.old_endpoint_ids.clear();
  d.peer_dirty_policies.clear();
  d.added_identities.clear();
  d.removed_identities.clear();
  d.dirty_pods.clear();
  d.dirty_namespaces.clear();
  d.old_pods.clear();
  d.old_namespaces.clear();
  d.host_ips_dirty = false;
  d.cnp_objects_dirty = false;
  d.cnp_inputs_dirty = false;
  d.prefixes_changed.clear();
  d.cnp_touched.clear();
  d.before = {};
  return diff;
}

StateDiff Compiler::Impl::collect_diff() {
  StateDiff diff;
  auto collect = [](const auto& before_map, const auto& now_map, auto& out) {
    for (const auto& [k, was] : before_map) {
      auto it = now_map.find(k);
      if (it == now_map.end()) {
        if (was) out.erase.push_back(k);
      } else if (!was || *was != it->second) {
        out.upsert.emplace_back(k, it->second);
      }
    }
  };
  settle(policy_refs, state.policy, diff.policy);
  settle(range_refs, state.ranges, diff.ranges);
  collect(before.addrs, state.pod_addrs, diff.pod_addrs);
  collect(before.cidrs, state.cidrs, diff.cidrs);
  collect(before.rules, state.rules, diff.rules);
  diff.cluster = std::move(cluster_diff);
  diff.cluster_rules = std::move(cluster_rules_diff);
  cluster_diff = {};
  cluster_rules_diff = {};

  // Endpoints: any pod whose policy sets or range entries may have moved.
  auto endpoint_pod = [&](uint32_t endpoint_id) -> const std::string* {
    auto it = pod_by_endpoint.find(endpoint_id);
    return it == pod_by_endpoint.end() ? nullptr : &it->second;
  };
  // Endpoint ids of the changed entries, each looked up once (a policy edit
  // changes thousands of entries of a few endpoints).
  auto endpoint_ids_of = [](const auto& map_diff) {
    std::vector<uint32_t> ids;
    uint32_t last = 0;
    for (const auto& [k, _] : map_diff.upsert)
      if (k.k.endpoint_id != last) ids.push_back(last = k.k.endpoint_id);
    for (const auto& k : map_diff.erase)
      if (k.k.endpoint_id != last) ids.push_back(last = k.k.endpoint_id);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    return ids;
  };
  std::vector<uint32_t> range_endpoints = endpoint_ids_of(diff.ranges);
  for (uint32_t id : range_endpoints)
    if (auto pod = endpoint_pod(id)) before.endpoints.insert(*pod);
  for (const auto& pod : before.endpoints) {
    auto it = pods.find(pod);
    bool local = it != pods.end() && is_local(it->second);
    auto cur = state.endpoints.find(pod);
    if (!local) {
      if (cur != state.endpoints.end()) {
        diff.endpoints.erase.push_back(pod);
        state.endpoints.erase(cur);
        diff.touched_endpoints.insert(pod);
      }
      continue;
    }
    EndpointState ep = endpoint_state(pod);
    if (cur == state.endpoints.end() || !(cur->second == ep)) {
      state.endpoints[pod] = ep;
      diff.endpoints.upsert.emplace_back(pod, ep);
      diff.touched_endpoints.insert(pod);
    }
  }

  // A cached flow verdict depends on the peer's identity and on the policy
  // and cluster_policy entries of its endpoint.
  for (const auto& pod : cnp_touched)
    if (state.endpoints.count(pod)) diff.touched_endpoints.insert(pod);
  if (!diff.pod_addrs.empty() || !diff.cidrs.empty()) {
    // In order: each insert goes at the end, no search.
    for (const auto& [pod, _] : state.endpoints) diff.touched_endpoints.insert(diff.touched_endpoints.end(), pod);
  } else {
    std::vector<uint32_t> policy_endpoints = endpoint_ids_of(diff.policy);
    for (const auto* ids : {&range_endpoints, &policy_endpoints})
      for (uint32_t id : *ids)
        if (auto pod = endpoint_pod(id)) diff.touched_endpoints.insert(*pod);
  }
  return diff;
}

const DesiredState& Compiler::state() const { return impl_->state; }
const std::map<std::string, Namespace>& Compiler::namespaces() const { return impl_->namespaces; }
const std::map<std::string, Pod>& Compiler::pods() const { return impl_->pods; }
const std::map<std::string, NetworkPolicy>& Compiler::policies() const { return impl_->policies; }
const std::map<std::string, ClusterNetworkPolicy>& Compiler::cluster_policies() const {
  return impl_->cluster_policies;
}

DesiredState compile(const std::vector<Namespace>& namespaces, const std::vector<Pod>& pods,
                     const std::vector<NetworkPolicy>& policies, const CompileOptions& options) {
  Compiler c(options);
  for (const auto& ns : namespaces) c.upsert(ns);
  for (const auto& pod : pods) c.upsert(pod);
  for (const auto& p : policies) c.upsert(p);
  c.commit();
  return c.state();
}

}  // namespace bpfence
