// What a dataplane reports about traffic, in the datapath's own layout
// (datapath_abi.h): flow entries, drop/forward counters, endpoint entries.
// Both dataplanes produce these (the iptables one from conntrack and rule
// counters), and the API and the CLI print them; none of them needs the
// BPF dataplane's loader for that.
#pragma once

#include <time.h>

#include <cstddef>
#include <cstdint>

#include "bpfence/datapath_abi.h"

namespace bpfence {

struct FlowRecord {
  bf_flow_key key;
  bf_flow_value value;
};

struct CounterRecord {
  uint8_t action;
  uint8_t reason;
  uint64_t packets;
  uint64_t bytes;
};

struct EndpointRecord {
  uint32_t ifindex;
  bf_endpoint endpoint;
};

// One flow-ageing pass.
struct SweepStats {
  size_t scanned = 0;
  size_t deleted = 0;
};

// The clock of the flow entries' first_seen_ns/last_seen_ns: CLOCK_MONOTONIC,
// the one bpf_ktime_get_ns() reads.
inline uint64_t monotonic_now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace bpfence
