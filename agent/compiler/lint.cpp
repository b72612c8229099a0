// Lint: policies that are valid but probably do not do what was meant.
//
// Every finding names the policy and the field (as `kubectl explain` spells
// it) and says what the policy does instead, so the operator can fix it
// without reading the compiler. Checks look at the committed cluster state
// only, so a warning can come and go as pods and namespaces change (a
// namespace label that does not exist yet: story 3 of DESIGN.md).
//
// ClusterNetworkPolicies (warnings on "cnp/<name>") get three checks of
// their own: equal priorities over the same pods (the order is then by
// name, which upstream leaves undefined), rules no traffic reaches because
// an earlier rule of the tier takes all of it, and Admin Pass
// rules that hand traffic to NetworkPolicies where none selects the pods.
#include <algorithm>
#include <set>
#include <tuple>
#include <unordered_map>

#include "bpfence/compiler.h"

namespace bpfence {
namespace {

// How many pods to name in a message before "and N more".
constexpr size_t kExamples = 2;

std::string selector_text(const LabelSelector& s) {
  if (s.empty()) return "{}";
  std::string out;
  for (const auto& [k, v] : s.match_labels) out += (out.empty() ? "" : ",") + k + "=" + v;
  for (const auto& e : s.match_expressions) {
    static const char* ops[] = {"In", "NotIn", "Exists", "DoesNotExist"};
    out += (out.empty() ? "" : ",") + e.key + " " + ops[static_cast<int>(e.op)];
    if (!e.values.empty()) {
      out += " (";
      for (size_t i = 0; i < e.values.size(); ++i) out += (i ? "," : "") + e.values[i];
      out += ")";
    }
  }
  return out;
}

// An unambiguous key for a selector (length-prefixed fields), for memos.
std::string selector_key(const LabelSelector& s) {
  std::string out;
  auto field = [&](const std::string& f) { out += std::to_string(f.size()) + ":" + f; };
  for (const auto& [k, v] : s.match_labels) {
    field(k);
    field(v);
  }
  for (const auto& e : s.match_expressions) {
    out += "|" + std::to_string(static_cast<int>(e.op));
    field(e.key);
    for (const auto& v : e.values) field(v);
    out += ";";
  }
  return out;
}

std::string pod_list(const std::vector<std::string>& pods) {
  std::string out;
  for (size_t i = 0; i < pods.size() && i < kExamples; ++i) out += (i ? ", " : "") + pods[i];
  if (pods.size() > kExamples) out += " and " + std::to_string(pods.size() - kExamples) + " more";
  return out;
}

class Linter {
 public:
  Linter(const Compiler& c, std::vector<Warning>& out) : ns_objects_(c.namespaces()), pods_(c.pods()), out_(out) {}

  // Indexes the pods once per run. At 100,000 pods this is tens of
  // milliseconds, so it asks `interrupted` every kChunk pods: a waiting
  // change must not sit behind it. False when interrupted.
  bool prepare(const std::function<bool()>& interrupted) {
    constexpr size_t kChunk = 4096;
    for (const auto& [name, ns] : ns_objects_) namespaces_.push_back(name);
    pod_ips_.reserve(pods_.size());
    // Pods name namespaces too (manifest mode may not list every Namespace).
    // Keys are "namespace/name", so a namespace's pods are one run.
    const std::string* last_ns = nullptr;
    size_t n = 0;
    for (const auto& [key, pod] : pods_) {
      if (++n % kChunk == 0 && interrupted && interrupted()) return false;
      if (!last_ns || *last_ns != pod.namespace_) namespaces_.push_back(*(last_ns = &pod.namespace_));
      if (pod.host_network) continue;
      for (const IpAddress& ip : pod.ips) pod_ips_.push_back({ip, &key});
    }
    std::sort(namespaces_.begin(), namespaces_.end());
    namespaces_.erase(std::unique(namespaces_.begin(), namespaces_.end()), namespaces_.end());
    // Sorted by address, so the pods an ipBlock covers are one contiguous
    // run (a prefix is an address range): thousands of ipBlocks at ten
    // thousand pods would otherwise cost seconds of scanning every pod.
    // In runs of kChunk merged pairwise, asking between steps: one sort of
    // 100,000 addresses held a waiting policy change back 15-30 ms on a
    // loaded node.
    auto by_ip = [](const PodIp& a, const PodIp& b) { return a.ip < b.ip; };
    const size_t n_ips = pod_ips_.size();
    auto at = [&](size_t i) { return pod_ips_.begin() + static_cast<std::ptrdiff_t>(std::min(i, n_ips)); };
    for (size_t i = 0; i < n_ips; i += kChunk) {
      if (interrupted && interrupted()) return false;
      std::sort(at(i), at(i + kChunk), by_ip);
    }
    for (size_t width = kChunk; width < n_ips; width *= 2)
      for (size_t i = 0; i + width < n_ips; i += 2 * width) {
        if (interrupted && interrupted()) return false;
        std::inplace_merge(at(i), at(i + width), at(i + 2 * width), by_ip);
      }
    return true;
  }

