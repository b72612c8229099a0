// BpfDataplane: the compiler's desired state as BPF map entries, and the
// policy programs attached to pods' host-side veths.
//
// Maps are pinned under the node's folder and reused on restart (libbpf
// reuses a pinned map whose type, sizes and flags match); programs are not
// pinned: the TC filters hold them, and a restarted agent replaces its
// predecessor's filters in place (same handle/priority, BPF_TC_F_REPLACE).
//
// Capacity is checked against the maps' real sizes before anything is
// written. If the kernel refuses a write half-way (it should not), the next
// apply() does a full resync instead of a diff.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>

#include "bpfence/bpf_dataplane.h"
#include "bpfence/fail_closed.h"
#include "bpf_observer.h"
#include "endpoint_slots.h"
#include "log.h"
#include "map_upgrade.h"
#include "pin.h"
#include "pinned_map.h"
#include "policy.skel.h"
#include "tc_attachment.h"

namespace bpfence {
namespace {

bf_addr_key addr_key(const IpAddress& ip) {
  bf_addr_key k{};
  std::copy(ip.bytes.begin(), ip.bytes.end(), k.addr);
  return k;
}

bf_cidr_key cidr_key(const Prefix& p) {
  bf_cidr_key k{};
  k.prefixlen = p.len;
  std::copy(p.addr.bytes.begin(), p.addr.bytes.end(), k.addr);
  return k;
}

// The endpoint's extra source prefixes (src_prefixes keys).
std::vector<bf_src_key> source_keys(const EndpointState& es) {
  std::vector<bf_src_key> out;
  for (const Prefix& p : es.source_prefixes) {
    bf_src_key k{};
    k.prefixlen = BF_SRC_FIXED_BITS + p.len;
    k.endpoint_id = es.endpoint_id;
    std::copy(p.addr.bytes.begin(), p.addr.bytes.end(), k.addr);
    out.push_back(k);
  }
  return out;
}

size_t source_key_count(const DesiredState& state) {
  size_t n = 0;
  for (const auto& [pod, es] : state.endpoints) n += es.source_prefixes.size();
  return n;
}

bf_endpoint make_endpoint(const EndpointState& es, uint32_t generation, bool fail_closed) {
  bf_endpoint e{};
  e.endpoint_id = es.endpoint_id;
  e.identity = es.identity;
  e.generation = generation;
  e.ingress_isolated = es.ingress_isolated;
  e.egress_isolated = es.egress_isolated;
  e.fail_closed = fail_closed;
  e.has_ranges = es.has_ranges;
  e.cnp_stages = es.cnp_stages;
  bool v4 = false, v6 = false;
  for (const IpAddress& ip : es.ips) {
    if (ip.is_v4() && !v4) {
      std::copy(ip.bytes.begin(), ip.bytes.end(), e.ip4);
      v4 = true;
    } else if (!ip.is_v4() && !v6) {
      std::copy(ip.bytes.begin(), ip.bytes.end(), e.ip6);
      v6 = true;
    }
  }
  return e;
}

bf_cnp_value cnp_value(const ClusterEntry& e) {
  bf_cnp_value v{};
  v.rank = e.rank;
  v.rule_id = e.rule_id;
  v.action = e.action;
  return v;
}

// Byte-wise order for ABI keys, so current map contents can be compared
// with the desired state.
template <class K>
struct BytesLess {
  bool operator()(const K& a, const K& b) const { return std::memcmp(&a, &b, sizeof(K)) < 0; }
};

// One map's desired contents, as ABI keys and values.
template <class K, class V>
struct Entries {
  std::vector<K> keys;
  std::vector<V> values;
};

Status check_capacity(const char* map, size_t desired, uint32_t max) {
  if (desired > max)
    return Status::error("map " + std::string(map) + ": desired state has " + std::to_string(desired) +
                         " entries, the map holds " + std::to_string(max) + "; nothing was written");
  return Status::ok();
}

// Makes a map hold exactly `want` (full resync after open or after a
// failed apply).
template <class K, class V>
Status resync_map(const PinnedMap<K, V>& map, const Entries<K, V>& want) {
  std::set<K, BytesLess<K>> wanted(want.keys.begin(), want.keys.end());
  std::vector<K> current = map.keys();
  std::vector<K> stale;
  for (const K& k : current)
    if (!wanted.count(k)) stale.push_back(k);
  // Write the new entries first unless the map could overflow meanwhile.
  if (current.size() + want.keys.size() <= map.max_entries()) {
    if (Status s = map.update_batch(want.keys, want.values); !s) return s;
    return map.erase_batch(stale);
  }
  if (Status s = map.erase_batch(stale); !s) return s;
  return map.update_batch(want.keys, want.values);
}

// Applies one map's part of a diff. `final_size` is the map's size after it.
template <class K, class V>
Status apply_map(const PinnedMap<K, V>& map, const Entries<K, V>& upsert, const std::vector<K>& erase,
                 size_t final_size) {
  // Upserts first (no moment without an entry that stays), unless the
  // erased entries must make room first.
  if (final_size + erase.size() <= map.max_entries()) {
    if (Status s = map.update_batch(upsert.keys, upsert.values); !s) return s;
    return map.erase_batch(erase);
  }
  if (Status s = map.erase_batch(erase); !s) return s;
  return map.update_batch(upsert.keys, upsert.values);
}

}  // namespace

struct BpfDataplane::Impl {
  BpfDataplaneOptions options;
  std::string pin_dir;
  policy_bpf* skel = nullptr;
  bool reused = false;
  bool synced = false;  // false: the next apply() is a full resync
  uint32_t next_generation = 1;

