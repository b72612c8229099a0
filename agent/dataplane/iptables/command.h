// Running the netfilter tools (ipset, iptables-restore, iptables-save) with
// input on stdin and their output captured.
#pragma once

#include <string>
#include <vector>

#include "bpfence/result.h"

namespace bpfence::ipt {

// Runs argv (looked up in PATH) to completion with `input` on stdin. A
// non-zero exit is an error naming the command and quoting its stderr.
// With `netns` ("" = where we are), the tool runs in that named network
// namespace: it is spawned from a thread that entered /run/netns/<netns>
// (cheaper than `ip netns exec`, which is one more process per call).
Status run_tool(const std::vector<std::string>& argv, const std::string& input = "", std::string* out = nullptr,
                const std::string& netns = "");

}  // namespace bpfence::ipt
