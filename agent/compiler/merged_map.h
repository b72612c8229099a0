// The merged policy and range maps: reference-counted entries (one
// reference per policy and rule that makes an entry) kept per endpoint, and
// how a commit's reference changes reach the desired state.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bpfence/compiler.h"

namespace bpfence {

// A merged map entry: which rules produced it, how many times each. The
// value written to the kernel is the smallest rule id (deterministic).
// Often one rule: it is kept inline (no allocation, no pointer to follow),
// the others in a sorted overflow list, shared by copies until one of them
// changes (an endpoint's entries copied whole share theirs: many policies
// selecting the same pods give their entries 20 rules and more).
class RuleRefs {
 public:
  bool empty() const { return first_.second <= 0; }
  uint32_t front() const { return first_.first; }  // the smallest rule; only when !empty()
  void add(uint32_t rule, int delta);

 private:
  using Ref = std::pair<uint32_t, int>;  // rule id, references
  std::vector<Ref>& own();                // rest_, unshared, made if missing
  Ref first_{0, 0};
  std::shared_ptr<std::vector<Ref>> rest_;  // sorted, rules above first_'s
};

// Reference-counted entries of one map, kept per endpoint in vectors sorted
// by key. A commit queues its reference changes by endpoint (add) and
// settle() applies them endpoint by endpoint.
template <class Key>
struct MergedMap {
  struct Entry {
    Key key;
    RuleRefs refs;
  };
  struct Delta {
    Key key;
    uint32_t rule;
    int delta;
  };
  std::unordered_map<uint32_t, std::vector<Entry>> by_endpoint;
  // Queued reference changes by endpoint, each in the order they were
  // made: settle() needs them grouped by endpoint, and grouping as they
  // come saves sorting the whole batch.
  std::unordered_map<uint32_t, std::vector<Delta>> pending;
  // Endpoints that take a copy of another's entries (to, from) before
  // their pending changes apply (see copy_endpoint).
  std::vector<std::pair<uint32_t, uint32_t>> copies;

  // Queues delta references from `rule` to a merged entry.
  void add(const Key& k, uint32_t rule, int delta) {
    if (!last_pending_ || last_endpoint_ != k.k.endpoint_id) {
      last_endpoint_ = k.k.endpoint_id;
      last_pending_ = &pending[k.k.endpoint_id];
    }
    last_pending_->push_back({k, rule, delta});
  }
  // Neither entries nor queued changes.
  bool blank(uint32_t endpoint) const { return !by_endpoint.count(endpoint) && !pending.count(endpoint); }
  bool settled(uint32_t endpoint) const { return !pending.count(endpoint); }
  // Endpoint `to` (blank) gets every entry of `from` (settled), with all
  // their references, as if each reference to `from` had been queued for
  // `to` too: one copy per entry instead of one change per reference (a
  // pod selected by 50 policies with the same peers has 20 references per
  // entry). Applied first by settle(), from `from`'s entries of the last
  // commit: the caller checks that nothing is queued for either yet.
  void copy_endpoint(uint32_t to, uint32_t from) { copies.emplace_back(to, from); }

  void clear_pending() {
    pending.clear();
    copies.clear();
    last_pending_ = nullptr;
  }

 private:
  std::vector<Delta>* last_pending_ = nullptr;  // the endpoint of the last delta queued (most are)
  uint32_t last_endpoint_ = 0;
};

namespace detail {

// Which entries of one endpoint a settle touched, found by key: an open
// addressing table of indexes into `touched`, doubled at half full.
template <class Key>
class TouchedIndex {
 public:
  struct Touched {
    uint32_t index;  // in the endpoint's entries
    std::optional<uint32_t> before;
  };
  explicit TouchedIndex(size_t expected) {
    size_t cap = 64;
    while (cap < 2 * expected) cap <<= 1;
    slots_.assign(cap, 0);
  }
  // The slot for k: 0 (not yet touched) or 1 + its position in touched.
  uint32_t& slot(const Key& k, const std::vector<typename MergedMap<Key>::Entry>& entries) {
    const size_t mask = slots_.size() - 1;
    for (size_t s = KeyHash{}(k) & mask;; s = (s + 1) & mask) {
      uint32_t& v = slots_[s];
      if (v == 0 || entries[touched[v - 1].index].key == k) return v;
    }
  }
  void push(uint32_t index, std::optional<uint32_t> before,
            const std::vector<typename MergedMap<Key>::Entry>& entries) {
    touched.push_back({index, before});
    if (2 * touched.size() > slots_.size()) {
      slots_.assign(slots_.size() * 2, 0);
      for (size_t t = 0; t < touched.size(); ++t) slot(entries[touched[t].index].key, entries) = t + 1;
    }
  }
  std::vector<Touched> touched;

