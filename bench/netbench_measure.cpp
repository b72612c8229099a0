// The network benchmark's measurements (netbench_measure.h).
#include "netbench_measure.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <dirent.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "process.h"

namespace bpfence::bench {

using json = nlohmann::json;

int64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

Status run_in_netns(const std::string& netns, const std::vector<std::string>& argv, std::string* out) {
  std::vector<std::string> full = {"ip", "netns", "exec", netns};
  full.insert(full.end(), argv.begin(), argv.end());
  return lab::run_command(full, "", out);
}

namespace {

Status iperf(const std::string& client_ns, const std::vector<std::string>& args, json* out) {
  std::string text;
  // A busy server (a previous test still closing) is retried once.
  Status s = Status::ok();
  for (int attempt = 0; attempt < 2; ++attempt) {
    s = run_in_netns(client_ns, args, &text);
    if (s) break;
    usleep(300'000);
  }
  if (!s) return Status::error("iperf3 in " + client_ns + ": " + s.message());
  try {
    *out = json::parse(text);
  } catch (const std::exception& e) {
    return Status::error("iperf3 in " + client_ns + ": output is not JSON: " + e.what());
  }
  if (out->contains("error")) return Status::error("iperf3 in " + client_ns + ": " + (*out)["error"].dump());
  return Status::ok();
}

}  // namespace

Status iperf_tcp(const std::string& client_ns, const std::string& server_ip, int seconds, double* gbps) {
  json j;
  if (Status s = iperf(client_ns, {"iperf3", "-c", server_ip, "-p", "5201", "-t", std::to_string(seconds), "-J"}, &j);
      !s)
    return s;
  *gbps = j["end"]["sum_received"]["bits_per_second"].get<double>() / 1e9;
  return Status::ok();
}

Status iperf_udp(const std::string& client_ns, const std::string& server_ip, int seconds, double* pps) {
  json j;
  if (Status s = iperf(client_ns,
                       {"iperf3", "-c", server_ip, "-p", "5201", "-u", "-b", "0", "-l", "64", "-t",
                        std::to_string(seconds), "-J"},
                       &j);
      !s)
    return s;
  // The receiver's view: datagrams sent minus those it counted lost.
  const json& sum = j["end"].contains("sum_received") ? j["end"]["sum_received"] : j["end"]["sum"];
  double packets = sum.value("packets", 0.0), lost = sum.value("lost_packets", 0.0);
  double secs = sum.value("seconds", double(seconds));
  *pps = secs > 0 ? (packets - lost) / secs : 0;
  return Status::ok();
}

Status netload(const std::string& tool, const std::string& client_ns, const std::string& mode,
               const std::string& server_ip, double seconds, int cpu, RateResult* out) {
  std::string text;
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.3f", seconds);
  std::vector<std::string> argv = {tool, mode, "--to", server_ip + ":7000", "--seconds", secs};
  if (cpu >= 0) argv.insert(argv.end(), {"--cpu", std::to_string(cpu)});
  Status s = run_in_netns(client_ns, argv, &text);
  if (!s) return Status::error("bench_netload " + mode + " to " + server_ip + ": " + s.message() + " " + text);
  try {
    json j = json::parse(text);
    out->per_second = j["per_second"];
    out->p50_us = j["p50_us"];
    out->p99_us = j["p99_us"];
    out->count = j["count"];
  } catch (const std::exception& e) {
    return Status::error("bench_netload " + mode + ": cannot read '" + text + "': " + e.what());
  }
  return Status::ok();
}

double process_cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string f;
  unsigned long long utime = 0, stime = 0;
  // Fields after the command: state is field 3; utime 14, stime 15.
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stoull(f);
    if (i == 15) stime = std::stoull(f);
  }
  return double(utime + stime) / sysconf(_SC_CLK_TCK);
}

double process_rss_mb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  return 0;
}

