#include "pending_apply.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "log.h"

namespace bpfence {
namespace {

// Later changes to a key override earlier ones: the result applied to the
// kernel's state gives the same as applying both in order.
template <class K, class V>
void merge_map(MapDiff<K, V>& into, MapDiff<K, V>&& d) {
  if (d.empty()) return;
  if (into.empty()) {
    into = std::move(d);
    return;
  }
  std::map<K, std::optional<V>> m;
  for (auto& [k, v] : into.upsert) m[k] = std::move(v);
  for (auto& k : into.erase) m[k] = std::nullopt;
  for (auto& [k, v] : d.upsert) m[k] = std::move(v);
  for (auto& k : d.erase) m[k] = std::nullopt;
  into = {};
  for (auto& [k, v] : m) {
    if (v) into.upsert.emplace_back(k, std::move(*v));
    else into.erase.push_back(k);
  }
}

void merge_diff(StateDiff& into, StateDiff&& d) {
  merge_map(into.endpoints, std::move(d.endpoints));
  merge_map(into.pod_addrs, std::move(d.pod_addrs));
  merge_map(into.cidrs, std::move(d.cidrs));
  merge_map(into.policy, std::move(d.policy));
  merge_map(into.ranges, std::move(d.ranges));
  merge_map(into.rules, std::move(d.rules));
  merge_map(into.cluster, std::move(d.cluster));
  merge_map(into.cluster_rules, std::move(d.cluster_rules));
  into.touched_endpoints.insert(d.touched_endpoints.begin(), d.touched_endpoints.end());
}

}  // namespace

void PendingApply::add(StateDiff diff) {
  merge_diff(diff_, std::move(diff));
  pending_ = true;
}

PendingApply::Outcome PendingApply::apply(Dataplane& dp, const DesiredState& state) {
  Outcome out;
  auto t0 = Clock::now();
  out.status = dp.apply(diff_, state);
  out.took = Clock::now() - t0;
  out.entries = diff_.size();
  if (out.status) {
    out.recovered = !error_.empty();
    diff_ = {};
    pending_ = false;
    error_.clear();
    backoff_ = std::chrono::milliseconds(0);
    for (const std::string& pod : fail_closed_.pods()) (void)dp.set_fail_closed(pod, false);
    if (!fail_closed_.empty()) agentlog::info("fail-closed cleared", "pods=" + std::to_string(fail_closed_.size()));
    fail_closed_.clear_all();
    return out;
  }
  ++errors_total_;
  error_ = out.status.message();
  backoff_ = std::clamp(backoff_ * 2, std::chrono::milliseconds(1000), std::chrono::milliseconds(30000));
  retry_at_ = Clock::now() + backoff_;
  out.newly_fail_closed = mark_fail_closed(dp, state);
  return out;
}

// The kernel keeps the previous state. Pods whose own policy entries or
// endpoint changed in the diff get no new flows until it is in place.
// touched_endpoints is wider (every endpoint when an address changed
// identity) and would close pods the change does not concern: a peer's new
// identity or prefix matters to a pod only through its policy entries,
// which are then in the diff.
size_t PendingApply::mark_fail_closed(Dataplane& dp, const DesiredState& state) {
  std::map<uint32_t, std::string> pod_of;
  for (const auto& [pod, es] : state.endpoints) pod_of[es.endpoint_id] = pod;
  std::set<std::string> touched;
  auto touch = [&](uint32_t endpoint_id) {
    if (auto it = pod_of.find(endpoint_id); it != pod_of.end()) touched.insert(it->second);
  };
  for (const auto& [k, rule] : diff_.policy.upsert) touch(k.k.endpoint_id);
  for (const auto& k : diff_.policy.erase) touch(k.k.endpoint_id);
  for (const auto& [k, rule] : diff_.ranges.upsert) touch(k.k.endpoint_id);
  for (const auto& k : diff_.ranges.erase) touch(k.k.endpoint_id);
  for (const auto& [k, entry] : diff_.cluster.upsert) touch(k.k.endpoint_id);
  for (const auto& k : diff_.cluster.erase) touch(k.k.endpoint_id);
  for (const auto& [pod, es] : diff_.endpoints.upsert) touched.insert(pod);
  size_t newly = 0;
  for (const std::string& pod : touched) {
    if (!state.endpoints.count(pod) || fail_closed_.contains(pod)) continue;
    if (Status f = dp.set_fail_closed(pod, true); !f)
      agentlog::error("cannot set fail-closed", "pod=" + pod + " error=" + agentlog::q(f.message()));
    fail_closed_.set(pod, true);
    ++newly;
  }
  return newly;
}

}  // namespace bpfence
