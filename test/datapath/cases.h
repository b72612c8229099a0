// Table-driven packet cases: a packet, the hook it goes through, the TC
// verdict expected, the (action, reason) counter that must move, and the
// flow entry expected (when the packet has a 5-tuple).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "fixture.h"

namespace bpfence::testdp {

struct Tuple {
  std::string src, dst;
  uint8_t proto = 6;
  uint16_t sport = 0, dport = 0;
};

struct Pkt {
  testpkt::Bytes bytes;
  std::optional<Tuple> tuple;  // the flow key it should be recorded under
};

Pkt tcp4(const std::string& src, uint16_t sport, const std::string& dst, uint16_t dport,
         uint8_t flags = testpkt::kSyn, size_t payload = 0);
Pkt udp4(const std::string& src, uint16_t sport, const std::string& dst, uint16_t dport);
Pkt sctp4(const std::string& src, uint16_t sport, const std::string& dst, uint16_t dport);
Pkt ping4(const std::string& src, const std::string& dst, uint16_t id, bool reply = false);
Pkt tcp6(const std::string& src, uint16_t sport, const std::string& dst, uint16_t dport,
         uint8_t flags = testpkt::kSyn);
Pkt ping6(const std::string& src, const std::string& dst, uint16_t id, bool reply = false);
Pkt raw(testpkt::Bytes bytes);  // no flow expected

struct Case {
  std::string name;
  std::string pod;
  bf_direction dir;
  Pkt pkt;
  int tc;
  bf_reason reason;
  std::string rule = "-";  // "-": not checked; "": no rule
};

// Runs every case in order; a failure names the case.
void run_cases(Fixture& f, const std::vector<Case>& cases);

}  // namespace bpfence::testdp
