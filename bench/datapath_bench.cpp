// Datapath benchmark: ns per packet of bpf/policy.bpf.c measured with
// BPF_PROG_TEST_RUN (the kernel runs the program `repeat` times on one
// packet and reports the mean), against an empty TC program as the floor,
// and against a reference program that only parses the packet the same way
// and looks its flow key up once (bpf/bench_min.bpf.c): the least a hit can
// cost; and one lookup of a fixed key with no parse at all, the least any
// design keeping per-flow state in a kernel hash map can cost.
//
//   hit         the flow is in the table at the endpoint's generation
//   hit/ref     hit over the reference program, the two measured in
//               alternation (median of the pairs: the load moves less)
//   miss/allow  no flow entry, decided by policy, allowed by the first
//               lookup (pod identity, exact port)
//   miss/deny   no flow entry, every lookup made (pod identity, CIDR
//               identity and ANY, each exact port / any port / any protocol
//               / port range LPM), then dropped (counter + ring-buffer event)
//
// A miss is measured with the program loaded with record_flows = 0, so the
// repeated packet never becomes a hit; the flow insert it skips costs the
// same whatever the policy count. The real first packet, insert of the flow
// and its reverse included, is measured too ("first+insert"): 20,000
// distinct tuples, one run each (repeat 1: the kernel then times a single
// run, so the figure carries its timer overhead, shown by the floor at
// repeat 1, and cold caches after the syscall; "first/noins" is the same
// with record_flows = 0, so the difference is the cost of the two inserts). Maps are filled with synthetic entries of
// the sizes named (N policies = N rule entries on the endpoint plus N/10
// CIDR prefixes and N/10 port-range prefixes; M identities = M pod
// addresses, each its own identity). The endpoint entry is written
// directly for ifindex 1, the device BPF_PROG_TEST_RUN uses by default.
//
// --cnp measures the ClusterNetworkPolicy stages instead (see
// measure_cluster_policy()): first packet at 1,000 policies plus 0, 10 and
// 200 ClusterNetworkPolicies selecting the endpoint, and the hit.
//
// --first splits the first packet into its parts (measure_first_packet_parts()).
//
// --stats-cost measures what the kernel's BPF run statistics add per run
// (measure_stats_cost()).
//
// Usage: datapath_bench [--repeat N] [--runs R] [--json path] [--only P:I,...] [--cnp] [--first] [--stats-cost]
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench_empty.skel.h"
#include "bench_min.skel.h"
#include "bpfence/bpf_dataplane.h"
#include "packets.h"
#include "provenance.h"

using namespace bpfence;
using namespace bpfence::testpkt;

namespace {

constexpr uint32_t kEndpoint = 1;
constexpr uint32_t kEndpointIdentity = BF_ID_FIRST_DYNAMIC;
constexpr uint32_t kClientIdentity = BF_ID_FIRST_DYNAMIC + 1;
constexpr uint32_t kFirstPodIdentity = BF_ID_FIRST_DYNAMIC + 2;

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

// Mean ns per run over `repeat` runs; the median of `runs` such means.
double measure(int prog_fd, const Bytes& pkt, uint32_t repeat, int runs) {
  std::vector<double> means;
  for (int r = 0; r < runs; ++r) {
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt.data(), .data_size_in = static_cast<__u32>(pkt.size()),
                .repeat = static_cast<int>(repeat));
    if (int rc = bpf_prog_test_run_opts(prog_fd, &opts)) {
      std::fprintf(stderr, "BPF_PROG_TEST_RUN failed: %d\n", rc);
      std::exit(1);
    }
    means.push_back(opts.duration);
  }
  std::sort(means.begin(), means.end());
  return means[means.size() / 2];
}

// Mean ns of single runs over `count` packets that differ in source port.
double measure_first_packets(int prog_fd, const std::string& src, const std::string& dst, uint16_t dport,
                             int count, uint16_t first_sport = 10000) {
  double total = 0;
  for (int i = 0; i < count; ++i) {
    Bytes pkt = eth4(ipv4(src, dst, 6, tcp(static_cast<uint16_t>(first_sport + i), dport)));
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt.data(), .data_size_in = static_cast<__u32>(pkt.size()),
                .repeat = 1);
    if (bpf_prog_test_run_opts(prog_fd, &opts)) std::exit(1);
    total += opts.duration;
  }
  return total / count;
}

int run_once(int prog_fd, const Bytes& pkt) {
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt.data(), .data_size_in = static_cast<__u32>(pkt.size()),
              .repeat = 1);
  if (bpf_prog_test_run_opts(prog_fd, &opts)) return -1;
  return static_cast<int>(opts.retval);
}

