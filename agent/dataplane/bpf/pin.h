// Where and how the BPF dataplane pins its maps.
#pragma once

#include <string>
#include <vector>

#include "bpfence/result.h"

namespace bpfence {

// The maps of policy.bpf.c that are pinned (every map but the .rodata one).
const std::vector<std::string>& pinned_map_names();

// mkdir -p on bpffs.
Status make_pin_dir(const std::string& dir);

}  // namespace bpfence