uint64_t bpf_map_bytes(pid_t pid) {
  std::string dir = "/proc/" + std::to_string(pid) + "/fdinfo";
  DIR* d = opendir(dir.c_str());
  if (!d) return 0;
  std::set<long> seen;
  uint64_t total = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(dir + "/" + e->d_name);
    std::string line;
    long id = -1;
    uint64_t memlock = 0;
    bool map = false;
    while (std::getline(in, line)) {
      if (line.rfind("map_type:", 0) == 0) map = true;
      if (line.rfind("memlock:", 0) == 0) memlock = std::stoull(line.substr(8));
      if (line.rfind("map_id:", 0) == 0) id = std::stol(line.substr(7));
    }
    if (map && id >= 0 && seen.insert(id).second) total += memlock;
  }
  closedir(d);
  return total;
}

std::map<std::string, ProgRunTotals> bpf_prog_run_totals(const std::vector<pid_t>& pids) {
  std::set<uint32_t> ids;
  for (pid_t pid : pids) {
    std::string dir = "/proc/" + std::to_string(pid) + "/fdinfo";
    DIR* d = opendir(dir.c_str());
    if (!d) continue;
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::ifstream in(dir + "/" + e->d_name);
      std::string line;
      while (std::getline(in, line))
        if (line.rfind("prog_id:", 0) == 0) ids.insert(static_cast<uint32_t>(std::stoul(line.substr(8))));
    }
    closedir(d);
  }
  std::map<std::string, ProgRunTotals> totals;
  for (uint32_t id : ids) {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) continue;
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
      auto& t = totals[info.name];
      t.run_ns += info.run_time_ns;
      t.runs += info.run_cnt;
    }
    close(fd);
  }
  return totals;
}

std::map<std::string, double> bpf_ns_per_run(const std::map<std::string, ProgRunTotals>& before,
                                             const std::map<std::string, ProgRunTotals>& after) {
  std::map<std::string, double> out;
  for (const auto& [name, a] : after) {
    auto it = before.find(name);
    ProgRunTotals b = it == before.end() ? ProgRunTotals{} : it->second;
    if (a.runs > b.runs) out[name] = static_cast<double>(a.run_ns - b.run_ns) / static_cast<double>(a.runs - b.runs);
  }
  return out;
}

uint64_t bpf_runs_between(const std::map<std::string, ProgRunTotals>& before,
                          const std::map<std::string, ProgRunTotals>& after) {
  uint64_t runs = 0;
  for (const auto& [name, a] : after) {
    auto it = before.find(name);
    uint64_t b = it == before.end() ? 0 : it->second.runs;
    if (a.runs > b) runs += a.runs - b;
  }
  return runs;
}

int bpf_stats_sysctl() {
  int v = -1;
  std::ifstream("/proc/sys/kernel/bpf_stats_enabled") >> v;
  return v;
}

BpfRunStats::BpfRunStats() : fd_(bpf_enable_stats(BPF_STATS_RUN_TIME)) {}

BpfRunStats::~BpfRunStats() {
  if (fd_ >= 0) close(fd_);
}

uint64_t ipset_bytes(const std::string& netns) {
  std::string text;
  if (!run_in_netns(netns, {"ipset", "list", "-t"}, &text)) return 0;
  uint64_t total = 0;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line))
    if (line.rfind("Size in memory:", 0) == 0) total += std::stoull(line.substr(15));
  return total;
}

int iptables_rule_count(const std::string& netns) {
  std::string text;
  if (!run_in_netns(netns, {"iptables-save", "-t", "filter"}, &text)) return -1;
  int n = 0;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) n += line.rfind("-A ", 0) == 0;
  return n;
}

