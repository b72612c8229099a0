// The BPF dataplane's read side.
#include "bpf_observer.h"

#include <bpf/bpf.h>

#include <cerrno>
#include <cstring>

namespace bpfence {
namespace {

// Counts a map's entries by walking its keys (the maps counted here are
// small next to the flow table).
Status count_entries(int fd, const std::string& name, MapFill* out) {
  bpf_map_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len))
    return Status::error("map " + name + ": get info: " + std::strerror(errno));
  std::vector<char> key(info.key_size), next(info.key_size);
  uint64_t n = 0;
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
    ++n;
    key.swap(next);
    prev = key.data();
  }
  *out = MapFill{name, n, info.max_entries};
  return Status::ok();
}

}  // namespace

Status BpfObserver::map_fill(std::vector<MapFill>* out) const {
  out->clear();
  for (const char* name : {"endpoints", "pod_addrs", "cidrs", "policy", "range_policy", "frags", "src_prefixes",
                           "cluster_policy"}) {
    int fd = dp_->map_fd(name);
    if (fd < 0) continue;
    MapFill f;
    if (Status s = count_entries(fd, name, &f); !s) return s;
    out->push_back(f);
  }
  return Status::ok();
}

uint64_t BpfObserver::max_flows() const {
  bpf_map_info info{};
  __u32 len = sizeof(info);
  int fd = dp_->map_fd("flows");
  if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len)) return 0;
  return info.max_entries;
}

Status BpfObserver::sweep(SweepStats* stats) const { return sweep_flows(dp_->map_fd("flows"), SweepOptions{}, stats); }

}  // namespace bpfence