  struct Bound {
    InterfaceBinding binding;
    TcAttachment from_pod;  // host veth ingress
    TcAttachment to_pod;    // host veth egress
  };
  std::map<std::string, Bound> bound;  // by pod
  std::set<int> unclaimed;
  std::vector<EndpointRecord> adopted;  // the endpoints map as open() found it
  std::vector<ReplacedMap> replaced;    // pinned maps of another layout, until load
  FailClosedPods fail_closed;

  PinnedMap<__u32, bf_endpoint> endpoints;
  EndpointSlots slots;  // the hit path's copy of endpoints' ids and generations
  PinnedMap<bf_addr_key, bf_addr_value> pod_addrs;
  PinnedMap<bf_cidr_key, __u32> cidrs;
  PinnedMap<bf_policy_key, bf_policy_value> policy;
  PinnedMap<bf_range_key, bf_policy_value> ranges;
  PinnedMap<bf_src_key, __u32> src_prefixes;
  PinnedMap<bf_cnp_key, bf_cnp_value> cluster;
  std::map<std::string, std::vector<bf_src_key>> src_written;  // by pod, as last written
  std::unique_ptr<BpfObserver> observer;  // last: gone before the programs and maps

  ~Impl() {
    // Filters stay in the kernel: enforcement outlives the agent.
    for (auto& [pod, b] : bound) {
      b.from_pod.release();
      b.to_pod.release();
    }
    if (skel) policy_bpf__destroy(skel);
  }

