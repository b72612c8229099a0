#include "selector_index.h"

#include <algorithm>

namespace bpfence {

namespace {

// Label keys and values cannot hold '\0': bucket names cannot collide.
std::string bucket(const std::string& ns, const std::string* k = nullptr, const std::string* v = nullptr) {
  return k ? ns + '\0' + *k + '\0' + *v : ns + '\0';
}

std::string bucket_of(const NetworkPolicy& p) {
  const Labels& required = p.pod_selector.match_labels;
  if (required.empty()) return bucket(p.namespace_);
  return bucket(p.namespace_, &required.begin()->first, &required.begin()->second);
}

}  // namespace

void SelectorIndex::add(const NetworkPolicy& p) { buckets_[bucket_of(p)].push_back(&p); }

void SelectorIndex::remove(const NetworkPolicy& p) {
  auto it = buckets_.find(bucket_of(p));
  if (it == buckets_.end()) return;
  auto& policies = it->second;
  policies.erase(std::remove(policies.begin(), policies.end(), &p), policies.end());
  if (policies.empty()) buckets_.erase(it);
}

void SelectorIndex::for_each_candidate(const std::string& ns, const Labels& labels,
                                       const std::function<void(const NetworkPolicy&)>& visit) const {
  auto take = [&](const std::string& name) {
    if (auto it = buckets_.find(name); it != buckets_.end())
      for (const NetworkPolicy* p : it->second) visit(*p);
  };
  take(bucket(ns));
  for (const auto& [k, v] : labels) take(bucket(ns, &k, &v));
}

}  // namespace bpfence
