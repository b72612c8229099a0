// Replacing pinned maps of another layout (see map_upgrade.h).
#include "map_upgrade.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "bpfence/datapath_abi.h"
#include "pinned_map.h"

namespace bpfence {
namespace {

std::string differs(const char* what, uint32_t pinned, uint32_t wanted) {
  return std::string(what) + " " + std::to_string(pinned) + ", this build " + std::to_string(wanted);
}

bool is_array(uint32_t type) { return type == BPF_MAP_TYPE_ARRAY || type == BPF_MAP_TYPE_PERCPU_ARRAY; }

// Old endpoint values are a prefix of bf_endpoint (fields are only ever
// appended): the new fields start zeroed (no ClusterNetworkPolicy stage
// until the first apply writes the entry again).
Status carry_endpoints(const ReplacedMap& r, int new_fd, size_t* carried) {
  if (r.info.type != BPF_MAP_TYPE_HASH || r.info.key_size != sizeof(__u32) ||
      r.info.value_size > sizeof(bf_endpoint))
    return Status::ok();
  std::vector<unsigned char> value(r.info.value_size);
  __u32 key = 0, next = 0;
  const __u32* prev = nullptr;
  while (bpf_map_get_next_key(r.old.get(), prev, &next) == 0) {
    key = next;
    prev = &key;
    if (bpf_map_lookup_elem(r.old.get(), &key, value.data())) continue;
    bf_endpoint e{};
    std::memcpy(&e, value.data(), value.size());
    if (bpf_map_update_elem(new_fd, &key, &e, BPF_ANY))
      return Status::error("map endpoints: carry over ifindex " + std::to_string(key) + ": " + errno_text(errno));
    ++*carried;
  }
  return Status::ok();
}

// The counters array is (action, reason) at action * stride + reason; the
// old stride is half the old size.
Status carry_counters(const ReplacedMap& r, int new_fd, size_t* carried) {
  if (r.info.type != BPF_MAP_TYPE_PERCPU_ARRAY || r.info.key_size != sizeof(__u32) ||
      r.info.value_size != sizeof(bf_counter) || r.info.max_entries < 2 || r.info.max_entries % 2)
    return Status::ok();
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return Status::error("map counters: number of CPUs: " + errno_text(ncpu));
  uint32_t old_stride = r.info.max_entries / 2;
  std::vector<bf_counter> per_cpu(ncpu);
  for (__u32 idx = 0; idx < r.info.max_entries; ++idx) {
    __u32 action = idx / old_stride, reason = idx % old_stride;
    if (reason >= BF_R_MAX) continue;
    if (bpf_map_lookup_elem(r.old.get(), &idx, per_cpu.data())) continue;
    if (std::all_of(per_cpu.begin(), per_cpu.end(), [](const bf_counter& c) { return c.packets == 0; })) continue;
    __u32 to = action * BF_R_MAX + reason;
    if (bpf_map_update_elem(new_fd, &to, per_cpu.data(), BPF_ANY))
      return Status::error("map counters: carry over " + std::to_string(idx) + ": " + errno_text(errno));
    ++*carried;
  }
  return Status::ok();
}

}  // namespace

std::string layout_difference(const bpf_map_info& pinned, const bpf_map* wanted) {
  if (pinned.type != bpf_map__type(wanted)) return differs("type", pinned.type, bpf_map__type(wanted));
  if (pinned.key_size != bpf_map__key_size(wanted))
    return differs("key size", pinned.key_size, bpf_map__key_size(wanted));
  if (pinned.value_size != bpf_map__value_size(wanted))
    return differs("value size", pinned.value_size, bpf_map__value_size(wanted));
  if (pinned.map_flags != bpf_map__map_flags(wanted))
    return differs("flags", pinned.map_flags, bpf_map__map_flags(wanted));
  if (is_array(pinned.type) && pinned.max_entries != bpf_map__max_entries(wanted))
    return differs("max_entries", pinned.max_entries, bpf_map__max_entries(wanted));
  return "";
}

Status carry_over(const ReplacedMap& r, int new_fd, size_t* carried) {
  *carried = 0;
  if (r.name == "endpoints") return carry_endpoints(r, new_fd, carried);
  if (r.name == "counters") return carry_counters(r, new_fd, carried);
  return Status::ok();
}

}  // namespace bpfence