  Status prepare_pinned_map(bpf_map* map, const std::string& path);
  Status write_endpoint(const std::string& pod, const EndpointState& es, int ifindex);
  // Every change of `endpoints` goes through these two, so the slots follow.
  Status put_endpoint(int ifindex, const bf_endpoint& e);
  Status erase_endpoint(int ifindex);
  Status resync(const DesiredState& state);
  Status apply_source_prefixes(const StateDiff& diff, const DesiredState& state);
};

// The src_prefixes entries of the endpoints the diff changes (before their
// new generation is written, so re-decided flows see them).
Status BpfDataplane::Impl::apply_source_prefixes(const StateDiff& diff, const DesiredState& state) {
  Entries<bf_src_key, __u32> add;
  std::vector<bf_src_key> gone;
  std::map<std::string, std::vector<bf_src_key>> next;
  auto take_old = [&](const std::string& pod) {
    auto it = src_written.find(pod);
    if (it == src_written.end()) return std::vector<bf_src_key>{};
    std::vector<bf_src_key> old = std::move(it->second);
    src_written.erase(it);
    return old;
  };
  std::set<std::string> pods(diff.endpoints.erase.begin(), diff.endpoints.erase.end());
  for (const auto& [pod, es] : diff.endpoints.upsert) pods.insert(pod);
  for (const std::string& pod : pods) {
    std::vector<bf_src_key> old = take_old(pod);
    auto es = state.endpoints.find(pod);
    std::vector<bf_src_key> keys = es == state.endpoints.end() ? std::vector<bf_src_key>{} : source_keys(es->second);
    std::set<bf_src_key, BytesLess<bf_src_key>> keep(keys.begin(), keys.end());
    for (const bf_src_key& k : old)
      if (!keep.count(k)) gone.push_back(k);
    for (const bf_src_key& k : keys) {
      add.keys.push_back(k);
      add.values.push_back(1);
    }
    if (!keys.empty()) src_written[pod] = std::move(keys);
  }
  if (add.keys.empty() && gone.empty()) return Status::ok();
  return apply_map(src_prefixes, add, gone, source_key_count(state));
}

BpfDataplane::BpfDataplane(BpfDataplaneOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->pin_dir = impl_->options.resolved_pin_dir();
}

BpfDataplane::~BpfDataplane() = default;

const std::string& BpfDataplane::pin_dir() const { return impl_->pin_dir; }
bool BpfDataplane::reused_pinned_maps() const { return impl_->reused; }

// A pinned map from an earlier run is reused when it matches this build;
// the flow table keeps its size (changing it needs an uninstall). One of
// another layout (an agent upgrade that grew a value) is unpinned and set
// aside: libbpf creates the new one at load, and open() carries over what
// the old entries still mean. The programs of the old agent keep the old
// maps until bind() replaces them, so enforcement never stops.
Status BpfDataplane::Impl::prepare_pinned_map(bpf_map* map, const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    UniqueFd fd = open_pinned(path, false);
    if (!fd) return Status::error("map " + path + ": open pinned: " + errno_text(errno));
    bpf_map_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd.get(), &info, &len))
      return Status::error("map " + path + ": get info: " + errno_text(errno));
    if (std::string diff = layout_difference(info, map); !diff.empty()) {
      if (::unlink(path.c_str()))
        return Status::error("map " + path + ": unpin the map of another layout: " + errno_text(errno));
      agentlog::warn("replacing pinned map of another layout", "map=" + path + " " + diff);
      replaced.push_back({bpf_map__name(map), std::move(fd), info});
    } else {
      if (info.max_entries != bpf_map__max_entries(map)) {
        agentlog::warn("reusing pinned map with its own size", "map=" + path + " max_entries=" +
                                                                 std::to_string(info.max_entries) + " wanted=" +
                                                                 std::to_string(bpf_map__max_entries(map)));
        bpf_map__set_max_entries(map, info.max_entries);
      }
      reused = true;
    }
  }
  if (int rc = bpf_map__set_pin_path(map, path.c_str()))
    return Status::error("map " + path + ": set pin path: " + errno_text(rc));
  return Status::ok();
}

