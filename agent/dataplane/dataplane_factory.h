// Choosing and opening a dataplane by name (--dataplane): "bpf" or
// "iptables". The Dataplane carries its own read side (observer()) and what
// a restart needs; the handle adds where its state lives.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bpfence/dataplane.h"
#include "bpfence/result.h"

namespace bpfence {

struct DataplaneConfig {
  std::string kind = "bpf";
  std::string node;
  std::string bpffs = "/sys/fs/bpf";
  uint32_t max_flows = 0;   // bpf: flow table size, 0 = BF_MAX_FLOWS_DEFAULT
  uint32_t max_policy = 0;  // bpf: policy map size, 0 = BF_MAX_POLICY
  bool trace_new_flows = false;  // bpf: ring-buffer events for new flows too
};

struct DataplaneHandle {
  std::unique_ptr<Dataplane> dataplane;
  std::string location;  // where its state lives (the pin folder)
  bool adopted = false;  // state left by an earlier agent was found and reused
};

Status open_dataplane(const DataplaneConfig& config, DataplaneHandle* out);
// Removes everything a dataplane of this kind left for the node.
Status uninstall_dataplane(const DataplaneConfig& config, std::string* location);

}  // namespace bpfence
