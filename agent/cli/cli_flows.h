// The flow table as `bpfence flow` shows it, in the manner of the Contrail
// vRouter `flow` tool: a header (table size, entries, packets by action and
// reason) and one row per flow with its index and its reverse's index
// (`158672<=>495824`), the pod names of its addresses, endpoint and
// direction, `F` or `D(FwPolicy)`, the rule or the isolating policies, TCP
// flags, packets/bytes and ages.
//
// Pure: built from records read out of the pinned maps and a Names table,
// so the tests can check the rendering on made-up flows as well as real ones.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bpfence/agent_api.h"
#include "bpfence/bpf_dataplane.h"
#include "cli_names.h"

namespace bpfence::cli {

struct FlowSnapshot {
  std::string pin_dir;
  uint32_t table_size = 0;  // max_entries of the flows map
  std::vector<FlowRecord> flows;
  std::vector<EndpointRecord> endpoints;
  std::vector<CounterRecord> counters;
  uint64_t now_ns = 0;  // CLOCK_MONOTONIC when read, for ages
};

// Reads the pinned maps of pin_dir.
Status read_flow_snapshot(const std::string& pin_dir, FlowSnapshot* out);

// A stable display index per flow: a hash of the key modulo the table size,
// collisions moved to the next free slot in key order. The same flow keeps
// its index from one listing to the next as long as it lives.
std::vector<uint32_t> flow_indexes(const std::vector<FlowRecord>& flows, uint32_t table_size);

struct FlowFilter {
  FlowMatch match;                   // --match (and the terms of --proto, --action)
  std::vector<IpAddress> pod_ips;    // --pod: flows at this pod's endpoint or to/from it
  bool empty() const { return match.terms.empty() && pod_ips.empty(); }
};

struct FlowRow {
  const FlowRecord* flow = nullptr;
  uint32_t index = 0;
  std::optional<uint32_t> reverse_index;  // when the reverse entry exists
};

// The rows to show, in order: by index, each original flow followed by its
// reverse (the pair), filtered.
std::vector<FlowRow> flow_rows(const FlowSnapshot& snap, const FlowFilter& filter);

// The endpoint's interface name, when it is in this network namespace
// (bpfence's filter is attached there); "" otherwise.
std::string endpoint_ifname(uint32_t ifindex);

// Whether the flow's verdict was made at an older generation of its
// endpoint's policy: the datapath re-decides it on its next packet.
bool flow_stale(const FlowSnapshot& snap, const FlowRecord& flow);

// What the RULE column says: the rule, "reply to <rule>", the isolating
// policies of a dropped flow, or the reason a flow needed no rule.
std::string flow_rule_text(const bf_flow_key& key, const bf_flow_value& v, const bf_endpoint* ep,
                           const Names& names);
// "10.0.1.10:80 (default/web)", "[fd00::1]:80", ICMP without ports.
std::string flow_address_text(const IpAddress& ip, uint16_t port, uint8_t proto, const Names& names);
// "default/web", or "ep3 (bft0)" when the pod cannot be named.
std::string flow_endpoint_text(uint32_t endpoint_id, const FlowSnapshot& snap, const Names& names);

void print_flow_table(std::ostream& out, const FlowSnapshot& snap, const std::vector<FlowRow>& rows,
                      const Names& names);
nlohmann::json flow_table_json(const FlowSnapshot& snap, const std::vector<FlowRow>& rows, const Names& names);

// One ring-buffer event (a drop, or a new flow with --all) as a line or as
// one JSON object. `wall_ns` is the event's time on the realtime clock.
std::string event_line(const bf_event& ev, uint64_t wall_ns, const FlowSnapshot& endpoints, const Names& names);
nlohmann::json event_json(const bf_event& ev, uint64_t wall_ns, const FlowSnapshot& endpoints, const Names& names);

}  // namespace bpfence::cli
