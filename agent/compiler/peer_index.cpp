#include "peer_index.h"

#include <algorithm>

namespace bpfence {

namespace {

// Bucket names: a kind letter, then the label or namespace. Label keys and
// values cannot hold '\0', so the names cannot collide.
std::string pod_label_bucket(const std::string& k, const std::string& v) { return "p" + k + '\0' + v; }
std::string ns_label_bucket(const std::string& k, const std::string& v) { return "l" + k + '\0' + v; }
std::string namespace_bucket(const std::string& ns) { return "n" + ns; }
const std::string kAnything = "*";

bool has_egress_named_port(const NetworkPolicy& p) {
  for (const auto& r : p.egress)
    for (const auto& port : r.ports)
      if (!port.port_name.empty()) return true;
  return false;
}

}  // namespace

void PeerIndex::file(const std::string& bucket, const std::string& policy, std::vector<std::string>& buckets) {
  if (buckets_[bucket].insert(policy).second) buckets.push_back(bucket);
}

void PeerIndex::add(const NetworkPolicy& p) {
  const std::string key = p.key();
  remove(key);
  std::vector<std::string>& buckets = filed_[key];
  for (const auto* rules : {&p.ingress, &p.egress})
    for (const auto& rule : *rules)
      for (const auto& peer : rule.peers) {
        if (peer.ip_block) continue;  // admits cidr identities only
        if (peer.pod_selector && !peer.pod_selector->match_labels.empty()) {
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
    named_ports_.insert(key);
  }
}

void PeerIndex::remove(const std::string& policy) {
  auto it = filed_.find(policy);
  if (it == filed_.end()) return;
  for (const auto& bucket : it->second) {
    auto b = buckets_.find(bucket);
    b->second.erase(policy);
    if (b->second.empty()) buckets_.erase(b);
  }
  filed_.erase(it);
  named_ports_.erase(policy);
}

std::vector<std::string> PeerIndex::candidates(const std::string& ns, const Labels& labels,
                                               const Labels& ns_labels) const {
  std::vector<std::string> out;
  auto take = [&](const std::string& bucket) {
    auto it = buckets_.find(bucket);
    if (it != buckets_.end()) out.insert(out.end(), it->second.begin(), it->second.end());
  };
  for (const auto& [k, v] : labels) take(pod_label_bucket(k, v));
  for (const auto& [k, v] : ns_labels) take(ns_label_bucket(k, v));
  take(namespace_bucket(ns));
  take(kAnything);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace bpfence
