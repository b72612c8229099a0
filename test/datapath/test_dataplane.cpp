// The BPF dataplane's own contract: the flow record, pinning and reuse,
// capacity checks, the pinned-map reader, the sweeper, bind/unbind.
#include <bpf/bpf.h>
#include <net/if.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "bpfence/reasons.h"
#include "cases.h"
#include "cluster.h"
#include "tc_attachment.h"

using namespace bpfence;
using namespace bpfence::testdp;
using namespace bpfence::testpkt;

namespace {
constexpr auto IN = BF_DIR_INGRESS;
constexpr auto OUT = BF_DIR_EGRESS;

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}
}  // namespace

TEST_CASE("the flow table records action, reason, rule, counters, flags and the reverse key", "[flows]") {
  Fixture f;
  add_cluster(f);
  PolicyRule r;
  r.peers = {pod_peer({{"app", "client"}})};
  r.ports = {port(80)};
  f.compiler().upsert(ingress_policy("dev", "web-allow", {{"app", "web"}}, {r}));
  f.commit();

  Pkt p1 = tcp4("10.0.1.11", 40000, "10.0.1.10", 80, kSyn);
  Pkt p2 = tcp4("10.0.1.11", 40000, "10.0.1.10", 80, kAck);
  Pkt p3 = tcp4("10.0.1.11", 40000, "10.0.1.10", 80, kAck | kPsh, 200);
  uint64_t t0 = monotonic_now_ns();
  for (const Pkt* p : {&p1, &p2, &p3}) REQUIRE(f.run(kWeb, IN, p->bytes) == kPass);

  auto v = f.flow(kWeb, IN, "10.0.1.11", "10.0.1.10", 6, 40000, 80);
  REQUIRE(v);
  CHECK(v->action == BF_ACT_FORWARD);
  CHECK(v->reason == BF_R_POLICY);
  CHECK(f.rule(v->rule_id) == "dev/web-allow ingress[0]");
  CHECK(v->packets == 3);
  CHECK(v->bytes == p1.bytes.size() + p2.bytes.size() + p3.bytes.size());
  CHECK(v->tcp_flags == (kSyn | kAck | kPsh));
  CHECK(v->ifindex == static_cast<uint32_t>(f.ifindex(kWeb)));
  CHECK(v->flags == 0);
  CHECK(v->first_seen_ns + 20000000 >= t0);  // the program reads the coarse clock: one tick behind at most
  CHECK(v->last_seen_ns >= v->first_seen_ns);
  bf_flow_key rev = flow_key("10.0.1.10", "10.0.1.11", 6, 80, 40000, OUT, f.endpoint_id(kWeb));
  CHECK(std::memcmp(&v->reverse, &rev, sizeof(rev)) == 0);

  auto back = f.flow(kWeb, OUT, "10.0.1.10", "10.0.1.11", 6, 80, 40000);
  REQUIRE(back);
  CHECK(back->action == BF_ACT_FORWARD);
  CHECK(back->reason == BF_R_REPLY);
  CHECK(back->flags == BF_FLOW_REPLY);
  CHECK(back->generation == v->generation);
  CHECK(back->packets == 0);

  REQUIRE(f.run(kWeb, IN, tcp4("10.0.1.12", 40000, "10.0.1.10", 80).bytes) == kDrop);
  auto d = f.flow(kWeb, IN, "10.0.1.12", "10.0.1.10", 6, 40000, 80);
  REQUIRE(d);
  CHECK(d->action == BF_ACT_DROP);
  CHECK(d->reason == BF_R_FW_POLICY);
  CHECK(d->rule_id == 0);
  CHECK(bf_verdict_short(d->action, d->reason) == "D(FwPolicy)");
  // A drop has no reverse entry.
  CHECK_FALSE(f.flow(kWeb, OUT, "10.0.1.10", "10.0.1.12", 6, 80, 40000));

  SECTION("the pinned-map reader sees the same") {
    PinnedMaps maps;
    REQUIRE(maps.open(f.pin_dir()));
    std::vector<FlowRecord> flows;
    REQUIRE(maps.flows(&flows));
    CHECK(flows.size() == 3);  // allowed flow, its reverse, the drop
    std::vector<EndpointRecord> eps;
    REQUIRE(maps.endpoints(&eps));
    CHECK(eps.size() == 3);  // web, client, other are local
    std::vector<CounterRecord> counters;
    REQUIRE(maps.counters(&counters));
    uint64_t fwpolicy = 0;
    for (const auto& c : counters)
      if (c.action == BF_ACT_DROP && c.reason == BF_R_FW_POLICY) fwpolicy = c.packets;
    CHECK(fwpolicy == 1);
  }

  SECTION("the sweeper ages idle and closed flows") {
    SweepOptions o;
    SweepStats st;
    o.now_ns = monotonic_now_ns() + 11ull * 1000000000;
    REQUIRE(sweep_flows(f.dataplane().map_fd("flows"), o, &st));
    CHECK(st.scanned == 3);
    CHECK(st.deleted == 0);
    // An RST makes the connection closed: 10 s.
    REQUIRE(f.run(kWeb, OUT, tcp4("10.0.1.10", 80, "10.0.1.11", 40000, kRst).bytes) == kPass);
    o.now_ns = monotonic_now_ns() + 5ull * 1000000000;
    REQUIRE(sweep_flows(f.dataplane().map_fd("flows"), o, &st));
    CHECK(st.deleted == 0);  // just seen
    o.now_ns = monotonic_now_ns() + 11ull * 1000000000;
    REQUIRE(sweep_flows(f.dataplane().map_fd("flows"), o, &st));
    CHECK(st.deleted == 2);  // the closed pair; the drop entry has 60 s
    o.now_ns = monotonic_now_ns() + 61ull * 1000000000;
    REQUIRE(sweep_flows(f.dataplane().map_fd("flows"), o, &st));
    CHECK(st.deleted == 1);
  }
}

