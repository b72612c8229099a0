// verdict(): the answer the datapath will give, computed from the committed
// desired state with the same lookups, in the same order, as
// bpf/policy.bpf.c. `explain` and the tests rely on the two agreeing.
// The ClusterNetworkPolicy tiers are the exception: evaluated from the
// objects (cluster_tiers.cpp), since no dataplane holds them yet.
#include <arpa/inet.h>

#include "cluster_tiers.h"
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
        r.k.port = htons(bits == 0 ? 0 : static_cast<uint16_t>(port & (0xffff << (16 - bits))));
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

void decide_by_cluster_rule(SideVerdict& v, VerdictTier tier, const CnpRuleRef& rule) {
  v.tier = tier;
  v.cnp_rule = rule;
  v.rule.reset();  // a NetworkPolicy rule that would have allowed it did not decide
  v.allowed = rule.action == CnpAction::Accept;
  v.reason = v.allowed ? BF_R_POLICY : BF_R_FW_POLICY;
}

// Admin tier -> NetworkPolicy step -> Baseline tier -> default allow. The
// own-node exemption belongs to the NetworkPolicy step only: Admin and
// Baseline egress rules (networks) apply to traffic to node addresses too.
SideVerdict evaluate(const DesiredState& state, const ClusterTierInputs* cluster, const EndpointState& ep,
                     bf_direction dir, const IpAddress& peer, uint8_t proto, uint16_t port) {
  SideVerdict v = evaluate_network_policies(state, ep, dir, peer, proto, port);
  if (!cluster || cluster->policies.empty() || v.reason == BF_R_SELF) return v;
  auto subject = cluster->pods.find(ep.pod);
  if (subject == cluster->pods.end()) return v;

  TierOutcome admin = evaluate_cluster_tier(*cluster, CnpTier::Admin, subject->second, dir, peer, proto, port);
  if (admin.passed) v.passed.push_back(*admin.passed);
  if (admin.decided) {
    decide_by_cluster_rule(v, VerdictTier::Admin, *admin.decided);
    return v;
  }
  if (v.isolated) return v;  // the NetworkPolicy step is final

  TierOutcome baseline = evaluate_cluster_tier(*cluster, CnpTier::Baseline, subject->second, dir, peer, proto, port);
  if (baseline.passed) v.passed.push_back(*baseline.passed);
  if (baseline.decided) {
    decide_by_cluster_rule(v, VerdictTier::Baseline, *baseline.decided);
    return v;
  }
  v.tier = VerdictTier::Default;
  return v;
}

// Both sides of src -> dst; local_at(ip): the local endpoint at an address,
// or nullptr.
Verdict decide(const DesiredState& state, const ClusterTierInputs* cluster,
               const std::function<const EndpointState*(const IpAddress&)>& local_at, const IpAddress& src,
               const IpAddress& dst, uint8_t proto, uint16_t port) {
  Verdict v;
  if (const auto* ep = local_at(src)) v.egress = evaluate(state, cluster, *ep, BF_DIR_EGRESS, dst, proto, port);
  if (const auto* ep = local_at(dst)) v.ingress = evaluate(state, cluster, *ep, BF_DIR_INGRESS, src, proto, port);
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
  ClusterTierInputs cluster{d.namespaces, d.pods, d.addr_pods, d.cluster_policies};
  return decide(d.state, &cluster, local_at, src, dst, proto, port);
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
  return decide(state_, nullptr, local_at, src, dst, proto, port);
}

}  // namespace bpfence
