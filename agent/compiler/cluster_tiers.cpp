// ClusterNetworkPolicy tier evaluation, written as the specification states
// it (policies by priority then name, rules in list order, first match),
// so it is the reference any compiled encoding is checked against.
#include "cluster_tiers.h"

#include <algorithm>
#include <tuple>

#include "bpfence/net.h"

namespace bpfence {

std::string CnpRuleRef::where() const {
  return "cnp/" + policy + (direction == BF_DIR_INGRESS ? " ingress[" : " egress[") + std::to_string(index) + "]";
}

std::string CnpRuleRef::str() const {
  std::string s = where() + " " + cnp_action_name(action);
  if (!rule_name.empty()) s += " (" + rule_name + ")";
  return s;
}

const char* verdict_tier_name(VerdictTier t) {
  switch (t) {
    case VerdictTier::Admin: return "Admin";
    case VerdictTier::NetworkPolicy: return "NetworkPolicy";
    case VerdictTier::Baseline: return "Baseline";
    case VerdictTier::Default: return "default";
  }
  return "?";
}

bool cnp_pods_select(const CnpPods& sel, const Labels& pod_labels, const Labels& ns_labels) {
  return sel.pod_selector.matches(pod_labels) && sel.namespace_selector.matches(ns_labels);
}

bool cnp_subject_selects(const CnpSubject& s, const Labels& pod_labels, const Labels& ns_labels) {
  if (s.namespaces) return s.namespaces->matches(ns_labels);
  if (s.pods) return cnp_pods_select(*s.pods, pod_labels, ns_labels);
  return false;
}

bool cnp_peer_selects_pod(const CnpPeer& peer, const Labels& pod_labels, const Labels& ns_labels) {
  if (peer.namespaces) return peer.namespaces->matches(ns_labels);
  if (peer.pods) return cnp_pods_select(*peer.pods, pod_labels, ns_labels);
  return false;
}

namespace {

bool cnp_subject_selects(const ClusterTierInputs& in, const CnpSubject& s, const Pod& pod) {
  return cnp_subject_selects(s, pod.labels, namespace_labels_of(in.namespaces, pod.namespace_));
}

// The pod at an address, if a (non-host-network) pod holds it: only pods
// are matched by namespaces and pods peers.
const Pod* cnp_pod_at(const ClusterTierInputs& in, const IpAddress& ip) {
  auto it = in.addr_pods.find(ip);
  if (it == in.addr_pods.end()) return nullptr;
  for (const std::string& key : it->second) {
    auto pod = in.pods.find(key);
    if (pod != in.pods.end() && !pod->second.host_network) return &pod->second;
  }
  return nullptr;
}

bool cnp_peer_matches(const ClusterTierInputs& in, const CnpPeer& peer, const IpAddress& ip, const Pod* peer_pod) {
  if (peer.namespaces || peer.pods)
    return peer_pod && cnp_peer_selects_pod(peer, peer_pod->labels, namespace_labels_of(in.namespaces, peer_pod->namespace_));
  // A v4 prefix only matches IPv4, a v6 one only IPv6 (::/0 must not take
  // in the IPv4-mapped addresses the datapath stores IPv4 as).
  return std::any_of(peer.networks.begin(), peer.networks.end(),
                     [&](const Prefix& p) { return p.is_v4() == ip.is_v4() && p.contains(ip); });
}

// Destination ports only. A named port is looked up on the destination pod
// (name, protocol and number must agree); a non-pod destination has none.
bool cnp_protocol_matches(const CnpProtocol& p, const Pod* destination, uint8_t proto, uint16_t port) {
  if (!p.named_port.empty()) {
    if (!destination) return false;
    return std::any_of(destination->ports.begin(), destination->ports.end(), [&](const ContainerPort& c) {
      return c.name == p.named_port && static_cast<uint8_t>(c.protocol) == proto && c.port == port;
    });
  }
  return static_cast<uint8_t>(p.protocol) == proto && port >= p.port && port <= p.end_port;
}

bool cnp_rule_matches(const ClusterTierInputs& in, const CnpRule& rule, const IpAddress& peer, const Pod* peer_pod,
                  const Pod* destination, uint8_t proto, uint16_t port) {
  if (!std::any_of(rule.peers.begin(), rule.peers.end(),
                   [&](const CnpPeer& p) { return cnp_peer_matches(in, p, peer, peer_pod); }))
    return false;
  if (rule.protocols.empty()) return true;  // every protocol, ICMP included
  if (!ip_proto_has_ports(proto)) return false;
  return std::any_of(rule.protocols.begin(), rule.protocols.end(),
                     [&](const CnpProtocol& p) { return cnp_protocol_matches(p, destination, proto, port); });
}

}  // namespace

TierOutcome evaluate_cluster_tier(const ClusterTierInputs& in, CnpTier tier, const Pod& subject, bf_direction direction,
                                  const IpAddress& peer, uint8_t proto, uint16_t port) {
  std::vector<const ClusterNetworkPolicy*> order;
  for (const auto& [name, p] : in.policies)
    if (p.tier == tier && !(direction == BF_DIR_INGRESS ? p.ingress : p.egress).empty() &&
        cnp_subject_selects(in, p.subject, subject))
      order.push_back(&p);
  // Equal priorities are undefined upstream: metadata.name breaks the tie,
  // as the reference implementation and Calico do.
  std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    return std::tie(a->priority, a->name) < std::tie(b->priority, b->name);
  });

  const Pod* peer_pod = cnp_pod_at(in, peer);
  const Pod* destination = direction == BF_DIR_INGRESS ? &subject : peer_pod;
  TierOutcome out;
  for (const ClusterNetworkPolicy* p : order) {
    const auto& rules = direction == BF_DIR_INGRESS ? p->ingress : p->egress;
    for (size_t i = 0; i < rules.size(); ++i) {
      if (!cnp_rule_matches(in, rules[i], peer, peer_pod, destination, proto, port)) continue;
      CnpRuleRef ref{p->name, p->tier, p->priority, direction, static_cast<uint32_t>(i), rules[i].name, rules[i].action};
      if (rules[i].action == CnpAction::Pass) out.passed = std::move(ref);
      else out.decided = std::move(ref);
      return out;
    }
  }
  return out;
}

}  // namespace bpfence
