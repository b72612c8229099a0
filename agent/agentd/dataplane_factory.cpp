// The dataplane factory and the BPF dataplane's read side.
#include "dataplane_factory.h"

#include <bpf/bpf.h>

#include <cerrno>
#include <cstring>
#include <vector>

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

class BpfObserver final : public DataplaneObserver {
 public:
  BpfObserver(const BpfDataplane* dp, PinnedMaps maps) : dp_(dp), maps_(std::move(maps)) {}
  bool has_flows() const override { return true; }
  Status flows(std::vector<FlowRecord>* out) const override { return maps_.flows(out); }
  Status counters(std::vector<CounterRecord>* out) const override { return maps_.counters(out); }
  Status map_fill(std::vector<MapFill>* out) const override {
    out->clear();
    for (const char* name : {"endpoints", "pod_addrs", "cidrs", "policy", "range_policy", "frags"}) {
      int fd = dp_->map_fd(name);
      if (fd < 0) continue;
      MapFill f;
      if (Status s = count_entries(fd, name, &f); !s) return s;
      out->push_back(f);
    }
    return Status::ok();
  }
  uint64_t max_flows() const override {
    bpf_map_info info{};
    __u32 len = sizeof(info);
    int fd = dp_->map_fd("flows");
    if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len)) return 0;
    return info.max_entries;
  }
  Status sweep(SweepStats* stats) const override {
    return sweep_flows(dp_->map_fd("flows"), SweepOptions{}, stats);
  }

 private:
  const BpfDataplane* dp_;
  PinnedMaps maps_;
};

}  // namespace

Status open_dataplane(const DataplaneConfig& config, DataplaneHandle* out) {
  if (config.kind != "bpf")
    return Status::error("--dataplane " + config.kind + ": not available in this build (known: bpf)");
  BpfDataplaneOptions o;
  o.node = config.node;
  o.bpffs = config.bpffs;
  auto dp = std::make_unique<BpfDataplane>(o);
  if (Status s = dp->open(); !s) return s;
  PinnedMaps maps;
  if (Status s = maps.open(dp->pin_dir()); !s) return s;
  DataplaneHandle h;
  BpfDataplane* raw = dp.get();
  h.observer = std::make_unique<BpfObserver>(raw, std::move(maps));
  h.location = dp->pin_dir();
  h.adopted = dp->reused_pinned_maps();
  h.unclaimed = [raw] {
    std::vector<int> v = raw->unclaimed_ifindexes();
    return std::set<int>(v.begin(), v.end());
  };
  h.prune_unclaimed = [raw] { return raw->prune_unclaimed(); };
  h.dataplane = std::move(dp);
  *out = std::move(h);
  return Status::ok();
}

Status uninstall_dataplane(const DataplaneConfig& config, std::string* location) {
  if (config.kind != "bpf")
    return Status::error("--dataplane " + config.kind + ": not available in this build (known: bpf)");
  *location = bpf_pin_dir(config.bpffs, config.node);
  return bpf_uninstall_pinned(*location);
}

}  // namespace bpfence