DesiredState synthetic_state(uint32_t policies, uint32_t identities) {
  DesiredState s;
  EndpointState ep;
  ep.pod = "bench/server";
  ep.endpoint_id = kEndpoint;
  ep.identity = kEndpointIdentity;
  ep.ips = {ip("10.0.1.10"), ip("fd00::10")};
  // It may also send from 10.9.0.0/16 (the source check's one LPM lookup).
  ep.source_prefixes = {*Prefix::parse("10.9.0.0/16")};
  ep.ingress_isolated = true;
  s.endpoints[ep.pod] = ep;
  s.pod_addrs[ip("10.0.1.10")] = kEndpointIdentity;
  s.pod_addrs[ip("10.0.1.11")] = kClientIdentity;
  for (uint32_t i = 0; i < identities; ++i) s.pod_addrs[IpAddress::from_v4(0x0a400000 + i)] = kFirstPodIdentity + i;
  // The client: allowed on 80/TCP by its pod identity.
  PolicyKey allow;
  allow.k = {kEndpoint, kClientIdentity, BF_DIR_INGRESS, 6, htons(80)};
  s.policy[allow] = 1;
  // Every address in 10/8 has a CIDR identity too, so misses look it up.
  s.cidrs[*Prefix::parse("10.0.0.0/8")] = 100;
  for (uint32_t i = 1; i < policies; ++i) {
    PolicyKey k;
    k.k = {kEndpoint, kFirstPodIdentity + (i % std::max(identities, 1u)), BF_DIR_INGRESS, 6,
           htons(static_cast<uint16_t>(1000 + i % 50000))};
    s.policy[k] = i + 1;
    if (i % 10 == 0) {
      Prefix p{IpAddress::from_v4(0xac000000 + (i << 8)), 120};  // 172.x.y.0/24
      s.cidrs[p] = 200 + i;
      RangeKey r;
      r.k = {BF_RANGE_FIXED_BITS + 8, kEndpoint, kFirstPodIdentity + (i % std::max(identities, 1u)),
             BF_DIR_INGRESS, 6, htons(static_cast<uint16_t>((i % 200) << 8))};
      s.ranges[r] = i + 1;
    }
  }
  // As the compiler marks it: range entries name pod identities only.
  ep.has_ranges = s.ranges.empty() ? 0 : 1 | BF_RANGES_NONE(BF_DIR_INGRESS, BF_PEER_CIDR) |
                                             BF_RANGES_NONE(BF_DIR_INGRESS, BF_PEER_ANY);
  s.endpoints[ep.pod] = ep;
  return s;
}

StateDiff full_diff(const DesiredState& s) {
  StateDiff d;
  for (const auto& [k, v] : s.pod_addrs) d.pod_addrs.upsert.emplace_back(k, v);
  for (const auto& [k, v] : s.cidrs) d.cidrs.upsert.emplace_back(k, v);
  for (const auto& [k, v] : s.policy) d.policy.upsert.emplace_back(k, v);
  for (const auto& [k, v] : s.ranges) d.ranges.upsert.emplace_back(k, v);
  for (const auto& [k, v] : s.cluster) d.cluster.upsert.emplace_back(k, v);
  return d;
}

struct Loaded {
  std::unique_ptr<BpfDataplane> dp;
  int prog = -1;
};

