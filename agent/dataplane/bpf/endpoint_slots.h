// The endpoint_slots array (bpf/lib/maps.h) mapped into the agent: the id
// and generation of each endpoint whose ifindex is below BF_ENDPOINT_SLOTS,
// which a flow-table hit reads instead of looking `endpoints` up. Each
// change is one 8-byte atomic store into the mapping, so a program never
// reads half of one (bpf_map_update_elem copies a value with a plain
// memcpy). A copy of `endpoints`: written after an entry, cleared before
// an entry is removed, rebuilt from the map when the dataplane opens.
#pragma once

#include <cstddef>
#include <cstdint>

#include "bpfence/datapath_abi.h"
#include "bpfence/result.h"

namespace bpfence {

class EndpointSlots {
 public:
  EndpointSlots() = default;
  ~EndpointSlots() { unmap(); }
  EndpointSlots(const EndpointSlots&) = delete;
  EndpointSlots& operator=(const EndpointSlots&) = delete;

  // Maps the array (BPF_F_MMAPABLE) behind map_fd; every slot zeroed.
  Status open(int map_fd);
  void unmap();

  // No-ops for an ifindex without a slot (the program looks it up then).
  void set(uint32_t ifindex, const bf_endpoint& e);
  void clear(uint32_t ifindex);

 private:
  uint64_t* slots_ = nullptr;
  size_t count_ = 0;
};

}  // namespace bpfence
