// Input for the tools, from the difference between what the kernel holds
// (Applied) and what the state wants (Model):
//   1. `ipset -exist restore`: create new sets, add and delete members;
//   2. `iptables-restore --noflush` and `ip6tables-restore --noflush`: one
//      transaction per family that rewrites only the chains that changed,
//      inserts the FORWARD jump if missing, and deletes unused chains;
//   3. `ipset -exist restore`: destroy the sets no rule uses any more.
// Sets exist before a rule names them and go only after no rule does.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model.h"

namespace bpfence::ipt {

// What the kernel holds, as far as the dataplane knows.
struct Applied {
  std::map<std::string, Ipset> sets;
  // nullopt: the chain exists but its rules are not known (found by
  // iptables-save after a restart): it is rewritten.
  std::map<std::string, std::optional<Chain>> chains_v4, chains_v6;
  // FORWARD rules that jump to our FWD chain, as iptables-save prints them
  // ("-A FORWARD ... -j BPFENCE-<tag>-FWD").
  std::vector<std::string> jumps_v4, jumps_v6;
  // INPUT rules that jump to our SRC chain (what pods send to the node).
  std::vector<std::string> input_jumps_v4, input_jumps_v6;
  // INPUT rules that jump to our LOCAL chain.
  std::vector<std::string> local_jumps_v4, local_jumps_v6;
  // Pods the IPv4 FWD chain dispatched when the kernel was read: pod -> interface.
  std::map<std::string, std::string> dispatch;

  std::map<std::string, std::optional<Chain>>& chains(Family f) { return f == Family::V4 ? chains_v4 : chains_v6; }
  const std::map<std::string, std::optional<Chain>>& chains(Family f) const {
    return f == Family::V4 ? chains_v4 : chains_v6;
  }
  std::vector<std::string>& jumps(Family f) { return f == Family::V4 ? jumps_v4 : jumps_v6; }
  const std::vector<std::string>& jumps(Family f) const { return f == Family::V4 ? jumps_v4 : jumps_v6; }
  std::vector<std::string>& input_jumps(Family f) { return f == Family::V4 ? input_jumps_v4 : input_jumps_v6; }
  const std::vector<std::string>& input_jumps(Family f) const {
    return f == Family::V4 ? input_jumps_v4 : input_jumps_v6;
  }
  std::vector<std::string>& local_jumps(Family f) { return f == Family::V4 ? local_jumps_v4 : local_jumps_v6; }
  const std::vector<std::string>& local_jumps(Family f) const {
    return f == Family::V4 ? local_jumps_v4 : local_jumps_v6;
  }
};

struct RestoreTexts {
  std::string ipset_prepare;
  std::string iptables_v4;  // "" when nothing changes in that family
  std::string iptables_v6;
  std::string ipset_cleanup;
  bool empty() const {
    return ipset_prepare.empty() && iptables_v4.empty() && iptables_v6.empty() && ipset_cleanup.empty();
  }
  std::string& iptables(Family f) { return f == Family::V4 ? iptables_v4 : iptables_v6; }
};

// The rule's matches and target as iptables takes them (no "-A chain").
std::string rule_spec(const Rule& r, Family f);
// "create <name> hash:net family inet hashsize 1024 maxelem N"
std::string ipset_create_line(const std::string& name, const Ipset& set);
// "10.0.0.0/8" or "10.0.0.0/8 nomatch"
std::string ipset_entry(const Prefix& p, bool nomatch);

// Only the sets and chains named in `changes` are compared (all of them
// with changes.all); the FORWARD jump is always checked.
RestoreTexts restore_texts(const Applied& have, const Model& want, const Changes& changes, const Names& names,
                           bool ipv6);

// Makes `have` what the kernel holds after restore_texts(have, want,
// changes) went through.
void patch_applied(Applied& have, const Model& want, const Changes& changes, const Names& names, bool ipv6);

// Removes everything in `have` (read from the kernel): FORWARD jumps,
// chains, sets.
RestoreTexts uninstall_texts(const Applied& have);

}  // namespace bpfence::ipt