Loaded load(const std::string& pin_dir, bool record, const DesiredState& s, bool check_source = true,
            bool trace_new_flows = false) {
  BpfDataplaneOptions o;
  o.pin_dir = pin_dir;
  o.record_flows = record;
  o.check_source = check_source;
  o.trace_new_flows = trace_new_flows;
  Loaded l;
  l.dp = std::make_unique<BpfDataplane>(o);
  Status st = l.dp->open();
  if (st) st = l.dp->apply(full_diff(s), s);
  if (!st) {
    std::fprintf(stderr, "bench: %s\n", st.message().c_str());
    std::exit(1);
  }
  // The endpoint, for ifindex 1 (what BPF_PROG_TEST_RUN runs on).
  const EndpointState& es = s.endpoints.begin()->second;
  bf_endpoint e{};
  e.endpoint_id = es.endpoint_id;
  e.identity = es.identity;
  e.generation = 1;
  e.ingress_isolated = 1;
  e.has_ranges = es.has_ranges;
  e.cnp_stages = es.cnp_stages;
  std::copy(es.ips[0].bytes.begin(), es.ips[0].bytes.end(), e.ip4);
  std::copy(es.ips[1].bytes.begin(), es.ips[1].bytes.end(), e.ip6);
  __u32 ifindex = 1;
  // Its slot too, as the agent writes it: a hit reads the slot.
  __u64 slot = BF_SLOT(e.endpoint_id, e.generation);
  if (bpf_map_update_elem(l.dp->map_fd("endpoints"), &ifindex, &e, BPF_ANY) ||
      bpf_map_update_elem(l.dp->map_fd("endpoint_slots"), &ifindex, &slot, BPF_ANY)) {
    std::perror("bench: endpoint");
    std::exit(1);
  }
  l.prog = l.dp->program_fd(BF_DIR_INGRESS);
  return l;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The source check of from_pod (what the pod sends), on the first packet of
// a flow and on a flow-table hit, with the check loaded on and off (the
// benchmark-only load-time switch), measured in alternation: median of
// `runs` pairs. The endpoint's egress is not isolated, so a first packet is
// the check, the host lookup and the not-isolated verdict.
nlohmann::json measure_source_check(const std::string& base, const DesiredState& s, uint32_t repeat, int runs) {
  Loaded on_rec = load(base + "-src-on-rec", true, s, true);
  Loaded off_rec = load(base + "-src-off-rec", true, s, false);
  Loaded on = load(base + "-src-on", false, s, true);
  Loaded off = load(base + "-src-off", false, s, false);
  for (Loaded* l : {&on_rec, &off_rec, &on, &off}) l->prog = l->dp->program_fd(BF_DIR_EGRESS);
  const Bytes own = eth4(ipv4("10.0.1.10", "10.0.3.30", 6, tcp(40000, 443)));
  const Bytes prefix = eth4(ipv4("10.9.1.1", "10.0.3.30", 6, tcp(40000, 443)));
  const Bytes spoofed = eth4(ipv4("10.0.1.11", "10.0.3.30", 6, tcp(40000, 443)));
  if (run_once(on.prog, own) != 0 || run_once(on.prog, prefix) != 0 || run_once(on.prog, spoofed) != 2 ||
      run_once(off.prog, spoofed) != 0 || run_once(on_rec.prog, own) != 0 || run_once(off_rec.prog, own) != 0) {
    std::fprintf(stderr, "bench: unexpected source-check verdicts\n");
    std::exit(1);
  }
  struct Row {
    const char* name;
    const Loaded *a, *b;
    const Bytes* pkt;
    std::vector<double> on, off;
  };
  std::vector<Row> rows = {{"hit, own source", &on_rec, &off_rec, &own, {}, {}},
                           {"first packet, own source", &on, &off, &own, {}, {}},
                           {"first packet, annotated prefix", &on, &off, &prefix, {}, {}},
                           {"first packet, spoofed (dropped)", &on, &off, &spoofed, {}, {}}};
  for (int r = 0; r < runs; ++r)
    for (Row& row : rows) {
      row.on.push_back(measure(row.a->prog, *row.pkt, repeat, 1));
      row.off.push_back(measure(row.b->prog, *row.pkt, repeat, 1));
    }
  nlohmann::json out = nlohmann::json::array();
  std::printf("\nsource check (from_pod), ns/packet, check on / off, median of %d interleaved pairs:\n", runs);
  for (const Row& row : rows) {
    double a = median(row.on), b = median(row.off);
    std::printf("  %-34s %8.1f / %8.1f  (%+.1f)%s\n", row.name, a, b, a - b,
                row.pkt == &spoofed ? "  off: forwarded, not isolated" : "");
    out.push_back({{"case", row.name}, {"check_on_ns", a}, {"check_off_ns", b}});
  }
  for (Loaded* l : {&on_rec, &off_rec, &on, &off}) (void)l->dp->uninstall();
  return out;
}

// Where a first packet's time goes: the same allowed first packet (to_pod,
// 1,000 policies / 10,000 identities) through the empty program (the
// floor of a single timed run), the decision alone (record_flows = 0), the
// decision with the flow and reverse entries inserted (what the agent
// loads), and that with a new-flow event (trace_new_flows) drained by a
// reader that is always caught up, so every event pays the reader's wakeup
// as it does at a low event rate. Each of `rounds` rounds measures every
// case in turn on `per_round` packets of fresh tuples (single runs:
// repeat 1, cold caches after the syscall); medians of the round means.
nlohmann::json measure_first_packet_parts(const std::string& base, int rounds, int per_round) {
  DesiredState s = synthetic_state(1000, 10000);
  Loaded decide = load(base + "-first-decide", false, s);
  Loaded insert = load(base + "-first-insert", true, s);
  Loaded traced = load(base + "-first-traced", true, s, true, true);
  bench_empty_bpf* empty = bench_empty_bpf::open_and_load();
  if (!empty) {
    std::fprintf(stderr, "bench: load empty program\n");
    std::exit(1);
  }
  ring_buffer* reader = ring_buffer__new(
      traced.dp->map_fd("events"), [](void*, void*, size_t) { return 0; }, nullptr, nullptr);
  if (!reader) {
    std::fprintf(stderr, "bench: ring buffer reader\n");
    std::exit(1);
  }
  struct Case {
    const char* name;
    int prog;
    bool drain;
    std::vector<double> ns;
  };
  std::vector<Case> cases = {{"empty program", bpf_program__fd(empty->progs.empty), false, {}},
                             {"decision only", decide.prog, false, {}},
                             {"decision + flow inserts", insert.prog, false, {}},
                             {"+ new-flow event", traced.prog, true, {}}};
  for (int r = 0; r < rounds; ++r)
    for (Case& c : cases) {
      double total = 0;
      for (int i = 0; i < per_round; ++i) {
        // A tuple no earlier packet of this load used: source port and
        // destination address vary (the destination is the endpoint's
        // own address in every case; only the source is the peer).
        uint32_t n = static_cast<uint32_t>(r) * per_round + i;
        Bytes pkt = eth4(ipv4("10.0.1.11", "10.0.1.10", 6, tcp(static_cast<uint16_t>(1024 + n % 60000), 80)));
        if (n >= 60000) {
          std::fprintf(stderr, "bench: --first needs rounds * packets < 60000\n");
          std::exit(2);
        }
        LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt.data(), .data_size_in = static_cast<__u32>(pkt.size()),
                    .repeat = 1);
        if (bpf_prog_test_run_opts(c.prog, &opts) || (c.prog != cases[0].prog && opts.retval != 0)) {
          std::fprintf(stderr, "bench: %s: not forwarded\n", c.name);
          std::exit(1);
        }
        total += opts.duration;
        if (c.drain) ring_buffer__consume(reader);
      }
      c.ns.push_back(total / per_round);
    }
  nlohmann::json out = nlohmann::json::array();
  std::printf("first packet (to_pod, allowed, 1000 policies, 10000 identities), ns, single runs, median of %d "
              "rounds of %d packets:\n",
              rounds, per_round);
  double prev = 0;
  for (const Case& c : cases) {
    double m = median(c.ns);
    std::printf("  %-26s %8.1f  (%+.1f)\n", c.name, m, prev ? m - prev : 0.0);
    out.push_back({{"case", c.name}, {"ns", m}, {"rounds_ns", c.ns}});
    prev = m;
  }
  ring_buffer__free(reader);
  bench_empty_bpf::destroy(empty);
  for (Loaded* l : {&decide, &insert, &traced}) (void)l->dp->uninstall();
  return out;
}

