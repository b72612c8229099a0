// The datapath test fixture (see fixture.h).
#include "fixture.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <stdexcept>

namespace bpfence::testdp {

void enter_private_netns() {
  static bool done = false;
  if (done) return;
  if (unshare(CLONE_NEWNET) != 0) throw std::runtime_error("unshare(CLONE_NEWNET) failed");
  sh("ip link set lo up");
  done = true;
}

void sh(const std::string& cmd) {
  int rc = std::system((cmd + " >/dev/null 2>&1").c_str());
  if (rc != 0) throw std::runtime_error("command failed (" + std::to_string(rc) + "): " + cmd);
}

Namespace make_ns(const std::string& name, Labels labels) {
  labels["kubernetes.io/metadata.name"] = name;
  return Namespace{name, labels, "1"};
}

Pod make_pod(const std::string& ns, const std::string& name, Labels labels, std::vector<std::string> ips,
             const std::string& node, std::vector<ContainerPort> ports) {
  Pod p;
  p.namespace_ = ns;
  p.name = name;
  p.labels = std::move(labels);
  p.node_name = node;
  for (const auto& ip : ips) {
    auto a = IpAddress::parse(ip);
    if (!a) throw std::invalid_argument("bad ip " + ip);
    p.ips.push_back(*a);
  }
  p.ports = std::move(ports);
  p.resource_version = "1";
  return p;
}

LabelSelector sel(Labels labels) { return LabelSelector{std::move(labels), {}}; }

PolicyPeer pod_peer(Labels labels) {
  PolicyPeer p;
  p.pod_selector = sel(std::move(labels));
  return p;
}

PolicyPeer ns_peer(Labels labels) {
  PolicyPeer p;
  p.namespace_selector = sel(std::move(labels));
  return p;
}

PolicyPeer cidr_peer(const std::string& cidr, std::vector<std::string> except) {
  PolicyPeer p;
  IpBlock b;
  b.cidr = *Prefix::parse(cidr);
  for (const auto& e : except) b.except.push_back(*Prefix::parse(e));
  p.ip_block = b;
  return p;
}

PolicyPort port(uint16_t p, Protocol proto, std::optional<uint16_t> end) {
  PolicyPort pp;
  pp.protocol = proto;
  pp.port = p;
  pp.end_port = end;
  return pp;
}

PolicyPort named_port(const std::string& name, Protocol proto) {
  PolicyPort pp;
  pp.protocol = proto;
  pp.port_name = name;
  return pp;
}

NetworkPolicy ingress_policy(const std::string& ns, const std::string& name, Labels selector,
                             std::vector<PolicyRule> rules) {
  NetworkPolicy p;
  p.namespace_ = ns;
  p.name = name;
  p.pod_selector = sel(std::move(selector));
  p.policy_types = {"Ingress"};
  p.ingress = std::move(rules);
  p.resource_version = "1";
  return p;
}

NetworkPolicy egress_policy(const std::string& ns, const std::string& name, Labels selector,
                            std::vector<PolicyRule> rules) {
  NetworkPolicy p;
  p.namespace_ = ns;
  p.name = name;
  p.pod_selector = sel(std::move(selector));
  p.policy_types = {"Egress"};
  p.egress = std::move(rules);
  p.egress_present = true;
  p.resource_version = "1";
  return p;
}

namespace {

CompileOptions options_for(const std::vector<std::string>& host_ips) {
  CompileOptions o;
  o.node = "n1";
  for (const auto& h : host_ips) o.host_ips.push_back(*IpAddress::parse(h));
  return o;
}

std::atomic<int> fixture_count{0};

}  // namespace

Fixture::Fixture(std::vector<std::string> host_ips) : compiler_(options_for(host_ips)) {
  enter_private_netns();
  pin_dir_ = "/sys/fs/bpf/bpfence-test-" + std::to_string(::getpid()) + "-" + std::to_string(fixture_count++);
  BpfDataplaneOptions o;
  o.pin_dir = pin_dir_;
  o.max_flows = 4096;
  dp_ = std::make_unique<BpfDataplane>(o);
  if (Status s = dp_->open(); !s) throw std::runtime_error(s.message());
}

Fixture::~Fixture() {
  if (dp_) (void)dp_->uninstall();
  for (const auto& [pod, ifindex] : ifindex_) {
    char name[IF_NAMESIZE];
    if (if_indextoname(ifindex, name)) std::system((std::string("ip link del ") + name + " 2>/dev/null").c_str());
  }
}

void Fixture::add_cnp(const CnpEntry& e) {
  ClusterKey k;
  k.k.prefixlen = e.proto == 0 ? BF_CNP_PEER_BITS : BF_CNP_FIXED_BITS + e.port_bits;
  k.k.endpoint_id = endpoint_id(e.pod);
  k.k.peer_identity = e.peer;
  if (!e.cidr.empty()) {
    auto p = Prefix::parse(e.cidr);
    if (!p) throw std::invalid_argument("bad cidr " + e.cidr);
    // Above the compiler's CIDR identities (from 2^24), which it never reaches here.
    auto [it, added] = cnp_cidrs_.emplace(*p, 0x70000000u + static_cast<uint32_t>(cnp_cidrs_.size()));
    k.k.peer_identity = it->second;
  }
  k.k.direction = e.dir;
  k.k.tier = e.tier;
  k.k.proto = e.proto;
  k.k.port = htons(e.port_bits ? static_cast<uint16_t>(e.port & (0xffff << (16 - e.port_bits))) : 0);
  auto [rid, fresh] = cnp_rule_ids_.emplace(e.rule, BF_CNP_RULE_FIRST + static_cast<uint32_t>(cnp_rule_ids_.size()));
  ClusterEntry v;
  v.rank = e.rank;
  v.rule_id = rid->second;
  v.action = e.rule.action == CnpAction::Accept ? BF_CNP_ACCEPT
             : e.rule.action == CnpAction::Deny ? BF_CNP_DENY
                                                : BF_CNP_PASS;
  cnp_[k] = {v, e.rule};
}

void Fixture::clear_cnp() { cnp_.clear(); }

uint32_t Fixture::identity_of(const std::string& ip) const {
  auto it = state_.pod_addrs.find(*IpAddress::parse(ip));
  if (it == state_.pod_addrs.end()) throw std::invalid_argument("no identity for " + ip);
  return it->second;
}

void Fixture::commit() {
  StateDiff diff = compiler_.commit();
  DesiredState next = compiler_.state();
  // The hand-written cluster_policy entries, their rules, the stage bits
  // and the CIDR identities they name, as the compiler will emit them.
  for (const auto& [k, entry] : cnp_) {
    next.cluster[k] = entry.first;
    next.cluster_rules[entry.first.rule_id] = entry.second;
    for (auto& [pod, es] : next.endpoints)
      if (es.endpoint_id == k.k.endpoint_id) es.cnp_stages |= BF_CNP_STAGE(k.k.direction, k.k.tier);
  }
  for (const auto& [p, id] : cnp_cidrs_) next.cidrs.emplace(p, id);
  diff.cluster = {};
  for (const auto& [k, e] : next.cluster) {
    auto old = state_.cluster.find(k);
    if (old == state_.cluster.end() || !(old->second == e)) diff.cluster.upsert.emplace_back(k, e);
  }
  for (const auto& [k, e] : state_.cluster)
    if (!next.cluster.count(k)) diff.cluster.erase.push_back(k);
  for (const auto& [p, id] : next.cidrs)
    if (!state_.cidrs.count(p) && !compiler_.state().cidrs.count(p)) diff.cidrs.upsert.emplace_back(p, id);
  for (const auto& [pod, es] : next.endpoints) {
    auto old = state_.endpoints.find(pod);
    if (old == state_.endpoints.end() || old->second.cnp_stages != es.cnp_stages) diff.touched_endpoints.insert(pod);
  }
  if (!diff.cluster.empty()) 
    for (const auto& [pod, es] : next.endpoints) diff.touched_endpoints.insert(pod);
  state_ = std::move(next);
  if (Status s = dp_->apply(diff, state_); !s) throw std::runtime_error("apply: " + s.message());
  for (const auto& [pod, es] : state_.endpoints) {
    if (ifindex_.count(pod)) continue;
    std::string name;
    if (auto pre = preset_.find(pod); pre != preset_.end()) {
      name = pre->second;
    } else {
      name = "bft" + std::to_string(next_link_++);
      sh("ip link add " + name + " type veth peer name " + name + "p");  // no dummy module on every kernel
    }
    int ifindex = static_cast<int>(if_nametoindex(name.c_str()));
    ifindex_[pod] = ifindex;
    if (Status s = dp_->bind({pod, ifindex, name}, state_); !s)
      throw std::runtime_error("bind: " + s.message());
  }
}

int Fixture::ifindex(const std::string& pod) const {
  auto it = ifindex_.find(pod);
  if (it == ifindex_.end()) throw std::invalid_argument("pod " + pod + " is not bound");
  return it->second;
}

uint32_t Fixture::endpoint_id(const std::string& pod) const { return state_.endpoints.at(pod).endpoint_id; }

int Fixture::run(const std::string& pod, bf_direction dir, const testpkt::Bytes& pkt) {
  __sk_buff ctx{};
  ctx.ifindex = ifindex(pod);
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt.data(), .data_size_in = static_cast<__u32>(pkt.size()),
              .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);
  if (int rc = bpf_prog_test_run_opts(dp_->program_fd(dir), &opts))
    throw std::runtime_error("BPF_PROG_TEST_RUN: " + std::to_string(rc));
  return static_cast<int>(opts.retval);
}