TEST_CASE("sweeper timeouts", "[flows]") {
  SweepOptions o;
  bf_flow_key tcp{}, udp{};
  tcp.proto = 6;
  udp.proto = 17;
  bf_flow_value v{}, r{};
  v.last_seen_ns = 1000;
  r.last_seen_ns = 1000;
  const uint64_t s = 1000000000;
  CHECK_FALSE(flow_expired(udp, v, nullptr, o, 1000 + 59 * s));
  CHECK(flow_expired(udp, v, nullptr, o, 1000 + 61 * s));
  CHECK_FALSE(flow_expired(tcp, v, nullptr, o, 1000 + 3600 * s));
  CHECK(flow_expired(tcp, v, nullptr, o, 1000 + 7 * 3600 * s));
  // A reply entry that saw nothing lives as long as its busy pair.
  r.last_seen_ns = 1000 + 100 * s;
  CHECK_FALSE(flow_expired(udp, v, &r, o, 1000 + 120 * s));
  // FIN one way: still open; FIN both ways: closed.
  v.tcp_flags = kFin;
  CHECK_FALSE(flow_expired(tcp, v, &r, o, 1000 + 120 * s));
  r.tcp_flags = kFin | kAck;
  CHECK(flow_expired(tcp, v, &r, o, 1000 + 120 * s));
  // Drops age like datagrams.
  bf_flow_value d{};
  d.action = BF_ACT_DROP;
  d.last_seen_ns = 1000;
  CHECK(flow_expired(tcp, d, nullptr, o, 1000 + 61 * s));
}