Status BpfDataplane::open() {
  Impl& d = *impl_;
  if (d.skel) return Status::error("bpf dataplane " + d.pin_dir + ": already open");
  if (Status s = make_pin_dir(d.pin_dir); !s) return s;
  d.skel = policy_bpf__open();
  if (!d.skel) return Status::error("bpf dataplane: open skeleton: " + errno_text(errno));
  // Nothing half-open stays behind a failed open().
  auto fail = [&](Status s) {
    policy_bpf__destroy(d.skel);
    d.skel = nullptr;
    // Maps set aside for replacement go back to their pins.
    for (const ReplacedMap& r : d.replaced) (void)bpf_obj_pin(r.old.get(), (d.pin_dir + "/" + r.name).c_str());
    d.replaced.clear();
    return s;
  };
  d.skel->rodata->trace_new_flows = d.options.trace_new_flows;
  d.skel->rodata->record_flows = d.options.record_flows;
  d.skel->rodata->check_source = d.options.check_source;
  if (int rc = bpf_map__set_max_entries(d.skel->maps.flows, d.options.max_flows))
    return fail(Status::error("map flows: max_entries " + std::to_string(d.options.max_flows) + ": " +
                              errno_text(rc)));
  if (d.options.max_policy) {
    if (int rc = bpf_map__set_max_entries(d.skel->maps.policy, d.options.max_policy))
      return fail(Status::error("map policy: max_entries " + std::to_string(d.options.max_policy) + ": " +
                                errno_text(rc)));
  }

  for (const std::string& name : pinned_map_names()) {
    bpf_map* map = bpf_object__find_map_by_name(d.skel->obj, name.c_str());
    if (!map) return fail(Status::error("bpf dataplane: the program has no map " + name));
    if (Status s = d.prepare_pinned_map(map, d.pin_dir + "/" + name); !s) return fail(s);
  }
  if (int rc = policy_bpf__load(d.skel))
    return fail(Status::error("bpf dataplane " + d.pin_dir + ": load: " + errno_text(rc)));

  auto wrap = [](bpf_map* m) { return UniqueFd::dup(bpf_map__fd(m)); };
  d.endpoints = {wrap(d.skel->maps.endpoints), "endpoints"};
  d.pod_addrs = {wrap(d.skel->maps.pod_addrs), "pod_addrs"};
  d.cidrs = {wrap(d.skel->maps.cidrs), "cidrs"};
  d.policy = {wrap(d.skel->maps.policy), "policy"};
  d.ranges = {wrap(d.skel->maps.range_policy), "range_policy"};
  d.src_prefixes = {wrap(d.skel->maps.src_prefixes), "src_prefixes"};
  d.cluster = {wrap(d.skel->maps.cluster_policy), "cluster_policy"};

  for (const ReplacedMap& r : d.replaced) {
    size_t carried = 0;
    bpf_map* m = bpf_object__find_map_by_name(d.skel->obj, r.name.c_str());
    if (Status s = carry_over(r, bpf_map__fd(m), &carried); !s) return s;
    agentlog::info("replaced pinned map", "map=" + d.pin_dir + "/" + r.name + " carried_over=" + std::to_string(carried));
  }
  d.replaced.clear();

  // The slots are rebuilt from the entries (after any carry-over).
  if (Status s = d.slots.open(bpf_map__fd(d.skel->maps.endpoint_slots)); !s) return s;
  // Generations only ever grow, across restarts too, so a cached flow can
  // never match a generation it was not decided at.
  Status it = d.endpoints.for_each([&](const __u32& ifindex, const bf_endpoint& e) {
    d.unclaimed.insert(static_cast<int>(ifindex));
    d.adopted.push_back({ifindex, e});
    d.next_generation = std::max(d.next_generation, e.generation + 1);
    d.slots.set(ifindex, e);
  });
  if (!it) return it;
  PinnedMaps maps;
  if (Status s = maps.open(d.pin_dir); !s) return s;
  d.observer = std::make_unique<BpfObserver>(this, std::move(maps));
  agentlog::info("bpf dataplane loaded", "pin_dir=" + d.pin_dir + " reused_maps=" + (d.reused ? "true" : "false") +
                                           " endpoints=" + std::to_string(d.unclaimed.size()));
  return Status::ok();
}

int BpfDataplane::program_fd(bf_direction direction) const {
  if (!impl_->skel) return -1;
  return bpf_program__fd(direction == BF_DIR_EGRESS ? impl_->skel->progs.from_pod : impl_->skel->progs.to_pod);
}

const DataplaneObserver* BpfDataplane::observer() const { return impl_->observer.get(); }

int BpfDataplane::map_fd(const std::string& name) const {
  if (!impl_->skel) return -1;
  bpf_map* m = bpf_object__find_map_by_name(impl_->skel->obj, name.c_str());
  return m ? bpf_map__fd(m) : -1;
}

Status BpfDataplane::Impl::write_endpoint(const std::string& pod, const EndpointState& es, int ifindex) {
  bf_endpoint e = make_endpoint(es, next_generation++, fail_closed.contains(pod));
  return put_endpoint(ifindex, e);
}

// The entry first, then its slot: a program that reads the new slot finds
// the new entry. (One that reads the old slot a moment longer decides as
// a packet that came a moment earlier.)
Status BpfDataplane::Impl::put_endpoint(int ifindex, const bf_endpoint& e) {
  if (Status s = endpoints.update(static_cast<__u32>(ifindex), e); !s) return s;
  slots.set(static_cast<uint32_t>(ifindex), e);
  return Status::ok();
}