  void policy(const std::string& key, const NetworkPolicy& p) {
    key_ = key;
    if (!p.egress.empty() && !p.affects_egress())
      warn("has egress rules but policyTypes does not list Egress: they are ignored");
    if (!p.ingress.empty() && !p.affects_ingress())
      warn("has ingress rules but policyTypes does not list Ingress: they are ignored");
    if (!selects_any_pod(p)) warn("selects no pods in namespace " + p.namespace_);
    rules(p, p.ingress, "spec.ingress", "from", p.affects_ingress());
    rules(p, p.egress, "spec.egress", "to", p.affects_egress());
  }

 private:
  // A namespace without an object still has its automatic name label.
  Labels namespace_labels(const std::string& ns) const {
    auto it = ns_objects_.find(ns);
    if (it != ns_objects_.end()) return it->second.labels;
    return {{"kubernetes.io/metadata.name", ns}};
  }

  void warn(std::string message) { out_.push_back({key_, std::move(message)}); }

  bool selects_any_pod(const NetworkPolicy& p) { return any_pod_in(p.namespace_, p.pod_selector); }

  // Whether a pod of the namespace matches the selector. Policies repeat
  // selectors (every policy of an app selects it), so answers are kept for
  // the run: thousands of policies over ten thousand pods would otherwise
  // scan the namespace for each.
  bool any_pod_in(const std::string& ns, const LabelSelector& selector) {
    auto [it, fresh] = any_pod_.try_emplace(std::to_string(ns.size()) + ":" + ns + selector_key(selector), false);
    if (!fresh) return it->second;
    for (auto p = pods_.lower_bound(ns + "/"); p != pods_.end() && p->second.namespace_ == ns; ++p)
      if (!p->second.host_network && selector.matches(p->second.labels)) return it->second = true;
    return false;
  }

  void rules(const NetworkPolicy& p, const std::vector<PolicyRule>& rules, const std::string& field,
             const char* peers_field, bool in_effect) {
    // Rules that are ignored anyway already have their warning.
    if (!in_effect) return;
    for (size_t r = 0; r < rules.size(); ++r)
      for (size_t i = 0; i < rules[r].peers.size(); ++i) {
        std::string at = field + "[" + std::to_string(r) + "]." + peers_field + "[" + std::to_string(i) + "]";
        const PolicyPeer& peer = rules[r].peers[i];
        if (peer.ip_block)
          ip_block(*peer.ip_block, at + ".ipBlock");
        else
          selector_peer(p, peer, at);
      }
  }

  // A peer that selects nothing allows nothing: usually a typo or a
  // namespace label that was never set (namespaces only carry
  // kubernetes.io/metadata.name unless someone adds more).
  void selector_peer(const NetworkPolicy& p, const PolicyPeer& peer, const std::string& at) {
    std::vector<std::string> namespaces;
    if (peer.namespace_selector) {
      for (const auto& ns : namespaces_)
        if (peer.namespace_selector->matches(namespace_labels(ns))) namespaces.push_back(ns);
      if (namespaces.empty()) {
        warn(at + ".namespaceSelector {" + selector_text(*peer.namespace_selector) +
             "} selects no namespace (no namespace has these labels): the peer matches nothing; "
             "namespaces carry kubernetes.io/metadata.name=<name> unless labelled");
        return;
      }
    } else {
      namespaces.push_back(p.namespace_);
    }
    // An empty podSelector means "every pod there": selecting no pod is not
    // a mistake of the policy then, just an empty namespace.
    if (!peer.pod_selector || peer.pod_selector->empty()) return;
    for (const auto& ns : namespaces)
      if (any_pod_in(ns, *peer.pod_selector)) return;
    std::string where = peer.namespace_selector
                            ? "in the namespaces its namespaceSelector selects (" + pod_list(namespaces) + ")"
                            : "in namespace " + p.namespace_;
    warn(at + ".podSelector {" + selector_text(*peer.pod_selector) + "} selects no pod " + where +
         ": the peer matches nothing until such a pod exists");
  }

