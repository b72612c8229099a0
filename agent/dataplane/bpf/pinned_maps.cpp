// PinnedMaps: a read-only view of one node's pinned maps for the CLI and the
// HTTP API. It opens the pins directly, so it works while the agent is down.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfence/bpf_dataplane.h"
#include "pinned_map.h"

namespace bpfence {

struct PinnedMaps::Impl {
  PinnedMap<bf_flow_key, bf_flow_value> flows;
  PinnedMap<__u32, bf_endpoint> endpoints;
  UniqueFd counters;
  std::string pin_dir;
};

PinnedMaps::PinnedMaps() : impl_(std::make_unique<Impl>()) {}
PinnedMaps::~PinnedMaps() = default;
PinnedMaps::PinnedMaps(PinnedMaps&&) noexcept = default;
PinnedMaps& PinnedMaps::operator=(PinnedMaps&&) noexcept = default;

Status PinnedMaps::open(const std::string& pin_dir, bool writable) {
  Impl fresh;
  fresh.pin_dir = pin_dir;
  if (Status s = PinnedMap<bf_flow_key, bf_flow_value>::open(pin_dir + "/flows", !writable, &fresh.flows); !s)
    return s;
  if (Status s = PinnedMap<__u32, bf_endpoint>::open(pin_dir + "/endpoints", !writable, &fresh.endpoints); !s)
    return s;
  fresh.counters = open_pinned(pin_dir + "/counters", true);
  if (!fresh.counters) return Status::error("map " + pin_dir + "/counters: open pinned: " + errno_text(errno));
  *impl_ = std::move(fresh);
  return Status::ok();
}

Status PinnedMaps::flows(std::vector<FlowRecord>* out) const {
  out->clear();
  std::vector<bf_flow_key> keys;
  std::vector<bf_flow_value> values;
  if (Status s = impl_->flows.dump(&keys, &values); !s) return s;
  out->reserve(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) out->push_back({keys[i], values[i]});
  return Status::ok();
}

Status PinnedMaps::endpoints(std::vector<EndpointRecord>* out) const {
  out->clear();
  return impl_->endpoints.for_each([&](const __u32& ifindex, const bf_endpoint& e) { out->push_back({ifindex, e}); });
}

Status PinnedMaps::counters(std::vector<CounterRecord>* out) const {
  out->clear();
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return Status::error("counters: number of CPUs: " + errno_text(ncpu));
  std::vector<bf_counter> per_cpu(ncpu);
  for (__u32 idx = 0; idx < BF_COUNTERS; ++idx) {
    if (bpf_map_lookup_elem(impl_->counters.get(), &idx, per_cpu.data()))
      return Status::error("map " + impl_->pin_dir + "/counters: lookup " + std::to_string(idx) + ": " +
                           errno_text(errno));
    CounterRecord r{static_cast<uint8_t>(idx / BF_R_MAX), static_cast<uint8_t>(idx % BF_R_MAX), 0, 0};
    for (const bf_counter& c : per_cpu) {
      r.packets += c.packets;
      r.bytes += c.bytes;
    }
    if (r.packets) out->push_back(r);
  }
  return Status::ok();
}

int PinnedMaps::flows_fd() const { return impl_->flows.fd(); }

}  // namespace bpfence
