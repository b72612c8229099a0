// Reading what is in the kernel back from the tools' own listings, so an
// agent that restarts (or `uninstall` with no agent at all) knows which of
// the node's sets, chains and FORWARD jumps exist.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bpfence/result.h"
#include "model.h"

namespace bpfence::ipt {

// `ipset save` output -> the sets whose names start with names.set_prefix().
// A set of ours that is not hash:net of the family its name says is an
// error (it cannot be fixed in place).
Status parse_ipset_save(const std::string& text, const Names& names, std::map<std::string, Ipset>* out);

// `iptables-save -t filter` output -> our chains (rules unknown), the
// FORWARD rules that jump to our FWD chain, as printed ("-A FORWARD ..."),
// and (when `dispatch` is given) the pods our FWD chain dispatches, by the
// comment on each jump: pod -> interface. A restarted agent takes those
// bindings over, so enforcement has no gap while it rebinds. `input_jumps`
// (when given) gets the INPUT rules that jump to our SRC chain, `local_jumps`
// those to our LOCAL chain.
void parse_iptables_save(const std::string& text, const Names& names,
                         std::map<std::string, std::optional<Chain>>* chains, std::vector<std::string>* jumps,
                         std::map<std::string, std::string>* dispatch = nullptr,
                         std::vector<std::string>* input_jumps = nullptr,
                         std::vector<std::string>* local_jumps = nullptr);

}  // namespace bpfence::ipt
