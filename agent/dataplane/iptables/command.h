// Running the netfilter tools (ipset, iptables-restore, iptables-save) with
// input on stdin and their output captured.
#pragma once

#include <string>
#include <vector>

#include "bpfence/result.h"

namespace bpfence::ipt {

// Runs argv (looked up in PATH) to completion with `input` on stdin. A
// non-zero exit is an error naming the command and quoting its stderr.
Status run_tool(const std::vector<std::string>& argv, const std::string& input = "", std::string* out = nullptr);

}  // namespace bpfence::ipt
