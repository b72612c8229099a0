// Flow ageing: deletes flow entries that are idle longer than their
// protocol's timeout. The BPF program never deletes flows (LRU eviction only
// happens when the table is full), so without this a long-gone connection
// would keep its verdict and its slot forever.
//
// Timeouts (as Cilium's conntrack uses): TCP 6 h, TCP closed (RST seen, or
// FIN seen both ways) 10 s, everything else and every Drop entry 60 s.
// A flow and its reverse entry are judged together on the newer last_seen,
// so a one-way stream does not lose the reply entry its answers need.
#include <time.h>

#include <cstring>
#include <map>

#include "bpfence/bpf_dataplane.h"
#include "pinned_map.h"

namespace bpfence {
namespace {

constexpr uint8_t kFin = 0x01;
constexpr uint8_t kRst = 0x04;

struct KeyLess {
  bool operator()(const bf_flow_key& a, const bf_flow_key& b) const { return std::memcmp(&a, &b, sizeof(a)) < 0; }
};

}  // namespace

bool flow_expired(const bf_flow_key& key, const bf_flow_value& v, const bf_flow_value* reverse,
                  const SweepOptions& o, uint64_t now) {
  uint64_t last = v.last_seen_ns;
  if (reverse && reverse->last_seen_ns > last) last = reverse->last_seen_ns;
  uint64_t timeout = o.other_ns;
  if (v.action == BF_ACT_FORWARD && key.proto == 6) {
    uint8_t mine = v.tcp_flags, theirs = reverse ? reverse->tcp_flags : 0;
    bool closed = ((mine | theirs) & kRst) || ((mine & kFin) && (theirs & kFin));
    timeout = closed ? o.tcp_closed_ns : o.tcp_ns;
  }
  return now > last && now - last > timeout;
}

Status sweep_flows(int flows_fd, const SweepOptions& options, SweepStats* stats) {
  PinnedMap<bf_flow_key, bf_flow_value> flows(UniqueFd::dup(flows_fd), "flows");
  if (!flows.valid()) return Status::error("map flows: dup descriptor: " + errno_text(errno));
  std::vector<bf_flow_key> keys;
  std::vector<bf_flow_value> values;
  if (Status s = flows.dump(&keys, &values); !s) return s;

  std::map<bf_flow_key, size_t, KeyLess> index;
  for (size_t i = 0; i < keys.size(); ++i) index.emplace(keys[i], i);
  uint64_t now = options.now_ns ? options.now_ns : monotonic_now_ns();
  std::vector<bf_flow_key> expired;
  for (size_t i = 0; i < keys.size(); ++i) {
    auto rev = index.find(values[i].reverse);
    const bf_flow_value* r = rev == index.end() ? nullptr : &values[rev->second];
    if (flow_expired(keys[i], values[i], r, options, now)) expired.push_back(keys[i]);
  }
  // A packet may have come in since the dump: keep what moved.
  std::vector<bf_flow_key> stale;
  for (const bf_flow_key& k : expired) {
    std::optional<bf_flow_value> now_v = flows.lookup(k);
    if (now_v && now_v->last_seen_ns == values[index[k]].last_seen_ns) stale.push_back(k);
  }
  if (stats) {
    stats->scanned = keys.size();
    stats->deleted = stale.size();
  }
  return flows.erase_batch(stale);
}

}  // namespace bpfence
