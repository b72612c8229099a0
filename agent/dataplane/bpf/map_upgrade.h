// Pinned maps left by an agent built with another map layout (a value that
// grew, a counters array with a wider stride): the new agent replaces them
// instead of refusing to start, and carries over what the old entries still
// mean in the new layout.
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <string>

#include "bpfence/result.h"
#include "unique_fd.h"

namespace bpfence {

// A pinned map set aside at open(): its pin is removed, libbpf creates the
// new one at load, and `old` keeps the old map readable until carry_over().
struct ReplacedMap {
  std::string name;  // "endpoints", "counters", ...
  UniqueFd old;
  bpf_map_info info{};
};

// "" when the pinned map can be reused as this build loads `wanted`, else
// what differs ("value size 48, this build 52"). A different max_entries
// only counts for arrays, whose size is their index space (the counters'
// stride); other maps keep their pinned size.
std::string layout_difference(const bpf_map_info& pinned, const bpf_map* wanted);

// Copies into `new_fd` what the old map's entries still mean: endpoints
// (the old value is a prefix of the new one: ids, generations and
// addresses stay, so generations keep growing and cached flows are decided
// again) and counters (each (action, reason) moved to the new stride).
// Other maps are refilled from the desired state. *carried: entries copied.
Status carry_over(const ReplacedMap& r, int new_fd, size_t* carried);

}  // namespace bpfence