 private:
  std::vector<uint32_t> slots_;
};

}  // namespace detail

// Applies the queued copies and references, writes the entries whose value
// (the smallest rule id) changed into the desired-state map and the diff.
// The changes are applied in the order they were queued, each found by a
// hash of the few keys touched (a local pod selected by 50 policies queues
// 40,000 references to 2,000 keys: sorting them cost more than the rest).
template <class Key, class State>
void settle(MergedMap<Key>& map, State& state, MapDiff<Key, uint32_t>& diff) {
  using Entry = typename MergedMap<Key>::Entry;
  auto by_key = [](const Entry& a, const Entry& b) { return a.key < b.key; };
  // Nodes of erased keys are reused for new ones (a policy edit erases and
  // adds about as many).
  std::vector<typename State::node_type> spare;
  auto write = [&](const Key& k, std::optional<uint32_t> before, std::optional<uint32_t> now) {
    if (now == before) return;
    // The state map holds exactly the entries with a value, so `before`
    // says whether k is in it.
    if (now && before) {
      state.find(k)->second = *now;
    } else if (now) {
      if (spare.empty()) {
        state.emplace(k, *now);
      } else {
        auto node = std::move(spare.back());
        spare.pop_back();
        node.key() = k;
        node.mapped() = *now;
        state.insert(std::move(node));
      }
    } else {
      spare.push_back(state.extract(k));
    }
    if (now)
      diff.upsert.emplace_back(k, *now);
    else
      diff.erase.push_back(k);
  };

  // Copies first: the endpoints they make are new in this commit, so each
  // of their entries is written once, after the pending changes (a key
  // both upserted and erased would reach the dataplane erased).
  std::set<uint32_t> copied;
  for (const auto& [to, from] : map.copies) {
    auto source = map.by_endpoint.find(from);
    if (source == map.by_endpoint.end()) continue;
    std::vector<Entry> entries = source->second;
    // One endpoint's keys differ in nothing else: their order stays.
    for (auto& e : entries) e.key.k.endpoint_id = to;
    map.by_endpoint[to] = std::move(entries);
    copied.insert(to);
  }

  std::vector<uint32_t> endpoints(copied.begin(), copied.end());
  for (const auto& [endpoint, _] : map.pending)
    if (!copied.count(endpoint)) endpoints.push_back(endpoint);
  std::sort(endpoints.begin(), endpoints.end());
  static const std::vector<typename MergedMap<Key>::Delta> kNone;
  for (uint32_t endpoint : endpoints) {
    auto queued = map.pending.find(endpoint);
    const auto& pending = queued == map.pending.end() ? kNone : queued->second;
    std::vector<Entry>& entries = map.by_endpoint[endpoint];
    const size_t old_size = entries.size();
    const bool is_copy = copied.count(endpoint) > 0;
    detail::TouchedIndex<Key> index(std::min(pending.size(), old_size + pending.size()));
    for (const auto& d : pending) {
      uint32_t& found = index.slot(d.key, entries);
      uint32_t slot = found;
      if (slot == 0) {
        auto old_end = entries.begin() + old_size;
        auto it = std::lower_bound(entries.begin(), old_end, d.key,
                                   [](const Entry& e, const Key& key) { return e.key < key; });
        size_t at = it - entries.begin();
        std::optional<uint32_t> before;
        if (it != old_end && it->key == d.key) {
          if (!it->refs.empty()) before = it->refs.front();
        } else {
          at = entries.size();
          entries.push_back({d.key, {}});  // merged into place below
        }
        slot = found = index.touched.size() + 1;
        index.push(at, before, entries);  // may move the slots: `found` is not used after
      }
      entries[index.touched[slot - 1].index].refs.add(d.rule, d.delta);
    }
    bool emptied = false;
    if (is_copy) {
      for (const auto& e : entries) {
        emptied = emptied || e.refs.empty();
        if (!e.refs.empty()) write(e.key, std::nullopt, e.refs.front());
      }
    } else {
      for (const auto& t : index.touched) {
        const Entry& e = entries[t.index];
        std::optional<uint32_t> now;
        if (!e.refs.empty()) now = e.refs.front();
        emptied = emptied || !now;
        write(e.key, t.before, now);
      }
    }
    if (entries.size() > old_size) {
      std::sort(entries.begin() + old_size, entries.end(), by_key);
      std::inplace_merge(entries.begin(), entries.begin() + old_size, entries.end(), by_key);
    }
    if (emptied)
      entries.erase(std::remove_if(entries.begin(), entries.end(), [](const Entry& e) { return e.refs.empty(); }),
                    entries.end());
    if (entries.empty()) map.by_endpoint.erase(endpoint);
  }
  map.clear_pending();
}

}  // namespace bpfence