// The slot first: a slot never outlives its entry.
Status BpfDataplane::Impl::erase_endpoint(int ifindex) {
  slots.clear(static_cast<uint32_t>(ifindex));
  return endpoints.erase(static_cast<__u32>(ifindex));
}

Status BpfDataplane::Impl::resync(const DesiredState& state) {
  Entries<bf_addr_key, bf_addr_value> addrs;
  for (const auto& [ip, id] : state.pod_addrs) {
    addrs.keys.push_back(addr_key(ip));
    addrs.values.push_back({id, 0});
  }
  Entries<bf_cidr_key, __u32> cidr;
  for (const auto& [p, id] : state.cidrs) {
    cidr.keys.push_back(cidr_key(p));
    cidr.values.push_back(id);
  }
  Entries<bf_policy_key, bf_policy_value> pol;
  for (const auto& [k, rule] : state.policy) {
    pol.keys.push_back(k.k);
    pol.values.push_back({rule, 0});
  }
  Entries<bf_range_key, bf_policy_value> rng;
  for (const auto& [k, rule] : state.ranges) {
    rng.keys.push_back(k.k);
    rng.values.push_back({rule, 0});
  }
  if (Status s = resync_map(pod_addrs, addrs); !s) return s;
  if (Status s = resync_map(cidrs, cidr); !s) return s;
  if (Status s = resync_map(policy, pol); !s) return s;
  if (Status s = resync_map(ranges, rng); !s) return s;
  Entries<bf_cnp_key, bf_cnp_value> cnp;
  for (const auto& [k, e] : state.cluster) {
    cnp.keys.push_back(k.k);
    cnp.values.push_back(cnp_value(e));
  }
  if (Status s = resync_map(cluster, cnp); !s) return s;
  Entries<bf_src_key, __u32> src;
  src_written.clear();
  for (const auto& [pod, es] : state.endpoints) {
    std::vector<bf_src_key> keys = source_keys(es);
    for (const bf_src_key& k : keys) {
      src.keys.push_back(k);
      src.values.push_back(1);
    }
    if (!keys.empty()) src_written[pod] = std::move(keys);
  }
  if (Status s = resync_map(src_prefixes, src); !s) return s;
  for (const auto& [pod, b] : bound) {
    auto it = state.endpoints.find(pod);
    if (it == state.endpoints.end()) continue;
    if (Status s = write_endpoint(pod, it->second, b.binding.ifindex); !s) return s;
  }
  return Status::ok();
}