std::pair<int, int> iptables_client_rule(const std::string& netns, const std::string& pod, const std::string& client_ip) {
  std::string rules, sets;
  if (!run_in_netns(netns, {"iptables-save", "-t", "filter"}, &rules) || !run_in_netns(netns, {"ipset", "save"}, &sets))
    return {0, 0};
  // Sets holding the client's address.
  std::set<std::string> with_client;
  std::istringstream sl(sets);
  for (std::string line; std::getline(sl, line);) {
    std::istringstream w(line);
    std::string verb, set, member;
    w >> verb >> set >> member;
    if (verb == "add" && (member == client_ip || member == client_ip + "/32")) with_client.insert(set);
  }
  // The pod's ingress chain: the FWD jump commented with its name, by -o.
  std::string chain;
  std::istringstream rl(rules);
  std::vector<std::string> lines;
  for (std::string line; std::getline(rl, line);) lines.push_back(line);
  for (const auto& line : lines)
    if (line.find("-o ") != std::string::npos && line.find("\"" + pod + "\"") != std::string::npos) {
      auto j = line.find(" -j ");
      if (j != std::string::npos) chain = line.substr(j + 4);
    }
  if (chain.empty()) return {0, 0};
  int pos = 0, n = 0;
  for (const auto& line : lines) {
    if (line.rfind("-A " + chain + " ", 0) != 0) continue;
    ++n;
    if (pos) continue;
    auto m = line.find("--match-set ");
    if (m == std::string::npos) continue;
    std::istringstream w(line.substr(m + 12));
    std::string set;
    w >> set;
    if (with_client.count(set) && line.find("-p tcp") != std::string::npos) pos = n;
  }
  return {pos, n};
}

namespace {
constexpr size_t kMaxSeq = 8u << 20;
}

UdpStream::UdpStream(const lab::NetnsHandle& client, const lab::NetnsHandle& server, const std::string& server_ip,
                     int port, int interval_us)
    : interval_ns_(int64_t(interval_us) * 1000), sent_ns_(kMaxSeq, 0), received_(kMaxSeq) {
  rx_ = lab::socket_in(server, AF_INET, SOCK_DGRAM, 0);
  tx_ = lab::socket_in(client, AF_INET, SOCK_DGRAM, 0);
  if (rx_ < 0 || tx_ < 0) return;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  int big = 8 << 20;
  setsockopt(rx_, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  if (bind(rx_, reinterpret_cast<sockaddr*>(&a), sizeof a)) {
    close(rx_);
    rx_ = -1;
    return;
  }
  inet_pton(AF_INET, server_ip.c_str(), &a.sin_addr);
  if (connect(tx_, reinterpret_cast<sockaddr*>(&a), sizeof a)) {
    close(tx_);
    tx_ = -1;
    return;
  }
  rx_thread_ = std::thread([this] { receive_loop(); });
  tx_thread_ = std::thread([this] { send_loop(); });
}

UdpStream::~UdpStream() {
  stop_ = true;
  if (tx_thread_.joinable()) tx_thread_.join();
  if (rx_thread_.joinable()) rx_thread_.join();
  if (rx_ >= 0) close(rx_);
  if (tx_ >= 0) close(tx_);
}

void UdpStream::send_loop() {
  timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  while (!stop_ && next_seq_ < kMaxSeq) {
    uint64_t seq = next_seq_;
    sent_ns_[seq] = monotonic_ns();
    (void)::send(tx_, &seq, sizeof seq, 0);
    next_seq_ = seq + 1;
    next.tv_nsec += interval_ns_;
    while (next.tv_nsec >= 1'000'000'000) {
      next.tv_nsec -= 1'000'000'000;
      ++next.tv_sec;
    }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr);
  }
}

void UdpStream::receive_loop() {
  while (!stop_) {
    pollfd p{rx_, POLLIN, 0};
    if (poll(&p, 1, 20) != 1) continue;
    uint64_t seq = 0;
    while (recv(rx_, &seq, sizeof seq, MSG_DONTWAIT) == sizeof seq)
      if (seq < kMaxSeq) {
        received_[seq].store(true, std::memory_order_relaxed);
        ++received_total_;
      }
  }
}

int64_t UdpStream::first_after(int64_t t0, bool arrived) const {
  uint64_t end = next_seq_;
  // Binary search for the first datagram sent at or after t0 (send times rise).
  uint64_t lo = 0, hi = end;
  while (lo < hi) {
    uint64_t mid = (lo + hi) / 2;
    if (sent_ns_[mid] < t0) lo = mid + 1;
    else hi = mid;
  }
  for (uint64_t s = lo; s < end; ++s)
    if (received_[s].load(std::memory_order_relaxed) == arrived) return sent_ns_[s];
  return -1;
}

}  // namespace bpfence::bench
