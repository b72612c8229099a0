// The agent's HTTP API as data: the flow filter behind `/v1/flows?match=`
// and `bpfence flow --match`, and the JSON form of one flow entry. Shared by
// the agent and the CLI, so a flow prints the same whether it came over
// HTTP or straight from the pinned maps while the agent is down.
//
// Endpoints served by bpfence-agent (all GET, JSON unless noted):
//   /healthz          "ok" (text) while the process runs
//   /readyz           200 "ready" when the kernel enforces the latest
//                     generation and every local endpoint is bound; else 503
//                     with the reason (text)
//   /metrics          Prometheus text format
//   /v1/status        generation, applied_generation, node, dataplane,
//                     source, synced, endpoints counts, errors, warnings,
//                     fail_closed pods
//   /v1/endpoints     local pods: ips, ifname, ifindex, bound/pending, ids
//   /v1/flows         the flow table; ?match=TERMS&limit=N
//   /v1/rules         rule id -> policy, direction, index
//   /v1/policies      policies with the local pods they select
//   /v1/verdict       ?from=IP&to=IP&proto=tcp&port=80: the compiler's answer
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "bpfence/compiler.h"
#include "bpfence/flow_record.h"
#include "bpfence/net.h"
#include "bpfence/result.h"

namespace bpfence {

// A flow filter: terms separated by spaces or commas, all of which must
// match (AND). A term is one of
//   10.0.0.1          either address of the flow
//   10.0.0.1:80       that address with that port on the same side
//   [fd00::1]:80      the same for IPv6
//   10.0.0.0/24       either address inside the prefix
//   :80  or  80       either port
//   tcp udp sctp icmp icmpv6
//   drop  forward  D(FwPolicy)  (an action, or a drop reason as flows print it)
//   ingress  egress   the direction at the endpoint
// An empty filter matches every flow.
struct FlowMatch {
  struct Term {
    std::optional<Prefix> prefix;  // a plain address is a full-length prefix
    std::optional<uint16_t> port;
    std::optional<uint8_t> proto;
    std::optional<uint8_t> action;
    std::optional<uint8_t> reason;
    std::optional<uint8_t> direction;
  };
  std::vector<Term> terms;

  static Status parse(std::string_view text, FlowMatch* out);
  bool matches(const bf_flow_key& key, const bf_flow_value& value) const;
};

// Names that turn ids into words; any of them may be empty.
struct FlowNames {
  std::function<std::string(uint32_t endpoint_id)> pod;   // "ns/name" or ""
  // "ns/p ingress[0]", or for ids from BF_CNP_RULE_FIRST the cluster rule
  // "cnp/deny-metadata egress[0] Deny"; "" when unknown.
  std::function<std::string(uint32_t rule_id)> rule;
};

// One flow entry as the API and the CLI print it:
// {"src":"10.0.0.1","sport":1234,"dst":...,"dport":80,"proto":"tcp",
//  "direction":"ingress","endpoint_id":3,"pod":"ns/web","ifindex":12,
//  "action":"Drop","reason":"FwPolicy","verdict":"D(FwPolicy)","rule_id":0,
//  "rule":"ns/p ingress[0]" (or "cnp/<name> ingress[0] Deny"),"packets":3,"bytes":180,"tcp_flags":"S",
//  "reply":false,"generation":7,"first_seen_ns":...,"last_seen_ns":...}
nlohmann::json flow_to_json(const FlowRecord& flow, const FlowNames& names = {});

// A ClusterNetworkPolicy rule as /v1/rules, /v1/verdict and `explain -o json`
// name it: {"cluster_policy","tier","priority","direction","index","name",
// "action","text"} (no "policy" key: a CLI that predates ClusterNetworkPolicy
// skips these rather than misname them).
nlohmann::json cluster_rule_ref_json(const CnpRuleRef& rule);

// "SA" style: the TCP flags seen (FSRPAU).
std::string tcp_flags_text(uint8_t flags);

}  // namespace bpfence
