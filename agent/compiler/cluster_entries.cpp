// What the ClusterNetworkPolicies contribute to the desired state: the
// cluster_policy entries of every local endpoint a subject selects (per
// direction and tier, for each peer id and port prefix the rule of smallest
// rank), the rule ids behind them, and the endpoints' stage bits.
//
// The datapath makes one longest-prefix lookup per peer identity (pod
// identity, BF_ID_ANY_POD, CIDR identity: at most 3 per stage) and keeps the
// smallest rank, so the entries must make each lookup's longest match the
// best rule among everything that covers it:
// - a networks rule is written on its prefix's CIDR identity and on every
//   more specific named prefix inside it (the address's CIDR identity is
//   the longest named prefix only);
// - a port prefix carries the smallest rank of the prefixes covering it,
//   the peer's every-protocol entry (a shorter prefix, ending before the
//   protocol) included.
// DECISIONS.md, "ClusterNetworkPolicy", has the rank and the lookups.
#include <arpa/inet.h>

#include <algorithm>
#include <tuple>

#include "cluster_tiers.h"
#include "compiler_impl.h"

namespace bpfence {

namespace {

// IPv4 in the mapped form: an IPv6 network wide enough to cover it names it
// too, so an IPv4 address never falls into an IPv6 network's identity.
const Prefix& ipv4_space() {
  static const Prefix p = *Prefix::parse("0.0.0.0/0");
  return p;
}

// namespaces: {} or pods: {namespaceSelector: {}, podSelector: {}}: one
// BF_ID_ANY_POD entry instead of one per identity.
bool selects_every_pod(const CnpPeer& peer) {
  if (peer.namespaces) return peer.namespaces->empty();
  if (peer.pods) return peer.pods->namespace_selector.empty() && peer.pods->pod_selector.empty();
  return false;
}

// First match in (priority, name, rule index) order is the smallest rank.
// More than 2048 policies of one tier sharing a priority share the last
// ordinal (their order among themselves is then by rule index only).
uint32_t cnp_rank(int32_t priority, uint32_t ordinal, uint32_t index) {
  return static_cast<uint32_t>(priority) << 16 | std::min<uint32_t>(ordinal, 2047) << 5 | index;
}

struct PortPrefix {
  uint8_t proto = 0;  // 0: every IP protocol
  uint16_t port = 0;  // host order
  uint8_t bits = 0;
};

// One rule, compiled once per commit whatever the number of endpoints.
struct CompiledRule {
  bf_direction direction = BF_DIR_INGRESS;
  uint8_t tier = BF_TIER_ADMIN;
  ClusterEntry value;
  std::vector<uint32_t> peers;     // pod identities, BF_ID_ANY_POD, CIDR identities
  std::vector<PortPrefix> ports;   // numbers and ranges; one proto-0 prefix without protocols
  std::vector<std::string> named;  // destinationNamedPort: ingress resolves on each subject
  std::vector<std::pair<uint32_t, PortPrefix>> named_egress;  // resolved: destination's host prefix identity
};

struct CompiledPolicy {
  const ClusterNetworkPolicy* policy = nullptr;
  std::vector<CompiledRule> rules;
};

// A rule's claim on one key of one endpoint, before merging. proto 0 (bits
// and port 0): every protocol, the peer-wide entry.
struct RawEntry {
  uint8_t direction, tier, proto, bits;
  uint32_t peer;
  uint16_t port;
  ClusterEntry value;
  auto peer_group() const { return std::tie(direction, tier, peer); }
  auto key() const { return std::tie(direction, tier, peer, proto, bits, port); }
};

ClusterKey cluster_key(uint32_t endpoint, const RawEntry& e) {
  ClusterKey k;
  k.k.prefixlen = e.proto == 0 ? BF_CNP_PEER_BITS : BF_CNP_FIXED_BITS + e.bits;
  k.k.endpoint_id = endpoint;
  k.k.peer_identity = e.peer;
  k.k.direction = e.direction;
  k.k.tier = e.tier;
  k.k.proto = e.proto;
  k.k.port = htons(e.port);
  return k;
}

// Merges one endpoint's claims: one value per key (the smallest rank), each
// entry given the best of the entries covering it (a port prefix: the
// shorter prefixes of its protocol, then its peer's every-protocol entry),
// and entries that then say the same as their nearest covering entry left
// out (the lookup finds that one instead). Sorted by key.
std::vector<std::pair<ClusterKey, ClusterEntry>> merge_entries(uint32_t endpoint, std::vector<RawEntry>& raw) {
  std::sort(raw.begin(), raw.end(), [](const RawEntry& a, const RawEntry& b) {
    return std::tie(a.direction, a.tier, a.peer, a.proto, a.bits, a.port, a.value.rank) <
           std::tie(b.direction, b.tier, b.peer, b.proto, b.bits, b.port, b.value.rank);
  });
  raw.erase(std::unique(raw.begin(), raw.end(), [](const RawEntry& a, const RawEntry& b) { return a.key() == b.key(); }),
            raw.end());
  std::vector<std::pair<ClusterKey, ClusterEntry>> out;
  std::vector<ClusterEntry> pushed(raw.size());
  // Takes the nearest covering entry `outer` into entry i: true when i
  // still says something of its own.
  auto cover = [&](size_t i, size_t outer) {
    if (pushed[outer].rank <= pushed[i].rank) pushed[i] = pushed[outer];
    return pushed[i].rank != pushed[outer].rank;
  };
  for (size_t g = 0; g < raw.size();) {
    size_t end = g;
    while (end < raw.size() && raw[end].peer_group() == raw[g].peer_group()) ++end;
    // proto 0 sorts first: the peer's every-protocol entry, if any, is
    // settled before the entries it covers.
    const bool every_protocol = raw[g].proto == 0;
    size_t first = g;  // the first entry of the current protocol
    for (size_t i = g; i < end; ++i) {
      if (raw[i].proto != raw[first].proto) first = i;
      pushed[i] = raw[i].value;
      bool keep = true, covered = false;
      // Inside a protocol the prefixes come by length, shortest first: a
      // prefix's covering prefixes are settled before it.
      for (int b = raw[i].bits - 1; b >= 0 && raw[i].proto != 0; --b) {
        const uint16_t covering = raw[i].port & port_mask(static_cast<uint8_t>(b));
        auto it = std::lower_bound(raw.begin() + first, raw.begin() + i, std::make_pair(b, covering),
                                   [](const RawEntry& e, const std::pair<int, uint16_t>& k) {
                                     return std::make_pair(static_cast<int>(e.bits), e.port) < k;
                                   });
        if (it == raw.begin() + i || it->bits != b || it->port != covering) continue;
        keep = cover(i, it - raw.begin());
        covered = true;
        break;
      }
      if (!covered && every_protocol && i != g) keep = cover(i, g);
      if (keep) out.emplace_back(cluster_key(endpoint, raw[i]), pushed[i]);
    }
    g = end;
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// Which changes move the entries.

bool Compiler::Impl::cluster_inputs_changed() const {
  if (cnp_objects_dirty) return true;
  if (cluster_policies.empty()) return false;
  return cnp_inputs_dirty || !added_identities.empty() || !removed_identities.empty();
}

bool Compiler::Impl::names_cluster_egress_port(const Pod& pod) const {
  if (cnp_egress_port_names.empty()) return false;
  return std::any_of(pod.ports.begin(), pod.ports.end(),
                     [&](const ContainerPort& cp) { return cnp_egress_port_names.count(cp.name) > 0; });
}

// ---------------------------------------------------------------------------
// Peers.

std::vector<uint32_t> Compiler::Impl::cluster_peer_identities(const CnpPeer& peer) const {
  std::vector<uint32_t> ids;
  if (!peer.namespaces && !peer.pods) return ids;
  for (const auto& [ns, members] : identities_by_ns) {
    if (members.empty()) continue;
    const Labels ns_labels = namespace_labels_of(namespaces, ns);
    if (peer.namespaces) {
      if (peer.namespaces->matches(ns_labels)) ids.insert(ids.end(), members.begin(), members.end());
      continue;
    }
    if (!peer.pods->namespace_selector.matches(ns_labels)) continue;
    for (uint32_t id : members)
      if (peer.pods->pod_selector.matches(state.identities.at(id).labels)) ids.push_back(id);
  }
  return ids;
}

// Egress named ports resolve on the destination: the pod an address belongs
// to (the first claiming it, as pod_addrs says), when the rule's peers take
// that address. Calls found(address, container port) for each port of the name.
void Compiler::Impl::cluster_named_destinations(
    const CnpRule& rule, const std::string& name,
    const std::function<void(const IpAddress&, const ContainerPort&)>& found) const {
  auto on_address = [&](const IpAddress& ip, const std::string& pod_key) {
    for (const ContainerPort& cp : pods.at(pod_key).ports)
      if (cp.name == name) found(ip, cp);
  };
  for (const CnpPeer& peer : rule.peers) {
    for (uint32_t id : cluster_peer_identities(peer)) {
      auto members = identity_pods.find(id);
      if (members == identity_pods.end()) continue;
      for (const std::string& key : members->second)
        for (const IpAddress& ip : pods.at(key).ips) {
          auto owners = addr_pods.find(ip);
          if (owners != addr_pods.end() && *owners->second.begin() == key) on_address(ip, key);
        }
    }
    for (const Prefix& net : peer.networks)
      for (auto it = addr_pods.lower_bound(net.addr); it != addr_pods.end() && net.contains(it->first); ++it)
        if (it->first.is_v4() == net.is_v4() && !it->second.empty()) on_address(it->first, *it->second.begin());
  }
}

// Every prefix the ClusterNetworkPolicies need an identity for: their
// networks, the IPv4 space beside an IPv6 network that covers it, and the
// host prefix of each address an egress named port resolves on.
std::set<Prefix> Compiler::Impl::cluster_prefixes() const {
  std::set<Prefix> out;
  for (const auto& [_, p] : cluster_policies)
    for (const CnpRule& rule : p.egress) {
      for (const CnpPeer& peer : rule.peers)
        for (const Prefix& net : peer.networks) {
          out.insert(net);
          if (!net.is_v4() && net.contains(ipv4_space())) out.insert(ipv4_space());
        }
      for (const CnpProtocol& proto : rule.protocols)
        if (!proto.named_port.empty())
          cluster_named_destinations(rule, proto.named_port,
                                     [&](const IpAddress& ip, const ContainerPort&) { out.insert(Prefix{ip, 128}); });
    }
  return out;
}

void Compiler::Impl::refresh_cluster_prefixes() {
  std::set<Prefix> now = cluster_prefixes();
  for (const Prefix& pfx : now)
    if (!cnp_prefixes.count(pfx) && prefix_refs[pfx]++ == 0) prefixes_changed.insert(pfx);
  for (const Prefix& pfx : cnp_prefixes)
    if (!now.count(pfx) && --prefix_refs[pfx] == 0) {
      prefix_refs.erase(pfx);
      prefixes_changed.insert(pfx);
    }
  cnp_prefixes = std::move(now);
}

// ---------------------------------------------------------------------------
// Rule ids: every rule of every ClusterNetworkPolicy, whether it selects a
// local pod or not (flows and explain name them by id); and the names of
// their egress named ports.

void Compiler::Impl::refresh_cluster_rules() {
  cnp_egress_port_names.clear();
  for (const auto& [_, p] : cluster_policies)
    for (const CnpRule& rule : p.egress)
      for (const CnpProtocol& proto : rule.protocols)
        if (!proto.named_port.empty()) cnp_egress_port_names.insert(proto.named_port);
  std::map<uint32_t, CnpRuleRef> next;
  for (const auto& [name, p] : cluster_policies)
    for (bf_direction dir : {BF_DIR_INGRESS, BF_DIR_EGRESS}) {
      const auto& rules = dir == BF_DIR_INGRESS ? p.ingress : p.egress;
      for (uint32_t i = 0; i < rules.size(); ++i) {
        uint32_t id = cnp_rule_ids.acquire({name, dir, i});
        next[id] = CnpRuleRef{name, p.tier, p.priority, dir, i, rules[i].name, rules[i].action};
      }
    }
  for (const auto& [id, ref] : state.cluster_rules)
    if (!next.count(id)) {
      cnp_rule_ids.release({ref.policy, ref.direction, ref.index});
      cluster_rules_diff.erase.push_back(id);
    }
  for (const auto& [id, ref] : next) {
    auto cur = state.cluster_rules.find(id);
    if (cur == state.cluster_rules.end() || !(cur->second == ref)) cluster_rules_diff.upsert.emplace_back(id, ref);
  }
  state.cluster_rules = std::move(next);
}

// ---------------------------------------------------------------------------
// Entries.

void Compiler::Impl::recompute_cluster() {
  // Each rule once: rank, action, peer ids, port prefixes.
  std::vector<CompiledPolicy> compiled;
  std::map<std::pair<CnpTier, int32_t>, uint32_t> ordinals;  // policies so far of a (tier, priority)
  for (const auto& [name, p] : cluster_policies) {
    const uint32_t ordinal = ordinals[{p.tier, p.priority}]++;  // by name: the map is sorted
    CompiledPolicy cp{&p, {}};
    for (bf_direction dir : {BF_DIR_INGRESS, BF_DIR_EGRESS}) {
      const auto& rules = dir == BF_DIR_INGRESS ? p.ingress : p.egress;
      for (uint32_t i = 0; i < rules.size(); ++i) {
        const CnpRule& rule = rules[i];
        CompiledRule r;
        r.direction = dir;
        r.tier = p.tier == CnpTier::Admin ? BF_TIER_ADMIN : BF_TIER_BASELINE;
        r.value.rank = cnp_rank(p.priority, ordinal, i);
        r.value.rule_id = *cnp_rule_ids.find({name, dir, i});
        r.value.action = rule.action == CnpAction::Accept ? BF_CNP_ACCEPT
                         : rule.action == CnpAction::Deny ? BF_CNP_DENY
                                                          : BF_CNP_PASS;
        for (const CnpPeer& peer : rule.peers) {
          if (selects_every_pod(peer)) {
            r.peers.push_back(BF_ID_ANY_POD);
          } else {
            std::vector<uint32_t> ids = cluster_peer_identities(peer);
            r.peers.insert(r.peers.end(), ids.begin(), ids.end());
          }
          // A network's identity and every more specific named prefix
          // inside it, of its own family.
          for (const Prefix& net : peer.networks)
            for (uint32_t id : cidr_identities(IpBlock{net, {}})) r.peers.push_back(id);
        }
        std::sort(r.peers.begin(), r.peers.end());
        r.peers.erase(std::unique(r.peers.begin(), r.peers.end()), r.peers.end());
        if (rule.protocols.empty()) r.ports.push_back({});  // every protocol, ICMP included
        for (const CnpProtocol& proto : rule.protocols) {
          if (!proto.named_port.empty()) {
            if (dir == BF_DIR_INGRESS) {
              r.named.push_back(proto.named_port);
              continue;
            }
            cluster_named_destinations(rule, proto.named_port, [&](const IpAddress& ip, const ContainerPort& cp) {
              if (auto host = state.cidrs.find(Prefix{ip, 128}); host != state.cidrs.end())
                r.named_egress.push_back({host->second, {static_cast<uint8_t>(cp.protocol), cp.port, 16}});
            });
            continue;
          }
          for (auto [value, bits] : port_range_prefixes(proto.port, proto.end_port))
            r.ports.push_back({static_cast<uint8_t>(proto.protocol), value, bits});
        }
        cp.rules.push_back(std::move(r));
      }
    }
    if (!cp.rules.empty()) compiled.push_back(std::move(cp));
  }

  // Each local endpoint: the rules of the policies whose subject selects it.
  std::map<uint32_t, std::vector<std::pair<ClusterKey, ClusterEntry>>> next;
  std::map<std::string, uint8_t> next_stages;
  std::map<std::string, Labels> ns_labels;
  std::vector<RawEntry> raw;
  for (const auto& [endpoint, key] : pod_by_endpoint) {
    const Pod& pod = pods.at(key);
    auto labels = ns_labels.find(pod.namespace_);
    if (labels == ns_labels.end())
      labels = ns_labels.emplace(pod.namespace_, namespace_labels_of(namespaces, pod.namespace_)).first;
    raw.clear();
    for (const CompiledPolicy& cp : compiled) {
      if (!cnp_subject_selects(cp.policy->subject, pod.labels, labels->second)) continue;
      for (const CompiledRule& r : cp.rules) {
        auto add = [&](uint32_t peer, const PortPrefix& port) {
          raw.push_back({static_cast<uint8_t>(r.direction), r.tier, port.proto, port.bits, peer, port.port, r.value});
        };
        for (uint32_t peer : r.peers)
          for (const PortPrefix& port : r.ports) add(peer, port);
        // An ingress named port is the subject's own container port.
        for (const std::string& name : r.named)
          for (const ContainerPort& c : pod.ports)
            if (c.name == name)
              for (uint32_t peer : r.peers) add(peer, {static_cast<uint8_t>(c.protocol), c.port, 16});
        for (const auto& [peer, port] : r.named_egress) add(peer, port);
      }
    }
    if (raw.empty()) continue;
    auto entries = merge_entries(endpoint, raw);
    uint8_t stages = 0;
    for (const auto& [k, _] : entries) stages |= BF_CNP_STAGE(k.k.direction, k.k.tier);
    if (stages) next_stages[key] = stages;
    next[endpoint] = std::move(entries);
  }

  // The difference from the last commit, endpoint by endpoint.
  static const std::vector<std::pair<ClusterKey, ClusterEntry>> kNone;
  auto changed_endpoint = [&](uint32_t endpoint) {
    if (auto pod = pod_by_endpoint.find(endpoint); pod != pod_by_endpoint.end()) cnp_touched.insert(pod->second);
  };
  auto diff_endpoint = [&](uint32_t endpoint, const auto& was, const auto& now) {
    size_t i = 0, j = 0;
    bool changed = false;
    while (i < was.size() || j < now.size()) {
      if (j == now.size() || (i < was.size() && was[i].first < now[j].first)) {
        state.cluster.erase(was[i].first);
        cluster_diff.erase.push_back(was[i].first);
        ++i;
      } else if (i == was.size() || now[j].first < was[i].first) {
        state.cluster[now[j].first] = now[j].second;
        cluster_diff.upsert.push_back(now[j]);
        ++j;
      } else {
        const bool same = was[i].second == now[j].second;
        if (!same) {
          state.cluster[now[j].first] = now[j].second;
          cluster_diff.upsert.push_back(now[j]);
        }
        ++i, ++j;
        if (same) continue;
      }
      changed = true;
    }
    if (changed) changed_endpoint(endpoint);
  };
  for (const auto& [endpoint, was] : cnp_entries) {
    auto now = next.find(endpoint);
    diff_endpoint(endpoint, was, now == next.end() ? kNone : now->second);
  }
  for (const auto& [endpoint, now] : next)
    if (!cnp_entries.count(endpoint)) diff_endpoint(endpoint, kNone, now);
  cnp_entries = std::move(next);

  for (const auto& [pod, stages] : cnp_stages)
    if (auto it = next_stages.find(pod); it == next_stages.end() || it->second != stages) before.endpoints.insert(pod);
  for (const auto& [pod, stages] : next_stages)
    if (!cnp_stages.count(pod)) before.endpoints.insert(pod);
  cnp_stages = std::move(next_stages);
}

}  // namespace bpfence
