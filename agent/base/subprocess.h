// Running a command to completion: argv looked up in PATH, `input` on its
// stdin, its stdout captured, its stderr quoted in the error. The one
// runner for the netfilter tools, `ip -batch` and the lab's helpers.
#pragma once

#include <string>
#include <vector>

#include "bpfence/result.h"

namespace bpfence {

// A non-zero exit is an error naming the command and quoting (the tail of)
// its stderr. With `netns` ("" = where we are), the command runs in the
// named network namespace /run/netns/<netns>: it is spawned from a thread
// that entered it (cheaper than `ip netns exec`, one process less).
Status run_process(const std::vector<std::string>& argv, const std::string& input = "", std::string* out = nullptr,
                   const std::string& netns = "");

}  // namespace bpfence