Status BpfDataplane::apply(const StateDiff& diff, const DesiredState& state) {
  Impl& d = *impl_;
  if (!d.skel) return Status::error("bpf dataplane " + d.pin_dir + ": apply before open");

  // Capacity first: nothing is written if any map would overflow. The
  // error names the policies whose entries the change adds, so an operator
  // knows which one to shrink or remove.
  Status cap = check_capacity("pod_addrs", state.pod_addrs.size(), d.pod_addrs.max_entries());
  if (cap) cap = check_capacity("cidrs", state.cidrs.size(), d.cidrs.max_entries());
  if (cap) cap = check_capacity("policy", state.policy.size(), d.policy.max_entries());
  if (cap) cap = check_capacity("range_policy", state.ranges.size(), d.ranges.max_entries());
  if (cap) cap = check_capacity("src_prefixes", source_key_count(state), d.src_prefixes.max_entries());
  if (cap) cap = check_capacity("cluster_policy", state.cluster.size(), d.cluster.max_entries());
  if (!cap) {
    std::map<std::string, size_t> adds;  // policy -> entries the change adds
    auto count = [&](uint32_t rule) {
      if (auto r = state.rules.find(rule); r != state.rules.end()) ++adds[r->second.policy];
    };
    for (const auto& [k, rule] : diff.policy.upsert) count(rule);
    for (const auto& [k, rule] : diff.ranges.upsert) count(rule);
    for (const auto& [k, e] : diff.cluster.upsert)
      if (auto r = state.cluster_rules.find(e.rule_id); r != state.cluster_rules.end())
        ++adds["cnp/" + r->second.policy];
    std::string names;
    size_t shown = 0;
    for (const auto& [policy, n] : adds) {
      if (shown++ == 5) {
        names += ", ...";
        break;
      }
      names += (names.empty() ? "" : ", ") + policy + " (+" + std::to_string(n) + ")";
    }
    if (!names.empty()) return Status::error(cap.message() + "; policies adding entries: " + names);
    return cap;
  }

  if (!d.synced) {
    d.synced = false;
    Status s = d.resync(state);
    if (!s) return s;
    d.synced = true;
    for (const auto& [pod, es] : state.endpoints) d.fail_closed.clear(pod);
    agentlog::info("bpf maps resynced", "pod_addrs=" + std::to_string(state.pod_addrs.size()) +
                                          " cidrs=" + std::to_string(state.cidrs.size()) +
                                          " policy=" + std::to_string(state.policy.size()) +
                                          " ranges=" + std::to_string(state.ranges.size()) +
                                          " cluster_policy=" + std::to_string(state.cluster.size()));
    return Status::ok();
  }

  Entries<bf_addr_key, bf_addr_value> addrs;
  for (const auto& [ip, id] : diff.pod_addrs.upsert) {
    addrs.keys.push_back(addr_key(ip));
    addrs.values.push_back({id, 0});
  }
  std::vector<bf_addr_key> addrs_erase;
  for (const IpAddress& ip : diff.pod_addrs.erase) addrs_erase.push_back(addr_key(ip));

  Entries<bf_cidr_key, __u32> cidr;
  for (const auto& [p, id] : diff.cidrs.upsert) {
    cidr.keys.push_back(cidr_key(p));
    cidr.values.push_back(id);
  }
  std::vector<bf_cidr_key> cidr_erase;
  for (const Prefix& p : diff.cidrs.erase) cidr_erase.push_back(cidr_key(p));

  Entries<bf_policy_key, bf_policy_value> pol;
  for (const auto& [k, rule] : diff.policy.upsert) {
    pol.keys.push_back(k.k);
    pol.values.push_back({rule, 0});
  }
  std::vector<bf_policy_key> pol_erase;
  for (const PolicyKey& k : diff.policy.erase) pol_erase.push_back(k.k);

  Entries<bf_range_key, bf_policy_value> rng;
  for (const auto& [k, rule] : diff.ranges.upsert) {
    rng.keys.push_back(k.k);
    rng.values.push_back({rule, 0});
  }
  std::vector<bf_range_key> rng_erase;
  for (const RangeKey& k : diff.ranges.erase) rng_erase.push_back(k.k);

  Entries<bf_cnp_key, bf_cnp_value> cnp;
  for (const auto& [k, e] : diff.cluster.upsert) {
    cnp.keys.push_back(k.k);
    cnp.values.push_back(cnp_value(e));
  }
  std::vector<bf_cnp_key> cnp_erase;
  for (const ClusterKey& k : diff.cluster.erase) cnp_erase.push_back(k.k);

  // From here on a failure leaves the maps between two states: the next
  // apply() rewrites everything.
  d.synced = false;
  if (Status s = apply_map(d.pod_addrs, addrs, addrs_erase, state.pod_addrs.size()); !s) return s;
  if (Status s = apply_map(d.cidrs, cidr, cidr_erase, state.cidrs.size()); !s) return s;
  if (Status s = apply_map(d.policy, pol, pol_erase, state.policy.size()); !s) return s;
  if (Status s = apply_map(d.ranges, rng, rng_erase, state.ranges.size()); !s) return s;
  if (Status s = apply_map(d.cluster, cnp, cnp_erase, state.cluster.size()); !s) return s;
  if (Status s = d.apply_source_prefixes(diff, state); !s) return s;

  // Last, the endpoints: a new generation makes their cached flows be
  // decided again against the maps as they are now.
  std::set<std::string> touched = diff.touched_endpoints;
  for (const auto& [pod, es] : diff.endpoints.upsert) touched.insert(pod);
  for (const std::string& pod : touched) {
    d.fail_closed.clear(pod);
    auto b = d.bound.find(pod);
    auto es = state.endpoints.find(pod);
    if (b == d.bound.end() || es == state.endpoints.end()) continue;
    if (Status s = d.write_endpoint(pod, es->second, b->second.binding.ifindex); !s) return s;
  }
  d.synced = true;
  return Status::ok();
}