TEST_CASE("maps are pinned, reused by a restarted dataplane, removed by uninstall", "[pinning]") {
  Fixture f;
  add_cluster(f);
  f.commit();
  for (const char* m : {"endpoints", "pod_addrs", "cidrs", "policy", "range_policy", "flows", "frags", "counters",
                        "events"})
    CHECK(exists(f.pin_dir() + "/" + m));
  REQUIRE(f.run(kWeb, IN, tcp4("10.0.1.11", 40000, "10.0.1.10", 80).bytes) == kPass);
  CHECK(tc_attached_prog_id(f.ifindex(kWeb), BPF_TC_INGRESS) != 0);
  CHECK(tc_attached_prog_id(f.ifindex(kWeb), BPF_TC_EGRESS) != 0);

  uint32_t old_gen = 0;
  {
    PinnedMaps maps;
    REQUIRE(maps.open(f.pin_dir()));
    std::vector<EndpointRecord> eps;
    REQUIRE(maps.endpoints(&eps));
    for (const auto& e : eps) old_gen = std::max(old_gen, e.endpoint.generation);
  }

  // A second agent on the same node: reuses the maps, sees the old endpoints
  // as unclaimed, and its flows survive the handover.
  BpfDataplaneOptions o;
  o.pin_dir = f.pin_dir();
  o.max_flows = 8192;  // a pinned flow table keeps its own size
  {
    BpfDataplane again(o);
    REQUIRE(again.open());
    CHECK(again.reused_pinned_maps());
    CHECK(again.unclaimed_ifindexes().size() == 3);
    REQUIRE(again.apply(StateDiff{}, f.compiler().state()));  // full resync
    REQUIRE(again.bind({kWeb, f.ifindex(kWeb), "web"}, f.compiler().state()));
    CHECK(again.unclaimed_ifindexes().size() == 2);
    PinnedMaps maps;
    REQUIRE(maps.open(f.pin_dir()));
    std::vector<FlowRecord> flows;
    REQUIRE(maps.flows(&flows));
    CHECK(flows.size() == 2);
    std::vector<EndpointRecord> eps;
    REQUIRE(maps.endpoints(&eps));
    for (const auto& e : eps)
      if (e.ifindex == static_cast<uint32_t>(f.ifindex(kWeb))) CHECK(e.endpoint.generation > old_gen);
  }  // `again` exits like an agent: filters stay attached
  CHECK(tc_attached_prog_id(f.ifindex(kWeb), BPF_TC_INGRESS) != 0);

  REQUIRE(f.dataplane().uninstall());
  CHECK_FALSE(exists(f.pin_dir()));
  CHECK(tc_attached_prog_id(f.ifindex(kWeb), BPF_TC_INGRESS) == 0);
  CHECK(tc_attached_prog_id(f.ifindex(kWeb), BPF_TC_EGRESS) == 0);
  CHECK(tc_attached_prog_id(f.ifindex(kClient), BPF_TC_INGRESS) == 0);
}

namespace {

// Pins at `path` a new map of the given layout in place of what is there.
void pin_map(const std::string& path, bpf_map_type type, uint32_t key, uint32_t value, uint32_t max, int* fd) {
  *fd = bpf_map_create(type, nullptr, key, value, max, nullptr);
  REQUIRE(*fd >= 0);
  ::unlink(path.c_str());
  REQUIRE(bpf_obj_pin(*fd, path.c_str()) == 0);
}

// A second dataplane opened on the fixture's pins, as a restarted agent
// opens them (a pinned flow table keeps its own size).
std::unique_ptr<BpfDataplane> reopen(Fixture& f, uint32_t max_flows) {
  BpfDataplaneOptions o;
  o.pin_dir = f.pin_dir();
  o.max_flows = max_flows;
  auto dp = std::make_unique<BpfDataplane>(o);
  REQUIRE(dp->open());
  return dp;
}

uint32_t pinned_value_size(const std::string& path) {
  int fd = bpf_obj_get(path.c_str());
  bpf_map_info info{};
  __u32 len = sizeof(info);
  uint32_t size = fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.value_size : 0;
  if (fd >= 0) ::close(fd);
  return size;
}

}  // namespace

