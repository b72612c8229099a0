// What one NetworkPolicy contributes: the endpoints it isolates and, for each
// of its rules, the policy-map entries {endpoint, direction, peer identity,
// protocol, port} that allow traffic. This is where the rules of
// networking.k8s.io/v1 are applied.
#include <arpa/inet.h>

#include "compiler_impl.h"

namespace bpfence {

// Peer identities a rule admits. Every peer kind adds to one set (OR);
// within a peer, namespaceSelector and podSelector both apply (AND).
std::vector<uint32_t> Compiler::Impl::peer_identities(const NetworkPolicy& p, const PolicyRule& rule,
                                                      bool& only_pods, const std::set<uint32_t>* only) {
  only_pods = true;
  if (rule.peers.empty()) {
    only_pods = false;
    return {BF_ID_ANY};  // no from/to: every peer, inside the cluster or not
  }
  if (only) {
    // Just these identities: asking each peer about them costs far less
    // than listing every identity the peers admit.
    std::vector<uint32_t> ids;
    for (uint32_t id : *only) {
      auto info = state.identities.find(id);
      if (info == state.identities.end()) continue;
      const Labels& ns_labels = namespace_labels(info->second.namespace_);
      for (const auto& peer : rule.peers)
        if (peer_matches_identity(p, peer, info->second, ns_labels)) {
          ids.push_back(id);
          break;
        }
    }
    return ids;
  }
  std::set<uint32_t> ids;
  for (const auto& peer : rule.peers) {
    if (peer.ip_block) {
      only_pods = false;
      for (uint32_t id : cidr_identities(*peer.ip_block)) ids.insert(id);
      continue;
    }
    auto add_namespace = [&](const std::string& ns) {
      auto it = identities_by_ns.find(ns);
      if (it == identities_by_ns.end()) return;
      for (uint32_t id : it->second)
        if (!peer.pod_selector || peer.pod_selector->matches(state.identities.at(id).labels)) ids.insert(id);
    };
    if (!peer.namespace_selector) {
      add_namespace(p.namespace_);
    } else {
      for (const auto& [ns, _] : identities_by_ns)
        if (peer.namespace_selector->matches(namespace_labels(ns))) add_namespace(ns);
    }
  }
  return {ids.begin(), ids.end()};
}

// A named prefix is selected by ipBlock{cidr, except} when it lies inside
// cidr and inside no except; longest-prefix match then gives each address
// the exact answer (see DESIGN.md, "except needs no special case").
std::vector<uint32_t> Compiler::Impl::cidr_identities(const IpBlock& block) const {
  std::vector<uint32_t> ids;
  bool v4 = block.cidr.is_v4();
  for (auto it = state.cidrs.lower_bound(Prefix{block.cidr.addr, 0});
       it != state.cidrs.end() && block.cidr.contains(it->first.addr); ++it) {
    const Prefix& pfx = it->first;
    if (pfx.len < block.cidr.len || pfx.is_v4() != v4) continue;
    bool excepted = false;
    for (const auto& e : block.except) excepted = excepted || e.contains(pfx);
    if (!excepted) ids.push_back(it->second);
  }
  return ids;
}

void Compiler::Impl::resolve_named_port_in_block(const IpBlock& block, const PolicyPort& port,
                                                 const std::function<void(const IpAddress&, uint16_t)>& found) const {
  const bool v4 = block.cidr.is_v4();
  for (auto it = addr_pods.lower_bound(block.cidr.addr); it != addr_pods.end() && block.cidr.contains(it->first);
       ++it) {
    const IpAddress& ip = it->first;
    // An IPv6 block as wide as ::/80 does not select IPv4 (see collect_prefixes).
    if (ip.is_v4() != v4) continue;
    if (std::any_of(block.except.begin(), block.except.end(), [&](const Prefix& e) { return e.contains(ip); }))
      continue;
    // Every pod claiming the address (two while a restarted pod's old one
    // is going): a pod without ports then never changes the answer, so only
    // pods with ports need to mark policies when they come, go or move.
    for (const auto& pod : it->second)
      for (const auto& cp : pods.at(pod).ports)
        if (cp.name == port.port_name && cp.protocol == port.proto()) found(ip, cp.port);
  }
}

std::set<Prefix> Compiler::Impl::prefixes_of(const NetworkPolicy& p) const {
  std::set<Prefix> out;
  collect_prefixes(p, out);
  if (!p.affects_egress()) return out;
  // Only a policy with entries needs them; one that selects no local pod is
  // recomputed when it starts to, but not when the pods it would resolve on
  // change (it is not in the peer index), so it must not hold them.
  auto local = local_pods_by_ns.find(p.namespace_);
  if (local == local_pods_by_ns.end() ||
      std::none_of(local->second.begin(), local->second.end(),
                   [&](const std::string& pod) { return p.pod_selector.matches(pods.at(pod).labels); }))
    return out;
  for (const auto& rule : p.egress)
    for (const auto& port : rule.ports) {
      if (port.port_name.empty()) continue;
      for (const auto& peer : rule.peers)
        if (peer.ip_block)
          resolve_named_port_in_block(*peer.ip_block, port,
                                      [&](const IpAddress& ip, uint16_t) { out.insert(Prefix{ip, 128}); });
    }
  return out;
}

static __be16 net_port(uint16_t port) { return htons(port); }

Contribution Compiler::Impl::contribute(const NetworkPolicy& p, const std::set<uint32_t>* only_peers) {
  Contribution c;
  // Only some peers' entries (recompute_peers): the policy is the one its
  // contribution was made from, which holds its rule ids (in the order
  // below) and its prefixes; looking them up again per candidate policy
  // was a good part of what a new identity cost.
  const Contribution* known = nullptr;
  if (only_peers)
    if (auto it = contributions.find(p.key()); it != contributions.end()) known = &it->second;
  if (!known) c.prefixes = prefixes_of(p);
  size_t known_rule = 0;

  // Local pods the policy selects: same namespace, podSelector matches.
  std::vector<std::pair<std::string, uint32_t>> selected;
  if (auto local = local_pods_by_ns.find(p.namespace_); local != local_pods_by_ns.end())
    for (const auto& pod : local->second)
      if (p.pod_selector.matches(pods.at(pod).labels)) selected.emplace_back(pod, *endpoint_ids.find(pod));

  auto add_exact = [&](uint32_t ep, uint32_t peer, bf_direction dir, uint8_t proto, uint16_t port, uint32_t rule) {
    if (only_peers && !only_peers->count(peer)) return;
    PolicyKey k;
    k.k.endpoint_id = ep;
    k.k.peer_identity = peer;
    k.k.direction = dir;
    k.k.proto = proto;
    k.k.port = net_port(port);
    c.policy.add(k, rule);
  };
  auto add_range = [&](uint32_t ep, uint32_t peer, bf_direction dir, uint8_t proto, uint16_t first, uint16_t last,
                       uint32_t rule) {
    if (only_peers && !only_peers->count(peer)) return;
    for (auto [value, bits] : port_range_prefixes(first, last)) {
      if (bits == 16) {
        add_exact(ep, peer, dir, proto, value, rule);
        continue;
      }
      RangeKey k;
      k.k.prefixlen = BF_RANGE_FIXED_BITS + bits;
      k.k.endpoint_id = ep;
      k.k.peer_identity = peer;
      k.k.direction = dir;
      k.k.proto = proto;
      k.k.port = net_port(value);
      c.ranges.add(k, rule);
    }
  };

  for (bf_direction dir : {BF_DIR_INGRESS, BF_DIR_EGRESS}) {
    bool ingress = dir == BF_DIR_INGRESS;
    if (ingress ? !p.affects_ingress() : !p.affects_egress()) continue;
    auto& isolated = ingress ? c.ingress_endpoints : c.egress_endpoints;
    for (const auto& [pod, _] : selected) isolated.insert(pod);

    const auto& rules = ingress ? p.ingress : p.egress;
    for (uint32_t index = 0; index < rules.size(); ++index) {
      const PolicyRule& rule = rules[index];
      uint32_t rule_id;
      if (known && known_rule < known->rule_ids.size()) {
        rule_id = known->rule_ids[known_rule++];
      } else {
        rule_id = rule_ids.acquire({p.key(), dir, index});
        c.rule_ids.push_back(rule_id);
        set_rule(rule_id, RuleRef{p.key(), dir, index});
      }

      if (selected.empty()) continue;  // nothing local to enforce it on
      bool only_pods = true;
      std::vector<uint32_t> peers = peer_identities(p, rule, only_pods, only_peers);

      for (const auto& [pod, ep] : selected) {
        if (rule.ports.empty()) {
          for (uint32_t peer : peers) add_exact(ep, peer, dir, 0, 0, rule_id);  // every port and protocol
          continue;
        }
        for (const PolicyPort& port : rule.ports) {
          uint8_t proto = static_cast<uint8_t>(port.proto());
          if (port.port_name.empty()) {
            for (uint32_t peer : peers) {
              if (!port.port)
                add_exact(ep, peer, dir, proto, 0, rule_id);  // every port of the protocol
              else if (!port.end_port)
                add_exact(ep, peer, dir, proto, *port.port, rule_id);
              else
                add_range(ep, peer, dir, proto, *port.port, *port.end_port, rule_id);
            }
            continue;
          }
          // A named port means the destination pod's container port of that
          // name and protocol. For ingress that is the selected pod itself;
          // for egress, the pods of each peer identity.
          if (ingress) {
            for (const auto& cp : pods.at(pod).ports)
              if (cp.name == port.port_name && cp.protocol == port.proto())
                for (uint32_t peer : peers) add_exact(ep, peer, dir, proto, cp.port, rule_id);
            continue;
          }
          auto resolve_on = [&](uint32_t peer_id, uint32_t key_peer) {
            auto members = identity_pods.find(peer_id);
            if (members == identity_pods.end()) return;
            for (const auto& member : members->second)
              for (const auto& cp : pods.at(member).ports)
                if (cp.name == port.port_name && cp.protocol == port.proto())
                  add_exact(ep, key_peer, dir, proto, cp.port, rule_id);
          };
          for (uint32_t peer : peers) {
            if (peer == BF_ID_ANY) {
              // Every pod that has the named port; non-pod destinations have
              // no named ports.
              if (only_peers)
                for (uint32_t id : *only_peers) resolve_on(id, id);
              else
                for (const auto& [id, _] : identity_pods) resolve_on(id, id);
            } else if (peer < kFirstCidrIdentity) {
              resolve_on(peer, peer);
            }
          }
          // Towards an ipBlock: the pod behind each address it covers, keyed
          // on that address's own host prefix (prefixes_of named it), so
          // external addresses of the block get nothing for a name.
          for (const auto& peer : rule.peers) {
            if (!peer.ip_block) continue;
            resolve_named_port_in_block(*peer.ip_block, port, [&](const IpAddress& ip, uint16_t number) {
              if (auto host = state.cidrs.find(Prefix{ip, 128}); host != state.cidrs.end())
                add_exact(ep, host->second, dir, proto, number, rule_id);
            });
          }
        }
      }
    }
  }
  c.policy.finish();
  c.ranges.finish();
  return c;
}

// Splits [first, last] into aligned blocks: value with the top `bits` bits
// significant. At most 30 blocks for any 16-bit range.
std::vector<std::pair<uint16_t, uint8_t>> port_range_prefixes(uint16_t first, uint16_t last) {
  std::vector<std::pair<uint16_t, uint8_t>> out;
  uint32_t lo = first, hi = last;
  while (lo <= hi) {
    uint8_t bits = 16;
    // Grow the block while it stays aligned and inside the range.
    while (bits > 0) {
      uint32_t size = 1u << (16 - (bits - 1));
      if ((lo & (size - 1)) != 0 || lo + size - 1 > hi) break;
      --bits;
    }
    out.emplace_back(static_cast<uint16_t>(lo), bits);
    lo += 1u << (16 - bits);
  }
  return out;
}

}  // namespace bpfence
