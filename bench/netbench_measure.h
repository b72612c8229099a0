// What the network benchmark measures and how: the load tools run in the
// client pod's namespace (iperf3, bench_netload), the agent's CPU and RSS
// from /proc, the kernel memory of each dataplane's state, and the policy
// update latency (a UDP stream while one policy is flipped).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "bpfence/result.h"
#include "netns.h"

namespace bpfence::bench {

// Runs argv inside the named network namespace (`ip netns exec`), stdout in *out.
Status run_in_netns(const std::string& netns, const std::vector<std::string>& argv, std::string* out);

// iperf3 single TCP stream: Gbit/s received.
Status iperf_tcp(const std::string& client_ns, const std::string& server_ip, int seconds, double* gbps);
// iperf3 UDP, 64-byte payloads, unlimited rate: datagrams/s that arrived.
Status iperf_udp(const std::string& client_ns, const std::string& server_ip, int seconds, double* pps);

struct RateResult {
  double per_second = 0, p50_us = 0, p99_us = 0;
  long count = 0;
};
// bench_netload rr|crr from the client namespace, pinned to `cpu` (-1: not pinned).
Status netload(const std::string& tool, const std::string& client_ns, const std::string& mode,
               const std::string& server_ip, double seconds, int cpu, RateResult* out);

// CPU seconds (user + system) and resident set of a process.
double process_cpu_seconds(pid_t pid);
double process_rss_mb(pid_t pid);
// Kernel memory of a BPF agent's maps: memlock of every map it holds open
// (/proc/PID/fdinfo), each map counted once.
uint64_t bpf_map_bytes(pid_t pid);

// The kernel's run statistics of the BPF programs a set of processes hold
// (/proc/PID/fdinfo prog_id), summed per program name: run_time_ns and
// run_cnt only move while statistics are enabled (BpfRunStats below).
struct ProgRunTotals {
  uint64_t run_ns = 0, runs = 0;
};
std::map<std::string, ProgRunTotals> bpf_prog_run_totals(const std::vector<pid_t>& pids);
// ns per run of each program between two snapshots (programs that ran).
std::map<std::string, double> bpf_ns_per_run(const std::map<std::string, ProgRunTotals>& before,
                                             const std::map<std::string, ProgRunTotals>& after);

// Program runs counted between two snapshots, all programs together.
uint64_t bpf_runs_between(const std::map<std::string, ProgRunTotals>& before,
                          const std::map<std::string, ProgRunTotals>& after);
// kernel.bpf_stats_enabled (-1 when unreadable). Only the sysctl's own
// holder: statistics held on through BPF_ENABLE_STATS do not show here.
int bpf_stats_sysctl();

// Holds the kernel's BPF run statistics on (BPF_ENABLE_STATS, the
// file-descriptor form of kernel.bpf_stats_enabled=1): they cost two clock
// reads per program run, so they are on only while this object lives, and
// go off by themselves if the benchmark dies.
class BpfRunStats {
 public:
  BpfRunStats();
  ~BpfRunStats();
  BpfRunStats(const BpfRunStats&) = delete;
  BpfRunStats& operator=(const BpfRunStats&) = delete;
  bool enabled() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};
// Kernel memory of the ipsets in a namespace ("Size in memory"), and the
// number of iptables rules there (filter table, IPv4).
uint64_t ipset_bytes(const std::string& netns);
int iptables_rule_count(const std::string& netns);
// Where the rule admitting `client_ip` sits in the ingress chain of the pod
// commented `pod` ("ns/name"): its 1-based position and the chain's length
// (0, 0 when not found).
std::pair<int, int> iptables_client_rule(const std::string& netns, const std::string& pod, const std::string& client_ip);

// A UDP datagram from the client to the server every interval_us, each
// carrying its sequence number; the server side records which arrived.
class UdpStream {
 public:
  UdpStream(const lab::NetnsHandle& client, const lab::NetnsHandle& server, const std::string& server_ip, int port,
            int interval_us);
  ~UdpStream();
  UdpStream(const UdpStream&) = delete;
  UdpStream& operator=(const UdpStream&) = delete;

  bool ok() const { return rx_ >= 0 && tx_ >= 0; }
  uint64_t sent() const { return next_seq_; }
  uint64_t received_count() const { return received_total_; }
  // The send time (monotonic ns) of the first datagram sent at or after t0
  // whose arrival state is `arrived`; -1 when none among those sent so far.
  int64_t first_after(int64_t t0, bool arrived) const;

 private:
  void send_loop();
  void receive_loop();

  int rx_ = -1, tx_ = -1;
  int64_t interval_ns_;
  std::vector<int64_t> sent_ns_;
  std::vector<std::atomic<bool>> received_;
  std::atomic<uint64_t> next_seq_{0}, received_total_{0};
  std::atomic<bool> stop_{false};
  std::thread tx_thread_, rx_thread_;
};

int64_t monotonic_ns();

}  // namespace bpfence::bench
