// Policy entries -> rule groups -> rules (see rules.h).
#include "rules.h"

#include <arpa/inet.h>

#include <algorithm>
#include <optional>

namespace bpfence::ipt {
namespace {


// The port spec of a port prefix of `bits` bits (0: every port), or none
// for a prefix on a protocol without ports.
std::optional<PortSpec> prefix_spec(uint8_t proto, uint16_t port, int bits) {
  if (!ip_proto_has_ports(proto) || bits < 0 || bits > 16) return std::nullopt;
  if (bits == 0) return PortSpec{proto, true, {}};
  uint32_t span = 1u << (16 - bits);
  uint32_t first = port & ~(span - 1);
  return PortSpec{proto, false, {static_cast<uint16_t>(first), static_cast<uint16_t>(first + span - 1)}};
}

// Peer identities per port spec, with what a broader spec or the any-peer
// identity already allows taken out.
std::map<PortSpec, PeerSet> specs_of(std::vector<std::pair<PortSpec, uint32_t>> pairs);

// Peer identities per port spec, for one endpoint and direction.
std::map<PortSpec, PeerSet> specs_of(const EndpointKeys& keys, bf_direction dir) {
  // (spec, peer) pairs, sorted: each spec's peers come out sorted and unique.
  std::vector<std::pair<PortSpec, uint32_t>> pairs;
  pairs.reserve(keys.policy[dir].size() + keys.ranges[dir].size());
  for (const PolicyKey& pk : keys.policy[dir]) {
    const bf_policy_key& k = pk.k;
    uint16_t port = ntohs(k.port);
    if (k.proto == 0) {
      // The datapath looks up proto 0 only with port 0.
      if (port == 0) pairs.push_back({PortSpec{}, k.peer_identity});
    } else if (port == 0) {
      pairs.push_back({PortSpec{k.proto, true, {}}, k.peer_identity});
    } else if (ip_proto_has_ports(k.proto)) {
      pairs.push_back({PortSpec{k.proto, false, {port, port}}, k.peer_identity});
    }
  }
  for (const RangeKey& rk : keys.ranges[dir]) {
    const bf_range_key& k = rk.k;
    if (k.prefixlen < BF_RANGE_FIXED_BITS) continue;
    if (auto spec = prefix_spec(k.proto, ntohs(k.port), static_cast<int>(k.prefixlen) - BF_RANGE_FIXED_BITS))
      pairs.push_back({*spec, k.peer_identity});
  }
  return specs_of(std::move(pairs));
}

std::map<PortSpec, PeerSet> specs_of(std::vector<std::pair<PortSpec, uint32_t>> pairs) {
  std::sort(pairs.begin(), pairs.end());
  pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
  std::map<PortSpec, PeerSet> specs;
  for (auto it = pairs.begin(); it != pairs.end();) {
    auto end = std::find_if(it, pairs.end(), [&](const auto& p) { return !(p.first == it->first); });
    PeerSet& peers = specs.emplace_hint(specs.end(), it->first, PeerSet{})->second;
    peers.reserve(static_cast<size_t>(end - it));
    for (auto p = it; p != end; ++p) peers.push_back(p->second);
    it = end;
  }

  // Any peer subsumes the others; every protocol subsumes one protocol;
  // every port subsumes a range.
  for (auto& [spec, peers] : specs)
    if (has_any_peer(peers)) peers = {BF_ID_ANY};
  const PeerSet none;
  auto peers_of = [&](const PortSpec& s) -> const PeerSet& {
    auto it = specs.find(s);
    return it == specs.end() ? none : it->second;
  };
  for (auto it = specs.begin(); it != specs.end();) {
    const PortSpec& a = it->first;
    PeerSet& peers = it->second;
    if (a.proto != 0) {
      const PeerSet& every = peers_of(PortSpec{});
      const PeerSet& proto = a.all ? none : peers_of(PortSpec{a.proto, true, {}});
      if (has_any_peer(every) || has_any_peer(proto)) {
        peers.clear();
      } else if (!every.empty() || !proto.empty()) {
        std::erase_if(peers, [&](uint32_t p) { return holds(every, p) || holds(proto, p); });
      }
    }
    it = peers.empty() ? specs.erase(it) : std::next(it);
  }
  return specs;
}

// Adjacent or overlapping ranges as one.
std::vector<PortRange> merge(std::vector<PortRange> ranges) {
  std::sort(ranges.begin(), ranges.end());
  std::vector<PortRange> out;
  for (const PortRange& r : ranges) {
    if (!out.empty() && static_cast<uint32_t>(r.first) <= static_cast<uint32_t>(out.back().last) + 1) {
      out.back().last = std::max(out.back().last, r.last);
      continue;
    }
    out.push_back(r);
  }
  return out;
}

// multiport takes 15 ports, a range counting as two.
std::vector<std::vector<PortRange>> chunks(const std::vector<PortRange>& ranges) {
  std::vector<std::vector<PortRange>> out;
  int used = 16;
  for (const PortRange& r : ranges) {
    int weight = r.first == r.last ? 1 : 2;
    if (used + weight > 15) {
      out.emplace_back();
      used = 0;
    }
    out.back().push_back(r);
    used += weight;
  }
  return out;
}

}  // namespace

RuleGroups rule_groups(const EndpointKeys& keys, bf_direction dir) {
  RuleGroups groups;
  for (auto& [spec, peers] : specs_of(keys, dir)) groups[peers].push_back(spec);
  return groups;
}

CnpStage cnp_stage(const EndpointKeys& keys, bf_direction dir, bf_tier tier) {
  // The entries of one rule (its rank) together; the compiler's pushed-down
  // copies carry their covering entry's rank, so they join its rule, where
  // the broader spec or prefix takes them in.
  std::map<std::pair<uint32_t, uint32_t>, std::pair<uint8_t, std::vector<std::pair<PortSpec, uint32_t>>>> by_rank;
  for (const auto& [ck, e] : keys.cluster[dir]) {
    const bf_cnp_key& k = ck.k;
    if (k.tier != tier) continue;
    std::optional<PortSpec> spec;
    if (k.proto == 0)
      spec = PortSpec{};  // every protocol: the peer-wide entry (BF_CNP_PEER_BITS)
    else if (k.prefixlen >= BF_CNP_FIXED_BITS)
      spec = prefix_spec(k.proto, ntohs(k.port), static_cast<int>(k.prefixlen) - BF_CNP_FIXED_BITS);
    if (!spec) continue;
    auto& [action, pairs] = by_rank[{e.rank, e.rule_id}];
    action = e.action;
    pairs.push_back({*spec, k.peer_identity});
  }
  CnpStage stage;
  for (auto& [rank_id, v] : by_rank) {
    CnpStageRule rule;
    rule.rank = rank_id.first;
    rule.rule_id = rank_id.second;
    rule.action = v.first;
    for (auto& [spec, peers] : specs_of(std::move(v.second))) rule.groups[peers].push_back(spec);
    stage.push_back(std::move(rule));
  }
  return stage;
}

Rule ct_rule(Rule::Ct state, Rule::Target target) {
  Rule r;
  r.ctstate = state;
  r.target = target;
  return r;
}

Rule target_rule(Rule::Target target) {
  Rule r;
  r.target = target;
  return r;
}

// One peer set with the specs it may use, rendered as `base` rules.
void append_group(const std::vector<PortSpec>& specs, const std::string& set, bool set_src, Chain& chain,
                  const Rule& base) {
  auto allow = [&](uint8_t proto, std::vector<PortRange> ports) {
    Rule r = base;
    r.proto = proto;
    r.dports = std::move(ports);
    r.match_set = set;
    r.set_src = set_src;
    chain.push_back(std::move(r));
  };
  std::map<uint8_t, std::vector<PortRange>> ports;
  std::set<uint8_t> all_ports;
  for (const PortSpec& a : specs) {
    if (a.proto == 0) {
      allow(0, {});
      return;  // subsumption left nothing else for these peers
    }
    if (a.all)
      all_ports.insert(a.proto);
    else
      ports[a.proto].push_back(a.range);
  }
  for (uint8_t proto : all_ports) allow(proto, {});
  for (auto& [proto, list] : ports) {
    if (all_ports.count(proto)) continue;
    for (auto& chunk : chunks(merge(list))) allow(proto, std::move(chunk));
  }
}

}  // namespace bpfence::ipt
