// The node's own addresses (getifaddrs): the default for --host-ip. Pods may
// always talk to these (kubelet probes, node-local services). The agent
// reads them at start and again when rtnetlink reports an address change.
#pragma once

#include <vector>

#include "bpfence/net.h"
#include "bpfence/result.h"

namespace bpfence {

Status node_addresses(std::vector<IpAddress>* out);

// Whether two address lists (sorted, as node_addresses gives them) differ in
// more than IPv6 link-local (fe80::/10) addresses. Every new pod veth gets
// one of those; recompiling for each would bump every endpoint's generation
// on every pod start. They are picked up with the next real change.
bool host_ips_changed(const std::vector<IpAddress>& before, const std::vector<IpAddress>& after);

}  // namespace bpfence