TEST_CASE("an agent upgrade replaces pinned maps of the older layout and carries endpoints and counters over",
          "[pinning]") {
  Fixture f;
  add_cluster(f);
  f.commit();
  Pkt syn = tcp4("10.0.1.11", 40000, "10.0.1.10", 80);
  REQUIRE(f.run(kWeb, IN, syn.bytes) == kPass);

  // What an older agent left: bf_endpoint without its last 4 bytes (48),
  // counters at a stride of 16 (32 entries).
  constexpr uint32_t kOldEndpoint = 48, kOldStride = 16;
  std::map<uint32_t, bf_endpoint> before;
  {
    PinnedMaps maps;
    REQUIRE(maps.open(f.pin_dir()));
    std::vector<EndpointRecord> eps;
    REQUIRE(maps.endpoints(&eps));
    for (const auto& e : eps) before[e.ifindex] = e.endpoint;
  }
  REQUIRE(before.size() == 3);
  int old_ep = -1, old_counters = -1;
  pin_map(f.pin_dir() + "/endpoints", BPF_MAP_TYPE_HASH, 4, kOldEndpoint, BF_MAX_ENDPOINTS, &old_ep);
  for (const auto& [ifindex, e] : before) REQUIRE(bpf_map_update_elem(old_ep, &ifindex, &e, BPF_ANY) == 0);
  pin_map(f.pin_dir() + "/counters", BPF_MAP_TYPE_PERCPU_ARRAY, 4, sizeof(bf_counter), 2 * kOldStride, &old_counters);
  std::vector<bf_counter> per(libbpf_num_possible_cpus());
  per[0] = {5, 500};
  __u32 old_drop = 1 * kOldStride + BF_R_FW_POLICY;
  REQUIRE(bpf_map_update_elem(old_counters, &old_drop, per.data(), BPF_ANY) == 0);
  ::close(old_ep);
  ::close(old_counters);

  auto again_dp = reopen(f, 4096);
  BpfDataplane& again = *again_dp;
  CHECK(pinned_value_size(f.pin_dir() + "/endpoints") == sizeof(bf_endpoint));
  // Ids and generations carried over: pods keep their endpoint ids, and
  // generations keep growing past the cached flows'.
  std::vector<EndpointRecord> adopted = again.adopted_endpoints();
  REQUIRE(adopted.size() == 3);
  for (const auto& e : adopted) {
    CHECK(e.endpoint.endpoint_id == before[e.ifindex].endpoint_id);
    CHECK(e.endpoint.generation == before[e.ifindex].generation);
  }
  CHECK(again.unclaimed_ifindexes().size() == 3);
  {
    PinnedMaps maps;
    REQUIRE(maps.open(f.pin_dir()));
    std::vector<CounterRecord> counters;
    REQUIRE(maps.counters(&counters));
    bool carried = false;
    for (const auto& c : counters)
      if (c.action == BF_ACT_DROP && c.reason == BF_R_FW_POLICY) carried = c.packets == 5 && c.bytes == 500;
    CHECK(carried);
  }

  // The new program takes over the interface; the cached flow is decided
  // again at the new generation, by the new maps.
  REQUIRE(again.apply(StateDiff{}, f.compiler().state()));
  REQUIRE(again.bind({kWeb, f.ifindex(kWeb), "web"}, f.compiler().state()));
  __sk_buff ctx{};
  ctx.ifindex = f.ifindex(kWeb);
  LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = syn.bytes.data(), .data_size_in = static_cast<__u32>(syn.bytes.size()),
              .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);
  REQUIRE(bpf_prog_test_run_opts(again.program_fd(IN), &run) == 0);
  CHECK(run.retval == kPass);
  bf_flow_key k = flow_key("10.0.1.11", "10.0.1.10", 6, 40000, 80, IN, f.endpoint_id(kWeb));
  bf_flow_value v{};
  REQUIRE(bpf_map_lookup_elem(again.map_fd("flows"), &k, &v) == 0);
  CHECK(v.generation > before[f.ifindex(kWeb)].generation);
  CHECK(v.packets == 2);
}