Status BpfDataplane::bind(const InterfaceBinding& binding, const DesiredState& state) {
  Impl& d = *impl_;
  if (!d.skel) return Status::error("bpf dataplane " + d.pin_dir + ": bind before open");
  auto es = state.endpoints.find(binding.pod);
  if (es == state.endpoints.end())
    return Status::error("bind " + binding.pod + ": not a local endpoint of the desired state");
  if (binding.ifindex <= 0)
    return Status::error("bind " + binding.pod + ": ifindex " + std::to_string(binding.ifindex) + " is not valid");

  auto cur = d.bound.find(binding.pod);
  if (cur != d.bound.end() && cur->second.binding.ifindex != binding.ifindex) {
    // The pod's veth was recreated.
    if (Status s = unbind(binding.pod); !s) return s;
    cur = d.bound.end();
  }
  for (auto& [pod, b] : d.bound) {
    if (pod != binding.pod && b.binding.ifindex == binding.ifindex) {
      // The ifindex was reused by a new interface: the old pod is gone.
      std::string old = pod;
      if (Status s = unbind(old); !s) return s;
      break;
    }
  }
  if (d.bound.size() >= d.endpoints.max_entries() && cur == d.bound.end())
    return Status::error("bind " + binding.pod + ": map endpoints is full (" +
                         std::to_string(d.endpoints.max_entries()) + ")");

  bool existed = d.endpoints.lookup(binding.ifindex).has_value();
  // The entry goes in before the programs, so they never see the interface
  // without its endpoint.
  if (Status s = d.write_endpoint(binding.pod, es->second, binding.ifindex); !s) return s;
  if (cur != d.bound.end()) {
    cur->second.binding = binding;
    return Status::ok();
  }
  Impl::Bound b;
  b.binding = binding;
  Status s = TcAttachment::attach(binding.ifindex, BPF_TC_INGRESS, bpf_program__fd(d.skel->progs.from_pod),
                                  &b.from_pod);
  if (s) s = TcAttachment::attach(binding.ifindex, BPF_TC_EGRESS, bpf_program__fd(d.skel->progs.to_pod), &b.to_pod);
  if (!s) {
    if (!existed) (void)d.erase_endpoint(binding.ifindex);
    return Status::error("bind " + binding.pod + ": " + s.message());
  }
  d.unclaimed.erase(binding.ifindex);
  d.bound.emplace(binding.pod, std::move(b));
  agentlog::info("attached", "pod=" + binding.pod + " ifindex=" + std::to_string(binding.ifindex) +
                               " ifname=" + binding.ifname);
  return Status::ok();
}

Status BpfDataplane::unbind(const std::string& pod) {
  Impl& d = *impl_;
  auto it = d.bound.find(pod);
  if (it == d.bound.end()) return Status::ok();
  Status s1 = it->second.from_pod.detach();
  Status s2 = it->second.to_pod.detach();
  int ifindex = it->second.binding.ifindex;
  Status s3 = d.erase_endpoint(ifindex);
  d.bound.erase(it);
  d.fail_closed.clear(pod);
  agentlog::info("detached", "pod=" + pod + " ifindex=" + std::to_string(ifindex));
  if (!s1) return s1;
  if (!s2) return s2;
  return s3;
}

std::vector<InterfaceBinding> BpfDataplane::bindings() const {
  std::vector<InterfaceBinding> out;
  for (const auto& [pod, b] : impl_->bound) out.push_back(b.binding);
  return out;
}

