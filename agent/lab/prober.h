// Real packets for the lab's connectivity matrix. Every probe opens its
// socket inside the source's network namespace (socket_in) and then runs,
// non-blocking, in one poll loop with all the others, so a whole matrix costs
// about one timeout however many probes are denied.
//
//   TCP   connect, send one byte, wait for it to come back
//   UDP   send a token, wait for the echo
//   ICMP  echo request on a raw socket, wait for the matching reply
//         (ICMPv6 echo to an IPv6 address)
//
// A probe that gets no answer before its timeout is Denied (policy drops,
// it never refuses); a reset or port-unreachable is Refused: the packets got
// there, but nothing listened.
#pragma once

#include <string>
#include <vector>

#include "bpfence/scenario.h"
#include "netns.h"

namespace bpfence::lab {

struct ProbeSpec {
  const NetnsHandle* source = nullptr;
  std::string dst_ip;  // IPv4 or IPv6 (then ICMP is ICMPv6)
  ProbePort port;
};

enum class Outcome { Allowed, Denied, Refused, Error };
const char* outcome_name(Outcome o);

struct ProbeResult {
  Outcome outcome = Outcome::Error;
  double ms = 0;        // time to the answer (or to the timeout)
  std::string detail;   // why, for Refused and Error
  bool reached() const { return outcome == Outcome::Allowed || outcome == Outcome::Refused; }
};

struct ProbeOptions {
  int timeout_ms = 1000;
  int max_in_flight = 128;  // bounded: sockets and listener backlogs are finite
};

std::vector<ProbeResult> run_probes(const std::vector<ProbeSpec>& specs, const ProbeOptions& options);

}  // namespace bpfence::lab