// `count` ClusterNetworkPolicies of the Admin tier selecting the endpoint,
// added to `s` as the compiler emits them. Policy i has three ingress
// rules, none of which decides the measured packets (so the stage's every
// lookup is made and evaluation goes on to the NetworkPolicy step, the
// longest path): Deny from a pod identity on 5000+i/TCP, Accept from every
// pod on 20000+10i..+9/TCP (port prefixes), Deny from 10/8 on 6000+i/UDP.
// The last policy also Passes every pod on every protocol. Entries share
// the endpoint, direction, tier and peer identities of the lookups, so the
// trie walks are as deep as such entries make them.
void add_cluster_policies(DesiredState& s, uint32_t count, uint32_t identities) {
  EndpointState& ep = s.endpoints.begin()->second;
  auto entry = [&](uint32_t peer, uint8_t proto, uint16_t port, uint8_t bits, uint32_t rank, uint8_t action) {
    ClusterKey k;
    k.k.prefixlen = proto == 0 ? BF_CNP_PEER_BITS : BF_CNP_FIXED_BITS + bits;
    k.k.endpoint_id = ep.endpoint_id;
    k.k.peer_identity = peer;
    k.k.direction = BF_DIR_INGRESS;
    k.k.tier = BF_TIER_ADMIN;
    k.k.proto = proto;
    k.k.port = htons(port);
    s.cluster[k] = ClusterEntry{rank, BF_CNP_RULE_FIRST + rank, action};
  };
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t rank = i << 16;
    entry(kFirstPodIdentity + (i * 7) % std::max(identities, 1u), 6, static_cast<uint16_t>(5000 + i), 16, rank,
          BF_CNP_DENY);
    for (auto [value, bits] : port_range_prefixes(static_cast<uint16_t>(20000 + 10 * i),
                                                  static_cast<uint16_t>(20009 + 10 * i)))
      entry(BF_ID_ANY_POD, 6, value, bits, rank | 1, BF_CNP_ACCEPT);
    entry(100, 17, static_cast<uint16_t>(6000 + i), 16, rank | 2, BF_CNP_DENY);
    if (i + 1 == count) entry(BF_ID_ANY_POD, 0, 0, 0, rank | 3, BF_CNP_PASS);
  }
  if (count) ep.cnp_stages = BF_CNP_STAGE(BF_DIR_INGRESS, BF_TIER_ADMIN);
}

