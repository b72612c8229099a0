// The iptables dataplane's read side: conntrack entries as flow records,
// rule counters as drop/forward counters.
#include "iptables_observer.h"

#include <arpa/inet.h>

#include <algorithm>
#include <fstream>

namespace bpfence::ipt {
namespace {

void put_addr(const IpAddress& ip, __u8 (&out)[16]) { std::copy(ip.bytes.begin(), ip.bytes.end(), out); }

}  // namespace

void LocalEndpoints::refresh(const DesiredState& state, const std::vector<InterfaceBinding>& bound, bool hosts) {
  last_ = &state;
  std::map<std::string, uint32_t> ifindex;
  for (const InterfaceBinding& b : bound) ifindex[b.pod] = static_cast<uint32_t>(std::max(b.ifindex, 0));
  std::map<IpAddress, Local> by_ip;
  for (const auto& [pod, es] : state.endpoints) {
    auto it = ifindex.find(pod);
    if (it == ifindex.end()) continue;  // not enforced here (yet): the BPF side sees no flows there either
    for (const IpAddress& ip : es.ips) by_ip[ip] = Local{es.endpoint_id, es.ingress_isolated, es.egress_isolated, it->second};
  }
  std::vector<IpAddress> host_ips;
  if (hosts) {
    for (const auto& [ip, id] : state.pod_addrs)
      if (id == BF_ID_HOST) host_ips.push_back(ip);
  }
  std::lock_guard lock(mu_);
  by_ip_ = std::move(by_ip);
  if (hosts) {
    host_ips_ = std::move(host_ips);
    hosts_known_ = true;
  }
}

void LocalEndpoints::read(std::map<IpAddress, Local>* by_ip, std::vector<IpAddress>* host_ips) const {
  std::lock_guard lock(mu_);
  *by_ip = by_ip_;
  *host_ips = host_ips_;
}

// One record per local endpoint the entry passes, as the BPF datapath
// keeps one per hook: egress at a local source pod, ingress at a local
// destination pod. Entries touching no local pod (the node's own
// connections, the agent's API) are left out. Every flow here is a
// Forward: a dropped packet never confirms a conntrack entry.
Status IptablesObserver::flows(std::vector<FlowRecord>* out) const {
  std::vector<ConntrackEntry> entries;
  if (Status s = iptables_conntrack(options_, &entries); !s) return s;
  std::map<IpAddress, LocalEndpoints::Local> by_ip;
  std::vector<IpAddress> hosts;
  view_->read(&by_ip, &hosts);
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

Status IptablesObserver::counters(std::vector<CounterRecord>* out) const {
  std::vector<RuleCounter> rc;
  if (Status s = iptables_counters(options_, &rc); !s) return s;
  out->clear();
  for (const RuleCounter& c : rc) out->push_back(CounterRecord{c.action, c.reason, c.packets, c.bytes});
  return Status::ok();
}

// No maps. The ipsets' sizes would be `ipset list -t` (a process per
// scrape); what they hold follows from the desired state the agent reports
// anyway (bpfence_desired_entries).
Status IptablesObserver::map_fill(std::vector<MapFill>* out) const {
  out->clear();
  return Status::ok();
}

// The conntrack table's capacity (its entries are what flows() returns).
uint64_t IptablesObserver::max_flows() const {
  for (const char* path : {"/proc/sys/net/netfilter/nf_conntrack_max", "/proc/sys/net/nf_conntrack_max"}) {
    std::ifstream in(path);
    uint64_t v = 0;
    if (in >> v) return v;
  }
  return 0;
}

// conntrack ages its entries itself.
Status IptablesObserver::sweep(SweepStats* stats) const {
  *stats = {};
  return Status::ok();
}

}  // namespace bpfence::ipt
