// The node's own addresses (getifaddrs): the default for --host-ip. Pods may
// always talk to these (kubelet probes, node-local services).
#pragma once

#include <vector>

#include "bpfence/net.h"
#include "bpfence/result.h"

namespace bpfence {

Status node_addresses(std::vector<IpAddress>* out);

}  // namespace bpfence
