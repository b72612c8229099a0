// The dataplane factory and each dataplane's read side: the BPF one reads
// its pinned maps; the iptables one reads conntrack and rule counters.
#include "dataplane_factory.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <vector>

#include "bpfence/iptables_dataplane.h"

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
    for (const char* name : {"endpoints", "pod_addrs", "cidrs", "policy", "range_policy", "frags", "src_prefixes"}) {
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

// What the iptables observer needs to say which local pod a conntrack
// entry belongs to: the local endpoints' addresses, ids and isolation, the
// node's own addresses, and the interfaces bound. The reconciler thread
// writes it (after each apply/bind/unbind), API threads read it.
struct LocalEndpoints {
  struct Local {
    uint32_t endpoint_id = 0;
    bool ingress_isolated = false, egress_isolated = false;
    uint32_t ifindex = 0;
  };
  mutable std::mutex mu;
  std::map<IpAddress, Local> by_ip;
  std::vector<IpAddress> host_ips;
};

// IptablesDataplane with the bookkeeping for its observer. Every call goes
// to the dataplane unchanged; afterwards the local view is refreshed from
// the state the call was given and the bindings the dataplane now holds.
class ObservedIptables final : public Dataplane {
 public:
  ObservedIptables(std::unique_ptr<IptablesDataplane> dp, std::shared_ptr<LocalEndpoints> view)
      : dp_(std::move(dp)), view_(std::move(view)) {}
  std::string name() const override { return dp_->name(); }
  Status apply(const StateDiff& diff, const DesiredState& state) override {
    Status s = dp_->apply(diff, state);
    refresh(state, !diff.pod_addrs.empty() || !hosts_known_);
    return s;
  }
  Status bind(const InterfaceBinding& binding, const DesiredState& state) override {
    Status s = dp_->bind(binding, state);
    refresh(state, !hosts_known_);
    return s;
  }
  Status unbind(const std::string& pod) override {
    Status s = dp_->unbind(pod);
    if (last_) refresh(*last_, false);
    return s;
  }
  std::vector<InterfaceBinding> bindings() const override { return dp_->bindings(); }
  Status set_fail_closed(const std::string& pod, bool fail_closed) override {
    return dp_->set_fail_closed(pod, fail_closed);
  }
  Status uninstall() override { return dp_->uninstall(); }

 private:
  // `state` is the reconciler's compiler state: it outlives every call, so
  // unbind() (which gets none) may use the last one seen.
  void refresh(const DesiredState& state, bool hosts) {
    last_ = &state;
    std::map<std::string, uint32_t> ifindex;
    for (const InterfaceBinding& b : dp_->bindings()) ifindex[b.pod] = static_cast<uint32_t>(std::max(b.ifindex, 0));
    std::map<IpAddress, LocalEndpoints::Local> by_ip;
    for (const auto& [pod, es] : state.endpoints) {
      auto it = ifindex.find(pod);
      if (it == ifindex.end()) continue;  // not enforced here (yet): the BPF side sees no flows there either
      for (const IpAddress& ip : es.ips)
        by_ip[ip] = LocalEndpoints::Local{es.endpoint_id, es.ingress_isolated, es.egress_isolated, it->second};
    }
    std::vector<IpAddress> host_ips;
    if (hosts) {
      for (const auto& [ip, id] : state.pod_addrs)
        if (id == BF_ID_HOST) host_ips.push_back(ip);
    }
    std::lock_guard lock(view_->mu);
    view_->by_ip = std::move(by_ip);
    if (hosts) {
      view_->host_ips = std::move(host_ips);
      hosts_known_ = true;
    }
  }

  std::unique_ptr<IptablesDataplane> dp_;
  std::shared_ptr<LocalEndpoints> view_;
  const DesiredState* last_ = nullptr;
  bool hosts_known_ = false;
};

void put_addr(const IpAddress& ip, __u8 (&out)[16]) { std::copy(ip.bytes.begin(), ip.bytes.end(), out); }

// The iptables dataplane's read side. It has no flow table: conntrack holds
// the flows the rules let through (a dropped packet never confirms an
// entry), so every flow here is a Forward, and drops show only as the
// counters of the final DROP rules (D(FwPolicy), D(Invalid)). What a
// conntrack entry cannot tell, and the records leave zero: the rule that
// allowed it (rule_id), TCP flags seen, when it started and was last seen
// (conntrack keeps only the time left; both timestamps are "now"), the
// endpoint generation, and packets/bytes unless nf_conntrack_acct is on.
class IptablesObserver final : public DataplaneObserver {
 public:
  IptablesObserver(IptablesDataplaneOptions options, std::shared_ptr<LocalEndpoints> view)
      : options_(std::move(options)), view_(std::move(view)) {}
  bool has_flows() const override { return true; }

  // One record per local endpoint the entry passes, as the BPF datapath
  // keeps one per hook: egress at a local source pod, ingress at a local
  // destination pod. Entries touching no local pod (the node's own
  // connections, the agent's API) are left out.
  Status flows(std::vector<FlowRecord>* out) const override {
    std::vector<ConntrackEntry> entries;
    if (Status s = iptables_conntrack(options_, &entries); !s) return s;
    std::map<IpAddress, LocalEndpoints::Local> by_ip;
    std::vector<IpAddress> hosts;
    {
      std::lock_guard lock(view_->mu);
      by_ip = view_->by_ip;
      hosts = view_->host_ips;
    }
    auto is_host = [&](const IpAddress& ip) { return std::find(hosts.begin(), hosts.end(), ip) != hosts.end(); };
    uint64_t now = monotonic_now_ns();
    out->clear();
    for (const ConntrackEntry& e : entries) {
      bool icmp = e.proto == 1 || e.proto == 58;
      // ICMP echo: the datapath keys it by the id in both ports.
      uint16_t sport = e.sport, dport = icmp ? e.sport : e.dport;
      uint16_t rsport = e.reply_sport, rdport = icmp ? e.reply_sport : e.reply_dport;
      auto emit = [&](const LocalEndpoints::Local& ep, uint8_t direction, const IpAddress& peer, bool isolated) {
        FlowRecord f{};
        put_addr(e.src, f.key.src);
        put_addr(e.dst, f.key.dst);
        f.key.sport = htons(sport);
        f.key.dport = htons(dport);
        f.key.proto = e.proto;
        f.key.direction = direction;
        f.key.endpoint_id = ep.endpoint_id;
        bf_flow_key& r = f.value.reverse;
        put_addr(e.reply_src, r.src);
        put_addr(e.reply_dst, r.dst);
        r.sport = htons(rsport);
        r.dport = htons(rdport);
        r.proto = e.proto;
        r.direction = direction == BF_DIR_INGRESS ? BF_DIR_EGRESS : BF_DIR_INGRESS;
        r.endpoint_id = ep.endpoint_id;
        f.value.first_seen_ns = now;
        f.value.last_seen_ns = now;
        f.value.packets = e.packets;
        f.value.bytes = e.bytes;
        f.value.ifindex = ep.ifindex;
        f.value.action = BF_ACT_FORWARD;
        if (e.src == e.dst)
          f.value.reason = BF_R_SELF;
        else if (is_host(peer))
          f.value.reason = BF_R_HOST;
        else
          f.value.reason = isolated ? BF_R_POLICY : BF_R_NOT_ISOLATED;
        out->push_back(f);
      };
      if (auto it = by_ip.find(e.src); it != by_ip.end())
        emit(it->second, BF_DIR_EGRESS, e.dst, it->second.egress_isolated);
      // The reply's source is the original destination after DNAT.
      if (auto it = by_ip.find(e.reply_src); it != by_ip.end())
        emit(it->second, BF_DIR_INGRESS, e.src, it->second.ingress_isolated);
    }
    return Status::ok();
  }

  Status counters(std::vector<CounterRecord>* out) const override {
    std::vector<RuleCounter> rc;
    if (Status s = iptables_counters(options_, &rc); !s) return s;
    out->clear();
    for (const RuleCounter& c : rc) out->push_back(CounterRecord{c.action, c.reason, c.packets, c.bytes});
    return Status::ok();
  }

  // No maps. The ipsets' sizes would be `ipset list -t` (a process per
  // scrape); what they hold follows from the desired state the agent
  // reports anyway (bpfence_desired_entries).
  Status map_fill(std::vector<MapFill>* out) const override {
    out->clear();
    return Status::ok();
  }

  // The conntrack table's capacity (its entries are what flows() returns).
  uint64_t max_flows() const override {
    for (const char* path : {"/proc/sys/net/netfilter/nf_conntrack_max", "/proc/sys/net/nf_conntrack_max"}) {
      std::ifstream in(path);
      uint64_t v = 0;
      if (in >> v) return v;
    }
    return 0;
  }

  // conntrack ages its entries itself.
  Status sweep(SweepStats* stats) const override {
    *stats = {};
    return Status::ok();
  }

 private:
  IptablesDataplaneOptions options_;
  std::shared_ptr<LocalEndpoints> view_;
};

// The agent runs where the pods' host-side interfaces are (the host, or a
// lab node's network namespace), so the tools run where it runs: no netns.
IptablesDataplaneOptions iptables_options(const DataplaneConfig& config) {
  IptablesDataplaneOptions o;
  o.node = config.node;
  return o;
}

Status open_iptables(const DataplaneConfig& config, DataplaneHandle* out) {
  IptablesDataplaneOptions o = iptables_options(config);
  auto dp = std::make_unique<IptablesDataplane>(config.node, o);
  if (Status s = dp->open(); !s) return s;
  // The observer reads with the same variant and tag the dataplane writes.
  o.backend = dp->backend();
  o.tag = dp->tag();
  auto view = std::make_shared<LocalEndpoints>();
  DataplaneHandle h;
  h.location = "iptables:" + dp->backend() + ":BPFENCE-" + dp->tag();
  h.observer = std::make_unique<IptablesObserver>(o, view);
  h.dataplane = std::make_unique<ObservedIptables>(std::move(dp), view);
  // Restart: the first apply() (or bind()) reads what an earlier agent left
  // (ipset save, iptables-save), takes over the bindings named in its
  // dispatch chain for pods the state still has, and converges everything
  // else, so chains of pods deleted meanwhile go then. Nothing is known
  // before that read, hence no adopted flag, no unclaimed interfaces to
  // hold back and nothing separate to prune.
  h.adopted = false;
  h.unclaimed = [] { return std::set<int>(); };
  h.prune_unclaimed = [] { return Status::ok(); };
  *out = std::move(h);
  return Status::ok();
}

}  // namespace

