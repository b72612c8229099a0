// Running the netfilter tools (ipset, iptables-restore, iptables-save) with
// input on stdin and their output captured, optionally in a named network
// namespace: the shared runner (subprocess.h) under the name the
// dataplane's code uses.
#pragma once

#include <string>
#include <vector>

#include "bpfence/result.h"
#include "subprocess.h"

namespace bpfence::ipt {

inline Status run_tool(const std::vector<std::string>& argv, const std::string& input = "", std::string* out = nullptr,
                       const std::string& netns = "") {
  return run_process(argv, input, out, netns);
}

}  // namespace bpfence::ipt
