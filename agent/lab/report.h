// Human-readable pieces the lab commands print: where each host of a lab
// lives, and what a scenario step changes.
#pragma once

#include <string>

#include "lab.h"

namespace bpfence::lab {

// One line per pod/external: name, IP, node (or "outside"), labels.
std::string format_hosts(const Lab& lab);

// "step 2/2 "NFS ports only": apply storage/nfs-server (ingress ...)".
std::string format_step(const Scenario& scenario, int step);

// A one-line summary of a policy: selector, directions, peers, ports.
std::string summarize_policy(const NetworkPolicy& policy);

}  // namespace bpfence::lab