TEST_CASE("a desired state that does not fit is refused before anything is written", "[capacity]") {
  Fixture f;
  add_cluster(f);
  f.commit();
  PinnedMaps maps;
  DesiredState big = f.compiler().state();
  size_t before = big.pod_addrs.size();
  for (uint32_t i = 0; big.pod_addrs.size() <= BF_MAX_POD_ADDRS; ++i)
    big.pod_addrs.emplace(IpAddress::from_v4(0x0b000000 + i), 300);
  PolicyKey pk;
  pk.k.endpoint_id = 1;
  pk.k.peer_identity = 999;
  pk.k.proto = 6;
  big.policy.emplace(pk, 1);
  StateDiff diff;
  for (const auto& [ip, id] : big.pod_addrs) diff.pod_addrs.upsert.emplace_back(ip, id);
  diff.policy.upsert.emplace_back(pk, 1);
  Status s = f.dataplane().apply(diff, big);
  REQUIRE_FALSE(s);
  CHECK(s.message().find("pod_addrs") != std::string::npos);
  // Nothing half-written: neither the addresses nor the policy entry.
  int fd = f.dataplane().map_fd("pod_addrs");
  size_t n = 0;
  bf_addr_key k{}, next{};
  const bf_addr_key* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    ++n;
    k = next;
    prev = &k;
  }
  CHECK(n == before);
  bf_policy_value pv;
  CHECK(bpf_map_lookup_elem(f.dataplane().map_fd("policy"), &pk.k, &pv) != 0);

  // The cluster_policy trie is held to its size the same way.
  DesiredState cnp = f.compiler().state();
  for (uint32_t i = 0; cnp.cluster.size() <= BF_MAX_CNP; ++i) {
    ClusterKey ck;
    ck.k.prefixlen = BF_CNP_PEER_BITS;
    ck.k.endpoint_id = 1;
    ck.k.peer_identity = BF_ID_FIRST_DYNAMIC + i;
    cnp.cluster.emplace(ck, ClusterEntry{});
  }
  StateDiff cnp_diff;
  for (const auto& [ck, e] : cnp.cluster) cnp_diff.cluster.upsert.emplace_back(ck, e);
  Status full = f.dataplane().apply(cnp_diff, cnp);
  REQUIRE_FALSE(full);
  CHECK(full.message().find("cluster_policy") != std::string::npos);
}

TEST_CASE("unbind detaches and removes the endpoint; bind to a new interface moves it", "[bind]") {
  Fixture f;
  add_cluster(f);
  f.commit();
  int old_if = f.ifindex(kOther);
  REQUIRE(f.dataplane().unbind(kOther));
  CHECK(tc_attached_prog_id(old_if, BPF_TC_INGRESS) == 0);
  CHECK(tc_attached_prog_id(old_if, BPF_TC_EGRESS) == 0);
  bf_endpoint e;
  __u32 key = old_if;
  CHECK(bpf_map_lookup_elem(f.dataplane().map_fd("endpoints"), &key, &e) != 0);
  CHECK(f.dataplane().bindings().size() == 2);

  sh("ip link add bfmove type veth peer name bfmovep");
  int new_if = static_cast<int>(if_nametoindex("bfmove"));
  REQUIRE(f.dataplane().bind({kWeb, new_if, "bfmove"}, f.compiler().state()));
  CHECK(tc_attached_prog_id(new_if, BPF_TC_INGRESS) != 0);
  CHECK(tc_attached_prog_id(f.ifindex(kWeb), BPF_TC_INGRESS) == 0);  // the old one was unbound
  Status s = f.dataplane().bind({"dev/nope", new_if, "x"}, f.compiler().state());
  CHECK_FALSE(s);
  CHECK(s.message().find("dev/nope") != std::string::npos);
  sh("ip link del bfmove");
}

TEST_CASE("reason names", "[names]") {
  CHECK(std::string(bf_reason_name(BF_R_FW_POLICY)) == "FwPolicy");
  CHECK(std::string(bf_reason_name(BF_R_INVALID)) == "Invalid");
  CHECK(bf_reason_from_name("FragUnknown") == BF_R_FRAG_UNKNOWN);
  CHECK(bf_verdict_short(BF_ACT_FORWARD, BF_R_POLICY) == "F");
  for (uint8_t r = 0; r <= BF_R_UNKNOWN_EP; ++r) CHECK(std::string(bf_reason_name(r)) != "Unknown");
}

namespace {

// The endpoint_slots value of an ifindex (0: none).
uint64_t slot_of(const std::string& pin_dir, int ifindex) {
  int fd = bpf_obj_get((pin_dir + "/endpoint_slots").c_str());
  REQUIRE(fd >= 0);
  __u32 key = static_cast<__u32>(ifindex);
  __u64 v = 0;
  REQUIRE(bpf_map_lookup_elem(fd, &key, &v) == 0);
  ::close(fd);
  return v;
}

bf_endpoint endpoint_entry(Fixture& f, const std::string& pod) {
  __u32 key = static_cast<__u32>(f.ifindex(pod));
  bf_endpoint e{};
  REQUIRE(bpf_map_lookup_elem(f.dataplane().map_fd("endpoints"), &key, &e) == 0);
  return e;
}

}  // namespace

