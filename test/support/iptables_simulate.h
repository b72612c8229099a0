// A packet walked through a Model's chains the way netfilter would, with
// ipset's most-specific-entry rule for hash:net. The unit tests use it to
// hold the rendered rules to the compiler's verdict() on every probe.
#pragma once

#include <string>

#include "model.h"

namespace bpfence::ipt {

struct SimPacket {
  IpAddress src, dst;
  uint8_t proto = 6;
  uint16_t dport = 0;
  std::string in_iface, out_iface;  // FORWARD: where it came from, where it goes
  std::string physdev_in;           // the bridge port it came in by ("" when not bridged)
  enum class Ct : uint8_t { New, Established, Invalid } ct = Ct::New;
};

enum class SimVerdict : uint8_t {
  Accept,  // ACCEPT in our chains
  Drop,
  Pass,    // returned to FORWARD: the rest of the host's rules decide (allowed as far as we are concerned)
};

// Walks FORWARD's jump into our FWD chain. `error` (optional) gets the name
// of a set a rule names that the model lacks.
SimVerdict simulate_forward(const Model& m, const Names& names, Family f, const SimPacket& p,
                            std::string* error = nullptr);

// Whether ipset would say `ip` is in `set`.
bool set_test(const Ipset& set, const IpAddress& ip);

}  // namespace bpfence::ipt