// First packet (allowed and denied by the NetworkPolicy step after the
// Admin stage) and flow-table hit at 1,000 policies / 10,000 identities
// with 0, 10 and 200 ClusterNetworkPolicies, every case of every count
// measured in turn within each of `runs` rounds (the machine's load moves
// all of them alike), medians per case, ratios to the 0 count.
nlohmann::json measure_cluster_policy(const std::string& base, uint32_t repeat, int runs, const Bytes& allowed,
                                      const Bytes& denied) {
  constexpr uint32_t kPolicies = 1000, kIdentities = 10000;
  const uint32_t counts[] = {0, 10, 200};
  struct Setup {
    uint32_t cnps;
    size_t entries;
    Loaded rec, norec;
    std::vector<double> hit, allow, deny, first;
  };
  std::vector<Setup> setups;
  for (uint32_t n : counts) {
    DesiredState s = synthetic_state(kPolicies, kIdentities);
    add_cluster_policies(s, n, kIdentities);
    std::string dir = base + "-cnp" + std::to_string(n);
    Setup st{n, s.cluster.size(), load(dir + "-rec", true, s), load(dir + "-norec", false, s), {}, {}, {}, {}};
    if (run_once(st.rec.prog, allowed) != 0 || run_once(st.norec.prog, allowed) != 0 ||
        run_once(st.norec.prog, denied) != 2) {
      std::fprintf(stderr, "bench: unexpected verdicts with %u ClusterNetworkPolicies\n", n);
      std::exit(1);
    }
    setups.push_back(std::move(st));
  }
  // The real first packet (flow and reverse entry inserted): kFirstPerRound
  // new tuples per round, one run each (so it carries the single run's
  // timer overhead, as "first+insert" does).
  constexpr int kFirstPerRound = 2000;
  if (runs * kFirstPerRound > 50000) {
    std::fprintf(stderr, "bench: --cnp takes at most %d runs\n", 50000 / kFirstPerRound);
    std::exit(2);
  }
  for (int r = 0; r < runs; ++r)
    for (Setup& st : setups) {
      st.first.push_back(measure_first_packets(st.rec.prog, "10.0.1.11", "10.0.1.10", 80, kFirstPerRound,
                                               static_cast<uint16_t>(10000 + r * kFirstPerRound)));
      st.hit.push_back(measure(st.rec.prog, allowed, repeat, 1));
      st.allow.push_back(measure(st.norec.prog, allowed, repeat, 1));
      st.deny.push_back(measure(st.norec.prog, denied, repeat, 1));
    }
  std::printf("\nClusterNetworkPolicy stages, %u policies, %u identities, ns/packet, median of %d interleaved "
              "rounds (ratio to 0 CNPs):\n",
              kPolicies, kIdentities, runs);
  std::printf("%6s %8s %16s %18s %18s %20s\n", "CNPs", "entries", "hit", "miss/allow", "miss/deny",
              "first+insert");
  nlohmann::json out = nlohmann::json::array();
  double hit0 = median(setups[0].hit), allow0 = median(setups[0].allow), deny0 = median(setups[0].deny);
  double first0 = median(setups[0].first);
  for (Setup& st : setups) {
    double hit = median(st.hit), allow = median(st.allow), deny = median(st.deny), first = median(st.first);
    std::printf("%6u %8zu %8.1f (%.2fx) %10.1f (%.2fx) %10.1f (%.2fx) %12.1f (%.2fx)\n", st.cnps, st.entries, hit,
                hit / hit0, allow, allow / allow0, deny, deny / deny0, first, first / first0);
    out.push_back({{"cluster_policies", st.cnps},
                   {"cluster_policy_entries", st.entries},
                   {"hit_ns", hit},
                   {"miss_allow_ns", allow},
                   {"miss_deny_ns", deny},
                   {"hit_over_0", hit / hit0},
                   {"miss_allow_over_0", allow / allow0},
                   {"miss_deny_over_0", deny / deny0},
                   {"first_packet_with_insert_ns", first},
                   {"first_packet_with_insert_over_0", first / first0},
                   {"first_packet_runs_ns", st.first},
                   {"hit_runs_ns", st.hit},
                   {"miss_allow_runs_ns", st.allow},
                   {"miss_deny_runs_ns", st.deny}});
    for (Loaded* l : {&st.rec, &st.norec}) (void)l->dp->uninstall();
  }
  return out;
}

// The results with the commit and machine they were measured on; nothing
// without a path.
void write_json(const std::string& path, const nlohmann::json& fields) {
  if (path.empty()) return;
  nlohmann::json out = bpfence::bench::provenance();
  out.update(fields);
  std::ofstream(path) << out.dump(2) << "\n";
  std::printf("\nwrote %s\n", path.c_str());
}

uint64_t run_count(int prog_fd) {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  return bpf_obj_get_info_by_fd(prog_fd, &info, &len) ? 0 : info.run_cnt;
}