  void ip_block(const IpBlock& block, const std::string& at) {
    // Overlapping excepts: one hides the other, or they repeat.
    for (size_t i = 0; i < block.except.size(); ++i) {
      const Prefix& e = block.except[i];
      if (!block.cidr.contains(e))
        warn(at + ".except[" + std::to_string(i) + "] " + e.str() + " is not inside cidr " + block.cidr.str() +
             ": it excludes nothing");
      else if (e.len == block.cidr.len)
        warn(at + ".except[" + std::to_string(i) + "] " + e.str() + " is the whole cidr " + block.cidr.str() +
             ": the ipBlock matches nothing");
      for (size_t j = 0; j < block.except.size(); ++j) {
        if (i == j) continue;
        const Prefix& o = block.except[j];
        // Report each pair once: the contained one against its container,
        // and equal ones at the later index.
        bool same = e == o;
        if ((same && j < i) || (!same && o.contains(e)))
          warn(at + ".except[" + std::to_string(i) + "] " + e.str() + (same ? " repeats" : " lies inside") +
               " except[" + std::to_string(j) + "] " + o.str() + ": the overlapping entries are redundant");
      }
    }
    // ipBlock matches addresses, and pod IPs change when pods restart: a
    // block that covers pods was usually meant as a podSelector. A /0 is a
    // deliberate "everywhere" and says nothing about pods.
    if (block.cidr.user_len() == 0) return;
    auto excepted = [&](const IpAddress& ip) {
      return std::any_of(block.except.begin(), block.except.end(), [&](const Prefix& e) { return e.contains(ip); });
    };
    std::vector<const std::string*> keys;
    auto it = std::lower_bound(pod_ips_.begin(), pod_ips_.end(), block.cidr.addr,
                               [](const PodIp& a, const IpAddress& ip) { return a.ip < ip; });
    for (; it != pod_ips_.end() && block.cidr.contains(it->ip); ++it)
      if (!excepted(it->ip)) keys.push_back(it->pod);
    std::sort(keys.begin(), keys.end(), [](const std::string* a, const std::string* b) { return *a < *b; });
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    // Each pod named once, by the first of its IPs the block covers.
    std::vector<std::string> covered;
    for (const std::string* key : keys) {
      for (const IpAddress& ip : pods_.at(*key).ips) {
        if (!block.cidr.contains(ip) || excepted(ip)) continue;
        covered.push_back(*key + " (" + ip.str() + ")");
        break;
      }
    }
    if (!covered.empty())
      warn(at + " " + block.cidr.str() + " covers the IPs of " + std::to_string(covered.size()) + " pod" +
           (covered.size() == 1 ? "" : "s") + ": " + pod_list(covered) +
           "; pod IPs change when pods restart, use a podSelector/namespaceSelector to select pods");
  }

  struct PodIp {
    IpAddress ip;
    const std::string* pod;  // key into pods_
  };

  const std::map<std::string, Namespace>& ns_objects_;
  const std::map<std::string, Pod>& pods_;
  std::vector<PodIp> pod_ips_;
  std::unordered_map<std::string, bool> any_pod_;  // namespace + selector_key -> a pod matches
  std::vector<Warning>& out_;
  std::vector<std::string> namespaces_;
  std::string key_;
};

// The ClusterNetworkPolicy checks. Subjects are compared by the pods they
// select now, like the checks above; a subject that selects no pod raises
// nothing (it may select pods tomorrow, and then the warning comes).
class ClusterLinter {
 public:
  ClusterLinter(const Compiler& c, std::vector<Warning>& out)
      : ns_objects_(c.namespaces()), pods_(c.pods()), policies_(c.policies()), out_(out) {
    for (const auto& [name, p] : c.cluster_policies()) order_.push_back(&p);
    // Evaluation order within a tier: priority, then name.
    std::sort(order_.begin(), order_.end(), [](const ClusterNetworkPolicy* a, const ClusterNetworkPolicy* b) {
      return std::tie(a->tier, a->priority, a->name) < std::tie(b->tier, b->priority, b->name);
    });
    for (const ClusterNetworkPolicy* p : order_) subjects_[p->name] = subject_pods(p->subject);
  }