Status open_dataplane(const DataplaneConfig& config, DataplaneHandle* out) {
  if (config.kind == "iptables") return open_iptables(config, out);
  if (config.kind != "bpf")
    return Status::error("--dataplane " + config.kind + ": unknown (known: bpf, iptables)");
  BpfDataplaneOptions o;
  o.node = config.node;
  o.bpffs = config.bpffs;
  if (config.max_flows) o.max_flows = config.max_flows;
  o.max_policy = config.max_policy;
  o.trace_new_flows = config.trace_new_flows;
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
  h.adopted_endpoints = [raw] { return raw->adopted_endpoints(); };
  h.repin = [raw](std::vector<std::string>* restored) { return raw->repin(restored); };
  h.dataplane = std::move(dp);
  *out = std::move(h);
  return Status::ok();
}

Status uninstall_dataplane(const DataplaneConfig& config, std::string* location) {
  if (config.kind == "iptables") {
    IptablesDataplaneOptions o = iptables_options(config);
    *location = "iptables:BPFENCE-" + iptables_node_tag(config.node);
    return iptables_uninstall(o);
  }
  if (config.kind != "bpf")
    return Status::error("--dataplane " + config.kind + ": unknown (known: bpf, iptables)");
  *location = bpf_pin_dir(config.bpffs, config.node);
  return bpf_uninstall_pinned(*location);
}

}  // namespace bpfence