TEST_CASE("a hit reads the endpoint's slot, which follows its entry; an ifindex past the slots reads the entry",
          "[slots]") {
  // dev/other on an interface whose ifindex has no slot (a node past
  // BF_ENDPOINT_SLOTS veth creations); dev/web on an ordinary one.
  const std::string big = "bfslot" + std::to_string(::getpid() % 100000);
  const int big_index = BF_ENDPOINT_SLOTS + 7;
  sh("ip link add " + big + " index " + std::to_string(big_index) + " type veth peer name " + big + "p");
  struct LinkGone {
    std::string name;
    ~LinkGone() { std::system(("ip link del " + name + " 2>/dev/null").c_str()); }
  } gone{big};
  Fixture f;
  f.use_interface(kOther, big);
  add_cluster(f);
  auto allow_client_on = [&](uint16_t p) {
    PolicyRule r;
    r.peers = {pod_peer({{"app", "client"}})};
    r.ports = {port(p)};
    f.compiler().upsert(ingress_policy("dev", "web-allow", {{"app", "web"}}, {r}));
    f.compiler().upsert(ingress_policy("dev", "other-allow", {{"app", "other"}}, {r}));
    f.commit();
  };
  allow_client_on(80);
  REQUIRE(f.ifindex(kOther) == big_index);

  bf_endpoint web = endpoint_entry(f, kWeb);
  CHECK(slot_of(f.pin_dir(), f.ifindex(kWeb)) == BF_SLOT(web.endpoint_id, web.generation));

  struct Case {
    const char* pod;
    const char* ip;
  };
  for (Case c : {Case{kWeb, "10.0.1.10"}, Case{kOther, "10.0.1.12"}}) {
    INFO(c.pod);
    Pkt syn = tcp4("10.0.1.11", 40000, c.ip, 80, kSyn);
    Pkt ack = tcp4("10.0.1.11", 40000, c.ip, 80, kAck);
    CHECK(f.run(c.pod, IN, syn.bytes) == kPass);
    CHECK(f.run(c.pod, IN, ack.bytes) == kPass);  // a hit
    CHECK(f.run(c.pod, IN, tcp4("10.0.1.11", 40001, c.ip, 81, kSyn).bytes) == kDrop);
    auto v = f.flow(c.pod, IN, "10.0.1.11", c.ip, 6, 40000, 80);
    REQUIRE(v);
    CHECK(v->packets == 2);
    CHECK(v->bytes == syn.bytes.size() + ack.bytes.size());
  }

  // A policy change gives both endpoints a new generation: the established
  // flow's next packet is decided again, and dropped, slot or not.
  allow_client_on(443);
  bf_endpoint web2 = endpoint_entry(f, kWeb);
  REQUIRE(web2.generation != web.generation);
  CHECK(slot_of(f.pin_dir(), f.ifindex(kWeb)) == BF_SLOT(web2.endpoint_id, web2.generation));
  CHECK(f.run(kWeb, IN, tcp4("10.0.1.11", 40000, "10.0.1.10", 80, kAck).bytes) == kDrop);
  CHECK(f.run(kOther, IN, tcp4("10.0.1.11", 40000, "10.0.1.12", 80, kAck).bytes) == kDrop);

  // A slot another agent left stale (one without slots wrote the entry
  // since) is not trusted by a restarted dataplane: it rebuilds them all.
  {
    int fd = bpf_obj_get((f.pin_dir() + "/endpoint_slots").c_str());
    REQUIRE(fd >= 0);
    __u32 key = static_cast<__u32>(f.ifindex(kWeb));
    __u64 stale = BF_SLOT(web.endpoint_id, web.generation);
    REQUIRE(bpf_map_update_elem(fd, &key, &stale, BPF_ANY) == 0);
    ::close(fd);
    auto again = reopen(f, 8192);
    CHECK(slot_of(f.pin_dir(), f.ifindex(kWeb)) == BF_SLOT(web2.endpoint_id, web2.generation));
  }

  // A slot never outlives its entry.
  int web_if = f.ifindex(kWeb);
  REQUIRE(f.dataplane().unbind(kWeb));
  CHECK(slot_of(f.pin_dir(), web_if) == 0);
}