  void policy(const ClusterNetworkPolicy& p) {
    key_ = "cnp/" + p.name;
    equal_priority(p);
    shadowed(p, BF_DIR_INGRESS);
    shadowed(p, BF_DIR_EGRESS);
    pass_without_networkpolicy(p, BF_DIR_INGRESS);
    pass_without_networkpolicy(p, BF_DIR_EGRESS);
  }

 private:
  using PodSet = std::set<std::string>;

  void warn(std::string message) { out_.push_back({key_, std::move(message), true}); }

  PodSet subject_pods(const CnpSubject& s) const {
    PodSet out;
    for (const auto& [key, pod] : pods_)
      if (!pod.host_network && cnp_subject_selects(s, pod, ns_objects_)) out.insert(key);
    return out;
  }

  static std::vector<std::string> list(const PodSet& pods) { return {pods.begin(), pods.end()}; }

  // Another policy of the same tier and priority selecting some of the same
  // pods: said once, on the later of the two by name.
  void equal_priority(const ClusterNetworkPolicy& p) {
    const PodSet& mine = subjects_.at(p.name);
    for (const ClusterNetworkPolicy* o : order_) {
      if (o->name >= p.name) continue;
      if (o->tier != p.tier || o->priority != p.priority) continue;
      std::vector<std::string> both;
      const PodSet& theirs = subjects_.at(o->name);
      std::set_intersection(mine.begin(), mine.end(), theirs.begin(), theirs.end(), std::back_inserter(both));
      if (both.empty()) continue;
      warn("spec.priority " + std::to_string(p.priority) + " is also the priority of cnp/" + o->name + " (" +
           cnp_tier_name(p.tier) + " tier), and both select " + pod_list(both) +
           ": upstream leaves their order undefined (bpfence evaluates them by name, cnp/" + o->name +
           " first); give them different priorities");
    }
  }

  static std::string peer_selector_key(const CnpPeer& peer) {
    if (peer.namespaces) return "ns:" + selector_key(*peer.namespaces);
    if (peer.pods) return "pods:" + selector_key(peer.pods->namespace_selector) + "/" + selector_key(peer.pods->pod_selector);
    return "";
  }

  // Whether every address `later` matches, `earlier` matches too: the same
  // selector, every pod (`namespaces: {}`) for a pod peer, or a network
  // containing each of its networks.
  static bool peer_covers(const CnpPeer& earlier, const CnpPeer& later) {
    if (!later.networks.empty()) {
      return std::all_of(later.networks.begin(), later.networks.end(), [&](const Prefix& n) {
        return std::any_of(earlier.networks.begin(), earlier.networks.end(),
                           [&](const Prefix& e) { return e.is_v4() == n.is_v4() && e.contains(n); });
      });
    }
    if (earlier.namespaces && earlier.namespaces->empty()) return true;
    return earlier.networks.empty() && peer_selector_key(earlier) == peer_selector_key(later);
  }

  static bool protocol_covers(const CnpProtocol& e, const CnpProtocol& l) {
    if (!e.named_port.empty() || !l.named_port.empty()) return e.named_port == l.named_port && e.named_port.size();
    return e.protocol == l.protocol && e.port <= l.port && l.end_port <= e.end_port;
  }

  static bool rule_covers(const CnpRule& e, const CnpRule& l) {
    const bool peers = std::all_of(l.peers.begin(), l.peers.end(), [&](const CnpPeer& lp) {
      return std::any_of(e.peers.begin(), e.peers.end(), [&](const CnpPeer& ep) { return peer_covers(ep, lp); });
    });
    if (!peers) return false;
    if (e.protocols.empty()) return true;
    if (l.protocols.empty()) return false;
    return std::all_of(l.protocols.begin(), l.protocols.end(), [&](const CnpProtocol& lp) {
      return std::any_of(e.protocols.begin(), e.protocols.end(),
                         [&](const CnpProtocol& ep) { return protocol_covers(ep, lp); });
    });
  }

  static std::string rule_at(bf_direction dir, size_t i, const CnpRule& r) {
    return std::string(dir == BF_DIR_INGRESS ? "spec.ingress[" : "spec.egress[") + std::to_string(i) + "]" +
           (r.name.empty() ? "" : " (" + r.name + ")");
  }

