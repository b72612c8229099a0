// The listener each lab pod runs on its declared ports (`bpfence lab listen`):
// TCP and SCTP accept and echo, UDP echoes each datagram to its sender. The
// prober counts a port as reached when its bytes come back.
#pragma once

#include <vector>

#include "bpfence/scenario.h"

namespace bpfence::lab {

// Binds every port (IPv6 ones in an IPv6 run), writes "ready\n" on ready_fd
// (when >= 0, then closes it) and serves until SIGTERM/SIGINT. Returns the
// process exit code.
int run_listener(const std::vector<ProbePort>& ports, int ready_fd, bool ipv6 = false);

}  // namespace bpfence::lab