bf_flow_key flow_key(const std::string& src, const std::string& dst, uint8_t proto, uint16_t sport,
                     uint16_t dport, bf_direction dir, uint32_t endpoint_id) {
  bf_flow_key k{};
  auto s = IpAddress::parse(src), d = IpAddress::parse(dst);
  if (!s || !d) throw std::invalid_argument("flow_key address");
  std::copy(s->bytes.begin(), s->bytes.end(), k.src);
  std::copy(d->bytes.begin(), d->bytes.end(), k.dst);
  k.sport = htons(sport);
  k.dport = htons(dport);
  k.proto = proto;
  k.direction = dir;
  k.endpoint_id = endpoint_id;
  return k;
}

std::optional<bf_flow_value> Fixture::flow(const std::string& pod, bf_direction dir, const std::string& src,
                                           const std::string& dst, uint8_t proto, uint16_t sport,
                                           uint16_t dport) const {
  bf_flow_key k = flow_key(src, dst, proto, sport, dport, dir, endpoint_id(pod));
  bf_flow_value v{};
  if (bpf_map_lookup_elem(dp_->map_fd("flows"), &k, &v)) return std::nullopt;
  return v;
}

std::string Fixture::rule(uint32_t rule_id) const {
  if (!rule_id) return "";
  if (rule_id >= BF_CNP_RULE_FIRST) {
    auto it = state_.cluster_rules.find(rule_id);
    return it == state_.cluster_rules.end() ? "?" : it->second.str();
  }
  auto it = state_.rules.find(rule_id);
  return it == state_.rules.end() ? "?" : it->second.str();
}

bf_counter Fixture::counter(bf_action action, bf_reason reason) const {
  int ncpu = libbpf_num_possible_cpus();
  std::vector<bf_counter> per(ncpu);
  __u32 idx = static_cast<__u32>(action) * BF_R_MAX + static_cast<__u32>(reason);
  bf_counter sum{};
  if (bpf_map_lookup_elem(dp_->map_fd("counters"), &idx, per.data()) == 0)
    for (const auto& c : per) {
      sum.packets += c.packets;
      sum.bytes += c.bytes;
    }
  return sum;
}

}  // namespace bpfence::testdp