  // A rule an earlier Accept, Deny or Pass of the same tier always takes first:
  // one of the same policy, or of a policy ordered before it that selects
  // every pod this one does.
  void shadowed(const ClusterNetworkPolicy& p, bf_direction dir) {
    const auto& rules = dir == BF_DIR_INGRESS ? p.ingress : p.egress;
    const PodSet& mine = subjects_.at(p.name);
    for (size_t i = 0; i < rules.size(); ++i) {
      bool found = false;
      for (const ClusterNetworkPolicy* o : order_) {
        if (found || o->tier != p.tier) continue;
        const bool self = o == &p;
        if (!self) {
          if (std::tie(o->priority, o->name) > std::tie(p.priority, p.name)) continue;
          const PodSet& theirs = subjects_.at(o->name);
          if (mine.empty() || !std::includes(theirs.begin(), theirs.end(), mine.begin(), mine.end())) continue;
        }
        const auto& earlier = dir == BF_DIR_INGRESS ? o->ingress : o->egress;
        const size_t end = self ? i : earlier.size();
        for (size_t j = 0; j < end && !found; ++j) {
          // A Pass ends the tier as surely as an Accept or a Deny.
          if (!rule_covers(earlier[j], rules[i])) continue;
          found = true;
          warn(rule_at(dir, i, rules[i]) + " is never reached: " + (self ? "" : "cnp/" + o->name + " ") +
               rule_at(dir, j, earlier[j]) + " (" + cnp_action_name(earlier[j].action) + "), earlier in the " +
               cnp_tier_name(p.tier) + " tier, matches every peer and port it does" +
               (self ? "" : " for every pod it selects"));
        }
      }
    }
  }

  bool isolated_by_networkpolicy(const Pod& pod, bf_direction dir) const {
    for (auto it = policies_.lower_bound(pod.namespace_ + "/");
         it != policies_.end() && it->second.namespace_ == pod.namespace_; ++it) {
      const NetworkPolicy& np = it->second;
      if ((dir == BF_DIR_INGRESS ? np.affects_ingress() : np.affects_egress()) && np.pod_selector.matches(pod.labels))
        return true;
    }
    return false;
  }

  // An Admin Pass hands the traffic to the pod's NetworkPolicies; where
  // none selects the pod, Pass means "go to Baseline", which is seldom what
  // the author of a Pass meant.
  void pass_without_networkpolicy(const ClusterNetworkPolicy& p, bf_direction dir) {
    if (p.tier != CnpTier::Admin) return;
    const auto& rules = dir == BF_DIR_INGRESS ? p.ingress : p.egress;
    const PodSet& mine = subjects_.at(p.name);
    if (mine.empty()) return;
    bool any_isolated = std::any_of(mine.begin(), mine.end(),
                                    [&](const std::string& key) { return isolated_by_networkpolicy(pods_.at(key), dir); });
    if (any_isolated) return;
    for (size_t i = 0; i < rules.size(); ++i) {
      if (rules[i].action != CnpAction::Pass) continue;
      warn(rule_at(dir, i, rules[i]) + " Pass: no NetworkPolicy selects the pods of its subject for " +
           (dir == BF_DIR_INGRESS ? "ingress" : "egress") + " (" + pod_list(list(mine)) +
           "): passed traffic goes on to the Baseline tier, or is allowed");
    }
  }

  const std::map<std::string, Namespace>& ns_objects_;
  const std::map<std::string, Pod>& pods_;
  const std::map<std::string, NetworkPolicy>& policies_;
  std::vector<Warning>& out_;
  std::vector<const ClusterNetworkPolicy*> order_;
  std::map<std::string, PodSet> subjects_;
  std::string key_;
};

}  // namespace

std::vector<Warning> Compiler::warnings() const {
  std::vector<Warning> out;
  warnings(&out, nullptr);
  return out;
}

bool Compiler::warnings(std::vector<Warning>* out, const std::function<bool()>& interrupted) const {
  out->clear();
  Linter lint(*this, *out);
  if (!lint.prepare(interrupted)) return false;
  for (const auto& [key, p] : policies()) {
    if (interrupted && interrupted()) return false;
    lint.policy(key, p);
  }
  ClusterLinter cluster_lint(*this, *out);
  for (const auto& [name, p] : cluster_policies()) {
    if (interrupted && interrupted()) return false;
    cluster_lint.policy(p);
  }
  return true;
}

}  // namespace bpfence