// What the kernel's BPF run statistics (kernel.bpf_stats_enabled,
// BPF_ENABLE_STATS) add to one program run: the empty program and the
// flow-table hit at `policies` / `identities`, each with the statistics off
// and on (held through BPF_ENABLE_STATS), in alternation within every round;
// medians of the rounds. BPF_PROG_TEST_RUN times its loop itself, whatever
// the statistics, and each run goes through the same accounting as a packet
// on a hook. The program's run_cnt tells whether the statistics really were
// off (it only moves while they are on: the sysctl or another process may
// hold them); a round where they were not is reported, not hidden.
nlohmann::json measure_stats_cost(const std::string& base, uint32_t policies, uint32_t identities,
                                  const Bytes& allowed, uint32_t repeat, int runs) {
  bench_empty_bpf* empty = bench_empty_bpf::open_and_load();
  if (!empty) {
    std::fprintf(stderr, "bench: load empty program\n");
    std::exit(1);
  }
  Loaded rec = load(base + "-stats", true, synthetic_state(policies, identities));
  if (run_once(rec.prog, allowed) != 0) {
    std::fprintf(stderr, "bench: unexpected verdict: the synthetic state is wrong\n");
    std::exit(1);
  }
  struct Case {
    const char* name;
    int prog;
    std::vector<double> off, on;
  };
  std::vector<Case> cases = {{"empty program", bpf_program__fd(empty->progs.empty), {}, {}},
                             {"hit", rec.prog, {}, {}}};
  int not_off = 0;
  for (int r = 0; r < runs; ++r)
    for (bool on : {false, true}) {
      int stats_fd = on ? bpf_enable_stats(BPF_STATS_RUN_TIME) : -1;
      if (on && stats_fd < 0) {
        std::fprintf(stderr, "bench: BPF_ENABLE_STATS: %s\n", std::strerror(-stats_fd));
        std::exit(1);
      }
      for (auto& c : cases) {
        uint64_t before = run_count(c.prog);
        double ns = measure(c.prog, allowed, repeat, 1);
        if (!on && run_count(c.prog) != before) ++not_off;
        (on ? c.on : c.off).push_back(ns);
      }
      if (stats_fd >= 0) close(stats_fd);
    }
  nlohmann::json rows = nlohmann::json::array();
  std::printf("repeat=%u rounds=%d, ns per run (median of the rounds), %u policies / %u identities\n", repeat, runs,
              policies, identities);
  std::printf("%-16s %10s %10s %10s\n", "case", "stats off", "stats on", "on - off");
  for (const auto& c : cases) {
    double off = median(c.off), on = median(c.on);
    std::printf("%-16s %10.1f %10.1f %10.1f\n", c.name, off, on, on - off);
    rows.push_back({{"case", c.name}, {"stats_off_ns", c.off}, {"stats_on_ns", c.on}, {"median_off_ns", off},
                    {"median_on_ns", on}});
  }
  if (not_off)
    std::printf("WARNING: in %d measurements meant with the statistics off, run_cnt moved: someone else held "
                "them on\n",
                not_off);
  (void)rec.dp->uninstall();
  bench_empty_bpf::destroy(empty);
  return {{"policies", policies}, {"identities", identities}, {"stats_not_off", not_off}, {"cases", rows}};
}

}  // namespace

