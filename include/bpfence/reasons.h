// Names of the datapath's actions and reasons (enum bf_action, bf_reason in
// datapath_abi.h) as the CLI and the HTTP API print them: "Forward",
// "D(FwPolicy)". One table, so every tool spells them the same way.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "bpfence/datapath_abi.h"

namespace bpfence {

constexpr const char* bf_reason_name(uint8_t reason) {
  switch (reason) {
    case BF_R_NOT_ISOLATED: return "NotIsolated";
    case BF_R_POLICY: return "Policy";
    case BF_R_REPLY: return "Reply";
    case BF_R_HOST: return "Host";
    case BF_R_SELF: return "Self";
    case BF_R_NON_IP: return "NonIp";
    case BF_R_NDP: return "Ndp";
    case BF_R_FRAGMENT: return "Fragment";
    case BF_R_FW_POLICY: return "FwPolicy";
    case BF_R_INVALID: return "Invalid";
    case BF_R_FRAG_UNKNOWN: return "FragUnknown";
    case BF_R_FAIL_CLOSED: return "FailClosed";
    case BF_R_UNKNOWN_EP: return "UnknownEndpoint";
    case BF_R_RELATED: return "Related";
    case BF_R_SPOOFED_SOURCE: return "SpoofedSource";
    case BF_R_ADMIN_ACCEPT: return "AdminAccept";
    case BF_R_ADMIN_DENY: return "AdminDeny";
    case BF_R_BASELINE_ACCEPT: return "BaselineAccept";
    case BF_R_BASELINE_DENY: return "BaselineDeny";
    default: return "Unknown";
  }
}

// A reason added to the enum needs its name here.
constexpr bool bf_every_reason_named() {
  for (uint8_t r = 0; r < BF_R_COUNT; ++r)
    if (std::string_view(bf_reason_name(r)) == "Unknown") return false;
  return true;
}
static_assert(bf_every_reason_named(), "a bf_reason without a name in bf_reason_name()");

// A ClusterNetworkPolicy rule decided it (the flow's rule id names it).
constexpr bool bf_reason_is_cluster(uint8_t reason) {
  return reason == BF_R_ADMIN_ACCEPT || reason == BF_R_ADMIN_DENY || reason == BF_R_BASELINE_ACCEPT ||
         reason == BF_R_BASELINE_DENY;
}

constexpr const char* bf_action_name(uint8_t action) {
  switch (action) {
    case BF_ACT_FORWARD: return "Forward";
    case BF_ACT_DROP: return "Drop";
    default: return "Unknown";
  }
}

constexpr const char* bf_direction_name(uint8_t direction) {
  return direction == BF_DIR_INGRESS ? "ingress" : direction == BF_DIR_EGRESS ? "egress" : "unknown";
}

// "F" or "D(FwPolicy)": the short form flow listings use (a forwarded flow's
// reason is shown apart, since most are just "Policy").
inline std::string bf_verdict_short(uint8_t action, uint8_t reason) {
  if (action == BF_ACT_FORWARD) return "F";
  return std::string("D(") + bf_reason_name(reason) + ")";
}

inline std::optional<uint8_t> bf_reason_from_name(std::string_view name) {
  for (uint8_t r = 0; r < BF_R_MAX; ++r) {
    if (name == bf_reason_name(r)) return r;
  }
  return std::nullopt;
}

}  // namespace bpfence
