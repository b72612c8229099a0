// verdict(): the answer the datapath will give, computed from the committed
// desired state with the same lookups, in the same order, as
// bpf/policy.bpf.c. `explain` and the tests rely on the two agreeing.
// The ClusterNetworkPolicy tiers are read from the cluster_policy entries;
// the unit tests check them against the object-level evaluation
// (cluster_tiers.cpp).
#include <arpa/inet.h>

#include "compiler_impl.h"

namespace bpfence {

namespace {

std::optional<uint32_t> cidr_identity_of(const DesiredState& state, const IpAddress& ip) {
  for (int len = 128; len >= 0; --len) {
    Prefix p = Prefix::around(ip, len);
    if (auto it = state.cidrs.find(p); it != state.cidrs.end()) return it->second;
  }
  return std::nullopt;
}

// The NetworkPolicy step (DESIGN.md): the own node and an endpoint that
// no policy isolates are let through; otherwise a rule must allow it.
SideVerdict evaluate_network_policies(const DesiredState& state, const EndpointState& ep, bf_direction dir,
                                      const IpAddress& peer, uint8_t proto, uint16_t port) {
  SideVerdict v;
  v.evaluated = true;
  v.pod = ep.pod;
  v.isolating = dir == BF_DIR_INGRESS ? ep.ingress_policies : ep.egress_policies;
  v.isolated = dir == BF_DIR_INGRESS ? ep.ingress_isolated : ep.egress_isolated;

  auto addr = state.pod_addrs.find(peer);
  std::optional<uint32_t> pod_id;
  if (addr != state.pod_addrs.end()) pod_id = addr->second;
  if (pod_id == BF_ID_HOST) {
    v.reason = BF_R_HOST;
    return v;
  }
  for (const auto& ip : ep.ips)
    if (ip == peer) {
      v.reason = BF_R_SELF;
      return v;
    }
  if (!v.isolated) {
    v.reason = BF_R_NOT_ISOLATED;
    return v;
  }

  // ICMP has no ports: only rules without ports match it.
  bool has_ports = ip_proto_has_ports(proto);
  uint16_t lookup_port = has_ports ? port : 0;
  std::vector<uint32_t> peer_ids;
  if (pod_id) peer_ids.push_back(*pod_id);
  if (auto cidr = cidr_identity_of(state, peer)) peer_ids.push_back(*cidr);
  peer_ids.push_back(BF_ID_ANY);

  bool ranges = ep.has_ranges & (dir == BF_DIR_INGRESS ? 1 : 2);
  for (uint32_t id : peer_ids) {
    PolicyKey k;
    k.k.endpoint_id = ep.endpoint_id;
    k.k.peer_identity = id;
    k.k.direction = dir;
    const std::pair<uint8_t, uint16_t> tries[] = {{proto, lookup_port}, {proto, 0}, {0, 0}};
    for (auto [pr, pt] : tries) {
      k.k.proto = pr;
      k.k.port = htons(pt);
      if (auto it = state.policy.find(k); it != state.policy.end()) {
        v.reason = BF_R_POLICY;
        v.rule = state.rules.at(it->second);
        return v;
      }
    }
    if (ranges && has_ports) {
      for (int bits = 16; bits >= 0; --bits) {
        RangeKey r;
        r.k.prefixlen = BF_RANGE_FIXED_BITS + bits;
        r.k.endpoint_id = ep.endpoint_id;
        r.k.peer_identity = id;
        r.k.direction = dir;
        r.k.proto = proto;
        r.k.port = htons(port & port_mask(static_cast<uint8_t>(bits)));
        if (auto it = state.ranges.find(r); it != state.ranges.end()) {
          v.reason = BF_R_POLICY;
          v.rule = state.rules.at(it->second);
          return v;
        }
      }
    }
  }
  v.allowed = false;
  v.reason = BF_R_FW_POLICY;
  return v;
}

// The longest match of one cluster_policy lookup, as the LPM trie answers:
// fixed bits equal, then the longest port prefix of the protocol, else the
// peer's every-protocol entry (prefixlen BF_CNP_PEER_BITS, proto 0).
const ClusterEntry* cluster_lookup(const DesiredState& state, ClusterKey k, uint16_t port) {
  for (int bits = 16; bits >= 0; --bits) {
    k.k.prefixlen = BF_CNP_FIXED_BITS + bits;
    k.k.port = htons(port & port_mask(static_cast<uint8_t>(bits)));
    if (auto it = state.cluster.find(k); it != state.cluster.end()) return &it->second;
  }
  k.k.prefixlen = BF_CNP_PEER_BITS;
  k.k.proto = 0;
  k.k.port = 0;
  auto it = state.cluster.find(k);
  return it == state.cluster.end() ? nullptr : &it->second;
}

// One ClusterNetworkPolicy stage: the smallest rank among the longest
// matches of (pod identity, BF_ID_ANY_POD, CIDR identity) for (proto,
// port). Pod candidates only when the peer is a pod.
const ClusterEntry* cluster_stage(const DesiredState& state, const EndpointState& ep, bf_direction dir, uint8_t tier,
                                  const IpAddress& peer, uint8_t proto, uint16_t port) {
  uint32_t peers[3];
  int n = 0;
  if (auto addr = state.pod_addrs.find(peer); addr != state.pod_addrs.end() && addr->second != BF_ID_HOST) {
    peers[n++] = addr->second;
    peers[n++] = BF_ID_ANY_POD;
  }
  if (auto cidr = cidr_identity_of(state, peer)) peers[n++] = *cidr;
  const ClusterEntry* best = nullptr;
  const uint16_t lookup_port = ip_proto_has_ports(proto) ? port : 0;
  for (int i = 0; i < n; ++i) {
    ClusterKey k;
    k.k.endpoint_id = ep.endpoint_id;
    k.k.peer_identity = peers[i];
    k.k.direction = dir;
    k.k.tier = tier;
    k.k.proto = proto;
    if (const ClusterEntry* e = cluster_lookup(state, k, lookup_port); e && (!best || e->rank < best->rank)) best = e;
  }
  return best;
}

// Runs a tier's stage if the endpoint has one; true when it decided (Accept
// or Deny). A Pass is recorded and ends the tier.
bool run_cluster_stage(const DesiredState& state, SideVerdict& v, const EndpointState& ep, bf_direction dir,
                       bf_tier tier, const IpAddress& peer, uint8_t proto, uint16_t port) {
  if (!(ep.cnp_stages & BF_CNP_STAGE(dir, tier))) return false;
  const ClusterEntry* e = cluster_stage(state, ep, dir, tier, peer, proto, port);
  if (!e) return false;
  const CnpRuleRef& rule = state.cluster_rules.at(e->rule_id);
  if (e->action == BF_CNP_PASS) {
    v.passed.push_back(rule);
    return false;
  }
  const bool admin = tier == BF_TIER_ADMIN;
  v.tier = admin ? VerdictTier::Admin : VerdictTier::Baseline;
  v.cnp_rule = rule;
  v.rule.reset();  // a NetworkPolicy rule that would have allowed it did not decide
  v.allowed = e->action == BF_CNP_ACCEPT;
  v.reason = v.allowed ? (admin ? BF_R_ADMIN_ACCEPT : BF_R_BASELINE_ACCEPT)
                       : (admin ? BF_R_ADMIN_DENY : BF_R_BASELINE_DENY);
  return true;
}

// Self -> Admin -> NetworkPolicy step if isolated (own node exempt there)
// -> Baseline -> default allow, as the datapath runs them (DECISIONS.md,
// "ClusterNetworkPolicy"). The own-node exemption lives in the
// NetworkPolicy step: an Admin egress rule, or a Baseline one for a pod no
// NetworkPolicy isolates, with a networks peer covering a node address
// decides pod -> node traffic, own node included.
SideVerdict evaluate(const DesiredState& state, const EndpointState& ep, bf_direction dir, const IpAddress& peer,
                     uint8_t proto, uint16_t port) {
  SideVerdict v = evaluate_network_policies(state, ep, dir, peer, proto, port);
  if (v.reason == BF_R_SELF) return v;
  if (run_cluster_stage(state, v, ep, dir, BF_TIER_ADMIN, peer, proto, port)) return v;
  if (v.isolated) return v;  // the NetworkPolicy step is final
  if (run_cluster_stage(state, v, ep, dir, BF_TIER_BASELINE, peer, proto, port)) return v;
  if (!state.cluster_rules.empty()) v.tier = VerdictTier::Default;
  return v;
}

// Both sides of src -> dst; local_at(ip): the local endpoint at an address,
// or nullptr.
Verdict decide(const DesiredState& state, const std::function<const EndpointState*(const IpAddress&)>& local_at,
               const IpAddress& src, const IpAddress& dst, uint8_t proto, uint16_t port) {
  Verdict v;
  if (const auto* ep = local_at(src)) v.egress = evaluate(state, *ep, BF_DIR_EGRESS, dst, proto, port);
  if (const auto* ep = local_at(dst)) v.ingress = evaluate(state, *ep, BF_DIR_INGRESS, src, proto, port);
  v.allowed = v.egress.allowed && v.ingress.allowed;
  return v;
}

}  // namespace

Verdict Compiler::verdict(const IpAddress& src, const IpAddress& dst, uint8_t proto, uint16_t port) const {
  const Impl& d = *impl_;
  auto local_at = [&](const IpAddress& ip) -> const EndpointState* {
    auto it = d.local_by_ip.find(ip);
    if (it == d.local_by_ip.end()) return nullptr;
    auto ep = d.state.endpoints.find(it->second);
    return ep == d.state.endpoints.end() ? nullptr : &ep->second;
  };
  return decide(d.state, local_at, src, dst, proto, port);
}

StateVerdicts::StateVerdicts(const DesiredState& state) : state_(state) {
  for (const auto& [pod, ep] : state.endpoints)
    for (const IpAddress& ip : ep.ips) local_by_ip_.emplace(ip, &ep);
}

Verdict StateVerdicts::verdict(const IpAddress& src, const IpAddress& dst, uint8_t proto, uint16_t port) const {
  auto local_at = [&](const IpAddress& ip) -> const EndpointState* {
    auto it = local_by_ip_.find(ip);
    return it == local_by_ip_.end() ? nullptr : it->second;
  };
  return decide(state_, local_at, src, dst, proto, port);
}

}  // namespace bpfence