Status BpfDataplane::set_fail_closed(const std::string& pod, bool fail_closed) {
  Impl& d = *impl_;
  d.fail_closed.set(pod, fail_closed);
  auto it = d.bound.find(pod);
  if (it == d.bound.end()) return Status::ok();
  std::optional<bf_endpoint> e = d.endpoints.lookup(it->second.binding.ifindex);
  if (!e) return Status::error("set_fail_closed " + pod + ": no endpoint entry for ifindex " +
                               std::to_string(it->second.binding.ifindex));
  // Setting it keeps the generation: flows already allowed keep going, new
  // ones drop. Clearing it starts a new one, so flows it dropped are decided
  // again.
  e->fail_closed = fail_closed;
  if (!fail_closed) e->generation = d.next_generation++;
  return d.put_endpoint(it->second.binding.ifindex, *e);
}

std::vector<EndpointRecord> BpfDataplane::adopted_endpoints() const { return impl_->adopted; }

// The programs reference the maps, so a removed pin changes nothing in the
// kernel: only the path is gone (the CLI, the HTTP API's readers and a
// restarted agent open maps by path). Pinning the same map again brings it
// back with its entries. A path that holds another map is left alone.
Status BpfDataplane::repin(std::vector<std::string>* restored) {
  Impl& d = *impl_;
  if (restored) restored->clear();
  if (!d.skel) return Status::error("bpf dataplane " + d.pin_dir + ": repin before open");
  Status first;
  bool dir_checked = false;
  for (const std::string& name : pinned_map_names()) {
    bpf_map* map = bpf_object__find_map_by_name(d.skel->obj, name.c_str());
    if (!map) continue;
    std::string path = d.pin_dir + "/" + name;
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) {
      UniqueFd fd = open_pinned(path, true);
      bpf_map_info pinned{}, ours{};
      __u32 len = sizeof(pinned), len2 = sizeof(ours);
      if (fd && !bpf_obj_get_info_by_fd(fd.get(), &pinned, &len) &&
          !bpf_obj_get_info_by_fd(bpf_map__fd(map), &ours, &len2) && pinned.id != ours.id && first)
        first = Status::error("map " + path + ": pinned object is map id " + std::to_string(pinned.id) +
                              ", this agent's map is id " + std::to_string(ours.id) + "; left alone");
      continue;
    }
    if (errno != ENOENT) {
      if (first) first = Status::error("map " + path + ": stat: " + errno_text(errno));
      continue;
    }
    if (!dir_checked) {
      dir_checked = true;
      if (Status s = make_pin_dir(d.pin_dir); !s) return s;
    }
    if (bpf_obj_pin(bpf_map__fd(map), path.c_str())) {
      if (first) first = Status::error("map " + path + ": pin again: " + errno_text(errno));
      continue;
    }
    if (restored) restored->push_back(name);
  }
  return first;
}

std::vector<int> BpfDataplane::unclaimed_ifindexes() const {
  return {impl_->unclaimed.begin(), impl_->unclaimed.end()};
}

Status BpfDataplane::prune_unclaimed() {
  Impl& d = *impl_;
  Status first;
  for (int ifindex : d.unclaimed) {
    Status a = tc_detach_bpfence(ifindex, BPF_TC_INGRESS);
    Status b = tc_detach_bpfence(ifindex, BPF_TC_EGRESS);
    Status c = d.erase_endpoint(ifindex);
    for (Status* s : {&a, &b, &c})
      if (!*s && first) first = *s;
    agentlog::info("pruned unclaimed endpoint", "ifindex=" + std::to_string(ifindex));
  }
  d.unclaimed.clear();
  return first;
}

Status BpfDataplane::uninstall() {
  Impl& d = *impl_;
  Status first;
  for (auto& [pod, b] : d.bound) {
    for (Status s : {b.from_pod.detach(), b.to_pod.detach()})
      if (!s && first) first = s;
  }
  d.bound.clear();
  d.unclaimed.clear();
  d.slots.unmap();
  d.endpoints = {};
  d.pod_addrs = {};
  d.cidrs = {};
  d.policy = {};
  d.ranges = {};
  d.src_prefixes = {};
  d.cluster = {};
  d.src_written.clear();
  if (d.skel) {
    policy_bpf__destroy(d.skel);
    d.skel = nullptr;
  }
  Status s = bpf_uninstall_pinned(d.pin_dir);
  if (!s && first) first = s;
  agentlog::info("uninstalled", "pin_dir=" + d.pin_dir);
  return first;
}

}  // namespace bpfence
