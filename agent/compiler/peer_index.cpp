#include "peer_index.h"

#include <algorithm>

namespace bpfence {

namespace {

// Bucket names: a kind letter, then the label or namespace. Label keys and
// values cannot hold '\0', so the names cannot collide.
std::string pod_label_bucket(const std::string& k, const std::string& v) { return "p" + k + '\0' + v; }
std::string ns_label_bucket(const std::string& k, const std::string& v) { return "l" + k + '\0' + v; }
std::string namespace_bucket(const std::string& ns) { return "n" + ns; }
// A pod label and a namespace label together: a peer with both selectors
// admits only identities carrying both, far fewer than either alone (every
// frontend pod, every namespace of a team).
std::string both_bucket(const std::string& k, const std::string& v, const std::string& nk, const std::string& nv) {
  return "b" + k + '\0' + v + '\0' + nk + '\0' + nv;
}
const std::string kAnything = "*";

bool has_egress_named_port(const NetworkPolicy& p) {
  for (const auto& r : p.egress)
    for (const auto& port : r.ports)
      if (!port.port_name.empty()) return true;
  return false;
}

}  // namespace

void PeerIndex::file(const std::string& bucket, const std::string* policy, std::vector<std::string>& buckets) {
  if (buckets_[bucket].insert(policy).second) buckets.push_back(bucket);
}

void PeerIndex::add(const NetworkPolicy& p) {
  remove(p.key());
  // Buckets hold the policy's name as the address of its key in filed_
  // (stable until removed): no string copies on a lookup.
  auto filed = filed_.try_emplace(p.key()).first;
  const std::string* key = &filed->first;
  std::vector<std::string>& buckets = filed->second;
  for (const auto* rules : {&p.ingress, &p.egress})
    for (const auto& rule : *rules)
      for (const auto& peer : rule.peers) {
        if (peer.ip_block) continue;  // admits cidr identities only
        const bool pod_label = peer.pod_selector && !peer.pod_selector->match_labels.empty();
        const bool ns_label = peer.namespace_selector && !peer.namespace_selector->match_labels.empty();
        if (pod_label && ns_label) {
          const auto& [k, v] = *peer.pod_selector->match_labels.begin();
          const auto& [nk, nv] = *peer.namespace_selector->match_labels.begin();
          file(both_bucket(k, v, nk, nv), key, buckets);
        } else if (pod_label) {
          const auto& [k, v] = *peer.pod_selector->match_labels.begin();
          file(pod_label_bucket(k, v), key, buckets);
        } else if (!peer.namespace_selector) {
          file(namespace_bucket(p.namespace_), key, buckets);
        } else if (!peer.namespace_selector->match_labels.empty()) {
          const auto& [k, v] = *peer.namespace_selector->match_labels.begin();
          file(ns_label_bucket(k, v), key, buckets);
        } else {
          file(kAnything, key, buckets);
        }
      }
  if (has_egress_named_port(p)) {
    file(kAnything, key, buckets);
    named_ports_.insert(*key);
  }
}

void PeerIndex::remove(const std::string& policy) {
  auto it = filed_.find(policy);
  if (it == filed_.end()) return;
  for (const auto& bucket : it->second) {
    auto b = buckets_.find(bucket);
    b->second.erase(&it->first);
    if (b->second.empty()) buckets_.erase(b);
  }
  filed_.erase(it);
  named_ports_.erase(policy);
}

void PeerIndex::for_each_candidate(const std::string& ns, const Labels& labels, const Labels& ns_labels,
                                   const std::function<void(const std::string&)>& visit) const {
  auto take = [&](const std::string& bucket) {
    auto it = buckets_.find(bucket);
    if (it != buckets_.end())
      for (const std::string* policy : it->second) visit(*policy);
  };
  for (const auto& [k, v] : labels) take(pod_label_bucket(k, v));
  for (const auto& [k, v] : ns_labels) take(ns_label_bucket(k, v));
  for (const auto& [k, v] : labels)
    for (const auto& [nk, nv] : ns_labels) take(both_bucket(k, v, nk, nv));
  take(namespace_bucket(ns));
  take(kAnything);
}

}  // namespace bpfence