int main(int argc, char** argv) {
  uint32_t repeat = 1000000;
  int runs = 5;
  std::string json_path;
  bool cnp = false;
  bool first = false;
  bool stats_cost = false;
  bool only_given = false;
  std::vector<std::pair<uint32_t, uint32_t>> configs;
  for (uint32_t policies : {10u, 1000u, 10000u})
    for (uint32_t identities : {100u, 10000u, 50000u}) configs.emplace_back(policies, identities);
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--repeat" && i + 1 < argc) repeat = std::stoul(argv[++i]);
    else if (a == "--runs" && i + 1 < argc) runs = std::stoi(argv[++i]);
    else if (a == "--json" && i + 1 < argc) json_path = argv[++i];
    else if (a == "--cnp") cnp = true;
    else if (a == "--first") first = true;
    else if (a == "--stats-cost") stats_cost = true;
    else if (a == "--only" && i + 1 < argc) {
      configs.clear();
      only_given = true;
      std::string list = argv[++i];
      for (size_t at = 0; at < list.size();) {
        size_t comma = list.find(',', at);
        std::string item = list.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
        size_t colon = item.find(':');
        configs.emplace_back(std::stoul(item.substr(0, colon)), std::stoul(item.substr(colon + 1)));
        at = comma == std::string::npos ? list.size() : comma + 1;
      }
    }
    else {
      std::fprintf(stderr, "usage: %s [--repeat N] [--runs R] [--json path] [--only P:I,...] [--cnp] [--first] [--stats-cost]\n", argv[0]);
      return 2;
    }
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "datapath_bench needs root (BPF_PROG_TEST_RUN)\n");
    return 77;
  }
  libbpf_set_print(nullptr);

  Bytes allowed = eth4(ipv4("10.0.1.11", "10.0.1.10", 6, tcp(40000, 80)));
  // From a pod identity (10.64.0.5) and the 10/8 CIDR identity, to a port
  // no rule names: every lookup is made, then the drop.
  Bytes denied = eth4(ipv4("10.64.0.5", "10.0.1.10", 6, tcp(40000, 81)));

  if (first) {
    const std::string base = "/sys/fs/bpf/bpfence-bench-" + std::to_string(::getpid());
    nlohmann::json rows = measure_first_packet_parts(base, runs, 2000);
    write_json(json_path, {{"benchmark", "datapath, first packet by part"},
                           {"method", "BPF_PROG_TEST_RUN, TC program, single runs of fresh tuples; every case "
                                      "in turn within each round, median of the rounds"},
                           {"runs", runs},
                           {"packets_per_round", 2000},
                           {"results", rows}});
    return 0;
  }
  if (stats_cost) {
    const std::string base = "/sys/fs/bpf/bpfence-bench-" + std::to_string(::getpid());
    // 1,000 policies / 10,000 identities unless --only names a size.
    auto [policies, identities] = only_given ? configs.front() : std::pair<uint32_t, uint32_t>{1000, 10000};
    nlohmann::json r = measure_stats_cost(base, policies, identities, allowed, repeat, runs);
    write_json(json_path, {{"benchmark", "datapath, cost of the BPF run statistics"},
                           {"method", "BPF_PROG_TEST_RUN, TC program, one packet repeated; statistics off and on "
                                      "(BPF_ENABLE_STATS) in alternation, median of the rounds"},
                           {"repeat", repeat},
                           {"runs", runs},
                           {"result", r}});
    return 0;
  }
  if (cnp) {
    const std::string base = "/sys/fs/bpf/bpfence-bench-" + std::to_string(::getpid());
    nlohmann::json rows = measure_cluster_policy(base, repeat, runs, allowed, denied);
    write_json(json_path, {{"benchmark", "datapath, ClusterNetworkPolicy stages"},
                           {"method", "BPF_PROG_TEST_RUN, TC program, one packet repeated; every case in turn "
                                      "within each round, median of the rounds"},
                           {"repeat", repeat},
                           {"runs", runs},
                           {"policies", 1000},
                           {"identities", 10000},
                           {"results", rows}});
    return 0;
  }

  bench_empty_bpf* empty = bench_empty_bpf::open_and_load();
  if (!empty) {
    std::fprintf(stderr, "bench: load empty program\n");
    return 1;
  }
  double floor_ns = measure(bpf_program__fd(empty->progs.empty), allowed, repeat, runs);
  constexpr int kFirst = 20000;
  double floor1_ns = measure_first_packets(bpf_program__fd(empty->progs.empty), "10.0.1.11", "10.0.1.10", 80, kFirst);
  bench_empty_bpf::destroy(empty);

  // The reference: parse + one flow lookup, the entry for `allowed` present.
  bench_min_bpf* min = bench_min_bpf::open_and_load();
  if (!min) {
    std::fprintf(stderr, "bench: load reference program\n");
    return 1;
  }
  {
    bf_flow_key k{};
    std::copy_n(ip("10.0.1.11").bytes.begin(), 16, k.src);
    std::copy_n(ip("10.0.1.10").bytes.begin(), 16, k.dst);
    k.sport = htons(40000);
    k.dport = htons(80);
    k.proto = 6;
    k.direction = BF_DIR_INGRESS;
    k.endpoint_id = kEndpoint;
    bf_flow_value v{};
    v.action = BF_ACT_FORWARD;
    if (bpf_map_update_elem(bpf_map__fd(min->maps.min_flows), &k, &v, BPF_ANY)) {
      std::perror("bench: reference flow");
      return 1;
    }
  }
  {
    bf_flow_key k{};  // lookup_only's fixed key
    k.endpoint_id = 1;
    bf_flow_value v{};
    v.action = BF_ACT_FORWARD;
    if (bpf_map_update_elem(bpf_map__fd(min->maps.min_flows), &k, &v, BPF_ANY)) {
      std::perror("bench: lookup-only flow");
      return 1;
    }
  }
  if (run_once(bpf_program__fd(min->progs.parse_lookup), allowed) != 0 ||
      run_once(bpf_program__fd(min->progs.lookup_only), allowed) != 0) {
    std::fprintf(stderr, "bench: the reference program missed its flow\n");
    return 1;
  }
  const int ref_prog = bpf_program__fd(min->progs.parse_lookup);
  double ref_ns = measure(ref_prog, allowed, repeat, runs);
  double lookup_ns = measure(bpf_program__fd(min->progs.lookup_only), allowed, repeat, runs);

  const std::string base = "/sys/fs/bpf/bpfence-bench-" + std::to_string(::getpid());
  nlohmann::json results = nlohmann::json::array();
  std::printf("repeat=%u runs=%d (median of runs), ns/packet\n", repeat, runs);
  std::printf("empty TC program (floor): %.1f; at repeat 1: %.1f\n", floor_ns, floor1_ns);
  std::printf("one flow lookup of a fixed key, no parse: %.1f (%.2fx the floor)\n", lookup_ns, lookup_ns / floor_ns);
  std::printf("parse + one flow lookup (reference): %.1f (%.2fx the floor)\n\n", ref_ns, ref_ns / floor_ns);
  std::printf("%9s %11s %8s %8s %8s %11s %10s %13s %13s %10s\n", "policies", "identities", "hit", "hit/flr",
              "hit/ref", "miss/allow", "miss/deny", "deny/noranges", "first+insert", "first/noins");
  for (auto [policies, identities] : configs) {
    {
      DesiredState s = synthetic_state(policies, identities);
      Loaded rec = load(base + "-rec", true, s);
      Loaded norec = load(base + "-norec", false, s);
      if (run_once(rec.prog, allowed) != 0 || run_once(norec.prog, allowed) != 0 ||
          run_once(norec.prog, denied) != 2) {
        std::fprintf(stderr, "bench: unexpected verdicts: the synthetic state is wrong\n");
        return 1;
      }
      double first = measure_first_packets(rec.prog, "10.0.1.11", "10.0.1.10", 80, kFirst);
      double first_noinsert = measure_first_packets(norec.prog, "10.0.1.11", "10.0.1.10", 80, kFirst);
      // Hit and reference measured in alternation, so both see the same
      // load on this shared machine; the ratio is the median of the pairs.
      std::vector<double> hits, refs, ratios;
      for (int r = 0; r < runs; ++r) {
        hits.push_back(measure(rec.prog, allowed, repeat, 1));
        refs.push_back(measure(ref_prog, allowed, repeat, 1));
        ratios.push_back(hits.back() / refs.back());
      }
      double hit = median(hits), ref = median(refs), hit_ref = median(ratios);
      double miss_allow = measure(norec.prog, allowed, repeat, runs);
      double miss_deny = measure(norec.prog, denied, repeat, runs);
      // The same without the port-range LPM lookups (endpoint without ranges).
      __u32 lo = 1;
      bf_endpoint e{};
      bpf_map_lookup_elem(norec.dp->map_fd("endpoints"), &lo, &e);
      e.has_ranges = 0;
      bpf_map_update_elem(norec.dp->map_fd("endpoints"), &lo, &e, BPF_ANY);
      double miss_deny_nr = measure(norec.prog, denied, repeat, runs);
      std::printf("%9u %11u %8.1f %8.2f %8.2f %11.1f %10.1f %13.1f %13.1f %10.1f\n", policies, identities, hit,
                  hit / floor_ns, hit_ref, miss_allow, miss_deny, miss_deny_nr, first, first_noinsert);
      std::fflush(stdout);
      results.push_back({{"policies", policies},
                         {"identities", identities},
                         {"policy_entries", s.policy.size()},
                         {"hit_ns", hit},
                         {"reference_ns", ref},
                         {"hit_over_reference", hit_ref},
                         {"miss_allow_ns", miss_allow},
                         {"miss_deny_ns", miss_deny},
                         {"miss_deny_no_ranges_ns", miss_deny_nr},
                         {"first_packet_with_insert_ns", first},
                         {"first_packet_no_insert_ns", first_noinsert}});
      for (Loaded* l : {&rec, &norec}) (void)l->dp->uninstall();
    }
  }

  bench_min_bpf::destroy(min);

  nlohmann::json source_check =
      measure_source_check(base, synthetic_state(configs.front().first, configs.front().second), repeat, runs);
  std::printf("  (at %u policies, %u identities)\n", configs.front().first, configs.front().second);

  if (!json_path.empty()) {
    nlohmann::json out = bpfence::bench::provenance();
    out.update(nlohmann::json{{"benchmark", "datapath"},
                          {"method", "BPF_PROG_TEST_RUN, TC program, one packet repeated"},
                          {"repeat", repeat},
                          {"runs", runs},
                          {"floor_ns", floor_ns},
                          {"floor_repeat1_ns", floor1_ns},
                          {"reference_parse_lookup_ns", ref_ns},
                          {"lookup_only_ns", lookup_ns},
                          {"results", results},
                          {"source_check", source_check}});
    std::ofstream(json_path) << out.dump(2) << "\n";
    std::printf("\nwrote %s\n", json_path.c_str());
  }
  return 0;
}
